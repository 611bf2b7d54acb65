//! The public API: create an index directory from vectors, open it, search it.

use crate::ann::distance::{check_vector, Metric};
use crate::ann::vamana::{SearchStats, Visited};
use crate::ann::vectors::VectorSource;
use crate::config::{Config, Resolved};
use crate::engine::dir::DiskState;
use crate::engine::manifest::IndexInfo;
use crate::engine::segment::{SegScratch, Segment, SegmentFiles};
use crate::error::{Error, Result};
use crate::format::manifest::Manifest;
use crate::io::{ReadMode, Storage};
use rayon::prelude::*;
use std::path::PathBuf;

mod create;
pub(crate) use create::BUILD_BASE_BYTES;
mod open;
mod search;
mod write;

/// The final candidates of one segment whose exact vectors a search needs.
pub struct Candidates<'a> {
    /// Position of the segment in `Index::segments`.
    pub segment: usize,
    pub seg: &'a Segment,
    /// The candidates' nodes in `seg`.
    pub nodes: &'a [u32],
    /// Their external ids, in the same order.
    pub ids: &'a [u64],
}

/// Where the exact vectors of final candidates come from.
pub trait ExactSource: Sync {
    /// Append the exact vectors of `c`'s candidates to `out`, `dim` floats
    /// each, in the order of `c.nodes`.
    fn vectors(&self, c: &Candidates<'_>, out: &mut Vec<f32>) -> Result<()>;

    /// Append the exact vectors of delta upserts whose logged vector was
    /// reused, not embedded (`DeltaEntry::exact` false), `dim` floats each.
    /// Only text indexes log such upserts; other sources refuse.
    fn delta_vectors(
        &self,
        entries: &[&crate::engine::delta::DeltaEntry],
        _out: &mut Vec<f32>,
    ) -> Result<()> {
        Err(Error::precondition(format!(
            "{} delta upserts need recomputing, and this search has no text to recompute them from",
            entries.len()
        )))
    }

    /// True when the exact vectors are the full vectors the graph file
    /// stores (`StoredVectors`): the search then reads them itself, through
    /// its sector scratch and I/O statistics, instead of calling `vectors`.
    fn stored_in_graph(&self) -> bool {
        false
    }
}

/// Exact vectors stored in the graph file (config graph.storeFullVectors).
pub struct StoredVectors;

impl ExactSource for StoredVectors {
    /// Read outside a search (which reads them itself, `stored_in_graph`):
    /// a scratch of its own, statistics dropped.
    fn vectors(&self, c: &Candidates<'_>, out: &mut Vec<f32>) -> Result<()> {
        let mut scratch = SegScratch::default();
        c.seg
            .stored_vectors(c.nodes, &mut scratch, &mut SearchStats::default(), out)
    }

    fn stored_in_graph(&self) -> bool {
        true
    }
}

/// Exact vectors recomputed by a callback from external ids (the embedder
/// recomputes them from chunk text; the benchmark reads its base file).
pub struct Recompute<F>(pub F);

impl<F> ExactSource for Recompute<F>
where
    F: Fn(&[u64], &mut Vec<f32>) -> Result<()> + Sync,
{
    fn vectors(&self, c: &Candidates<'_>, out: &mut Vec<f32>) -> Result<()> {
        (self.0)(c.ids, out)
    }
}

/// Exact vectors from any VectorSource indexed by external id.
pub struct FromSource<'a>(pub &'a dyn VectorSource);

