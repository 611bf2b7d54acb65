//! `leann serve`: the index open behind an HTTP API (src/serve/, SPEC.md
//! "Service"). Logs to stderr; exits 0 after SIGTERM/SIGINT, 2 on error.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The index a long-lived server keeps open, shared by `serve` and `mcp`.
#[derive(clap::Args)]
pub(super) struct Served {
    /// Index directory (from `leann index create`).
    #[arg(long)]
    pub(super) index: PathBuf,
    /// Follow the tree: index file changes as they are saved (the server
    /// is then the index's writer, one batch at a time).
    #[arg(long)]
    pub(super) watch: bool,
    /// With --watch: quiet time after the last change before updating.
    #[arg(long, default_value_t = 300)]
    pub(super) debounce_ms: u64,
    /// With --watch: never compact (by default the server folds the log
    /// into a segment when the compaction policy asks, while searches go on
    /// from their snapshot).
    #[arg(long)]
    pub(super) no_compact: bool,
    /// Where the indexed tree is now, if it moved.
    #[arg(long)]
    pub(super) root: Option<PathBuf>,
    /// Sentence-transformers model directory, so that searches may ask for
    /// mode "rerank" (default: the index config's search.rerankModel).
    #[arg(long)]
    pub(super) rerank_model: Option<PathBuf>,
    /// Cross-encoder directory for rerank mode (default: the index
    /// config's search.crossEncoder).
    #[arg(long)]
    pub(super) cross_encoder: Option<PathBuf>,
}

impl Served {
    /// The watch's options, with --watch.
    pub(super) fn watch_options(&self) -> Option<leann::ingest::watch::WatchOptions> {
        self.watch.then(|| leann::ingest::watch::WatchOptions {
            debounce: std::time::Duration::from_millis(self.debounce_ms),
            compact: !self.no_compact,
            ..Default::default()
        })
    }

    /// The rerank models: the flags, else the index's config.
    pub(super) fn rerank(&self, st: &dyn leann::io::Storage) -> Option<(PathBuf, Option<PathBuf>)> {
        if let Some(d) = &self.rerank_model {
            return Some((d.clone(), self.cross_encoder.clone()));
        }
        let cfg = leann::engine::manifest::load(st, &self.index)
            .ok()
            .and_then(|m| leann::config::Config::from_json(&m.config_json, "MANIFEST").ok())?;
        let dir = cfg.search.rerank_model.as_ref().map(PathBuf::from)?;
        let cross = self
            .cross_encoder
            .clone()
            .or_else(|| cfg.search.cross_encoder.as_ref().map(PathBuf::from));
        Some((dir, cross))
    }
}

#[derive(clap::Args)]
pub struct ServeCmd {
    #[command(flatten)]
    served: Served,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on; anything but loopback needs --token-file.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// A file holding the bearer token every request must carry
    /// (`Authorization: Bearer TOKEN`); mode 600, at least 16 characters.
    #[arg(long)]
    token_file: Option<PathBuf>,
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
    let rerank = c.served.rerank(st.as_ref());
    let o = leann::serve::ServeOptions {
        index: c.served.index.clone(),
        root: c.served.root.clone(),
        host: c.host.clone(),
        port: c.port,
        token,
        watch: c.served.watch_options(),
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
