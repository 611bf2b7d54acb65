//! FILES: file stamps.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = std::path::Path::new("FILES");
    if let Ok(s) = leann::format::stamps::decode(p, data) {
        let _ = leann::format::stamps::encode(&s);
    }
});
