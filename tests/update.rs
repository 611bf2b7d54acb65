//! `leann index update` through the library (issue 4, item 3): file stamps
//! (SPEC.md "File stamps", rules T-1..T-4) let unchanged files go unread and
//! never hide a change.

mod common;

use leann::config::Config;
use leann::ingest::update::{update_from_tree, UpdateReport};
use leann::io::Storage;
use leann::search::searcher::Searcher;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const FILES: [(&str, &str); 4] = [
    (
        "src/a.rs",
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h\n}\n",
    ),
    (
        "src/b.rs",
        "pub fn brighten(c: u8) -> u8 {\n    c.saturating_add(10)\n}\n",
    ),
    (
        "lib/c.py",
        "def count_words(text):\n    return len(text.split())\n",
    ),
    ("lib/d.py", "def double(x):\n    return 2 * x\n"),
];

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn set_mtime(p: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

/// A tree of FILES (modified `age` ago) and its index.
fn setup(age: Duration) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    for (rel, text) in FILES {
        write(&tree, rel, text);
        set_mtime(&tree.join(rel), SystemTime::now() - age);
    }
    let idx = d.path().join("idx");
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let emb = leann::embed::static_model::StaticModel::builtin().unwrap();
    leann::ingest::tree::create_from_tree(
        st.as_ref(),
        &tree,
        &idx,
        &Config::default(),
        &emb,
        leann::embed::EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
    (d, tree, idx)
}

fn update(idx: &Path, input: Option<&Path>) -> UpdateReport {
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), idx, input, None).unwrap();
    update_from_tree(&mut s, st.as_ref(), input).unwrap()
}

fn changes(r: &UpdateReport) -> (usize, usize, usize) {
    (r.files_changed, r.files_added, r.files_removed)
}

/// T-2: files whose size and time match their stamps are not read; an
/// edited file is.
#[test]
fn unchanged_files_are_trusted_and_edits_are_found() {
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    let r = update(&idx, None);
    assert_eq!(r.files_trusted, 4);
    assert_eq!(changes(&r), (0, 0, 0));
    write(
        &tree,
        "src/a.rs",
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h * 1.0\n}\n",
    );
    let r = update(&idx, None);
    assert_eq!(r.files_trusted, 3);
    assert_eq!(changes(&r), (1, 0, 0));
    assert_eq!(r.chunks_upserted, 1);
    // The edit is new: it is read again until it is older than the margin.
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, changes(&r)), (3, (0, 0, 0)));
}

/// T-3: a same-size edit that keeps the recorded modification time is still
/// found when that time is within the racy margin of the stamps.
#[test]
fn an_edit_in_the_same_clock_tick_is_found() {
    let (_d, tree, idx) = setup(Duration::ZERO);
    let p = tree.join("src/b.rs");
    let before = mtime(&p);
    let old = fs::read_to_string(&p).unwrap();
    let new = old.replace("10", "20");
    assert_eq!(new.len(), old.len());
    fs::write(&p, &new).unwrap();
    set_mtime(&p, before);
    let r = update(&idx, None);
    assert_eq!(r.files_trusted, 0, "fresh files must not be trusted");
    assert_eq!(changes(&r), (1, 0, 0));
}

/// T-4: a change made to the index by other means (here: a delete by path
/// written straight to the log) is not hidden by a matching stamp.
#[test]
fn stamps_do_not_hide_changes_to_the_index() {
    let (_d, _tree, idx) = setup(Duration::from_secs(3600));
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    {
        let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
        s.index.enable_writes(st.as_ref()).unwrap();
        s.index
            .write(&[leann::format::wal::Record::DeletePath {
                path: "lib/c.py".into(),
            }])
            .unwrap();
    }
    let r = update(&idx, None);
    assert_eq!(r.files_trusted, 3);
    assert_eq!(changes(&r), (0, 1, 0), "lib/c.py must come back");
}

/// A damaged stamps file is reported and ignored (every file is read), then
/// rewritten; stamps from another root (T-1) are not used.
#[test]
fn damaged_or_foreign_stamps_are_not_used() {
    let (d, tree, idx) = setup(Duration::from_secs(3600));
    let f = idx.join(leann::engine::stamps::FILE_NAME);
    let mut b = fs::read(&f).unwrap();
    let at = b.len() - 10;
    b[at] ^= 0x40;
    fs::write(&f, &b).unwrap();
    let r = update(&idx, None);
    let note = r.stamps_note.clone().expect("damage reported");
    assert!(note.contains("FILES"), "{note}");
    assert_eq!((r.files_trusted, changes(&r)), (0, (0, 0, 0)));
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, r.stamps_note.is_none()), (4, true));

    // The same files under another root: stamps are not used, nothing changed.
    let other = d.path().join("other");
    for (rel, _) in FILES {
        let to = other.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(tree.join(rel), &to).unwrap();
        set_mtime(&to, mtime(&tree.join(rel)));
    }
    let r = update(&idx, Some(&other));
    assert_eq!((r.files_trusted, changes(&r)), (0, (0, 0, 0)));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=leann",
            "-c",
            "user.email=leann@example.com",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Issue 4, item 3: `--git-diff A B` re-examines exactly the paths git names:
