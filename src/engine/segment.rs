//! An immutable on-disk segment: graph file (read by sectors through the
//! storage layer), anchors + codebooks, PQ codes and id map (held in memory).
//!
//! Files of segment `id` in the index directory: `seg-<id>.graph`, `.pq`,
//! `.codes`, `.ids` (id zero-padded to 8 digits).

use crate::ann::distance::Metric;
use crate::ann::pq::Quantizer;
use crate::ann::vamana::{GraphReader, SearchStats};
use crate::error::{Error, Result};
use crate::format::codes::{self, CodesFile};
use crate::format::graph::{self, GraphMeta, SECTOR_BYTES};
use crate::format::{idmap, pq as pqfmt};
use crate::io::{AlignedBuf, ReadFile, ReadMode, ReadReq, Storage, DIRECT_ALIGN_BYTES};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const FILE_EXTS: [&str; 4] = ["graph", "pq", "codes", "ids"];

/// Sectors written between two releases of a mapped adjacency table's pages.
const ADJ_RELEASE_SECTORS: usize = 4096;

pub fn file_name(id: u64, ext: &str) -> String {
    format!("seg-{id:08}.{ext}")
}

/// A segment's graph, in build order (before the on-disk reordering).
pub struct GraphData<'a> {
    pub adj: &'a dyn crate::ann::vamana::Adjacency,
    pub medoid: u32,
    pub max_degree: u32,
    /// Full-precision vectors to store in the graph file, if asked for.
    pub vectors: Option<&'a dyn crate::ann::vectors::VectorSource>,
}

/// Everything else a segment holds, in build order.
pub struct SegmentData<'a> {
    pub id: u64,
    pub metric: Metric,
    pub quant: &'a Quantizer,
    pub codes: &'a CodesFile,
    /// Per anchor, nearest node (u32::MAX when none).
    pub entries: &'a [u32],
    pub ids: &'a [u64],
}

/// Where the graph file put each node (what the other files follow).
pub struct Layout {
    /// Build order of each on-disk position.
    order: Vec<u32>,
    /// On-disk position of each build-order node.
    new_of: Vec<u32>,
    medoid: u32,
    graph_bytes: u64,
}

/// Sizes of the files written, in bytes.
#[derive(Clone, Debug, Default)]
pub struct SegmentFiles {
    pub graph: u64,
    pub pq: u64,
    pub codes: u64,
    pub ids: u64,
    pub chunks: u64,
    pub lexical: u64,
}

impl SegmentFiles {
    pub fn total(&self) -> u64 {
        self.graph + self.pq + self.codes + self.ids + self.chunks + self.lexical
    }
}

/// On-disk node order: nodes grouped by anchor (stable within an anchor), so
/// that a sector holds nodes of one region and a read often brings several
/// useful records. Returns new -> old.
fn layout_order(codes: &CodesFile) -> Vec<u32> {
    let mut order: Vec<u32> = (0..codes.len() as u32).collect();
    order.sort_by_key(|&i| codes.anchors[i as usize]);
    order
}

/// Write a segment's four files durably (each: temp, fsync, rename, fsync dir).
/// With `chunks`, also `seg-S.chunks`, its records in the same node order.
pub fn write(
    storage: &dyn Storage,
    dir: &Path,
    d: &SegmentData<'_>,
    g: &GraphData<'_>,
    chunks: Option<&mut crate::engine::chunkstore::ChunkTable>,
) -> Result<SegmentFiles> {
    let laid = write_graph(storage, dir, d, g)?;
    write_rest(storage, dir, d, laid, chunks)
}

