use leann::data::{FbinVectors, VectorSource};
use std::path::Path;
use std::time::Instant;
fn main() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let base =
        FbinVectors::open(st.as_ref(), &Path::new("/work/shared/data/dev/base.fbin")).unwrap();
    let dim = base.dim();
    let mut sample = Vec::new();
    for i in 0..20000 {
        sample.extend_from_slice(base.vector(i));
    }
    for init in [leann::kmeans::Init::PlusPlus, leann::kmeans::Init::Random] {
        let t = Instant::now();
        let c = leann::kmeans::train(&sample, dim, 155, 0, init, 1);
        let t1 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = leann::kmeans::train(&sample, dim, 155, 10, init, 1);
        println!(
            "anchors {init:?}: init {t1:.2}s, init+10 iters {:.2}s ({})",
            t.elapsed().as_secs_f64(),
            c.k
        );
    }
    let sub: Vec<f32> = sample.chunks(dim).flat_map(|r| r[0..8].to_vec()).collect();
    let t = Instant::now();
    for _ in 0..48 {
        let _ = leann::kmeans::train(&sub, 8, 256, 10, leann::kmeans::Init::Random, 1);
    }
    println!("48 pq books seq: {:.2}s", t.elapsed().as_secs_f64());
}
