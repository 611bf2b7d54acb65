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
    let idx = leann::index::Index::open(
        st.as_ref(),
        Path::new("/tmp/idx1"),
        leann::io::ReadMode::Buffered,
        Some(0),
    )
    .unwrap();
    let seg = &idx.segments[0];
    let n = seg.len();
    let mut adj = vec![Vec::new(); n];
    let mut sc = leann::segment::SegScratch::default();
    let mut ss = SearchStats::default();
    let all: Vec<u32> = (0..n as u32).collect();
    seg.fetch(&all, &mut sc, &mut ss, &mut |node, nb| {
        adj[node as usize] = nb.to_vec()
    })
    .unwrap();
    let mg = MemGraph(&adj);
    let mut vis = Visited::new(n);
    let mut pqerr = 0.0f64;
    for mode in 0..2 {
        for l in [40, 80] {
            let mut rec = 0.0;
            for qi in 0..q.len() {
                let qv = q.vector(qi);
                let tab = seg.quant.tables(qv);
                let exact =
                    |i: u32| Metric::Ip.distance(qv, base.vector(seg.ids[i as usize] as usize));
                let pqd = |i: u32| seg.approx(&tab, i);
                if mode == 1 && l == 40 && qi < 50 {
                    for i in 0..100u32 {
                        pqerr += (exact(i) - pqd(i)).abs() as f64;
                    }
                }
                let p = SearchParams {
                    list: l,
                    beam: 4,
                    patience: 0,
                    k: 10,
                    free_expand: false,
                };
                let pool = if mode == 0 {
                    beam_search(
                        &mg,
                        &[seg.meta.medoid],
                        &exact,
                        &p,
                        &mut vis,
                        &mut (),
                        &mut ss,
                    )
                    .unwrap()
                } else {
                    beam_search(
                        &mg,
                        &[seg.meta.medoid],
                        &pqd,
                        &p,
                        &mut vis,
                        &mut (),
                        &mut ss,
                    )
                    .unwrap()
                };
                let mut ex: Vec<(f32, u64)> = pool
                    .iter()
                    .map(|c| (exact(c.node), seg.ids[c.node as usize]))
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
            println!("mode {mode} L={l} recall@10 {:.4}", rec / q.len() as f64);
        }
    }
    println!("mean |pq - exact| {:.4}", pqerr / 5000.0);
}
