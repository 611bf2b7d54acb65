//! The public API: create an index directory from vectors, open it, search it.

use crate::ann::distance::{check_vector, normalize, Metric};
use crate::ann::pq::{PqParams, Quantizer};
use crate::ann::vamana::{self, BuildParams, SearchParams, SearchStats, Visited};
use crate::ann::vectors::VectorSource;
use crate::config::{Config, Resolved};
use crate::engine::dir::DiskState;
use crate::engine::manifest::{self, IndexInfo};
use crate::engine::segment::{self, OpenOptions, SegScratch, Segment, SegmentFiles};
use crate::error::{Error, Result};
use crate::format::manifest::{Manifest, SegmentEntry};
use crate::io::{ReadMode, Storage};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the exact vectors of final candidates come from.
pub trait ExactSource: Sync {
    /// Append the exact vectors of `nodes` of segment `seg` (their external
    /// ids are `ext`) to `out`, `dim` floats each.
    fn vectors(
        &self,
        seg: &Segment,
        nodes: &[u32],
        ext: &[u64],
        scratch: &mut SegScratch,
        stats: &mut SearchStats,
        out: &mut Vec<f32>,
    ) -> Result<()>;

    /// Append the exact vectors of delta upserts whose logged vector was
    /// reused, not embedded (`DeltaEntry::exact` false), `dim` floats each.
    /// Only text indexes log such upserts; other sources refuse.
    fn delta_vectors(
        &self,
        ids: &[u64],
        _entries: &[&crate::engine::delta::DeltaEntry],
        _out: &mut Vec<f32>,
    ) -> Result<()> {
        Err(Error::invalid(format!(
            "{} delta upserts need recomputing, and this search has no text to recompute them from",
            ids.len()
        )))
    }
}

/// Exact vectors stored in the graph file (config graph.storeFullVectors).
pub struct StoredVectors;

impl ExactSource for StoredVectors {
    fn vectors(
        &self,
        seg: &Segment,
        nodes: &[u32],
        _ext: &[u64],
        scratch: &mut SegScratch,
        stats: &mut SearchStats,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        seg.stored_vectors(nodes, scratch, stats, out)
    }
}

/// Exact vectors recomputed by a callback from external ids (the embedder
/// recomputes them from chunk text; the benchmark reads its base file).
pub struct Recompute<F>(pub F);

impl<F> ExactSource for Recompute<F>
where
    F: Fn(&[u64], &mut Vec<f32>) -> Result<()> + Sync,
{
    fn vectors(
        &self,
        _seg: &Segment,
        _nodes: &[u32],
        ext: &[u64],
        _s: &mut SegScratch,
        _st: &mut SearchStats,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        (self.0)(ext, out)
    }
}

/// Exact vectors from any VectorSource indexed by external id.
pub struct FromSource<'a>(pub &'a dyn VectorSource);

