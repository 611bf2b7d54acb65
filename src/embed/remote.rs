//! The embedding-server protocol over ZeroMQ (SPEC.md, "Embedding server
//! protocol"): a REP server (`leann embed-server`, tools/embedding_server.py)
//! and the REQ client that leann uses when the config names an
//! `embeddingServer`.
//!
//! Request: one frame of UTF-8 JSON, `{"op": "embed", "texts": [...]}` or
//! `{"op": "info"}`. Reply: `{"ok": true, "model", "dim", "count"}` plus a
//! second frame of count x dim little-endian f32 for `embed`; one frame
//! `{"ok": true, "model", "dim", "maxBatch"}` for `info`; one frame
//! `{"ok": false, "error": "..."}` for anything malformed.

use super::Embedder;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Largest request a server accepts, bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// Most texts in one request.
pub const MAX_BATCH_TEXTS: usize = 4096;
/// Default timeout of a request, milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_BATCH_SIZE: usize = 128;

/// Config `embeddingServer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// ZeroMQ endpoint, e.g. `tcp://localhost:5555`.
    pub endpoint: String,
    /// The model the server is expected to serve (checked against its reply
    /// when given; informational otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Texts per request. Default 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Milliseconds to wait for a reply. Default 30,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl ServerConfig {
    pub fn check(&self) -> Result<()> {
        if !(self.endpoint.contains("://")) {
            return Err(Error::config(
                "embeddingServer.endpoint",
                format!(
                    "`{}` is not a ZeroMQ endpoint like tcp://localhost:5555",
                    self.endpoint
                ),
            ));
        }
        if let Some(b) = self.batch_size {
            if b == 0 || b > MAX_BATCH_TEXTS {
                return Err(Error::config(
                    "embeddingServer.batchSize",
                    format!("{b} is not in 1..={MAX_BATCH_TEXTS}"),
                ));
            }
        }
        if self.timeout == Some(0) {
            return Err(Error::config(
                "embeddingServer.timeout",
                "must be at least 1 ms",
            ));
        }
        Ok(())
    }
    pub fn timeout_ms(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_MS)
    }
    pub fn batch(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Embed { texts: Vec<String> },
    Info {},
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Reply {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dim: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_batch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn zmq_err(endpoint: &str, what: &str, e: zmq::Error) -> Error {
    Error::invalid(format!("embedding server {endpoint}: {what}: {e}"))
}

/// Answer one request: the frames of the reply.
fn answer(embedder: &dyn Embedder, req: &[u8]) -> Vec<Vec<u8>> {
    let fail = |msg: String| {
        let r = Reply {
            ok: false,
            model: None,
            dim: None,
            count: None,
            max_batch: None,
            error: Some(msg),
        };
        vec![serde_json::to_vec(&r).unwrap_or_default()]
    };
    if req.len() > MAX_REQUEST_BYTES {
        return fail(format!(
            "request of {} bytes exceeds {MAX_REQUEST_BYTES}",
            req.len()
        ));
    }
    let req: Request = match serde_json::from_slice(req) {
        Ok(r) => r,
        Err(e) => return fail(format!("malformed request: {e}")),
    };
    let ok = |count: Option<usize>, max_batch: Option<usize>| Reply {
        ok: true,
        model: Some(embedder.model_id().to_string()),
        dim: Some(embedder.dim()),
        count,
        max_batch,
        error: None,
    };
    match req {
        Request::Info {} => {
            vec![serde_json::to_vec(&ok(None, Some(MAX_BATCH_TEXTS))).unwrap_or_default()]
        }
        Request::Embed { texts } => {
            if texts.len() > MAX_BATCH_TEXTS {
                return fail(format!(
                    "{} texts exceed the batch limit {MAX_BATCH_TEXTS}",
                    texts.len()
                ));
            }
            let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
            match embedder.embed(&refs) {
                Ok(v) => {
                    let mut bytes = Vec::with_capacity(v.len() * 4);
                    crate::format::put_f32s(&mut bytes, &v);
                    vec![
                        serde_json::to_vec(&ok(Some(texts.len()), None)).unwrap_or_default(),
                        bytes,
                    ]
                }
                Err(e) => fail(format!("embedding failed: {e}")),
            }
        }
    }
}

/// A bound REP socket serving `embedder`.
pub struct Server {
    socket: zmq::Socket,
    endpoint: String,
    _ctx: zmq::Context,
}

impl Server {
    /// Bind `endpoint` (`tcp://127.0.0.1:5555`; port `*` picks a free one).
    pub fn bind(endpoint: &str) -> Result<Server> {
        let ctx = zmq::Context::new();
        let socket = ctx
            .socket(zmq::REP)
            .map_err(|e| zmq_err(endpoint, "socket", e))?;
        socket
            .set_maxmsgsize(MAX_REQUEST_BYTES as i64)
            .map_err(|e| zmq_err(endpoint, "set max message size", e))?;
        socket
            .set_linger(0)
            .map_err(|e| zmq_err(endpoint, "set linger", e))?;
        socket
            .bind(endpoint)
            .map_err(|e| zmq_err(endpoint, "bind", e))?;
        let bound = socket
            .get_last_endpoint()
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_else(|| endpoint.to_string());
        Ok(Server {
            socket,
            endpoint: bound,
            _ctx: ctx,
        })
    }

    /// The endpoint actually bound (with the port chosen for `*`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Serve until `stop` is set (checked every 100 ms). Returns requests served.
    pub fn serve(&self, embedder: &dyn Embedder, stop: &AtomicBool) -> Result<u64> {
        let mut served = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let ready = self
                .socket
                .poll(zmq::POLLIN, 100)
                .map_err(|e| zmq_err(&self.endpoint, "poll", e))?;
            if ready == 0 {
                continue;
            }
            let parts = self
                .socket
                .recv_multipart(0)
                .map_err(|e| zmq_err(&self.endpoint, "receive", e))?;
            let reply = if parts.len() == 1 {
                answer(embedder, &parts[0])
            } else {
                answer(embedder, b"multi-frame request")
            };
            self.socket
                .send_multipart(reply, 0)
                .map_err(|e| zmq_err(&self.endpoint, "send", e))?;
            served += 1;
        }
        Ok(served)
    }
}

/// The REQ client: an `Embedder` backed by a server.
pub struct RemoteEmbedder {
    cfg: ServerConfig,
    ctx: zmq::Context,
    socket: Mutex<Option<zmq::Socket>>,
    model: String,
    dim: usize,
}

impl RemoteEmbedder {
    /// Connect and ask the server what it serves; fails within the timeout
    /// with an error naming the endpoint when nothing answers.
    pub fn connect(cfg: &ServerConfig) -> Result<RemoteEmbedder> {
        cfg.check()?;
        let mut r = RemoteEmbedder {
            cfg: cfg.clone(),
            ctx: zmq::Context::new(),
            socket: Mutex::new(None),
            model: String::new(),
            dim: 0,
        };
        let (head, _) = r.request(br#"{"op":"info"}"#, false)?;
        r.model = head.model.clone().unwrap_or_default();
        r.dim = head.dim.unwrap_or(0);
        if r.dim == 0 || r.model.is_empty() {
            return Err(Error::invalid(format!(
                "embedding server {}: its info reply names no model or dimension",
                cfg.endpoint
            )));
        }
        if let Some(want) = &cfg.model {
            if !r.model.contains(want.as_str()) && !want.contains(r.model.as_str()) {
                return Err(Error::config(
                    "embeddingServer.model",
                    format!(
                        "the config expects model `{want}`, the server at {} serves `{}`",
                        cfg.endpoint, r.model
                    ),
                ));
            }
        }
        Ok(r)
    }

    fn new_socket(&self) -> Result<zmq::Socket> {
        let ep = &self.cfg.endpoint;
        let s = self
            .ctx
            .socket(zmq::REQ)
            .map_err(|e| zmq_err(ep, "socket", e))?;
        let t = self.cfg.timeout_ms().min(i32::MAX as u64) as i32;
        s.set_linger(0).map_err(|e| zmq_err(ep, "set linger", e))?;
        s.set_rcvtimeo(t)
            .map_err(|e| zmq_err(ep, "set timeout", e))?;
        s.set_sndtimeo(t)
            .map_err(|e| zmq_err(ep, "set timeout", e))?;
        s.connect(ep).map_err(|e| zmq_err(ep, "connect", e))?;
        Ok(s)
    }

    /// One round trip. On any failure the socket is dropped (a REQ socket
    /// that missed its reply cannot send again) and rebuilt on the next call.
    fn request(&self, req: &[u8], want_matrix: bool) -> Result<(Reply, Vec<u8>)> {
        let ep = &self.cfg.endpoint;
        let mut guard = self
            .socket
            .lock()
            .map_err(|_| Error::invalid(format!("embedding server {ep}: client poisoned")))?;
        if guard.is_none() {
            *guard = Some(self.new_socket()?);
        }
        let result = (|| {
            // The socket was created just above if it was missing.
            let s = guard.as_ref().ok_or_else(|| Error::invalid("no socket"))?;
            let timeout = || {
                Error::invalid(format!(
                    "embedding server {ep}: no reply within {} ms (is `leann embed-server` running there?)",
                    self.cfg.timeout_ms()
                ))
            };
            match s.send(req, 0) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Err(timeout()),
                Err(e) => return Err(zmq_err(ep, "send", e)),
            }
            let parts = match s.recv_multipart(0) {
                Ok(p) => p,
                Err(zmq::Error::EAGAIN) => return Err(timeout()),
                Err(e) => return Err(zmq_err(ep, "receive", e)),
            };
            let head: Reply = serde_json::from_slice(&parts[0]).map_err(|e| {
                Error::invalid(format!("embedding server {ep}: malformed reply: {e}"))
            })?;
            if !head.ok {
                return Err(Error::invalid(format!(
                    "embedding server {ep}: {}",
                    head.error.as_deref().unwrap_or("error without a message")
                )));
            }
            let matrix = if want_matrix {
                if parts.len() != 2 {
                    return Err(Error::invalid(format!(
                        "embedding server {ep}: reply has {} frames, expected 2",
                        parts.len()
                    )));
                }
                parts.into_iter().nth(1).unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok((head, matrix))
        })();
        if result.is_err() {
            *guard = None;
        }
        result
    }
}

impl Embedder for RemoteEmbedder {
    fn model_id(&self) -> &str {
        &self.model
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let ep = &self.cfg.endpoint;
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for batch in texts.chunks(self.cfg.batch()) {
            let req = serde_json::json!({"op": "embed", "texts": batch});
            let (head, m) = self.request(req.to_string().as_bytes(), true)?;
            if head.model.as_deref() != Some(self.model.as_str()) || head.dim != Some(self.dim) {
                return Err(Error::invalid(format!(
                    "embedding server {ep}: now serves {:?} of dim {:?}, it served {} of dim {} at connect",
                    head.model, head.dim, self.model, self.dim
                )));
            }
            if head.count != Some(batch.len()) || m.len() != batch.len() * self.dim * 4 {
                return Err(Error::invalid(format!(
                    "embedding server {ep}: {} bytes of vectors for {} texts of dim {}",
                    m.len(),
                    batch.len(),
                    self.dim
                )));
            }
            let mut v = crate::format::f32s_from(&m);
            for row in v.chunks_mut(self.dim) {
                crate::distance::normalize(row);
            }
            out.extend_from_slice(&v);
        }
        Ok(out)
    }
}
