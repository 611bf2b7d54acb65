//! The watch's event source on Linux: inotify watches on exactly the
//! directories a walk of the tree enters (ignored, hidden and excluded
//! directories are never watched), for the events that can change what a
//! file holds or where it is: no open, read or close-after-read events, so
//! the watch's own walks and reads do not come back to it as changes (with
//! `notify`, which registers IN_OPEN, a whole walk of a 1 M-file tree
//! overflowed the kernel's queue and every overflow caused another whole
//! walk). New directories get watches as they appear; a changed ignore file
//! re-examines its directory. A reader thread turns events into `Change`s.

use crate::chunk::walk::{rel_under, walk_dirs, Scope, WalkOptions};
use crate::error::Error;
use crate::ingest::Change;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// The events asked for on every watched directory.
fn mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

/// File names whose change alters which files the walk lists.
const IGNORE_FILES: &[&str] = &[".gitignore", ".ignore", ".leannignore"];

/// How long the reader waits for events before it looks at its stop flag.
const POLL_TIMEOUT_MS: i32 = 100;

/// Whether an I/O error is an OS limit on inotify (watches or instances).
fn is_limit(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EMFILE))
}

/// The directories being watched, both ways.
#[derive(Default)]
struct Table {
    by_wd: HashMap<i32, PathBuf>,
    by_path: BTreeMap<PathBuf, WatchDescriptor>,
}

impl Table {
    fn insert(&mut self, path: PathBuf, wd: WatchDescriptor) {
        self.by_wd
            .insert(wd.get_watch_descriptor_id(), path.clone());
        self.by_path.insert(path, wd);
    }

    /// Forget `dir` and every watched directory under it, returning their
    /// descriptors.
    fn remove_under(&mut self, dir: &Path) -> Vec<WatchDescriptor> {
        let under: Vec<PathBuf> = self
            .by_path
            .range(dir.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(dir))
            .map(|(p, _)| p.clone())
            .collect();
        let mut out = Vec::with_capacity(under.len());
        for p in under {
            if let Some(wd) = self.by_path.remove(&p) {
                self.by_wd.remove(&wd.get_watch_descriptor_id());
                out.push(wd);
            }
        }
        out
    }
}

/// What a walk that adds watches needs.
struct Setup {
    root: PathBuf,
    opts: WalkOptions,
    /// Never watched (the index directory, when it lies in the tree).
    skip: PathBuf,
    /// At most this many directories watched; more fails as the OS limit
    /// does.
    max_watches: usize,
}

impl Setup {
    /// Watch every directory a walk of `scope` (the whole tree when None)
    /// enters. On a failure, returns it with the number of directories the
    /// walk enters in all (the walk goes on counting them, to say how many
    /// watches the tree needs).
    fn watch_dirs(
        &self,
        watches: &Watches,
        table: &mut Table,
        scope: Option<&Scope>,
    ) -> std::result::Result<(), (std::io::Error, usize)> {
        type Added = (
            Vec<(PathBuf, WatchDescriptor)>,
            Option<std::io::Error>,
            usize,
        );
        let added: Mutex<Added> = Mutex::default();
        let room = self.max_watches.saturating_sub(table.by_path.len());
        let walked = walk_dirs(&self.root, &self.opts, scope, &|dir: &Path| {
            if dir.starts_with(&self.skip) {
                return true;
            }
            // A panic while holding the lock ends the walk anyway.
            let mut g = added.lock().unwrap_or_else(|e| e.into_inner());
            g.2 += 1;
            if g.1.is_some() {
                return true;
            }
            let r = if g.0.len() < room {
                watches.clone().add(dir, mask())
            } else {
                Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
            };
            match r {
                Ok(wd) => g.0.push((dir.to_path_buf(), wd)),
                // Gone between the listing and the watch: nothing to watch.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                Err(e) => {
                    let go_on = is_limit(&e);
                    g.1 = Some(e);
                    return go_on;
                }
            }
            true
        });
        let (list, err, total) = added.into_inner().unwrap_or_else(|e| e.into_inner());
        for (p, wd) in list {
            table.insert(p, wd);
        }
        if let Some(e) = err {
            return Err((e, total));
        }
        walked.map_err(|e| (std::io::Error::other(e.to_string()), total))
    }
}