/// a modification, a rename (old path gone, new path added, its code found at
/// the new path and not embedded again), a deletion and an addition; a file changed on disk but not
/// in the diff is left alone.
#[test]
fn git_diff_names_the_files_to_update() {
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    git(&tree, &["init", "-q"]);
    git(&tree, &["add", "-A"]);
    git(&tree, &["commit", "-q", "-m", "a"]);
    let a = git(&tree, &["rev-parse", "HEAD"]);
    write(
        &tree,
        "src/a.rs",
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h * 1.0\n}\n",
    );
    git(&tree, &["mv", "lib/c.py", "lib/words.py"]);
    git(&tree, &["rm", "-q", "lib/d.py"]);
    write(
        &tree,
        "src/e.rs",
        "pub fn echo(s: &str) -> String {\n    s.to_string()\n}\n",
    );
    git(&tree, &["add", "-A"]);
    git(&tree, &["commit", "-q", "-m", "b"]);
    // Changed on disk after the commit, so not in the diff.
    write(
        &tree,
        "src/b.rs",
        "pub fn brighten(c: u8) -> u8 {\n    c.saturating_add(99)\n}\n",
    );

    let ch = leann::ingest::update::git_changes(&tree, &a, "HEAD").unwrap();
    let want: std::collections::BTreeSet<String> = [
        "src/a.rs",
        "lib/c.py",
        "lib/words.py",
        "lib/d.py",
        "src/e.rs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(ch.paths, want);
    assert_eq!(ch.renames, 1);
    assert!(!ch.b_is_not_head);

    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    let r =
        leann::ingest::update::update_paths(&mut s, st.as_ref(), None, Some(&ch.paths)).unwrap();
    // a.rs changed; words.py and e.rs added; c.py and d.py removed.
    assert_eq!(changes(&r), (1, 2, 2));
    // Only the named paths were walked (b.rs was not looked at).
    assert_eq!(r.files_scanned, 3);
    // The renamed file's code comes from its old path's chunks, which the
    // scope names, without reading the rest of the index.
    assert!(r.chunks_reused_from_segments >= 1, "{r:?}");
    let mut ctx = leann::engine::index::QueryContext::default();
    let o = leann::search::searcher::QueryOptions {
        k: 10,
        ..Default::default()
    };
    let hits = s.query("count the words of a text", &o, &mut ctx).unwrap();
    let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert!(paths.contains(&"lib/words.py"), "{paths:?}");
    assert!(
        !paths.contains(&"lib/c.py") && !paths.contains(&"lib/d.py"),
        "{paths:?}"
    );
    assert!(
        hits.iter().all(|h| h.path != "src/b.rs" || h.stale),
        "{paths:?}"
    );
    drop(s);
    // The content check still finds b.rs afterwards.
    let r = update(&idx, None);
    assert_eq!(changes(&r), (1, 0, 0));

    // A revision git does not know is an error naming the git command.
    let e = leann::ingest::update::git_changes(&tree, "no-such-rev", "HEAD").unwrap_err();
    assert!(e.to_string().contains("git -C"), "{e}");
}

