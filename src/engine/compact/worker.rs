//! The compaction worker: carries out the policy's choice in three steps
//! (`begin`, `prepare`, `install`; see the module documentation of
//! `engine::compact`).

use super::policy::{DeltaStats, Method, DEFAULT_DELTA_THRESHOLD};
use crate::ann::distance::{l2sq, normalize, Metric};
use crate::engine::chunkstore::{ChunkTable, NewChunk};
use crate::engine::data::VectorSpool;
use crate::engine::index::{BuildInput, Index, Progress};
use crate::engine::segment;
use crate::error::{Error, Result};
use crate::format::manifest::SegmentEntry;
use crate::io::Storage;

/// The statistics of an open index.
pub fn stats(idx: &Index) -> DeltaStats {
    let segment_vectors = idx.len() as u64;
    let delta_upserts = idx.delta.upserts.len() as u64;
    let hidden_segment_vectors = idx.hidden_len() as u64;
    // A merge needs one segment; its degree and codes size what it holds.
    let merge_bytes = idx.segments.first().map_or(0, |seg| {
        super::policy::merge_bytes(
            segment_vectors
                .saturating_sub(hidden_segment_vectors)
                .saturating_add(delta_upserts),
            idx.dim,
            seg.meta.max_degree as usize,
            seg.quant.m,
        )
    });
    DeltaStats {
        merge_bytes,
        // A config that names no valid budget was refused when the index
        // was made; an unreadable one here leaves the merge unlimited.
        budget_bytes: idx.config.memory_budget_bytes().unwrap_or(u64::MAX),
        segments: idx.segments.len() as u64,
        stored_vectors: idx.segments.iter().any(|s| s.meta.full_vectors),
        segment_vectors,
        hidden_segment_vectors,
        delta_upserts,
        threshold: idx
            .config
            .incremental
            .as_ref()
            .and_then(|i| i.delta_index_threshold)
            .unwrap_or(DEFAULT_DELTA_THRESHOLD),
    }
}

#[derive(Clone, Debug)]
pub struct CompactReport {
    pub live_vectors: usize,
    pub method: Method,
    pub folded_logs: Vec<u64>,
    pub removed_files: Vec<String>,
    pub seconds: f64,
}

/// Where the exact vectors of live segment nodes come from during a rebuild:
/// `(segment index, nodes, their ids)` in, `nodes.len() * dim` floats out.
pub type SegmentVectors<'a> =
    dyn Fn(&Index, usize, &[u32], &[u64], &mut Vec<f32>) -> Result<()> + 'a;

/// Text of a live segment node or delta upsert, for indexes that store text
/// or have a lexical index: (text, stale), stale when the source no longer
/// holds the chunk's content.
pub type ChunkTextSource<'a> = dyn Fn(&Index, ChunkRef<'_>) -> Result<(String, bool)> + 'a;

/// A chunk whose text a rebuild needs.
pub enum ChunkRef<'a> {
    Segment(usize, u32),
    Delta(&'a crate::format::wal::UpsertChunk),
}

