//! seg-S.pq: anchors and codebooks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = std::path::Path::new("seg-00000001.pq");
    if let Ok(f) = leann::format::pq::decode(p, data) {
        let _ = leann::format::pq::encode(&f);
    }
});
