//! Issue 13, item 1: one writer per index (SPEC.md "Writer lock", L-1..L-5).
//! Writers of other processes wait for the lock or fail naming its holder; a
//! long-lived watcher lets go between batches and opens the index again when
//! another writer changed it; nothing acknowledged is lost.

mod common;

use leann::engine::index::Index;
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
            let id = &id;
            let c = store.info(n as u32).unwrap();
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
    let (d, tree, idx) = setup();
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
    // So is a rebuild, in place or into a new index (the copy is made under
    // the old index's lock), and nothing is made at --output.
    for extra in [
        &[][..],
        &["--output", d.path().join("copy").to_str().unwrap()][..],
    ] {
        let mut args = vec![
            "index",
            "rebuild",
            "--index",
            idx.to_str().unwrap(),
            "--wait-lock",
            "0",
        ];
        args.extend_from_slice(extra);
        let out = common::leann(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("pid 4242 (leann test holder)"), "{err}");
    }
    assert!(!d.path().join("copy").exists());
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
/// acknowledged is in the index afterwards, and the index validates (L-4:
/// the watcher opens the index again after each compaction it did not do).
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

/// Issue 13, item 5: `index validate` reports the logs (batches, records,
/// bytes) and a torn tail the next writer would discard, with exit 1; empty
/// logs left by killed compactions (not the newest) are removed under the
/// lock, and what the other logs hold stays.
#[test]
fn validate_reports_torn_tails_and_empty_logs_are_cleaned() {
    let d = common::tempdir();
    let dir = d.path().join("bare");
    let st = storage();
    let base = common::clustered(300, 8, 4, 9);
    Index::create(st.as_ref(), &dir, &base, None, &Default::default()).unwrap();
    let mut idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, None).unwrap();
    idx.enable_writes(st.as_ref()).unwrap();
    let extra = common::clustered(4, 8, 4, 11);
    for i in 0..3u64 {
        idx.write(&[leann::format::wal::Record::Upsert {
            id: 5000 + i,
            vector: extra.data[i as usize * 8..(i as usize + 1) * 8].to_vec(),
            chunk: None,
        }])
        .unwrap();
    }
    drop(idx);
    let out = common::leann(&["index", "validate", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("1 logs, 3 committed batches (3 records"),
        "{text}"
    );
    // Half a batch more: a torn tail. validate says so, exit 1.
    let log = dir.join("wal-00000001.log");
    let len = std::fs::metadata(&log).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, &[0x55; 37]).unwrap();
    drop(f);
    let out = common::leann(&["index", "validate", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("damaged"), "{text}");
    assert!(
        text.contains(&format!(
            "37 bytes after the last committed batch (offset {len})"
        )),
        "{text}"
    );
    // Two compactions killed after starting their logs: empty logs 2 and 3.
    for seq in [2, 3] {
        leann::engine::wal::Wal::create(st.as_ref(), &dir, seq, 8).unwrap();
    }
    let mut idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, None).unwrap();
    assert_eq!(idx.live_len(), 303);
    idx.enable_writes(st.as_ref()).unwrap();
    let names = st.list_dir(&dir).unwrap();
    assert!(
        !names.contains(&"wal-00000002.log".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"wal-00000003.log".to_string()), "{names:?}");
    assert!(names.contains(&"wal-00000001.log".to_string()), "{names:?}");
    // The torn tail of log 1 stays (only the newest log is appended to and
    // truncated); its batches are all read.
    drop(idx);
    let idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, None).unwrap();
    assert_eq!(idx.live_len(), 303);
}