impl ExactSource for FromSource<'_> {
    fn vectors(&self, c: &Candidates<'_>, out: &mut Vec<f32>) -> Result<()> {
        for &e in c.ids {
            if e as usize >= self.0.len() {
                return Err(Error::internal(format!(
                    "rerank source has {} vectors, asked for id {e}",
                    self.0.len()
                )));
            }
            out.extend_from_slice(self.0.vector(e as usize));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub id: u64,
    /// Similarity for ip/cosine (higher is better), squared distance for l2.
    pub score: f32,
    /// Where the hit lives: index into `Index::segments` and node in it, or
    /// DELTA_SEGMENT for an upsert of the write-ahead log.
    pub segment: u32,
    pub node: u32,
}

#[derive(Clone, Debug)]
pub struct SearchOutput {
    pub hits: Vec<Hit>,
    pub stats: SearchStats,
}

/// Search settings for one query.
#[derive(Clone, Debug)]
pub struct QueryParams {
    pub k: usize,
    pub list: usize,
    pub beam: usize,
    pub entry_anchors: usize,
    pub patience: usize,
    /// Candidates reranked exactly (>= k).
    pub rerank: usize,
    pub free_expand: bool,
    /// A filtered search scans the allowed nodes' codes when a segment allows
    /// at most this many (default FILTER_SCAN_NODES).
    pub filter_scan_nodes: usize,
}

/// Per-thread query state, reused across queries.
#[derive(Default)]
pub struct QueryContext {
    scratch: Vec<SegScratch>,
    visited: Option<Visited>,
    exact: Vec<f32>,
}

/// Allowed node count at or below which a filtered search scans the allowed
/// nodes' PQ codes instead of walking the graph.
pub const FILTER_SCAN_NODES: usize = 50_000;
/// Longest candidate list a filtered graph search widens to.
pub const MAX_FILTERED_LIST: usize = 2_000;

/// `Hit::segment` of a hit from the delta (the write-ahead log's upserts).
pub const DELTA_SEGMENT: u32 = u32::MAX;

/// Which nodes of each segment a search may return.
#[derive(Clone, Debug, Default)]
pub struct NodeFilter {
    /// Per segment, per node.
    pub allow: Vec<Vec<bool>>,
    /// Per segment, allowed nodes.
    pub counts: Vec<usize>,
    /// Delta upserts allowed (None: all).
    pub delta_ids: Option<std::collections::HashSet<u64>>,
}

impl NodeFilter {
    pub fn new(allow: Vec<Vec<bool>>) -> NodeFilter {
        let counts = allow
            .iter()
            .map(|a| a.iter().filter(|&&x| x).count())
            .collect();
        NodeFilter {
            allow,
            counts,
            delta_ids: None,
        }
    }

    /// Nodes both filters allow (delta ids from `self`).
    pub fn and(&self, other: &NodeFilter) -> NodeFilter {
        let allow = self
            .allow
            .iter()
            .zip(&other.allow)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| *x && *y).collect())
            .collect();
        let mut f = NodeFilter::new(allow);
        f.delta_ids = self.delta_ids.clone();
        f
    }
}

/// Progress of a build phase: `done` of `total` units.
#[derive(Clone, Debug)]
pub struct Progress {
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
}

impl Progress {
    pub fn new(phase: &'static str, done: u64, total: u64) -> Progress {
        Progress { phase, done, total }
    }
}

/// What `Index::build` indexes besides the vectors.
#[derive(Default)]
pub struct BuildInput<'a> {
    /// External ids (default 0..n).
    pub ids: Option<&'a [u64]>,
    /// Chunk metadata, record i for vector i.
    pub chunks: Option<&'a mut crate::engine::chunkstore::ChunkTable>,
    pub info: IndexInfo,
    /// Replace the index in `dir` (compaction): the new segment's id and the
    /// new manifest's generation. None: a new index (segment 1, generation 1).
    pub replace: Option<(u64, u64)>,
}

/// Report of a build.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub n: usize,
    pub seconds: f64,
    pub quantizer_seconds: f64,
    pub graph_seconds: f64,
    pub write_seconds: f64,
    pub files: SegmentFiles,
    /// Partitions the graph was built in out of core (0: in memory).
    pub graph_partitions: usize,
}