/// A running inotify source; dropping it stops the reader and removes the
/// watches.
pub struct DirWatch {
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl DirWatch {
    /// Watch every directory of the tree at `root` that a walk with `opts`
    /// enters (all but `skip` and what lies under it), sending what changes
    /// to `tx`. At an OS limit on watches (or past `max_watches`) it fails
    /// with `Limit`, having released the watches it added.
    pub fn start(
        root: &Path,
        opts: &WalkOptions,
        skip: &Path,
        max_watches: Option<usize>,
        tx: mpsc::Sender<Vec<Change>>,
    ) -> std::result::Result<DirWatch, StartError> {
        let fail = |e: std::io::Error, dirs: Option<usize>| {
            if is_limit(&e) {
                StartError::Limit { dirs }
            } else {
                StartError::Failed(Error::watch(
                    root,
                    format!("cannot watch {}: {e}", root.display()),
                ))
            }
        };
        let inotify = Inotify::init().map_err(|e| fail(e, None))?;
        let setup = Setup {
            root: root.to_path_buf(),
            opts: opts.clone(),
            skip: skip.to_path_buf(),
            max_watches: max_watches.unwrap_or(usize::MAX),
        };
        let mut table = Table::default();
        // Dropping `inotify` on failure closes it, which removes its watches.
        setup
            .watch_dirs(&inotify.watches(), &mut table, None)
            .map_err(|(e, dirs)| fail(e, Some(dirs)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let reader = std::thread::Builder::new()
            .name("leann-watch".into())
            .spawn(move || read_loop(inotify, setup, table, &stop2, &tx))
            .map_err(|e| fail(e, None))?;
        Ok(DirWatch {
            stop,
            reader: Some(reader),
        })
    }
}

/// Why a `DirWatch` did not start.
pub enum StartError {
    /// An OS limit on inotify was reached; `dirs`: the directories the tree
    /// has to watch, when known.
    Limit {
        dirs: Option<usize>,
    },
    Failed(Error),
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.reader.take() {
            // The reader looks at the flag every POLL_TIMEOUT_MS.
            let _ = h.join();
        }
    }
}

/// Wait up to POLL_TIMEOUT_MS for `fd` to be readable.
fn wait_readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid, initialised pollfd that outlives the call,
    // and the count passed is 1.
    let n = unsafe { libc::poll(&mut p, 1, POLL_TIMEOUT_MS) };
    n > 0
}

fn read_loop(
    mut inotify: Inotify,
    setup: Setup,
    mut table: Table,
    stop: &AtomicBool,
    tx: &mpsc::Sender<Vec<Change>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let watches = inotify.watches();
    while !stop.load(Ordering::SeqCst) {
        if !wait_readable(inotify.as_raw_fd()) {
            continue;
        }
        let events = match inotify.read_events(&mut buf) {
            Ok(ev) => ev,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(vec![Change::Failed {
                    message: format!("reading file system events failed: {e}"),
                    limit: false,
                }]);
                return;
            }
        };
        // Collected first: handling an event may add watches, which needs
        // the buffer no more.
        let raw: Vec<(i32, EventMask, Option<std::ffi::OsString>)> = events
            .map(|e| {
                (
                    e.wd.get_watch_descriptor_id(),
                    e.mask,
                    e.name.map(|n| n.to_os_string()),
                )
            })
            .collect();
        let mut out = Vec::new();
        for (wd, mask, name) in raw {
            handle(&setup, &watches, &mut table, wd, mask, name, &mut out);
        }
        if !out.is_empty() && tx.send(out).is_err() {
            return;
        }
    }
}

/// Turn one event into changes, keeping the watch table in step.
fn handle(
    setup: &Setup,
    watches: &Watches,
    table: &mut Table,
    wd: i32,
    mask: EventMask,
    name: Option<std::ffi::OsString>,
    out: &mut Vec<Change>,
) {
    if mask.contains(EventMask::Q_OVERFLOW) {
        out.push(Change::Rescan);
        return;
    }
    let Some(dir) = table.by_wd.get(&wd).cloned() else {
        // A watch already forgotten (its directory moved or removed).
        return;
    };
    if mask.contains(EventMask::IGNORED) {
        // The kernel dropped the watch (directory gone, file system
        // unmounted).
        if let Some(w) = table.by_path.get(&dir) {
            if w.get_watch_descriptor_id() == wd {
                table.by_path.remove(&dir);
            }
        }
        table.by_wd.remove(&wd);
        return;
    }
    let Some(name) = name else {
        // The watched directory itself was removed or moved away: the
        // parent's event names it too, but the root has no parent here.
        if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
            if dir == setup.root {
                out.push(Change::Rescan);
            } else {
                out.push(Change::Path(dir));
            }
        }
        return;
    };
    let path = dir.join(&name);
    if path.starts_with(&setup.skip) {
        return;
    }
    let is_dir = mask.contains(EventMask::ISDIR);
    if is_dir && mask.intersects(EventMask::MOVED_FROM | EventMask::DELETE) {
        // Its watches (and those under it) describe paths that no longer
        // exist; a directory moved within the tree is watched again under
        // its new name by the MOVED_TO event.
        for w in table.remove_under(&path) {
            let _ = watches.clone().remove(w);
        }
    }
    let ignore_file = !is_dir && name.to_str().is_some_and(|n| IGNORE_FILES.contains(&n));
    let new_dir = is_dir && mask.intersects(EventMask::CREATE | EventMask::MOVED_TO);
    if new_dir || ignore_file {
        // A new directory, or one whose ignore rules changed: watch what a
        // walk now enters there, then have all of it examined.
        let target = if new_dir { path.clone() } else { dir.clone() };
        if let Some(rel) = rel_under(&setup.root, &target) {
            let only: std::collections::BTreeSet<String> = [rel].into();
            let scope = Scope::new(&only);
            if let Err((e, _)) =
                setup.watch_dirs(watches, table, (!only.contains("")).then_some(&scope))
            {
                out.push(Change::Failed {
                    limit: is_limit(&e),
                    message: format!("cannot watch {}: {e}", target.display()),
                });
            }
        }
        out.push(Change::Path(target));
        return;
    }
    out.push(Change::Path(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_directory_forgets_exactly_what_lies_under_it() {
        let d = tempfile::tempdir().unwrap();
        let inotify = Inotify::init().unwrap();
        let mut table = Table::default();
        for rel in ["a", "a/b", "a/b/x", "a/bc", "a/b-y"] {
            let p = d.path().join(rel);
            std::fs::create_dir_all(&p).unwrap();
            let wd = inotify.watches().add(&p, mask()).unwrap();
            table.insert(p, wd);
        }
        let gone = table.remove_under(&d.path().join("a/b"));
        assert_eq!(gone.len(), 2);
        let left: Vec<String> = table
            .by_path
            .keys()
            .map(|p| p.strip_prefix(d.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(left, ["a", "a/b-y", "a/bc"]);
        assert_eq!(table.by_wd.len(), 3);
    }
}
