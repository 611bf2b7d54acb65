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
    // batch 3 so that 6 texts take two requests.
    let client = RemoteEmbedder::connect(&cfg(&srv.endpoint, 10_000, 3)).unwrap();
    assert_eq!(client.model_id(), local.model_id());
    assert_eq!(client.dim(), local.dim());
    let texts = [
        "fn main() { println!(\"hi\"); }",
        "def add(a, b): return a + b",
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
    // Z-4: a text with no token the model knows has no embedding (a zero
    // vector locally): the server says so, it does not send zeros.
    let e = client.embed(&["a", ""]).unwrap_err().to_string();
    assert!(e.contains("text 1 has no token the model knows"), "{e}");
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
        Err(e) => {
            // A caller can tell a timeout from a bad reply (issue 14).
            assert!(
                matches!(
                    &e,
                    leann::Error::Server {
                        fault: leann::error::ServerFault::Timeout,
                        endpoint: ep,
                        ..
                    } if *ep == endpoint
                ),
                "{e:?}"
            );
            e.to_string()
        }
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
    // Z-1: the endpoint recorded in the index is not used by itself.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--embed-server") && err.contains("LEANN_EMBED_SERVER"),
        "{err}"
    );
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let with_flag = run(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "sum of two integers",
        "--format",
        "json",
        "--embed-server",
        &endpoint,
    ]);
    assert_eq!(
        with_flag.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&with_flag.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&with_flag.stdout).unwrap();
    assert_eq!(common::items(&v)[0]["path"], "src/lib.rs");
    let with_env = std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args([
            "query",
            "--index",
            idx.to_str().unwrap(),
            "--query",
            "sum of two integers",
        ])
        .env("LEANN_EMBED_SERVER", &endpoint)
        .output()
        .unwrap();
    assert_eq!(with_env.status.code(), Some(0));
}

/// Z-3: peers that send garbage (raw bytes that are not ZeroMQ, frames
/// without an envelope, many frames, an empty frame) and go away do not cost
/// the next client its answer; an oversized frame gets an error reply.
#[test]
fn garbage_peers_do_not_stall_the_server() {
    use std::io::Write;
    let srv = Running::start();
    let addr = srv.endpoint.trim_start_matches("tcp://").to_string();
    let mut rng = leann::ann::rng::Rng::new(7);
    for round in 0..5 {
        // Raw TCP: random bytes, then gone.
        let mut t = std::net::TcpStream::connect(&addr).unwrap();
        let junk: Vec<u8> = (0..4096).map(|_| (rng.next_u64() & 0xff) as u8).collect();
        let _ = t.write_all(&junk);
        drop(t);
        // A ZMTP greeting, then garbage, then gone.
        let mut t = std::net::TcpStream::connect(&addr).unwrap();
        let mut greet = vec![0xffu8, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0];
        greet.extend_from_slice(b"NULL");
        greet.resize(64, 0);
        let _ = t.write_all(&greet);
        let _ = t.write_all(&junk[..512]);
        drop(t);
        // A DEALER that sends malformed messages and leaves without reading.
        let ctx = zmq::Context::new();
        let d = ctx.socket(zmq::DEALER).unwrap();
        d.set_linger(100).unwrap();
        d.connect(&srv.endpoint).unwrap();
        d.send_multipart([&b"no delimiter"[..]], 0).unwrap();
        d.send_multipart([&b""[..], &b"a"[..], &b"b"[..]], 0)
            .unwrap();
        d.send_multipart([&b""[..]], 0).unwrap();
        d.send_multipart([&b""[..], &junk[..100]], 0).unwrap();
        drop(d);
        // A legitimate client is answered, every time.
        let client = RemoteEmbedder::connect(&cfg(&srv.endpoint, 5000, 8)).unwrap();
        for i in 0..2 {
            let v = client
                .embed(&["hello world"])
                .unwrap_or_else(|e| panic!("round {round}, request {i}: {e}"));
            assert_eq!(v.len(), 256);
        }
    }
    // An oversized request: an error reply, not a dropped connection.
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::REQ).unwrap();
    s.set_rcvtimeo(20_000).unwrap();
    s.connect(&srv.endpoint).unwrap();
    let big = vec![b' '; leann::embed::remote::MAX_REQUEST_BYTES + 1];
    s.send(&big[..], 0).unwrap();
    let parts = s
        .recv_multipart(0)
        .expect("an error reply to an oversized request");
    let v: serde_json::Value = serde_json::from_slice(&parts[0]).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("exceeds"), "{v}");
}

