//! Vamana: graph build (RobustPrune, parallel with rayon) and beam search over
//! any `GraphReader` (the on-disk segment implements it). No file access here.

mod adjacency;
pub mod build;
mod memgraph;
pub mod search;
mod visited;
pub use memgraph::MemGraph;

pub use adjacency::{Adjacency, FlatAdjacency};
pub use build::{
    build, build_with_progress, find_medoid, merge, robust_prune_by, BuildParams, Graph, MergeInput,
};
pub use search::{beam_search, Candidate, GraphReader, SearchParams, SearchStats};
pub use visited::Visited;
