//! `leann index create` and `leann query` end to end on a fixture tree that
//! holds every kind of trouble a real tree has (issue 3, items 5 and 6).

mod common;

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn leann(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

const POOL_RS: &str = r#"//! Connections to the database.

pub struct Pool {
    idle: Vec<Conn>,
    max: usize,
}

impl Pool {
    /// Hand out an idle connection, or open a new one below the limit.
    pub fn acquire(&mut self) -> Option<Conn> {
        if let Some(c) = self.idle.pop() {
            return Some(c);
        }
        if self.idle.len() < self.max {
            return Some(Conn::open());
        }
        None
    }

    /// Put a connection back for reuse.
    pub fn release(&mut self, c: Conn) {
        self.idle.push(c);
    }
}
"#;

const RETRY_PY: &str = r#"import time


def with_backoff(fn, attempts=5, base=0.1):
    """Call fn again after failures, sleeping twice as long each time."""
    for i in range(attempts):
        try:
            return fn()
        except OSError:
            time.sleep(base * 2 ** i)
    return fn()


def parse_port(text):
    """Read a TCP port number from a string."""
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(text)
    return port
"#;

const JWT_GO: &str = r#"package auth

import "strings"

// BearerToken pulls the token out of an Authorization header.
func BearerToken(header string) string {
	if !strings.HasPrefix(header, "Bearer ") {
		return ""
	}
	return strings.TrimPrefix(header, "Bearer ")
}
"#;

/// A tree with good files and one of each kind of bad file.
fn troubled_tree(r: &Path) {
    write(r, "src/pool.rs", POOL_RS.as_bytes());
    write(r, "scripts/retry.py", RETRY_PY.as_bytes());
    write(r, "auth/jwt.go", JWT_GO.as_bytes());
    write(
        r,
        "docs/guide.md",
        b"# Guide\n\nStart the server, then index your tree.\n",
    );
    // Binary: NUL bytes in a source-named file.
    write(r, "src/blob.rs", b"fn x() {}\0\0\0\x01\x02");
    // Invalid UTF-8.
    write(r, "scripts/latin1.py", b"name = 'caf\xe9'\n");
    // Oversized: above the default 1 MiB limit.
    write(r, "src/huge.rs", &b"// padding line\n".repeat(70_000));
    // Symlink loop.
    std::os::unix::fs::symlink(r, r.join("src/loop")).unwrap();
    // Unreadable: a dangling link (unreadable for anyone, root included) and
    // a file without permissions (unreadable unless running as root).
    std::os::unix::fs::symlink(r.join("missing.rs"), r.join("src/gone.rs")).unwrap();
    write(r, "src/secret.rs", b"fn secret() {}\n");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(r.join("src/secret.rs"), fs::Permissions::from_mode(0o000)).unwrap();
    // A FIFO with a source name: reading it would block forever.
    let fifo = std::ffi::CString::new(r.join("src/pipe.rs").to_str().unwrap()).unwrap();
    // SAFETY: fifo is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
}

fn results(stdout: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    common::items(&v)
}

#[test]
fn index_create_and_query_on_a_troubled_tree() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    troubled_tree(&tree);
    let idx = d.path().join("idx");
    let (t, i) = (tree.to_str().unwrap(), idx.to_str().unwrap());

    let out = ok(&leann(&[
        "index",
        "create",
        "--input",
        t,
        "--output",
        i,
        "--verbose",
    ]));
    for want in [
        "binary: 1",
        "invalid UTF-8: 1",
        "too large: 1",
        "symlink loop: 1",
        "not a regular file: 1",
        "skipped (unreadable): src/gone.rs",
        "indexed",
        "chunks/s",
        "peak RSS",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    // Creating over an existing index is refused, naming it.
    let again = leann(&["index", "create", "--input", t, "--output", i]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds an index"));

    let out = ok(&leann(&["index", "validate", i]));
    assert!(out.starts_with("ok:"), "{out}");

    // JSON results with the documented schema, best first.
    let q = |extra: &[&str]| {
        let mut a = vec!["query", "--index", i, "--format", "json"];
        a.extend_from_slice(extra);
        leann(&a)
    };
    let out = q(&[
        "--query",
        "take a database connection from the pool",
        "--top-k",
        "3",
    ]);
    let res = results(&ok(&out));
    assert_eq!(res.len(), 3);
    for r in &res {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        for k in [
            "path",
            "start_line",
            "end_line",
            "language",
            "symbol",
            "score",
            "preview",
            "stale",
        ] {
            assert!(keys.contains(&k), "{k} missing from {r}");
        }
        assert_eq!(r["stale"], false);
    }
    // (Relevance itself is measured in tests/relevance.rs.)
    let top = res
        .iter()
        .find(|r| r["path"] == "src/pool.rs")
        .expect("pool.rs in the top 3");
    let scores: Vec<f64> = res.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // The preview is the chunk's text as in the file.
    let p0 = top["preview"].as_str().unwrap();
    let s0 = top["start_line"].as_u64().unwrap() as usize;
    let first_line = POOL_RS.lines().nth(s0 - 1).unwrap();
    assert_eq!(p0.lines().next().unwrap(), first_line);

    // Filters act inside the search: every result matches, and as many come
    // back as match (the tree has one Python chunk; tests/engine.rs checks k
    // results and recall under filters on a large index).
    let res = results(&ok(&q(&[
        "--query",
        "connection",
        "--lang",
        "python",
        "--top-k",
        "2",
    ])));
    assert_eq!(res.len(), 1, "{res:?}");
    assert!(res.iter().all(|r| r["language"] == "python"));
    let res = results(&ok(&q(&[
        "--query",
        "connection",
        "--path",
        "auth",
        "--top-k",
        "5",
    ])));
    assert!(
        !res.is_empty() && res.iter().all(|r| r["path"] == "auth/jwt.go"),
        "{res:?}"
    );
    // No chunk matches: exit 1, empty results.
    let out = q(&["--query", "connection", "--lang", "java"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(results(&String::from_utf8_lossy(&out.stdout)).is_empty());
    // Bad language: exit 2 naming the flag.
    let out = q(&["--query", "x", "--lang", "klingon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lang"));

    // Text output: path:start-end, no colour when stdout is not a terminal.
    let out = ok(&leann(&[
        "query",
        "--index",
        i,
        "--query",
        "read a port number",
        "--top-k",
        "2",
    ]));
    assert!(!out.contains('\x1b'), "{out:?}");
    let head = out.lines().next().unwrap();
    assert!(head.starts_with("scripts/retry.py:"), "{out}");
    // --color always colours; NO_COLOR still wins over auto only.
    let out = ok(&leann(&[
        "query", "--index", i, "--query", "port", "--color", "always",
    ]));
    assert!(out.contains("\x1b[35m"), "{out:?}");

    // A changed file marks its chunks stale.
    let pool = tree.join("src/pool.rs");
    fs::write(&pool, POOL_RS.replace("idle", "spare")).unwrap();
    let res = results(&ok(&q(&[
        "--query",
        "take a database connection from the pool",
        "--path",
        "src/pool.rs",
    ])));
    assert!(
        !res.is_empty() && res.iter().all(|r| r["stale"] == true),
        "{res:?}"
    );
    fs::write(&pool, POOL_RS).unwrap();

    // Batch: one JSON line per query, loading once; a bad line gets an error
    // line and exit 2, the others still answer.
    let batch = d.path().join("q.jsonl");
    fs::write(
        &batch,
        concat!(
            r#"{"id": 1, "query": "sleep longer after each failure"}"#,
            "\n",
            r#"{"id": "b", "query": "authorization header token", "top_k": 1, "filters": {"languages": ["go"]}}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = ok(&leann(&[
        "query",
        "--index",
        i,
        "--batch",
        batch.to_str().unwrap(),
    ]));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[1]["id"], "b");
    assert_eq!(common::items(&lines[0]).len(), 10.min(count_chunks(&idx)));
    assert_eq!(common::items(&lines[1]).len(), 1);
    assert_eq!(lines[1]["items"][0]["item"]["path"], "auth/jwt.go");
    fs::write(
        &batch,
        "{\"id\": 1, \"query\": \"pool\"}\nnot json\n{\"id\": 3, \"qurey\": \"x\"}\n",
    )
    .unwrap();
    let out = leann(&["query", "--index", i, "--batch", batch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0]["items"].is_array());
    assert_eq!(lines[1]["line"], 2);
    assert!(
        lines[2]["error"].as_str().unwrap().contains("qurey"),
        "{text}"
    );

    // --repeat reports latency.
    let out = leann(&["query", "--index", i, "--query", "pool", "--repeat", "5"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 runs: p50"));

    // Errors: exit 2 naming what is wrong.
    let out = leann(&["query", "--index", "/nonexistent/idx", "--query", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/idx"));
    let out = leann(&["query", "--index", i, "--query", "x", "--mode", "rerank"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rerank-model"));
}

fn count_chunks(idx: &Path) -> usize {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    leann::engine::index::Index::open(st.as_ref(), idx, leann::io::ReadMode::Buffered, Some(0))
        .unwrap()
        .len()
}

/// Stored text (config storeText) answers after the tree is gone; the
/// index stays openable and correct.
#[test]
fn stored_text_survives_a_moved_tree() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    write(&tree, "src/pool.rs", POOL_RS.as_bytes());
    write(&tree, "scripts/retry.py", RETRY_PY.as_bytes());
    let cfg = d.path().join("cfg.json");
    fs::write(&cfg, r#"{"storeText": true}"#).unwrap();
    let idx = d.path().join("idx");
    ok(&leann(&[
        "index",
        "create",
        "--input",
        tree.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]));
    fs::remove_dir_all(&tree).unwrap();
    let out = ok(&leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "wait longer after each failed attempt",
        "--format",
        "json",
        "--top-k",
        "1",
    ]));
    let res = results(&out);
    assert_eq!(res[0]["path"], "scripts/retry.py", "{res:?}");
    assert_eq!(res[0]["stale"], false);
    assert!(
        res[0]["preview"].as_str().unwrap().contains("def "),
        "{res:?}"
    );
}

/// Without stored text, a removed tree gives stale results, not an error.
#[test]
fn removed_tree_marks_results_stale() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    write(&tree, "src/pool.rs", POOL_RS.as_bytes());
    let idx = d.path().join("idx");
    ok(&leann(&[
        "index",
        "create",
        "--input",
        tree.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
    ]));
    fs::remove_dir_all(&tree).unwrap();
    let out = ok(&leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "pool",
        "--format",
        "json",
    ]));
    let res = results(&out);
    assert!(!res.is_empty() && res.iter().all(|r| r["stale"] == true));
}

/// Output into a pipe whose reader has gone (`leann ... | head -1`) ends
/// the process quietly, with no panic about a broken pipe.
#[test]
fn closed_stdout_pipe_ends_quietly() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    for i in 0..3000 {
        write(
            &tree,
            &format!("src/module_{i:05}.py"),
            b"def f():\n    return 1\n",
        );
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_leann"))
        .args([
            "index",
            "create",
            "--input",
            tree.to_str().unwrap(),
            "--output",
            d.path().join("idx").to_str().unwrap(),
            "--dry-run",
            "--verbose",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once: the ~200 KB listing cannot fit the pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

/// An empty tree is a clear error, not an empty index.
#[test]
fn empty_tree_is_a_clear_error() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    write(&tree, "logo.png", b"\x89PNG");
    let out = Command::new(env!("CARGO_BIN_EXE_leann"))
        .args([
            "index",
            "create",
            "--input",
            tree.to_str().unwrap(),
            "--output",
            d.path().join("idx").to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing to index") && err.contains("not source or text: 1"),
        "{err}"
    );
}

/// The model id is recorded: opening the index with another embedder is a
/// clear error naming both models; `index stats` counts the chunk file.
#[test]
fn another_model_is_refused() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    write(&tree, "src/pool.rs", POOL_RS.as_bytes());
    let idx = d.path().join("idx");
    ok(&leann(&[
        "index",
        "create",
        "--input",
        tree.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
    ]));
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    // The same table under another id (a static model directory).
    let other = leann::embed::static_model::StaticModel::load_dir(
        st.as_ref(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/builtin"),
    )
    .unwrap();
    let err = match leann::search::searcher::Searcher::open(
        st.clone(),
        &idx,
        None,
        Some(Box::new(other)),
    ) {
        Ok(_) => panic!("opened with another model"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(leann::embed::static_model::BUILTIN_ID) && err.contains("static:builtin"),
        "{err}"
    );
    let out = ok(&leann(&["index", "stats", idx.to_str().unwrap()]));
    assert!(out.contains("chunks"), "{out}");
}

/// `leann index compact` rebuilds a tree index from its chunks' text: the
/// same queries give the same results, old files are gone, it validates.
#[test]
fn compact_keeps_results() {
    let d = common::tempdir();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance_repo");
    let idx = d.path().join("idx");
    let i = idx.to_str().unwrap();
    ok(&leann(&[
        "index",
        "create",
        "--input",
        repo.to_str().unwrap(),
        "--output",
        i,
    ]));
    let q = |text: &str| {
        results(&ok(&leann(&[
            "query", "--index", i, "--query", text, "--format", "json",
        ])))
    };
    let queries = [
        "prune vacant folders",
        "deliver a letter to a recipient",
        "sorting",
    ];
    let before: Vec<Vec<Value>> = queries.iter().map(|t| q(t)).collect();
    let out = ok(&leann(&["index", "compact", "--index", i, "--if-needed"]));
    assert!(out.contains("nothing to do"), "{out}");
    // A killed compaction's scratch directory is removed by the next
    // writer; compaction keeps its spools in the index directory, never in
    // the system's temporary directory (SPEC.md R-3).
    fs::create_dir(idx.join("scratch.compact")).unwrap();
    fs::write(idx.join("scratch.compact/vectors.fbin"), b"left over").unwrap();
    let tmp = d.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let out = ok(&std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(["index", "compact", "--index", i])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap());
    assert!(out.contains("compacted"), "{out}");
    let left: Vec<_> = fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let names: Vec<String> = fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("seg-00000001")),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| !n.starts_with("scratch.")),
        "{names:?}"
    );
    ok(&leann(&["index", "validate", i]));
    for (t, b) in queries.iter().zip(&before) {
        let a = q(t);
        let key = |v: &Vec<Value>| -> Vec<(String, u64)> {
            v.iter()
                .map(|r| {
                    (
                        r["path"].as_str().unwrap().to_string(),
                        r["start_line"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(key(&a), key(b), "{t}");
    }
}

/// Issue 4, item 3: `leann index update` finds changed, added and removed
/// files by content, writes them through the log, and a second run finds
/// nothing; results reflect the tree; compaction keeps them.
#[test]
fn update_follows_the_tree() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance_repo");
    for f in [
        "src/geo.rs",
        "src/math.rs",
        "lib/files.py",
        "lib/mail.py",
        "web/color.js",
    ] {
        write(&tree, f, &fs::read(repo.join(f)).unwrap());
    }
    let idx = d.path().join("idx");
    let i = idx.to_str().unwrap();
    ok(&leann(&[
        "index",
        "create",
        "--input",
        tree.to_str().unwrap(),
        "--output",
        i,
    ]));
    let out = ok(&leann(&["index", "update", "--index", i]));
    assert!(out.contains("0 changed, 0 added, 0 removed"), "{out}");

    // Change one file, add one, remove one.
    let mail = tree.join("lib/mail.py");
    let mut text = fs::read_to_string(&mail).unwrap();
    text.push_str("\n\ndef add_vat(price):\n    return price * 1.2\n");
    fs::write(&mail, text).unwrap();
    write(
        &tree,
        "src/cube.rs",
        b"pub fn cube(x: i64) -> i64 {\n    x * x * x\n}\n",
    );
    fs::remove_file(tree.join("web/color.js")).unwrap();
    let o = leann(&["index", "update", "--index", i]);
    let out = ok(&o);
    assert!(out.contains("1 changed, 1 added, 1 removed"), "{out}");
    // The log now holds more than 10% of the segment's chunks: the update
    // says compaction is due, and how to run it.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("note: compaction is due") && err.contains("--if-needed"),
        "{err}"
    );
    let out = ok(&leann(&["index", "update", "--index", i]));
    assert!(
        out.contains("0 changed, 0 added, 0 removed"),
        "second run: {out}"
    );

    let q = |text: &str| {
        results(&ok(&leann(&[
            "query", "--index", i, "--query", text, "--format", "json", "--top-k", "10",
        ])))
    };
    let all = q("anything");
    assert!(
        all.iter().all(|r| r["path"] != "web/color.js"),
        "removed file still found"
    );
    assert!(all.iter().all(|r| r["stale"] == false), "{all:?}");
    let cube: Vec<&Value> = all.iter().filter(|r| r["path"] == "src/cube.rs").collect();
    assert_eq!(cube.len(), 1, "{all:?}");
    let mail: Vec<&Value> = all.iter().filter(|r| r["path"] == "lib/mail.py").collect();
    assert!(
        mail.iter()
            .any(|r| r["symbol"].as_str().unwrap_or("").contains("add_vat")),
        "{mail:?}"
    );
    // Filters see the new chunks too.
    let rust = results(&ok(&leann(&[
        "query", "--index", i, "--query", "cube", "--lang", "rust", "--format", "json",
    ])));
    assert!(rust.iter().any(|r| r["path"] == "src/cube.rs"), "{rust:?}");

    // Compaction folds the log; the same chunks come back.
    let key = |v: &Vec<Value>| {
        let mut k: Vec<(String, u64)> = v
            .iter()
            .map(|r| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["start_line"].as_u64().unwrap(),
                )
            })
            .collect();
        k.sort();
        k
    };
    ok(&leann(&["index", "compact", "--index", i]));
    assert_eq!(key(&q("anything")), key(&all));
    ok(&leann(&["index", "validate", i]));
}

/// The brief's Pattern 3 wrapper (`search` over `leann query --format json |
/// jq`), run by bash as written, with `leann` on PATH and the index where
/// the wrapper looks for it (`~/.cache/leann/project.index`).
#[test]
fn brief_jq_wrapper_runs_as_written() {
    if Command::new("jq").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("LEANN_REQUIRE_JQ").is_none(),
            "jq is required (LEANN_REQUIRE_JQ) but not installed"
        );
        eprintln!("jq not installed: skipped");
        return;
    }
    let d = common::tempdir();
    let home = d.path().join("home");
    let tree = d.path().join("tree");
    write(&tree, "src/pool.rs", POOL_RS.as_bytes());
    write(&tree, "scripts/retry.py", RETRY_PY.as_bytes());
    write(&tree, "auth/jwt.go", JWT_GO.as_bytes());
    let idx = home.join(".cache/leann/project.index");
    fs::create_dir_all(idx.parent().unwrap()).unwrap();
    common::create_index(&tree, &idx, None);
    // The brief's text, verbatim (Pattern 3: CLI Tool).
    let wrapper = r#"#!/bin/bash
# Wrapper script for common queries
function search() {
leann query \
--index ~/.cache/leann/project.index \
--query "$1" \
--top-k "${2:-10}" \
--format json | jq -r '.items[] | "\(.item.path):\(.item.startLine)"'
}
"#;
    let script = d.path().join("wrapper.sh");
    fs::write(&script, wrapper).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_leann")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; source {} && search {args}",
                script.display()
            ))
            .env("HOME", &home)
            .env("PATH", &path)
            .output()
            .unwrap();
        ok(&out)
    };
    let out = run("'pull the bearer token out of the authorization header' 2");
    let direct = results(&ok(&leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "pull the bearer token out of the authorization header",
        "--top-k",
        "2",
        "--format",
        "json",
    ])));
    let want: Vec<String> = direct
        .iter()
        .map(|r| format!("{}:{}", r["path"].as_str().unwrap(), r["start_line"]))
        .collect();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, want, "{out}");
    assert!(lines[0].starts_with("auth/jwt.go:"), "{out}");
    // The default top-k (10) is every chunk of this small tree.
    let all = run("'database connection pool'");
    assert!(all.lines().count() > 2, "{all}");
    assert!(
        all.lines()
            .all(|l| l.rsplit_once(':').unwrap().1.parse::<u32>().is_ok()),
        "{all}"
    );
}
