//! Vamana: graph build (RobustPrune, parallel with rayon) and beam search over
//! any `GraphReader` (the on-disk segment implements it). No file access here.

pub mod build;
mod memgraph;
pub mod search;
mod visited;
pub use memgraph::MemGraph;

pub use build::{build, build_with_progress, merge, BuildParams, Graph, MergeInput};
pub use search::{beam_search, Candidate, GraphReader, SearchParams, SearchStats};
pub use visited::Visited;