/// The first step of [`write`]: lay the nodes out and write the graph
/// file, after which the caller may free the graph.
pub fn write_graph(
    storage: &dyn Storage,
    dir: &Path,
    d: &SegmentData<'_>,
    g: &GraphData<'_>,
) -> Result<Layout> {
    let n = g.adj.len();
    if d.codes.anchors.len() != n {
        return Err(Error::internal(format!(
            "segment {}: {n} graph nodes but {} codes",
            d.id,
            d.codes.anchors.len()
        )));
    }
    let order = layout_order(d.codes);
    let mut new_of = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        new_of[old as usize] = new as u32;
    }
    let full = g.vectors.is_some();
    let meta = GraphMeta::new(
        n as u64,
        d.quant.dim as u32,
        g.max_degree,
        full,
        d.metric.code(),
        new_of[g.medoid as usize],
    )?;
    // Graph file, streamed a sector at a time.
    let gpath = dir.join(file_name(d.id, "graph"));
    let mut w = storage.create(&gpath)?;
    w.write_all(&graph::encode_header_sector(&meta))?;
    let nps = meta.nodes_per_sector as usize;
    let mut sector = vec![0u8; SECTOR_BYTES];
    let mut nbrs = Vec::with_capacity(g.max_degree as usize);
    for first in (0..n).step_by(nps) {
        sector.fill(0);
        for (new, &old) in order.iter().enumerate().skip(first).take(nps) {
            let old = old as usize;
            nbrs.clear();
            nbrs.extend(g.adj.neighbours(old).iter().map(|&x| new_of[x as usize]));
            let v = g.vectors.map(|s| s.vector(old));
            graph::put_node(&meta, &mut sector, new as u32, v, &nbrs);
        }
        graph::seal_sector(&mut sector);
        w.write_all(&sector)?;
        if (first / nps) % ADJ_RELEASE_SECTORS == ADJ_RELEASE_SECTORS - 1 {
            // Rows are read in layout order, all over a mapped table.
            g.adj.release();
        }
    }
    g.adj.release();
    w.finish()?;
    Ok(Layout {
        order,
        new_of,
        medoid: meta.medoid,
        graph_bytes: meta.file_bytes(),
    })
}

/// The second step of [`write`]: the files that follow the graph's layout.
pub fn write_rest(
    storage: &dyn Storage,
    dir: &Path,
    d: &SegmentData<'_>,
    laid: Layout,
    chunks: Option<&mut crate::engine::chunkstore::ChunkTable>,
) -> Result<SegmentFiles> {
    let Layout {
        order,
        new_of,
        medoid,
        graph_bytes,
    } = laid;
    let n = order.len();

    let entries: Vec<u32> = d
        .entries
        .iter()
        .map(|&e| {
            if e == u32::MAX {
                medoid
            } else {
                new_of[e as usize]
            }
        })
        .collect();
    let pq_bytes = pqfmt::encode(&d.quant.to_file(entries));
    storage.write_atomic(&dir.join(file_name(d.id, "pq")), &pq_bytes)?;
    // Codes in node order, streamed (no reordered or encoded copy).
    let mut w = storage.create(&dir.join(file_name(d.id, "codes")))?;
    let codes_bytes = codes::write(
        &mut |b: &[u8]| w.write_all(b),
        d.codes,
        true,
        d.quant.anchors.k,
        &|i| order[i] as usize,
    )?;
    w.finish()?;
    let ids: Vec<u64> = order.iter().map(|&o| d.ids[o as usize]).collect();
    let ids_bytes = idmap::encode(&ids);
    drop(ids);
    storage.write_atomic(&dir.join(file_name(d.id, "ids")), &ids_bytes)?;
    let (chunk_bytes, lexical_bytes) = match chunks {
        Some(t) => {
            if t.len() != n {
                return Err(Error::argument(
                    "chunks",
                    format!("{} chunk records for {n} vectors", t.len()),
                ));
            }
            let chunk_bytes = t.write(storage, &dir.join(file_name(d.id, "chunks")), &order)?;
            t.release_written();
            crate::memory::release_free_heap();
            (
                chunk_bytes,
                t.write_lexical(storage, &dir.join(file_name(d.id, "lex")), &order)?,
            )
        }
        None => (0, 0),
    };
    Ok(SegmentFiles {
        graph: graph_bytes,
        pq: pq_bytes.len() as u64,
        codes: codes_bytes,
        ids: ids_bytes.len() as u64,
        chunks: chunk_bytes,
        lexical: lexical_bytes,
    })
}

/// Decoded neighbour lists of cached nodes (BFS from the entry points).
#[derive(Default)]
struct NodeCache {
    /// Per node: index into `offs`, or u32::MAX.
    slot: Vec<u32>,
    offs: Vec<u32>,
    flat: Vec<u32>,
}

impl NodeCache {
    #[inline]
    fn get(&self, node: u32) -> Option<&[u32]> {
        let s = *self.slot.get(node as usize)?;
        if s == u32::MAX {
            return None;
        }
        let s = s as usize;
        Some(&self.flat[self.offs[s] as usize..self.offs[s + 1] as usize])
    }
    fn nodes(&self) -> usize {
        self.offs.len().saturating_sub(1)
    }
}

/// Options for opening a segment.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub read_mode: ReadMode,
    /// Byte budget of the node cache (0 = none).
    pub cache_bytes: usize,
    /// Open `seg-S.chunks` too (the manifest's info says segments have one).
    pub chunks: bool,
    /// Open `seg-S.lex` too (the manifest's info says segments have one).
    pub lexical: bool,
}

