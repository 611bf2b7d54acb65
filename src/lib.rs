//! leann: a disk-first vector index for local semantic code search.
//!
//! Layers, bottom to top; a module uses its own layer and lower ones
//! (ARCHITECTURE.md, checked by tests/layers.rs):
//! 0 `error`, `memory`, `lang` -> 1 `format` (bytes <-> structs) -> 2 `io`
//! (all file access) -> 3 `ann` (vector algorithms), `chunk` (source trees to
//! chunks), `lexical` (BM25) -> 4 `embed` -> 5 `config` -> 6 `engine` (the
//! index on disk, `engine::index::Index`) -> 7 `search` -> 8 `ingest` ->
//! 9 `bench`; the `leann` binary (`cli`) on top.

pub mod ann;
pub mod bench;
pub mod chunk;
pub mod config;
pub mod embed;
pub mod engine;
pub mod error;
pub mod format;
pub mod ingest;
pub mod io;
pub mod lang;
pub mod lexical;
pub mod memory;
pub mod search;
pub mod serve;

pub use error::{Error, Result};
