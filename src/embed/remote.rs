//! The embedding-server protocol over ZeroMQ (SPEC.md, "Embedding server
//! protocol"): a server (`leann embed-server`: a ROUTER socket that answers
//! REQ clients, tools/embedding_server.py: REP) and the REQ client that leann
//! uses when the config names an `embeddingServer`. Both ends treat the peer
//! as untrusted (SPEC.md Z-1..Z-4): sizes are bounded before anything is
//! allocated, a reply is checked before it is used, and a peer that sends
//! garbage gets an error reply or is dropped, never stalls the server.
//!
//! Request: one frame of UTF-8 JSON, `{"op": "embed", "texts": [...]}` or
//! `{"op": "info"}`. Reply: `{"ok": true, "model", "dim", "count"}` plus a
//! second frame of count x dim little-endian f32 for `embed`; one frame
//! `{"ok": true, "model", "dim", "maxBatch"}` for `info`; one frame
//! `{"ok": false, "error": "..."}` for anything malformed.

use super::Embedder;
use crate::error::{Error, Result, ServerFault};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Largest request a server accepts, bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// Largest frame the server's transport takes in (larger: the connection
/// is dropped by ZeroMQ); between MAX_REQUEST_BYTES and this, an error
/// reply.
pub const MAX_FRAME_BYTES: usize = 4 * MAX_REQUEST_BYTES;
/// Largest embedding dimension a client accepts from a server.
pub const MAX_DIM: usize = 8192;
/// Most texts in one request.
pub const MAX_BATCH_TEXTS: usize = 4096;
/// Longest timeout accepted, milliseconds (an hour).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Default timeout of a request, milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_BATCH_SIZE: usize = 128;
/// Most endpoints in one `embeddingServer.endpoint` list.
pub const MAX_ENDPOINTS: usize = 64;

