//! A minimal HTTP/1.1 client for the service's own tests and benchmark
//! (`benches/serve.rs`): one request per connection (`Connection: close`),
//! a chunked body decoded. Not for talking to other servers.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: status, the header block as text, the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn bad(addr: SocketAddr, why: impl Into<String>) -> Error {
    Error::io(
        "read an HTTP answer",
        addr.to_string(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, why.into()),
    )
}

/// `method path` with `body` (sent as JSON) and extra `headers`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Answer> {
    let io = |op: &'static str| move |e| Error::io(op, addr.to_string(), e);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io("connect to"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(io("connect to"))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(io("send to"))?;
    // A server may answer (413) and close before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    // A reset after a complete answer (the body not read) is not an error.
    if let Err(e) = s.read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(io("read from")(e));
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad(addr, "no end of the header block"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(addr, format!("no status in {head:?}")))?;
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad(addr, "a chunk without its size line"))?;
            let n = std::str::from_utf8(&rest[..nl])
                .ok()
                .and_then(|t| usize::from_str_radix(t.trim(), 16).ok())
                .ok_or_else(|| bad(addr, "a chunk size that is not hex"))?;
            if n == 0 {
                break;
            }
            let data = rest
                .get(nl + 2..nl + 2 + n)
                .ok_or_else(|| bad(addr, "a chunk longer than the answer"))?;
            out.extend_from_slice(data);
            rest = rest.get(nl + 2 + n + 2..).unwrap_or(&[]);
        }
        body = out;
    }
    Ok(Answer { status, head, body })
}
