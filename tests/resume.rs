//! Issue 16 §3: `index create` is resumable (SPEC.md C-5). A create killed
//! at any point, or failing after a checkpoint, continues with `--resume`
//! from its last checkpoint and gives the index a create from scratch gives.

mod common;

use leann::embed::{Embedder, EmbedderSpec};
use leann::engine::dir::{create_index, CreateOptions};
use leann::ingest::checkpoint;
use leann::io::os::{OsStorage, Reader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A tree of `n` small generated files over a few languages (each file
/// different, so that chunks and vectors differ).
fn tree(d: &Path, n: usize) -> PathBuf {
    let t = d.join("tree");
    for i in 0..n {
        let dir = t.join(format!("pkg{}", i % 17));
        std::fs::create_dir_all(&dir).unwrap();
        let (name, body) = match i % 3 {
            0 => (
                format!("m{i}.py"),
                format!(
                    "def handler_{i}(request, limit={i}):\n    \"\"\"Serve request {i} within a limit.\"\"\"\n    return [x * {i} for x in request][:limit]\n\n\ndef parse_{i}(text):\n    return text.split(\",\")[{m}]\n",
                    m = i % 5
                ),
            ),
            1 => (
                format!("m{i}.rs"),
                format!(
                    "/// Sum of the first {i} squares.\npub fn squares_{i}(n: u64) -> u64 {{\n    (0..n.min({i})).map(|x| x * x).sum()\n}}\n"
                ),
            ),
            _ => (
                format!("m{i}.js"),
                format!(
                    "// Format token {i} for the session cache.\nfunction token{i}(user) {{\n  return user.name + \":{i}:\" + Date.now();\n}}\nmodule.exports = {{ token{i} }};\n"
                ),
            ),
        };
        std::fs::write(dir.join(name), body).unwrap();
    }
    t
}

/// The files of an index directory that must be equal between two creates
/// of one tree: the segment's graph, codes, PQ, ids and chunk metadata (the
/// lexical container holds tantivy's own segment names, and the stamps and
/// manifest the time they were made).
fn segment_bytes(idx: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(idx)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg-") && !n.ends_with(".lex"))
        .map(|n| (n.clone(), std::fs::read(idx.join(&n)).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 4, "{out:?}");
    out
}

fn query_json(idx: &Path, q: &str) -> serde_json::Value {
    let mut v = common::ok_json(&common::leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        q,
        "--format",
        "json",
    ]));
    v.as_object_mut().unwrap().remove("latency");
    v
}

const QUERIES: [&str; 4] = [
    "serve a request within a limit",
    "squares_12",
    "session cache token",
    "parse comma separated text",
];

/// Run leann on one thread: the parallel graph build is not deterministic,
/// and these tests compare a resumed index with a fresh one byte for byte.
fn leann1(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

/// `leann index create --input t --output out EXTRA...` on one thread.
fn create1(t: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    leann1(&common::create_args(t, out, extra))
}

/// Staging directories beside `out` (`.NAME.leann-new-*`).
fn staging_dirs(out: &Path) -> Vec<PathBuf> {
    let name = format!(".{}.leann-new-", out.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
        .collect()
}

/// C-5: a create killed (SIGKILL) after a checkpoint is refused without
/// `--resume`, continues with it from the checkpoint (not from the start),
/// and gives the same segment and the same answers as a create from
/// scratch.
#[test]
fn killed_create_resumes_from_its_checkpoint() {
    let d = common::tempdir();
    let t = tree(d.path(), 3000);
    let idx = d.path().join("idx");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(["index", "create", "--input"])
        .arg(&t)
        .arg("--output")
        .arg(&idx)
        .args(["--checkpoint-secs", "0"])
        .env("RAYON_NUM_THREADS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its first checkpoint is durable.
    let t0 = std::time::Instant::now();
    loop {
        let done = staging_dirs(&idx).iter().any(|s| {
            s.join(checkpoint::WORK_DIR)
                .join(checkpoint::CHECKPOINT_FILE)
                .exists()
        });
        if done {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint came"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "the create ended before it was killed");
    assert!(!idx.join("MANIFEST").exists());

    // Without --resume: refused, naming --resume, and the work is kept.
    let out = create1(&t, &idx, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    assert_eq!(staging_dirs(&idx).len(), 1);

    let out = create1(&t, &idx, &["--resume"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let so = String::from_utf8_lossy(&out.stdout);
    let line = so
        .lines()
        .find(|l| l.starts_with("resumed from a checkpoint: "))
        .unwrap_or_else(|| panic!("not resumed: {so}"));
    let files_done: usize = line["resumed from a checkpoint: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..3000).contains(&files_done), "{line}");
    assert!(staging_dirs(&idx).is_empty(), "{:?}", staging_dirs(&idx));
    assert!(!idx.join(checkpoint::WORK_DIR).exists());
    assert!(so.contains("indexed 3000 files"), "{so}");

    let fresh = d.path().join("fresh");
    let out = create1(&t, &fresh, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(segment_bytes(&idx) == segment_bytes(&fresh));
    for q in QUERIES {
        assert_eq!(query_json(&idx, q), query_json(&fresh, q), "{q}");
    }
    // The resumed index's stamps cover every file: an update finds nothing.
    let out = common::leann(&["index", "update", "--index", idx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(so.contains(": 0 changed, 0 added, 0 removed"), "{so}");
}

/// The built-in model, failing every call after the first `ok` ones (an
/// embedding server that went away mid-create).
struct FailingAfter {
    inner: Box<dyn Embedder>,
    ok: usize,
    calls: AtomicUsize,
}

impl FailingAfter {
    fn builtin(st: &OsStorage, ok: usize) -> FailingAfter {
        FailingAfter {
            inner: EmbedderSpec::Builtin.load(st).unwrap(),
            ok,
            calls: AtomicUsize::new(0),
        }
    }
}

impl Embedder for FailingAfter {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed(&self, texts: &[&str]) -> leann::Result<Vec<f32>> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Err(leann::Error::model("the embedder went away"));
        }
        self.inner.embed(texts)
    }
}

fn lib_create(
    st: &OsStorage,
    t: &Path,
    idx: &Path,
    cfg: &leann::config::Config,
    embedder: &dyn Embedder,
    resume: bool,
    force: bool,
) -> leann::Result<leann::ingest::tree::TreeReport> {
    // One thread, as `leann1`.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    one.install(|| {
        let resumable = |dir: &Path| checkpoint::has_work(st, dir);
        let o = CreateOptions {
            resumable: Some(&resumable),
            resume,
            force,
            ..Default::default()
        };
        create_index(st, idx, &o, |staging| {
            leann::ingest::tree::create_from_tree_with(
                st,
                t,
                staging,
                cfg,
                embedder,
                EmbedderSpec::Builtin,
                Duration::ZERO,
                &|_| {},
            )
        })
    })
}

/// C-5: a create whose embedder fails after some batches keeps its work
/// and says so; a resume with another configuration is refused naming what
/// differs (and keeps the work); `--resume` with the same one finishes it
/// without embedding the done chunks again; `--force` discards instead.
#[test]
fn failed_create_keeps_its_work_for_resume() {
    let d = common::tempdir();
    let t = tree(d.path(), 900);
    let st = OsStorage::new(Reader::Pread);
    let cfg = leann::config::Config::default();
    let idx = d.path().join("idx");
    let failing = FailingAfter::builtin(&st, 2);
    let e = lib_create(&st, &t, &idx, &cfg, &failing, false, false).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("went away") && msg.contains("--resume"),
        "{msg}"
    );
    assert!(matches!(e, leann::Error::Resumable { .. }));
    let kept = staging_dirs(&idx);
    assert_eq!(kept.len(), 1);
    let (plan, k) = checkpoint::load(&st, &kept[0]).unwrap();
    let k = k.unwrap();
    assert_eq!(plan.files.len(), 900);
    assert_eq!(k.files_done, 512, "two batches of 256 files were embedded");

    // Another configuration: refused, naming the difference; work kept.
    let other = leann::config::Config {
        store_text: true,
        ..Default::default()
    };
    let e = lib_create(&st, &t, &idx, &other, &failing, true, false).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("config.storeText false") && msg.contains("--force"),
        "{msg}"
    );
    assert_eq!(staging_dirs(&idx).len(), 1);

    // Resume: only the rest is embedded (4 batches of 256 files → 2 left).
    let counting = FailingAfter::builtin(&st, usize::MAX);
    let rep = lib_create(&st, &t, &idx, &cfg, &counting, true, false).unwrap();
    assert_eq!(rep.resumed.map(|r| r.0), Some(512));
    assert_eq!(counting.calls.load(Ordering::SeqCst), 2);
    assert_eq!(rep.files, 900);
    assert!(staging_dirs(&idx).is_empty());

    let fresh = d.path().join("fresh");
    let rep2 = lib_create(&st, &t, &fresh, &cfg, counting.inner.as_ref(), false, false).unwrap();
    assert_eq!(rep.chunks, rep2.chunks);
    assert!(segment_bytes(&idx) == segment_bytes(&fresh));
    for q in QUERIES {
        assert_eq!(query_json(&idx, q), query_json(&fresh, q), "{q}");
    }

    // --force (without --resume) discards an interrupted create.
    let idx3 = d.path().join("idx3");
    let failing = FailingAfter::builtin(&st, 1);
    assert!(lib_create(&st, &t, &idx3, &cfg, &failing, false, false).is_err());
    assert_eq!(staging_dirs(&idx3).len(), 1);
    let rep3 = lib_create(&st, &t, &idx3, &cfg, counting.inner.as_ref(), false, true).unwrap();
    assert_eq!(rep3.resumed, None);
    assert!(staging_dirs(&idx3).is_empty());
    assert!(segment_bytes(&idx3) == segment_bytes(&fresh));
}

/// A damaged checkpoint is an error naming the file, never a panic or a
/// silently wrong index; the work stays for the user to discard (--force).
#[test]
fn damaged_checkpoint_is_refused_naming_the_file() {
    let d = common::tempdir();
    let t = tree(d.path(), 600);
    let st = OsStorage::new(Reader::Pread);
    let cfg = leann::config::Config::default();
    let idx = d.path().join("idx");
    let failing = FailingAfter::builtin(&st, 1);
    assert!(lib_create(&st, &t, &idx, &cfg, &failing, false, false).is_err());
    // Each failed resume keeps the work under its own (renamed) directory.
    let work = || {
        let kept = staging_dirs(&idx);
        assert_eq!(kept.len(), 1, "{kept:?}");
        kept[0].join(checkpoint::WORK_DIR)
    };
    for (file, at) in [
        (checkpoint::CHECKPOINT_FILE, 40usize),
        (checkpoint::LOG_FILE, 12),
        (checkpoint::PLAN_FILE, 100),
    ] {
        let p = work().join(file);
        let good = std::fs::read(&p).unwrap();
        let mut bad = good.clone();
        bad[at] ^= 0x55;
        std::fs::write(&p, &bad).unwrap();
        let e = lib_create(&st, &t, &idx, &cfg, failing.inner.as_ref(), true, false).unwrap_err();
        assert!(e.to_string().contains(file), "{file}: {e}");
        std::fs::write(work().join(file), &good).unwrap();
    }
    // A vector spool shorter than the checkpoint says.
    let v = work().join(checkpoint::VECTORS_FILE);
    let len = std::fs::metadata(&v).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&v)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let e = lib_create(&st, &t, &idx, &cfg, failing.inner.as_ref(), true, false).unwrap_err();
    assert!(e.to_string().contains(checkpoint::VECTORS_FILE), "{e}");
    // Discarded with --force, the create starts over and succeeds.
    let rep = lib_create(&st, &t, &idx, &cfg, failing.inner.as_ref(), false, true).unwrap();
    assert_eq!(rep.resumed, None);
    assert!(staging_dirs(&idx).is_empty());
}
