//! Issue 13, items 3 and 4: crafted index files, trees with traps, and bad
//! requests get clear errors and never crash, block, or reach outside the
//! tree (SPEC.md P-1, P-2).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn small_tree(d: &Path) -> PathBuf {
    let t = d.join("tree");
    write(
        &t,
        "src/a.py",
        b"def area(w, h):\n    \"\"\"Area of a rectangle.\"\"\"\n    return w * h\n",
    );
    write(
        &t,
        "src/b.rs",
        b"/// Greet someone by name.\npub fn greet(name: &str) -> String {\n    format!(\"hi {name}\")\n}\n",
    );
    t
}

fn query(idx: &Path, q: &str, extra: &[&str]) -> Output {
    let mut args = vec!["query", "--index", idx.to_str().unwrap(), "--query", q];
    args.extend_from_slice(extra);
    common::leann(&args)
}

/// P-1: a chunk table naming a path outside the tree (`..`, absolute) is
/// refused on open, naming the file; the outside file is never read or
/// printed.
#[test]
fn a_crafted_chunk_path_never_reads_outside_the_tree() {
    let d = common::tempdir();
    let t = small_tree(d.path());
    write(
        d.path(),
        "outside/secret.py",
        b"def area(w, h):\n    return 'TOPSECRET'\n",
    );
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, None);
    let chunks = idx.join("seg-00000001.chunks");
    let original = fs::read(&chunks).unwrap();
    for evil in [
        "../outside/secret.py",
        "/etc/passwd",
        "src/../../outside/secret.py",
        "a\0b",
        "src//a.py",
        "./a.py",
        "src/..",
        "src/",
    ] {
        let head = leann::format::chunks::decode_head(&chunks, &original).unwrap();
        let mut paths = head.paths.clone();
        paths[0].1 = evil.to_string();
        assert!(!head.has_text);
        let bytes = leann::format::chunks::encode_head(
            &paths,
            &head.symbols,
            &head.records,
            false,
            0,
            head.indexed,
        );
        fs::write(&chunks, &bytes).unwrap();
        let o = query(&idx, "area of a rectangle", &["--format", "json"]);
        assert_eq!(o.status.code(), Some(2), "{evil}: {}", stdout(&o));
        let e = stderr(&o);
        assert!(e.contains("seg-00000001.chunks"), "{e}");
        assert!(e.contains("paths must stay inside the tree"), "{e}");
        assert!(!stdout(&o).contains("TOPSECRET"));
        let v = common::leann(&["index", "validate", idx.to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(2));
    }
    fs::write(&chunks, &original).unwrap();
    let o = query(&idx, "area of a rectangle", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// P-2: a symbolic link in the tree that leads out of it is neither walked
/// nor read back by a query (unless the config follows such links), and a
/// FIFO put where an indexed file was makes its results stale instead of
/// blocking the query.
#[test]
fn links_out_of_the_tree_and_fifos_are_not_read() {
    let d = common::tempdir();
    let t = small_tree(d.path());
    write(
        d.path(),
        "outside/lib.py",
        b"def leaked():\n    return 'TOPSECRET'\n",
    );
    std::os::unix::fs::symlink(d.path().join("outside"), t.join("ext")).unwrap();
    std::os::unix::fs::symlink("/", t.join("root")).unwrap();
    let idx = d.path().join("idx");
    let o = common::leann(&[
        "index",
        "create",
        "--input",
        t.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
        "--verbose",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("skipped (symlink out of the tree): ext/"),
        "{out}"
    );
    // A link to `/` is an ancestor of the tree: the walker's loop check
    // stops it first.
    assert!(
        out.contains("skipped (symlink out of the tree): root/")
            || out.contains("skipped (symlink loop): root"),
        "{out}"
    );
    assert!(out.contains("indexed 2 files"), "{out}");
    // With followExternalSymlinks the link is walked.
    let cfg = d.path().join("follow.json");
    fs::write(
        &cfg,
        r#"{"filters": {"followExternalSymlinks": true, "excludePaths": ["root/"]}}"#,
    )
    .unwrap();
    let idx2 = d.path().join("idx2");
    common::create_index(&t, &idx2, Some(&cfg));
    let o = query(
        &idx2,
        "leaked",
        &["--format", "json", "--semantic-ratio", "0"],
    );
    assert!(stdout(&o).contains("ext/lib.py"), "{}", stdout(&o));
    // Without it, a tree changed to hold a link out where an indexed file
    // was is not read through: the result is stale, the secret not shown.
    fs::remove_file(t.join("src/a.py")).unwrap();
    std::os::unix::fs::symlink(d.path().join("outside/lib.py"), t.join("src/a.py")).unwrap();
    let o = query(&idx, "area of a rectangle", &["--format", "json"]);
    assert!(!stdout(&o).contains("TOPSECRET"), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let a = common::items(&v)
        .into_iter()
        .find(|r| r["path"] == "src/a.py")
        .expect("src/a.py among the results");
    assert_eq!(a["stale"], true);
    // A FIFO in its place: the query answers (stale), it does not block.
    fs::remove_file(t.join("src/a.py")).unwrap();
    let fifo = std::ffi::CString::new(t.join("src/a.py").to_str().unwrap()).unwrap();
    // SAFETY: fifo is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let t0 = std::time::Instant::now();
    let o = query(&idx, "area of a rectangle", &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    // And an update walks past it (counted as not a regular file).
    let o = common::leann(&["index", "update", "--index", idx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Names that are not UTF-8 are skipped and counted; names with terminal
/// escapes are indexed and printed escaped in text output.
#[test]
fn odd_file_names_are_skipped_or_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let d = common::tempdir();
    let t = small_tree(d.path());
    let bad = t.join(std::ffi::OsStr::from_bytes(b"src/caf\xe9.py"));
    fs::write(&bad, "def latin():\n    return 1\n").unwrap();
    write(
        &t,
        "src/evil\x1b[2J\x1b]0;owned\x07.py",
        b"def clear_screen_trick():\n    \"\"\"Wipe the terminal.\"\"\"\n    return 0\n",
    );
    let idx = d.path().join("idx");
    let o = common::leann(&[
        "index",
        "create",
        "--input",
        t.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("name not UTF-8: 1"), "{}", stdout(&o));
    let o = query(
        &idx,
        "clear_screen_trick wipe the terminal",
        &["--color", "always"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("src/evil\\x1b[2J\\x1b]0;owned\\x07.py"),
        "{out}"
    );
    // Colour codes are ours; no escape from the file name reaches the
    // terminal raw.
    assert!(!out.contains("\x1b[2J") && !out.contains('\x07'), "{out:?}");
    // JSON keeps the exact name (escaped by JSON itself).
    let o = query(
        &idx,
        "clear_screen_trick wipe the terminal",
        &["--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(common::items(&v)
        .iter()
        .any(|r| r["path"] == "src/evil\x1b[2J\x1b]0;owned\x07.py"));
}

/// Item 4: `--top-k` is capped, empty and word-less queries are refused, and
/// a bad batch line gets its own error while the others are answered.
#[test]
fn bad_requests_get_clear_errors() {
    let d = common::tempdir();
    let t = small_tree(d.path());
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, None);
    for k in ["18446744073709551615", "4294967296", "10001", "0"] {
        let o = query(&idx, "area", &["--top-k", k]);
        assert_eq!(o.status.code(), Some(2), "--top-k {k}: {}", stderr(&o));
        assert!(stderr(&o).contains("--top-k"), "{}", stderr(&o));
    }
    let o = query(&idx, "area", &["--top-k", "10000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for q in ["", "   ", "\t\n", "?!.,;-", "()"] {
        let o = query(&idx, q, &[]);
        assert_eq!(o.status.code(), Some(2), "{q:?}: {}", stdout(&o));
        assert!(stderr(&o).contains("no words"), "{}", stderr(&o));
    }
    // A batch with a line that is not UTF-8, one that is not JSON, one with
    // a huge top_k and one empty query between good lines.
    let batch = d.path().join("batch.jsonl");
    let mut b = Vec::new();
    b.extend_from_slice(b"{\"id\": 1, \"query\": \"area of a rectangle\"}\n");
    b.extend_from_slice(b"{\"id\": 2, \"query\": \"caf\xe9\"}\n");
    b.extend_from_slice(b"not json\n");
    b.extend_from_slice(b"{\"id\": 4, \"query\": \"greet\", \"top_k\": 99999999999}\n");
    b.extend_from_slice(b"{\"id\": 5, \"query\": \"  \"}\n");
    b.extend_from_slice(b"{\"id\": 6, \"query\": \"greet someone by name\"}\n");
    fs::write(&batch, &b).unwrap();
    let o = common::leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--batch",
        batch.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{}", stdout(&o));
    assert_eq!(lines[0]["id"], 1);
    assert!(!common::items(&lines[0]).is_empty());
    for (i, want) in [
        (1, "not UTF-8"),
        (2, "expected"),
        (3, "--top-k"),
        (4, "no words"),
    ] {
        assert_eq!(lines[i]["line"], i + 1, "{}", lines[i]);
        assert!(
            lines[i]["error"].as_str().unwrap().contains(want),
            "{}",
            lines[i]
        );
    }
    assert_eq!(lines[5]["id"], 6);
    assert!(!common::items(&lines[5]).is_empty());
}

/// Item 4: config errors name the field; arrays never stand in for objects;
/// the `hnsw` section is checked like the others.
#[test]
fn config_shapes_are_checked_naming_the_field() {
    let d = common::tempdir();
    let t = small_tree(d.path());
    let cases: Vec<(String, &str)> = vec![
        ("[]".into(), "must be a JSON object, not an array"),
        (
            "[{\"complexity\": \"low\"}]".into(),
            "must be a JSON object",
        ),
        ("{\"graph\": [32, 48]}".into(), "graph"),
        (
            "{\"hnsw\": {\"M\": 16, \"efConstrution\": 100}}".into(),
            "hnsw",
        ),
        ("{\"hnsw\": {\"M\": \"many\"}}".into(), "hnsw.M"),
        ("{\"hnsw\": 5}".into(), "hnsw"),
        (
            "{\"filters\": {\"hidden\": \"yes\"}}".into(),
            "filters.hidden",
        ),
        (
            format!(
                "{{\"filters\": {{\"excludePaths\": [{}]}}}}",
                vec!["\"x/\""; 10_001].join(",")
            ),
            "filters.excludePaths",
        ),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let cfg = d.path().join(format!("c{i}.json"));
        fs::write(&cfg, json).unwrap();
        let out = d.path().join(format!("idx{i}"));
        let o = common::leann(&[
            "index",
            "create",
            "--input",
            t.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{json}");
        assert!(
            stderr(&o).contains(want),
            "{}: {}",
            &json[..json.len().min(60)],
            stderr(&o)
        );
        assert!(!out.exists());
    }
    // The brief's production hnsw section is accepted.
    let cfg = d.path().join("ok.json");
    fs::write(
        &cfg,
        r#"{"hnsw": {"M": 32, "efConstruction": 400, "efSearch": 200}}"#,
    )
    .unwrap();
    common::create_index(&t, &d.path().join("ok"), Some(&cfg));
}
