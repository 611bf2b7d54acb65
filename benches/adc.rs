//! ADC (asymmetric distance from PQ codes) and query-table construction.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use leann::ann::distance::Metric;
use leann::ann::pq::{AnchorKind, PqParams, Quantizer};
use leann::ann::vectors::VecVectors;

fn bench(c: &mut Criterion) {
    let dim = 384;
    let m = leann::bench::synth::Mixture::new(dim, 64, 16, 0.6, 0.05, 1);
    let src = VecVectors {
        data: m.points(1, 0..5000),
        dim,
    };
    let q = Quantizer::train(
        &src,
        &PqParams {
            metric: Metric::Cosine,
            anchor_kind: AnchorKind::KMeans,
            n_anchors: 70,
            anchor_samples: 5000,
            m: 48,
            ksub: 256,
            training_samples: 5000,
            kmeans_iters: 5,
            seed: 1,
        },
    )
    .unwrap();
    let (codes, _) = q.encode_all(&src);
    let query = m.points(2, 0..1);
    c.bench_function("query_tables_384d_m48", |b| {
        b.iter(|| q.tables(black_box(&query)))
    });
    let t = q.tables(&query);
    c.bench_function("adc_1000_nodes_m48", |b| {
        b.iter(|| {
            let mut s = 0f32;
            for i in 0..1000 {
                s += q.adc(
                    &t,
                    codes.anchors[i],
                    &codes.codes[i * 48..(i + 1) * 48],
                    0.0,
                );
            }
            black_box(s)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
