//! Issue 13, item 1: one writer per index (SPEC.md "Writer lock", L-1..L-5).
//! Writers of other processes wait for the lock or fail naming its holder; a
//! long-lived watcher lets go between batches and opens the index again when
//! another writer changed it; nothing acknowledged is lost.

mod common;

use leann::index::Index;
use leann::io::{ReadMode, Storage};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_leann")
}

fn storage() -> std::sync::Arc<dyn Storage> {
    leann::io::open_storage(leann::io::Backend::Pread).unwrap()
}

/// A small Python tree and its index.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("pkg")).unwrap();
    for i in 0..6 {
        std::fs::write(
            tree.join(format!("pkg/mod{i}.py")),
            format!(
                "def helper_{i}(x):\n    \"\"\"Scale by {i}.\"\"\"\n    return x * {i}\n\n\ndef other_{i}(s):\n    return s.strip() + \"{i}\"\n"
            ),
        )
        .unwrap();
    }
    let idx = d.path().join("idx");
    common::create_index(&tree, &idx, None);
    (d, tree, idx)
}

/// Whether the index, as a fresh reader sees it, holds `needle` of file
/// `rel` as it is now: a live chunk of that path covers the needle's bytes
/// and its hash matches the file there.
fn indexed(idx: &Path, tree: &Path, rel: &str, needle: &str) -> bool {
    let text = std::fs::read_to_string(tree.join(rel)).unwrap();
    let at = text.find(needle).expect("needle in the file") as u32;
    let st = storage();
    let index = Index::open(st.as_ref(), idx, ReadMode::Buffered, Some(0)).unwrap();
    let live = index.live_ids();
    let mut chunks: Vec<(u32, u32, [u8; 16])> = Vec::new();
    for seg in &index.segments {
        let store = seg.chunks.as_ref().unwrap();
        for (n, id) in seg.ids.iter().enumerate() {
            let c = store.info(n as u32);
            if c.path == rel && live.contains(id) && !index.delta.upserts.contains_key(id) {
                chunks.push((c.start_byte, c.byte_len, c.hash));
            }
        }
    }
    for e in index.delta.upserts.values() {
        if let Some(c) = e.chunk.as_ref().filter(|c| c.path == rel) {
            chunks.push((c.start_byte, c.byte_len, c.hash));
        }
    }
    chunks.iter().any(|&(start, len, hash)| {
        let end = (start + len) as usize;
        start <= at
            && at + needle.len() as u32 <= start + len
            && end <= text.len()
            && leann::chunk::split::content_hash(&text[start as usize..end]) == hash
    })
}

