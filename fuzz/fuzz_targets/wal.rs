//! wal-SEQ.log: recovery reads every frame.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = std::path::Path::new("wal-00000001.log");
    let _ = leann::engine::wal::read_log(p, data);
});