/// Fold the delta into a new segment by `method` (see the module
/// documentation). The index must be writable (`enable_writes`). `vectors`
/// supplies exact vectors of live segment nodes (both methods need them);
/// `text` supplies chunk text for indexes that store it.
pub fn compact(
    idx: &mut Index,
    storage: &dyn Storage,
    method: Method,
    vectors: &SegmentVectors<'_>,
    text: Option<&ChunkTextSource<'_>>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<CompactReport> {
    let t0 = std::time::Instant::now();
    let carry = stamps_to_carry(idx, storage)?;
    let fold_below = begin(idx, storage)?;
    let prepared = prepare(idx, storage, method, fold_below, vectors, text, progress)?;
    let mut rep = install(idx, storage, prepared)?;
    if let Some(changed) = carry {
        // T-7. `FILES` is a cache: when this fails, the old one stays, and
        // the new manifest voids its state (T-6), so nothing is trusted
        // that should not be; the next update checks every path instead.
        let _ = crate::engine::dir::index_state(storage, &idx.dir).and_then(|(state, _)| {
            crate::engine::stamps::carry_over(storage, &idx.dir, &changed, state)
        });
    }
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// T-7: when the index's `FILES` describes its state as it is now (T-6),
/// the paths the delta about to be folded changed, for `carry_over` after
/// the compaction; None when there is nothing to carry.
fn stamps_to_carry(
    idx: &Index,
    storage: &dyn Storage,
) -> Result<Option<std::collections::HashSet<String>>> {
    let Some(recorded) = crate::engine::stamps::recorded_state(storage, &idx.dir) else {
        return Ok(None);
    };
    let (now, logs) = crate::engine::dir::index_state(storage, &idx.dir)?;
    if !crate::engine::stamps::state_holds(&recorded, &now, &logs) {
        return Ok(None);
    }
    Ok(Some(idx.delta_paths()?))
}

/// Step 1 (needs `&mut`, quick): new writes go to a new log; every log below
/// it will be folded. Returns the new log's sequence number.
pub fn begin(idx: &mut Index, storage: &dyn Storage) -> Result<u64> {
    let wal = idx
        .wal
        .as_ref()
        .filter(|_| idx.holds_lock())
        .ok_or_else(|| {
            Error::precondition(
                "compaction needs a writable index holding the writer lock (enable_writes)",
            )
        })?;
    let fold_below = wal.seq() + 1;
    let new_wal = crate::engine::wal::Wal::create(storage, &idx.dir, fold_below, idx.dim as u32)?;
    idx.wal = Some(new_wal);
    idx.logs.push(fold_below);
    Ok(fold_below)
}

/// A new segment written and its manifest durable, not yet in use.
pub struct Prepared {
    fold_below: u64,
    live_vectors: usize,
    method: Method,
}

/// The live rows of a compaction, in order: live nodes of each segment in
/// node order, then live upserts.
struct Rows {
    ids: Vec<u64>,
    table: Option<ChunkTable>,
    /// Per segment, its live nodes.
    live: Vec<Vec<u32>>,
}

fn live_rows(
    idx: &Index,
    text: Option<&ChunkTextSource<'_>>,
    scratch: &std::path::Path,
) -> Result<Rows> {
    let store_text = idx.config.store_text;
    let lexical = idx.info.chunks && idx.info.lexical;
    if (store_text || lexical) && text.is_none() {
        return Err(Error::precondition(
            "this index stores text or has a lexical index: compaction needs a text source",
        ));
    }
    let mut table = if idx.info.chunks {
        Some(ChunkTable::new_in(store_text, lexical, scratch)?)
    } else {
        None
    };
    let mut ids = Vec::new();
    let mut live_of = Vec::with_capacity(idx.segments.len());
    // (compressed text when stored, text for the lexical index when fresh)
    let texts = |r: ChunkRef<'_>| -> Result<(Option<Vec<u8>>, Option<String>)> {
        let Some(f) = text.filter(|_| store_text || lexical) else {
            return Ok((None, None));
        };
        let what = match &r {
            ChunkRef::Segment(..) => String::new(),
            ChunkRef::Delta(c) => c.path.clone(),
        };
        let (t, stale) = f(idx, r)?;
        if store_text && stale {
            return Err(Error::precondition(format!(
                "{what}: changed since it was indexed; run `leann index update` before compacting an index that stores text"
            )));
        }
        let z = if store_text {
            Some(crate::engine::chunkstore::compress_text(&t)?)
        } else {
            None
        };
        Ok((z, (!stale).then_some(t)))
    };
    for (si, seg) in idx.segments.iter().enumerate() {
        let live: Vec<u32> = (0..seg.len() as u32)
            .filter(|&i| idx.visible.as_ref().is_none_or(|v| v.allow[si][i as usize]))
            .collect();
        ids.extend(live.iter().map(|&i| seg.ids.get(i as usize)));
        if let Some(t) = table.as_mut() {
            let store = seg
                .chunks
                .as_ref()
                .ok_or_else(|| Error::internal("segment without chunk metadata"))?;
            for &n in &live {
                let c = store.info(n)?;
                let (z, lex_text) = texts(ChunkRef::Segment(si, n))?;
                t.push(&NewChunk {
                    path: &c.path,
                    language: c.language,
                    start_line: c.start_line,
                    end_line: c.end_line,
                    start_byte: c.start_byte as usize,
                    end_byte: c.start_byte as usize + c.byte_len as usize,
                    symbol: c.symbol.as_deref(),
                    hash: c.hash,
                    compressed: z.as_deref(),
                    text: lex_text.as_deref(),
                })?;
            }
        }
        live_of.push(live);
    }
    for (&id, e) in &idx.delta.upserts {
        ids.push(id);
        if let Some(t) = table.as_mut() {
            let c = e.chunk.as_ref().ok_or_else(|| {
                Error::internal(format!(
                    "upsert {id} has no chunk metadata in a chunk index"
                ))
            })?;
            let (z, lex_text) = texts(ChunkRef::Delta(c))?;
            t.push(&NewChunk {
                path: &c.path,
                language: c.language,
                start_line: c.start_line,
                end_line: c.end_line,
                start_byte: c.start_byte as usize,
                end_byte: c.start_byte as usize + c.byte_len as usize,
                symbol: c.symbol.as_deref(),
                hash: c.hash,
                compressed: z.as_deref(),
                text: lex_text.as_deref(),
            })?;
        }
    }
    if ids.is_empty() {
        return Err(Error::precondition(
            "compaction would leave no vectors: an index cannot be empty",
        ));
    }
    Ok(Rows {
        ids,
        table,
        live: live_of,
    })
}

