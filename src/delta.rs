//! The delta: what the write-ahead log says on top of the segments. Live
//! upserts (exact vectors, searched by an exact scan), and which segment
//! chunks are hidden because they were upserted again or deleted (by id, or by
//! path for a removed or changed file).

use crate::distance::{normalize, Metric};
use crate::format::wal::{Record, UpsertChunk};
use std::collections::{BTreeMap, HashSet};

#[derive(Clone, Debug, PartialEq)]
pub struct DeltaEntry {
    pub vector: Vec<f32>,
    pub chunk: Option<UpsertChunk>,
}

#[derive(Clone, Debug, Default)]
pub struct Delta {
    /// Live upserts by id.
    pub upserts: BTreeMap<u64, DeltaEntry>,
    /// Ids whose segment copies are hidden (upserted again or deleted).
    pub shadowed_ids: HashSet<u64>,
    /// Paths whose segment chunks are hidden.
    pub deleted_paths: HashSet<String>,
    /// Delete records applied (statistics for the compaction policy).
    pub deletes: u64,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.shadowed_ids.is_empty() && self.deleted_paths.is_empty()
    }

    /// Apply one record of a committed batch. Cosine indexes keep unit vectors.
    pub fn apply(&mut self, r: &Record, metric: Metric) {
        match r {
            Record::Upsert { id, vector, chunk } => {
                let mut v = vector.clone();
                if metric == Metric::Cosine {
                    normalize(&mut v);
                }
                self.shadowed_ids.insert(*id);
                self.upserts.insert(
                    *id,
                    DeltaEntry {
                        vector: v,
                        chunk: chunk.clone(),
                    },
                );
            }
            Record::DeleteId { id } => {
                self.upserts.remove(id);
                self.shadowed_ids.insert(*id);
                self.deletes += 1;
            }
            Record::DeletePath { path } => {
                self.upserts
                    .retain(|_, e| e.chunk.as_ref().is_none_or(|c| c.path != *path));
                self.deleted_paths.insert(path.clone());
                self.deletes += 1;
            }
            Record::Begin { .. } | Record::Commit { .. } => {}
        }
    }

    /// Exact scan of the live upserts: (distance, id), best first, at most
    /// `k`, over the ids `allow` accepts.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        metric: Metric,
        allow: &dyn Fn(u64, &DeltaEntry) -> bool,
    ) -> Vec<(f32, u64)> {
        let mut all: Vec<(f32, u64)> = self
            .upserts
            .iter()
            .filter(|(id, e)| allow(**id, e))
            .map(|(id, e)| {
                let d = if metric == Metric::Cosine {
                    1.0 - crate::distance::dot(q, &e.vector)
                } else {
                    metric.distance(q, &e.vector)
                };
                (d, *id)
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    /// Which nodes of a segment the delta hides. `ids` are the segment's
    /// external ids by node; `chunks` its chunk metadata, if any.
    pub fn hidden_nodes(
        &self,
        ids: &[u64],
        chunks: Option<&crate::chunkstore::ChunkStore>,
    ) -> Vec<bool> {
        // Path-table entries of deleted paths, once per segment.
        let dead_paths: Vec<bool> = match chunks {
            Some(c) if !self.deleted_paths.is_empty() => c
                .head
                .paths
                .iter()
                .map(|(_, p)| self.deleted_paths.contains(p))
                .collect(),
            _ => Vec::new(),
        };
        (0..ids.len())
            .map(|i| {
                self.shadowed_ids.contains(&ids[i])
                    || (!dead_paths.is_empty()
                        && chunks.is_some_and(|c| dead_paths[c.path_of(i as u32) as usize]))
            })
            .collect()
    }
}