fn validate(idx: &Path) {
    let out = common::leann(&["index", "validate", idx.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `leann index update --watch`, its stdout lines on a channel.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Watcher {
    fn start(idx: &Path) -> Watcher {
        let mut child = Command::new(bin())
            .args([
                "index",
                "update",
                "--index",
                idx.to_str().unwrap(),
                "--watch",
                "--debounce-ms",
                "100",
                "--wait-lock",
                "60",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let (ready_tx, ready) = mpsc::channel();
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let errs = errors.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if l.starts_with("watching") {
                    let _ = ready_tx.send(());
                } else {
                    errs.lock().unwrap().push(l);
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(60))
            .expect("the watcher never got ready");
        Watcher {
            child,
            lines,
            errors,
        }
    }

    /// Wait for a batch line saying `what` (e.g. "1 changed"); other lines
    /// are skipped.
    fn ack(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{what}` from the watcher"));
            if l.contains(what) && l.contains("upserted") {
                return;
            }
        }
    }

    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let e = self.errors.lock().unwrap().clone();
        e
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(c: Child, what: &str) {
    let out = c.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// L-2: a second writer waits, then fails with exit 2 naming the holder's PID
/// and command; readers are not held up.
#[test]
fn a_second_writer_fails_naming_the_holder() {
    let (_d, tree, idx) = setup();
    let st = storage();
    let held = st
        .lock_dir(&idx, "pid 4242 (leann test holder)", Duration::ZERO)
        .unwrap();
    std::fs::write(tree.join("pkg/new.py"), "def fresh():\n    return 1\n").unwrap();
    let t0 = Instant::now();
    let out = common::leann(&[
        "index",
        "update",
        "--index",
        idx.to_str().unwrap(),
        "--wait-lock",
        "0.5",
    ]);
    let waited = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // The holder is named as it described itself in LOCK.
    assert!(err.contains("locked by another writer"), "{err}");
    assert!(err.contains("pid 4242 (leann test holder)"), "{err}");
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    // Compaction is a writer too.
    let out = common::leann(&[
        "index",
        "compact",
        "--index",
        idx.to_str().unwrap(),
        "--wait-lock",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // Readers never take the lock.
    let out = common::leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "scale a number",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Released: the update goes through and finds the new file.
    drop(held);
    let out = common::leann(&["index", "update", "--index", idx.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(indexed(&idx, &tree, "pkg/new.py", "def fresh("));
}

/// L-5: the kernel drops the lock of a holder killed with SIGKILL.
#[test]
fn sigkill_of_the_holder_releases_the_lock() {
    let (_d, _tree, idx) = setup();
    // debug-workload takes the lock (enable_writes) and keeps writing.
    let d2 = common::tempdir();
    let acked = d2.path().join("acked");
    let bare = d2.path().join("bare");
    let st = storage();
    let base = common::clustered(300, 8, 4, 9);
    Index::create(st.as_ref(), &bare, &base, None, &Default::default()).unwrap();
    let mut child = Command::new(bin())
        .args([
            "debug-workload",
            "--index",
            bare.to_str().unwrap(),
            "--acked",
            acked.to_str().unwrap(),
            "--from",
            "1000",
            "--batches",
            "100000",
            "--compact-every",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until the child holds it, this process gets the lock; wait until not.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match st.lock_dir(&bare, "probe", Duration::ZERO) {
            Ok(g) => drop(g),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("pid {}", child.id())), "{msg}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the workload never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let g = st
        .lock_dir(&bare, "after the kill", Duration::from_secs(5))
        .expect("the killed holder's lock is gone");
    drop(g);
    drop(idx);
}

/// The scenario: `update --watch` running, `index compact` from
/// another process, files saved meanwhile: every edit the watcher
/// acknowledged is in the index afterwards, and the index validates.
#[test]
fn watch_and_compaction_from_another_process_lose_nothing() {
    let (_d, tree, idx) = setup();
    let w = Watcher::start(&idx);
    let mut want = Vec::new();
    let mut body = std::fs::read_to_string(tree.join("pkg/mod0.py")).unwrap();
    for round in 0..6 {
        let compaction = spawn(&[
            "index",
            "compact",
            "--index",
            idx.to_str().unwrap(),
            "--wait-lock",
            "60",
        ]);
        std::thread::sleep(Duration::from_millis(37 * round));
        let name = format!("edited_{round}");
        body.push_str(&format!("\n\ndef {name}(v):\n    return v + {round}\n"));
        std::fs::write(tree.join("pkg/mod0.py"), &body).unwrap();
        want.push(name);
        w.ack("1 changed");
        finish(compaction, "compaction beside the watcher");
    }
    let errors = w.stop();
    assert!(
        errors.iter().all(|e| !e.contains("error")),
        "watcher: {errors:?}"
    );
    validate(&idx);
    for name in &want {
        assert!(
            indexed(&idx, &tree, "pkg/mod0.py", &format!("def {name}(")),
            "acknowledged edit {name} lost"
        );
    }
}

/// N one-shot updates at once, a watcher and compactions: every update exits
/// 0, every file written before an acknowledged update is in the index, and
/// ids never collide (each chunk keeps its own symbol).
#[test]
fn concurrent_updates_watch_and_compactions_lose_nothing() {
    let (_d, tree, idx) = setup();
    let w = Watcher::start(&idx);
    let writers = 3;
    let rounds = 4;
    let mut handles = Vec::new();
    for k in 0..writers {
        let (tree, idx) = (tree.clone(), idx.clone());
        handles.push(std::thread::spawn(move || {
            let mut names = Vec::new();
            for r in 0..rounds {
                let name = format!("writer_{k}_round_{r}");
                std::fs::write(
                    tree.join(format!("pkg/w{k}_{r}.py")),
                    format!("def {name}(a, b):\n    return a * {k} + b * {r}\n"),
                )
                .unwrap();
                let c = spawn(&[
                    "index",
                    "update",
                    "--index",
                    idx.to_str().unwrap(),
                    "--wait-lock",
                    "120",
                ]);
                finish(c, "one-shot update");
                names.push((format!("pkg/w{k}_{r}.py"), name));
            }
            names
        }));
    }
    let compactor = {
        let idx = idx.clone();
        std::thread::spawn(move || {
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(150));
                let c = spawn(&[
                    "index",
                    "compact",
                    "--index",
                    idx.to_str().unwrap(),
                    "--wait-lock",
                    "120",
                ]);
                finish(c, "compaction");
            }
        })
    };
    let mut want = Vec::new();
    for h in handles {
        want.extend(h.join().unwrap());
    }
    compactor.join().unwrap();
    // Let the watcher finish what it saw, then stop it.
    std::thread::sleep(Duration::from_millis(500));
    let errors = w.stop();
    assert!(
        errors
            .iter()
            .all(|e| !e.contains("error") && !e.contains("failed")),
        "watcher: {errors:?}"
    );
    validate(&idx);
    for (rel, name) in &want {
        assert!(
            indexed(&idx, &tree, rel, &format!("def {name}(")),
            "{name} lost"
        );
    }
    // Every chunk is there once: a final update finds nothing to do.
    let out = common::leann(&["index", "update", "--index", idx.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(": 0 changed, 0 added, 0 removed"), "{text}");
}
