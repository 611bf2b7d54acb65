//! The scale benchmark (issue 16): generate an N-file monorepo from real
//! source trees, then time what users do with it through the `leann`
//! binary, each step a fresh process with its wall time and peak RSS:
//! create, a fresh-process query, a warm query, updates after 1 / 100 /
//! 10,000 changed files (by content scan, by `--git-diff`, and through a
//! running `--watch`), and compaction; bytes per chunk at the end.
//!
//!     cargo bench --bench scale -- --files 200000 --work /tmp/scale \
//!         [--source DIR]... [--seed 1] [--changes 1,100,10000] [--json out.json]
//!
//! Sources default to the crate sources `cargo fetch` leaves in
//! `$CARGO_HOME/registry/src`. The generated tree is kept in WORK/tree and
//! reused by later runs with the same files, seed and sources (its spec is
//! in WORK/tree.json); the index is made again each run.

use leann::bench::monorepo::{self, MonorepoSpec};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LEANN: &str = env!("CARGO_BIN_EXE_leann");
/// How long a `--watch` step may take from the save to the last file
/// reported before it is stopped and reported as not done.
const WATCH_LIMIT_SECS: u64 = 600;

/// Questions asked of the generated monorepo (its content is whatever the
/// sources hold; these time the query path, they do not score it).
const QUERIES: &[&str] = &[
    "parse command line arguments",
    "read a whole file into a string",
    "retry an http request with exponential backoff",
    "jwt middleware that checks the authorization header",
    "hash map insert or update",
];

/// Identifier-shaped questions (symbol lookup) and a filtered question,
/// timed the same way.
const SYMBOL_QUERIES: &[&str] = &["parse_args", "HashMap::insert", "serde_json::from_str"];
const FILTERED: &[&str] = &["--path", "packages/pkg-00001", "--lang", "rust"];

struct Args {
    files: usize,
    work: PathBuf,
    sources: Vec<PathBuf>,
    seed: u64,
    changes: Vec<usize>,
    json: Option<PathBuf>,
    skip: Vec<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        files: 20_000,
        work: std::env::temp_dir().join("leann-scale"),
        sources: Vec::new(),
        seed: 1,
        changes: vec![1, 100, 10_000],
        json: None,
        skip: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
        };
        match k.as_str() {
            "--files" => a.files = num(&val("--files")),
            "--work" => a.work = PathBuf::from(val("--work")),
            "--source" => a.sources.push(PathBuf::from(val("--source"))),
            "--seed" => a.seed = num(&val("--seed")) as u64,
            "--changes" => a.changes = val("--changes").split(',').map(num).collect(),
            "--json" => a.json = Some(PathBuf::from(val("--json"))),
            "--skip" => a.skip = val("--skip").split(',').map(String::from).collect(),
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            other => die(&format!(
                "unknown argument {other}; see the header of benches/scale.rs"
            )),
        }
    }
    if a.sources.is_empty() {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_else(|| die("no --source and neither CARGO_HOME nor HOME is set"));
        a.sources.push(home.join("registry/src"));
    }
    a
}

fn num(s: &str) -> usize {
    s.replace('_', "")
        .parse()
        .unwrap_or_else(|_| die(&format!("{s:?} is not a count")))
}

fn die(why: &str) -> ! {
    eprintln!("scale: {why}");
    std::process::exit(2)
}

/// One finished process: wall time, peak RSS and its output.
struct Run {
    wall: Duration,
    rss_bytes: u64,
    stdout: String,
    stderr: String,
    ok: bool,
}

