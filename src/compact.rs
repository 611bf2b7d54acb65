//! Compaction: folding the delta (write-ahead log upserts and deletes) into a
//! new segment. `plan` is the policy, a pure function of the delta's
//! statistics; `compact` carries a rebuild out: live vectors (segment nodes
//! the delta does not hide, plus live upserts) are built into a new segment,
//! fsynced, the manifest swapped atomically (its `logStart` past the folded
//! logs), then the old segment files and folded logs are deleted. Writes that
//! arrive meanwhile go to a new log that is not folded.

use crate::chunkstore::{ChunkTable, NewChunk};
use crate::data::VectorSpool;
use crate::error::{Error, Result};
use crate::index::{BuildInput, Index, Progress};
use crate::io::Storage;
use std::path::Path;

/// Default `incremental.deltaIndexThreshold`.
pub const DEFAULT_DELTA_THRESHOLD: usize = 1000;
/// Compact when the delta's upserts exceed this share of the segments.
pub const DELTA_SHARE: f64 = 0.10;
/// Compact when this share of segment nodes is hidden (deleted or replaced).
pub const TOMBSTONE_SHARE: f64 = 0.20;

/// What the policy looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeltaStats {
    pub segment_vectors: u64,
    pub hidden_segment_vectors: u64,
    pub delta_upserts: u64,
    pub threshold: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Nothing,
    /// Rebuild all segments with the delta folded in.
    Rebuild {
        reason: String,
    },
}

/// The compaction policy.
pub fn plan(s: &DeltaStats) -> Plan {
    let seg = s.segment_vectors.max(1) as f64;
    if s.delta_upserts as usize >= s.threshold.max(1) {
        return Plan::Rebuild {
            reason: format!(
                "{} live upserts >= deltaIndexThreshold {}",
                s.delta_upserts, s.threshold
            ),
        };
    }
    if s.delta_upserts as f64 > DELTA_SHARE * seg {
        return Plan::Rebuild {
            reason: format!(
                "delta of {} upserts is above {:.0}% of {} segment vectors",
                s.delta_upserts,
                DELTA_SHARE * 100.0,
                s.segment_vectors
            ),
        };
    }
    if s.hidden_segment_vectors as f64 > TOMBSTONE_SHARE * seg {
        return Plan::Rebuild {
            reason: format!(
                "{} of {} segment vectors deleted or replaced (> {:.0}%)",
                s.hidden_segment_vectors,
                s.segment_vectors,
                TOMBSTONE_SHARE * 100.0
            ),
        };
    }
    Plan::Nothing
}

/// The statistics of an open index.
pub fn stats(idx: &Index) -> DeltaStats {
    let segment_vectors = idx.len() as u64;
    DeltaStats {
        segment_vectors,
        hidden_segment_vectors: idx.hidden_len() as u64,
        delta_upserts: idx.delta.upserts.len() as u64,
        threshold: idx
            .config
            .incremental
            .as_ref()
            .and_then(|i| i.delta_index_threshold)
            .unwrap_or(DEFAULT_DELTA_THRESHOLD),
    }
}

#[derive(Clone, Debug, Default)]
pub struct CompactReport {
    pub live_vectors: usize,
    pub folded_logs: Vec<u64>,
    pub removed_files: Vec<String>,
    pub seconds: f64,
}

/// Where the exact vectors of live segment nodes come from during a rebuild:
/// `(segment index, nodes, their ids)` in, `nodes.len() * dim` floats out.
pub type SegmentVectors<'a> =
    dyn Fn(&Index, usize, &[u32], &[u64], &mut Vec<f32>) -> Result<()> + 'a;

/// Text of a live segment node or delta upsert, for indexes that store text.
pub type ChunkTextSource<'a> = dyn Fn(&Index, ChunkRef<'_>) -> Result<String> + 'a;

/// A chunk whose text a rebuild needs.
pub enum ChunkRef<'a> {
    Segment(usize, u32),
    Delta(&'a crate::format::wal::UpsertChunk),
}

