//! leann: a disk-first vector index for local semantic code search.
//!
//! Layers, top to bottom (a layer uses only the ones above it; see
//! ARCHITECTURE.md): `error`, `format` (bytes <-> structs) -> `io` (the only
//! file access) -> `segment`, `manifest` (on-disk structures) -> algorithms
//! (`distance`, `kmeans`, `pq`, `vamana`) -> `index` (public API) -> `bench`,
//! `cli`.

pub mod bench;
pub mod chunk;
pub mod chunkstore;
pub mod compact;
pub mod config;
pub mod data;
pub mod delta;
pub mod distance;
pub mod embed;
pub mod error;
pub mod eval;
pub mod format;
pub mod index;
pub mod indexdir;
pub mod ingest;
pub mod io;
pub mod kmeans;
pub mod lexical;
pub mod manifest;
pub mod memory;
pub mod pq;
pub mod rerank;
pub mod rng;
pub mod searcher;
pub mod segment;
pub mod sq8;
pub mod stamps;
pub mod symbols;
pub mod synth;
pub mod update;
pub mod vamana;
pub mod verify;
pub mod wal;
pub mod watch;

pub use error::{Error, Result};
