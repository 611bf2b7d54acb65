//! seg-S.codes: PQ codes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = std::path::Path::new("seg-00000001.codes");
    let _ = leann::format::codes::decode(p, data);
});