/// Runs `cmd` to completion, measuring its wall time and peak resident set
/// (`wait4`'s `ru_maxrss`, this child only).
// The child is reaped by `wait_rusage` (wait4), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run(cmd: &mut Command) -> Run {
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| die(&format!("cannot start {cmd:?}: {e}")));
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = pipe(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = pipe(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let (status, rss) = wait_rusage(child.id());
    let wall = t.elapsed();
    Run {
        wall,
        rss_bytes: rss,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        ok: status == 0,
    }
}

/// Waits for `pid` and returns (exit status, peak RSS in bytes).
fn wait_rusage(pid: u32) -> (i32, u64) {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unwaited child (std's Child is never waited on
    // after this), and both out-pointers are valid for the call.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    if r < 0 {
        die(&format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, ru.ru_maxrss as u64 * 1024)
}

fn leann(args: &[&str]) -> Command {
    let mut c = Command::new(LEANN);
    c.args(args);
    c
}

fn must(step: &str, r: Run) -> Run {
    if !r.ok {
        die(&format!("{step} failed:\n{}\n{}", r.stdout, r.stderr));
    }
    r
}

fn git(tree: &Path, args: &[&str]) {
    let st = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args([
            "-c",
            "user.name=leann-scale",
            "-c",
            "user.email=scale@leann",
        ])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| die(&format!("git: {e}")));
    if !st.success() {
        die(&format!("git {args:?} failed in {}", tree.display()));
    }
}

struct Row {
    step: String,
    seconds: f64,
    rss_mb: f64,
    note: String,
}

fn row(rows: &mut Vec<Row>, step: &str, r: &Run, note: String) {
    let line = Row {
        step: step.into(),
        seconds: r.wall.as_secs_f64(),
        rss_mb: r.rss_bytes as f64 / 1e6,
        note,
    };
    eprintln!(
        "{:<28} {:>9.3} s {:>8.0} MB  {}",
        line.step, line.seconds, line.rss_mb, line.note
    );
    rows.push(line);
}

fn main() {
    let a = parse_args();
    std::fs::create_dir_all(&a.work).unwrap_or_else(|e| die(&format!("{e}")));
    let tree = a.work.join("tree");
    let index = a.work.join("index");
    let spec = MonorepoSpec::new(a.files, a.seed);
    let mut rows = Vec::new();

    // 1. The monorepo (reused when its spec matches).
    let want = serde_json::json!({
        "files": a.files, "seed": a.seed,
        "sources": a.sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>(),
    });
    let spec_path = a.work.join("tree.json");
    let listed = a.work.join("tree-files.txt");
    let reuse = std::fs::read(&spec_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v == want)
        && listed.exists();
    let files: Vec<PathBuf> = if reuse {
        eprintln!("reusing the monorepo in {}", tree.display());
        // Back to the generated state (earlier runs' edits undone): its
        // first commit.
        let root = Command::new("git")
            .arg("-C")
            .arg(&tree)
            .args(["rev-list", "--max-parents=0", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| die("the kept monorepo has no git history; remove WORK/tree.json"));
        git(&tree, &["reset", "-q", "--hard", &root]);
        std::fs::read_to_string(&listed)
            .unwrap_or_default()
            .lines()
            .map(PathBuf::from)
            .collect()
    } else {
        let _ = std::fs::remove_dir_all(&tree);
        let _ = std::fs::remove_file(&spec_path);
        let t = Instant::now();
        let pool = monorepo::source_pool(&a.sources).unwrap_or_else(|e| die(&e.to_string()));
        let g = monorepo::generate(&pool, &tree, &spec).unwrap_or_else(|e| die(&e.to_string()));
        eprintln!(
            "generated {} files ({:.2} GB) from {} sources in {:.1} s",
            g.files.len(),
            g.bytes as f64 / 1e9,
            pool.len(),
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        git(&tree, &["init", "-q"]);
        git(&tree, &["add", "-A"]);
        git(&tree, &["commit", "-q", "-m", "generated"]);
        eprintln!("git commit in {:.1} s", t.elapsed().as_secs_f64());
        let text: String = g
            .files
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect();
        std::fs::write(&listed, text).unwrap_or_else(|e| die(&e.to_string()));
        std::fs::write(&spec_path, want.to_string()).unwrap_or_else(|e| die(&e.to_string()));
        g.files
    };
    let skip = |s: &str| a.skip.iter().any(|k| k == s);

    // 2. Create.
    let _ = std::fs::remove_dir_all(&index);
    let (t, i) = (tree.to_string_lossy(), index.to_string_lossy());
    let r = must(
        "create",
        run(&mut leann(&[
            "index", "create", "--input", &t, "--output", &i,
        ])),
    );
    let chunks = stats(&index).0;
    row(
        &mut rows,
        "create",
        &r,
        format!(
            "{chunks} chunks, {:.0} chunks/s",
            chunks as f64 / r.wall.as_secs_f64()
        ),
    );
    bytes_row(&mut rows, &index, "after create");

    // 3. Queries: fresh processes, then one warm process.
    query_rows(&mut rows, &i, "");

    // 4. Updates.
    let mut round = 0u64;
    let mut pick = 0usize;
    let mut next_files = |n: usize| -> Vec<PathBuf> {
        let n = n.min(files.len());
        let v: Vec<PathBuf> = (0..n)
            .map(|k| files[(pick + k * 7919) % files.len()].clone())
            .collect();
        pick += 1;
        v
    };
    for &n in &a.changes {
        if !skip("scan") {
            round += 1;
            let set = next_files(n);
            monorepo::edit_files(&tree, &set, round).unwrap_or_else(|e| die(&e.to_string()));
            git(&tree, &["commit", "-qam", &format!("round {round}")]);
            let r = must(
                "update",
                run(&mut leann(&["index", "update", "--index", &i])),
            );
            row(
                &mut rows,
                &format!("update, {n} changed (scan)"),
                &r,
                last_line(&r.stdout),
            );
        }
        if !skip("git") {
            round += 1;
            let set = next_files(n);
            monorepo::edit_files(&tree, &set, round).unwrap_or_else(|e| die(&e.to_string()));
            git(&tree, &["commit", "-qam", &format!("round {round}")]);
            let r = must(
                "update --git-diff",
                run(&mut leann(&[
                    "index",
                    "update",
                    "--index",
                    &i,
                    "--git-diff",
                    "HEAD~1",
                    "HEAD",
                ])),
            );
            row(
                &mut rows,
                &format!("update, {n} changed (git-diff)"),
                &r,
                last_line(&r.stdout),
            );
        }
    }
    if !skip("watch") {
        for &n in &a.changes {
            round += 1;
            let set = next_files(n);
            watch_row(&mut rows, &tree, &i, &set, round, n);
        }
    }
    query_rows(&mut rows, &i, " after updates");
    bytes_row(&mut rows, &index, "before compaction");

    // 5. Compaction.
    if !skip("compact") {
        let r = must(
            "compact",
            run(&mut leann(&["index", "compact", "--index", &i])),
        );
        row(&mut rows, "compact", &r, last_line(&r.stdout));
        bytes_row(&mut rows, &index, "after compaction");
    }

    println!(
        "\n{} files, seed {}: leann {}\n",
        a.files,
        a.seed,
        env!("CARGO_PKG_VERSION")
    );
    println!("| step | wall (s) | peak RSS (MB) | note |\n|---|---|---|---|");
    for r in &rows {
        if r.rss_mb == 0.0 {
            // A size row: nothing was run.
            println!("| {} | – | – | {} |", r.step, r.note);
        } else {
            println!(
                "| {} | {:.3} | {:.0} | {} |",
                r.step, r.seconds, r.rss_mb, r.note
            );
        }
    }
    if let Some(p) = &a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"step": r.step, "seconds": r.seconds, "rssMB": r.rss_mb, "note": r.note})
            })
            .collect();
        let doc = serde_json::json!({"files": a.files, "seed": a.seed, "steps": v});
        std::fs::write(p, doc.to_string()).unwrap_or_else(|e| die(&e.to_string()));
    }
}

