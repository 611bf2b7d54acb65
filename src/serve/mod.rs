//! `leann serve`: the index kept open in a long-lived process behind an
//! HTTP API (SPEC.md "Service", H-1..H-5). `state` holds the snapshot the
//! searches run on and the service's figures; `http` the routes. With a
//! watch, the service is also the index's writer: a thread runs
//! `ingest::watch`, and each update it makes is a new snapshot (H-3).

pub mod client;
pub mod http;
pub mod mcp;
pub mod state;

use crate::error::{Error, Result};
use crate::ingest::watch::{WatchEvent, WatchOptions};
use crate::io::Storage;
use crate::search::searcher::Searcher;
use state::Service;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What one request may ask for, and how many may run (H-2).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_query_bytes: usize,
    pub max_top_k: usize,
    pub max_batch_queries: usize,
    /// Searches running at once (each on a thread of the blocking pool).
    pub max_concurrent: usize,
    /// Requests waiting for a place; past it, 503 at once.
    pub max_queued: usize,
    /// A request that has not been answered in this time gets 503 (while
    /// waiting for a place) or 504 (while searching).
    pub request_timeout: Duration,
    /// A connection that has not sent a whole request head in this time is
    /// closed (a slow or silent peer cannot hold it).
    pub header_timeout: Duration,
    /// Open connections; past it, new ones are closed at once.
    pub max_connections: usize,
    /// After SIGTERM, requests in flight get this long to finish.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            max_body_bytes: 1 << 20,
            max_query_bytes: 8 * 1024,
            max_top_k: 1000,
            max_batch_queries: 256,
            max_concurrent: cores.max(2),
            max_queued: 256,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

pub struct ServeOptions {
    pub index: PathBuf,
    /// Where the indexed tree is now (default: recorded in the index).
    pub root: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    /// The bearer token requests must carry (H-1); required to listen on
    /// an address other than loopback.
    pub token: Option<String>,
    /// Follow the tree and keep the index up to date (the service is then
    /// the index's writer, batch by batch).
    pub watch: Option<WatchOptions>,
    /// How often the index on disk is checked for changes made by other
    /// writers (H-3).
    pub refresh_interval: Duration,
    pub limits: Limits,
    /// Load the models of `mode: "rerank"`: (transformer, cross-encoder).
    pub rerank: Option<(PathBuf, Option<PathBuf>)>,
}