/// Issue 16 §4, T-2, T-5: an update of named paths walks only them and
/// leaves FILES as it was (its cost follows the change, not the stamps
/// table); a full update afterwards trusts every other file without reading
/// it and reads the changed one again, finding nothing more to do.
#[test]
fn scoped_update_walks_only_its_paths_and_keeps_other_stamps() {
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    // More files the scope must not reach, in a directory of their own and
    // beside a named file.
    for i in 0..20 {
        let rel = format!("vendor/v{i}.py");
        write(&tree, &rel, &format!("def v{i}():\n    return {i}\n"));
        set_mtime(
            &tree.join(&rel),
            SystemTime::now() - Duration::from_secs(3600),
        );
    }
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 20, 0));
    write(
        &tree,
        "src/a.rs",
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h * 2.0\n}\n",
    );
    set_mtime(
        &tree.join("src/a.rs"),
        SystemTime::now() - Duration::from_secs(60),
    );
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    let only: std::collections::BTreeSet<String> = ["src/a.rs".to_string()].into();
    let stamps_before = std::fs::read(idx.join("FILES")).unwrap();
    let r = leann::ingest::update::update_paths(&mut s, st.as_ref(), None, Some(&only)).unwrap();
    assert_eq!(changes(&r), (1, 0, 0));
    assert_eq!(r.files_scanned, 1, "walked beyond the scope");
    assert_eq!(
        std::fs::read(idx.join("FILES")).unwrap(),
        stamps_before,
        "a scoped update rewrote FILES"
    );
    drop(s);
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 0, 0));
    assert_eq!(r.files_scanned, 24);
    assert_eq!(
        r.files_trusted, 23,
        "stamps of files outside the scope were lost, or the changed file's stale stamp was trusted"
    );
    // That update wrote FILES again: now all are trusted.
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, changes(&r)), (24, (0, 0, 0)));
}

/// Scores of `query`'s hits on the index at `idx`, by path.
fn scores(idx: &Path, query: &str) -> Vec<(String, f32, bool)> {
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let s = Searcher::open(st, idx, None, None).unwrap();
    let mut ctx = leann::engine::index::QueryContext::default();
    let o = leann::search::searcher::QueryOptions {
        k: 10,
        ..Default::default()
    };
    s.query(query, &o, &mut ctx)
        .unwrap()
        .into_iter()
        .map(|h| (h.path, h.score, h.stale))
        .collect()
}

fn score_of(hits: &[(String, f32, bool)], path: &str) -> f32 {
    hits.iter()
        .find(|h| h.0 == path)
        .unwrap_or_else(|| panic!("{path} not in {hits:?}"))
        .1
}

/// Issue 4, item 3: moved code is not embedded again. Its chunks take the
/// PQ reconstruction of their segment copies (a reused upsert), and searches
/// still score them exactly: the same scores as a fresh index of the moved
/// tree, after reopening and after compaction too.
#[test]
fn moved_code_is_not_embedded_again() {
    let (d, tree, idx) = setup(Duration::from_secs(3600));
    fs::create_dir_all(tree.join("src/geo")).unwrap();
    fs::rename(tree.join("src/a.rs"), tree.join("src/geo/area.rs")).unwrap();
    fs::rename(tree.join("lib/c.py"), tree.join("lib/words.py")).unwrap();
    // A copy of unchanged code elsewhere reuses it as well.
    fs::copy(tree.join("lib/d.py"), tree.join("lib/twice.py")).unwrap();
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 3, 2));
    assert_eq!(r.chunks_embedded, 0, "{r:?}");
    assert_eq!(r.chunks_upserted, 3, "{r:?}");
    assert_eq!(r.chunks_reused_from_segments, 3, "{r:?}");

    let fresh = d.path().join("fresh");
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    leann::ingest::tree::create_from_tree(
        st.as_ref(),
        &tree,
        &fresh,
        &Config::default(),
        &leann::embed::static_model::StaticModel::builtin().unwrap(),
        leann::embed::EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
    let queries = [
        ("count the words of a text", "lib/words.py"),
        ("area of a rectangle", "src/geo/area.rs"),
        ("double a number", "lib/twice.py"),
    ];
    let check = |when: &str| {
        for (q, path) in queries {
            let (a, b) = (scores(&idx, q), scores(&fresh, q));
            let (x, y) = (score_of(&a, path), score_of(&b, path));
            assert!((x - y).abs() < 1e-5, "{when}: {q}: {x} vs fresh {y}");
            assert!(a.iter().all(|h| !h.2), "{when}: stale hit in {a:?}");
            assert!(
                a.iter().all(|h| h.0 != "src/a.rs" && h.0 != "lib/c.py"),
                "{when}: an old path in {a:?}"
            );
        }
    };
    // Each `scores` call opens the index again, so the log is replayed.
    check("from the log");
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    let c = s
        .compact(leann::engine::compact::Method::Merge, &|_| {})
        .unwrap();
    assert_eq!(c.live_vectors, 5);
    drop(s);
    check("after compaction");
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 0, 0));
}

/// What a test's watch thread reports: `None` when ready, else the mapped
/// report of a batch.
type WatchRx<T> = std::sync::mpsc::Receiver<Option<T>>;

