//! seg-S.chunks: the head, then every record as a query reads it (info,
//! stored text decompressed and checked).
#![no_main]
use leann::io::Storage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let st = leann::io::memory::MemStorage::default();
    let p = std::path::Path::new("/i/seg-00000001.chunks");
    st.put(p, data.to_vec());
    let Ok(store) = leann::engine::chunkstore::ChunkStore::open(&st, p) else {
        return;
    };
    for i in 0..store.len().min(4096) as u32 {
        let _ = store.info(i);
        if store.has_text() {
            let _ = store.text(i);
        }
    }
    let _ = st.exists(p);
});
