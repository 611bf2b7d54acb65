//! `leann index update --watch`: keep an index current while its tree is
//! edited. File system events (on Linux leann's own inotify watches,
//! `super::dirwatch`; elsewhere `notify`) are collected until the tree has
//! been quiet for the debounce interval, then the paths they name are
//! updated in one batch (`update::update_paths`). Paths are matched with
//! their ancestors, so a renamed or removed directory updates everything
//! under it; the file a path names is read as it is after the quiet
//! interval, so editors' save patterns (write a temporary file and rename it
//! over the original; delete and create) settle into one change. Events
//! under the index directory itself are ignored. When the OS limit on
//! watches is reached, or events were dropped, the whole tree is checked
//! instead (file stamps keep that cheap), and at the limit the watch falls
//! back to checking the whole tree every poll interval.

use crate::error::{Error, Result};
#[cfg(target_os = "linux")]
use crate::ingest::dirwatch::{DirWatch, StartError};
use crate::ingest::update::{update_paths, UpdateReport};
pub use crate::ingest::Change;
use crate::io::Storage;
use crate::search::searcher::Searcher;
use notify::Watcher;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Quiet time after the last event before an update runs.
    pub debounce: Duration,
    /// Whole-tree check interval when events cannot be had.
    pub poll_interval: Duration,
    /// Compact after an update when the compaction policy asks for it.
    pub compact: bool,
    /// Take events from `notify` (the portable source) even where leann has
    /// its own (inotify on Linux, `super::dirwatch`).
    pub portable_events: bool,
    /// At most this many directories watched (leann's own source); a tree
    /// with more is handled as at the OS limit: a warning, then polling.
    /// None: as many as the OS allows.
    pub max_watches: Option<usize>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(300),
            poll_interval: Duration::from_secs(5),
            compact: false,
            portable_events: false,
            max_watches: None,
        }
    }
}

/// What the watch tells its caller.
pub enum WatchEvent<'a> {
    /// Watching, and caught up with the tree (events, or polling after a
    /// limit).
    Ready {
        polling: bool,
    },
    Updated(&'a UpdateReport),
    Compacted(&'a crate::engine::compact::CompactReport),
    Warning(String),
    /// The OS limit on watches was reached while running: directories from
    /// now on may go unwatched, so the watch polls the whole tree as well
    /// (the message says which setting to raise).
    Polling(String),
}

/// The warning for a full watch table, naming the setting to raise and a
/// value for it: enough for `dirs`, the directories the tree has to watch,
/// when known.
pub fn watch_limit_warning(root: &Path, dirs: Option<usize>) -> String {
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    let shown = limit.map_or("?".to_string(), |l| l.to_string());
    let need = match dirs {
        Some(d) => format!(" it has {d} directories to watch, and"),
        None => String::new(),
    };
    // Room for the tree to grow and for other programs' watches (the limit
    // is per user).
    let suggest = dirs
        .map(|d| (d + d / 4).next_power_of_two())
        .or(limit.map(|l| l.saturating_mul(2)))
        .unwrap_or(0)
        .max(524_288);
    format!(
        "the OS limit on file watches was reached while watching {}:{need} fs.inotify.max_user_watches = {shown} \
         (for all of this user's programs); falling back to checking the whole tree periodically. \
         Raise the limit with `sudo sysctl fs.inotify.max_user_watches={suggest}` to get events again",
        root.display()
    )
}

fn is_limit(e: &notify::Error) -> bool {
    matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
        || matches!(&e.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(28))
}

/// Where the watch's events come from. Held, not read: dropping it stops
/// the events.
#[allow(dead_code)]
enum Source {
    /// leann's own inotify watches (Linux).
    #[cfg(target_os = "linux")]
    Dirs(DirWatch),
    /// `notify`'s recursive watch (other systems, or when asked).
    Notify(notify::RecommendedWatcher),
    /// None: polling only.
    None,
}

impl Source {
    /// Start watching `root`; with a warning when the OS limit on watches
    /// was reached, so the watch must poll.
    fn start(
        s: &Searcher,
        root: &Path,
        index_dir: &Path,
        o: &WatchOptions,
        tx: mpsc::Sender<Vec<Change>>,
    ) -> Result<(Source, Option<String>)> {
        #[cfg(target_os = "linux")]
        if !o.portable_events {
            let opts = s.index.config.walk_options()?;
            return match DirWatch::start(root, &opts, index_dir, o.max_watches, tx) {
                Ok(w) => Ok((Source::Dirs(w), None)),
                Err(StartError::Limit { dirs }) => {
                    Ok((Source::None, Some(watch_limit_warning(root, dirs))))
                }
                Err(StartError::Failed(e)) => Err(e),
            };
        }
        let _ = (s, index_dir, o);
        let mut watcher = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
            let changes = changes_of(r);
            if !changes.is_empty() {
                let _ = tx.send(changes);
            }
        })
        .map_err(|e| Error::watch(root, format!("cannot watch {}: {e}", root.display())))?;
        match watcher.watch(root, notify::RecursiveMode::Recursive) {
            Ok(()) => Ok((Source::Notify(watcher), None)),
            // The watches added before the limit still report.
            Err(e) if is_limit(&e) => Ok((
                Source::Notify(watcher),
                Some(watch_limit_warning(root, None)),
            )),
            Err(e) => Err(Error::watch(
                root,
                format!("cannot watch {}: {e}", root.display()),
            )),
        }
    }
}

