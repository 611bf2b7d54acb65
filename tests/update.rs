//! `leann index update` through the library (issue 4, item 3): file stamps
//! (SPEC.md "File stamps", rules T-1..T-4) let unchanged files go unread and
//! never hide a change.

mod common;

use leann::config::Config;
use leann::io::Storage;
use leann::searcher::Searcher;
use leann::update::{update_from_tree, UpdateReport};
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
    leann::ingest::create_from_tree(
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
    let f = idx.join(leann::stamps::FILE_NAME);
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
