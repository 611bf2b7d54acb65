//! From a source tree to an index and back in step with it: `tree` (index
//! create), `update` (changed, added and removed files through the log),
//! `watch` (update on file-system events).

pub mod checkpoint;
pub mod tree;
pub mod update;
pub mod watch;