/// A watch of the index at `idx` on its own thread (events, never polling;
/// a warning fails the test), each batch's report mapped by `batch`; its
/// events from `notify` when `portable`, else from the platform's own
/// source (inotify watches on Linux). Set the flag and join the thread to
/// stop it.
fn spawn_watch<T: Send + 'static>(
    idx: &Path,
    debounce: Duration,
    portable: bool,
    batch: fn(&UpdateReport) -> T,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    WatchRx<T>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<Option<T>>();
    let worker = {
        let (idx, stop) = (idx.to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
            let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
            let o = leann::ingest::watch::WatchOptions {
                debounce,
                portable_events: portable,
                ..Default::default()
            };
            leann::ingest::watch::watch(&mut s, st.as_ref(), None, &o, &stop, &mut |e| match e {
                leann::ingest::watch::WatchEvent::Ready { polling } => {
                    assert!(!polling);
                    tx.send(None).unwrap();
                }
                leann::ingest::watch::WatchEvent::Updated(r) => tx.send(Some(batch(r))).unwrap(),
                leann::ingest::watch::WatchEvent::Warning(w)
                | leann::ingest::watch::WatchEvent::Polling(w) => panic!("{w}"),
                leann::ingest::watch::WatchEvent::Compacted(_) => {}
            })
            .unwrap();
        })
    };
    (stop, rx, worker)
}

/// Issue 4, item 3: `--watch` follows editors' save patterns (write a
/// temporary file and rename it over the original; delete and create), new
/// and removed files, and a renamed directory; afterwards a full check finds
/// nothing the watch missed.
#[test]
fn watch_follows_edits() {
    follows_edits(false);
}

/// `watch_follows_edits` with the events from `notify` (the source used
/// where leann has none of its own).
#[test]
fn watch_follows_edits_with_portable_events() {
    follows_edits(true);
}

fn follows_edits(portable: bool) {
    use std::sync::atomic::Ordering;
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    let (stop, rx, worker) = spawn_watch(&idx, Duration::from_millis(500), portable, changes);
    // The catch-up update comes first, then ready.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        Some((0, 0, 0))
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), None);
    // Sum the updates' counts until they reach `want` (or time out).
    let wait_for = |want: (usize, usize, usize)| {
        let mut got = (0, 0, 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while got != want {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(Some(c)) => got = (got.0 + c.0, got.1 + c.1, got.2 + c.2),
                Ok(None) => {}
                Err(_) => panic!("watch reported {got:?}, want {want:?}"),
            }
        }
    };
    // Write-to-temp + rename over a.rs; delete + create b.rs; a new file; a
    // removed file.
    write(
        &tree,
        "src/a.rs.tmp42",
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h * 2.0\n}\n",
    );
    fs::rename(tree.join("src/a.rs.tmp42"), tree.join("src/a.rs")).unwrap();
    fs::remove_file(tree.join("src/b.rs")).unwrap();
    write(
        &tree,
        "src/b.rs",
        "pub fn brighten(c: u8) -> u8 {\n    c.saturating_add(7)\n}\n",
    );
    write(
        &tree,
        "src/f.rs",
        "pub fn flip(b: bool) -> bool {\n    !b\n}\n",
    );
    fs::remove_file(tree.join("lib/d.py")).unwrap();
    wait_for((2, 1, 1));
    // A renamed directory: its file leaves under the old path, arrives under
    // the new one.
    fs::rename(tree.join("lib"), tree.join("pylib")).unwrap();
    wait_for((0, 1, 1));
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 0, 0), "the watch missed something");
}

/// A storage that fails every write with ENOSPC while `full` is set (reads
/// pass): a disk that fills up and frees again.
struct FullDisk {
    inner: Arc<dyn Storage>,
    full: Arc<std::sync::atomic::AtomicBool>,
}

fn enospc(p: &Path) -> leann::Error {
    leann::Error::io("write", p, std::io::Error::from_raw_os_error(28))
}

struct FullAppend {
    inner: Arc<dyn leann::io::AppendFile>,
    full: Arc<std::sync::atomic::AtomicBool>,
}

impl FullDisk {
    fn is_full(&self) -> bool {
        self.full.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl leann::io::AppendFile for FullAppend {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn append(&self, data: &[u8]) -> leann::Result<()> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            // A full disk takes part of the batch, then refuses.
            let _ = self.inner.append(&data[..data.len() / 2]);
            return Err(enospc(self.path()));
        }
        self.inner.append(data)
    }
    fn sync(&self) -> leann::Result<()> {
        self.inner.sync()
    }
    fn truncate(&self, len: u64) -> leann::Result<()> {
        self.inner.truncate(len)
    }
}

