//! Issue 13, item 2: `index create` and `--force` never destroy what is not
//! an index, and a failed create leaves the old index whole (SPEC.md
//! "Creating and replacing an index", C-1..C-4).

mod common;

use leann::engine::dir::{create_index, CreateOptions};
use leann::io::fault::{FaultStorage, Tear};
use std::path::{Path, PathBuf};

fn tree(d: &Path) -> PathBuf {
    let t = d.join("tree");
    std::fs::create_dir_all(t.join("src")).unwrap();
    std::fs::write(
        t.join("src/lib.rs"),
        "/// Add two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    )
    .unwrap();
    std::fs::write(
        t.join("src/text.py"),
        "def shout(s):\n    \"\"\"Upper-case a string.\"\"\"\n    return s.upper()\n",
    )
    .unwrap();
    t
}

fn create(input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    common::leann(&common::create_args(input, output, extra))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir` with a digest of its bytes (the writer lock's
/// `LOCK`, which only says who last held it, left out).
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                if p.file_name().is_some_and(|n| n == "LOCK") {
                    continue;
                }
                let digest = blake3::hash(&std::fs::read(&p).unwrap())
                    .to_hex()
                    .to_string();
                out.push((p.clone(), digest));
            }
        }
    }
    out.sort();
    out
}

/// Result paths of `query` with `extra` flags.
fn query_paths(idx: &Path, q: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        q,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let v = common::ok_json(&common::leann(&args));
    common::items(&v)
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

/// Names in `dir` that look like staging directories.
fn staging_left(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".leann-new-"))
        .collect()
}

/// C-1: a non-empty directory that is not an index is refused, with or
/// without --force, and nothing in it changes.
#[test]
fn a_directory_of_user_files_is_never_written_or_removed() {
    let d = common::tempdir();
    let t = tree(d.path());
    let proj = d.path().join("proj");
    std::fs::create_dir_all(proj.join("docs")).unwrap();
    std::fs::write(proj.join("notes.txt"), "mine").unwrap();
    std::fs::write(proj.join("docs/a.md"), "# a").unwrap();
    // A user file named MANIFEST does not make a directory an index.
    std::fs::write(proj.join("MANIFEST"), "include *.py").unwrap();
    let before = snapshot(&proj);
    for extra in [&[][..], &["--force"][..]] {
        let o = create(&t, &proj, extra);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("is not a leann index"),
            "{}",
            stderr(&o)
        );
        assert_eq!(snapshot(&proj), before);
    }
    // An index directory that also holds a user's file is not replaced.
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, None);
    std::fs::write(idx.join("keep.txt"), "mine").unwrap();
    let o = create(&t, &idx, &["--force"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("keep.txt"), "{}", stderr(&o));
    assert_eq!(std::fs::read(idx.join("keep.txt")).unwrap(), b"mine");
    assert!(staging_left(d.path()).is_empty());
}

/// C-2: `--input tree --output tree` (it once deleted the tree with --force),
/// and an output inside the tree that the walk would enter, are refused; an
/// ignored or hidden one is fine and is not indexed.
#[test]
fn an_output_inside_the_input_must_be_ignored_by_it() {
    let d = common::tempdir();
    let t = tree(d.path());
    let before = snapshot(&t);
    for extra in [&[][..], &["--force"][..]] {
        let o = create(&t, &t, extra);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(snapshot(&t), before, "the tree changed");
    }
    let inside = t.join("index");
    let o = create(&t, &inside, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("inside the input tree"),
        "{}",
        stderr(&o)
    );
    assert!(!inside.exists(), "the refused output was left behind");
    assert_eq!(snapshot(&t), before);
    // Ignored by .gitignore: allowed.
    std::fs::write(t.join(".gitignore"), "index/\n").unwrap();
    let o = create(&t, &inside, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Hidden: allowed. An update walks the tree and finds nothing new (the
    // index is not indexed).
    let hidden = t.join(".leann");
    let o = create(&t, &hidden, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = common::leann(&["index", "update", "--index", hidden.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(": 0 changed, 0 added, 0 removed"), "{out}");
}

/// C-3: `--force` builds beside the old index; a bad config, an empty input
/// or a missing input leaves the old index as it was and queryable, and no
/// staging directory behind.
#[test]
fn a_failed_force_leaves_the_old_index_whole() {
    let d = common::tempdir();
    let t = tree(d.path());
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, None);
    let before = snapshot(&idx);
    let found = query_paths(&idx, "add two numbers", &[]);
    assert!(!found.is_empty());
    let bad_config = d.path().join("bad.json");
    std::fs::write(&bad_config, r#"{"complexity": "extreme"}"#).unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let missing = d.path().join("missing");
    let cases: Vec<(&Path, Vec<&str>)> = vec![
        (
            &t,
            vec!["--force", "--config", bad_config.to_str().unwrap()],
        ),
        (&empty, vec!["--force"]),
        (&missing, vec!["--force"]),
        (&t, vec!["--force", "--model", "/nonexistent/model"]),
    ];
    for (input, extra) in cases {
        let o = create(input, &idx, &extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert_eq!(snapshot(&idx), before, "{extra:?} changed the old index");
        assert_eq!(query_paths(&idx, "add two numbers", &[]), found);
        assert!(staging_left(d.path()).is_empty(), "{extra:?}");
    }
    // Without --force an existing index is refused.
    let o = create(&t, &idx, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // A successful --force replaces it with the new tree's index.
    std::fs::write(
        t.join("src/extra.rs"),
        "/// Multiply two numbers.\npub fn mul(a: i32, b: i32) -> i32 {\n    a * b\n}\n",
    )
    .unwrap();
    let o = create(&t, &idx, &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(query_paths(&idx, "multiply two numbers", &[]).contains(&"src/extra.rs".to_string()));
    assert!(staging_left(d.path()).is_empty());
}

/// C-4: a failed create into a new path leaves nothing behind.
#[test]
fn a_failed_create_removes_its_partial_output() {
    let d = common::tempdir();
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = d.path().join("new-index");
    let o = create(&empty, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    assert!(staging_left(d.path()).is_empty());
}

/// C-3 under fault injection: `create_index` replacing an index fails at
/// every storage operation in turn (a full disk, a failed fsync), and at
/// each a crash image is taken: the old index stays openable with its
/// vectors whatever happened, and after a failure nothing is left beside it.
#[test]
fn replacing_an_index_fails_or_crashes_at_every_operation_safely() {
    let base = common::clustered(200, 8, 4, 3);
    let other = common::clustered(150, 8, 4, 5);
    let dir = Path::new("/mem/idx");
    let cfg = leann::config::Config::default();
    // Count the operations of one successful replacement.
    let count = {
        let st = FaultStorage::default();
        leann::engine::index::Index::create(&st, dir, &base, None, &cfg).unwrap();
        let before = st.ops();
        create_index(
            &st,
            dir,
            &CreateOptions {
                force: true,
                ..Default::default()
            },
            |staging| leann::engine::index::Index::create(&st, staging, &other, None, &cfg),
        )
        .unwrap();
        st.ops() - before
    };
    assert!(count > 5, "{count}");
    eprintln!(
        "replacement: {count} storage operations; each one failed, and crashed at (2 tear modes)"
    );
    for n in 0..count {
        let st = FaultStorage::default();
        leann::engine::index::Index::create(&st, dir, &base, None, &cfg).unwrap();
        let at = st.ops() + n;
        st.fail_at(at);
        let r = create_index(
            &st,
            dir,
            &CreateOptions {
                force: true,
                ..Default::default()
            },
            |staging| leann::engine::index::Index::create(&st, staging, &other, None, &cfg),
        );
        let idx = leann::engine::index::Index::open(&st, dir, leann::io::ReadMode::Buffered, None)
            .unwrap_or_else(|e| panic!("op {n}: {e}"));
        let len = idx.len();
        match r {
            // The swap itself failed after the build, or the cleanup after it.
            Ok(_) => assert_eq!(len, 150, "op {n}"),
            Err(_) => assert!(len == 200 || len == 150, "op {n}: {len}"),
        }
        let left: Vec<PathBuf> = st
            .paths()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".leann-new-"))
            .collect();
        assert!(
            left.is_empty() || r_is_cleanup_failure(n, count),
            "op {n}: {left:?}"
        );
        // Crash at this operation instead: the image opens with one of the
        // two indexes.
        let st = FaultStorage::default();
        leann::engine::index::Index::create(&st, dir, &base, None, &cfg).unwrap();
        st.stop_at(st.ops() + n);
        let _ = create_index(
            &st,
            dir,
            &CreateOptions {
                force: true,
                ..Default::default()
            },
            |staging| leann::engine::index::Index::create(&st, staging, &other, None, &cfg),
        );
        for tear in [Tear::Drop, Tear::Keep] {
            let img = st.crash_image(tear);
            let idx =
                leann::engine::index::Index::open(&img, dir, leann::io::ReadMode::Buffered, None)
                    .unwrap_or_else(|e| panic!("crash at op {n}: {e}"));
            assert!(idx.len() == 200 || idx.len() == 150);
        }
    }
}

/// The last operations of a replacement remove the old index from the
/// staging path after the swap; a failure there leaves it behind (the new
/// index is in place), which the next create removes as dead staging.
fn r_is_cleanup_failure(n: u64, count: u64) -> bool {
    n + 1 >= count
}

/// Issue 16 §3: a create whose graph does not fit `--memory-budget` builds
/// it out of core, in partitions, and the index answers like one built in
/// memory; a budget that is not a size is refused naming the flag.
#[test]
fn a_small_memory_budget_builds_the_graph_out_of_core() {
    let d = common::tempdir();
    let t = d.path().join("tree");
    let words = [
        "parse", "render", "upload", "encrypt", "compress", "schedule", "resize", "validate",
        "merge", "index", "fetch", "notify", "archive", "tokenize", "rotate", "hash",
    ];
    let things = [
        "invoice",
        "thumbnail",
        "session",
        "matrix",
        "playlist",
        "certificate",
        "sensor",
        "ledger",
        "manifest",
        "subtitle",
        "coupon",
        "telemetry",
        "glacier",
        "orbit",
        "recipe",
        "voucher",
        "kernel",
        "avatar",
        "tariff",
        "harvest",
    ];
    let mut n = 0;
    for w in &words {
        for th in &things {
            let dir = t.join(format!("pkg_{w}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(format!("{th}.py")),
                format!(
                    "def {w}_{th}(value, options=None):\n    \"\"\"{w} the {th} and return it.\"\"\"\n    result = [{w}_step(x) for x in value.{th}_items]\n    return {th}_result(result, options)\n\n\nclass {th}_{w}_helper:\n    def run(self, item):\n        return {w}_{th}(item)\n"
                ),
            )
            .unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 320);
    let whole = d.path().join("whole");
    let parts = d.path().join("parts");
    let o = create(&t, &whole, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("out of core"));
    // SPEC.md R-3: the partitions' scratch files go in the index directory
    // (removed at the end), never in the system's temporary directory.
    let sys_tmp = d.path().join("sys-tmp");
    std::fs::create_dir(&sys_tmp).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(common::create_args(&t, &parts, &["--memory-budget", "64M"]))
        .env("TMPDIR", &sys_tmp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said.contains("graph built out of core in"), "{said}");
    let left: Vec<_> = std::fs::read_dir(&sys_tmp).unwrap().collect();
    assert!(left.is_empty(), "scratch left in TMPDIR: {left:?}");
    assert!(!parts.join("scratch.build").exists());
    let v = common::leann(&["index", "validate", parts.to_str().unwrap()]);
    assert!(v.status.success(), "{}", stderr(&v));
    // Semantic-only queries for eight functions: each is found by both.
    let top = |idx: &Path, q: &str| -> Vec<String> {
        query_paths(idx, q, &["--semantic-ratio", "1", "--top-k", "5"])
    };
    let mut found = (0, 0);
    for (w, th) in [
        ("encrypt", "ledger"),
        ("resize", "thumbnail"),
        ("notify", "sensor"),
        ("archive", "glacier"),
        ("tokenize", "subtitle"),
        ("rotate", "certificate"),
        ("compress", "telemetry"),
        ("schedule", "harvest"),
    ] {
        let want = format!("pkg_{w}/{th}.py");
        let q = format!("{w} the {th}");
        found.0 += top(&whole, &q).contains(&want) as usize;
        found.1 += top(&parts, &q).contains(&want) as usize;
    }
    assert!(found.0 >= 6, "in memory found {}/8", found.0);
    assert!(
        found.1 >= found.0.saturating_sub(1),
        "out of core {} vs in memory {}",
        found.1,
        found.0
    );
    // A killed build's scratch directory is not part of the index: opening
    // it for writing removes it (SPEC.md R-1, R-3).
    std::fs::create_dir(parts.join("scratch.build")).unwrap();
    std::fs::write(parts.join("scratch.build/part-0.adj"), b"left over").unwrap();
    // A file where a scratch directory belongs goes too.
    std::fs::write(parts.join("scratch.compact"), b"not a directory").unwrap();
    let v = common::leann(&["index", "validate", parts.to_str().unwrap()]);
    assert!(v.status.success(), "{}", stderr(&v));
    let u = common::leann(&["index", "update", "--index", parts.to_str().unwrap()]);
    assert!(u.status.success(), "{}", stderr(&u));
    assert!(!parts.join("scratch.build").exists());
    assert!(!parts.join("scratch.compact").exists());
    let o = create(&t, &d.path().join("bad"), &["--memory-budget", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--memory-budget"), "{}", stderr(&o));
    assert!(!d.path().join("bad").join("MANIFEST").exists());
}
