//! `leann serve` end to end (issue 17 §1, SPEC.md H-1..H-5): the binary on
//! a loopback port, spoken to over plain HTTP/1.1.

mod common;

use serde_json::{json, Value};
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// A small polyglot tree.
fn tree(root: &Path) {
    write(
        root,
        "src/auth/jwt.rs",
        "/// Check the signature and expiry of a bearer token.\npub fn verify_token(token: &str) -> bool {\n    !token.is_empty() && token.split('.').count() == 3\n}\n",
    );
    write(
        root,
        "src/db/pool.rs",
        "/// A pool of database connections.\npub struct Pool { idle: Vec<u32> }\n\nimpl Pool {\n    /// Hand out an idle connection.\n    pub fn acquire(&mut self) -> Option<u32> { self.idle.pop() }\n}\n",
    );
    write(
        root,
        "scripts/retry.py",
        "import time\n\n\ndef with_backoff(fn, attempts=5):\n    \"\"\"Call fn again after failures, sleeping longer each time.\"\"\"\n    for i in range(attempts):\n        try:\n            return fn()\n        except OSError:\n            time.sleep(0.1 * 2 ** i)\n",
    );
    write(
        root,
        "web/format.js",
        "// Format a price in euros with two decimals.\nexport function formatPrice(cents) {\n  return (cents / 100).toFixed(2) + ' EUR';\n}\n",
    );
}

struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `leann serve --index idx --port 0 EXTRA...`, once it answers /health.
    fn start(idx: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leann"))
            .args(["serve", "--index", idx.to_str().unwrap(), "--port", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(a.trim().parse::<SocketAddr>().unwrap());
                }
                l.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no address: {:?}", log.lock().unwrap()));
        let s = Server { child, addr, log };
        let t = Instant::now();
        loop {
            let (code, v) = s.get("/health");
            if code == 200 {
                break;
            }
            assert_eq!(code, 503, "{v}");
            assert!(t.elapsed() < Duration::from_secs(60), "never ready: {v}");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (c, _, b) = http(self.addr, "GET", path, b"", &[]);
        (c, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (c, _, b) = http(self.addr, "POST", path, body.to_string().as_bytes(), &[]);
        (
            c,
            serde_json::from_slice(&b)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&b))),
        )
    }

    fn search(&self, query: &str, k: usize) -> Vec<Value> {
        let (c, v) = self.post("/search", &json!({"query": query, "top_k": k}));
        assert_eq!(c, 200, "{v}");
        common::items(&v)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Wait until the service's log has a line containing `what`.
    fn wait_log(&self, what: &str) {
        let t = Instant::now();
        while !self.log().contains(what) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no {what:?} in {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until a search for `query` has `path` among its best `k`.
    fn wait_found(&self, query: &str, k: usize, path: &str, within: Duration) {
        let t = Instant::now();
        loop {
            let hits = self.search(query, k);
            if hits.iter().any(|h| h["path"] == path) {
                return;
            }
            assert!(t.elapsed() < within, "{query}: {hits:?}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit code.
    fn terminate(mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request: status, headers, body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let a =
        leann::serve::client::request(addr, method, path, body, headers, Duration::from_secs(120))
            .unwrap();
    (a.status, a.head, a.body)
}

fn indexed_tree() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = common::tempdir();
    let t = d.path().join("tree");
    tree(&t);
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, None);
    (d, t, idx)
}

/// The four endpoints answer in their documented shapes; /search gives what
/// `leann query --format json` gives; the health score of a fresh index with
/// no failed search is 100 (H-4).
#[test]
fn serve_answers_search_batch_health_and_stats() {
    let (_d, _t, idx) = indexed_tree();
    let s = Server::start(&idx, &[]);
    let hits = s.search("check the signature of a bearer token", 3);
    assert_eq!(hits[0]["path"], "src/auth/jwt.rs");
    let cli = common::ok_json(&common::leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "check the signature of a bearer token",
        "--top-k",
        "3",
        "--format",
        "json",
    ]));
    let strip = |v: &Vec<Value>| -> Vec<(Value, Value)> {
        v.iter()
            .map(|r| (r["path"].clone(), r["start_line"].clone()))
            .collect()
    };
    assert_eq!(strip(&hits), strip(&common::items(&cli)));
    // Filters and mode.
    let (c, v) = s.post(
        "/search",
        &json!({"query": "retry after failures", "top_k": 5, "mode": "retrieve",
                "filters": {"languages": ["python"], "paths": ["scripts"]}, "semantic_ratio": 0.7}),
    );
    assert_eq!(c, 200, "{v}");
    let items = common::items(&v);
    assert!(!items.is_empty());
    assert!(items.iter().all(|r| r["language"] == "python"), "{v}");
    // A batch: strings and requests, ids echoed, one failing query answered
    // in place.
    let (c, v) = s.post(
        "/batch",
        &json!({"queries": ["format a price", {"id": "pool", "query": "database connection pool", "top_k": 1}], "top_k": 2}),
    );
    assert_eq!(c, 200, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["id"], 0);
    assert_eq!(common::items(&r[0]).len(), 2);
    assert_eq!(common::items(&r[0])[0]["path"], "web/format.js");
    assert_eq!(r[1]["id"], "pool");
    assert_eq!(common::items(&r[1])[0]["path"], "src/db/pool.rs");
    let (c, v) = s.post("/batch", &json!({"queries": ["pool", "?!"]}));
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["results"][1]["status"], 400, "{v}");
    assert!(v["results"][1]["error"]
        .as_str()
        .unwrap()
        .contains("no words"));
    // /health after those searches; /stats is what `index stats --json` says.
    let (c, h) = s.get("/health");
    assert_eq!(c, 200);
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["healthScore"], 100);
    assert!(h["storageSize"].as_u64().unwrap() > 0);
    assert!(h["avgLatency"].as_f64().unwrap() > 0.0, "{h}");
    assert_eq!(h["queries"], 4, "{h}");
    let (c, st) = s.get("/stats");
    assert_eq!(c, 200);
    let cli = common::ok_json(&common::leann(&[
        "index",
        "stats",
        idx.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(st, cli);
    assert_eq!(st["deltaIndexSize"], 0);
    assert!(st["mainIndexSize"].as_u64().unwrap() > 0);
    assert_eq!(s.terminate(), Some(0));
}

/// H-2: bad requests get 4xx naming the field; limits hold.
#[test]
fn serve_refuses_bad_requests_naming_the_field() {
    let (_d, _t, idx) = indexed_tree();
    let s = Server::start(&idx, &["--max-body-bytes", "20000"]);
    for (body, field) in [
        (json!({"query": "pool", "top_k": 0}), "top_k"),
        (json!({"query": "pool", "top_k": 100000}), "top_k"),
        (json!({"query": "pool", "top_k": "ten"}), "top_k"),
        (json!({"query": "pool", "mode": "fast"}), "mode"),
        (json!({"query": "pool", "mode": "rerank"}), "mode"),
        (
            json!({"query": "pool", "semantic_ratio": 2.0}),
            "semantic_ratio",
        ),
        (
            json!({"query": "pool", "filters": {"languages": ["klingon"]}}),
            "filters.languages[0]",
        ),
        (
            json!({"query": "pool", "filters": {"colour": "red"}}),
            "filters.colour",
        ),
        (json!({"query": "pool", "topk": 3}), "topk"),
        (json!({"query": 7}), "query"),
        (json!({"query": "x".repeat(9000)}), "query"),
    ] {
        let (c, v) = s.post("/search", &body);
        assert_eq!(c, 400, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().len() > 5);
    }
    let (c, v) = s.post("/search", &json!({"query": "  "}));
    assert_eq!((c, v["field"].as_str()), (400, Some("query")), "{v}");
    let (c, _, b) = http(s.addr, "POST", "/search", b"{not json", &[]);
    assert_eq!(c, 400, "{}", String::from_utf8_lossy(&b));
    let big = vec![b' '; 30_000];
    let (c, _, _) = http(s.addr, "POST", "/search", &big, &[]);
    assert_eq!(c, 413);
    let (c, v) = s.post("/batch", &json!({"queries": []}));
    assert_eq!((c, v["field"].as_str()), (400, Some("queries")), "{v}");
    let (c, v) = s.post(
        "/batch",
        &json!({"queries": ["a", {"query": "b", "top_k": 0}]}),
    );
    assert_eq!(
        (c, v["field"].as_str()),
        (400, Some("queries[1].top_k")),
        "{v}"
    );
    let (c, _) = s.get("/search");
    assert_eq!(c, 405);
    let (c, v) = s.get("/nothing");
    assert_eq!(c, 404);
    assert!(v["error"].as_str().unwrap().contains("/search"));
    // Nothing above counts as a failed search.
    let (_, h) = s.get("/health");
    assert_eq!(h["errors"], 0, "{h}");
    assert_eq!(h["healthScore"], 100, "{h}");
}

/// H-1: a token file guards every endpoint; other hosts need one.
#[test]
fn serve_checks_the_bearer_token() {
    use std::os::unix::fs::PermissionsExt;
    let (d, _t, idx) = indexed_tree();
    let tok = d.path().join("token");
    fs::write(&tok, "0123456789abcdef0123\n").unwrap();
    fs::set_permissions(&tok, fs::Permissions::from_mode(0o644)).unwrap();
    // Readable by others: refused, naming the flag.
    let o = common::leann(&[
        "serve",
        "--index",
        idx.to_str().unwrap(),
        "--port",
        "0",
        "--token-file",
        tok.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("chmod 600"),
        "{o:?}"
    );
    fs::set_permissions(&tok, fs::Permissions::from_mode(0o600)).unwrap();
    // Another host without a token: refused before listening.
    let o = common::leann(&[
        "serve",
        "--index",
        idx.to_str().unwrap(),
        "--port",
        "0",
        "--host",
        "0.0.0.0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--token-file"),
        "{o:?}"
    );
    let s = Server::start_with_token(&idx, &tok);
    let body = json!({"query": "pool"}).to_string();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer 0123456789abcdef012"),
        Some("0123456789abcdef0123"),
    ] {
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let (c, head, _) = http(s.addr, "POST", "/search", body.as_bytes(), &h);
        assert_eq!(c, 401, "{auth:?}");
        assert!(head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"));
        let (c, _, _) = http(s.addr, "GET", "/health", b"", &h);
        assert_eq!(c, 401, "{auth:?}");
    }
    let good = [("Authorization", "Bearer 0123456789abcdef0123")];
    let (c, _, b) = http(s.addr, "POST", "/search", body.as_bytes(), &good);
    assert_eq!(c, 200, "{}", String::from_utf8_lossy(&b));
    let (c, _, _) = http(s.addr, "GET", "/stats", b"", &good);
    assert_eq!(c, 200);
}

impl Server {
    fn start_with_token(idx: &Path, tok: &Path) -> Server {
        // /health needs the token too, so readiness is awaited by hand.
        let mut child = Command::new(env!("CARGO_BIN_EXE_leann"))
            .args(["serve", "--index", idx.to_str().unwrap(), "--port", "0"])
            .args(["--token-file", tok.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(a) = line.split("listening on http://").nth(1) {
                addr = Some(a.trim().parse().unwrap());
            }
            if line.contains("ready:") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr: addr.expect("listening line"),
            log: Default::default(),
        }
    }
}

/// H-2: past the running and waiting places, 503 at once with Retry-After;
/// past the timeout, 504.
#[test]
fn serve_bounds_concurrent_searches() {
    let (_d, _t, idx) = indexed_tree();
    let s = Server::start(&idx, &["--max-concurrent", "1", "--max-queued", "0"]);
    let queries: Vec<String> = (0..200)
        .map(|i| format!("database pool connection {i}"))
        .collect();
    let body = json!({"queries": queries, "top_k": 10}).to_string();
    let codes: Vec<(u16, String)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                sc.spawn(|| {
                    let (c, head, _) = http(s.addr, "POST", "/batch", body.as_bytes(), &[]);
                    (c, head)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = codes.iter().filter(|c| c.0 == 200).count();
    let busy: Vec<_> = codes.iter().filter(|c| c.0 == 503).collect();
    assert!(ok >= 1, "{codes:?}");
    assert!(
        !busy.is_empty(),
        "6 batches at once, 1 place, no queue: {codes:?}"
    );
    assert_eq!(ok + busy.len(), 6, "{codes:?}");
    assert!(busy[0].1.to_ascii_lowercase().contains("retry-after: 1"));
    let (_, h) = s.get("/health");
    assert_eq!(h["rejected"], busy.len(), "{h}");
    drop(s);
    let s = Server::start(&idx, &["--timeout-ms", "1"]);
    let (c, v) = s.post("/batch", &json!({"queries": queries, "top_k": 50}));
    assert_eq!(c, 504, "{v}");
}

/// Issue 17 §1: 50 clients × 40 queries while files are edited under
/// --watch: no errors, and the edits become searchable (H-3).
#[test]
fn serve_load_while_watching_edits() {
    let (_d, t, idx) = indexed_tree();
    let s = Server::start(&idx, &["--watch", "--debounce-ms", "100"]);
    s.wait_log("watching");
    let queries = [
        "check the signature of a bearer token",
        "database connection pool",
        "retry with backoff after failures",
        "format a price in euros",
        "verify_token",
    ];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let failures = Mutex::new(Vec::new());
    let answered = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        // The editor: a new function every 150 ms (batches between edits,
        // the debounce being 100 ms).
        let editor = sc.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 40 {
                write(
                    &t,
                    &format!("src/gen/edit{}.rs", n % 4),
                    &format!(
                        "/// Generated helper number {n}.\npub fn helper_{n}() -> u32 {{ {n} }}\n"
                    ),
                );
                n += 1;
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        let clients: Vec<_> = (0..50)
            .map(|c| {
                let (s, failures, answered) = (&s, &failures, &answered);
                sc.spawn(move || {
                    for i in 0..40 {
                        let q = queries[(c + i) % queries.len()];
                        let body = json!({"query": q, "top_k": 5}).to_string();
                        let (code, _, b) = http(s.addr, "POST", "/search", body.as_bytes(), &[]);
                        if code != 200 {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{code}: {}", String::from_utf8_lossy(&b)));
                            continue;
                        }
                        let v: Value = serde_json::from_slice(&b).unwrap();
                        if common::items(&v).is_empty() {
                            failures.lock().unwrap().push(format!("no items for {q}"));
                        }
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        // Paced, so that the load spans several batches.
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        editor.join().unwrap();
    });
    let f = failures.into_inner().unwrap();
    assert!(f.is_empty(), "{} failures, first: {:?}", f.len(), f.first());
    assert_eq!(answered.into_inner(), 2000);
    let (_, h) = s.get("/health");
    assert!(
        h["watch"]["batches"].as_u64().unwrap() >= 2,
        "the edits were not indexed during the load: {h}"
    );
    // A last edit is searchable within a few seconds of its save.
    write(
        &t,
        "src/gen/zebra.rs",
        "/// Count the stripes of a zebra quagga.\npub fn zebra_quagga_stripes() -> u32 { 42 }\n",
    );
    s.wait_found(
        "zebra quagga stripes",
        1,
        "src/gen/zebra.rs",
        Duration::from_secs(20),
    );
    let (_, h) = s.get("/health");
    assert_eq!(h["errors"], 0, "{h}");
    assert!(h["watch"]["batches"].as_u64().unwrap() >= 1, "{h}");
    // H-5: SIGTERM ends it cleanly, and what the watch wrote is durable.
    let log = s.log.clone();
    assert_eq!(s.terminate(), Some(0), "{}", log.lock().unwrap().join("\n"));
    let v = common::ok_json(&common::leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "zebra quagga stripes",
        "--top-k",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(common::items(&v)[0]["path"], "src/gen/zebra.rs");
}

/// Another writer's update (a one-shot `index update`) is picked up by a
/// service without --watch (H-3).
#[test]
fn serve_sees_other_writers() {
    let (_d, t, idx) = indexed_tree();
    let s = Server::start(&idx, &[]);
    write(
        &t,
        "src/gen/okapi.rs",
        "/// Feed the okapi at the zoo.\npub fn feed_okapi() {}\n",
    );
    let o = common::leann(&["index", "update", "--index", idx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    s.wait_found(
        "feed the okapi",
        1,
        "src/gen/okapi.rs",
        Duration::from_secs(10),
    );
    let (_, h) = s.get("/health");
    assert!(h["deltaIndexSize"].as_u64().unwrap() > 0, "{h}");
    assert!(h["snapshot"].as_u64().unwrap() >= 2, "{h}");
}

/// Hostile peers (H-2): one that never finishes its request head is cut off
/// after the header timeout; garbage gets 400 or a closed connection; past
/// the connection cap new connections are closed at once; the service
/// answers others throughout.
#[test]
fn serve_survives_slow_and_garbage_peers() {
    use std::io::{Read, Write};
    let (_d, _t, idx) = indexed_tree();
    let s = Server::start(&idx, &["--header-timeout-ms", "300"]);
    // Garbage.
    for junk in [
        &b"\x00\xff\xfe GARBAGE \x01\r\n\r\n"[..],
        b"POST /search HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ] {
        let mut c = std::net::TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(junk).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{junk:?} -> {text}"
        );
    }
    assert_eq!(s.search("database pool", 1).len(), 1);
    // A slow peer: half a request head, then nothing.
    let mut slow = std::net::TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    let _ = slow.read_to_end(&mut got);
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the slow peer was held {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    // The connection cap: three idle connections fill it, a fourth is
    // closed at once (long before the header timeout), and once they are
    // gone requests are answered again.
    drop(s);
    let s = Server::start(&idx, &["--max-connections", "3"]);
    // Hold three open connections (one opened while an earlier request's
    // connection was still counted is closed: open another).
    let is_open = |c: &mut std::net::TcpStream| {
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut b = [0u8; 1];
        matches!(c.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
    };
    let mut idle: Vec<std::net::TcpStream> = Vec::new();
    let t = Instant::now();
    while idle.len() < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "could not hold 3 connections"
        );
        idle.push(std::net::TcpStream::connect(s.addr).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        idle.retain_mut(|c| is_open(c));
    }
    let mut fourth = std::net::TcpStream::connect(s.addr).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = fourth.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let t = Instant::now();
    let mut got = Vec::new();
    let _ = fourth.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(idle);
    let t = Instant::now();
    loop {
        let (c, _) = s.get("/health");
        if c == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A service over a missing or damaged index exits 2 naming it, after
/// answering 503 meanwhile; a watching service and a one-shot `index
/// update` share the index (L-1: one writer at a time), and neither loses
/// the other's change.
#[test]
fn serve_shares_the_index_with_other_writers_and_names_a_bad_one() {
    let d = common::tempdir();
    let missing = d.path().join("no-such-index");
    let o = common::leann(&["serve", "--index", missing.to_str().unwrap(), "--port", "0"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no-such-index"),
        "{o:?}"
    );
    let (_d, t, idx) = indexed_tree();
    let s = Server::start(&idx, &["--watch", "--debounce-ms", "50"]);
    s.wait_log("watching");
    for i in 0..5 {
        write(
            &t,
            &format!("src/gen/a{i}.rs"),
            &format!("/// Watched helper {i}.\npub fn watched_{i}() {{}}\n"),
        );
        write(
            &t,
            &format!("lib/b{i}.py"),
            &format!("def one_shot_{i}():\n    \"\"\"One-shot helper {i}.\"\"\"\n"),
        );
        let o = common::leann(&[
            "index",
            "update",
            "--index",
            idx.to_str().unwrap(),
            "--wait-lock",
            "30",
        ]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    }
    // Every file is findable through the service, whichever writer took it.
    for i in 0..5 {
        for (q, want) in [
            (format!("watched_{i}"), format!("src/gen/a{i}.rs")),
            (format!("one_shot_{i}"), format!("lib/b{i}.py")),
        ] {
            s.wait_found(&q, 3, &want, Duration::from_secs(20));
        }
    }
    let (_, h) = s.get("/health");
    assert_eq!(h["errors"], 0, "{h}");
    assert!(h["watch"]["error"].is_null(), "{h}");
}

/// H-3: under --watch the service compacts when the policy asks (here
/// after 3 upserts); searches running meanwhile get answers, and the
/// compacted index, the next snapshot, holds every change.
#[test]
fn serve_compacts_in_the_background_while_searching() {
    let d = common::tempdir();
    let t = d.path().join("tree");
    tree(&t);
    let cfg = d.path().join("cfg.json");
    fs::write(&cfg, r#"{"incremental": {"deltaIndexThreshold": 3}}"#).unwrap();
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, Some(&cfg));
    let s = Server::start(&idx, &["--watch", "--debounce-ms", "50"]);
    s.wait_log("watching");
    let done = std::sync::atomic::AtomicBool::new(false);
    let answered = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        let searcher = sc.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                assert!(!s.search("database connection pool", 3).is_empty());
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        for i in 0..6 {
            write(
                &t,
                &format!("src/zoo/animal{i}.rs"),
                &format!("/// Feed animal number {i} of the zoo.\npub fn feed_animal_{i}() {{}}\n"),
            );
        }
        s.wait_log("compacted");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        searcher.join().unwrap();
    });
    assert!(answered.into_inner() > 0);
    // The next snapshot is the compacted index: no upserts left, every new
    // function there.
    let t0 = Instant::now();
    loop {
        let (_, st) = s.get("/stats");
        if st["deltaUpserts"] == 0 && st["segments"] == 1 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..6 {
        let hits = s.search(&format!("feed_animal_{i}"), 3);
        assert!(
            hits.iter()
                .any(|h| h["path"] == format!("src/zoo/animal{i}.rs").as_str()),
            "{i}: {hits:?}"
        );
    }
    let (_, h) = s.get("/health");
    assert_eq!(h["errors"], 0, "{h}");
}
