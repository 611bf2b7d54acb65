//! From a source tree to an index and back in step with it: `tree` (index
//! create), `update` (changed, added and removed files through the log),
//! `watch` (update on file-system events), `dirwatch` (its inotify
//! source on Linux).

pub mod checkpoint;
#[cfg(target_os = "linux")]
pub mod dirwatch;
pub mod tree;
pub mod update;
pub mod watch;

/// What a source of file system events tells the watch (`watch`).
#[derive(Debug)]
pub enum Change {
    /// Something at this absolute path (a file or a whole directory) may
    /// have changed.
    Path(std::path::PathBuf),
    /// Events were lost: the whole tree must be checked.
    Rescan,
    /// The source failed; `limit` when an OS limit on watches was reached
    /// (the watch then checks the whole tree periodically instead).
    Failed { message: String, limit: bool },
}
