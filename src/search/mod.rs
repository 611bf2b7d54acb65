//! Text queries over a tree index: the searcher (semantic, lexical and
//! their fusion, filters, results), rerank mode, symbol-aware ranking and
//! relevance evaluation.

pub mod eval;
pub mod fusion;
pub mod rerank;
pub mod response;
pub mod searcher;
pub mod symbols;
