//! What an open index holds, as `leann index stats --json` prints it and
//! `leann serve` answers `/stats`: vectors, bytes per file, and the delta
//! against the segments (the brief's `deltaIndexSize` / `mainIndexSize`).

use crate::ann::distance::Metric;
use crate::config::Config;
use crate::engine::index::Index;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexStats {
    /// Vectors in the segments, hidden ones included.
    pub vectors: usize,
    /// Vectors a query can return: segment vectors not hidden by the log,
    /// plus the log's live upserts.
    pub live: usize,
    pub dim: usize,
    pub metric: Metric,
    pub segments: usize,
    /// Bytes of the segments' files.
    pub bytes: u64,
    pub bytes_per_vector: f64,
    /// Bytes per kind of segment file (`graph`, `codes`, `lexical`, ...).
    pub files: BTreeMap<String, u64>,
    /// Vectors in the segments (the brief's main index).
    pub main_index_size: u64,
    /// Vectors the log changes: its live upserts plus the segment vectors
    /// it hides (deleted or replaced). Compared with `mainIndexSize` by the
    /// brief's health check (rebuild above 10%).
    pub delta_index_size: u64,
    pub delta_upserts: u64,
    pub hidden_segment_vectors: u64,
    /// `incremental.deltaIndexThreshold`: upserts at which the compaction
    /// policy folds the log into a segment.
    pub compaction_threshold: usize,
    pub config: Config,
}

/// The statistics of `idx` (no reads beyond what opening it read).
pub fn stats(idx: &Index) -> IndexStats {
    let d = crate::engine::compact::stats(idx);
    let files = idx.file_bytes();
    let bytes: u64 = files.iter().map(|f| f.1).sum();
    IndexStats {
        vectors: idx.len(),
        live: idx.live_len(),
        dim: idx.dim,
        metric: idx.metric,
        segments: idx.segments.len(),
        bytes,
        bytes_per_vector: bytes as f64 / idx.len().max(1) as f64,
        files: files.into_iter().collect(),
        main_index_size: d.segment_vectors,
        delta_index_size: d.delta_upserts + d.hidden_segment_vectors,
        delta_upserts: d.delta_upserts,
        hidden_segment_vectors: d.hidden_segment_vectors,
        compaction_threshold: d.threshold,
        config: idx.config.clone(),
    }
}
