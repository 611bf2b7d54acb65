//! The embedding server's answer to one request frame (any bytes a peer
//! sends), with the built-in model.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static MODEL: OnceLock<leann::embed::static_model::StaticModel> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let m = MODEL.get_or_init(|| leann::embed::static_model::StaticModel::builtin().unwrap());
    let frames = leann::embed::remote::answer(m, data);
    assert!(!frames.is_empty());
});
