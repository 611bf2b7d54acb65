//! The benchmark behind `leann bench`: build (or open) an index over a
//! DiskANN-format base set, run the queries at every (L, W) setting, and report
//! recall (tie-aware, against exact ground truth), latency, throughput, reads
//! and bytes per vector.

use crate::ann::distance::Metric;
use crate::config::Config;
use crate::engine::data::{self, FbinVectors, VectorSource};
use crate::engine::index::{FromSource, Index, QueryContext};
use crate::error::{Error, Result};
use crate::io::{peak_rss_bytes, ReadMode, Storage};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct BenchArgs {
    pub base: Option<PathBuf>,
    pub query: Option<PathBuf>,
    pub gt: Option<PathBuf>,
    /// Generate clustered Gaussian data: (n, dim).
    pub synthetic: Option<(usize, usize)>,
    pub index: Option<PathBuf>,
    pub config: Config,
    pub ls: Vec<usize>,
    pub ws: Vec<usize>,
    pub k: usize,
    pub cold: bool,
    pub threads: usize,
    pub cache_bytes: Option<usize>,
    pub dump: Option<PathBuf>,
    pub max_queries: Option<usize>,
    /// Override: expand co-resident records for free.
    pub free_expand: Option<bool>,
    /// Override: anchors whose entries seed a query.
    pub entry_anchors: Option<usize>,
    /// Override: early-termination patience in rounds (0 = off).
    pub patience: Option<usize>,
}

/// One line of the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SettingReport {
    #[serde(rename = "L")]
    pub l: usize,
    #[serde(rename = "W")]
    pub w: usize,
    pub k: usize,
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_10: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub qps: f64,
    pub qps_all_cores: f64,
    pub threads: usize,
    pub reads_per_query: f64,
    pub cache_hits_per_query: f64,
    pub nodes_visited_per_query: f64,
    pub cold: bool,
    pub io: String,
    pub cached_nodes: usize,
    pub n: usize,
    pub index_bytes_per_vector: f64,
    pub file_bytes_per_vector: std::collections::BTreeMap<String, f64>,
    pub stored_vector_bytes_per_vector: f64,
    pub build_seconds: Option<f64>,
    pub build_vectors_per_s: Option<f64>,
    pub peak_rss_mb: f64,
}

struct Data {
    base: Box<dyn VectorSource>,
    queries: Box<dyn VectorSource>,
    gt: Vec<Vec<u32>>,
    _tmp: Option<tempfile::TempDir>,
}

fn load(storage: &dyn Storage, a: &BenchArgs) -> Result<Data> {
    if let Some((n, dim)) = a.synthetic {
        return synthetic(
            storage,
            n,
            dim,
            1000,
            a.k.max(10),
            a.config.metric.unwrap_or(Metric::Cosine),
        );
    }
    let need = |p: &Option<PathBuf>, f: &str| {
        p.clone().ok_or_else(|| {
            Error::argument(
                format!("--{f}"),
                format!("--{f} is required (or use --synthetic NxD)"),
            )
        })
    };
    let base = FbinVectors::open(storage, &need(&a.base, "base")?)?;
    let queries = FbinVectors::open(storage, &need(&a.query, "query")?)?;
    if base.dim() != queries.dim() {
        return Err(Error::argument(
            "--query",
            format!(
                "base has dimension {}, queries {}",
                base.dim(),
                queries.dim()
            ),
        ));
    }
    let gt_path = need(&a.gt, "gt")?;
    let (gn, gk, ids) = data::read_ibin(storage, &gt_path)?;
    if gn < queries.len() {
        return Err(Error::input(
            &gt_path,
            format!(
                "{} has {gn} rows for {} queries",
                gt_path.display(),
                queries.len()
            ),
        ));
    }
    if gk < a.k {
        return Err(Error::input(
            &gt_path,
            format!("{} has top-{gk}, fewer than k = {}", gt_path.display(), a.k),
        ));
    }
    if let Some(bad) = ids.iter().find(|&&i| i as usize >= base.len()) {
        return Err(Error::input(
            &gt_path,
            format!(
                "{} names base id {bad}, base has {}",
                gt_path.display(),
                base.len()
            ),
        ));
    }
    let gt = ids.chunks(gk).map(|c| c.to_vec()).collect();
    Ok(Data {
        base: Box::new(base),
        queries: Box::new(queries),
        gt,
        _tmp: None,
    })
}

