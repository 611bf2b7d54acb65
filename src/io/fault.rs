//! Fault-injecting storage, for crash and error tests without root.
//!
//! Every file has the bytes a reader sees now and the bytes that would
//! survive a crash (made durable by `AppendFile::sync`/`truncate` and by
//! `WriteFile::finish`, which fsyncs, renames and fsyncs the directory). A
//! test can make the Nth mutating operation fail (an I/O error, as a full
//! disk or failed fsync gives), or stop the world at the Nth operation (every
//! later mutation fails, as if the process died there), then take the crash
//! image: durable bytes plus, per file, nothing / all / a torn part of what
//! was not yet synced.

use super::{AppendFile, Mapped, ReadFile, ReadMode, Storage, WriteFile};
use crate::error::{Error, Result};
use crate::io::memory::MemStorage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct FileState {
    now: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, FileState>,
    /// Mutating operations so far.
    ops: u64,
    /// The op number that fails with an I/O error.
    fail_at: Option<u64>,
    /// From this op number on, every mutation fails (the "crash").
    stop_at: Option<u64>,
}

/// What a crash leaves of bytes that were written but not synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Nothing of them.
    Drop,
    /// All of them (the OS happened to write them back).
    Keep,
    /// A prefix of `numerator / 256` of them, then its last 16 bytes zeroed.
    Torn(u8),
}

#[derive(Clone, Default)]
pub struct FaultStorage {
    state: Arc<Mutex<State>>,
    locks: super::lock::MemLocks,
}

fn injected(op: &'static str, path: &Path) -> Error {
    Error::io(op, path, std::io::Error::other("injected fault"))
}

impl FaultStorage {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make mutating operation number `n` (0-based) fail once.
    pub fn fail_at(&self, n: u64) {
        self.lock().fail_at = Some(n);
    }
    /// Stop the world at mutating operation `n`: it and every later one fail.
    pub fn stop_at(&self, n: u64) {
        self.lock().stop_at = Some(n);
    }
    /// Mutating operations so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Every file's path, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    /// Count one mutating operation; Err when it is the one to fail.
    fn tick(&self, op: &'static str, path: &Path) -> Result<()> {
        let mut st = self.lock();
        let n = st.ops;
        st.ops += 1;
        if st.stop_at.is_some_and(|s| n >= s) || st.fail_at == Some(n) {
            return Err(injected(op, path));
        }
        Ok(())
    }

    /// The files as a crash now would leave them, in a fresh MemStorage.
    pub fn crash_image(&self, tear: Tear) -> MemStorage {
        let st = self.lock();
        let m = MemStorage::default();
        for (p, f) in &st.files {
            let mut bytes = f.durable.clone();
            let durable_prefix = f.now.starts_with(&f.durable);
            if durable_prefix && f.now.len() > f.durable.len() {
                let extra = &f.now[f.durable.len()..];
                match tear {
                    Tear::Drop => {}
                    Tear::Keep => bytes.extend_from_slice(extra),
                    Tear::Torn(num) => {
                        let keep = extra.len() * num as usize / 256;
                        let start = bytes.len();
                        bytes.extend_from_slice(&extra[..keep]);
                        let z = bytes.len().saturating_sub(16).max(start);
                        bytes[z..].fill(0);
                    }
                }
            }
            m.put(p, bytes);
        }
        m
    }

    fn now(&self, path: &Path) -> Result<Vec<u8>> {
        self.lock()
            .files
            .get(path)
            .map(|f| f.now.clone())
            .ok_or_else(|| {
                Error::io(
                    "open",
                    path,
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            })
    }
}

struct FaultWriter {
    store: FaultStorage,
    dest: PathBuf,
    data: Vec<u8>,
}

impl WriteFile for FaultWriter {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.store.tick("write", &self.dest)?;
        self.data.extend_from_slice(data);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        self.store.tick("fsync+rename", &self.dest)?;
        let FaultWriter { store, dest, data } = *self;
        store.lock().files.insert(
            dest,
            FileState {
                now: data.clone(),
                durable: data,
            },
        );
        Ok(())
    }
}

