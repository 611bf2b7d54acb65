//! Recall after churn (issue 4 target): on ../shared/data/dev, 10 rounds of
//! deleting 10% of the live vectors and inserting 10% (the deleted vectors
//! again, under new ids), each round compacted, then recall@10 at the same
//! search settings as a fresh build. The live set is always the base set, so
//! the dev ground truth applies (new ids map back to base positions).
//!
//!     cargo bench --bench churn [-- DATA_DIR ROUNDS merge|rebuild]
//!
//! Compaction uses the streaming merge unless `rebuild` is given.

use leann::ann::distance::Metric;
use leann::config::Config;
use leann::engine::data::{FbinVectors, VectorSource};
use leann::engine::index::{Index, QueryContext};
use leann::format::wal::Record;
use leann::io::ReadMode;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

struct ById<'a> {
    base: &'a FbinVectors,
    pos: &'a HashMap<u64, usize>,
}

impl leann::engine::index::ExactSource for ById<'_> {
    fn vectors(
        &self,
        c: &leann::engine::index::Candidates<'_>,
        out: &mut Vec<f32>,
    ) -> leann::Result<()> {
        for e in c.ids {
            out.extend_from_slice(self.base.vector(self.pos[e]));
        }
        Ok(())
    }
}

fn recall(
    idx: &Index,
    base: &FbinVectors,
    qs: &FbinVectors,
    gt: &[u32],
    k_gt: usize,
    pos: &HashMap<u64, usize>,
) -> f64 {
    let exact = ById { base, pos };
    let mut p = idx.default_params(10);
    p.list = 40;
    p.rerank = 40;
    p.beam = 4;
    let mut ctx = QueryContext::default();
    let mut s = 0.0;
    for i in 0..qs.len() {
        let hits = idx.search(qs.vector(i), &p, &exact, &mut ctx).unwrap().hits;
        let found: Vec<u64> = hits.iter().map(|h| pos[&h.id] as u64).collect();
        s += leann::bench::harness::recall_at(
            10,
            qs.vector(i),
            &found,
            &gt[i * k_gt..(i + 1) * k_gt],
            base,
            Metric::Cosine,
        );
    }
    s / qs.len() as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let data = PathBuf::from(args.first().cloned().unwrap_or("../shared/data/dev".into()));
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(10);
    let method = match args.get(2).map(|s| s.as_str()) {
        None | Some("merge") => leann::engine::compact::Method::Merge,
        Some("rebuild") => leann::engine::compact::Method::Rebuild,
        Some(other) => panic!("method {other:?}: expected merge or rebuild"),
    };
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let base = FbinVectors::open(st.as_ref(), &data.join("base.fbin")).unwrap();
    let qs = FbinVectors::open(st.as_ref(), &data.join("query.fbin")).unwrap();
    let (_, k_gt, gt) = leann::engine::data::read_ibin(st.as_ref(), &data.join("gt.ibin")).unwrap();
    let n = base.len();
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::default();
    let t = Instant::now();
    Index::create(st.as_ref(), dir.path(), &base, None, &cfg).unwrap();
    let rebuild_s = t.elapsed().as_secs_f64();
    let mut idx = Index::open(st.as_ref(), dir.path(), ReadMode::Buffered, None).unwrap();
    // id -> base position
    let mut pos: HashMap<u64, usize> = (0..n).map(|i| (i as u64, i)).collect();
    let fresh = recall(&idx, &base, &qs, &gt, k_gt, &pos);
    println!("fresh build: {rebuild_s:.2} s, recall@10 {fresh:.4} (L=40, W=4)");
    idx.enable_writes(st.as_ref()).unwrap();
    let mut rng = leann::ann::rng::Rng::new(7);
    let mut next_id = n as u64;
    for round in 1..=rounds {
        let mut live: Vec<u64> = pos.keys().copied().collect();
        live.sort_unstable();
        let k = n / 10;
        let victims: Vec<u64> = rng
            .sample_indices(live.len(), k)
            .into_iter()
            .map(|i| live[i])
            .collect();
        let mut recs = Vec::with_capacity(2 * k);
        for &v in &victims {
            let p = pos.remove(&v).unwrap();
            recs.push(Record::DeleteId { id: v });
            recs.push(Record::Upsert {
                id: next_id,
                vector: base.vector(p).to_vec(),
                chunk: None,
            });
            pos.insert(next_id, p);
            next_id += 1;
        }
        idx.write(&recs).unwrap();
        let before = recall(&idx, &base, &qs, &gt, k_gt, &pos);
        let t = Instant::now();
        let positions = pos.clone();
        leann::engine::compact::compact(
            &mut idx,
            st.as_ref(),
            method,
            &|_, _, _, ids, out| {
                for id in ids {
                    out.extend_from_slice(base.vector(positions[id]));
                }
                Ok(())
            },
            None,
            &|_| {},
        )
        .unwrap();
        let cs = t.elapsed().as_secs_f64();
        let after = recall(&idx, &base, &qs, &gt, k_gt, &pos);
        println!(
            "round {round}: 10% churn; recall@10 {before:.4} before compaction (delta scanned exactly), {after:.4} after; compaction {cs:.2} s = {:.2}x the fresh build",
            cs / rebuild_s
        );
    }
}
