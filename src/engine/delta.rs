//! The delta: what the write-ahead log says on top of the segments. Live
//! upserts (exact vectors, or reused ones that only navigate and are scored
//! by the search's `ExactSource`), and which segment chunks are hidden because they
//! were upserted again or deleted (by id, or by path for a removed or changed
//! file). Upserts are searched by an exact scan while there are fewer than
//! `DELTA_GRAPH_MIN`; beyond that, by an in-memory Vamana graph over them
//! (rebuilt when the upserts made since exceed a quarter of it, which are
//! scanned exactly meanwhile). Graph results are checked against the live
//! upserts, so a deleted or replaced vector never comes back from the graph.

use crate::ann::distance::{normalize, Metric};
use crate::format::wal::{Record, UpsertChunk};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Clone, Debug, PartialEq)]
pub struct DeltaEntry {
    pub vector: Vec<f32>,
    pub chunk: Option<UpsertChunk>,
    /// False for a reused vector (`Record::UpsertReused`): it navigates, and
    /// the search scores the upsert exactly through its `ExactSource`.
    pub exact: bool,
}

/// Live upserts at which the delta is searched through a graph.
pub const DELTA_GRAPH_MIN: usize = 4096;

/// An in-memory graph over the live upserts at the time it was built.
#[derive(Debug)]
pub struct DeltaGraph {
    ids: Vec<u64>,
    vecs: Vec<f32>,
    dim: usize,
    adj: Vec<Vec<u32>>,
    medoid: u32,
}

impl DeltaGraph {
    fn vector(&self, n: u32) -> &[f32] {
        &self.vecs[n as usize * self.dim..(n as usize + 1) * self.dim]
    }
}