/// Clustered Gaussian data (crate::bench::synth::Mixture), unit-normalised, with
/// brute-force ground truth.
fn synthetic(
    storage: &dyn Storage,
    n: usize,
    dim: usize,
    nq: usize,
    k: usize,
    metric: Metric,
) -> Result<Data> {
    let tmp = crate::io::temp_dir("leann-synth")?;
    let mix = crate::bench::synth::Mixture::for_bench(n, dim);
    let write = |name: &str, rows: usize, seed: u64| -> Result<PathBuf> {
        let path = tmp.path().join(name);
        let mut w = storage.create(&path)?;
        let mut head = Vec::new();
        head.extend_from_slice(&(rows as i32).to_le_bytes());
        head.extend_from_slice(&(dim as i32).to_le_bytes());
        w.write_all(&head)?;
        const CHUNK_ROWS: usize = 65_536;
        for start in (0..rows).step_by(CHUNK_ROWS) {
            let pts = mix.points(seed, start as u64..(start + CHUNK_ROWS).min(rows) as u64);
            let mut bytes = Vec::with_capacity(pts.len() * 4);
            for x in pts {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            w.write_all(&bytes)?;
        }
        w.finish()?;
        Ok(path)
    };
    let bp = write("base.fbin", n, 1)?;
    let qp = write("query.fbin", nq, 2)?;
    let base = FbinVectors::open(storage, &bp)?;
    let queries = FbinVectors::open(storage, &qp)?;
    let gt = brute_force(&base, &queries, k, metric);
    Ok(Data {
        base: Box::new(base),
        queries: Box::new(queries),
        gt,
        _tmp: Some(tmp),
    })
}

/// Exact top-k by brute force (parallel over queries).
pub fn brute_force(
    base: &dyn VectorSource,
    queries: &dyn VectorSource,
    k: usize,
    metric: Metric,
) -> Vec<Vec<u32>> {
    (0..queries.len())
        .into_par_iter()
        .map(|qi| {
            let q = queries.vector(qi);
            let mut heap: std::collections::BinaryHeap<(OrdF32, u32)> =
                std::collections::BinaryHeap::new();
            for i in 0..base.len() {
                let d = metric.distance(q, base.vector(i));
                if heap.len() < k {
                    heap.push((OrdF32(d), i as u32));
                } else if d < heap.peek().map_or(f32::INFINITY, |t| t.0 .0) {
                    heap.pop();
                    heap.push((OrdF32(d), i as u32));
                }
            }
            let mut v = heap.into_vec();
            v.sort_by(|a, b| a.0 .0.total_cmp(&b.0 .0).then(a.1.cmp(&b.1)));
            v.into_iter().map(|x| x.1).collect()
        })
        .collect()
}

#[derive(Clone, Copy)]
struct OrdF32(f32);
impl PartialEq for OrdF32 {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// Tie-aware recall@k of one result list: a returned id is a hit when its
/// exact distance is at most the distance of the k-th ground-truth id.
pub fn recall_at(
    k: usize,
    q: &[f32],
    found: &[u64],
    gt: &[u32],
    base: &dyn VectorSource,
    metric: Metric,
) -> f64 {
    let k = k.min(gt.len());
    if k == 0 {
        return 1.0;
    }
    let kth = metric.distance(q, base.vector(gt[k - 1] as usize));
    let tol = 1e-5 * kth.abs().max(1.0);
    let mut seen = std::collections::HashSet::new();
    let hits = found
        .iter()
        .take(k)
        .filter(|&&id| seen.insert(id))
        .filter(|&&id| {
            (id as usize) < base.len() && metric.distance(q, base.vector(id as usize)) <= kth + tol
        })
        .count();
    hits as f64 / k as f64
}

/// The `p` quantile (0..1) of ascending `sorted`, nearest rank; 0 when
/// empty. Shared by the benchmarks and `serve`'s latency figures.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Run the benchmark; `emit` gets each setting's report as it completes.
pub fn run(
    storage: &dyn Storage,
    a: &BenchArgs,
    log: &(dyn Fn(&str) + Sync),
    emit: &mut dyn FnMut(&SettingReport),
) -> Result<()> {
    let d = load(storage, a)?;
    let nq = a.max_queries.unwrap_or(usize::MAX).min(d.queries.len());
    log(&format!(
        "data: {} base vectors, {} queries, dim {}",
        d.base.len(),
        nq,
        d.base.dim()
    ));
    let tmp_index;
    let dir: &Path = match &a.index {
        Some(p) => p,
        None => {
            tmp_index = crate::io::temp_dir("leann-bench-index")?;
            tmp_index.path()
        }
    };
    let mut build_seconds = None;
    if storage.exists(&dir.join(crate::engine::manifest::FILE_NAME)) {
        log(&format!("opening existing index {}", dir.display()));
    } else {
        log(&format!("building index in {}", dir.display()));
        let t_build = std::time::Instant::now();
        let rep = Index::create_with_progress(
            storage,
            dir,
            d.base.as_ref(),
            None,
            &a.config,
            &|p: &crate::engine::index::Progress| {
                if p.phase != "write" || p.done == p.total {
                    log(&format!(
                        "{}: {}/{} at {:.1} s",
                        p.phase,
                        p.done,
                        p.total,
                        t_build.elapsed().as_secs_f64()
                    ))
                }
            },
        )?;
        log(&format!(
            "built {} vectors in {:.2} s ({:.0} vectors/s; quantizer {:.2} s, graph {:.2} s{}, write {:.2} s)",
            rep.n,
            rep.seconds,
            rep.n as f64 / rep.seconds,
            rep.quantizer_seconds,
            rep.graph_seconds,
            match rep.graph_partitions {
                0 => String::new(),
                p => format!(" out of core in {p} partitions"),
            },
            rep.write_seconds
        ));
        build_seconds = Some(rep.seconds);
    }
    let mode = if a.cold {
        ReadMode::Direct
    } else {
        ReadMode::Buffered
    };
    let cache = if a.cold { Some(0) } else { a.cache_bytes };
    let idx = Index::open(storage, dir, mode, cache)?;
    if idx.len() != d.base.len() {
        return Err(Error::argument(
            "--index",
            format!(
                "index holds {} vectors, base has {}",
                idx.len(),
                d.base.len()
            ),
        ));
    }
    let n = idx.len();
    let mut per_file = std::collections::BTreeMap::new();
    let stored = idx.graph_vector_bytes();
    let mut total = 0u64;
    for (name, b) in idx.file_bytes() {
        let b_eff = if name == "graph" { b - stored } else { b };
        per_file.insert(name, b_eff as f64 / n as f64);
        total += b_eff;
    }
    let manifest_bytes = storage.file_len(&dir.join(crate::engine::manifest::FILE_NAME))?;
    per_file.insert("manifest".into(), manifest_bytes as f64 / n as f64);
    total += manifest_bytes;
    let cached_nodes: usize = idx.segments.iter().map(|s| s.cached_nodes()).sum();
    let exact = FromSource(d.base.as_ref());
    let metric = idx.metric;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.max(1))
        .build()
        .map_err(|e| Error::internal(format!("thread pool: {e}")))?;
    for &l in &a.ls {
        for &w in &a.ws {
            let mut p = idx.default_params(a.k);
            p.list = l.max(a.k);
            p.beam = w;
            p.rerank = p.list;
            if let Some(f) = a.free_expand {
                p.free_expand = f;
            }
            if let Some(e) = a.entry_anchors {
                p.entry_anchors = e;
            }
            if let Some(x) = a.patience {
                p.patience = x;
            }
            // Single-threaded pass: latency and recall.
            let mut ctx = QueryContext::default();
            let mut lat = Vec::with_capacity(nq);
            let mut results = Vec::with_capacity(nq);
            let (mut reads, mut hits, mut visited) = (0u64, 0u64, 0u64);
            let t0 = Instant::now();
            for qi in 0..nq {
                let t = Instant::now();
                let out = idx.search(d.queries.vector(qi), &p, &exact, &mut ctx)?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                reads += out.stats.sector_reads;
                hits += out.stats.cache_hits;
                visited += out.stats.nodes_visited;
                results.push(out.hits.iter().map(|h| h.id).collect::<Vec<u64>>());
            }
            let single = t0.elapsed().as_secs_f64();
            // All-core pass: throughput.
            let t1 = Instant::now();
            pool.install(|| {
                (0..nq)
                    .into_par_iter()
                    .try_for_each_init(QueryContext::default, |ctx, qi| {
                        idx.search(d.queries.vector(qi), &p, &exact, ctx)
                            .map(|_| ())
                    })
            })?;
            let multi = t1.elapsed().as_secs_f64();
            let (mut r1, mut r10) = (0.0, 0.0);
            for (qi, (found, gt)) in results.iter().zip(&d.gt).enumerate() {
                let q = d.queries.vector(qi);
                r1 += recall_at(1, q, found, gt, d.base.as_ref(), metric);
                r10 += recall_at(10.min(a.k), q, found, gt, d.base.as_ref(), metric);
            }
            if let Some(dir) = &a.dump {
                storage.create_dir_all(dir)?;
                let rows: Vec<Vec<u32>> = results
                    .iter()
                    .map(|r| r.iter().map(|&x| x as u32).collect())
                    .collect();
                data::write_ibin(storage, &dir.join(format!("L{l}_W{w}.ibin")), a.k, &rows)?;
            }
            lat.sort_by(|a, b| a.total_cmp(b));
            let nqf = nq.max(1) as f64;
            emit(&SettingReport {
                l,
                w,
                k: a.k,
                queries: nq,
                recall_at_1: r1 / nqf,
                recall_at_10: r10 / nqf,
                mean_ms: lat.iter().sum::<f64>() / nqf,
                p50_ms: percentile(&lat, 0.5),
                p99_ms: percentile(&lat, 0.99),
                qps: nq as f64 / single,
                qps_all_cores: nq as f64 / multi,
                threads: a.threads,
                reads_per_query: reads as f64 / nqf,
                cache_hits_per_query: hits as f64 / nqf,
                nodes_visited_per_query: visited as f64 / nqf,
                cold: a.cold,
                io: storage.name().to_string(),
                cached_nodes,
                n,
                index_bytes_per_vector: total as f64 / n as f64,
                file_bytes_per_vector: per_file.clone(),
                stored_vector_bytes_per_vector: stored as f64 / n as f64,
                build_seconds,
                build_vectors_per_s: build_seconds.map(|s| n as f64 / s),
                peak_rss_mb: peak_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64,
            });
        }
    }
    Ok(())
}