impl Storage for FullDisk {
    fn name(&self) -> &'static str {
        "full-disk"
    }
    fn open_read(
        &self,
        p: &Path,
        m: leann::io::ReadMode,
    ) -> leann::Result<Arc<dyn leann::io::ReadFile>> {
        self.inner.open_read(p, m)
    }
    fn map(&self, p: &Path) -> leann::Result<leann::io::Mapped> {
        self.inner.map(p)
    }
    fn create(&self, p: &Path) -> leann::Result<Box<dyn leann::io::WriteFile>> {
        if self.is_full() {
            return Err(enospc(p));
        }
        self.inner.create(p)
    }
    fn open_append(&self, p: &Path) -> leann::Result<Arc<dyn leann::io::AppendFile>> {
        Ok(Arc::new(FullAppend {
            inner: self.inner.open_append(p)?,
            full: self.full.clone(),
        }))
    }
    fn create_dir_all(&self, p: &Path) -> leann::Result<()> {
        self.inner.create_dir_all(p)
    }
    fn list_dir(&self, p: &Path) -> leann::Result<Vec<String>> {
        self.inner.list_dir(p)
    }
    fn remove_file(&self, p: &Path) -> leann::Result<()> {
        self.inner.remove_file(p)
    }
    fn exists(&self, p: &Path) -> bool {
        self.inner.exists(p)
    }
    fn file_len(&self, p: &Path) -> leann::Result<u64> {
        self.inner.file_len(p)
    }
    fn lock_dir(
        &self,
        d: &Path,
        h: &str,
        w: Duration,
    ) -> leann::Result<Box<dyn leann::io::DirLock>> {
        self.inner.lock_dir(d, h, w)
    }
    fn rename_dir(&self, a: &Path, b: &Path) -> leann::Result<()> {
        self.inner.rename_dir(a, b)
    }
    fn exchange_dirs(&self, a: &Path, b: &Path) -> leann::Result<()> {
        self.inner.exchange_dirs(a, b)
    }
    fn remove_dir_all(&self, p: &Path) -> leann::Result<()> {
        self.inner.remove_dir_all(p)
    }
}

