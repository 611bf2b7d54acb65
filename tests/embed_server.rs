//! The ZeroMQ embedding server and client over loopback (issue 3, item 4;
//! protocol in SPEC.md "Embedding server protocol").

mod common;

use leann::embed::remote::{RemoteEmbedder, Server, ServerConfig};
use leann::embed::static_model::StaticModel;
use leann::embed::Embedder;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cfg(endpoint: &str, timeout_ms: u64, batch: usize) -> ServerConfig {
    ServerConfig {
        endpoint: endpoint.to_string(),
        model: None,
        batch_size: Some(batch),
        timeout: Some(timeout_ms),
    }
}

/// A server on a free loopback port, serving the built-in model in a thread.
struct Running {
    endpoint: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Running {
    fn start() -> Running {
        let server = Server::bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = server.endpoint().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let model = StaticModel::builtin().unwrap();
            server.serve(&model, &s2).unwrap()
        });
        Running {
            endpoint,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn round_trip_matches_the_local_model() {
    let srv = Running::start();
    let local = StaticModel::builtin().unwrap();
    // batch 3 so that 7 texts take three requests.
    let client = RemoteEmbedder::connect(&cfg(&srv.endpoint, 10_000, 3)).unwrap();
    assert_eq!(client.model_id(), local.model_id());
    assert_eq!(client.dim(), local.dim());
    let texts = [
        "fn main() { println!(\"hi\"); }",
        "def add(a, b): return a + b",
        "",
        "open a connection to the database",
        "retry with exponential backoff",
        "ünïcödé text",
        "x",
    ];
    let remote = client.embed(&texts).unwrap();
    let direct = local.embed(&texts).unwrap();
    assert_eq!(remote.len(), direct.len());
    for (a, b) in remote.iter().zip(&direct) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // An empty batch is fine.
    assert!(client.embed(&[]).unwrap().is_empty());
}

#[test]
fn malformed_requests_get_error_replies() {
    let srv = Running::start();
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::REQ).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.connect(&srv.endpoint).unwrap();
    for bad in [
        &b"not json"[..],
        br#"{"op":"dance"}"#,
        br#"{"op":"embed"}"#,
        br#"{"op":"embed","texts":[1,2]}"#,
        br#"{"op":"embed","texts":["a"],"extra":1}"#,
    ] {
        s.send(bad, 0).unwrap();
        let parts = s.recv_multipart(0).unwrap();
        assert_eq!(parts.len(), 1);
        let v: serde_json::Value = serde_json::from_slice(&parts[0]).unwrap();
        assert_eq!(v["ok"], false, "{}", String::from_utf8_lossy(bad));
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let too_many: Vec<&str> = vec!["a"; leann::embed::remote::MAX_BATCH_TEXTS + 1];
    s.send(
        serde_json::json!({"op":"embed","texts":too_many})
            .to_string()
            .as_bytes(),
        0,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&s.recv_multipart(0).unwrap()[0]).unwrap();
    assert_eq!(v["ok"], false);
    // Info still answers after errors (health check).
    s.send(&br#"{"op":"info"}"#[..], 0).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&s.recv_multipart(0).unwrap()[0]).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["dim"], 256);
}

#[test]
fn server_down_fails_within_the_timeout_naming_the_endpoint() {
    // A port nothing listens on: bind, learn the port, close.
    let endpoint = {
        let s = Server::bind("tcp://127.0.0.1:*").unwrap();
        s.endpoint().to_string()
    };
    let t = Instant::now();
    let err = match RemoteEmbedder::connect(&cfg(&endpoint, 300, 8)) {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    let took = t.elapsed();
    assert!(err.contains(&endpoint), "{err}");
    assert!(err.contains("300 ms"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn server_stopping_mid_session_is_an_error_then_recovers() {
    let srv = Running::start();
    let endpoint = srv.endpoint.clone();
    let client = RemoteEmbedder::connect(&cfg(&endpoint, 300, 8)).unwrap();
    assert_eq!(client.embed(&["a"]).unwrap().len(), 256);
    drop(srv);
    let err = client.embed(&["a"]).unwrap_err().to_string();
    assert!(err.contains(&endpoint), "{err}");
    // A new server on the same endpoint: the client reconnects.
    let server = Server::bind(&endpoint).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        let model = StaticModel::builtin().unwrap();
        server.serve(&model, &s2).unwrap()
    });
    let v = client.embed(&["a", "b"]);
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    assert_eq!(v.unwrap().len(), 512);
}

/// `leann embed-server` as a process, then `index create` and `query` with a
/// config that names it: the index records the server's model, and queries
/// go through the server too.
#[test]
fn cli_indexes_and_queries_through_the_server() {
    let port = {
        let s = Server::bind("tcp://127.0.0.1:*").unwrap();
        s.endpoint().rsplit(':').next().unwrap().to_string()
    };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(["embed-server", "--model", "builtin", "--port", &port])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child);
    let d = common::tempdir();
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(
        tree.join("src/lib.rs"),
        "/// Add two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    )
    .unwrap();
    let cfg_path = d.path().join("cfg.json");
    std::fs::write(
        &cfg_path,
        format!(
            r#"{{"embeddingServer": {{"endpoint": "tcp://127.0.0.1:{port}", "batchSize": 16, "timeout": 20000}}}}"#
        ),
    )
    .unwrap();
    let idx = d.path().join("idx");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "index",
        "create",
        "--input",
        tree.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
        "--config",
        cfg_path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("embedding server tcp://127.0.0.1:"));
    let out = run(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "sum of two integers",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["path"], "src/lib.rs");
}