/// Step 2 (reads the index only, the long part): write the new segment and a
/// manifest naming it. Queries on `idx` keep working meanwhile.
pub fn prepare(
    idx: &Index,
    storage: &dyn Storage,
    method: Method,
    fold_below: u64,
    vectors: &SegmentVectors<'_>,
    text: Option<&ChunkTextSource<'_>>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Prepared> {
    // Spools and the lexical index in the making: in the index directory
    // declared first so that they outlive the rows using them.
    let scratch = crate::engine::dir::Scratch::new(
        storage,
        &idx.dir,
        crate::engine::dir::COMPACT_SCRATCH_DIR,
    )?;
    let mut rows = live_rows(idx, text, scratch.path())?;
    let old_segments: Vec<u64> = idx.manifest.segments.iter().map(|s| s.id).collect();
    let new_id = old_segments.iter().copied().max().unwrap_or(0) + 1;
    let mut info = idx.info.clone();
    info.log_start = fold_below;
    let method = if idx.segments.len() == 1 && !idx.segments[0].meta.full_vectors {
        method
    } else {
        Method::Rebuild
    };
    let live_vectors = rows.ids.len();
    let target = Target {
        id: new_id,
        info,
        scratch: scratch.path(),
    };
    match method {
        Method::Rebuild => rebuild(idx, storage, &mut rows, target, vectors, progress)?,
        Method::Merge => merge(idx, storage, &mut rows, target, vectors, progress)?,
    }
    Ok(Prepared {
        fold_below,
        live_vectors,
        method,
    })
}

/// What a compaction method writes: segment `id`, with `info` in its
/// manifest, its scratch files in `scratch`.
struct Target<'a> {
    id: u64,
    info: crate::engine::manifest::IndexInfo,
    scratch: &'a std::path::Path,
}

/// Exact vectors of the live segment nodes, in row order, in parts of up to
/// 4096: `each(first row, floats)`.
fn survivor_vectors(
    idx: &Index,
    rows: &Rows,
    vectors: &SegmentVectors<'_>,
    each: &mut dyn FnMut(usize, &[f32]) -> Result<()>,
) -> Result<()> {
    let dim = idx.dim;
    let mut buf = Vec::new();
    let mut at = 0usize;
    for (si, live) in rows.live.iter().enumerate() {
        for part in live.chunks(4096) {
            let ext = &rows.ids[at..at + part.len()];
            buf.clear();
            vectors(idx, si, part, ext, &mut buf)?;
            if buf.len() != part.len() * dim {
                return Err(Error::internal(format!(
                    "vector source gave {} floats for {} vectors of dimension {dim}",
                    buf.len(),
                    part.len()
                )));
            }
            each(at, &buf)?;
            at += part.len();
        }
    }
    Ok(())
}

fn rebuild(
    idx: &Index,
    storage: &dyn Storage,
    rows: &mut Rows,
    target: Target<'_>,
    vectors: &SegmentVectors<'_>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<()> {
    let Target {
        id: new_id,
        info,
        scratch,
    } = target;
    let mut spool = VectorSpool::new_in(scratch, idx.dim)?;
    survivor_vectors(idx, rows, vectors, &mut |_, part| spool.push(part))?;
    for e in idx.delta.upserts.values() {
        spool.push(&e.vector)?;
    }
    let vectors = spool.finish()?;
    let config = idx.config.clone();
    Index::build(
        storage,
        &idx.dir,
        &vectors.vectors,
        BuildInput {
            ids: Some(&rows.ids),
            chunks: rows.table.as_mut(),
            info,
            replace: Some((new_id, idx.manifest.generation + 1)),
        },
        &config,
        progress,
    )?;
    Ok(())
}

