//! The writer lock of an index directory (SPEC.md "Writer lock", L-1..L-5):
//! `flock(LOCK_EX)` on the file `LOCK` in the directory, held for as long as
//! the returned guard lives. The kernel drops a flock when its holder exits,
//! however it exits (SIGKILL included), so a lock is never left behind.
//!
//! Waiting is a poll (`LOCK_NB` every `POLL_INTERVAL`) up to the caller's
//! limit; a waiter that gives up names the holder from what the holder wrote
//! into `LOCK` (its PID and command line). After taking the lock, the holder
//! checks that `LOCK` still names the file it locked: an index replaced by
//! `index create --force` (a directory swap) or a removed `LOCK` makes it
//! start over on the new file, so two writers never hold locks on two
//! different files for one path.
//!
//! The in-memory backends keep a table of held locks in the storage value
//! itself (`MemLocks`), with the same wait and naming rules.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Name of the lock file inside an index directory.
pub const LOCK_FILE: &str = "LOCK";
/// How often a waiting writer tries again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Longest holder description kept in `LOCK`, bytes.
const MAX_HOLDER_BYTES: usize = 512;

/// A held writer lock; dropping it releases the lock.
pub trait DirLock: Send + Sync {
    /// The locked directory.
    fn dir(&self) -> &Path;
}

/// What this process writes into `LOCK` while it holds it: PID and command.
pub fn this_holder() -> String {
    let cmd: Vec<String> = std::env::args().collect();
    let mut s = format!("pid {} ({})", std::process::id(), cmd.join(" "));
    if s.len() > MAX_HOLDER_BYTES {
        let mut cut = MAX_HOLDER_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...)");
    }
    s
}

fn locked_error(dir: &Path, holder: String, waited: Duration) -> Error {
    Error::Locked {
        dir: dir.to_path_buf(),
        holder: if holder.trim().is_empty() {
            "a process that has not said who it is".to_string()
        } else {
            holder.trim().to_string()
        },
        waited_ms: waited.as_millis() as u64,
    }
}

/// A flock on `dir/LOCK`.
pub(super) struct OsLock {
    dir: PathBuf,
    // Closing the descriptor releases the flock.
    _file: std::fs::File,
}

impl DirLock for OsLock {
    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Take the writer lock of `dir` (which must exist), waiting up to `wait`.
pub(super) fn os_lock(dir: &Path, holder: &str, wait: Duration) -> Result<Box<dyn DirLock>> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let t0 = Instant::now();
    loop {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        // SAFETY: flock on a descriptor this function owns; no memory is
        // passed to the kernel.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::io("lock", &path, e));
            }
            if t0.elapsed() >= wait {
                let mut holder = String::new();
                let mut limited = (&mut file).take(MAX_HOLDER_BYTES as u64 + 8);
                let _ = limited.read_to_string(&mut holder);
                return Err(locked_error(dir, holder, t0.elapsed()));
            }
            drop(file);
            std::thread::sleep(POLL_INTERVAL);
            continue;
        }
        // L-3: the path must still name the locked file (not replaced by a
        // directory swap or removed meanwhile); else start over.
        let mine = file.metadata().map_err(|e| Error::io("stat", &path, e))?;
        match std::fs::symlink_metadata(&path) {
            Ok(now) if now.dev() == mine.dev() && now.ino() == mine.ino() => {}
            _ => continue,
        }
        // Who holds it, for a writer that gives up waiting. Not synced: it is
        // a courtesy, not state.
        let write = (|| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            file.write_all(holder.as_bytes())?;
            file.write_all(b"\n")
        })();
        // A full disk must not stop a writer that could otherwise proceed.
        let _ = write;
        return Ok(Box::new(OsLock {
            dir: dir.to_path_buf(),
            _file: file,
        }));
    }
}

/// Locks of an in-memory storage: directory -> holder.
#[derive(Default, Clone)]
pub struct MemLocks {
    held: Arc<(Mutex<HashMap<PathBuf, String>>, Condvar)>,
}

struct MemLock {
    dir: PathBuf,
    locks: MemLocks,
}

impl DirLock for MemLock {
    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for MemLock {
    fn drop(&mut self) {
        let (m, cv) = &*self.locks.held;
        m.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.dir);
        cv.notify_all();
    }
}

impl MemLocks {
    pub(super) fn lock(
        &self,
        dir: &Path,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn DirLock>> {
        let (m, cv) = &*self.held;
        let t0 = Instant::now();
        let mut held = m.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(h) = held.get(dir) {
            let left = wait.saturating_sub(t0.elapsed());
            if left.is_zero() {
                return Err(locked_error(dir, h.clone(), t0.elapsed()));
            }
            held = cv
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        held.insert(dir.to_path_buf(), holder.to_string());
        Ok(Box::new(MemLock {
            dir: dir.to_path_buf(),
            locks: self.clone(),
        }))
    }
}