/// A hostile server, in a thread: answers `info` with `info`, then every
/// embed request with `embed` (the frames to send).
fn fake_server(info: Vec<Vec<u8>>, embed: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::REP).unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    let ep = s.get_last_endpoint().unwrap().unwrap();
    let t = std::thread::spawn(move || {
        s.set_rcvtimeo(1500).unwrap();
        while let Ok(req) = s.recv_bytes(0) {
            let reply = if req.windows(4).any(|w| w == b"info") {
                info.clone()
            } else {
                embed.clone()
            };
            if s.send_multipart(reply, 0).is_err() {
                break;
            }
        }
        drop(ctx);
    });
    (ep, t)
}

/// Z-2: a server's replies are checked before they are used: no dimension
/// or count is trusted for an allocation, vectors must be finite and not all
/// zero, and every failure is an error naming the endpoint, never a panic.
#[test]
fn hostile_replies_are_errors_not_crashes() {
    let info = |dim: &str| {
        vec![format!(r#"{{"ok":true,"model":"m","dim":{dim},"maxBatch":8}}"#).into_bytes()]
    };
    // Info replies that cannot be used.
    for bad in ["0", "1099511627776", "18446744073709551615", "-1", "\"x\""] {
        let (ep, t) = fake_server(info(bad), vec![]);
        let e = match RemoteEmbedder::connect(&cfg(&ep, 2000, 8)) {
            Ok(_) => panic!("dim {bad} accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(&ep), "{e}");
        t.join().unwrap();
    }
    let head =
        |count: usize| format!(r#"{{"ok":true,"model":"m","dim":4,"count":{count}}}"#).into_bytes();
    let floats = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("bytes of vectors", vec![head(1_000_000), floats(&[1.0; 4])]),
        ("bytes", vec![head(1), floats(&[1.0; 3])]),
        ("bytes", vec![head(1), floats(&[1.0; 400])]),
        ("NaN", vec![head(1), floats(&[f32::NAN, 1.0, 0.0, 0.0])]),
        (
            "infinity",
            vec![head(1), floats(&[f32::INFINITY, 1.0, 0.0, 0.0])],
        ),
        ("all zeros", vec![head(1), floats(&[0.0; 4])]),
        ("frames", vec![head(1)]),
        (
            "malformed reply",
            vec![b"\xff\xfe not json".to_vec(), floats(&[1.0; 4])],
        ),
        (
            "now serves",
            vec![
                br#"{"ok":true,"model":"other","dim":4,"count":1}"#.to_vec(),
                floats(&[1.0; 4]),
            ],
        ),
        (
            "\\u{1b}",
            vec![b"{\"ok\":false,\"error\":\"\\u001b[2J\"}".to_vec()],
        ),
    ];
    for (want, reply) in cases {
        let (ep, t) = fake_server(info("4"), reply);
        let client = RemoteEmbedder::connect(&cfg(&ep, 2000, 8)).unwrap();
        let err = client.embed(&["x"]).unwrap_err();
        // The server's own error is `Refused`; every other case is a reply
        // leann refuses.
        let fault = if want == "\\u{1b}" {
            leann::error::ServerFault::Refused
        } else {
            leann::error::ServerFault::BadReply
        };
        assert!(
            matches!(&err, leann::Error::Server { fault: f, .. } if *f == fault),
            "{want}: {err:?}"
        );
        let e = err.to_string();
        assert!(e.contains(&ep) && e.contains(want), "{want}: {e}");
        drop(client);
        t.join().unwrap();
    }
    // A reply larger than any batch could need is dropped by the transport:
    // the request times out, nothing that size is allocated by leann.
    let (ep, t) = fake_server(info("4"), vec![head(1), vec![0u8; 40 << 20]]);
    let mut c = cfg(&ep, 1500, 1);
    c.batch_size = Some(1);
    let client = RemoteEmbedder::connect(&c).unwrap();
    let e = client.embed(&["x"]).unwrap_err().to_string();
    assert!(e.contains("no reply within"), "{e}");
    drop(client);
    t.join().unwrap();
}

/// Issue 16 §5: several servers behind one endpoint list. Batches are
/// spread over all of them (each serves some) and come back in order; a
/// server that stops, or one that answers garbage, has its batches retried
/// on the others; only when every server fails is it an error, naming the
/// list; servers of different models are refused at connect.
#[test]
fn several_servers_share_batches_and_cover_for_each_other() {
    let local = StaticModel::builtin().unwrap();
    // 600 requests of 2 texts: long enough that both client threads run
    // even on a loaded machine.
    let texts: Vec<String> = (0..1200)
        .map(|i| format!("open connection number {i} to the database"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let direct = local.embed(&refs).unwrap();
    let same = |v: &[f32]| {
        assert_eq!(v.len(), direct.len());
        for (a, b) in v.iter().zip(&direct) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    };
    let (mut a, mut b) = (Running::start(), Running::start());
    let list = format!("{}, {}", a.endpoint, b.endpoint);
    let client = RemoteEmbedder::connect(&cfg(&list, 2_000, 2)).unwrap();
    assert_eq!(
        client.endpoints(),
        vec![a.endpoint.as_str(), b.endpoint.as_str()]
    );
    same(&client.embed(&refs).unwrap());
    // Both servers took part (each reports the requests it served).
    let stop = |r: &mut Running| {
        r.stop.store(true, Ordering::Relaxed);
        r.thread.take().unwrap().join().unwrap()
    };
    let served_a = stop(&mut a);
    // a is down: b serves everything, a's batches included.
    same(&client.embed(&refs).unwrap());
    let served_b = stop(&mut b);
    assert!(served_a > 1 && served_b > 1, "a {served_a}, b {served_b}");
    // Both down: an error that says so and names the list.
    let e = client.embed(&refs).unwrap_err().to_string();
    assert!(e.contains("every one of 2 servers failed"), "{e}");
    assert!(e.contains(&a.endpoint), "{e}");

    // A peer that answers its info correctly, then garbage: its batches go
    // to the good server.
    let good = Running::start();
    let info = format!(
        r#"{{"ok":true,"model":"{}","dim":{},"maxBatch":8}}"#,
        local.model_id(),
        local.dim()
    );
    let (bad_ep, t) = fake_server(vec![info.into_bytes()], vec![b"\x00garbage".to_vec()]);
    let client =
        RemoteEmbedder::connect(&cfg(&format!("{bad_ep},{}", good.endpoint), 2_000, 2)).unwrap();
    same(&client.embed(&refs).unwrap());
    drop(client);
    t.join().unwrap();

    // Servers of different models are refused, naming both.
    let (other_ep, t) = fake_server(
        vec![br#"{"ok":true,"model":"other-model","dim":256,"maxBatch":8}"#.to_vec()],
        vec![],
    );
    let e = match RemoteEmbedder::connect(&cfg(&format!("{},{other_ep}", good.endpoint), 2_000, 2))
    {
        Ok(_) => panic!("servers of different models accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("disagree") && e.contains(&other_ep) && e.contains(&good.endpoint),
        "{e}"
    );
    t.join().unwrap();
    // An empty list is a config error naming the field.
    let e = match RemoteEmbedder::connect(&cfg(" , ", 2_000, 2)) {
        Ok(_) => panic!("empty endpoint list accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("embeddingServer.endpoint"), "{e}");
}