/// The streaming merge into the index's one segment (see the module docs).
fn merge(
    idx: &Index,
    storage: &dyn Storage,
    rows: &mut Rows,
    target: Target<'_>,
    xv: &SegmentVectors<'_>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<()> {
    let Target {
        id: new_id,
        info,
        scratch,
    } = target;
    let seg = &idx.segments[0];
    let dim = idx.dim;
    let quant = &seg.quant;
    let m = quant.m;
    let live = &rows.live[0];
    let survivors = live.len();
    let n = rows.ids.len();
    progress(&Progress::new("read graph", 0, 1));
    let old_adj = seg.adjacency()?;
    progress(&Progress::new("read graph", 1, 1));
    let mut row_of = vec![u32::MAX; seg.len()];
    for (r, &node) in live.iter().enumerate() {
        row_of[node as usize] = r as u32;
    }
    // Rows: survivors' exact vectors (unit length for cosine, as the segment
    // indexed them), then the upserts' (the delta normalised them), encoded
    // by the segment's quantizer. Per anchor, the row nearest to it becomes
    // its entry.
    let mut spool = VectorSpool::new_in(scratch, dim)?;
    let mut codes = crate::format::codes::CodesFile {
        small_blocks: true,
        m: m as u32,
        anchors: Vec::with_capacity(n),
        codes: Vec::with_capacity(n * m),
        norms: seg.codes.has_norms().then(|| Vec::with_capacity(n)),
    };
    let mut best = vec![(f32::INFINITY, u32::MAX); quant.anchors.k];
    let cosine = seg.metric == Metric::Cosine;
    let mut unit = Vec::new();
    survivor_vectors(idx, rows, xv, &mut |first, part| {
        unit.clear();
        unit.extend_from_slice(part);
        for (k, v) in unit.chunks_exact_mut(dim).enumerate() {
            if cosine {
                normalize(v);
            }
            let r = first + k;
            let i = live[r] as usize;
            let a = seg.codes.with_row(i as u32, |a, _, _| a)?;
            let d = l2sq(v, quant.anchors.row(a as usize));
            if d < best[a as usize].0 {
                best[a as usize] = (d, r as u32);
            }
        }
        spool.push(&unit)
    })?;
    for &node in live {
        let i = node as usize;
        seg.codes.with_row(i as u32, |a, c, norm| {
            codes.anchors.push(a);
            codes.codes.extend_from_slice(c);
            if let Some(out) = codes.norms.as_mut() {
                out.push(norm);
            }
        })?;
    }
    let mut scratch = Vec::new();
    for (k, e) in idx.delta.upserts.values().enumerate() {
        let (a, norm, d) = quant.encode(&e.vector, &mut codes.codes, &mut scratch);
        let r = (survivors + k) as u32;
        if d < best[a as usize].0 {
            best[a as usize] = (d, r);
        }
        codes.anchors.push(a);
        if let Some(out) = codes.norms.as_mut() {
            out.push(norm);
        }
        spool.push(&e.vector)?;
    }
    let vectors = spool.finish()?;
    let r = idx.config.resolve(n, dim)?;
    let params = crate::ann::vamana::BuildParams {
        metric: r.metric,
        max_degree: r.max_degree,
        build_list: r.build_list,
        alpha: r.alpha,
        seed: r.seed,
    };
    let inserts = (n - survivors) as u64;
    progress(&Progress::new("merge", 0, inserts));
    let g = crate::ann::vamana::merge(
        &vectors.vectors,
        &crate::ann::vamana::MergeInput {
            old_adj: &old_adj,
            old_medoid: seg.meta.medoid,
            row_of: &row_of,
        },
        &params,
        &|done| progress(&Progress::new("merge", done as u64, inserts)),
    );
    progress(&Progress::new("write", 0, 1));
    let entries: Vec<u32> = best.iter().map(|b| b.1).collect();
    segment::write(
        storage,
        &idx.dir,
        &segment::SegmentData {
            id: new_id,
            metric: r.metric,
            quant,
            codes: &codes,
            entries: &entries,
            ids: &rows.ids,
        },
        &segment::GraphData {
            adj: &g.adj,
            medoid: g.medoid,
            max_degree: r.max_degree as u32,
            vectors: None,
        },
        rows.table.as_mut(),
    )?;
    let mut man = idx.manifest.clone();
    man.generation += 1;
    man.segments = vec![SegmentEntry {
        id: new_id,
        n_vectors: n as u64,
    }];
    man.info_json = info.to_json()?;
    man.features = Some(info.features());
    crate::engine::manifest::store(storage, &idx.dir, &man)?;
    progress(&Progress::new("write", 1, 1));
    Ok(())
}

/// Step 3 (needs `&mut`, quick): open the new manifest's segment in place of
/// the old ones, keep the current log, and remove what the manifest no longer
/// names (old segment files, folded logs).
pub fn install(idx: &mut Index, storage: &dyn Storage, p: Prepared) -> Result<CompactReport> {
    // The new manifest is durable: everything it does not name is garbage.
    let folded: Vec<u64> = idx
        .logs
        .iter()
        .copied()
        .filter(|&s| s < p.fold_below)
        .collect();
    idx.reopen(storage)?;
    let live: Vec<u64> = idx.manifest.segments.iter().map(|s| s.id).collect();
    let removed = crate::engine::dir::remove_orphans(storage, &idx.dir, &live, idx.info.log_start)?;
    Ok(CompactReport {
        live_vectors: p.live_vectors,
        method: p.method,
        folded_logs: folded,
        removed_files: removed,
        seconds: 0.0,
    })
}
