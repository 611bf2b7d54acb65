//! MANIFEST: decode, then the JSON it carries as `Index::open` reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("MANIFEST");
    if let Ok(m) = leann::format::manifest::decode(p, data) {
        let _ = leann::engine::manifest::IndexInfo::from_json(p, &m.info_json);
        let _ = serde_json::from_str::<leann::config::Config>(&m.config_json);
        let _ = leann::format::manifest::encode(&m);
    }
});
