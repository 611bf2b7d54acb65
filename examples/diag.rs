use leann::data::{FbinVectors, VectorSource};
use leann::distance::Metric;
use leann::vamana::*;
use std::path::Path;
fn main() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let d = Path::new("/work/shared/data/dev");
    let base = FbinVectors::open(st.as_ref(), &d.join("base.fbin")).unwrap();
    let q = FbinVectors::open(st.as_ref(), &d.join("query.fbin")).unwrap();
    let (_, gk, gt) = leann::data::read_ibin(st.as_ref(), &d.join("gt.ibin")).unwrap();
    let r: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let lb: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(64);
    let alpha: f32 = std::env::args()
        .nth(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1.2);
    if std::env::var("SYN").is_ok() {
        let mut rng = leann::rng::Rng::new(3);
        let dim = 64;
        let n = 24000;
        let cents: Vec<f32> = (0..100 * dim).map(|_| rng.normal()).collect();
        let mut data = Vec::new();
        for i in 0..n {
            let c = i % 100;
            let s = data.len();
            for j in 0..dim {
                data.push(cents[c * dim + j] + 0.3 * rng.normal());
            }
            leann::distance::normalize(&mut data[s..]);
        }
        let v = leann::data::VecVectors { data, dim };
        let g = build(
            &v,
            &BuildParams {
                metric: Metric::Ip,
                max_degree: r,
                build_list: lb,
                alpha,
                seed: 1,
            },
        );
        let mut seen = vec![false; n];
        let mut fr = vec![g.medoid];
        seen[g.medoid as usize] = true;
        let mut cnt = 1;
        while let Some(x) = fr.pop() {
            for &y in &g.adj[x as usize] {
                if !seen[y as usize] {
                    seen[y as usize] = true;
                    cnt += 1;
                    fr.push(y);
                }
            }
        }
        println!("synthetic reachable {cnt}/{n}");
        return;
    }
    let t = std::time::Instant::now();
    let g = build(
        &base,
        &BuildParams {
            metric: Metric::Ip,
            max_degree: r,
            build_list: lb,
            alpha,
            seed: 1,
        },
    );
    let degs: usize = g.adj.iter().map(|a| a.len()).sum();
    println!(
        "build {:.2}s mean degree {:.1}",
        t.elapsed().as_secs_f64(),
        degs as f64 / base.len() as f64
    );
    let mut seen = vec![false; base.len()];
    let mut fr = vec![g.medoid];
    seen[g.medoid as usize] = true;
    let mut cnt = 1;
    while let Some(x) = fr.pop() {
        for &y in &g.adj[x as usize] {
            if !seen[y as usize] {
                seen[y as usize] = true;
                cnt += 1;
                fr.push(y);
            }
        }
    }
    let mut indeg = vec![0u32; base.len()];
    for a in &g.adj {
        for &y in a {
            indeg[y as usize] += 1;
        }
    }
    let zero_in = indeg.iter().filter(|&&x| x == 0).count();
    let small_out = g.adj.iter().filter(|a| a.len() < 4).count();
    println!(
        "reachable from medoid {cnt}/{}, zero in-degree {zero_in}, out-degree<4 {small_out}",
        base.len()
    );
    let mg = MemGraph(&g.adj);
    let mut vis = Visited::new(base.len());
    for l in [20, 40, 80, 160] {
        let mut rec = 0.0;
        for qi in 0..q.len() {
            let qv = q.vector(qi);
            let approx = |i: u32| Metric::Ip.distance(qv, base.vector(i as usize));
            let p = SearchParams {
                list: l,
                beam: 4,
                patience: 0,
                k: 10,
                free_expand: false,
            };
            let mut st = SearchStats::default();
            let pool =
                beam_search(&mg, &[g.medoid], &approx, &p, &mut vis, &mut (), &mut st).unwrap();
            let ids: Vec<u64> = pool.iter().take(10).map(|c| c.node as u64).collect();
            rec += leann::bench::recall_at(
                10,
                qv,
                &ids,
                &gt[qi * gk..qi * gk + gk],
                &base,
                Metric::Ip,
            );
        }
        println!("exact-steer L={l} recall@10 {:.4}", rec / q.len() as f64);
    }
    for m in [24, 48, 96] {
        let t = std::time::Instant::now();
        let quant = leann::pq::Quantizer::train(
            &base,
            &leann::pq::PqParams {
                metric: Metric::Ip,
                anchor_kind: leann::pq::AnchorKind::KMeans,
                n_anchors: 155,
                anchor_samples: 20000,
                m,
                ksub: 256,
                training_samples: 20000,
                kmeans_iters: 10,
                seed: 5,
            },
        )
        .unwrap();
        let (codes, _) = quant.encode_all(&base);
        let tt = t.elapsed().as_secs_f64();
        for l in [20, 40, 80] {
            let mut rec = 0.0;
            for qi in 0..q.len() {
                let qv = q.vector(qi);
                let tab = quant.tables(qv);
                let approx = |i: u32| {
                    let i = i as usize;
                    quant.adc(
                        &tab,
                        codes.anchors[i],
                        &codes.codes[i * m..(i + 1) * m],
                        0.0,
                    )
                };
                let p = SearchParams {
                    list: l,
                    beam: 4,
                    patience: 0,
                    k: 10,
                    free_expand: false,
                };
                let mut st = SearchStats::default();
                let pool =
                    beam_search(&mg, &[g.medoid], &approx, &p, &mut vis, &mut (), &mut st).unwrap();
                let mut ex: Vec<(f32, u64)> = pool
                    .iter()
                    .map(|c| {
                        (
                            Metric::Ip.distance(qv, base.vector(c.node as usize)),
                            c.node as u64,
                        )
                    })
                    .collect();
                ex.sort_by(|a, b| a.0.total_cmp(&b.0));
                let ids: Vec<u64> = ex.iter().take(10).map(|x| x.1).collect();
                rec += leann::bench::recall_at(
                    10,
                    qv,
                    &ids,
                    &gt[qi * gk..qi * gk + gk],
                    &base,
                    Metric::Ip,
                );
            }
            println!(
                "pq m={m} (train+encode {tt:.2}s) L={l} recall@10 {:.4}",
                rec / q.len() as f64
            );
        }
    }
}