/// L-3: a writer waiting on the lock of an index that `create --force`
/// swaps away ends up holding the lock of the index now at that path, not
/// of the old one (two writers never lock two files for one path).
#[test]
fn a_waiter_follows_the_lock_to_a_swapped_in_index() {
    let d = common::tempdir();
    let st = storage();
    let dir = d.path().join("idx");
    let base = common::clustered(200, 8, 4, 1);
    Index::create(st.as_ref(), &dir, &base, None, &Default::default()).unwrap();
    let held = st
        .lock_dir(&dir, "pid 1 (create --force)", Duration::ZERO)
        .unwrap();
    let waiter = {
        let (st, dir) = (st.clone(), dir.clone());
        std::thread::spawn(move || {
            let g = st
                .lock_dir(&dir, "pid 2 (waiter)", Duration::from_secs(20))
                .unwrap();
            // Hold it until the probe below has looked.
            std::thread::sleep(Duration::from_millis(600));
            drop(g);
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // The swap `create --force` makes, then its lock goes.
    let staging = d.path().join(".idx.leann-new-test");
    Index::create(st.as_ref(), &staging, &base, None, &Default::default()).unwrap();
    st.exchange_dirs(&staging, &dir).unwrap();
    drop(held);
    std::thread::sleep(Duration::from_millis(250));
    let e = st
        .lock_dir(&dir, "probe", Duration::ZERO)
        .err()
        .expect("the waiter holds the lock of the index now at the path");
    assert!(e.to_string().contains("pid 2 (waiter)"), "{e}");
    waiter.join().unwrap();
}

/// readers take no lock; opens that race compactions by another
/// handle (files replaced and removed meanwhile) start over and succeed.
#[test]
fn readers_open_while_compactions_replace_files() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let d = common::tempdir();
    let st = storage();
    let dir = d.path().join("idx");
    let base = common::clustered(400, 8, 4, 2);
    Index::create(st.as_ref(), &dir, &base, None, &Default::default()).unwrap();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let reader = {
        let (st, dir, done) = (st.clone(), dir.clone(), done.clone());
        std::thread::spawn(move || {
            let mut opens = 0;
            while !done.load(Ordering::SeqCst) || opens < 20 {
                let idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, Some(0))
                    .unwrap_or_else(|e| panic!("open {opens} failed: {e}"));
                assert!(idx.live_len() >= 400);
                opens += 1;
            }
            opens
        })
    };
    let mut w = Index::open(st.as_ref(), &dir, ReadMode::Buffered, None).unwrap();
    let vectors =
        |id: u64| base.data[(id % 400) as usize * 8..(id % 400 + 1) as usize * 8].to_vec();
    for round in 0..12u64 {
        w.enable_writes(st.as_ref()).unwrap();
        w.write(&[leann::format::wal::Record::Upsert {
            id: 10_000 + round,
            vector: vectors(round),
            chunk: None,
        }])
        .unwrap();
        leann::engine::compact::compact(
            &mut w,
            st.as_ref(),
            leann::engine::compact::Method::Rebuild,
            &|_, _, _, ids, out| {
                for &id in ids {
                    out.extend_from_slice(&vectors(id));
                }
                Ok(())
            },
            None,
            &|_| {},
        )
        .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let opens = reader.join().unwrap();
    assert!(opens >= 20);
}

/// Run `leann args`, requiring exit code 0.
fn run_ok(args: &[&str]) {
    let out = common::leann(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `leann index rebuild` (the brief's command): in place with a new anchor
/// count, keeping every chunk and the log's changes; into `--output`,
/// leaving the original as it was; never over a directory that is not an
/// index, nor over `--index` itself.
#[test]
fn rebuild_in_place_and_into_a_new_index() {
    let (d, tree, idx) = setup();
    std::fs::write(tree.join("pkg/late.py"), "def latecomer():\n    return 7\n").unwrap();
    run_ok(&["index", "update", "--index", idx.to_str().unwrap()]);
    let anchors = |dir: &Path| {
        let st = storage();
        let i = Index::open(st.as_ref(), dir, ReadMode::Buffered, Some(0)).unwrap();
        (
            i.segments.len(),
            i.segments[0].quant.anchors.k,
            i.config.anchor_selection.clusters,
        )
    };
    let before = std::fs::read(idx.join("MANIFEST")).unwrap();
    let copy = d.path().join("copy");
    run_ok(&[
        "index",
        "rebuild",
        "--index",
        idx.to_str().unwrap(),
        "--output",
        copy.to_str().unwrap(),
        "--new-anchor-count",
        "3",
    ]);
    assert_eq!(anchors(&copy), (1, 3, Some(3)));
    assert!(indexed(&copy, &tree, "pkg/late.py", "def latecomer("));
    assert!(indexed(&copy, &tree, "pkg/mod3.py", "def helper_3("));
    validate(&copy);
    // The original is untouched (its log still holds the update).
    assert_eq!(std::fs::read(idx.join("MANIFEST")).unwrap(), before);
    assert!(indexed(&idx, &tree, "pkg/late.py", "def latecomer("));
    // In place.
    run_ok(&[
        "index",
        "rebuild",
        "--index",
        idx.to_str().unwrap(),
        "--new-anchor-count",
        "2",
    ]);
    assert_eq!(anchors(&idx), (1, 2, Some(2)));
    assert!(indexed(&idx, &tree, "pkg/late.py", "def latecomer("));
    validate(&idx);
    // Refused: --output over the tree, over an index without --force, over
    // --index itself, and an anchor count of 0. Nothing changes.
    let tree_files = std::fs::read_dir(&tree).unwrap().count();
    for (extra, why) in [
        (
            vec!["--output", tree.to_str().unwrap()],
            "is not a leann index",
        ),
        (
            vec!["--output", copy.to_str().unwrap()],
            "already holds an index",
        ),
        (vec!["--output", idx.to_str().unwrap()], "is --index itself"),
        (vec!["--new-anchor-count", "0"], "at least one anchor"),
    ] {
        let mut args = vec!["index", "rebuild", "--index", idx.to_str().unwrap()];
        args.extend(extra);
        let out = common::leann(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&tree).unwrap().count(), tree_files);
    assert_eq!(anchors(&copy), (1, 3, Some(3)));
    assert_eq!(anchors(&idx), (1, 2, Some(2)));
}