/// Read a token file (H-1): its first line, without surrounding white
/// space; refused when empty, or readable by others (mode & 0o077).
pub fn read_token_file(path: &std::path::Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read token file", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::argument(
                "--token-file",
                format!(
                    "{} is readable by other users (mode {:o}): `chmod 600 {}`",
                    path.display(),
                    meta.permissions().mode() & 0o777,
                    path.display()
                ),
            ));
        }
    }
    if meta.len() > 4096 {
        return Err(Error::argument(
            "--token-file",
            format!(
                "{}: a token file holds one line of at most 4096 bytes",
                path.display()
            ),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read token file", path, e))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        return Err(Error::argument(
            "--token-file",
            format!(
                "{}: the token must be at least 16 characters (e.g. `openssl rand -hex 32 > {}`)",
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(token)
}

/// Whether `host` names only this machine.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where to listen; refused when not loopback and no token (H-1).
fn listen_addr(o: &ServeOptions) -> Result<SocketAddr> {
    if !is_loopback(&o.host) && o.token.is_none() {
        return Err(Error::argument(
            "--host",
            format!(
                "--host {} serves other machines: pass --token-file FILE (a bearer token every request must carry) as well",
                o.host
            ),
        ));
    }
    let host = if o.host == "localhost" {
        "127.0.0.1"
    } else {
        o.host.trim_start_matches('[').trim_end_matches(']')
    };
    let ip: IpAddr = host.parse().map_err(|_| {
        Error::argument(
            "--host",
            format!("--host {}: not an IP address (or localhost)", o.host),
        )
    })?;
    Ok(SocketAddr::new(ip, o.port))
}

/// Run the service until SIGTERM or SIGINT (or `stop`): bind, report the
/// address through `ready`, open the index (searches get 503 meanwhile),
/// start the watch and the refresh of snapshots, answer; on a signal, stop
/// taking connections, let running requests finish, stop the watch after
/// its batch (its log batches are durable when committed) and return (H-5).
pub fn run(
    storage: Arc<dyn Storage>,
    o: ServeOptions,
    stop: Arc<AtomicBool>,
    ready: &mut dyn FnMut(SocketAddr),
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<()> {
    let addr = listen_addr(&o)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(o.limits.max_concurrent + 2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the service's runtime", "<tokio>", e))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| Error::io("listen on", addr.to_string(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("listen on", addr.to_string(), e))?;
    ready(local);
    let service = Arc::new(Service::default());
    let app = Arc::new(http::App {
        service: service.clone(),
        limits: o.limits.clone(),
        token: o.token.as_ref().map(|t| t.as_bytes().to_vec()),
        searches: Arc::new(tokio::sync::Semaphore::new(o.limits.max_concurrent)),
        waiting: Default::default(),
        rerank: o.rerank.is_some(),
    });
    // Open beside the listener; a failure stops the service (after the
    // requests meanwhile got 503).
    let opener = start_backing(
        storage,
        Backing {
            index: &o.index,
            root: o.root.as_deref(),
            rerank: o.rerank.as_ref(),
            watch: o.watch.as_ref(),
            refresh_interval: o.refresh_interval,
        },
        service.clone(),
        stop.clone(),
        log.clone(),
    )?;
    let shutdown = {
        let stop = stop.clone();
        async move {
            let signal = async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    match (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::interrupt()),
                    ) {
                        (Ok(mut t), Ok(mut i)) => {
                            tokio::select! {
                                _ = t.recv() => {},
                                _ = i.recv() => {},
                            }
                        }
                        _ => std::future::pending::<()>().await,
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            };
            let flag = async {
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                _ = signal => {},
                _ = flag => {},
            }
        }
    };
    let limits = o.limits.clone();
    let served: Result<()> = rt.block_on(accept_loop(
        listener,
        http::router(app),
        &limits,
        shutdown,
        log.clone(),
    ));
    stop.store(true, Ordering::SeqCst);
    log(if o.watch.is_some() {
        "stopping: requests finished; waiting for the watch's batch"
    } else {
        "stopping: requests finished"
    });
    let background = opener
        .join()
        .map_err(|_| Error::internal("the service's background thread panicked"))?;
    served?;
    // An index that could not be opened is the service's error; a watch
    // that stopped was reported and served around.
    if let Err(e) = background {
        if service.generation() == 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// What `open_in_background` opens and keeps up to date.
pub struct Backing<'a> {
    pub index: &'a std::path::Path,
    pub root: Option<&'a std::path::Path>,
    pub rerank: Option<&'a (PathBuf, Option<PathBuf>)>,
    pub watch: Option<&'a WatchOptions>,
    pub refresh_interval: Duration,
}

/// Accept connections until `shutdown`: each served by hyper's HTTP/1.1
/// with a header read timeout, at most `max_connections` at once (past it
/// a new connection is closed at once); then stop accepting and give the
/// requests in flight `drain_timeout` to finish (H-5).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut refused_logged = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of descriptors and the like: wait, then go on.
                        log(&format!("accept: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(place) = open.clone().try_acquire_owned() else {
                    if !std::mem::replace(&mut refused_logged, true) {
                        log(&format!("{} connections open: closing new ones until some end", limits.max_connections));
                    }
                    drop(stream);
                    continue;
                };
                refused_logged = false;
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A peer that goes away or times out is its own business.
                    let _ = conn.await;
                    drop(place);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.drain_timeout) => {
            log("requests still running after the drain timeout: stopping anyway");
        }
    }
    Ok(())
}

/// On a thread: open the index into `service` (its first snapshot, with
/// the rerank models when asked), then run the watch (when asked) or wait,
/// refreshing snapshots (H-3), until `stop`. An index that cannot be opened
/// fails the service and sets `stop`. Shared by the HTTP and MCP front ends.
pub fn start_backing(
    storage: Arc<dyn Storage>,
    b: Backing<'_>,
    service: Arc<Service>,
    stop: Arc<AtomicBool>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<std::thread::JoinHandle<Result<()>>> {
    let index = b.index.to_path_buf();
    let root = b.root.map(|r| r.to_path_buf());
    let rerank = b.rerank.cloned();
    let watch = b.watch.cloned();
    let refresh = b.refresh_interval;
    std::thread::Builder::new()
        .name("leann-open".into())
        .spawn(move || -> Result<()> {
            let opened = (|| -> Result<Searcher> {
                let mut s = Searcher::open(storage.clone(), &index, root.as_deref(), None)?;
                if let Some((dir, cross)) = &rerank {
                    s.set_reranker(crate::search::rerank::Reranker::load(
                        storage.as_ref(),
                        dir,
                        cross.as_deref(),
                    )?);
                }
                Ok(s)
            })();
            let s = match opened {
                Ok(s) => s,
                Err(e) => {
                    service.fail(e.to_string());
                    stop.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            };
            let writer = match &watch {
                Some(_) => Some(s.reopen()?),
                None => None,
            };
            service.install(s);
            log(&format!("ready: {}", index.display()));
            background(storage, service, writer, watch, root, refresh, stop, log)
        })
        .map_err(|e| Error::io("start a thread", "leann-open", e))
}

/// The background work once open: the watch (when asked), else the check
/// for other writers' changes, each new state of the index a new snapshot.
#[allow(clippy::too_many_arguments)]
fn background(
    storage: Arc<dyn Storage>,
    service: Arc<Service>,
    writer: Option<Searcher>,
    watch: Option<WatchOptions>,
    root: Option<PathBuf>,
    refresh: Duration,
    stop: Arc<AtomicBool>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<()> {
    let index = service
        .snapshot()
        .map_err(Error::internal)?
        .index
        .dir
        .clone();
    // Other writers (a one-shot `index update`, a compaction) are seen by
    // the disk state they leave.
    let poller = {
        let (storage, service, stop, log) =
            (storage.clone(), service.clone(), stop.clone(), log.clone());
        std::thread::Builder::new()
            .name("leann-refresh".into())
            .spawn(move || {
                let mut failed: Option<String> = None;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(refresh);
                    // The state the current snapshot was opened in, against
                    // the disk's (a watch's batch refreshed it already).
                    let Ok(current) = service.snapshot() else {
                        continue;
                    };
                    let Ok(now) = crate::engine::dir::disk_state(storage.as_ref(), &index) else {
                        continue;
                    };
                    if now == current.index.seen {
                        continue;
                    }
                    match service.refresh() {
                        Ok(()) => failed = None,
                        Err(e) => {
                            let m = e.to_string();
                            if failed.as_ref() != Some(&m) {
                                log(&format!("refresh: {m}"));
                            }
                            failed = Some(m);
                        }
                    }
                }
            })
            .map_err(|e| Error::io("start a thread", "leann-refresh", e))?
    };
    let result = match (writer, watch) {
        (Some(mut w), Some(wo)) => {
            if let Ok(mut ws) = service.watch.lock() {
                ws.enabled = true;
            }
            let warned = |m: String, polling: bool| {
                log(&format!("warning: {m}"));
                if let Ok(mut ws) = service.watch.lock() {
                    ws.polling |= polling;
                    ws.last_warning = Some(m);
                }
            };
            let mut report = |ev: WatchEvent<'_>| match ev {
                WatchEvent::Ready { polling } => {
                    if let Ok(mut ws) = service.watch.lock() {
                        ws.ready = true;
                        ws.polling = polling;
                    }
                    log(&format!(
                        "watching {}{}",
                        w_root(&root),
                        if polling { " (polling)" } else { "" }
                    ));
                }
                WatchEvent::Updated(r)
                    if r.files_changed + r.files_added + r.files_removed + r.chunks_upserted
                        == 0 => {}
                WatchEvent::Updated(r) => {
                    let refreshed = service.refresh();
                    if let Ok(mut ws) = service.watch.lock() {
                        ws.batches += 1;
                        ws.last_update_secs = Some(service.uptime_secs());
                    }
                    match refreshed {
                        Ok(()) => log(&format!(
                            "updated: {} files changed, {} added, {} removed; {} chunks upserted ({:.3} s)",
                            r.files_changed, r.files_added, r.files_removed, r.chunks_upserted, r.seconds
                        )),
                        Err(e) => log(&format!("updated, but the new snapshot failed: {e}")),
                    }
                }
                WatchEvent::Compacted(c) => {
                    if let Err(e) = service.refresh() {
                        log(&format!("compacted, but the new snapshot failed: {e}"));
                    } else {
                        log(&format!("compacted: {} live vectors", c.live_vectors));
                    }
                }
                WatchEvent::Warning(m) => warned(m, false),
                WatchEvent::Polling(m) => warned(m, true),
            };
            let r = crate::ingest::watch::watch(
                &mut w,
                storage.as_ref(),
                root.as_deref(),
                &wo,
                &stop,
                &mut report,
            );
            if let Err(e) = &r {
                log(&format!("the watch stopped: {e}"));
                if let Ok(mut ws) = service.watch.lock() {
                    ws.failed = Some(e.to_string());
                }
            }
            r
        }
        _ => Ok(()),
    };
    // Without a watch (or after it stopped), wait for the stop.
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = poller.join();
    result
}

fn w_root(root: &Option<PathBuf>) -> String {
    root.as_ref()
        .map_or("the indexed tree".to_string(), |r| r.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_without_a_token() {
        for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "192.168.1.4", "example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
