//! `leann index ...`

use leann::index::Index;
use leann::io::ReadMode;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum IndexCmd {
    /// Index a source tree. Until the embedder lands (issue 3), only
    /// --dry-run is available: it lists what would be indexed.
    Create {
        /// Source tree to index.
        #[arg(long)]
        input: PathBuf,
        /// Index directory to create.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Configuration (JSON).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the files and chunks per language that would be indexed.
        #[arg(long)]
        dry_run: bool,
        /// List every file (and every skipped file with its reason).
        #[arg(long)]
        verbose: bool,
    },
    /// Verify every checksum of an index and print what it holds.
    Validate {
        index: PathBuf,
        #[arg(long, default_value = "auto")]
        io: String,
    },
    /// Print sizes and settings of an index.
    Stats {
        index: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "auto")]
        io: String,
    },
}

pub fn run(c: IndexCmd) -> leann::Result<i32> {
    match c {
        IndexCmd::Create {
            input,
            output,
            config,
            dry_run,
            verbose,
        } => {
            let st = super::storage("auto")?;
            let cfg = super::load_config(config.as_deref(), st.as_ref())?;
            if !dry_run {
                let out = output.map(|p| p.display().to_string()).unwrap_or_default();
                return Err(leann::Error::invalid(format!(
                    "index create {out}: this build has no embedder yet (issue 3 in progress); run with --dry-run to see what would be indexed"
                )));
            }
            dry_run_report(st.as_ref(), &input, &cfg, verbose)
        }
        IndexCmd::Validate { index, io } => {
            let st = super::storage(&io)?;
            let idx = Index::open(st.as_ref(), &index, ReadMode::Buffered, Some(0))?;
            let checked = leann::verify::verify(&idx)?;
            println!(
                "ok: {} segments, {} vectors, {} sectors verified",
                idx.segments.len(),
                idx.len(),
                checked
            );
            Ok(0)
        }
        IndexCmd::Stats { index, json, io } => {
            let st = super::storage(&io)?;
            let idx = Index::open(st.as_ref(), &index, ReadMode::Buffered, Some(0))?;
            let n = idx.len().max(1) as f64;
            let files = idx.file_bytes();
            let total: u64 = files.iter().map(|f| f.1).sum();
            if json {
                let v = serde_json::json!({
                    "vectors": idx.len(),
                    "dim": idx.dim,
                    "metric": idx.metric,
                    "segments": idx.segments.len(),
                    "bytes": total,
                    "bytesPerVector": total as f64 / n,
                    "files": files.iter().map(|(k, b)| (k.clone(), *b)).collect::<std::collections::BTreeMap<_, _>>(),
                    "config": idx.config,
                });
                println!("{v}");
            } else {
                println!(
                    "{} vectors, dim {}, metric {:?}, {} segment(s)",
                    idx.len(),
                    idx.dim,
                    idx.metric,
                    idx.segments.len()
                );
                for (k, b) in &files {
                    println!(
                        "  {k:<12} {b:>12} bytes  {:>8.1} bytes/vector",
                        *b as f64 / n
                    );
                }
                println!(
                    "  {:<12} {total:>12} bytes  {:>8.1} bytes/vector",
                    "total",
                    total as f64 / n
                );
            }
            Ok(0)
        }
    }
}

/// `index create --dry-run`: walk, read and chunk, report per language.
fn dry_run_report(
    st: &dyn leann::io::Storage,
    input: &std::path::Path,
    cfg: &leann::config::Config,
    verbose: bool,
) -> leann::Result<i32> {
    use leann::chunk::{chunk_text, read_source, walk};
    use std::collections::BTreeMap;
    let t0 = std::time::Instant::now();
    let opts = cfg.filters.clone().unwrap_or_default().walk_options()?;
    let (files, mut skips) = walk(input, &opts)?;
    let mut per: BTreeMap<&'static str, (usize, usize, u64)> = BTreeMap::new();
    let mut total_chunks = 0usize;
    use rayon::prelude::*;
    let results: Vec<Result<usize, leann::chunk::SkipReason>> = files
        .par_iter()
        .map(|f| read_source(st, &f.abs).map(|text| chunk_text(&f.rel, f.language, &text).len()))
        .collect();
    for (f, r) in files.iter().zip(results) {
        match r {
            Ok(n) => {
                let e = per.entry(f.language.name()).or_default();
                e.0 += 1;
                e.1 += n;
                e.2 += f.bytes;
                total_chunks += n;
                if verbose {
                    println!("{}\t{}\t{} chunks", f.rel, f.language.name(), n);
                }
            }
            Err(reason) => skips.add(reason, f.rel.clone().into()),
        }
    }
    println!(
        "{:<12} {:>8} {:>8} {:>12}",
        "language", "files", "chunks", "bytes"
    );
    for (lang, (nf, nc, nb)) in &per {
        println!("{lang:<12} {nf:>8} {nc:>8} {nb:>12}");
    }
    let indexed: usize = per.values().map(|v| v.0).sum();
    println!(
        "{indexed} files, {total_chunks} chunks in {:.2} s; skipped {} ({})",
        t0.elapsed().as_secs_f64(),
        skips.total(),
        if skips.total() == 0 {
            "none".to_string()
        } else {
            skips.summary()
        }
    );
    if verbose {
        for (reason, paths) in &skips.by_reason {
            for p in paths {
                println!("skipped ({}): {}", reason.label(), p.display());
            }
        }
    }
    Ok(0)
}
