//! Whole-index verification: decode every file (the decoders check every block
//! checksum) and read and check every graph sector and node record, and every
//! stored chunk text.

use crate::ann::vamana::{GraphReader, SearchStats};
use crate::engine::index::Index;
use crate::error::Result;

/// Returns the number of graph sectors verified.
pub fn verify(idx: &Index) -> Result<u64> {
    let mut sectors = 0;
    for seg in &idx.segments {
        let mut scratch = crate::engine::segment::SegScratch::default();
        let mut stats = SearchStats::default();
        let n = seg.len() as u32;
        let nps = seg.meta.nodes_per_sector;
        let step = 64 * nps;
        let mut first = 0u32;
        while first < n {
            scratch.reset();
            let nodes: Vec<u32> = (first..n.min(first.saturating_add(step))).collect();
            seg.fetch(&nodes, &mut scratch, &mut stats, &mut |_, _| {})?;
            first = first.saturating_add(step);
        }
        sectors += stats.sector_reads;
        // Every PQ codes block and record (queries read them lazily).
        seg.codes.verify_all()?;
        if let Some(l) = &seg.lexical {
            // Every packed tantivy file's CRC-32 (opening checked the table).
            l.verify_all()?;
        }
        if let Some(store) = &seg.chunks {
            // Every block, record and symbol (queries read them lazily).
            store.verify_all()?;
            // Every text entry's checksum, and that it decompresses.
            if store.has_text() {
                for i in 0..store.len() as u32 {
                    store.text(i)?;
                }
            }
        }
    }
    Ok(sectors)
}

/// What a log holds, as recovery would find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogReport {
    pub name: String,
    pub bytes: u64,
    /// Committed batches and the records in them.
    pub batches: usize,
    pub records: usize,
    /// Bytes after the last commit that recovery discards (a torn or
    /// unfinished batch, never acknowledged), and where they start.
    pub torn_bytes: u64,
    pub torn_at: u64,
}

/// Read every log of `idx` as recovery would (W-n), without changing any:
/// its committed batches and the torn tail a writer would truncate. A log
/// damaged in the middle is an error naming the file and offset.
pub fn logs(idx: &Index, storage: &dyn crate::io::Storage) -> Result<Vec<LogReport>> {
    let mut out = Vec::new();
    for &seq in &idx.logs {
        let name = crate::engine::wal::file_name(seq);
        let p = idx.dir.join(&name);
        let buf = match storage.read_all(&p) {
            Ok(b) => b,
            // A log opened by this handle's own writer but not yet on disk.
            Err(_) if !storage.exists(&p) => continue,
            Err(e) => return Err(e),
        };
        let (batches, records, committed) = match crate::engine::wal::read_log(&p, &buf)? {
            Some((_, rec)) => (
                rec.batches.len(),
                rec.batches.iter().map(Vec::len).sum(),
                rec.committed_end,
            ),
            // Torn at creation: nothing in it was ever acknowledged.
            None => (0, 0, 0),
        };
        out.push(LogReport {
            name,
            bytes: buf.len() as u64,
            batches,
            records,
            torn_bytes: buf.len() as u64 - committed,
            torn_at: committed,
        });
    }
    Ok(out)
}
