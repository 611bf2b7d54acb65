//! The service benchmark (issue 17 §1): `leann serve` on an index, then
//! search latency (p50, p99) and throughput over HTTP with 1 and 8 client
//! threads, and with `--watch-file`, how long a save takes to be searchable.
//!
//!     cargo bench --bench serve -- --index IDX --queries FILE \
//!         [--threads 1,8] [--seconds 10] [--top-k 10] \
//!         [--watch-file TREE/FILE.rs --edits 10] [--json out.json]
//!
//! FILE holds one query per line, or JSON lines with a `query` field (the
//! dev set's relevance.jsonl). With `--watch-file`, the service runs with
//! `--watch`: each edit appends a comment with a word of its own to that
//! file (which must be in the indexed tree; it is restored afterwards) and
//! times the save to the first `/search` that ranks the file first for
//! that word (lexical side only). `--threads ''` skips the load.

use leann::serve::client::request;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEANN: &str = env!("CARGO_BIN_EXE_leann");
const TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    index: PathBuf,
    queries: PathBuf,
    threads: Vec<usize>,
    seconds: f64,
    top_k: usize,
    watch_file: Option<PathBuf>,
    edits: usize,
    json: Option<PathBuf>,
}

fn die(why: &str) -> ! {
    eprintln!("serve bench: {why}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        index: PathBuf::new(),
        queries: PathBuf::new(),
        threads: vec![1, 8],
        seconds: 10.0,
        top_k: 10,
        watch_file: None,
        edits: 10,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(f) = it.next() {
        let mut v = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{f} needs a value")))
        };
        match f.as_str() {
            "--index" => a.index = v().into(),
            "--queries" => a.queries = v().into(),
            "--threads" => {
                a.threads = v()
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(|t| t.parse().unwrap_or_else(|_| die("--threads: numbers")))
                    .collect()
            }
            "--seconds" => a.seconds = v().parse().unwrap_or_else(|_| die("--seconds")),
            "--top-k" => a.top_k = v().parse().unwrap_or_else(|_| die("--top-k")),
            "--watch-file" => a.watch_file = Some(v().into()),
            "--edits" => a.edits = v().parse().unwrap_or_else(|_| die("--edits")),
            "--json" => a.json = Some(v().into()),
            // cargo bench passes --bench.
            "--bench" => {}
            other => die(&format!("unknown flag {other}")),
        }
    }
    if a.index.as_os_str().is_empty() || a.queries.as_os_str().is_empty() {
        die("--index IDX and --queries FILE are required");
    }
    a
}

fn read_queries(p: &PathBuf) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| die(&format!("{}: {e}", p.display())));
    let qs: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v["query"].is_string() => v["query"].as_str().unwrap_or("").to_string(),
            _ => l.to_string(),
        })
        .collect();
    if qs.is_empty() {
        die("no queries");
    }
    qs
}

struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn start(index: &PathBuf, watch: bool) -> Service {
    let mut cmd = Command::new(LEANN);
    cmd.args(["serve", "--index"])
        .arg(index)
        .args(["--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if watch {
        cmd.args(["--watch", "--debounce-ms", "300"]);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| die(&format!("{LEANN}: {e}")));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap_or_else(|| die("no stderr"));
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.split("listening on http://").nth(1) {
                let _ = tx.send((Some(a.trim().to_string()), false));
            }
            let _ = tx.send((None, line.contains("watching")));
        }
    });
    let t = Instant::now();
    let mut addr = None;
    let mut watching = !watch;
    while addr.is_none() || !watching {
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok((Some(a), _)) => addr = a.parse().ok(),
            Ok((None, w)) => watching |= w,
            Err(_) => die("the service did not start"),
        }
    }
    let s = Service {
        child,
        addr: addr.unwrap_or_else(|| die("no address")),
    };
    while request(s.addr, "GET", "/health", b"", &[], TIMEOUT)
        .map(|a| a.status)
        .ok()
        != Some(200)
    {
        if t.elapsed() > Duration::from_secs(600) {
            die("the service never became ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

fn search(addr: SocketAddr, q: &str, k: usize) -> (u16, Value) {
    search_body(addr, json!({"query": q, "top_k": k}))
}

fn search_body(addr: SocketAddr, body: Value) -> (u16, Value) {
    let body = body.to_string();
    match request(addr, "POST", "/search", body.as_bytes(), &[], TIMEOUT) {
        Ok(a) => (a.status, a.json()),
        Err(e) => (0, json!({"error": e.to_string()})),
    }
}

/// `percentile`, but NaN (JSON null) with no samples rather than 0.
fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    leann::bench::harness::percentile(v, p)
}

fn main() {
    let a = parse_args();
    let queries = read_queries(&a.queries);
    let mut rows = Vec::new();
    {
        let s = start(&a.index, false);
        // Warm: every query once.
        for q in &queries {
            search(s.addr, q, a.top_k);
        }
        for &threads in &a.threads {
            let until = Instant::now() + Duration::from_secs_f64(a.seconds);
            let t0 = Instant::now();
            let per: Vec<(Vec<f64>, usize)> = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let (queries, addr, k) = (&queries, s.addr, a.top_k);
                        sc.spawn(move || {
                            let (mut lat, mut errors) = (Vec::new(), 0usize);
                            let mut i = t * 7919;
                            while Instant::now() < until {
                                let q = &queries[i % queries.len()];
                                i += 1;
                                let t = Instant::now();
                                let (code, _) = search(addr, q, k);
                                if code == 200 {
                                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                                } else {
                                    errors += 1;
                                }
                            }
                            (lat, errors)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            let wall = t0.elapsed().as_secs_f64();
            let mut lat: Vec<f64> = per.iter().flat_map(|p| p.0.iter().copied()).collect();
            let errors: usize = per.iter().map(|p| p.1).sum();
            lat.sort_by(f64::total_cmp);
            let row = json!({
                "step": "search over HTTP",
                "threads": threads,
                "queries": lat.len(),
                "errors": errors,
                "p50_ms": pct(&lat, 0.5),
                "p99_ms": pct(&lat, 0.99),
                "qps": lat.len() as f64 / wall,
            });
            println!("{row}");
            rows.push(row);
        }
        let (_, h) = match request(s.addr, "GET", "/health", b"", &[], TIMEOUT) {
            Ok(a) => (a.status, a.json()),
            Err(e) => die(&e.to_string()),
        };
        let row = json!({"step": "health after the load", "health": h});
        println!("{row}");
        rows.push(row);
    }
    if let Some(file) = &a.watch_file {
        let original =
            std::fs::read(file).unwrap_or_else(|e| die(&format!("{}: {e}", file.display())));
        let s = start(&a.index, true);
        let mut fresh = Vec::new();
        let mut missed = 0;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for n in 0..a.edits {
            // Letters only, different in every edit: no sub-token (digits
            // split off, a shared prefix) may match an earlier edit's word.
            let mut x = stamp
                .wrapping_mul(6364136223846793005)
                .wrapping_add(n as u64 * 1442695040888963407 + 1);
            let word: String = (0..14)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (b'a' + ((x >> 33) % 26) as u8) as char
                })
                .collect();
            let mut text = original.clone();
            text.extend_from_slice(format!("\n// freshness marker {word}\n").as_bytes());
            let saved = Instant::now();
            std::fs::write(file, &text).unwrap_or_else(|e| die(&e.to_string()));
            let rel_name = file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            loop {
                // Lexical only: this times indexing, not ranking (a rare
                // word alone ties at 0.5 in the fusion with the semantic
                // side's best).
                let (code, v) = search_body(
                    s.addr,
                    json!({"query": word, "top_k": 1, "semantic_ratio": 0.0}),
                );
                let top = v["items"][0]["item"]["path"].as_str().unwrap_or("");
                if code == 200 && top.ends_with(&rel_name) {
                    fresh.push(saved.elapsed().as_secs_f64() * 1e3);
                    break;
                }
                if saved.elapsed() > Duration::from_secs(60) {
                    missed += 1;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(700));
        }
        std::fs::write(file, &original).unwrap_or_else(|e| die(&e.to_string()));
        let mut sorted = fresh.clone();
        sorted.sort_by(f64::total_cmp);
        let row = json!({
            "step": "save to searchable (--watch)",
            "edits": a.edits,
            "missed": missed,
            "p50_ms": pct(&sorted, 0.5),
            "max_ms": sorted.last().copied().unwrap_or(f64::NAN),
            "all_ms": fresh,
        });
        println!("{row}");
        rows.push(row);
        drop(s);
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&rows).unwrap_or_default())
            .unwrap_or_else(|e| die(&format!("{}: {e}", p.display())));
    }
}