/// Config `embeddingServer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// ZeroMQ endpoint, e.g. `tcp://localhost:5555`, or several separated
    /// by commas: batches are then spread over all of them, and a batch a
    /// server fails is retried on the others.
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
    /// The endpoints `endpoint` lists (one, or several separated by commas).
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoint
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect()
    }

    pub fn check(&self) -> Result<()> {
        let eps = self.endpoints();
        if eps.is_empty() {
            return Err(Error::config(
                "embeddingServer.endpoint",
                "no endpoint given (e.g. tcp://localhost:5555)",
            ));
        }
        if eps.len() > MAX_ENDPOINTS {
            return Err(Error::config(
                "embeddingServer.endpoint",
                format!("{} endpoints, at most {MAX_ENDPOINTS}", eps.len()),
            ));
        }
        if let Some(bad) = eps.iter().find(|e| !e.contains("://")) {
            return Err(Error::config(
                "embeddingServer.endpoint",
                format!(
                    "`{}` is not a ZeroMQ endpoint like tcp://localhost:5555",
                    crate::format::cut_str(bad, 200)
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
        if let Some(t) = self.timeout {
            if t == 0 || t > MAX_TIMEOUT_MS {
                return Err(Error::config(
                    "embeddingServer.timeout",
                    format!("{t} ms is not in 1..={MAX_TIMEOUT_MS}"),
                ));
            }
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

/// The JSON frame of a reply.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn zmq_err(endpoint: &str, what: &str, e: zmq::Error) -> Error {
    Error::server(endpoint, ServerFault::Unreachable, format!("{what}: {e}"))
}

/// Answer one request: the frames of the reply. (Public for the fuzz
/// targets.)
pub fn answer(embedder: &dyn Embedder, req: &[u8]) -> Vec<Vec<u8>> {
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
                    // Rows are unit length (Z-2): a text with no known token
                    // has no embedding to send.
                    let dim = embedder.dim().max(1);
                    if let Some(i) = v.chunks(dim).position(|r| r.iter().all(|&x| x == 0.0)) {
                        return fail(format!(
                            "text {i} has no token the model knows: it has no embedding"
                        ));
                    }
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

/// A bound ROUTER socket serving `embedder` to REQ clients.
pub struct Server {
    socket: zmq::Socket,
    endpoint: String,
    _ctx: zmq::Context,
}

impl Server {
    /// Bind `endpoint` (`tcp://127.0.0.1:5555`; port `*` picks a free one).
    pub fn bind(endpoint: &str) -> Result<Server> {
        let ctx = zmq::Context::new();
        // ROUTER, not REP: each message carries its sender's envelope, so a
        // peer that sends garbage or goes away mid-request cannot leave the
        // socket waiting to reply to it (Z-3).
        let socket = ctx
            .socket(zmq::ROUTER)
            .map_err(|e| zmq_err(endpoint, "socket", e))?;
        socket
            .set_maxmsgsize(MAX_FRAME_BYTES as i64)
            .map_err(|e| zmq_err(endpoint, "set max message size", e))?;
        socket
            .set_linger(0)
            .map_err(|e| zmq_err(endpoint, "set linger", e))?;
        // A reply that cannot be queued (a peer gone, or not reading) is
        // dropped rather than blocking the server.
        socket
            .set_sndtimeo(1000)
            .map_err(|e| zmq_err(endpoint, "set send timeout", e))?;
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

    /// Serve until `stop` is set (checked every 100 ms). Returns requests
    /// answered. A bad message is answered with an error (or, without an
    /// envelope to answer to, dropped); it never ends the loop.
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
            let frames = match self.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(f) => f,
                // Interrupted or gone before it was read: nothing to answer.
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(zmq_err(&self.endpoint, "receive", e)),
            };
            let Some((envelope, body)) = split_envelope(frames) else {
                continue;
            };
            let reply = if body.len() == 1 {
                answer(embedder, &body[0])
            } else {
                answer(embedder, b"multi-frame request")
            };
            let mut out = envelope;
            out.extend(reply);
            // A peer that went away (or does not read) loses its reply;
            // the next request is served all the same.
            if self.socket.send_multipart(out, 0).is_ok() {
                served += 1;
            }
        }
        Ok(served)
    }
}

/// The frames of one ZeroMQ message.
type Frames = Vec<Vec<u8>>;

/// A ROUTER message: the envelope (routing ids up to and including the empty
/// delimiter a REQ peer sends) and the body. A message with no body frame
/// after its delimiter is answered as malformed; one without a delimiter
/// gets the delimiter added (a DEALER peer that left it out).
fn split_envelope(mut frames: Frames) -> Option<(Frames, Frames)> {
    if frames.is_empty() {
        return None;
    }
    let body = match frames.iter().skip(1).position(|f| f.is_empty()) {
        Some(i) => frames.split_off(i + 2),
        None => {
            let b = frames.split_off(1);
            frames.push(Vec::new());
            b
        }
    };
    let body = if body.is_empty() {
        vec![Vec::new()]
    } else {
        body
    };
    Some((frames, body))
}

/// One server of a client: its endpoint and REQ socket (made on first use,
/// dropped after any failure).
struct Conn {
    endpoint: String,
    socket: Mutex<Option<zmq::Socket>>,
}

/// The REQ client: an `Embedder` backed by one server or several (then
/// batches are spread over them, each server taking the next batch when it
/// is done with one, and a batch a server fails is retried on the others).
pub struct RemoteEmbedder {
    cfg: ServerConfig,
    ctx: zmq::Context,
    conns: Vec<Conn>,
    model: String,
    dim: usize,
}

impl RemoteEmbedder {
    /// Connect and ask each server what it serves; fails within the timeout
    /// with an error naming the endpoint when one does not answer, and when
    /// two serve different models or dimensions.
    pub fn connect(cfg: &ServerConfig) -> Result<RemoteEmbedder> {
        cfg.check()?;
        let mut r = RemoteEmbedder {
            cfg: cfg.clone(),
            ctx: zmq::Context::new(),
            conns: cfg
                .endpoints()
                .into_iter()
                .map(|endpoint| Conn {
                    endpoint,
                    socket: Mutex::new(None),
                })
                .collect(),
            model: String::new(),
            dim: 0,
        };
        for (i, conn) in r.conns.iter().enumerate() {
            let (head, _) = r.request(conn, br#"{"op":"info"}"#, false)?;
            let model = head.model.clone().unwrap_or_default();
            let dim = head.dim.unwrap_or(0);
            if dim == 0 || dim > MAX_DIM || model.is_empty() || model.len() > 1024 {
                return Err(Error::server(
                    &conn.endpoint,
                    ServerFault::BadReply,
                    format!(
                        "its info reply names no usable model or dimension (model {:?}, dim {dim}; at most {MAX_DIM})",
                        crate::format::cut_str(&model, 100),
                    ),
                ));
            }
            if i == 0 {
                r.model = model;
                r.dim = dim;
            } else if model != r.model || dim != r.dim {
                return Err(Error::config(
                    "embeddingServer.endpoint",
                    format!(
                        "the servers disagree: {} serves `{}` of dim {}, {} serves `{}` of dim {dim}",
                        r.conns[0].endpoint,
                        r.model,
                        r.dim,
                        conn.endpoint,
                        crate::format::cut_str(&model, 100)
                    ),
                ));
            }
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

    /// The endpoints this client spreads its batches over.
    pub fn endpoints(&self) -> Vec<&str> {
        self.conns.iter().map(|c| c.endpoint.as_str()).collect()
    }

    fn new_socket(&self, ep: &str) -> Result<zmq::Socket> {
        let s = self
            .ctx
            .socket(zmq::REQ)
            .map_err(|e| zmq_err(ep, "socket", e))?;
        let t = self.cfg.timeout_ms().min(i32::MAX as u64) as i32;
        s.set_linger(0).map_err(|e| zmq_err(ep, "set linger", e))?;
        // Z-2: no reply larger than a full batch of the largest dimension
        // is taken in (ZeroMQ drops it before allocating it).
        s.set_maxmsgsize(max_reply_bytes(self.cfg.batch()) as i64)
            .map_err(|e| zmq_err(ep, "set max message size", e))?;
        s.set_rcvtimeo(t)
            .map_err(|e| zmq_err(ep, "set timeout", e))?;
        s.set_sndtimeo(t)
            .map_err(|e| zmq_err(ep, "set timeout", e))?;
        s.connect(ep).map_err(|e| zmq_err(ep, "connect", e))?;
        Ok(s)
    }

    /// One round trip with `conn`'s server. On any failure the socket is
    /// dropped (a REQ socket that missed its reply cannot send again) and
    /// rebuilt on the next call.
    fn request(&self, conn: &Conn, req: &[u8], want_matrix: bool) -> Result<(Reply, Vec<u8>)> {
        let ep = conn.endpoint.as_str();
        let mut guard = conn
            .socket
            .lock()
            .map_err(|_| Error::server(ep, ServerFault::Unreachable, "client poisoned"))?;
        if guard.is_none() {
            *guard = Some(self.new_socket(ep)?);
        }
        let result = (|| {
            // The socket was created just above if it was missing.
            let s = guard
                .as_ref()
                .ok_or_else(|| Error::server(ep, ServerFault::Unreachable, "no socket"))?;
            let timeout = || {
                Error::server(
                    ep,
                    ServerFault::Timeout,
                    format!(
                        "no reply within {} ms (is `leann embed-server` running there?)",
                        self.cfg.timeout_ms()
                    ),
                )
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
            let first = parts.first().map(Vec::as_slice).unwrap_or_default();
            if first.len() > MAX_REPLY_HEAD_BYTES {
                return Err(Error::server(
                    ep,
                    ServerFault::BadReply,
                    format!(
                        "reply head of {} bytes (at most {MAX_REPLY_HEAD_BYTES})",
                        first.len()
                    ),
                ));
            }
            let head: Reply = serde_json::from_slice(first).map_err(|e| {
                Error::server(ep, ServerFault::BadReply, format!("malformed reply: {e}"))
            })?;
            if !head.ok {
                return Err(Error::server(
                    ep,
                    ServerFault::Refused,
                    format!(
                        "{:?}",
                        crate::format::cut_str(
                            head.error.as_deref().unwrap_or("error without a message"),
                            500
                        )
                    ),
                ));
            }
            let matrix = if want_matrix {
                if parts.len() != 2 {
                    return Err(Error::server(
                        ep,
                        ServerFault::BadReply,
                        format!("reply has {} frames, expected 2", parts.len()),
                    ));
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
        let batches: Vec<&[&str]> = texts.chunks(self.cfg.batch()).collect();
        let mut rows: Vec<Option<Vec<f32>>> = vec![None; batches.len()];
        if self.conns.len() == 1 || batches.len() <= 1 {
            // One server (or one batch): in order, on the first server that
            // answers.
            for (b, batch) in batches.iter().enumerate() {
                let mut last = None;
                for conn in &self.conns {
                    match self.embed_batch(conn, batch) {
                        Ok(v) => {
                            rows[b] = Some(v);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                if rows[b].is_none() {
                    return Err(self.all_failed(last));
                }
            }
        } else {
            self.embed_spread(&batches, &mut rows)?;
        }
        let mut out = Vec::with_capacity(texts.len().saturating_mul(self.dim));
        for r in rows {
            // Every batch has its rows here: a missing one returned above.
            out.extend_from_slice(&r.ok_or_else(|| Error::internal("batch without rows"))?);
        }
        Ok(out)
    }
}

impl RemoteEmbedder {
    fn embed_batch(&self, conn: &Conn, batch: &[&str]) -> Result<Vec<f32>> {
        let req = serde_json::json!({"op": "embed", "texts": batch});
        let (head, m) = self.request(conn, req.to_string().as_bytes(), true)?;
        check_reply(
            &conn.endpoint,
            &self.model,
            self.dim,
            batch.len(),
            &head,
            &m,
        )
    }

    /// The error when no server could embed a batch: the last failure, with
    /// how many servers were tried.
    fn all_failed(&self, last: Option<Error>) -> Error {
        match last {
            Some(e) if self.conns.len() == 1 => e,
            Some(e) => Error::server(
                &self.cfg.endpoint,
                ServerFault::Unreachable,
                format!(
                    "every one of {} servers failed; the last: {e}",
                    self.conns.len()
                ),
            ),
            None => Error::internal("no embedding server to ask"),
        }
    }

    /// Several servers, several batches: in rounds, one thread per server
    /// still up taking the next pending batch until none is left; a server
    /// that fails a batch leaves this call (its batch goes back to the
    /// pending ones for the next round, on the others).
    fn embed_spread(&self, batches: &[&[&str]], rows: &mut [Option<Vec<f32>>]) -> Result<()> {
        let mut pending: Vec<usize> = (0..batches.len()).collect();
        let mut up: Vec<&Conn> = self.conns.iter().collect();
        let mut last_err = None;
        while !pending.is_empty() {
            if up.is_empty() {
                return Err(self.all_failed(last_err));
            }
            let next = std::sync::atomic::AtomicUsize::new(0);
            let done: Mutex<Vec<(usize, Vec<f32>)>> = Mutex::new(Vec::new());
            let failed: Mutex<Vec<(usize, usize, Error)>> = Mutex::new(Vec::new());
            std::thread::scope(|sc| {
                for (ci, conn) in up.iter().enumerate() {
                    let (next, done, failed, pending) = (&next, &done, &failed, &pending);
                    sc.spawn(move || loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&b) = pending.get(k) else { break };
                        match self.embed_batch(conn, batches[b]) {
                            Ok(v) => done.lock().unwrap_or_else(|e| e.into_inner()).push((b, v)),
                            Err(e) => {
                                failed
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push((ci, b, e));
                                break;
                            }
                        }
                    });
                }
            });
            for (b, v) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
                rows[b] = Some(v);
            }
            let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
            let mut down: Vec<usize> = failed.iter().map(|f| f.0).collect();
            down.sort_unstable();
            for ci in down.into_iter().rev() {
                up.remove(ci);
            }
            if let Some(f) = failed.into_iter().last() {
                last_err = Some(f.2);
            }
            pending.retain(|&b| rows[b].is_none());
        }
        Ok(())
    }
}

/// Largest reply head (the JSON frame) a client reads, bytes.
const MAX_REPLY_HEAD_BYTES: usize = 1 << 20;

/// Largest reply a client takes in for batches of `batch` texts.
fn max_reply_bytes(batch: usize) -> usize {
    batch
        .saturating_mul(MAX_DIM * 4)
        .saturating_add(MAX_REPLY_HEAD_BYTES)
        .min(i64::MAX as usize)
}

/// Check an embed reply for `count` texts against what the server said at
/// connect (Z-2): same model and dimension, exactly `count` rows of `dim`
/// floats, each finite and not all zero. Returns the rows, normalised.
pub fn check_reply(
    ep: &str,
    model: &str,
    dim: usize,
    count: usize,
    head: &Reply,
    matrix: &[u8],
) -> Result<Vec<f32>> {
    if head.model.as_deref() != Some(model) || head.dim != Some(dim) {
        return Err(Error::server(
            ep,
            ServerFault::BadReply,
            format!(
                "now serves {:?} of dim {:?}, it served {model} of dim {dim} at connect",
                head.model
                    .as_deref()
                    .map(|m| crate::format::cut_str(m, 100)),
                head.dim
            ),
        ));
    }
    let want = count.checked_mul(dim).and_then(|n| n.checked_mul(4));
    if head.count != Some(count) || Some(matrix.len()) != want {
        return Err(Error::server(
            ep,
            ServerFault::BadReply,
            format!(
                "{} bytes of vectors for {count} texts of dim {dim}",
                matrix.len()
            ),
        ));
    }
    let mut v = crate::format::f32s_from(matrix);
    for (i, row) in v.chunks_mut(dim.max(1)).enumerate() {
        if row.iter().any(|x| !x.is_finite()) {
            return Err(Error::server(
                ep,
                ServerFault::BadReply,
                format!("the vector of text {i} holds NaN or infinity"),
            ));
        }
        if row.iter().all(|&x| x == 0.0) {
            return Err(Error::server(
                ep,
                ServerFault::BadReply,
                format!("the vector of text {i} is all zeros"),
            ));
        }
        crate::ann::distance::normalize(row);
    }
    Ok(v)
}
