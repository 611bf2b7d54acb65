use leann::data::FbinVectors;
use leann::distance::Metric;
use leann::vamana::*;
use std::path::Path;
fn main() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let base =
        FbinVectors::open(st.as_ref(), &Path::new("/work/shared/data/dev/base.fbin")).unwrap();
    let lb: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(64);
    let t = std::time::Instant::now();
    let g = build(
        &base,
        &BuildParams {
            metric: Metric::Ip,
            max_degree: 32,
            build_list: lb,
            alpha: 1.2,
            seed: 1,
        },
    );
    println!("build {:.2}s {}", t.elapsed().as_secs_f64(), g.adj.len());
}