pub struct Index {
    pub info: IndexInfo,
    /// Upserts and deletes of the write-ahead logs, on top of the segments.
    pub delta: crate::engine::delta::Delta,
    /// Per segment, nodes the delta hides (empty when it hides none).
    pub(crate) visible: Option<NodeFilter>,
    /// The log being appended to, once `enable_writes` was called.
    pub(crate) wal: Option<crate::engine::wal::Wal>,
    /// Sequence numbers of the logs replayed.
    pub logs: Vec<u64>,
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub config: Config,
    pub resolved: Resolved,
    pub segments: Vec<Segment>,
    pub metric: Metric,
    pub dim: usize,
    /// The writer lock, while this handle holds it (`lock_writes`).
    pub(crate) writer: Option<Box<dyn crate::io::DirLock>>,
    /// The on-disk state this handle reflects (L-4): a writer that finds
    /// another on taking the lock opens the index again first.
    pub(crate) seen: DiskState,
    /// How long `lock_writes` waits for another writer (default
    /// `engine::dir::DEFAULT_LOCK_WAIT`).
    pub lock_wait: std::time::Duration,
    /// Whether the delta keeps a graph over its upserts once it has
    /// `DELTA_GRAPH_MIN` (`set_delta_graph`). Off by default: building it
    /// costs seconds at tens of thousands of upserts, more than exact scans
    /// of them cost a one-shot process (a query, an update); a long-lived
    /// process that answers many queries turns it on.
    delta_graph: bool,
    /// How the index was opened, to open it again the same way.
    read_mode: ReadMode,
    cache_bytes: Option<usize>,
}

/// Attempts `Index::open` makes when a concurrent compaction replaces the
/// files it is reading.
const OPEN_ATTEMPTS: usize = 8;

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

fn check_input(src: &dyn VectorSource) -> Result<()> {
    if src.is_empty() {
        return Err(Error::argument("vectors", "no vectors to index"));
    }
    if src.dim() == 0 {
        return Err(Error::argument("vectors", "vectors have dimension 0"));
    }
    // In blocks whose pages go back (a mapped spool is not held resident),
    // each block in parallel; the first bad vector is named.
    let mut bad = Ok(());
    crate::ann::vectors::in_blocks(src, |rows| {
        if bad.is_err() {
            return;
        }
        let first = rows
            .into_par_iter()
            .find_first(|&i| check_vector(src.vector(i), src.dim(), "").is_err());
        if let Some(i) = first {
            bad = check_vector(src.vector(i), src.dim(), &format!("vector {i}"));
        }
    });
    bad
}

impl Index {
    /// Open this index's directory again, as it was opened; the new handle
    /// takes over the writer lock and the log (if any).
    pub(crate) fn reopen(&mut self, storage: &dyn Storage) -> Result<()> {
        let mut fresh = Index::open(storage, &self.dir, self.read_mode, self.cache_bytes)?;
        fresh.writer = self.writer.take();
        fresh.wal = self.wal.take();
        fresh.lock_wait = self.lock_wait;
        if self.delta_graph {
            fresh.set_delta_graph(true);
        }
        if let Some(w) = &fresh.wal {
            if !fresh.logs.contains(&w.seq()) {
                fresh.logs.push(w.seq());
            }
        }
        *self = fresh;
        Ok(())
    }

    /// Recompute which segment nodes the delta hides.
    pub(crate) fn refresh_visible(&mut self) -> Result<()> {
        if self.delta.shadowed_ids.is_empty() && self.delta.deleted_paths.is_empty() {
            self.visible = None;
            return Ok(());
        }
        let allow = self
            .segments
            .iter()
            .map(|seg| {
                let hidden = self.delta.hidden_nodes(&seg.ids, seg.chunks.as_ref())?;
                Ok(hidden.into_iter().map(|h| !h).collect())
            })
            .collect::<Result<Vec<Vec<bool>>>>()?;
        self.visible = Some(NodeFilter::new(allow));
        Ok(())
    }

    /// External ids of every live vector (segment nodes not hidden, delta
    /// upserts).
    pub fn live_ids(&self) -> std::collections::BTreeSet<u64> {
        let mut out = std::collections::BTreeSet::new();
        for (si, seg) in self.segments.iter().enumerate() {
            for (i, id) in seg.ids.iter().enumerate() {
                if self.visible.as_ref().is_none_or(|v| v.allow[si][i]) {
                    out.insert(id);
                }
            }
        }
        out.extend(self.delta.upserts.keys().copied());
        out
    }