/// An open segment.
pub struct Segment {
    pub id: u64,
    pub metric: Metric,
    path: PathBuf,
    file: Arc<dyn ReadFile>,
    pub meta: GraphMeta,
    pub quant: Quantizer,
    pub codes: SegCodes,
    /// External id of each node, kept bit-packed.
    pub ids: crate::format::idmap::PackedIds,
    /// Entry node per anchor.
    pub entries: Vec<u32>,
    cache: NodeCache,
    pub files: SegmentFiles,
    /// Chunk metadata, for indexes built from a source tree.
    pub chunks: Option<crate::engine::chunkstore::ChunkStore>,
    /// The lexical index (`seg-S.lex`), for tree indexes since format 1.4.
    pub lexical: Option<crate::lexical::segment::LexSegment>,
}

/// Per-query scratch: the sectors read so far in this query.
#[derive(Default)]
pub struct SegScratch {
    index: HashMap<u64, usize>,
    bufs: Vec<AlignedBuf>,
    used: usize,
    want: Vec<u64>,
    /// Nodes of the current fetch that are not in the node cache.
    need: Vec<u32>,
    /// Decoded neighbour list of the node being visited.
    nbrs: Vec<u32>,
}

impl SegScratch {
    pub fn reset(&mut self) {
        self.index.clear();
        self.used = 0;
    }
    fn sector(&self, s: u64) -> Option<&[u8]> {
        self.index.get(&s).map(|&i| &self.bufs[i][..])
    }
}

impl Segment {
    pub fn open(
        storage: &dyn Storage,
        dir: &Path,
        id: u64,
        metric: Metric,
        o: &OpenOptions,
    ) -> Result<Segment> {
        let path = dir.join(file_name(id, "graph"));
        let file = storage.open_read(&path, o.read_mode)?;
        let mut head = AlignedBuf::new(SECTOR_BYTES, DIRECT_ALIGN_BYTES);
        if file.len() < SECTOR_BYTES as u64 {
            return Err(Error::corrupt(
                &path,
                file.len(),
                format!(
                    "truncated: graph file is {} bytes, the header sector alone is {SECTOR_BYTES}",
                    file.len()
                ),
            ));
        }
        file.read_batch(&mut [ReadReq {
            offset: 0,
            buf: &mut head,
        }])?;
        let meta = graph::decode_header_sector(&path, &head, file.len())?;
        let bad = |p: &Path, w: String| Error::corrupt(p, 0, w);
        if Metric::from_code(meta.metric) != Some(metric) {
            return Err(bad(
                &path,
                format!(
                    "metric code {} does not match the manifest's {metric:?}",
                    meta.metric
                ),
            ));
        }
        let pq_path = dir.join(file_name(id, "pq"));
        let pq_bytes = storage.read_all(&pq_path)?;
        let pqf = pqfmt::decode(&pq_path, &pq_bytes)?;
        if pqf.dim != meta.dim || pqf.metric != meta.metric {
            return Err(bad(
                &pq_path,
                format!(
                    "dimension {} / metric {} do not match the graph's {} / {}",
                    pqf.dim, pqf.metric, meta.dim, meta.metric
                ),
            ));
        }
        if let Some(e) = pqf.entries.iter().find(|&&e| e as u64 >= meta.n_nodes) {
            return Err(bad(
                &pq_path,
                format!("anchor entry node {e} >= node count {}", meta.n_nodes),
            ));
        }
        let codes_path = dir.join(file_name(id, "codes"));
        let codes_map = storage.map(&codes_path)?;
        codes_map.advise_random();
        let lazy = codes::decode_lazy(&codes_path, &codes_map)?;
        if lazy.n as u64 != meta.n_nodes || lazy.m as u32 != pqf.m {
            return Err(bad(
                &codes_path,
                format!(
                    "{} records of {} codes, expected {} of {}",
                    lazy.n, lazy.m, meta.n_nodes, pqf.m
                ),
            ));
        }
        // Anchor ids and codes are checked as each record is read (F-8).
        let codes = SegCodes {
            path: codes_path.clone(),
            map: codes_map,
            lazy,
            n_anchors: pqf.n_anchors() as u32,
            ksub: pqf.ksub,
        };
        if codes.has_norms() != (metric == Metric::L2) {
            return Err(bad(
                &codes_path,
                "reconstruction norms present iff metric is l2".into(),
            ));
        }
        let ids_path = dir.join(file_name(id, "ids"));
        let ids_bytes = storage.read_all(&ids_path)?;
        let ids = idmap::decode_packed(&ids_path, &ids_bytes)?;
        if ids.len() as u64 != meta.n_nodes {
            return Err(bad(
                &ids_path,
                format!("{} ids for {} nodes", ids.len(), meta.n_nodes),
            ));
        }
        let chunks = if o.chunks {
            let cpath = dir.join(file_name(id, "chunks"));
            let store = crate::engine::chunkstore::ChunkStore::open(storage, &cpath)?;
            if store.len() as u64 != meta.n_nodes {
                return Err(bad(
                    &cpath,
                    format!("{} chunk records for {} nodes", store.len(), meta.n_nodes),
                ));
            }
            Some(store)
        } else {
            None
        };
        let lexical = if o.lexical {
            let lpath = dir.join(file_name(id, "lex"));
            Some(crate::lexical::segment::LexSegment::open(
                storage,
                &lpath,
                meta.n_nodes as usize,
            )?)
        } else {
            None
        };
        let files = SegmentFiles {
            graph: file.len(),
            pq: pq_bytes.len() as u64,
            codes: codes.map.len() as u64,
            ids: ids_bytes.len() as u64,
            chunks: chunks.as_ref().map_or(0, |c| c.file_bytes()),
            lexical: lexical.as_ref().map_or(0, |l| l.file_bytes()),
        };
        let quant = Quantizer::from_file(&pqf, metric);
        let mut seg = Segment {
            id,
            metric,
            path,
            file,
            meta,
            quant,
            codes,
            ids,
            entries: pqf.entries,
            cache: NodeCache::default(),
            files,
            chunks,
            lexical,
        };
        if o.cache_bytes > 0 {
            seg.fill_cache(o.cache_bytes)?;
        }
        Ok(seg)
    }

