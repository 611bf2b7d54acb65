//! `leann serve`: the index open behind an HTTP API (src/serve/, SPEC.md
//! "Service"). Logs to stderr; exits 0 after SIGTERM/SIGINT, 2 on error.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeCmd {
    /// Index directory (from `leann index create`).
    #[arg(long)]
    index: PathBuf,
    /// Follow the tree: index file changes as they are saved (the service
    /// is then the index's writer, one batch at a time).
    #[arg(long)]
    watch: bool,
    /// With --watch: quiet time after the last change before updating.
    #[arg(long, default_value_t = 300)]
    debounce_ms: u64,
    /// With --watch: never compact (by default the service folds the log
    /// into a segment when the compaction policy asks, while searches go on
    /// from their snapshot).
    #[arg(long)]
    no_compact: bool,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on; anything but loopback needs --token-file.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// A file holding the bearer token every request must carry
    /// (`Authorization: Bearer TOKEN`); mode 600, at least 16 characters.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Where the indexed tree is now, if it moved.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Sentence-transformers model directory, so that requests may ask for
    /// `mode: "rerank"` (default: the index config's search.rerankModel).
    #[arg(long)]
    rerank_model: Option<PathBuf>,
    /// Cross-encoder directory for rerank mode (default: the index
    /// config's search.crossEncoder).
    #[arg(long)]
    cross_encoder: Option<PathBuf>,
    /// Searches running at once [default: the number of cores, at least 2].
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Requests waiting for a search place before new ones get 503.
    #[arg(long, default_value_t = 256)]
    max_queued: usize,
    /// Largest request body, bytes (413 beyond).
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Milliseconds a request may take before it is answered 503/504.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Milliseconds a connection may take to send a request's head before
    /// it is closed.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Connections open at once; new ones beyond are closed.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
}

pub fn run(c: ServeCmd) -> leann::Result<i32> {
    let st = super::storage("auto")?;
    let token = c
        .token_file
        .as_deref()
        .map(leann::serve::read_token_file)
        .transpose()?;
    let mut limits = leann::serve::Limits {
        max_queued: c.max_queued,
        max_body_bytes: c.max_body_bytes,
        request_timeout: std::time::Duration::from_millis(c.timeout_ms.max(1)),
        header_timeout: std::time::Duration::from_millis(c.header_timeout_ms.max(1)),
        max_connections: c.max_connections.max(1),
        ..Default::default()
    };
    if let Some(n) = c.max_concurrent {
        if n == 0 {
            return Err(leann::Error::argument(
                "--max-concurrent",
                "--max-concurrent 0: at least one search must be able to run",
            ));
        }
        limits.max_concurrent = n;
    }
    // Rerank models: the flags, else the index's config.
    let rerank = match &c.rerank_model {
        Some(d) => Some((d.clone(), c.cross_encoder.clone())),
        None => {
            let cfg = leann::engine::manifest::load(st.as_ref(), &c.index)
                .ok()
                .and_then(|m| leann::config::Config::from_json(&m.config_json, "MANIFEST").ok());
            cfg.and_then(|cfg| {
                let dir = cfg.search.rerank_model.as_ref().map(PathBuf::from)?;
                let cross = c
                    .cross_encoder
                    .clone()
                    .or_else(|| cfg.search.cross_encoder.as_ref().map(PathBuf::from));
                Some((dir, cross))
            })
        }
    };
    let o = leann::serve::ServeOptions {
        index: c.index.clone(),
        root: c.root.clone(),
        host: c.host.clone(),
        port: c.port,
        token,
        watch: c.watch.then(|| leann::ingest::watch::WatchOptions {
            debounce: std::time::Duration::from_millis(c.debounce_ms),
            compact: !c.no_compact,
            ..Default::default()
        }),
        refresh_interval: std::time::Duration::from_millis(500),
        limits,
        rerank,
    };
    let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|m: &str| {
        let _ = writeln!(std::io::stderr(), "leann serve: {m}");
    });
    let stop = Arc::new(AtomicBool::new(false));
    let l = log.clone();
    leann::serve::run(
        st,
        o,
        stop,
        &mut |addr| l(&format!("listening on http://{addr}")),
        log,
    )?;
    Ok(0)
}
