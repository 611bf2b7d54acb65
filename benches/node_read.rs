//! Reading and decoding one node (a batch of W nodes) from a graph segment,
//! through each storage backend, page cache warm.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use leann::ann::vamana::{GraphReader, SearchStats};
use leann::ann::vectors::VecVectors;
use leann::config::Config;
use leann::engine::index::Index;
use leann::engine::segment::SegScratch;
use leann::io::{open_storage, Backend, ReadMode};

fn bench(c: &mut Criterion) {
    let dim = 64;
    let m = leann::bench::synth::Mixture::new(dim, 32, 8, 0.6, 0.05, 1);
    let src = VecVectors {
        data: m.points(1, 0..20_000),
        dim,
    };
    let dir = tempfile::tempdir().unwrap();
    let st = open_storage(Backend::Pread).unwrap();
    Index::create(st.as_ref(), dir.path(), &src, None, &Config::default()).unwrap();
    let mut backends = vec![Backend::Pread, Backend::Memory];
    if leann::io::io_uring_available() {
        backends.push(Backend::IoUring);
    }
    for b in backends {
        let st = open_storage(b).unwrap();
        if b == Backend::Memory {
            // Copy the index into memory.
            let os = open_storage(Backend::Pread).unwrap();
            for name in os.list_dir(dir.path()).unwrap() {
                let p = dir.path().join(&name);
                st.write_atomic(&p, &os.read_all(&p).unwrap()).unwrap();
            }
        }
        let idx = Index::open(st.as_ref(), dir.path(), ReadMode::Buffered, Some(0)).unwrap();
        let seg = &idx.segments[0];
        let mut scratch = SegScratch::default();
        let mut stats = SearchStats::default();
        let mut i = 0u32;
        for w in [1u32, 4] {
            c.bench_function(&format!("node_read_{}_W{w}", st.name()), |bch| {
                bch.iter(|| {
                    scratch.reset();
                    // Nodes far apart so each lies in its own sector.
                    let batch: Vec<u32> = (0..w).map(|j| (i + j * 4999) % 20_000).collect();
                    i = (i + 7919) % 20_000;
                    let mut deg = 0usize;
                    seg.fetch(&batch, &mut scratch, &mut stats, &mut |_, nb| {
                        deg += nb.len()
                    })
                    .unwrap();
                    black_box(deg)
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
