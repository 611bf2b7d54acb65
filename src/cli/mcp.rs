//! `leann mcp`: the index as an MCP server over stdio (src/serve/mcp.rs).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct McpCmd {
    /// Index directory (from `leann index create`).
    #[arg(long)]
    index: PathBuf,
    /// Follow the tree: index file changes as they are saved.
    #[arg(long)]
    watch: bool,
    /// With --watch: quiet time after the last change before updating.
    #[arg(long, default_value_t = 300)]
    debounce_ms: u64,
    /// Where the indexed tree is now, if it moved.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Sentence-transformers model directory, so that `search` may use
    /// mode "rerank".
    #[arg(long)]
    rerank_model: Option<PathBuf>,
    /// Cross-encoder directory for rerank mode.
    #[arg(long)]
    cross_encoder: Option<PathBuf>,
}

pub fn run(c: McpCmd) -> leann::Result<i32> {
    let st = super::storage("auto")?;
    let o = leann::serve::mcp::McpOptions {
        index: c.index,
        root: c.root,
        watch: c.watch.then(|| leann::ingest::watch::WatchOptions {
            debounce: std::time::Duration::from_millis(c.debounce_ms),
            ..Default::default()
        }),
        rerank: c.rerank_model.map(|d| (d, c.cross_encoder)),
        limits: Default::default(),
    };
    let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|m: &str| {
        let _ = writeln!(std::io::stderr(), "leann mcp: {m}");
    });
    leann::serve::mcp::run(st, o, log)?;
    Ok(0)
}