    pub fn len(&self) -> usize {
        self.meta.n_nodes as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn cached_nodes(&self) -> usize {
        self.cache.nodes()
    }

    /// Fill the node cache breadth-first from the medoid and anchor entries
    /// until its byte budget (8 bytes per node + 4 per neighbour) is spent.
    fn fill_cache(&mut self, budget: usize) -> Result<()> {
        let n = self.len();
        let mut cache = NodeCache {
            slot: vec![u32::MAX; n],
            offs: vec![0],
            flat: Vec::new(),
        };
        let mut seen = vec![false; n];
        let mut frontier: Vec<u32> = Vec::new();
        for &e in std::iter::once(&self.meta.medoid).chain(self.entries.iter()) {
            if !std::mem::replace(&mut seen[e as usize], true) {
                frontier.push(e);
            }
        }
        let mut used = 0usize;
        let mut scratch = SegScratch::default();
        let mut stats = SearchStats::default();
        'bfs: while !frontier.is_empty() {
            let mut next = Vec::new();
            for batch in frontier.chunks(64) {
                scratch.reset();
                let mut lists: Vec<(u32, Vec<u32>)> = Vec::with_capacity(batch.len());
                self.fetch(batch, &mut scratch, &mut stats, &mut |node, nb| {
                    lists.push((node, nb.to_vec()))
                })?;
                for (node, nb) in lists {
                    let cost = 8 + 4 * nb.len();
                    if used + cost > budget {
                        break 'bfs;
                    }
                    used += cost;
                    cache.slot[node as usize] = (cache.offs.len() - 1) as u32;
                    cache.flat.extend_from_slice(&nb);
                    cache.offs.push(cache.flat.len() as u32);
                    for x in nb {
                        if !std::mem::replace(&mut seen[x as usize], true) {
                            next.push(x);
                        }
                    }
                }
            }
            frontier = next;
        }
        self.cache = cache;
        Ok(())
    }

