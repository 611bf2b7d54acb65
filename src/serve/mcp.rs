//! `leann mcp`: the index as a Model Context Protocol server over stdio,
//! for coding agents and editors (the official Rust SDK, `rmcp`). Tools:
//! `search`, `status`, `update`. The index and model stay open between
//! calls; with a watch the tree is followed as by `leann serve --watch`
//! (the same `Service`, snapshots and limits). stdout carries the protocol
//! only; the log goes to stderr.

use super::http::{options, Filters};
use super::state::Service;
use super::{Backing, Limits};
use crate::error::{Error, Result};
use crate::ingest::watch::WatchOptions;
use crate::io::Storage;
use crate::search::response;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerInfo};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `search` tool's arguments.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for: a question in words ("where are JWT tokens
    /// verified") or an identifier (`verify_token`, `Pool::acquire`).
    pub query: String,
    /// How many results (1..=1000, default 10).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Only chunks in these languages (e.g. "rust", "python", "typescript").
    #[serde(default)]
    pub languages: Vec<String>,
    /// Only chunks whose path matches one of these globs or directories
    /// (relative to the indexed root, e.g. "src/auth" or "**/*.ts").
    #[serde(default)]
    pub paths: Vec<String>,
    /// "retrieve" (default) or "rerank" (needs a rerank model).
    #[serde(default)]
    pub mode: Option<String>,
    /// Share of semantic ranking against lexical (BM25): 0..1, default 0.5.
    #[serde(default)]
    pub semantic_ratio: Option<f32>,
}

/// The MCP server: the service's snapshot and what `update` needs.
#[derive(Clone)]
pub struct LeannMcp {
    service: Arc<Service>,
    storage: Arc<dyn Storage>,
    root: Option<PathBuf>,
    limits: Limits,
    rerank: bool,
    tool_router: ToolRouter<LeannMcp>,
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Run `f` on the blocking pool; a panic is an internal error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> std::result::Result<T, String> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(format!(
            "internal error: {e} (a bug in leann: please report it)"
        ))
    })
}

#[tool_router]
impl LeannMcp {
    pub fn new(
        service: Arc<Service>,
        storage: Arc<dyn Storage>,
        root: Option<PathBuf>,
        limits: Limits,
        rerank: bool,
    ) -> LeannMcp {
        LeannMcp {
            service,
            storage,
            root,
            limits,
            rerank,
            tool_router: Self::tool_router(),
        }
    }

