//! seg-S.lex: the container head, the packed tantivy files, and a search.
//!
//! tantivy trusts its own files' bytes and may panic on crafted ones; leann
//! contains those panics (`lexical::segment`, an error naming the file).
//! libfuzzer-sys aborts on every panic from its own hook, so this target's
//! hook lets a panic raised inside a dependency unwind to leann's
//! containment; a panic in leann's code, or one leann fails to contain
//! (libfuzzer-sys catches it at the target's edge), is still a finding.
#![no_main]
use leann::io::Storage;
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

static HOOK: Once = Once::new();

/// Allocation budgets (leann::memory, F-7): a crafted count that makes
/// tantivy allocate without end ends the run with exit code 2 and a message
/// naming the file, not an out-of-memory finding. Run this target with
/// `-fork=1 -ignore_crashes=1` so that such an exit starts the next child.
#[global_allocator]
static ALLOC: leann::memory::BudgetedAlloc = leann::memory::BudgetedAlloc;

fn in_dependency(info: &std::panic::PanicHookInfo<'_>) -> bool {
    info.location()
        .is_some_and(|l| l.file().contains("/.cargo/registry/") || l.file().starts_with("/rustc/"))
}

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !in_dependency(info) {
                fuzzer_hook(info);
            }
        }));
    });
    let st = leann::io::memory::MemStorage::default();
    let p = std::path::Path::new("/i/seg-00000001.lex");
    st.put(p, data.to_vec());
    let Ok(seg) = leann::lexical::segment::LexSegment::open(&st, p, 1 << 20) else {
        return;
    };
    let _ = seg.verify_all();
    let stats = leann::lexical::segment::Combined(vec![seg.searcher()]);
    let toks: Vec<String> = ["cache", "evict", "lru", "fn"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let q = leann::lexical::segment::query_for(&toks);
    let _ = seg.search(&*q, &stats, 10, None);
    let _ = st.exists(p);
});
