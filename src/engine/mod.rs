//! The index on disk and its life cycle: segments (graph, quantizer,
//! codes, ids, chunk metadata, lexical index), the manifest, the write-ahead
//! log and its delta, file stamps, verification, the index directory (writer
//! lock, staging, orphans), compaction, and `Index`, the public API over
//! them.

pub mod chunkstore;
pub mod compact;
pub mod data;
pub mod delta;
pub mod dir;
pub mod index;
pub mod manifest;
pub mod partition;
pub mod segment;
pub mod stamps;
pub mod stats;
pub mod verify;
pub mod wal;