/// Issue 13, item 5 (W-11): a running watch outlives a full disk. The
/// failed batch is reported, nothing of it is acknowledged or left in the
/// log, its changes stay pending, and once space returns they are indexed.
#[test]
fn watch_survives_a_full_disk() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    let full = Arc::new(AtomicBool::new(false));
    let st: Arc<dyn Storage> = Arc::new(FullDisk {
        inner: leann::io::open_storage(leann::io::Backend::Pread).unwrap(),
        full: full.clone(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    #[derive(Debug)]
    enum Ev {
        Ready,
        Updated((usize, usize, usize)),
        Warning(String),
    }
    let (tx, rx) = mpsc::channel::<Ev>();
    let worker = {
        let (idx, stop, st) = (idx.clone(), stop.clone(), st.clone());
        std::thread::spawn(move || {
            let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
            let o = leann::ingest::watch::WatchOptions {
                debounce: Duration::from_millis(200),
                ..Default::default()
            };
            leann::ingest::watch::watch(&mut s, st.as_ref(), None, &o, &stop, &mut |e| {
                let _ = tx.send(match e {
                    leann::ingest::watch::WatchEvent::Ready { .. } => Ev::Ready,
                    leann::ingest::watch::WatchEvent::Updated(r) => Ev::Updated(changes(r)),
                    leann::ingest::watch::WatchEvent::Warning(w)
                    | leann::ingest::watch::WatchEvent::Polling(w) => Ev::Warning(w),
                    leann::ingest::watch::WatchEvent::Compacted(_) => return,
                });
            })
            .unwrap();
        })
    };
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("watch event")
    };
    assert!(matches!(next(), Ev::Updated((0, 0, 0))));
    assert!(matches!(next(), Ev::Ready));
    full.store(true, Ordering::SeqCst);
    write(
        &tree,
        "src/g.rs",
        "pub fn gauge(p: f64) -> f64 {\n    p / 100.0\n}\n",
    );
    let log_len = |idx: &Path| -> u64 {
        fs::read_dir(idx)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("wal-"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let before = log_len(&idx);
    // Two failed tries, reported as warnings naming the full disk.
    for _ in 0..2 {
        match next() {
            Ev::Warning(w) => {
                assert!(w.contains("stay pending"), "{w}");
                assert!(w.contains("No space left"), "{w}");
            }
            other => panic!("expected a warning, got {other:?}"),
        }
    }
    // Space returns: the pending change goes in on the next try.
    full.store(false, Ordering::SeqCst);
    loop {
        match next() {
            Ev::Warning(_) => continue,
            Ev::Updated(c) => {
                assert_eq!(c, (0, 1, 0));
                break;
            }
            Ev::Ready => panic!("ready twice"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();
    assert!(log_len(&idx) > before);
    // The failed batch left nothing behind: the log validates without a
    // torn tail, and a fresh update has nothing to do.
    let out = common::leann(&["index", "validate", idx.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(changes(&update(&idx, None)), (0, 0, 0));
}

/// `n` more aged files under `many/`, so that a few changed paths are
/// under a quarter of the tree (the update then collects the index's
/// chunks for those paths only).
fn add_many(tree: &Path, n: usize) {
    for i in 0..n {
        let rel = format!("many/m{i:02}.py");
        write(
            tree,
            &rel,
            &format!("def many_{i}(x):\n    return x + {i}\n"),
        );
        set_mtime(
            &tree.join(&rel),
            SystemTime::now() - Duration::from_secs(3600),
        );
    }
}

/// Edit `rel` and age it, so that only its new size tells the change.
fn edit_aged(tree: &Path, rel: &str, text: &str) {
    write(tree, rel, text);
    set_mtime(
        &tree.join(rel),
        SystemTime::now() - Duration::from_secs(3600),
    );
}

/// Issue 16 §4, T-6: while the index is in the state its stamps recorded
/// (same manifest, log only appended to), a whole-tree update collects the
/// index's chunks only for the paths it must check: the files the stamps
/// do not vouch for, the paths the log changed and the paths that are
/// gone; everything else is trusted on its stamp alone. Changes are found
/// as before.
#[test]
fn index_state_limits_the_chunks_an_update_collects() {
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    add_many(&tree, 36);
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 36, 0));
    // That update wrote stamps with the index's state after its log write.
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, changes(&r)), (40, (0, 0, 0)));
    // The 36 added files are named by the log, so their digests are
    // compared with the index's chunks; that is more than a quarter of the
    // tree, so every path's chunks are collected in one pass.
    assert_eq!(r.paths_viewed, 40);

    // Compaction folds the log and carries the stamps over (T-7): the 36
    // paths the log named are read again (more than a quarter of the tree,
    // so every path's chunks are collected in one pass), the 4 others are
    // trusted; then the stamps hold all 40 again.
    compact(&idx);
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, changes(&r)), (4, (0, 0, 0)));
    assert_eq!(r.paths_viewed, 40);
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, r.paths_viewed), (40, 0));

    // One edit: only that path is collected.
    edit_aged(
        &tree,
        "src/a.rs",
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h * 3.0\n}\n",
    );
    let r = update(&idx, None);
    assert_eq!(
        (changes(&r), r.paths_viewed, r.files_trusted),
        ((1, 0, 0), 1, 39)
    );
    // A removed file and an added one.
    fs::remove_file(tree.join("many/m07.py")).unwrap();
    write(&tree, "many/new.py", "def brand_new():\n    return 0\n");
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 1, 1));
    // Collected: src/a.rs (named by the log) and the removed path; the
    // added path was looked up too, but the index holds nothing for it.
    assert_eq!(r.paths_viewed, 2);
    let hits = scores(&idx, "many_7");
    assert!(hits.iter().all(|h| h.0 != "many/m07.py"), "{hits:?}");
}

/// T-6: a change to the index that the stamps' state does not cover voids
/// it, and T-4 then compares every digest: here the log that held an edit
/// is lost (removed by hand), so the index holds the file's old chunks while
/// its stamp describes the new ones. The edit is found again.
#[test]
fn a_lost_log_voids_the_index_state() {
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    add_many(&tree, 36);
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 36, 0));
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    s.compact(leann::engine::compact::Method::Merge, &|_| {})
        .unwrap();
    drop(s);
    update(&idx, None);
    edit_aged(
        &tree,
        "lib/d.py",
        "def double(x):\n    return x + x  # edited\n",
    );
    let r = update(&idx, None);
    assert_eq!(changes(&r), (1, 0, 0));
    let logs: Vec<_> = fs::read_dir(&idx)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("wal-")
                .then_some(p)
        })
        .collect();
    assert!(!logs.is_empty());
    for p in logs {
        fs::remove_file(p).unwrap();
    }
    let r = update(&idx, None);
    assert_eq!(
        changes(&r),
        (1, 0, 0),
        "the stamp of an edit the index no longer holds was trusted"
    );
    assert_eq!(r.paths_viewed, 40);
}

/// Issue 16 §4: reading the tree does not wake the watch. Opening and
/// reading files and directories (the watch's own catch-up walk does it for
/// every directory) changes nothing: no batch follows it. An edit then
/// updates that one file, without walking the tree.
#[test]
fn watch_is_not_woken_by_reads() {
    not_woken_by_reads(false);
}