impl ExactSource for FromSource<'_> {
    fn vectors(
        &self,
        _seg: &Segment,
        _nodes: &[u32],
        ext: &[u64],
        _s: &mut SegScratch,
        _st: &mut SearchStats,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        for &e in ext {
            if e as usize >= self.0.len() {
                return Err(Error::invalid(format!(
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
        return Err(Error::invalid("no vectors to index"));
    }
    if src.dim() == 0 {
        return Err(Error::invalid("vectors have dimension 0"));
    }
    for i in 0..src.len() {
        let v = src.vector(i);
        check_vector(v, src.dim(), &format!("vector {i}"))?;
    }
    Ok(())
}

impl Index {
    /// Build a new index in `dir` (created if needed; must not hold an index).
    /// `ids` are the external ids of the vectors (default 0..n).
    pub fn create(
        storage: &dyn Storage,
        dir: &Path,
        src: &dyn VectorSource,
        ids: Option<&[u64]>,
        config: &Config,
    ) -> Result<BuildReport> {
        Self::create_with_progress(storage, dir, src, ids, config, &|_| {})
    }

    /// `create`, reporting progress as phases advance.
    pub fn create_with_progress(
        storage: &dyn Storage,
        dir: &Path,
        src: &dyn VectorSource,
        ids: Option<&[u64]>,
        config: &Config,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<BuildReport> {
        Self::build(
            storage,
            dir,
            src,
            BuildInput {
                ids,
                chunks: None,
                info: IndexInfo::default(),
                replace: None,
            },
            config,
            progress,
        )
    }

    /// The general build: vectors plus, optionally, their chunk metadata
    /// (record i describes vector i) and what the index was built from.
    pub fn build(
        storage: &dyn Storage,
        dir: &Path,
        src: &dyn VectorSource,
        input: BuildInput<'_>,
        config: &Config,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<BuildReport> {
        let BuildInput {
            ids,
            chunks,
            mut info,
            replace: input_replace,
        } = input;
        let (seg_id, generation) = input_replace.unwrap_or((1, 1));
        let t0 = Instant::now();
        check_input(src)?;
        let n = src.len();
        let dim = src.dim();
        if let Some(ids) = ids {
            if ids.len() != n {
                return Err(Error::invalid(format!("{} ids for {n} vectors", ids.len())));
            }
        }
        let r = config.resolve(n, dim)?;
        info.chunks = chunks.is_some();
        if let Some(c) = &chunks {
            if c.len() != n {
                return Err(Error::invalid(format!(
                    "{} chunk records for {n} vectors",
                    c.len()
                )));
            }
        }
        if input_replace.is_none() && storage.exists(&dir.join(manifest::FILE_NAME)) {
            return Err(Error::invalid(format!(
                "{} already holds an index (MANIFEST exists)",
                dir.display()
            )));
        }
        storage.create_dir_all(dir)?;
        // Cosine: index unit vectors. A normalised copy, when one is needed, is
        // streamed to a temporary file and memory-mapped, so build memory does
        // not grow by another full set of vectors.
        let norm_store;
        let _norm_dir;
        let src: &dyn VectorSource = if r.metric == Metric::Cosine && !is_normalised(src) {
            let tmp = crate::io::temp_dir("leann-build")?;
            let path = tmp.path().join("normalised.fbin");
            crate::engine::data::write_fbin(storage, &path, n, dim, |i, out| {
                out.extend_from_slice(src.vector(i));
                normalize(out);
            })?;
            norm_store = crate::engine::data::FbinVectors::open(storage, &path)?;
            _norm_dir = tmp;
            &norm_store
        } else {
            src
        };
        // The quantizer and the graph need only the vectors: train and build
        // them side by side so that each one's serial stretches overlap the other.
        let pq_params = PqParams {
            metric: r.metric,
            anchor_kind: r.anchor_kind,
            n_anchors: r.n_anchors,
            anchor_samples: r.anchor_samples,
            m: r.sub_vectors,
            ksub: r.codebook_size,
            training_samples: r.training_samples,
            kmeans_iters: 10,
            seed: r.seed,
        };
        let build_params = BuildParams {
            metric: r.metric,
            max_degree: r.max_degree,
            build_list: r.build_list,
            alpha: r.alpha,
            seed: r.seed,
        };
        let (quantized, (g, graph_seconds)) = rayon::join(
            || -> Result<_> {
                let tq = Instant::now();
                progress(&Progress::new("anchors+pq", 0, 1));
                let quant = Quantizer::train(src, &pq_params)?;
                progress(&Progress::new("anchors+pq", 1, 1));
                progress(&Progress::new("encode", 0, n as u64));
                let (codes, entries) = quant.encode_all(src);
                progress(&Progress::new("encode", n as u64, n as u64));
                Ok((quant, codes, entries, tq.elapsed().as_secs_f64()))
            },
            || {
                let tg = Instant::now();
                let step = (n / 10).max(1);
                let next = std::sync::atomic::AtomicUsize::new(step);
                progress(&Progress::new("graph", 0, n as u64));
                let g = vamana::build_with_progress(src, &build_params, &|done| {
                    let due = next.load(std::sync::atomic::Ordering::Relaxed);
                    if done >= due || done == n {
                        next.store(done + step, std::sync::atomic::Ordering::Relaxed);
                        progress(&Progress::new("graph", done as u64, n as u64));
                    }
                });
                (g, tg.elapsed().as_secs_f64())
            },
        );
        let (quant, codes, entries, quantizer_seconds) = quantized?;
        let tw = Instant::now();
        progress(&Progress::new("write", 0, 1));
        let default_ids: Vec<u64>;
        let ids = match ids {
            Some(i) => i,
            None => {
                default_ids = (0..n as u64).collect();
                &default_ids
            }
        };
        let files = segment::write(
            storage,
            dir,
            &segment::SegmentData {
                id: seg_id,
                metric: r.metric,
                adj: &g.adj,
                medoid: g.medoid,
                max_degree: r.max_degree as u32,
                quant: &quant,
                codes: &codes,
                entries: &entries,
                ids,
                vectors: if r.store_full_vectors {
                    Some(src)
                } else {
                    None
                },
            },
            chunks,
        )?;
        let config_json = serde_json::to_string(config)
            .map_err(|e| Error::invalid(format!("config does not serialise: {e}")))?;
        manifest::store(
            storage,
            dir,
            &Manifest {
                generation,
                dim: dim as u32,
                metric: r.metric.code(),
                segments: vec![SegmentEntry {
                    id: seg_id,
                    n_vectors: n as u64,
                }],
                config_json,
                features: Some(info.features()),
                info_json: info.to_json()?,
            },
        )?;
        progress(&Progress::new("write", 1, 1));
        Ok(BuildReport {
            n,
            seconds: t0.elapsed().as_secs_f64(),
            quantizer_seconds,
            graph_seconds,
            write_seconds: tw.elapsed().as_secs_f64(),
            files,
        })
    }

    /// Open an index directory. `cache_bytes` overrides the configured node
    /// cache budget; `read_mode` Direct reads the graph with O_DIRECT.
    ///
    /// Readers take no lock: when a compaction by another process
    /// replaces files while they are read (a file gone, or the manifest's
    /// generation changed by the time everything is read), the open starts
    /// over.
    pub fn open(
        storage: &dyn Storage,
        dir: &Path,
        read_mode: ReadMode,
        cache_bytes: Option<usize>,
    ) -> Result<Index> {
        let mut attempt = 1;
        loop {
            let r = Self::open_once(storage, dir, read_mode, cache_bytes);
            let retry = match &r {
                Ok(idx) => manifest::load(storage, dir)
                    .is_ok_and(|m| m.generation != idx.manifest.generation),
                Err(e) => is_not_found(e) && storage.exists(&dir.join(manifest::FILE_NAME)),
            };
            if !retry || attempt >= OPEN_ATTEMPTS {
                return r;
            }
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_millis(5 * attempt as u64));
        }
    }

    fn open_once(
        storage: &dyn Storage,
        dir: &Path,
        read_mode: ReadMode,
        cache_bytes: Option<usize>,
    ) -> Result<Index> {
        let manifest = manifest::load(storage, dir)?;
        let mpath = dir.join(manifest::FILE_NAME);
        let features = manifest.features.unwrap_or_default();
        let unknown = features.read & !crate::format::manifest::KNOWN_READ;
        if unknown != 0 {
            return Err(Error::UnsupportedFeatures {
                path: mpath,
                what: "read",
                bits: unknown,
                hint: "; it cannot be opened by this build",
            });
        }
        let metric = Metric::from_code(manifest.metric).ok_or_else(|| {
            Error::corrupt(
                &mpath,
                44,
                format!("unknown metric code {}", manifest.metric),
            )
        })?;
        let config: Config = serde_json::from_str(&manifest.config_json)
            .map_err(|e| Error::corrupt(&mpath, 0, format!("stored config does not parse: {e}")))?;
        let n: u64 = manifest.segments.iter().map(|s| s.n_vectors).sum();
        let resolved = config.resolve(n as usize, manifest.dim as usize)?;
        let info = IndexInfo::from_json(&mpath, &manifest.info_json)?;
        let opts = OpenOptions {
            read_mode,
            cache_bytes: cache_bytes.unwrap_or(resolved.cache_bytes),
            chunks: info.chunks,
            lexical: info.chunks && info.lexical,
        };
        let mut segments = Vec::with_capacity(manifest.segments.len());
        for s in &manifest.segments {
            let seg = Segment::open(storage, dir, s.id, metric, &opts)?;
            if seg.len() as u64 != s.n_vectors || seg.meta.dim != manifest.dim {
                return Err(Error::corrupt(
                    &mpath,
                    0,
                    format!(
                        "segment {} holds {} vectors of dim {}, the manifest says {} of dim {}",
                        s.id,
                        seg.len(),
                        seg.meta.dim,
                        s.n_vectors,
                        manifest.dim
                    ),
                ));
            }
            segments.push(seg);
        }
        // Replay the write-ahead logs (read-only: a torn tail is ignored here
        // and truncated by `enable_writes`).
        let mut delta = crate::engine::delta::Delta::default();
        let mut logs = Vec::new();
        for name in storage.list_dir(dir)? {
            if let Some(seq) = crate::engine::wal::parse_name(&name) {
                if seq >= info.log_start {
                    logs.push(seq);
                }
            }
        }
        logs.sort_unstable();
        let mut seen = DiskState {
            generation: manifest.generation,
            logs: Vec::with_capacity(logs.len()),
        };
        for &seq in &logs {
            let p = dir.join(crate::engine::wal::file_name(seq));
            let buf = storage.read_all(&p)?;
            seen.logs.push((seq, buf.len() as u64));
            if let Some((meta, rec)) = crate::engine::wal::read_log(&p, &buf)? {
                if meta.dim != manifest.dim {
                    return Err(Error::corrupt(
                        &p,
                        48,
                        format!(
                            "log of dimension {}, the index has {}",
                            meta.dim, manifest.dim
                        ),
                    ));
                }
                for b in &rec.batches {
                    for r in b {
                        delta.apply(r, metric);
                    }
                }
            }
        }
        delta.maintain(metric, resolved.seed);
        let mut idx = Index {
            delta,
            visible: None,
            wal: None,
            logs,
            info,
            dir: dir.to_path_buf(),
            dim: manifest.dim as usize,
            manifest,
            config,
            resolved,
            segments,
            metric,
            writer: None,
            seen,
            lock_wait: crate::engine::dir::DEFAULT_LOCK_WAIT,
            read_mode,
            cache_bytes,
        };
        idx.refresh_visible();
        Ok(idx)
    }

    /// Open this index's directory again, as it was opened; the new handle
    /// takes over the writer lock and the log (if any).
    pub(crate) fn reopen(&mut self, storage: &dyn Storage) -> Result<()> {
        let mut fresh = Index::open(storage, &self.dir, self.read_mode, self.cache_bytes)?;
        fresh.writer = self.writer.take();
        fresh.wal = self.wal.take();
        fresh.lock_wait = self.lock_wait;
        if let Some(w) = &fresh.wal {
            if !fresh.logs.contains(&w.seq()) {
                fresh.logs.push(w.seq());
            }
        }
        *self = fresh;
        Ok(())
    }

    /// Take the writer lock (L-1), waiting up to `lock_wait`; a no-op when
    /// this handle holds it. When another writer changed the index since this
    /// handle last saw it (L-4: generation, logs and their lengths), the
    /// index is opened again first. Returns whether it was.
    pub fn lock_writes(&mut self, storage: &dyn Storage) -> Result<bool> {
        if self.writer.is_some() {
            return Ok(false);
        }
        self.check_write_features()?;
        let lock = storage.lock_dir(&self.dir, &crate::io::lock::this_holder(), self.lock_wait)?;
        self.writer = Some(lock);
        let fresh = crate::engine::dir::disk_state(storage, &self.dir)
            .map(|now| now == self.seen)
            .and_then(|same| {
                if same {
                    return Ok(false);
                }
                // Another writer's log or compaction: this handle's log
                // (if any) is no longer the one to append to.
                self.wal = None;
                self.reopen(storage).map(|()| true)
            });
        let fresh = fresh.and_then(|reopened| self.check_write_features().map(|()| reopened));
        if fresh.is_err() {
            self.writer = None;
        }
        fresh
    }

    /// F-3: refuse to write an index with a write feature this build does
    /// not know (before anything in it is touched).
    fn check_write_features(&self) -> Result<()> {
        let unknown = self.manifest.features.unwrap_or_default().write
            & !crate::format::manifest::KNOWN_WRITE;
        if unknown != 0 {
            return Err(Error::UnsupportedFeatures {
                path: self.dir.join(manifest::FILE_NAME),
                what: "write",
                bits: unknown,
                hint:
                    "; it can be queried but not changed by this build (nothing in it was touched)",
            });
        }
        Ok(())
    }

    /// Let go of the writer lock (long-lived writers do between batches, so
    /// that other writers can run). The log stays open: when nobody else
    /// wrote meanwhile, the next `lock_writes` goes on appending to it.
    pub fn unlock_writes(&mut self, storage: &dyn Storage) {
        if self.writer.is_none() {
            return;
        }
        // A state that cannot be read matches nothing: reopen next time.
        self.seen = crate::engine::dir::disk_state(storage, &self.dir).unwrap_or_default();
        self.writer = None;
    }

    /// Let go of the writer lock after a failed write: the log (poisoned, or
    /// with a torn batch) is closed, and the next `lock_writes` opens the
    /// index again, which truncates what the failed batch left.
    pub fn unlock_after_failure(&mut self) {
        self.wal = None;
        self.seen = DiskState::default();
        self.writer = None;
    }

    /// Whether this handle holds the writer lock.
    pub fn holds_lock(&self) -> bool {
        self.writer.is_some()
    }

    /// Recompute which segment nodes the delta hides.
    pub(crate) fn refresh_visible(&mut self) {
        if self.delta.shadowed_ids.is_empty() && self.delta.deleted_paths.is_empty() {
            self.visible = None;
            return;
        }
        let allow = self
            .segments
            .iter()
            .map(|seg| {
                let hidden = self.delta.hidden_nodes(&seg.ids, seg.chunks.as_ref());
                hidden.into_iter().map(|h| !h).collect()
            })
            .collect();
        self.visible = Some(NodeFilter::new(allow));
    }

    /// Make the index writable: recover the last write-ahead log (truncating
    /// a torn tail) or start one.
    ///
    /// Takes the writer lock first (`lock_writes`), which may open the index
    /// again when another writer changed it.
    pub fn enable_writes(&mut self, storage: &dyn Storage) -> Result<()> {
        self.lock_writes(storage)?;
        if self.wal.is_some() {
            return Ok(());
        }
        // Files the manifest does not reference (an interrupted compaction's
        // new segment, or its predecessor's files and folded logs), and empty
        // logs that are not the newest (killed compactions'). Only under the
        // lock: another writer's files in progress look just the same.
        let live: Vec<u64> = self.manifest.segments.iter().map(|s| s.id).collect();
        let removed =
            crate::engine::dir::remove_orphans(storage, &self.dir, &live, self.info.log_start)?;
        self.logs
            .retain(|&seq| !removed.contains(&crate::engine::wal::file_name(seq)));
        let last = self.logs.last().copied();
        let wal = match last {
            Some(seq) => {
                match crate::engine::wal::Wal::open(
                    storage,
                    &self.dir.join(crate::engine::wal::file_name(seq)),
                )? {
                    Some((w, _)) => w,
                    None => crate::engine::wal::Wal::create(
                        storage,
                        &self.dir,
                        seq + 1,
                        self.dim as u32,
                    )?,
                }
            }
            None => crate::engine::wal::Wal::create(
                storage,
                &self.dir,
                self.info.log_start.max(1),
                self.dim as u32,
            )?,
        };
        if !self.logs.contains(&wal.seq()) {
            self.logs.push(wal.seq());
        }
        self.wal = Some(wal);
        Ok(())
    }

    /// Durably apply a batch of upserts and deletes (acknowledged when this
    /// returns Ok). Needs `enable_writes`.
    pub fn write(&mut self, records: &[crate::format::wal::Record]) -> Result<()> {
        let wal = self
            .wal
            .as_ref()
            .filter(|_| self.writer.is_some())
            .ok_or_else(|| {
                Error::invalid(
                    "index not open for writing (no writer lock): call enable_writes first",
                )
            })?;
        for r in records {
            if let Some(vector) = r.upsert_vector() {
                check_vector(vector, self.dim, "upserted vector")?;
            }
        }
        wal.commit(records)?;
        for r in records {
            self.delta.apply(r, self.metric);
        }
        self.delta.maintain(self.metric, self.resolved.seed);
        self.refresh_visible();
        Ok(())
    }

    /// External ids of every live vector (segment nodes not hidden, delta
    /// upserts).
    pub fn live_ids(&self) -> std::collections::BTreeSet<u64> {
        let mut out = std::collections::BTreeSet::new();
        for (si, seg) in self.segments.iter().enumerate() {
            for (i, &id) in seg.ids.iter().enumerate() {
                if self.visible.as_ref().is_none_or(|v| v.allow[si][i]) {
                    out.insert(id);
                }
            }
        }
        out.extend(self.delta.upserts.keys().copied());
        out
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

    /// Default query settings from the index configuration.
    pub fn default_params(&self, k: usize) -> QueryParams {
        let r = &self.resolved;
        let list = r.search_list.max(k);
        QueryParams {
            k,
            list,
            beam: r.beam_width,
            entry_anchors: r.entry_anchors,
            patience: r.patience,
            rerank: r.rerank.unwrap_or(list).max(k),
            free_expand: true,
            filter_scan_nodes: FILTER_SCAN_NODES,
        }
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

    /// Search: beam search per segment, exact rerank of the best `rerank`
    /// candidates, merged by exact distance.
    pub fn search(
        &self,
        query: &[f32],
        p: &QueryParams,
        exact: &dyn ExactSource,
        ctx: &mut QueryContext,
    ) -> Result<SearchOutput> {
        self.search_with(query, p, exact, ctx, None)
    }

    /// Distance of an exact vector `v` (not necessarily unit length) from
    /// the prepared query `q` (unit length for cosine).
    fn exact_distance(&self, q: &[f32], v: &[f32]) -> f32 {
        if self.metric == Metric::Cosine {
            // q is unit length; scale instead of copying v to normalise it.
            let nv = crate::ann::distance::dot(v, v).sqrt();
            if nv > 0.0 {
                1.0 - crate::ann::distance::dot(q, v) / nv
            } else {
                1.0
            }
        } else {
            self.metric.distance(q, v)
        }
    }

    /// `search` restricted to the nodes `filter` allows. The filter acts inside
    /// the search: a selective one (few allowed nodes) is answered by a scan of
    /// the allowed nodes' PQ codes; a broad one widens the beam search's list
    /// by the inverse of its selectivity, and falls back to the scan when the
    /// list still holds fewer than k allowed nodes. Either way k results come
    /// back whenever k allowed nodes exist.
    pub fn search_with(
        &self,
        query: &[f32],
        p: &QueryParams,
        exact: &dyn ExactSource,
        ctx: &mut QueryContext,
        filter: Option<&NodeFilter>,
    ) -> Result<SearchOutput> {
        if let Some(f) = filter {
            if f.allow.len() != self.segments.len() {
                return Err(Error::invalid(format!(
                    "filter covers {} segments, the index has {}",
                    f.allow.len(),
                    self.segments.len()
                )));
            }
        }
        // Nodes the delta hides are filtered out inside the search too.
        let combined;
        let seg_filter = match (filter, &self.visible) {
            (None, v) => v.as_ref(),
            (Some(f), None) => Some(f),
            (Some(f), Some(v)) => {
                combined = f.and(v);
                Some(&combined)
            }
        };
        let filter = seg_filter;
        let t0 = Instant::now();
        check_vector(query, self.dim, "query")?;
        if p.k == 0 {
            return Err(Error::invalid("k must be at least 1"));
        }
        let mut q = query.to_vec();
        if self.metric == Metric::Cosine {
            normalize(&mut q);
        }
        let mut stats = SearchStats::default();
        while ctx.scratch.len() < self.segments.len() {
            ctx.scratch.push(SegScratch::default());
        }
        // (distance, external id, segment index, node)
        let mut all: Vec<(f32, u64, u32, u32)> = Vec::new();
        let vis = ctx.visited.get_or_insert_with(|| Visited::new(0));
        for (si, seg) in self.segments.iter().enumerate() {
            let scratch = &mut ctx.scratch[si];
            scratch.reset();
            let tables = seg.quant.tables(&q);
            let entries = seg.entry_points(&tables, p.entry_anchors);
            let approx = |i: u32| seg.approx(&tables, i);
            let sp = SearchParams {
                list: p.list.max(p.k),
                beam: p.beam,
                patience: p.patience,
                k: p.k,
                free_expand: p.free_expand,
            };
            let want = p.rerank.max(p.k);
            let nodes: Vec<u32> = match filter {
                None => {
                    let pool =
                        vamana::beam_search(seg, &entries, &approx, &sp, vis, scratch, &mut stats)?;
                    pool.iter().take(want).map(|c| c.node).collect()
                }
                Some(f) => {
                    let allow = &f.allow[si];
                    let allowed = f.counts[si];
                    if allowed == 0 {
                        continue;
                    }
                    let mut picked = Vec::new();
                    if allowed > p.filter_scan_nodes {
                        let widen = (seg.len() as f64 / allowed as f64).ceil() as usize;
                        let sp = SearchParams {
                            list: (sp.list * widen).min(MAX_FILTERED_LIST).max(sp.list),
                            ..sp
                        };
                        let pool = vamana::beam_search(
                            seg, &entries, &approx, &sp, vis, scratch, &mut stats,
                        )?;
                        picked.extend(
                            pool.iter()
                                .filter(|c| allow[c.node as usize])
                                .take(want)
                                .map(|c| c.node),
                        );
                    }
                    if picked.len() < p.k.min(allowed) {
                        // Scan the allowed nodes' codes.
                        let mut scored: Vec<(f32, u32)> = (0..seg.len() as u32)
                            .filter(|&i| allow[i as usize])
                            .map(|i| (approx(i), i))
                            .collect();
                        stats.nodes_visited += scored.len() as u64;
                        let take = want.min(scored.len());
                        if take < scored.len() {
                            scored.select_nth_unstable_by(take, |a, b| a.0.total_cmp(&b.0));
                            scored.truncate(take);
                        }
                        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
                        picked = scored.into_iter().map(|x| x.1).collect();
                    }
                    picked
                }
            };
            let ext: Vec<u64> = nodes.iter().map(|&i| seg.ids[i as usize]).collect();
            ctx.exact.clear();
            exact.vectors(seg, &nodes, &ext, scratch, &mut stats, &mut ctx.exact)?;
            if ctx.exact.len() != nodes.len() * self.dim {
                return Err(Error::invalid(format!(
                    "exact source returned {} floats for {} vectors of dim {}",
                    ctx.exact.len(),
                    nodes.len(),
                    self.dim
                )));
            }
            for (j, &e) in ext.iter().enumerate() {
                let v = &ctx.exact[j * self.dim..(j + 1) * self.dim];
                let d = self.exact_distance(&q, v);
                all.push((d, e, si as u32, nodes[j]));
            }
        }
        // Live upserts of the delta (exact distances), merged by distance.
        if !self.delta.upserts.is_empty() {
            let want = p.rerank.max(p.k);
            let delta_ids = filter.and_then(|f| f.delta_ids.as_ref());
            let vis = ctx.visited.get_or_insert_with(|| Visited::new(0));
            let found = self.delta.search(
                &q,
                want,
                self.metric,
                delta_ids.is_some(),
                &|id, _| delta_ids.is_none_or(|s| s.contains(&id)),
                vis,
            );
            // Reused vectors only navigate: score those upserts exactly.
            let reused: Vec<(usize, u64)> = found
                .iter()
                .enumerate()
                .filter(|(_, (_, id))| self.delta.upserts.get(id).is_some_and(|e| !e.exact))
                .map(|(i, &(_, id))| (i, id))
                .collect();
            let mut found = found;
            if !reused.is_empty() {
                let ids: Vec<u64> = reused.iter().map(|x| x.1).collect();
                let entries: Vec<&crate::engine::delta::DeltaEntry> = ids
                    .iter()
                    .filter_map(|id| self.delta.upserts.get(id))
                    .collect();
                ctx.exact.clear();
                exact.delta_vectors(&ids, &entries, &mut ctx.exact)?;
                if ctx.exact.len() != ids.len() * self.dim {
                    return Err(Error::invalid(format!(
                        "exact source returned {} floats for {} delta upserts of dim {}",
                        ctx.exact.len(),
                        ids.len(),
                        self.dim
                    )));
                }
                for (j, &(i, _)) in reused.iter().enumerate() {
                    found[i].0 =
                        self.exact_distance(&q, &ctx.exact[j * self.dim..(j + 1) * self.dim]);
                }
            }
            all.extend(found.into_iter().map(|(d, id)| (d, id, DELTA_SEGMENT, 0)));
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.dedup_by_key(|x| x.1);
        all.truncate(p.k);
        stats.micros = t0.elapsed().as_micros() as u64;
        Ok(SearchOutput {
            hits: all
                .into_iter()
                .map(|(d, id, segment, node)| Hit {
                    id,
                    score: self.metric.score(d),
                    segment,
                    node,
                })
                .collect(),
            stats,
        })
    }
}

fn is_normalised(src: &dyn VectorSource) -> bool {
    (0..src.len()).all(|i| {
        let v = src.vector(i);
        (crate::ann::distance::dot(v, v) - 1.0).abs() < 1e-3
    })
}