    /// Keep (or drop) a graph over the delta's upserts once there are
    /// `DELTA_GRAPH_MIN` of them; built now if due.
    pub fn set_delta_graph(&mut self, on: bool) {
        self.delta_graph = on;
        if on {
            self.delta.maintain(self.metric, self.resolved.seed);
        } else {
            self.delta.drop_graph();
        }
    }

    /// Whether node `node` of segment `seg` is visible (not deleted or
    /// replaced by the delta).
    pub fn node_visible(&self, seg: usize, node: usize) -> bool {
        self.visible.as_ref().is_none_or(|v| v.allow[seg][node])
    }

    /// Every path whose chunks the delta changed: named by an upsert or a
    /// delete by path, or holding a segment node that an upsert or a delete
    /// by id hid (SPEC.md T-6). Other paths hold their segments' chunks.
    pub fn delta_paths(&self) -> Result<std::collections::HashSet<String>> {
        let d = &self.delta;
        let mut out: std::collections::HashSet<String> = d.deleted_paths.clone();
        out.extend(d.upserted_paths().cloned());
        let Some(v) = self.visible.as_ref().filter(|_| !d.shadowed_ids.is_empty()) else {
            return Ok(out);
        };
        for (si, seg) in self.segments.iter().enumerate() {
            let Some(store) = seg.chunks.as_ref() else {
                continue;
            };
            for (n, _) in v.allow[si].iter().enumerate().filter(|(_, &a)| !a) {
                if d.shadowed_ids.contains(&seg.ids.get(n)) {
                    out.insert(store.info(n as u32)?.path.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Segment nodes the delta hides (deleted or replaced).
    pub fn hidden_len(&self) -> usize {
        match &self.visible {
            None => 0,
            Some(v) => v
                .allow
                .iter()
                .zip(&v.counts)
                .map(|(a, c)| a.len() - c)
                .sum(),
        }
    }

    /// Live vectors: segment nodes not hidden plus delta upserts.
    pub fn live_len(&self) -> usize {
        self.len() - self.hidden_len() + self.delta.upserts.len()
    }

    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of every index file (excluding stored full vectors' share is the
    /// caller's business: see `graph_vector_bytes`).
    pub fn file_bytes(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut f = SegmentFiles::default();
        for s in &self.segments {
            f.graph += s.files.graph;
            f.pq += s.files.pq;
            f.codes += s.files.codes;
            f.ids += s.files.ids;
            f.chunks += s.files.chunks;
            f.lexical += s.files.lexical;
        }
        out.push(("graph".to_string(), f.graph));
        out.push(("anchors+pq".to_string(), f.pq));
        out.push(("codes".to_string(), f.codes));
        out.push(("ids".to_string(), f.ids));
        if f.chunks > 0 {
            out.push(("chunks".to_string(), f.chunks));
        }
        if f.lexical > 0 {
            out.push(("lexical".to_string(), f.lexical));
        }
        out
    }

    /// Bytes the graph files spend on stored full vectors.
    pub fn graph_vector_bytes(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.meta.full_vectors)
            .map(|s| s.meta.n_nodes * s.meta.dim as u64 * 4)
            .sum()
    }
}

/// Whether normalising `src` would change nothing that matters: every
/// vector is of unit length, or zero (`normalize` leaves a zero vector as
/// it is; an embedder gives one for a text with no token it knows).
fn is_normalised(src: &dyn VectorSource) -> bool {
    let mut all = true;
    crate::ann::vectors::in_blocks(src, |rows| {
        all = all
            && rows.into_par_iter().all(|i| {
                let v = src.vector(i);
                let n = crate::ann::distance::dot(v, v);
                n == 0.0 || (n - 1.0).abs() < 1e-3
            });
    });
    all
}
