//! `leann index ...`

use leann::index::Index;
use leann::io::ReadMode;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum IndexCmd {
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