/// What one `notify` event tells the watch.
fn changes_of(r: notify::Result<notify::Event>) -> Vec<Change> {
    match r {
        // Opens and reads change nothing, and the watch's own walks and
        // reads make them by the thousand: they would wake it again and
        // again (and hold off its debounce).
        Ok(ev) if is_read_only(&ev) => Vec::new(),
        Ok(ev) => {
            let mut out: Vec<Change> = ev.paths.iter().cloned().map(Change::Path).collect();
            if ev.need_rescan() {
                out.push(Change::Rescan);
            }
            out
        }
        Err(e) => vec![Change::Failed {
            limit: is_limit(&e),
            message: e.to_string(),
        }],
    }
}

/// Watch `s`'s tree until `stop` is set, updating the index after each quiet
/// interval. `root` is the tree (default: the index's recorded root).
pub fn watch(
    s: &mut Searcher,
    storage: &dyn Storage,
    root: Option<&Path>,
    o: &WatchOptions,
    stop: &AtomicBool,
    report: &mut dyn FnMut(WatchEvent<'_>),
) -> Result<()> {
    let root = crate::ingest::update::tree_root(s, root)?;
    let index_dir = std::fs::canonicalize(&s.index.dir).unwrap_or_else(|_| s.index.dir.clone());
    let (tx, rx) = mpsc::channel::<Vec<Change>>();
    let (source, limit_warning) = Source::start(s, &root, &index_dir, o, tx)?;
    let mut polling = limit_warning.is_some();
    if let Some(w) = limit_warning {
        report(WatchEvent::Warning(w));
    }
    // Catch up with changes made while no watch was running (events from
    // now on are queued), then report ready. Every batch takes the writer
    // lock and lets go of it afterwards, so that other writers (one-shot
    // updates, compactions) run between batches; a batch that finds the
    // index changed by them opens it again first (L-4).
    let mut pending: BTreeSet<String> = BTreeSet::new();
    let mut full = true;
    let mut failures = 0u32;
    let mut retry_at: Option<Instant> = None;
    let mut ready = false;
    let mut first = true;
    let mut last_event = Instant::now()
        .checked_sub(o.debounce)
        .unwrap_or_else(Instant::now);
    let mut last_poll = Instant::now();
    let tick = Duration::from_millis(50).min(o.debounce);
    while !stop.load(Ordering::SeqCst) {
        if !std::mem::take(&mut first) {
            match rx.recv_timeout(tick) {
                Ok(changes) => {
                    for c in changes {
                        match c {
                            Change::Path(p) => {
                                if p.starts_with(&index_dir) {
                                    continue;
                                }
                                if let Some(rel) = crate::chunk::walk::rel_under(&root, &p) {
                                    if !rel.is_empty() {
                                        pending.insert(rel);
                                    } else {
                                        full = true;
                                    }
                                }
                            }
                            Change::Rescan => full = true,
                            Change::Failed { message, limit } => {
                                if limit {
                                    // Directories from now on may go
                                    // unwatched: check the whole tree
                                    // periodically.
                                    report(WatchEvent::Polling(watch_limit_warning(&root, None)));
                                    polling = true;
                                } else {
                                    report(WatchEvent::Warning(format!("watch error: {message}")));
                                }
                                full = true;
                            }
                        }
                    }
                    last_event = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // No source left (the limit was reached): poll.
                Err(mpsc::RecvTimeoutError::Disconnected) if polling => std::thread::sleep(tick),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::watch(
                        &root,
                        format!("the watch on {} stopped", root.display()),
                    ))
                }
            }
        }
        let quiet = last_event.elapsed() >= o.debounce;
        let poll_due = polling && last_poll.elapsed() >= o.poll_interval;
        let backing_off = retry_at.is_some_and(|t| Instant::now() < t);
        if backing_off || !((quiet && (full || !pending.is_empty())) || poll_due) {
            continue;
        }
        let only = std::mem::take(&mut pending);
        let whole = full || poll_due;
        match batch(s, storage, &root, (!whole).then_some(&only), o, report) {
            Ok(()) => {
                s.unlock_writes();
                full = false;
                failures = 0;
                retry_at = None;
                if !ready {
                    ready = true;
                    report(WatchEvent::Ready { polling });
                }
            }
            Err(e) if retryable(&e) => {
                // W-11: nothing of the failed batch is acknowledged; its
                // paths stay pending and the log is recovered on the next try.
                s.index.unlock_after_failure();
                pending.extend(only);
                full |= whole;
                failures += 1;
                let wait = retry_delay(failures);
                retry_at = Some(Instant::now() + wait);
                report(WatchEvent::Warning(format!(
                    "update failed, its changes stay pending (retry in {:.1} s): {e}",
                    wait.as_secs_f64()
                )));
            }
            Err(e) => return Err(e),
        }
        last_poll = Instant::now();
    }
    drop(source);
    s.unlock_writes();
    Ok(())
}