    /// Make every sector holding `nodes` resident in `scratch` (one batch of
    /// reads for those not yet read in this query). Returns sectors read.
    fn load_sectors(&self, nodes: &[u32], scratch: &mut SegScratch) -> Result<u64> {
        scratch.want.clear();
        for &n in nodes {
            let (s, _) = self.meta.locate(n);
            if !scratch.index.contains_key(&s) && !scratch.want.contains(&s) {
                scratch.want.push(s);
            }
        }
        if scratch.want.is_empty() {
            return Ok(0);
        }
        let first = scratch.used;
        while scratch.bufs.len() < first + scratch.want.len() {
            scratch
                .bufs
                .push(AlignedBuf::new(SECTOR_BYTES, DIRECT_ALIGN_BYTES));
        }
        {
            let mut reqs: Vec<ReadReq<'_>> = scratch.bufs[first..first + scratch.want.len()]
                .iter_mut()
                .zip(&scratch.want)
                .map(|(b, &s)| ReadReq {
                    offset: s * SECTOR_BYTES as u64,
                    buf: &mut b[..],
                })
                .collect();
            self.file.read_batch(&mut reqs)?;
        }
        for (i, &s) in scratch.want.iter().enumerate() {
            graph::verify_sector(&self.path, s, &scratch.bufs[first + i])?;
            scratch.index.insert(s, first + i);
        }
        scratch.used += scratch.want.len();
        Ok(scratch.want.len() as u64)
    }

    /// Every node's neighbour list, read sequentially (for a streaming merge):
    /// sectors in batches of `ADJ_BATCH_SECTORS`, each checksum-verified.
    pub fn adjacency(&self) -> Result<Vec<Vec<u32>>> {
        const ADJ_BATCH_SECTORS: u64 = 256;
        let n = self.len();
        let nps = self.meta.nodes_per_sector as usize;
        let mut adj = Vec::with_capacity(n);
        let mut bufs: Vec<AlignedBuf> = Vec::new();
        let total = self.meta.n_sectors();
        let mut first = 0u64;
        while first < total {
            let count = ADJ_BATCH_SECTORS.min(total - first);
            while (bufs.len() as u64) < count {
                bufs.push(AlignedBuf::new(SECTOR_BYTES, DIRECT_ALIGN_BYTES));
            }
            {
                let mut reqs: Vec<ReadReq<'_>> = bufs[..count as usize]
                    .iter_mut()
                    .enumerate()
                    .map(|(i, b)| ReadReq {
                        // Sector 0 is the header: node sectors start at 1.
                        offset: (1 + first + i as u64) * SECTOR_BYTES as u64,
                        buf: &mut b[..],
                    })
                    .collect();
                self.file.read_batch(&mut reqs)?;
            }
            for (i, buf) in bufs[..count as usize].iter().enumerate() {
                let s = 1 + first + i as u64;
                graph::verify_sector(&self.path, s, buf)?;
                let lo = (first as usize + i) * nps;
                for node in lo..(lo + nps).min(n) {
                    let mut list = Vec::new();
                    graph::read_node(&self.meta, &self.path, buf, node as u32, &mut list)?;
                    adj.push(list);
                }
            }
            first += count;
        }
        Ok(adj)
    }

    /// Whether the graph file stores full-precision vectors
    /// (graph.storeFullVectors).
    pub fn has_full_vectors(&self) -> bool {
        self.meta.full_vectors
    }

    /// Full-precision vectors stored in the graph file for `nodes` (only when
    /// the segment was built with stored vectors), appended to `out`.
    pub fn stored_vectors(
        &self,
        nodes: &[u32],
        scratch: &mut SegScratch,
        stats: &mut SearchStats,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        if !self.meta.full_vectors {
            return Err(Error::precondition(format!(
                "{} stores no full vectors; rerank needs a recompute source",
                self.path.display()
            )));
        }
        stats.sector_reads += self.load_sectors(nodes, scratch)?;
        let mut tmp = Vec::new();
        for &n in nodes {
            let (s, _) = self.meta.locate(n);
            // load_sectors just made every sector of `nodes` resident.
            let sec = scratch.sector(s).expect("sector resident");
            tmp.clear();
            let v = graph::read_node(&self.meta, &self.path, sec, n, &mut tmp)?;
            let v = v.expect("full_vectors set");
            out.extend(crate::format::f32s_from(v));
        }
        Ok(())
    }

    /// Approximate distance of node `i` to the query whose tables are `t`.
    #[inline]
    pub fn approx(&self, t: &crate::ann::pq::QueryTables, i: u32) -> Result<f32> {
        self.codes
            .with_row(i, |a, c, norm| self.quant.adc(t, a, c, norm))
    }

    /// The PQ reconstruction of node `i` (anchor + residual codes).
    pub fn reconstruct(&self, i: u32) -> Result<Vec<f32>> {
        self.codes
            .with_row(i, |a, c, _| self.quant.reconstruct(a, c))
    }