#[derive(Clone, Debug, Default)]
pub struct Delta {
    /// The graph over upserts (once there are `DELTA_GRAPH_MIN`), and the ids
    /// upserted since it was built (searched exactly).
    pub graph: Option<std::sync::Arc<DeltaGraph>>,
    tail: Vec<u64>,
    /// Live upserts by id.
    pub upserts: BTreeMap<u64, DeltaEntry>,
    /// Ids whose segment copies are hidden (upserted again or deleted).
    pub shadowed_ids: HashSet<u64>,
    /// Paths whose segment chunks are hidden.
    pub deleted_paths: HashSet<String>,
    /// Delete records applied (statistics for the compaction policy).
    pub deletes: u64,
    /// Ids upserted with each path (some since deleted or upserted again
    /// under another path: checked against `upserts` on use), so that a
    /// delete by path costs the path's chunks, not every upsert.
    ids_by_path: HashMap<String, Vec<u64>>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.shadowed_ids.is_empty() && self.deleted_paths.is_empty()
    }

    /// Apply one record of a committed batch. Cosine indexes keep unit vectors.
    pub fn apply(&mut self, r: &Record, metric: Metric) {
        match r {
            Record::Upsert { id, vector, chunk } => {
                self.upsert(*id, vector, chunk.clone(), true, metric)
            }
            Record::UpsertReused { id, vector, chunk } => {
                self.upsert(*id, vector, Some(chunk.clone()), false, metric)
            }
            Record::DeleteId { id } => {
                self.upserts.remove(id);
                self.shadowed_ids.insert(*id);
                self.deletes += 1;
            }
            Record::DeletePath { path } => {
                for id in self.ids_by_path.remove(path).unwrap_or_default() {
                    if self
                        .upserts
                        .get(&id)
                        .is_some_and(|e| e.chunk.as_ref().is_some_and(|c| c.path == *path))
                    {
                        self.upserts.remove(&id);
                    }
                }
                self.deleted_paths.insert(path.clone());
                self.deletes += 1;
            }
            Record::Begin { .. } | Record::Commit { .. } => {}
        }
    }

    fn upsert(
        &mut self,
        id: u64,
        vector: &[f32],
        chunk: Option<UpsertChunk>,
        exact: bool,
        metric: Metric,
    ) {
        let mut v = vector.to_vec();
        if metric == Metric::Cosine {
            normalize(&mut v);
        }
        self.shadowed_ids.insert(id);
        if let Some(c) = &chunk {
            self.ids_by_path.entry(c.path.clone()).or_default().push(id);
        }
        if self.graph.is_some() {
            self.tail.push(id);
        }
        self.upserts.insert(
            id,
            DeltaEntry {
                vector: v,
                chunk,
                exact,
            },
        );
    }

    /// Every path an upsert of the delta named (some of those upserts since
    /// deleted or upserted again).
    pub fn upserted_paths(&self) -> impl Iterator<Item = &String> {
        self.ids_by_path.keys()
    }

    /// Drop the graph (searches scan every live upsert exactly).
    pub fn drop_graph(&mut self) {
        self.graph = None;
        self.tail.clear();
    }

    /// Build or drop the graph as the number of live upserts asks (after a
    /// batch is applied, and after the log is replayed on open).
    pub fn maintain(&mut self, metric: Metric, seed: u64) {
        let n = self.upserts.len();
        if n < DELTA_GRAPH_MIN / 2 {
            self.graph = None;
            self.tail.clear();
            return;
        }
        let stale = match &self.graph {
            None => n >= DELTA_GRAPH_MIN,
            Some(g) => self.tail.len() > g.ids.len() / 4,
        };
        if !stale {
            return;
        }
        let dim = self.upserts.values().next().map_or(0, |e| e.vector.len());
        let ids: Vec<u64> = self.upserts.keys().copied().collect();
        let vecs: Vec<f32> = self
            .upserts
            .values()
            .flat_map(|e| e.vector.iter().copied())
            .collect();
        let src = crate::ann::vectors::VecVectors { data: vecs, dim };
        let g = crate::ann::vamana::build(
            &src,
            &crate::ann::vamana::BuildParams {
                metric,
                max_degree: 32,
                build_list: 64,
                alpha: 1.2,
                seed,
            },
        );
        self.graph = Some(std::sync::Arc::new(DeltaGraph {
            ids,
            vecs: src.data,
            dim,
            adj: g.adj,
            medoid: g.medoid,
        }));
        self.tail.clear();
    }

    /// The live upserts nearest `q`: (distance, id), best first, at most `k`,
    /// over the ids `allow` accepts. `filtered` says `allow` rejects some:
    /// then (and without a graph) every live upsert is scanned exactly.
    /// `vis` is the query's visited set, reused for the graph.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        metric: Metric,
        filtered: bool,
        allow: &dyn Fn(u64, &DeltaEntry) -> bool,
        vis: &mut crate::ann::vamana::Visited,
    ) -> Vec<(f32, u64)> {
        let dist = |v: &[f32]| {
            if metric == Metric::Cosine {
                1.0 - crate::ann::distance::dot(q, v)
            } else {
                metric.distance(q, v)
            }
        };
        let mut all: Vec<(f32, u64)> = match (&self.graph, filtered) {
            (Some(g), false) => {
                let mut stats = crate::ann::vamana::SearchStats::default();
                let p = crate::ann::vamana::SearchParams {
                    list: (2 * k).max(64),
                    beam: 1,
                    patience: 0,
                    k,
                    free_expand: false,
                };
                let found = crate::ann::vamana::beam_search(
                    &crate::ann::vamana::MemGraph(&g.adj),
                    &[g.medoid],
                    &|n| dist(g.vector(n)),
                    &p,
                    vis,
                    &mut (),
                    &mut stats,
                )
                // An in-memory graph has no reads to fail.
                .unwrap_or_default();
                let mut out: Vec<(f32, u64)> = found
                    .iter()
                    .filter(|c| {
                        let id = g.ids[c.node as usize];
                        // Still live with this very vector.
                        self.upserts
                            .get(&id)
                            .is_some_and(|e| e.vector == g.vector(c.node) && allow(id, e))
                    })
                    .map(|c| (c.dist, g.ids[c.node as usize]))
                    .collect();
                for id in &self.tail {
                    if let Some(e) = self.upserts.get(id) {
                        if allow(*id, e) {
                            out.push((dist(&e.vector), *id));
                        }
                    }
                }
                out
            }
            _ => self
                .upserts
                .iter()
                .filter(|(id, e)| allow(**id, e))
                .map(|(id, e)| (dist(&e.vector), *id))
                .collect(),
        };
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.dedup_by_key(|x| x.1);
        all.truncate(k);
        all
    }

    /// Which nodes of a segment the delta hides. `ids` are the segment's
    /// external ids by node; `chunks` its chunk metadata, if any.
    pub fn hidden_nodes(
        &self,
        ids: &crate::format::idmap::PackedIds,
        chunks: Option<&crate::engine::chunkstore::ChunkStore>,
    ) -> crate::error::Result<Vec<bool>> {
        // Path-table entries of deleted paths, once per segment.
        let dead_paths: Vec<bool> = match chunks {
            Some(c) if !self.deleted_paths.is_empty() => {
                let mut dead = Vec::with_capacity(c.n_paths());
                c.for_each_path(|_, _, p| dead.push(self.deleted_paths.contains(p)))?;
                dead
            }
            _ => Vec::new(),
        };
        // With the node list by path (format 1.8) the deleted paths' nodes
        // are read from it; otherwise every record names its path.
        if let Some(c) = chunks.filter(|c| c.is_indexed() && !dead_paths.is_empty()) {
            let mut hidden = vec![false; ids.len()];
            for (p, _) in dead_paths.iter().enumerate().filter(|(_, &d)| d) {
                for n in c.nodes_of_path(p as u32)?.unwrap_or_default() {
                    if let Some(h) = hidden.get_mut(n as usize) {
                        *h = true;
                    }
                }
            }
            if !self.shadowed_ids.is_empty() {
                // A sorted copy: a binary search per node is cheaper than
                // hashing each of millions of ids.
                let mut shadowed: Vec<u64> = self.shadowed_ids.iter().copied().collect();
                shadowed.sort_unstable();
                let (lo, hi) = (shadowed[0], shadowed[shadowed.len() - 1]);
                for (i, h) in hidden.iter_mut().enumerate() {
                    let id = ids.get(i);
                    *h = *h || (id >= lo && id <= hi && shadowed.binary_search(&id).is_ok());
                }
            }
            return Ok(hidden);
        }
        (0..ids.len())
            .map(|i| {
                if self.shadowed_ids.contains(&ids.get(i)) {
                    return Ok(true);
                }
                match chunks {
                    Some(c) if !dead_paths.is_empty() => {
                        Ok(dead_paths[c.path_of(i as u32)? as usize])
                    }
                    _ => Ok(false),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(id: u64, path: &str) -> Record {
        Record::Upsert {
            id,
            vector: vec![1.0, 0.0],
            chunk: Some(UpsertChunk {
                path: path.into(),
                language: crate::lang::Language::Rust,
                start_line: 1,
                end_line: 1,
                start_byte: 0,
                byte_len: 1,
                symbol: None,
                hash: [0; 16],
            }),
        }
    }

    /// A delete by path removes exactly the upserts whose chunk is at that
    /// path now: not an id since upserted again under another path, and
    /// upserts of the path made after the delete stay.
    #[test]
    fn delete_by_path_removes_exactly_that_paths_upserts() {
        let mut d = Delta::default();
        for r in [up(1, "a.rs"), up(2, "a.rs"), up(3, "b.rs"), up(2, "c.rs")] {
            d.apply(&r, Metric::L2);
        }
        d.apply(
            &Record::DeletePath {
                path: "a.rs".into(),
            },
            Metric::L2,
        );
        assert_eq!(d.upserts.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(d.upserts[&2].chunk.as_ref().unwrap().path, "c.rs");
        d.apply(&up(4, "a.rs"), Metric::L2);
        d.apply(
            &Record::DeletePath {
                path: "b.rs".into(),
            },
            Metric::L2,
        );
        assert_eq!(d.upserts.keys().copied().collect::<Vec<_>>(), vec![2, 4]);
        d.apply(
            &Record::DeletePath {
                path: "a.rs".into(),
            },
            Metric::L2,
        );
        d.apply(
            &Record::DeletePath {
                path: "c.rs".into(),
            },
            Metric::L2,
        );
        assert!(d.upserts.is_empty());
    }
}
