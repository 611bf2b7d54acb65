//! `Index`: writing: the writer lock, enabling the log, committing records.

use super::*;
use crate::ann::distance::check_vector;
use crate::engine::dir::DiskState;
use crate::engine::manifest::{self};
use crate::error::{Error, Result};
use crate::io::Storage;

impl Index {
    /// Take the writer lock (L-1), waiting up to `lock_wait`; a no-op when
    /// this handle holds it. When another writer changed the index since this
    /// handle last saw it (L-4: generation, logs and their lengths), the
    /// index is opened again first. Returns whether it was.
    pub fn lock_writes(&mut self, storage: &dyn Storage) -> Result<bool> {
        if self.writer.is_some() {
            return Ok(false);
        }
        self.check_write_features()?;
        let lock = storage.lock_dir(&self.dir, &crate::io::lock::this_holder(), self.lock_wait)?;
        self.writer = Some(lock);
        let fresh = crate::engine::dir::disk_state(storage, &self.dir)
            .map(|now| now == self.seen)
            .and_then(|same| {
                if same {
                    return Ok(false);
                }
                // Another writer's log or compaction: this handle's log
                // (if any) is no longer the one to append to.
                self.wal = None;
                self.reopen(storage).map(|()| true)
            });
        let fresh = fresh.and_then(|reopened| self.check_write_features().map(|()| reopened));
        // Scratch files of a killed create or compaction: removed as soon as
        // a writer holds the lock, whether or not this one writes.
        let fresh = fresh.and_then(|reopened| {
            crate::engine::dir::remove_scratch(storage, &self.dir).map(|()| reopened)
        });
        if fresh.is_err() {
            self.writer = None;
        }
        fresh
    }

    /// F-3: refuse to write an index with a write feature this build does
    /// not know (before anything in it is touched).
    pub(super) fn check_write_features(&self) -> Result<()> {
        let unknown = self.manifest.features.unwrap_or_default().write
            & !crate::format::manifest::KNOWN_WRITE;
        if unknown != 0 {
            return Err(Error::UnsupportedFeatures {
                path: self.dir.join(manifest::FILE_NAME),
                what: "write",
                bits: unknown,
                hint:
                    "; it can be queried but not changed by this build (nothing in it was touched)",
            });
        }
        Ok(())
    }

    /// Let go of the writer lock (long-lived writers do between batches, so
    /// that other writers can run). The log stays open: when nobody else
    /// wrote meanwhile, the next `lock_writes` goes on appending to it.
    pub fn unlock_writes(&mut self, storage: &dyn Storage) {
        if self.writer.is_none() {
            return;
        }
        // A state that cannot be read matches nothing: reopen next time.
        self.seen = crate::engine::dir::disk_state(storage, &self.dir).unwrap_or_default();
        self.writer = None;
    }

    /// Let go of the writer lock after a failed write: the log (poisoned, or
    /// with a torn batch) is closed, and the next `lock_writes` opens the
    /// index again, which truncates what the failed batch left.
    pub fn unlock_after_failure(&mut self) {
        self.wal = None;
        self.seen = DiskState::default();
        self.writer = None;
    }

    /// Whether this handle holds the writer lock.
    pub fn holds_lock(&self) -> bool {
        self.writer.is_some()
    }

    /// Make the index writable: recover the last write-ahead log (truncating
    /// a torn tail) or start one.
    ///
    /// Takes the writer lock first (`lock_writes`), which may open the index
    /// again when another writer changed it.
    pub fn enable_writes(&mut self, storage: &dyn Storage) -> Result<()> {
        self.lock_writes(storage)?;
        if self.wal.is_some() {
            return Ok(());
        }
        // Files the manifest does not reference (an interrupted compaction's
        // new segment, or its predecessor's files and folded logs), and empty
        // logs that are not the newest (killed compactions'). Only under the
        // lock: another writer's files in progress look just the same.
        let live: Vec<u64> = self.manifest.segments.iter().map(|s| s.id).collect();
        let removed =
            crate::engine::dir::remove_orphans(storage, &self.dir, &live, self.info.log_start)?;
        self.logs
            .retain(|&seq| !removed.contains(&crate::engine::wal::file_name(seq)));
        let last = self.logs.last().copied();
        let wal = match last {
            Some(seq) => {
                match crate::engine::wal::Wal::open(
                    storage,
                    &self.dir.join(crate::engine::wal::file_name(seq)),
                )? {
                    Some((w, _)) => w,
                    None => crate::engine::wal::Wal::create(
                        storage,
                        &self.dir,
                        seq + 1,
                        self.dim as u32,
                    )?,
                }
            }
            None => crate::engine::wal::Wal::create(
                storage,
                &self.dir,
                self.info.log_start.max(1),
                self.dim as u32,
            )?,
        };
        if !self.logs.contains(&wal.seq()) {
            self.logs.push(wal.seq());
        }
        self.wal = Some(wal);
        Ok(())
    }

    /// Durably apply a batch of upserts and deletes (acknowledged when this
    /// returns Ok). Needs `enable_writes`.
    pub fn write(&mut self, records: &[crate::format::wal::Record]) -> Result<()> {
        let wal = self
            .wal
            .as_ref()
            .filter(|_| self.writer.is_some())
            .ok_or_else(|| {
                Error::precondition(
                    "index not open for writing (no writer lock): call enable_writes first",
                )
            })?;
        for r in records {
            if let Some(vector) = r.upsert_vector() {
                check_vector(vector, self.dim, "upserted vector")?;
            }
        }
        wal.commit(records)?;
        for r in records {
            self.delta.apply(r, self.metric);
        }
        if self.delta_graph {
            self.delta.maintain(self.metric, self.resolved.seed);
        }
        // Committed: an error here is a segment's chunk table failing a
        // read (corruption), reported as such.
        self.refresh_visible()
    }
}