/// `watch_is_not_woken_by_reads` with the events from `notify`.
#[test]
fn watch_is_not_woken_by_reads_with_portable_events() {
    not_woken_by_reads(true);
}

/// (changes, files walked) of a batch.
fn changes_walked(r: &UpdateReport) -> ((usize, usize, usize), usize) {
    (changes(r), r.files_scanned)
}

fn not_woken_by_reads(portable: bool) {
    use std::sync::atomic::Ordering;
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    add_many(&tree, 36);
    update(&idx, None);
    let (stop, rx, worker) =
        spawn_watch(&idx, Duration::from_millis(200), portable, changes_walked);
    let t = Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((0, 0, 0), 40)));
    assert_eq!(rx.recv_timeout(t).unwrap(), None);
    // Read everything, as a search tool or an editor would.
    let mut read = 0;
    for dir in ["src", "lib", "many"] {
        for e in fs::read_dir(tree.join(dir)).unwrap() {
            read += fs::read(e.unwrap().path()).unwrap().len();
        }
    }
    assert!(read > 0);
    if let Ok(b) = rx.recv_timeout(Duration::from_millis(1500)) {
        panic!("reads woke the watch: {b:?}");
    }
    edit_aged(&tree, "many/m03.py", "def many_3(x):\n    return x - 3\n");
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((1, 0, 0), 1)));
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();
}

/// Issue 16 §4: on Linux the watch watches only the directories a walk
/// enters. Writes under an ignored directory do not wake it (with `notify`,
/// which watches every directory, each write cost a batch); a new
/// directory is watched as it appears; a changed ignore file re-examines
/// its directory and starts watching what it no longer ignores; a moved
/// directory is watched under its new name. A whole-tree check afterwards
/// finds nothing the watch missed.
#[cfg(target_os = "linux")]
#[test]
fn watch_watches_what_the_walk_enters() {
    use std::sync::atomic::Ordering;
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    write(&tree, "lib/.gitignore", "gen/\n");
    edit_aged(&tree, "lib/gen/g.py", "def generated():\n    return 1\n");
    assert_eq!(changes(&update(&idx, None)), (0, 0, 0));
    let (stop, rx, worker) = spawn_watch(&idx, Duration::from_millis(200), false, changes_walked);
    let t = Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((0, 0, 0), 4)));
    assert_eq!(rx.recv_timeout(t).unwrap(), None);
    // Ignored: no batch at all.
    for i in 0..5 {
        write(
            &tree,
            "lib/gen/g.py",
            &format!("def generated():\n    return {i}\n"),
        );
    }
    if let Ok(b) = rx.recv_timeout(Duration::from_millis(1500)) {
        panic!("a write in an ignored directory woke the watch: {b:?}");
    }
    // A new directory two levels deep, then an edit inside it.
    write(&tree, "pkg/sub/x.py", "def ex():\n    return 'x'\n");
    assert_eq!(rx.recv_timeout(t).unwrap().unwrap().0, (0, 1, 0));
    edit_aged(&tree, "pkg/sub/x.py", "def ex():\n    return 'xx'\n");
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((1, 0, 0), 1)));
    // No longer ignored: lib is examined again (its three files), gen's
    // file is added, and gen is watched from now on.
    write(&tree, "lib/.gitignore", "# nothing ignored\n");
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((0, 1, 0), 3)));
    edit_aged(
        &tree,
        "lib/gen/g.py",
        "def generated():\n    return 'again'\n",
    );
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((1, 0, 0), 1)));
    // Moved: its file leaves the old path and arrives at the new one, and
    // an edit under the new name is seen.
    fs::rename(tree.join("pkg"), tree.join("moved")).unwrap();
    assert_eq!(rx.recv_timeout(t).unwrap().unwrap().0, (0, 1, 1));
    edit_aged(&tree, "moved/sub/x.py", "def ex():\n    return 'moved'\n");
    assert_eq!(rx.recv_timeout(t).unwrap(), Some(((1, 0, 0), 1)));
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();
    let r = update(&idx, None);
    assert_eq!(changes(&r), (0, 0, 0), "the watch missed something");
}

