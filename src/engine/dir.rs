//! The life cycle of an index directory (SPEC.md "Writer lock" and
//! "Creating and replacing an index"): what a writer checks after taking the
//! lock (`DiskState`), which files no live state names (`remove_orphans`,
//! only ever called under the lock), and how a new index comes into being
//! (`create_index`: built in a private staging directory beside the output,
//! then renamed into place, or swapped with the index it replaces; the old
//! index stays whole and queryable until the swap, and a failed build leaves
//! nothing behind).

use crate::error::{Error, Result};
use crate::io::{DirLock, Storage};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another writer's lock by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

/// What a writer compares before writing (L-4): the manifest's generation
/// and every log it reads, with its length. Anything another writer did
/// while this one did not hold the lock changes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskState {
    pub generation: u64,
    /// (sequence number, bytes) of every log at or past `logStart`.
    pub logs: Vec<(u64, u64)>,
}

/// The state of the index in `dir` as it is on disk now.
pub fn disk_state(storage: &dyn Storage, dir: &Path) -> Result<DiskState> {
    let m = crate::engine::manifest::load(storage, dir)?;
    let info = crate::engine::manifest::IndexInfo::from_json(
        &dir.join(crate::engine::manifest::FILE_NAME),
        &m.info_json,
    )?;
    let mut logs = Vec::new();
    for name in storage.list_dir(dir)? {
        if let Some(seq) = crate::engine::wal::parse_name(&name) {
            if seq >= info.log_start {
                logs.push((seq, storage.file_len(&dir.join(&name))?));
            }
        }
    }
    logs.sort_unstable();
    Ok(DiskState {
        generation: m.generation,
        logs,
    })
}

/// The index state of the stamps' rule T-6 for the index in `dir` as it is
/// on disk now, and its logs (sequence number, bytes).
pub fn index_state(
    storage: &dyn Storage,
    dir: &Path,
) -> Result<(crate::format::stamps::IndexState, Vec<(u64, u64)>)> {
    let m = storage.read_all(&dir.join(crate::engine::manifest::FILE_NAME))?;
    let logs = disk_state(storage, dir)?.logs;
    Ok((crate::engine::stamps::state_of(&m, &logs), logs))
}

/// A build's scratch directory inside the index directory, removed when
/// the build ends (or, after a crash, by the next build or the next writer
/// to take the lock, `remove_scratch`).
pub const SCRATCH_DIR: &str = "scratch.build";
/// A compaction's scratch directory (its vector spool, chunk text and
/// lexical index in the making), likewise.
pub const COMPACT_SCRATCH_DIR: &str = "scratch.compact";
/// Every scratch directory's name.
const SCRATCH_DIRS: [&str; 2] = [SCRATCH_DIR, COMPACT_SCRATCH_DIR];

/// A scratch directory `name` (`SCRATCH_DIR` or `COMPACT_SCRATCH_DIR`) in
/// the index directory `dir`, so that scratch files are on the index's
/// filesystem and not in the system's temporary directory (often
/// RAM-backed); removed when the value drops. One that a killed build left
/// is removed here, or by the next writer to take the lock. An
/// index on a storage backend with no directory on disk (the in-memory
/// one) gets a system temporary directory instead.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new(storage: &dyn Storage, dir: &Path, name: &str) -> Result<Scratch> {
        debug_assert!(SCRATCH_DIRS.contains(&name));
        if !dir.is_dir() {
            return Ok(Scratch(crate::io::temp_dir("leann-build")?));
        }
        let at = dir.join(name);
        remove_if_there(storage, &at)?;
        tempfile::Builder::new()
            .prefix(name)
            .rand_bytes(0)
            .tempdir_in(dir)
            .map(Scratch)
            .map_err(|e| crate::error::Error::io("create", &at, e))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Remove killed builds' scratch directories. Only under the
/// writer lock: a build in progress holds the lock while it uses them.
pub fn remove_scratch(storage: &dyn Storage, dir: &Path) -> Result<()> {
    for name in SCRATCH_DIRS {
        remove_if_there(storage, &dir.join(name))?;
    }
    Ok(())
}

