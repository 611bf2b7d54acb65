//! The write-ahead log of an index (files `wal-SEQ.log`, SPEC.md "Write-ahead
//! log"): batches of upserts and deletes, each acknowledged only after an
//! fsync covers it (group commit: concurrent committers share one fsync), and
//! recovery on open (valid batches replayed, a torn tail truncated,
//! corruption in the middle refused naming file and offset).

use crate::error::{Error, Result};
use crate::format::wal::{self, FrameAt, LogMeta, Record, FIRST_FRAME};
use crate::io::{AppendFile, Storage};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Name of log `seq`.
pub fn file_name(seq: u64) -> String {
    format!("wal-{seq:08}.log")
}

/// Parse a log file name.
pub fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// What recovery found in one log.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Committed batches in order, without their begin/commit frames.
    pub batches: Vec<Vec<Record>>,
    /// Offset just past the last committed batch.
    pub committed_end: u64,
    /// Bytes after it (a torn or unfinished tail) that recovery drops.
    pub torn_bytes: u64,
    /// The largest batch number seen, plus one.
    pub next_batch: u64,
}

/// Whether any valid frame starts after `from` (a torn tail has none).
fn valid_frame_after(path: &Path, buf: &[u8], from: u64, salt: u64) -> Option<u64> {
    (from + 1..buf.len() as u64)
        .find(|&o| matches!(wal::frame_at(path, buf, o, salt), FrameAt::Frame(..)))
}

/// Read a log: its metadata and committed batches. Never writes.
/// A header shorter than its full size is a log torn at creation (nothing in
/// it was ever acknowledged): reported as `Ok(None)`.
pub fn read_log(path: &Path, buf: &[u8]) -> Result<Option<(LogMeta, Recovered)>> {
    if (buf.len() as u64) < FIRST_FRAME {
        return Ok(None);
    }
    let meta = wal::decode_header(path, buf)?;
    let mut rec = Recovered::default();
    let mut pos = FIRST_FRAME;
    rec.committed_end = pos;
    let mut open: Option<(u64, u64, Vec<Record>)> = None; // (batch, offset, records)
    loop {
        match wal::frame_at(path, buf, pos, meta.salt) {
            FrameAt::End => break,
            // Its checks pass, so it was written whole: refuse, keep the file.
            FrameAt::Unreadable(e) => return Err(e),
            FrameAt::Invalid(why) => {
                if let Some(next) = valid_frame_after(path, buf, pos, meta.salt) {
                    return Err(Error::corrupt(
                        path,
                        pos,
                        format!("{why}, and a valid frame follows at offset {next}: the log is damaged in the middle"),
                    ));
                }
                break;
            }
            FrameAt::Frame(r, end) => {
                // Its checks pass, so it was written whole: a vector of
                // another dimension is damage, never a torn tail.
                if let Some(v) = r.upsert_vector() {
                    if v.len() != meta.dim as usize {
                        return Err(Error::corrupt(
                            path,
                            pos,
                            format!(
                                "upsert of dimension {} in a log of dimension {}",
                                v.len(),
                                meta.dim
                            ),
                        ));
                    }
                }
                match r {
                    Record::Begin { batch } => {
                        if open.is_some() {
                            return Err(Error::corrupt(path, pos, "a batch begins inside another"));
                        }
                        let Some(next) = batch.checked_add(1) else {
                            return Err(Error::corrupt(
                                path,
                                pos,
                                "batch number 2^64-1 leaves no number for the next batch",
                            ));
                        };
                        rec.next_batch = rec.next_batch.max(next);
                        open = Some((batch, pos, Vec::new()));
                    }
                    Record::Commit { batch, records } => {
                        let Some((b, _, recs)) = open.take() else {
                            return Err(Error::corrupt(path, pos, "a commit without a batch"));
                        };
                        if b != batch || recs.len() as u64 != records as u64 {
                            return Err(Error::corrupt(
                                path,
                                pos,
                                format!(
                                    "commit of batch {batch} with {records} records closes batch {b} of {}",
                                    recs.len()
                                ),
                            ));
                        }
                        rec.batches.push(recs);
                        rec.committed_end = end;
                    }
                    other => match &mut open {
                        Some((_, _, recs)) => recs.push(other),
                        None => {
                            return Err(Error::corrupt(path, pos, "a record outside any batch"))
                        }
                    },
                }
                pos = end;
            }
        }
    }
    rec.torn_bytes = buf.len() as u64 - rec.committed_end;
    Ok(Some((meta, rec)))
}