struct FaultAppend {
    store: FaultStorage,
    path: PathBuf,
}

impl AppendFile for FaultAppend {
    fn path(&self) -> &Path {
        &self.path
    }
    fn len(&self) -> u64 {
        self.store
            .lock()
            .files
            .get(&self.path)
            .map_or(0, |f| f.now.len() as u64)
    }
    fn append(&self, data: &[u8]) -> Result<()> {
        self.store.tick("append", &self.path)?;
        let mut st = self.store.lock();
        let f = st.files.entry(self.path.clone()).or_default();
        f.now.extend_from_slice(data);
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        self.store.tick("fsync", &self.path)?;
        let mut st = self.store.lock();
        let f = st.files.entry(self.path.clone()).or_default();
        f.durable = f.now.clone();
        Ok(())
    }
    fn truncate(&self, len: u64) -> Result<()> {
        self.store.tick("truncate", &self.path)?;
        let mut st = self.store.lock();
        let f = st.files.entry(self.path.clone()).or_default();
        f.now.truncate(len as usize);
        f.durable = f.now.clone();
        Ok(())
    }
}

impl Storage for FaultStorage {
    fn name(&self) -> &'static str {
        "fault"
    }
    fn open_read(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn ReadFile>> {
        let m = MemStorage::default();
        m.put(path, self.now(path)?);
        m.open_read(path, mode)
    }
    fn map(&self, path: &Path) -> Result<Mapped> {
        Ok(Mapped::Bytes(Arc::new(self.now(path)?)))
    }
    fn create(&self, path: &Path) -> Result<Box<dyn WriteFile>> {
        Ok(Box::new(FaultWriter {
            store: self.clone(),
            dest: path.to_path_buf(),
            data: Vec::new(),
        }))
    }
    fn open_append(&self, path: &Path) -> Result<Arc<dyn AppendFile>> {
        if !self.exists(path) {
            self.tick("create", path)?;
            self.lock()
                .files
                .insert(path.to_path_buf(), FileState::default());
        }
        Ok(Arc::new(FaultAppend {
            store: self.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn create_dir_all(&self, _path: &Path) -> Result<()> {
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        Ok(super::memory::names_in(self.lock().files.keys(), path))
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        self.tick("remove", path)?;
        self.lock().files.remove(path).map(|_| ()).ok_or_else(|| {
            Error::io(
                "remove",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
    }
    fn exists(&self, path: &Path) -> bool {
        // A directory exists while it holds files.
        self.lock().files.keys().any(|p| p.starts_with(path))
    }
    fn file_len(&self, path: &Path) -> Result<u64> {
        Ok(self.now(path)?.len() as u64)
    }
    fn lock_dir(
        &self,
        dir: &Path,
        holder: &str,
        wait: std::time::Duration,
    ) -> Result<Box<dyn super::DirLock>> {
        self.locks.lock(dir, holder, wait)
    }
    fn rename_dir(&self, from: &Path, to: &Path) -> Result<()> {
        self.tick("rename directory", to)?;
        let mut st = self.lock();
        if st.files.keys().any(|p| p.starts_with(to)) {
            return Err(Error::io(
                "rename directory",
                to,
                std::io::Error::from(std::io::ErrorKind::DirectoryNotEmpty),
            ));
        }
        let mut dirs = Default::default();
        super::memory::move_tree(&mut st.files, &mut dirs, from, to);
        Ok(())
    }
    fn exchange_dirs(&self, a: &Path, b: &Path) -> Result<()> {
        self.tick("exchange directories", b)?;
        let mut st = self.lock();
        let mut dirs = Default::default();
        let side = a.join(".exchange");
        super::memory::move_tree(&mut st.files, &mut dirs, a, &side);
        super::memory::move_tree(&mut st.files, &mut dirs, b, a);
        super::memory::move_tree(&mut st.files, &mut dirs, &side, b);
        Ok(())
    }
    fn remove_dir_all(&self, path: &Path) -> Result<()> {
        self.tick("remove directory", path)?;
        self.lock().files.retain(|p, _| !p.starts_with(path));
        Ok(())
    }
}
