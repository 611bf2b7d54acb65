//! Whole-index verification: decode every file (the decoders check every block
//! checksum) and read and check every graph sector and node record, and every
//! stored chunk text.

use crate::error::Result;
use crate::index::Index;
use crate::vamana::{GraphReader, SearchStats};

/// Returns the number of graph sectors verified.
pub fn verify(idx: &Index) -> Result<u64> {
    let mut sectors = 0;
    for seg in &idx.segments {
        let mut scratch = crate::segment::SegScratch::default();
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
        if let Some(l) = &seg.lexical {
            // Every packed tantivy file's CRC-32 (opening checked the table).
            l.dir.verify_all()?;
        }
        if let Some(store) = &seg.chunks {
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
