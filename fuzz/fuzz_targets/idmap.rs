//! seg-S.ids: the id map.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = std::path::Path::new("seg-00000001.ids");
    if let Ok(ids) = leann::format::idmap::decode(p, data) {
        let _ = leann::format::idmap::encode(&ids);
    }
});