/// Whether an event only reports that something was opened or read (a
/// close after writing does count: the file may have changed).
fn is_read_only(ev: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        EventKind::Access(_) => !ev.need_rescan(),
        _ => false,
    }
}

/// One batch of the watch: update the paths (all of them when `only` is
/// None), then compact when asked and due. Returns with the lock held.
fn batch(
    s: &mut Searcher,
    storage: &dyn Storage,
    root: &Path,
    only: Option<&BTreeSet<String>>,
    o: &WatchOptions,
    report: &mut dyn FnMut(WatchEvent<'_>),
) -> Result<()> {
    let r = update_paths(s, storage, Some(root), only)?;
    report(WatchEvent::Updated(&r));
    if o.compact && r.chunks_upserted + r.files_removed + r.files_changed > 0 {
        if let crate::engine::compact::Plan::Compact { method, .. } =
            crate::engine::compact::plan(&crate::engine::compact::stats(&s.index))
        {
            let c = s.compact(method, &|_| {})?;
            report(WatchEvent::Compacted(&c));
        }
    }
    Ok(())
}

/// Errors a running watch outlives (and retries after): everything but a
/// damaged or unreadable index (corrupt bytes, a newer format, unknown
/// features), a bad config and an index replaced by one for another model.
/// I/O (a full disk), another writer holding the lock past the wait, a
/// poisoned log, a server that went away, a git that failed, a file that
/// changed under a compaction: all pass, and the next round retries.
fn retryable(e: &Error) -> bool {
    !matches!(
        e,
        Error::Corrupt { .. }
            | Error::UnsupportedVersion { .. }
            | Error::UnsupportedFeatures { .. }
            | Error::Config { .. }
            | Error::Replaced { .. }
    )
}

/// Back-off after `n` failures in a row: 0.5 s doubling up to 30 s.
fn retry_delay(n: u32) -> Duration {
    Duration::from_millis(
        500u64
            .saturating_mul(1 << n.min(6).saturating_sub(1))
            .min(30_000),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::update::in_scope;

    #[test]
    fn the_watch_limit_is_recognised_and_named() {
        assert!(is_limit(&notify::Error::new(
            notify::ErrorKind::MaxFilesWatch
        )));
        // inotify_add_watch fails with ENOSPC at the limit.
        let enospc = std::io::Error::from_raw_os_error(28);
        assert!(is_limit(&notify::Error::io(enospc)));
        let other = std::io::Error::from_raw_os_error(2);
        assert!(!is_limit(&notify::Error::io(other)));
        let w = watch_limit_warning(Path::new("/src"), None);
        assert!(w.contains("fs.inotify.max_user_watches"), "{w}");
        assert!(w.contains("/src"), "{w}");
        // Knowing the tree's directories, it names a limit that holds them.
        let w = watch_limit_warning(Path::new("/src"), Some(543_597));
        assert!(w.contains("543597 directories"), "{w}");
        assert!(w.contains("max_user_watches=1048576`"), "{w}");
    }

    #[test]
    fn scope_includes_everything_under_a_named_directory() {
        let only: BTreeSet<String> = ["lib".to_string(), "src/a.rs".to_string()].into();
        assert!(in_scope(&only, "src/a.rs"));
        assert!(in_scope(&only, "lib/x/y.py"));
        assert!(!in_scope(&only, "src/b.rs"));
        assert!(!in_scope(&only, "library/y.py"));
    }
}
