//! Vamana: graph build (RobustPrune, parallel with rayon) and beam search over
//! any `GraphReader` (the on-disk segment implements it). No file access here.

pub mod build;
pub mod search;
mod visited;

pub use build::{build, BuildParams, BuildStats, Graph};
pub use search::{beam_search, Candidate, GraphReader, SearchParams, SearchStats};
pub use visited::Visited;