/// Remove a scratch directory if there is one, or whatever else holds its
/// name (a file or a symbolic link, which is removed and not followed).
fn remove_if_there(storage: &dyn Storage, path: &Path) -> Result<()> {
    if !storage.exists(path) {
        return Ok(());
    }
    storage
        .remove_dir_all(path)
        .or_else(|_| storage.remove_file(path))
}

/// Remove files of `dir` that the live state does not use: segment
/// files of segments other than `live_segments`, logs below `log_start`,
/// logs holding nothing but their header other than the newest (a killed
/// compaction's) and temporaries (scratch directories are `remove_scratch`'s).
/// Only under the writer lock: another writer's half-written files look
/// just like orphans. Returns the names.
pub fn remove_orphans(
    storage: &dyn Storage,
    dir: &Path,
    live_segments: &[u64],
    log_start: u64,
) -> Result<Vec<String>> {
    let names = storage.list_dir(dir)?;
    let newest_log = names
        .iter()
        .filter_map(|n| crate::engine::wal::parse_name(n))
        .max();
    let mut removed = Vec::new();
    for name in names {
        let orphan = if name.ends_with(".tmp") {
            true
        } else if let Some(seq) = crate::engine::wal::parse_name(&name) {
            seq < log_start
                || (Some(seq) != newest_log
                    && storage.file_len(&dir.join(&name))? <= crate::format::wal::FIRST_FRAME)
        } else if let Some(id) = name
            .strip_prefix("seg-")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            !live_segments.contains(&id)
        } else {
            false
        };
        if orphan {
            storage.remove_file(&dir.join(&name))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// A check of where the output directory is (it exists when called).
pub type PlacementCheck<'a> = dyn Fn(&Path) -> Result<()> + 'a;

/// How `create_index` treats what is already at the output path.
pub struct CreateOptions<'a> {
    /// Replace an existing index (never anything that is not an index).
    pub force: bool,
    /// How long to wait for the writer lock of an index being replaced.
    pub lock_wait: Duration,
    /// Called with the output directory before anything is built (C-2: an
    /// output inside the input tree must be left out of its walk).
    pub placement: Option<&'a PlacementCheck<'a>>,
    /// Whether a staging directory holds work a later run can resume (C-5):
    /// such a directory is kept when its build fails or its process dies.
    pub resumable: Option<&'a ResumableCheck<'a>>,
    /// Continue in the staging directory an interrupted run left (C-5).
    pub resume: bool,
}

/// Whether a staging directory holds resumable work.
pub type ResumableCheck<'a> = dyn Fn(&Path) -> bool + 'a;

impl Default for CreateOptions<'_> {
    fn default() -> Self {
        CreateOptions {
            force: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            placement: None,
            resumable: None,
            resume: false,
        }
    }
}

