//! `leann bench`

use leann::bench::harness::{self, BenchArgs, SettingReport};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct BenchCmd {
    /// Base vectors (.fbin).
    #[arg(long)]
    base: Option<PathBuf>,
    /// Query vectors (.fbin).
    #[arg(long)]
    query: Option<PathBuf>,
    /// Exact ground truth (.ibin, best first).
    #[arg(long)]
    gt: Option<PathBuf>,
    /// Generate clustered Gaussian data instead, e.g. 1000000x384.
    #[arg(long, value_name = "NxD")]
    synthetic: Option<String>,
    /// Index directory: opened if it holds an index, else built there
    /// (default: a temporary directory).
    #[arg(long)]
    index: Option<PathBuf>,
    /// Index configuration (JSON).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Search list sizes.
    #[arg(long = "L", value_delimiter = ',', default_values_t = vec![20, 40, 80, 160])]
    l: Vec<usize>,
    /// Beam widths.
    #[arg(long = "W", value_delimiter = ',', default_values_t = vec![4])]
    w: Vec<usize>,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// O_DIRECT reads and no node cache.
    #[arg(long)]
    cold: bool,
    /// Threads for the all-core throughput pass (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Node cache budget in bytes (overrides the config).
    #[arg(long)]
    cache_bytes: Option<usize>,
    /// Write each setting's top-k ids as DIR/L<L>_W<W>.ibin.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Use only the first N queries.
    #[arg(long)]
    max_queries: Option<usize>,
    /// I/O backend: auto, io_uring, pread.
    #[arg(long, default_value = "auto")]
    io: String,
    /// Do not expand records that arrived in an already-read sector for free.
    #[arg(long)]
    no_free_expand: bool,
    /// Anchors whose entry nodes seed each query (overrides the config).
    #[arg(long)]
    entry_anchors: Option<usize>,
    /// Stop a query after N rounds that did not improve its top k (0 = off).
    #[arg(long)]
    patience: Option<usize>,
    /// One JSON object per line per setting.
    #[arg(long)]
    json: bool,
}

fn parse_nxd(s: &str) -> leann::Result<(usize, usize)> {
    let bad = || {
        leann::Error::argument(
            "--synthetic",
            format!("--synthetic wants NxD (e.g. 1000000x384), got `{s}`"),
        )
    };
    let (a, b) = s.split_once('x').ok_or_else(bad)?;
    let n = a.replace('_', "").parse().map_err(|_| bad())?;
    let d = b.parse().map_err(|_| bad())?;
    if n == 0 || d == 0 {
        return Err(bad());
    }
    Ok((n, d))
}

pub fn run(c: BenchCmd) -> leann::Result<i32> {
    let st = super::storage(&c.io)?;
    let config = super::load_config(c.config.as_deref(), st.as_ref())?;
    let threads = c
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let args = BenchArgs {
        base: c.base,
        query: c.query,
        gt: c.gt,
        synthetic: c.synthetic.as_deref().map(parse_nxd).transpose()?,
        index: c.index,
        config,
        ls: c.l,
        ws: c.w,
        k: c.k,
        cold: c.cold,
        threads,
        cache_bytes: c.cache_bytes,
        dump: c.dump,
        max_queries: c.max_queries,
        free_expand: if c.no_free_expand { Some(false) } else { None },
        entry_anchors: c.entry_anchors,
        patience: c.patience,
    };
    let json = c.json;
    let mut header_done = false;
    let mut emit = |r: &SettingReport| {
        if json {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
            return;
        }
        if !header_done {
            header_done = true;
            println!(
                "index: {} vectors, {:.1} bytes/vector ({}), stored full vectors {:.0} bytes/vector",
                r.n,
                r.index_bytes_per_vector,
                r.file_bytes_per_vector
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                r.stored_vector_bytes_per_vector
            );
            if let (Some(s), Some(v)) = (r.build_seconds, r.build_vectors_per_s) {
                println!("build: {s:.2} s, {v:.0} vectors/s");
            }
            println!(
                "peak RSS {:.0} MiB, io {}, cold {}, cached nodes {}",
                r.peak_rss_mb, r.io, r.cold, r.cached_nodes
            );
            println!(
                "{:>5} {:>3} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8}",
                "L",
                "W",
                "R@1",
                "R@10",
                "mean_ms",
                "p50_ms",
                "p99_ms",
                "qps_1t",
                "qps_all",
                "reads/q",
                "hits/q"
            );
        }
        println!(
            "{:>5} {:>3} {:>8.4} {:>8.4} {:>8.3} {:>8.3} {:>8.3} {:>9.0} {:>9.0} {:>8.1} {:>8.1}",
            r.l,
            r.w,
            r.recall_at_1,
            r.recall_at_10,
            r.mean_ms,
            r.p50_ms,
            r.p99_ms,
            r.qps,
            r.qps_all_cores,
            r.reads_per_query,
            r.cache_hits_per_query
        );
    };
    harness::run(st.as_ref(), &args, &|m| eprintln!("{m}"), &mut emit)?;
    Ok(0)
}