/// (chunks, bytes) of the index, from `leann index stats --json`.
fn stats(index: &Path) -> (u64, u64) {
    let r = must(
        "stats",
        run(&mut leann(&[
            "index",
            "stats",
            &index.to_string_lossy(),
            "--json",
        ])),
    );
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| die(&format!("stats json: {e}")));
    (
        v["vectors"].as_u64().unwrap_or(0),
        v["bytes"].as_u64().unwrap_or(0),
    )
}

fn bytes_row(rows: &mut Vec<Row>, index: &Path, when: &str) {
    let (n, b) = stats(index);
    // Everything in the directory: segments, logs, stamps.
    let all: u64 = std::fs::read_dir(index)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let line = Row {
        step: format!("index size {when}"),
        seconds: 0.0,
        rss_mb: 0.0,
        note: format!(
            "{:.1} MB, {:.1} bytes/chunk ({n} chunks; with logs and stamps {:.1} MB)",
            b as f64 / 1e6,
            b as f64 / n.max(1) as f64,
            all as f64 / 1e6
        ),
    };
    eprintln!("{:<28} {}", line.step, line.note);
    rows.push(line);
}

fn query_rows(rows: &mut Vec<Row>, index: &str, when: &str) {
    fresh_row(
        rows,
        index,
        &format!("query, fresh process{when}"),
        QUERIES,
        &[],
    );
    fresh_row(
        rows,
        index,
        &format!("query, fresh, identifier{when}"),
        SYMBOL_QUERIES,
        &[],
    );
    fresh_row(
        rows,
        index,
        &format!("query, fresh, --path/--lang{when}"),
        &QUERIES[..3],
        FILTERED,
    );
    let w = run(&mut leann(&[
        "query", "--index", index, "--query", QUERIES[3], "--repeat", "20", "--format", "json",
    ]));
    let p50 = w
        .stderr
        .lines()
        .find_map(|l| {
            l.split_once("p50 ")
                .and_then(|(_, r)| r.split_once(" ms"))
                .and_then(|(v, _)| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);
    let line = Row {
        step: format!("query, warm{when}"),
        seconds: p50 / 1e3,
        rss_mb: w.rss_bytes as f64 / 1e6,
        note: "p50 of 20 runs in one process".into(),
    };
    eprintln!(
        "{:<28} {:>9.4} s {:>8.0} MB  {}",
        line.step, line.seconds, line.rss_mb, line.note
    );
    rows.push(line);
}

/// One fresh process per query of `queries` (with `extra` arguments): the
/// median wall time and the largest peak RSS.
fn fresh_row(rows: &mut Vec<Row>, index: &str, step: &str, queries: &[&str], extra: &[&str]) {
    let mut fresh: Vec<Run> = queries
        .iter()
        .map(|q| {
            let mut args = vec!["query", "--index", index, "--query", q, "--format", "json"];
            args.extend_from_slice(extra);
            let r = run(&mut leann(&args));
            // Exit code 1 is "no results", not a failure.
            if !r.ok && !r.stderr.is_empty() && r.stdout.is_empty() {
                die(&format!("query failed: {}", r.stderr));
            }
            r
        })
        .collect();
    fresh.sort_by_key(|r| r.wall);
    let mid = &fresh[fresh.len() / 2];
    let max_rss = fresh.iter().map(|r| r.rss_bytes).max().unwrap_or(0);
    let r = Run {
        wall: mid.wall,
        rss_bytes: max_rss,
        stdout: String::new(),
        stderr: String::new(),
        ok: true,
    };
    row(
        rows,
        step,
        &r,
        format!(
            "median of {} queries; max RSS; range {:.3}-{:.3} s",
            fresh.len(),
            fresh[0].wall.as_secs_f64(),
            fresh[fresh.len() - 1].wall.as_secs_f64()
        ),
    );
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or("").trim().to_string()
}

/// Starts `index update --watch`, edits `set` once it is watching, and
/// times from the last write until the watcher reports the update durable
/// (its printed line; a fresh query sees it from then on).
// The watcher is killed and reaped by `wait_rusage` (wait4).
#[allow(clippy::zombie_processes)]
fn watch_row(rows: &mut Vec<Row>, tree: &Path, index: &str, set: &[PathBuf], round: u64, n: usize) {
    let mut child = leann(&[
        "index",
        "update",
        "--index",
        index,
        "--watch",
        "--debounce-ms",
        "100",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap_or_else(|e| die(&format!("watch: {e}")));
    let (tx, rx) = std::sync::mpsc::channel::<(bool, String)>();
    let out = child.stdout.take();
    let err = child.stderr.take();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        if let Some(o) = out {
            for l in BufReader::new(o).lines().map_while(Result::ok) {
                let _ = tx.send((true, l));
            }
        }
    });
    std::thread::spawn(move || {
        if let Some(e) = err {
            for l in BufReader::new(e).lines().map_while(Result::ok) {
                let _ = tx2.send((false, l));
            }
        }
    });
    let deadline = Duration::from_secs(WATCH_LIMIT_SECS);
    let started = Instant::now();
    loop {
        match rx.recv_timeout(deadline) {
            Ok((false, l)) if l.starts_with("watching") => break,
            Ok((false, l)) if l.starts_with("error") => die(&format!("watch: {l}")),
            Ok(_) => {}
            Err(_) => die("watch: never started watching"),
        }
    }
    let ready = started.elapsed();
    monorepo::edit_files(tree, set, round).unwrap_or_else(|e| die(&e.to_string()));
    let saved = Instant::now();
    let mut changed = 0usize;
    let mut line = String::new();
    // Every line the watcher printed, by seconds since the save, kept in
    // WORK/watch-N.log.
    let mut transcript: Vec<String> = Vec::new();
    let mut last_report = Duration::ZERO;
    let log = Path::new(index)
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("watch-{n}.log"));
    let keep = |t: &[String]| {
        let _ = std::fs::write(&log, t.join("\n") + "\n");
    };
    while changed < set.len() {
        let Some(left) = deadline.checked_sub(saved.elapsed()) else {
            // Not done in time: reported as such, the run goes on.
            let _ = child.kill();
            let (_, rss) = wait_rusage(child.id());
            let r = Run {
                wall: saved.elapsed(),
                rss_bytes: rss,
                stdout: String::new(),
                stderr: String::new(),
                ok: false,
            };
            row(
                rows,
                &format!("update, {n} changed (watch)"),
                &r,
                format!(
                    "NOT DONE: {changed} of {n} files reported within {WATCH_LIMIT_SECS} s (the last report at {:.1} s); stopped",
                    last_report.as_secs_f64()
                ),
            );
            keep(&transcript);
            git(tree, &["commit", "-qam", &format!("round {round}")]);
            return;
        };
        match rx.recv_timeout(left) {
            Ok((true, l)) => {
                transcript.push(format!("{:9.3} out {l}", saved.elapsed().as_secs_f64()));
                last_report = saved.elapsed();
                // "<c> changed, <a> added, <r> removed; ..."
                changed += l
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                line = l;
            }
            Ok((false, l)) if l.starts_with("error") => die(&format!("watch: {l}")),
            Ok((_, l)) => transcript.push(format!("{:9.3} err {l}", saved.elapsed().as_secs_f64())),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => die("watch: the watcher exited"),
        }
    }
    let visible = saved.elapsed();
    keep(&transcript);
    let _ = child.kill();
    let (_, rss) = wait_rusage(child.id());
    let r = Run {
        wall: visible,
        rss_bytes: rss,
        stdout: String::new(),
        stderr: String::new(),
        ok: true,
    };
    row(
        rows,
        &format!("update, {n} changed (watch)"),
        &r,
        format!(
            "save to durable; watcher ready in {:.1} s; {line}",
            ready.as_secs_f64()
        ),
    );
    git(tree, &["commit", "-qam", &format!("round {round}")]);
}