    /// Entry points for a query: the medoid and the entry nodes of the
    /// `n` anchors nearest to it (by <q, anchor> / anchor distance).
    pub fn entry_points(&self, t: &crate::ann::pq::QueryTables, n: usize) -> Vec<u32> {
        let k = self.quant.anchors.k;
        let mut scored: Vec<(f32, usize)> = (0..k)
            .map(|a| {
                let d = match self.metric {
                    Metric::L2 => self.quant.anchors.norm(a) - 2.0 * t.anchor_dots[a],
                    _ => -t.anchor_dots[a],
                };
                (d, a)
            })
            .collect();
        let n = n.min(k);
        if n > 0 && n < k {
            scored.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0));
        }
        let mut out: Vec<u32> = scored[..n].iter().map(|&(_, a)| self.entries[a]).collect();
        out.push(self.meta.medoid);
        out
    }
}

impl GraphReader for Segment {
    type Scratch = SegScratch;
    fn len(&self) -> usize {
        self.meta.n_nodes as usize
    }
    fn fetch(
        &self,
        batch: &[u32],
        scratch: &mut SegScratch,
        stats: &mut SearchStats,
        visit: &mut dyn FnMut(u32, &[u32]),
    ) -> Result<()> {
        // Reuse the scratch's lists (taken out while `scratch` is lent below).
        let mut need = std::mem::take(&mut scratch.need);
        let mut nb = std::mem::take(&mut scratch.nbrs);
        need.clear();
        for &n in batch {
            if let Some(list) = self.cache.get(n) {
                stats.cache_hits += 1;
                visit(n, list);
            } else {
                need.push(n);
            }
        }
        let result = (|| {
            if need.is_empty() {
                return Ok(());
            }
            stats.sector_reads += self.load_sectors(&need, scratch)?;
            for &n in &need {
                let (s, _) = self.meta.locate(n);
                // load_sectors just made every sector of `need` resident.
                let sec = scratch.sector(s).expect("sector resident");
                nb.clear();
                graph::read_node(&self.meta, &self.path, sec, n, &mut nb)?;
                visit(n, &nb);
            }
            Ok(())
        })();
        scratch.need = need;
        scratch.nbrs = nb;
        result
    }
    fn resident(&self, node: u32, scratch: &SegScratch) -> bool {
        self.cache.get(node).is_some() || scratch.index.contains_key(&self.meta.locate(node).0)
    }
}

/// A segment's PQ codes, read in place from `seg-S.codes` (F-8): each
/// record is read when the search asks for it, its anchor id and codes
/// checked against the segment's quantizer.
pub struct SegCodes {
    path: PathBuf,
    map: crate::io::Mapped,
    lazy: codes::CodesLazy,
    n_anchors: u32,
    ksub: u32,
}

/// Longest code row read onto the stack (longer ones use the heap).
const STACK_CODES_BYTES: usize = 256;

impl SegCodes {
    pub fn len(&self) -> usize {
        self.lazy.n
    }
    pub fn is_empty(&self) -> bool {
        self.lazy.n == 0
    }
    /// Sub-vectors (codes per node).
    pub fn m(&self) -> usize {
        self.lazy.m
    }
    pub fn has_norms(&self) -> bool {
        self.lazy.has_norms
    }

    /// `f(anchor, codes, norm)` of node `i`, read and checked.
    #[inline]
    pub fn with_row<T>(&self, i: u32, f: impl FnOnce(u32, &[u8], f32) -> T) -> Result<T> {
        let m = self.lazy.m;
        let mut stack = [0u8; STACK_CODES_BYTES];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if m <= STACK_CODES_BYTES {
            &mut stack[..m]
        } else {
            heap.resize(m, 0);
            &mut heap
        };
        let (a, norm) = self.lazy.read(&self.path, &self.map, i as usize, buf)?;
        if a >= self.n_anchors {
            return Err(Error::corrupt(
                &self.path,
                self.lazy.offset(i as usize),
                format!(
                    "record {i}: anchor id {a} >= anchor count {}",
                    self.n_anchors
                ),
            ));
        }
        if self.ksub < 256 && buf.iter().any(|&c| c as u32 >= self.ksub) {
            return Err(Error::corrupt(
                &self.path,
                self.lazy.offset(i as usize),
                format!("record {i}: a code is >= codebook size {}", self.ksub),
            ));
        }
        Ok(f(a, buf, norm))
    }

    /// Read and check every record (`leann index validate`).
    pub fn verify_all(&self) -> Result<()> {
        self.lazy.verify_all(&self.path, &self.map)?;
        for i in 0..self.len() as u32 {
            self.with_row(i, |_, _, _| ())?;
        }
        Ok(())
    }
}