/// Prefix of staging directories: `.NAME.leann-new-PID-N` beside the output.
fn staging_prefix(output: &Path) -> Result<(PathBuf, String)> {
    let name = output
        .file_name()
        .ok_or_else(|| {
            Error::argument(
                "--output",
                format!("--output {}: not a directory name", output.display()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok((parent, format!(".{name}.leann-new-")))
}

/// Whether process `pid` is alive (signal 0 reaches it).
fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for the process; no memory is
    // passed to the kernel.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// What the output path holds now.
enum Existing {
    Nothing,
    EmptyDir,
    Index,
}

fn existing(storage: &dyn Storage, output: &Path) -> Result<Existing> {
    if !storage.exists(output) {
        return Ok(Existing::Nothing);
    }
    // A file here fails to list ("Not a directory"), naming the path.
    let names = storage.list_dir(output)?;
    if names.is_empty() {
        return Ok(Existing::EmptyDir);
    }
    let not_index = |why: String| {
        Err(Error::argument("--output", format!(
            "--output {} is not a leann index ({why}); leann writes only into a new or empty directory, or replaces (--force) a directory holding nothing but an index: choose another --output",
            output.display()
        )))
    };
    let manifest = output.join(crate::engine::manifest::FILE_NAME);
    if !names
        .iter()
        .any(|n| n == crate::engine::manifest::FILE_NAME)
    {
        return not_index(format!("{} entries, no MANIFEST", names.len()));
    }
    let head = storage.open_read(&manifest, crate::io::ReadMode::Buffered)?;
    let mut magic = [0u8; 8];
    if head.len() < 8
        || head
            .read_batch(&mut [crate::io::ReadReq {
                offset: 0,
                buf: &mut magic,
            }])
            .is_err()
        || magic != crate::format::header::MANIFEST.magic
    {
        return not_index("its MANIFEST is not a leann manifest".into());
    }
    if let Some(foreign) = names.iter().find(|n| !is_index_file(n)) {
        return not_index(format!("it also holds `{foreign}`"));
    }
    Ok(Existing::Index)
}

/// Whether `name` is a file leann keeps in an index directory.
pub fn is_index_file(name: &str) -> bool {
    name == crate::engine::manifest::FILE_NAME
        || name == crate::engine::stamps::FILE_NAME
        || name == crate::io::LOCK_FILE
        || name.ends_with(".tmp")
        || crate::engine::wal::parse_name(name).is_some()
        || name
            .strip_prefix("seg-")
            .and_then(|r| r.split('.').next())
            .is_some_and(|n| n.parse::<u64>().is_ok())
}

/// Create an index at `output` with `build`, which writes a complete index
/// into the directory it is given (C-1..C-4 in SPEC.md):
/// - a non-empty directory that is not an index is refused, `--force` or not;
///   an existing index is refused without `force`;
/// - `build` runs in a fresh staging directory beside `output`; on success it
///   is renamed to `output` (a new or empty directory) or atomically swapped
///   with the index there (under that index's writer lock, so no writer of
///   the old index is cut off mid-batch), and the old index is removed;
/// - on any failure the staging directory is removed and `output` is as it
///   was.
pub fn create_index<T>(
    storage: &dyn Storage,
    output: &Path,
    o: &CreateOptions<'_>,
    build: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let what = existing(storage, output)?;
    // An output created here only for the placement check goes again if the
    // create fails.
    let mut made = StagingGuard {
        storage,
        path: None,
    };
    if let Some(check) = o.placement {
        if matches!(what, Existing::Nothing) {
            storage.create_dir_all(output)?;
            made.path = Some(output.to_path_buf());
        }
        check(output)?;
    }
    let _lock: Option<Box<dyn DirLock>> = match what {
        Existing::Index if !o.force => {
            return Err(Error::argument("--output", format!(
                "--output {} already holds an index; pass --force to replace it (the old index stays until the new one is complete)",
                output.display()
            )))
        }
        Existing::Index => Some(storage.lock_dir(
            output,
            &crate::io::lock::this_holder(),
            o.lock_wait,
        )?),
        _ => None,
    };
    let (parent, prefix) = staging_prefix(output)?;
    storage.create_dir_all(&parent)?;
    let staging = parent.join(format!(
        "{prefix}{}-{}",
        std::process::id(),
        crate::engine::stamps::now_ns()
    ));
    let _in_use = InUse::new(&staging);
    // C-5: the newest staging directory of a dead run that holds resumable
    // work is continued with `resume`, discarded with `force`, and refused
    // otherwise (never removed unasked).
    let interrupted = match o.resumable {
        Some(check) => interrupted_create(storage, &parent, &prefix, check),
        None => None,
    };
    let mut revived = false;
    if let Some(old) = &interrupted {
        if o.resume {
            // Renamed to this process's name first, so that no other run
            // takes it for dead meanwhile; of two runs resuming at once one
            // wins the rename and the other finds nothing to resume.
            if storage.rename_dir(old, &staging).is_ok() {
                revived = true;
            }
        } else if !o.force {
            return Err(Error::argument(
                "--resume",
                format!(
                    "an interrupted `index create` of {} left its work in {}; pass --resume to continue it, or --force to discard it and start over",
                    output.display(),
                    old.display()
                ),
            ));
        }
    }
    remove_dead_staging(storage, &parent, &prefix);
    let mut guard = StagingGuard {
        storage,
        path: Some(staging.clone()),
    };
    if !revived {
        storage.create_dir_all(&staging)?;
    }
    let out = match build(&staging) {
        Ok(out) => out,
        Err(e) => {
            if o.resumable.is_some_and(|check| check(&staging)) {
                // Kept for `--resume`; it holds no index, only work.
                guard.path = None;
                made.path = None;
                return Err(Error::Resumable {
                    source: Box::new(e),
                    kept: staging,
                });
            }
            return Err(e);
        }
    };
    match what {
        Existing::Index => {
            storage.exchange_dirs(&staging, output)?;
            // `staging` now holds the old index; the guard removes it.
        }
        Existing::Nothing | Existing::EmptyDir => {
            storage.rename_dir(&staging, output)?;
            guard.path = None;
        }
    }
    made.path = None;
    drop(guard);
    Ok(out)
}

/// Removes a staging directory when dropped (failure, or the old index
/// after a swap).
struct StagingGuard<'a> {
    storage: &'a dyn Storage,
    path: Option<PathBuf>,
}

impl Drop for StagingGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = self.storage.remove_dir_all(&p);
        }
    }
}

