//! A probe for the memory tier of issue 17 §2 (not the tier itself): an
//! in-memory beam search over a Vamana graph with SQ8 distances from the
//! start node, then an exact rerank of the list with the f32 vectors, on a
//! DiskANN-format set; recall@10 tie-aware, p50/p99 per query on one
//! thread, bytes per vector of SQ8 rows + graph.
//!
//!     cargo bench --bench memtier -- [DATA_DIR (../shared/data/dev)] [R (32)]
//!
//! Optimistic against the tier to build: its SQ8 rows are made from the
//! exact vectors (the tier will have PQ reconstructions), the rerank reads
//! f32 vectors held in RAM (the tier recomputes or reads them), and there
//! are no upper layers (the entry is the medoid).
use leann::ann::distance::Metric;
use leann::ann::sq8::Sq8Vectors;
use leann::ann::vamana::{
    beam_search, build, BuildParams, MemGraph, SearchParams, SearchStats, Visited,
};
use leann::ann::vectors::VecVectors;
use leann::bench::harness::percentile;
use leann::engine::data::{read_ibin, FbinVectors, VectorSource};
use std::time::Instant;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let dir = args
        .first()
        .map_or("../shared/data/dev".to_string(), |d| d.to_string());
    let st = leann::io::open_storage(leann::io::Backend::Pread).expect("storage");
    let dir = std::path::Path::new(&dir);
    let read = |name: &str| -> (usize, usize, Vec<f32>) {
        let f = FbinVectors::open(st.as_ref(), &dir.join(name)).expect(name);
        let v = (0..f.len()).flat_map(|i| f.vector(i).to_vec()).collect();
        (f.len(), f.dim(), v)
    };
    let (n, d, base) = read("base.fbin");
    let (nq, _, qs) = read("query.fbin");
    let (_, gk, gt) = read_ibin(st.as_ref(), &dir.join("gt.ibin")).expect("gt.ibin");
    let r: usize = args.get(1).map_or(32, |s| s.parse().expect("R: a number"));
    let t = Instant::now();
    let src = VecVectors {
        data: base.clone(),
        dim: d,
    };
    let g = build(
        &src,
        &BuildParams {
            metric: Metric::Ip,
            max_degree: r,
            build_list: 64,
            alpha: 1.2,
            seed: 1,
        },
    );
    eprintln!("build {:.2} s, R={r}", t.elapsed().as_secs_f64());
    let mut all = base.clone();
    all.extend_from_slice(&qs);
    let sq = Sq8Vectors::new(&VecVectors { data: all, dim: d }, Metric::Ip);
    let edges: usize = g.adj.iter().map(|a| a.len()).sum();
    eprintln!(
        "bytes/vector: sq8 {} + graph {:.1} (avg degree {:.1})",
        d,
        edges as f64 * 4.0 / n as f64,
        edges as f64 / n as f64
    );
    let mg = MemGraph(&g.adj);
    let mut vis = Visited::new(n);
    for &(l, w, rr) in &[
        (16, 1, 16),
        (24, 1, 24),
        (32, 1, 32),
        (40, 1, 40),
        (24, 2, 24),
        (32, 2, 32),
        (48, 2, 48),
    ] {
        let p = SearchParams {
            list: l,
            beam: w,
            patience: 0,
            k: 10,
            free_expand: false,
        };
        let mut lat = Vec::with_capacity(nq);
        let mut hits = 0usize;
        for qi in 0..nq {
            let q = &qs[qi * d..(qi + 1) * d];
            let qrow = (n + qi) as u32;
            let t = Instant::now();
            let approx = |x: u32| sq.distance(qrow, x);
            let mut st = SearchStats::default();
            let c = beam_search(&mg, &[g.medoid], &approx, &p, &mut vis, &mut (), &mut st).unwrap();
            let mut exact: Vec<(f32, u32)> = c
                .iter()
                .take(rr)
                .map(|c| {
                    (
                        -dot(q, &base[c.node as usize * d..(c.node as usize + 1) * d]),
                        c.node,
                    )
                })
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0));
            exact.truncate(10);
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            let g10 = gt[qi * gk + 9] as usize;
            let s10 = dot(q, &base[g10 * d..(g10 + 1) * d]);
            hits += exact.iter().filter(|e| -e.0 >= s10 - 1e-6).count();
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "L={l} W={w} rerank={rr}: recall@10 {:.4} p50 {:.4} ms p99 {:.4} ms",
            hits as f64 / (nq * 10) as f64,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
    }
}
