//! In-memory storage: a map from path to bytes. Used by tests and as the base
//! of fault injection. Directories are implicit except where created.

use super::{
    os::check_bounds, AppendFile, Mapped, ReadFile, ReadMode, ReadReq, Storage, WriteFile,
};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<Vec<u8>>>,
    dirs: BTreeSet<PathBuf>,
}

#[derive(Default, Clone)]
pub struct MemStorage {
    state: Arc<Mutex<State>>,
    locks: super::lock::MemLocks,
}

fn not_found(op: &'static str, path: &Path) -> Error {
    Error::io(op, path, std::io::Error::from(std::io::ErrorKind::NotFound))
}

impl MemStorage {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data; keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn get(&self, path: &Path) -> Result<Arc<Vec<u8>>> {
        self.lock()
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| not_found("open", path))
    }
    /// Overwrite a file's bytes directly (tests use this to corrupt files).
    pub fn put(&self, path: &Path, data: Vec<u8>) {
        self.lock().files.insert(path.to_path_buf(), Arc::new(data));
    }
}

struct MemFile {
    path: PathBuf,
    data: Arc<Vec<u8>>,
}

impl ReadFile for MemFile {
    fn path(&self) -> &Path {
        &self.path
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_batch(&self, reqs: &mut [ReadReq<'_>]) -> Result<()> {
        check_bounds(&self.path, self.len(), reqs)?;
        for r in reqs.iter_mut() {
            let o = r.offset as usize;
            r.buf.copy_from_slice(&self.data[o..o + r.buf.len()]);
        }
        Ok(())
    }
}

struct MemWriter {
    store: MemStorage,
    dest: PathBuf,
    data: Vec<u8>,
}

impl WriteFile for MemWriter {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.data.extend_from_slice(data);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        let MemWriter { store, dest, data } = *self;
        store.put(&dest, data);
        Ok(())
    }
}

struct MemAppend {
    store: MemStorage,
    path: PathBuf,
}

impl AppendFile for MemAppend {
    fn path(&self) -> &Path {
        &self.path
    }
    fn len(&self) -> u64 {
        self.store.get(&self.path).map_or(0, |d| d.len() as u64)
    }
    fn append(&self, data: &[u8]) -> Result<()> {
        let mut st = self.store.lock();
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found("append", &self.path))?;
        Arc::make_mut(f).extend_from_slice(data);
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    fn truncate(&self, len: u64) -> Result<()> {
        let mut st = self.store.lock();
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found("truncate", &self.path))?;
        Arc::make_mut(f).truncate(len as usize);
        Ok(())
    }
}

/// File names of `dir` among `paths` (sorted when `paths` is).
pub(super) fn names_in<'a>(paths: impl Iterator<Item = &'a PathBuf>, dir: &Path) -> Vec<String> {
    paths
        .filter(|p| p.parent() == Some(dir))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

impl Storage for MemStorage {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn open_read(&self, path: &Path, _mode: ReadMode) -> Result<Arc<dyn ReadFile>> {
        Ok(Arc::new(MemFile {
            path: path.to_path_buf(),
            data: self.get(path)?,
        }))
    }
    fn map(&self, path: &Path) -> Result<Mapped> {
        Ok(Mapped::Bytes(self.get(path)?))
    }
    fn create(&self, path: &Path) -> Result<Box<dyn WriteFile>> {
        Ok(Box::new(MemWriter {
            store: self.clone(),
            dest: path.to_path_buf(),
            data: Vec::new(),
        }))
    }
    fn open_append(&self, path: &Path) -> Result<Arc<dyn AppendFile>> {
        self.lock()
            .files
            .entry(path.to_path_buf())
            .or_insert_with(|| Arc::new(Vec::new()));
        Ok(Arc::new(MemAppend {
            store: self.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.lock().dirs.insert(path.to_path_buf());
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        let st = self.lock();
        if !st.dirs.contains(path) && !st.files.keys().any(|p| p.parent() == Some(path)) {
            return Err(not_found("list directory", path));
        }
        Ok(names_in(st.files.keys(), path))
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        self.lock()
            .files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found("remove", path))
    }
    fn exists(&self, path: &Path) -> bool {
        let st = self.lock();
        st.dirs.contains(path) || st.files.keys().any(|p| p.starts_with(path))
    }
    fn file_len(&self, path: &Path) -> Result<u64> {
        Ok(self.get(path)?.len() as u64)
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
        let mut st = self.lock();
        if st.files.keys().any(|p| p.starts_with(to)) {
            return Err(Error::io(
                "rename directory",
                to,
                std::io::Error::from(std::io::ErrorKind::DirectoryNotEmpty),
            ));
        }
        let st = &mut *st;
        move_tree(&mut st.files, &mut st.dirs, from, to);
        Ok(())
    }
    fn exchange_dirs(&self, a: &Path, b: &Path) -> Result<()> {
        let mut st = self.lock();
        let st = &mut *st;
        let side = a.join(".exchange");
        move_tree(&mut st.files, &mut st.dirs, a, &side);
        move_tree(&mut st.files, &mut st.dirs, b, a);
        move_tree(&mut st.files, &mut st.dirs, &side, b);
        Ok(())
    }
    fn remove_dir_all(&self, path: &Path) -> Result<()> {
        let mut st = self.lock();
        st.files.retain(|p, _| !p.starts_with(path));
        st.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }
}

/// Move every file and directory under `from` to the same place under `to`.
pub(super) fn move_tree<V>(
    files: &mut BTreeMap<PathBuf, V>,
    dirs: &mut BTreeSet<PathBuf>,
    from: &Path,
    to: &Path,
) {
    let moved: Vec<PathBuf> = files
        .keys()
        .filter(|p| p.starts_with(from))
        .cloned()
        .collect();
    for p in moved {
        if let (Some(v), Ok(rest)) = (files.remove(&p), p.strip_prefix(from)) {
            files.insert(to.join(rest), v);
        }
    }
    let moved: Vec<PathBuf> = dirs
        .iter()
        .filter(|p| p.starts_with(from))
        .cloned()
        .collect();
    for p in moved {
        dirs.remove(&p);
        if let Ok(rest) = p.strip_prefix(from) {
            dirs.insert(to.join(rest));
        }
    }
}