/// Rebuild the index in place with the delta folded in (see the module
/// documentation). The index must be writable (`enable_writes`).
pub fn compact(
    idx: &mut Index,
    storage: &dyn Storage,
    vectors: &SegmentVectors<'_>,
    text: Option<&ChunkTextSource<'_>>,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<CompactReport> {
    let t0 = std::time::Instant::now();
    let wal = idx
        .wal
        .as_ref()
        .ok_or_else(|| Error::invalid("compaction needs a writable index (enable_writes)"))?;
    // New writes go to a new log; everything up to it is folded.
    let fold_below = wal.seq() + 1;
    let new_wal = crate::wal::Wal::create(storage, &idx.dir, fold_below, idx.dim as u32)?;
    idx.wal = Some(new_wal);
    idx.logs.push(fold_below);

    let dim = idx.dim;
    let with_chunks = idx.info.chunks;
    let store_text = idx.config.store_text;
    if store_text && text.is_none() {
        return Err(Error::invalid(
            "this index stores text: compaction needs a text source",
        ));
    }
    let mut spool = VectorSpool::new(dim)?;
    let mut table = if with_chunks {
        Some(ChunkTable::new(store_text)?)
    } else {
        None
    };
    let mut ids = Vec::new();
    let mut buf = Vec::new();
    for (si, seg) in idx.segments.iter().enumerate() {
        let live: Vec<u32> = (0..seg.len() as u32)
            .filter(|&i| idx.visible.as_ref().is_none_or(|v| v.allow[si][i as usize]))
            .collect();
        for part in live.chunks(4096) {
            let ext: Vec<u64> = part.iter().map(|&i| seg.ids[i as usize]).collect();
            buf.clear();
            vectors(idx, si, part, &ext, &mut buf)?;
            if buf.len() != part.len() * dim {
                return Err(Error::invalid(format!(
                    "vector source gave {} floats for {} vectors of dimension {dim}",
                    buf.len(),
                    part.len()
                )));
            }
            spool.push(&buf)?;
            ids.extend_from_slice(&ext);
            if let Some(t) = table.as_mut() {
                let store = seg
                    .chunks
                    .as_ref()
                    .ok_or_else(|| Error::invalid("segment without chunk metadata"))?;
                for &n in part {
                    let c = store.info(n);
                    let z = match (store_text, text) {
                        (true, Some(f)) => Some(crate::chunkstore::compress_text(&f(
                            idx,
                            ChunkRef::Segment(si, n),
                        )?)?),
                        _ => None,
                    };
                    t.push(&NewChunk {
                        path: c.path,
                        language: c.language,
                        start_line: c.start_line,
                        end_line: c.end_line,
                        start_byte: c.start_byte as usize,
                        end_byte: c.start_byte as usize + c.byte_len as usize,
                        symbol: c.symbol,
                        hash: c.hash,
                        compressed: z.as_deref(),
                    })?;
                }
            }
        }
    }
    for (&id, e) in &idx.delta.upserts {
        spool.push(&e.vector)?;
        ids.push(id);
        if let Some(t) = table.as_mut() {
            let c = e.chunk.as_ref().ok_or_else(|| {
                Error::invalid(format!(
                    "upsert {id} has no chunk metadata in a chunk index"
                ))
            })?;
            let z = match (store_text, text) {
                (true, Some(f)) => Some(crate::chunkstore::compress_text(&f(
                    idx,
                    ChunkRef::Delta(c),
                )?)?),
                _ => None,
            };
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
            })?;
        }
    }
    let live_vectors = ids.len();
    if live_vectors == 0 {
        return Err(Error::invalid(
            "compaction would leave no vectors: an index cannot be empty",
        ));
    }
    let vectors = spool.finish()?;
    let old_segments: Vec<u64> = idx.manifest.segments.iter().map(|s| s.id).collect();
    let new_id = old_segments.iter().copied().max().unwrap_or(0) + 1;
    let mut info = idx.info.clone();
    info.log_start = fold_below;
    let config = idx.config.clone();
    Index::build(
        storage,
        &idx.dir,
        &vectors.vectors,
        BuildInput {
            ids: Some(&ids),
            chunks: table.as_mut(),
            info,
            replace: Some((new_id, idx.manifest.generation + 1)),
        },
        &config,
        progress,
    )?;
    // The new manifest is durable: everything it does not name is garbage.
    let dir = idx.dir.clone();
    let wal = idx.wal.take();
    let mut fresh = Index::open(storage, &dir, crate::io::ReadMode::Buffered, None)?;
    fresh.wal = wal;
    let removed = remove_orphans(storage, &dir, &fresh)?;
    let folded: Vec<u64> = idx
        .logs
        .iter()
        .copied()
        .filter(|&s| s < fold_below)
        .collect();
    *idx = fresh;
    Ok(CompactReport {
        live_vectors,
        folded_logs: folded,
        removed_files: removed,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Remove files of `dir` that the open index does not use: segment files of
/// other segments, logs below its `logStart`, temporaries. Returns their names.
pub fn remove_orphans(storage: &dyn Storage, dir: &Path, idx: &Index) -> Result<Vec<String>> {
    let live: Vec<u64> = idx.manifest.segments.iter().map(|s| s.id).collect();
    let mut removed = Vec::new();
    for name in storage.list_dir(dir)? {
        let orphan = if name.ends_with(".tmp") {
            true
        } else if let Some(seq) = crate::wal::parse_name(&name) {
            seq < idx.info.log_start
        } else if let Some(id) = name
            .strip_prefix("seg-")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            !live.contains(&id)
        } else {
            false
        };
        if orphan {
            storage.remove_file(&dir.join(&name))?;
            removed.push(name);
        }
    }
    Ok(removed)
}