/// Issue 16 §4: a tree with more directories than the watch may watch (the
/// OS limit, here `max_watches`) gets a warning naming how many it has and
/// the setting to raise, then is checked by polling: an edit is still
/// found.
#[cfg(target_os = "linux")]
#[test]
fn watch_polls_past_the_watch_limit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    let stop = Arc::new(AtomicBool::new(false));
    #[derive(Debug, PartialEq)]
    enum Ev {
        Ready(bool),
        Updated((usize, usize, usize)),
        Warning(String),
    }
    let (tx, rx) = std::sync::mpsc::channel::<Ev>();
    let worker = {
        let (idx, stop) = (idx.clone(), stop.clone());
        std::thread::spawn(move || {
            let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
            let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
            let o = leann::ingest::watch::WatchOptions {
                debounce: Duration::from_millis(100),
                poll_interval: Duration::from_millis(500),
                max_watches: Some(2),
                ..Default::default()
            };
            leann::ingest::watch::watch(&mut s, st.as_ref(), None, &o, &stop, &mut |e| {
                let _ = tx.send(match e {
                    leann::ingest::watch::WatchEvent::Ready { polling } => Ev::Ready(polling),
                    leann::ingest::watch::WatchEvent::Updated(r) => Ev::Updated(changes(r)),
                    leann::ingest::watch::WatchEvent::Warning(w)
                    | leann::ingest::watch::WatchEvent::Polling(w) => Ev::Warning(w),
                    leann::ingest::watch::WatchEvent::Compacted(_) => return,
                });
            })
            .unwrap();
        })
    };
    let t = Duration::from_secs(10);
    // The root, src and lib: three directories, two watches allowed.
    match rx.recv_timeout(t).unwrap() {
        Ev::Warning(w) => {
            assert!(w.contains("3 directories to watch"), "{w}");
            assert!(w.contains("fs.inotify.max_user_watches="), "{w}");
        }
        other => panic!("want the limit's warning first, got {other:?}"),
    }
    assert_eq!(rx.recv_timeout(t).unwrap(), Ev::Updated((0, 0, 0)));
    assert_eq!(rx.recv_timeout(t).unwrap(), Ev::Ready(true));
    edit_aged(&tree, "lib/d.py", "def double(x):\n    return x + x\n");
    // Polls that find nothing report nothing changed; the edit shows up in
    // one of them.
    let deadline = std::time::Instant::now() + t;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ev::Updated((0, 0, 0))) => continue,
            Ok(ev) => {
                assert_eq!(ev, Ev::Updated((1, 0, 0)));
                break;
            }
            Err(_) => panic!("polling did not find the edit"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();
}

fn compact(idx: &Path) {
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), idx, None, None).unwrap();
    s.compact(leann::engine::compact::Method::Merge, &|_| {})
        .unwrap();
}

/// T-7: a compaction carries the stamps over to the state it leaves, so the
/// next whole-tree update reads only the paths the folded log changed, not
/// every path (T-4 alone, as after a compaction that found the state void).
/// Changes made by named-path updates before the compaction (an edit, an
/// added file later removed from the tree) are still found.
#[test]
fn compaction_carries_the_stamps_over() {
    let (_d, tree, idx) = setup(Duration::from_secs(3600));
    add_many(&tree, 36);
    update(&idx, None);
    compact(&idx);
    update(&idx, None);
    let r = update(&idx, None);
    assert_eq!((r.files_trusted, r.paths_viewed), (40, 0));
    // Named-path updates (as `--watch` makes): one edit and one new file,
    // which leave FILES as it was (T-5).
    let scoped = |paths: &[&str]| {
        let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
        let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
        let only: std::collections::BTreeSet<String> =
            paths.iter().map(|p| p.to_string()).collect();
        leann::ingest::update::update_paths(&mut s, st.as_ref(), None, Some(&only)).unwrap()
    };
    edit_aged(&tree, "many/m05.py", "def many_5(x):\n    return x * 5\n");
    write(
        &tree,
        "many/brief.py",
        "def brief_life():\n    return 'gone soon'\n",
    );
    let r = scoped(&["many/m05.py", "many/brief.py"]);
    assert_eq!(changes(&r), (1, 1, 0));
    compact(&idx);
    // The new file leaves the tree while no watch runs.
    fs::remove_file(tree.join("many/brief.py")).unwrap();
    let r = update(&idx, None);
    // m05 is read again and found unchanged since the scoped update; the
    // removed file's chunks are found and deleted; only those two paths'
    // chunks are collected, the other 39 files trusted on their stamps.
    assert_eq!(changes(&r), (0, 0, 1));
    assert_eq!((r.files_trusted, r.paths_viewed), (39, 2));
    let hits = scores(&idx, "brief_life gone soon");
    assert!(hits.iter().all(|h| h.0 != "many/brief.py"), "{hits:?}");
    let r = update(&idx, None);
    assert_eq!(
        (r.files_trusted, r.paths_viewed, changes(&r)),
        (40, 0, (0, 0, 0))
    );
}
