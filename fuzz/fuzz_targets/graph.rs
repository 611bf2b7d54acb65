//! seg-S.graph: the header sector, then every node sector and record.
#![no_main]
use leann::format::graph::{decode_header_sector, read_node, verify_sector, SECTOR_BYTES};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("seg-00000001.graph");
    let Ok(m) = decode_header_sector(p, data, data.len() as u64) else {
        return;
    };
    let mut out = Vec::new();
    for node in 0..m.n_nodes.min(1 << 16) as u32 {
        let (sector, _) = m.locate(node);
        let at = sector as usize * SECTOR_BYTES;
        let Some(s) = data.get(at..at + SECTOR_BYTES) else {
            return;
        };
        if verify_sector(p, sector, s).is_err() {
            continue;
        }
        out.clear();
        let _ = read_node(&m, p, s, node, &mut out);
    }
});
