//! seg-S.lex: the container head, the packed tantivy files, and a search.
#![no_main]
use leann::io::Storage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let st = leann::io::memory::MemStorage::default();
    let p = std::path::Path::new("/i/seg-00000001.lex");
    st.put(p, data.to_vec());
    let Ok(seg) = leann::lexical::segment::LexSegment::open(&st, p, 1 << 20) else {
        return;
    };
    let _ = seg.dir.verify_all();
    let stats = leann::lexical::segment::Combined(vec![seg.searcher()]);
    let toks: Vec<String> = ["cache", "evict", "lru", "fn"].iter().map(|s| s.to_string()).collect();
    let q = leann::lexical::segment::query_for(&toks);
    let _ = leann::lexical::segment::search(seg.searcher(), &*q, &stats, 10, None);
    let _ = st.exists(p);
});