struct Appender {
    next_batch: u64,
}

/// An open log, accepting batches.
pub struct Wal {
    path: PathBuf,
    file: Arc<dyn AppendFile>,
    meta: LogMeta,
    append: Mutex<Appender>,
    /// Bytes known durable.
    synced: Mutex<u64>,
    poisoned: AtomicBool,
}

fn random_salt() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        // No OS randomness: the clock still differs between log files.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        t ^ (std::process::id() as u64) << 32
    })
}

impl Wal {
    /// Start a new log `seq` in `dir` (the file must not exist).
    pub fn create(storage: &dyn Storage, dir: &Path, seq: u64, dim: u32) -> Result<Wal> {
        let path = dir.join(file_name(seq));
        if storage.exists(&path) {
            return Err(Error::precondition(format!(
                "{} already exists",
                path.display()
            )));
        }
        let file = storage.open_append(&path)?;
        let meta = LogMeta {
            salt: random_salt(),
            seq,
            dim,
        };
        file.append(&wal::encode_header(&meta))?;
        file.sync()?;
        Ok(Wal {
            synced: Mutex::new(file.len()),
            path,
            file,
            meta,
            append: Mutex::new(Appender { next_batch: 0 }),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Open an existing log for appending after recovery: its torn tail is
    /// truncated. Returns the log and its committed batches; `None` when the
    /// log was torn at creation (it is removed).
    pub fn open(storage: &dyn Storage, path: &Path) -> Result<Option<(Wal, Vec<Vec<Record>>)>> {
        let buf = storage.read_all(path)?;
        let Some((meta, rec)) = read_log(path, &buf)? else {
            storage.remove_file(path)?;
            return Ok(None);
        };
        let file = storage.open_append(path)?;
        if rec.torn_bytes > 0 {
            file.truncate(rec.committed_end)?;
        }
        Ok(Some((
            Wal {
                synced: Mutex::new(rec.committed_end),
                path: path.to_path_buf(),
                file,
                meta,
                append: Mutex::new(Appender {
                    next_batch: rec.next_batch,
                }),
                poisoned: AtomicBool::new(false),
            },
            rec.batches,
        )))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn seq(&self) -> u64 {
        self.meta.seq
    }
    pub fn len(&self) -> u64 {
        self.file.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() <= FIRST_FRAME
    }

    fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned(format!(
                "an earlier write to {} failed",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Append one batch and return once it is durable (its batch number).
    /// Committers that arrive while an fsync runs are covered by the next
    /// one together. After any failed write or fsync the log is poisoned:
    /// every later call fails until the index is reopened.
    pub fn commit(&self, records: &[Record]) -> Result<u64> {
        self.check_poison()?;
        for r in records {
            if matches!(r, Record::Begin { .. } | Record::Commit { .. }) {
                return Err(Error::argument(
                    "op",
                    "begin/commit frames are written by the log itself",
                ));
            }
            if let Some(vector) = r.upsert_vector() {
                if vector.len() != self.meta.dim as usize {
                    return Err(Error::argument(
                        "vector",
                        format!(
                            "upsert of dimension {}, the index has {}",
                            vector.len(),
                            self.meta.dim
                        ),
                    ));
                }
            }
        }
        let (batch, end) = {
            let mut a = self
                .append
                .lock()
                .map_err(|_| Error::Poisoned("log lock".into()))?;
            self.check_poison()?;
            let batch = a.next_batch;
            let mut buf = Vec::new();
            wal::put_frame(&mut buf, self.meta.salt, &Record::Begin { batch });
            for r in records {
                wal::put_frame(&mut buf, self.meta.salt, r);
            }
            wal::put_frame(
                &mut buf,
                self.meta.salt,
                &Record::Commit {
                    batch,
                    records: records.len() as u32,
                },
            );
            if let Err(e) = self.file.append(&buf) {
                self.poisoned.store(true, Ordering::Release);
                return Err(e);
            }
            a.next_batch += 1;
            (batch, self.file.len())
        };
        let mut synced = self
            .synced
            .lock()
            .map_err(|_| Error::Poisoned("log sync lock".into()))?;
        self.check_poison()?;
        if *synced < end {
            // Everything appended up to now is covered by this fsync.
            let upto = self.file.len();
            if let Err(e) = self.file.sync() {
                self.poisoned.store(true, Ordering::Release);
                return Err(e);
            }
            *synced = upto;
        }
        Ok(batch)
    }
}