    /// Semantic + lexical code search over the indexed tree: the best
    /// chunks (functions, classes, sections) with path, lines, symbol,
    /// score and text.
    #[tool(
        name = "search",
        description = "Search the indexed code tree by meaning and by identifier. Returns the best chunks (functions, classes, sections) with their path, start and end lines, enclosing symbol, score and full text."
    )]
    async fn search(&self, Parameters(a): Parameters<SearchArgs>) -> CallToolResult {
        let t = Instant::now();
        let filters = Filters {
            languages: a.languages,
            paths: a.paths,
        };
        let o = options(
            &self.limits,
            self.rerank,
            &a.query,
            a.top_k,
            a.mode.as_deref(),
            Some(&filters),
            a.semantic_ratio,
        );
        let mut o = match o {
            Ok(o) => o,
            Err(e) => {
                return tool_error(match e.field {
                    Some(f) => format!("argument `{f}`: {}", e.message),
                    None => e.message,
                })
            }
        };
        o.with_text = true;
        let service = self.service.clone();
        let query = a.query;
        let r = blocking(move || {
            let s = service.snapshot()?;
            let mut ctx = service.context();
            let r = s.query(&query, &o, &mut ctx).map_err(|e| e.to_string());
            service.give_back(ctx);
            service.record(t.elapsed().as_secs_f64() * 1e3, r.is_ok());
            r
        })
        .await;
        match r {
            Ok(results) => {
                let items: Vec<_> = response::items(&results)
                    .into_iter()
                    .zip(&results)
                    .map(|(it, r)| {
                        json!({
                            "item": it.item,
                            "score": it.score,
                            "stale": it.stale,
                            "text": r.text.as_deref().unwrap_or(it.preview),
                        })
                    })
                    .collect();
                CallToolResult::structured(json!({
                    "items": items,
                    "latency": response::millis(t.elapsed()),
                }))
            }
            Err(e) => tool_error(e),
        }
    }

    /// Index statistics and freshness.
    #[tool(
        name = "status",
        description = "The index's size, its delta against the main index, the service's latency and whether it follows the tree (watch state, last update)."
    )]
    async fn status(&self) -> CallToolResult {
        let s = match self.service.snapshot() {
            Ok(s) => s,
            Err(e) => return tool_error(e),
        };
        let st = crate::engine::stats::stats(&s.index);
        let w = self.service.watch_state();
        let lat = self.service.latency();
        CallToolResult::structured(json!({
            "index": s.index.dir.display().to_string(),
            "root": s.root().map(|r| r.display().to_string()),
            "stats": st,
            "snapshot": self.service.generation(),
            "queries": self.service.queries.load(Ordering::Relaxed),
            "avgLatency": lat.avg,
            "watch": {
                "enabled": w.enabled,
                "ready": w.ready,
                "polling": w.polling,
                "batches": w.batches,
                "secondsSinceLastUpdate": w.last_update_secs.map(|at| self.service.uptime_secs() - at),
                "error": w.failed,
            },
        }))
    }

    /// Bring the index up to date with the tree now.
    #[tool(
        name = "update",
        description = "Index the tree's changes now (files added, edited or removed since the last update) and answer later searches from the result."
    )]
    async fn update(&self) -> CallToolResult {
        let (service, storage, root) = (
            self.service.clone(),
            self.storage.clone(),
            self.root.clone(),
        );
        let r = blocking(move || {
            let cur = service.snapshot()?;
            let mut w = cur.reopen().map_err(|e| e.to_string())?;
            let rep =
                crate::ingest::update::update_from_tree(&mut w, storage.as_ref(), root.as_deref())
                    .map_err(|e| e.to_string())?;
            drop(w);
            service.refresh().map_err(|e| e.to_string())?;
            Ok(rep)
        })
        .await;
        match r {
            Ok(rep) => CallToolResult::structured(json!({
                "filesScanned": rep.files_scanned,
                "filesChanged": rep.files_changed,
                "filesAdded": rep.files_added,
                "filesRemoved": rep.files_removed,
                "chunksUpserted": rep.chunks_upserted,
                "seconds": rep.seconds,
            })),
            Err(e) => tool_error(e),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for LeannMcp {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("leann", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "leann searches one indexed code tree by meaning and by identifier. Use `search` with a question or an identifier; `status` for freshness; `update` after editing files when the server does not watch the tree.",
            )
    }
}

/// What `leann mcp` runs with.
pub struct McpOptions {
    pub index: PathBuf,
    pub root: Option<PathBuf>,
    pub watch: Option<WatchOptions>,
    pub rerank: Option<(PathBuf, Option<PathBuf>)>,
    pub limits: Limits,
}

/// Serve MCP over stdin/stdout until the client closes it (or SIGTERM).
pub fn run(
    storage: Arc<dyn Storage>,
    o: McpOptions,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the MCP server's runtime", "<tokio>", e))?;
    let service = Arc::new(Service::default());
    let stop = Arc::new(AtomicBool::new(false));
    let backing = super::start_backing(
        storage.clone(),
        Backing {
            index: &o.index,
            root: o.root.as_deref(),
            rerank: o.rerank.as_ref(),
            watch: o.watch.as_ref(),
            refresh_interval: Duration::from_millis(500),
        },
        service.clone(),
        stop.clone(),
        log.clone(),
    )?;
    // Tools wait for the first snapshot rather than failing the client's
    // first call.
    while service.is_opening() && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Err(e) = service.snapshot() {
        stop.store(true, Ordering::SeqCst);
        let _ = backing.join();
        return Err(Error::precondition(e));
    }
    let server = LeannMcp::new(
        service,
        storage,
        o.root.clone(),
        o.limits.clone(),
        o.rerank.is_some(),
    );
    let served = rt.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("MCP handshake: {e}"))?;
        let term = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut t) => {
                        t.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await
        };
        tokio::select! {
            r = running.waiting() => r.map(|_| ()).map_err(|e| format!("MCP server: {e}")),
            _ = term => Ok(()),
        }
    });
    stop.store(true, Ordering::SeqCst);
    log("stopping");
    let _ = backing.join();
    // The runtime's blocking threads may still read stdin; do not wait.
    rt.shutdown_background();
    served.map_err(|e| Error::io("serve MCP", "<stdio>", std::io::Error::other(e)))
}