/// Staging directories this process is building in now (others named with
/// its PID are left from its earlier creates: a long-lived process, a test).
static IN_USE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Marks a staging directory in use while it lives.
struct InUse(PathBuf);

impl InUse {
    fn new(p: &Path) -> InUse {
        IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.to_path_buf());
        InUse(p.to_path_buf())
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.0);
    }
}

/// Staging directories of `index create` runs that ended: their PID is
/// gone, or it is this process's and no create of it uses them now. With
/// the time each was made (ns).
fn dead_staging(storage: &dyn Storage, parent: &Path, prefix: &str) -> Vec<(PathBuf, u64)> {
    let Ok(names) = storage.list_dir(parent) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in names {
        let Some(rest) = n.strip_prefix(prefix) else {
            continue;
        };
        let mut parts = rest.split('-');
        let pid = parts.next().and_then(|p| p.parse::<i32>().ok());
        let ns = parts
            .next()
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        let path = parent.join(&n);
        let ended = pid.is_some_and(|p| {
            if p as u32 == std::process::id() {
                !IN_USE
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&path)
            } else {
                !alive(p)
            }
        });
        if ended {
            out.push((path, ns));
        }
    }
    out
}

/// Remove the staging directories of dead runs.
fn remove_dead_staging(storage: &dyn Storage, parent: &Path, prefix: &str) {
    for (p, _) in dead_staging(storage, parent, prefix) {
        let _ = storage.remove_dir_all(&p);
    }
}

/// The newest staging directory of a dead run that holds resumable work.
fn interrupted_create(
    storage: &dyn Storage,
    parent: &Path,
    prefix: &str,
    resumable: &ResumableCheck<'_>,
) -> Option<PathBuf> {
    dead_staging(storage, parent, prefix)
        .into_iter()
        .filter(|(p, _)| resumable(p))
        .max_by_key(|&(_, ns)| ns)
        .map(|(p, _)| p)
}

/// Bytes copied per read while copying an index.
const COPY_PIECE_BYTES: usize = 4 << 20;

/// Copy the index at `from` into the empty directory `to` (every index file
/// but the lock and temporaries), under `from`'s writer lock so that no
/// writer changes it meanwhile. Each file is written durably (D-1). Returns
/// the bytes copied.
pub fn copy_index(
    storage: &dyn Storage,
    from: &Path,
    to: &Path,
    lock_wait: Duration,
) -> Result<u64> {
    let _lock = storage.lock_dir(from, &crate::io::lock::this_holder(), lock_wait)?;
    let mut total = 0u64;
    let mut buf = vec![0u8; COPY_PIECE_BYTES];
    for name in storage.list_dir(from)? {
        if !is_index_file(&name) || name == crate::io::LOCK_FILE || name.ends_with(".tmp") {
            continue;
        }
        let src = storage.open_read(&from.join(&name), crate::io::ReadMode::Buffered)?;
        let mut dst = storage.create(&to.join(&name))?;
        let len = src.len();
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(COPY_PIECE_BYTES as u64) as usize;
            src.read_batch(&mut [crate::io::ReadReq {
                offset: at,
                buf: &mut buf[..n],
            }])?;
            dst.write_all(&buf[..n])?;
            at += n as u64;
        }
        dst.finish()?;
        total += len;
    }
    Ok(total)
}
