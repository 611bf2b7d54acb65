//! A read-only tantivy `Directory` over a `seg-S.lex` container mapped
//! through the storage layer: tantivy reads its files as slices of the
//! mapping (no copies), each checked against its CRC-32 the first time it is
//! opened. Writes are refused: a segment's lexical index never changes.

use crate::error::Result;
use crate::format::lex::{self, LexHead, PackedFile};
use crate::io::Mapped;
use std::collections::HashMap;
use std::io;
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    DirectoryLock, FileHandle, Lock, OwnedBytes, WatchCallback, WatchHandle, WritePtr,
};
use tantivy::{Directory, HasLen};

/// Reads of tantivy's files are checked in pieces of this many bytes; a
/// piece that needed checking for at least half of its bytes gives its
/// pages back to the page cache afterwards (`Mapped::release_range`).
const RELEASE_AFTER_CHECK_BYTES: usize = 1 << 20;

struct Packed {
    path: PathBuf,
    map: Mapped,
    files: HashMap<PathBuf, PackedFile>,
    /// Files whose CRC has been checked (files without block CRCs).
    verified: Mutex<std::collections::HashSet<PathBuf>>,
    /// Per file with block CRCs: one bit per block, checked.
    blocks_done: HashMap<PathBuf, Vec<AtomicU64>>,
}

/// The directory over one container; cheap to clone.
#[derive(Clone)]
pub struct PackedDirectory {
    inner: Arc<Packed>,
}

impl std::fmt::Debug for PackedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedDirectory({})", self.inner.path.display())
    }
}

impl PackedDirectory {
    /// Over `map` (the whole container at `path`), whose head is `head`.
    pub fn new(path: &Path, map: Mapped, head: &LexHead) -> PackedDirectory {
        PackedDirectory {
            inner: Arc::new(Packed {
                path: path.to_path_buf(),
                map,
                files: head
                    .files
                    .iter()
                    .map(|f| (PathBuf::from(&f.name), f.clone()))
                    .collect(),
                verified: Mutex::new(Default::default()),
                blocks_done: head
                    .files
                    .iter()
                    .map(|f| {
                        let words = f.block_crcs.len().div_ceil(64);
                        (
                            PathBuf::from(&f.name),
                            (0..words).map(|_| AtomicU64::new(0)).collect(),
                        )
                    })
                    .collect(),
            }),
        }
    }

    /// The whole container's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.inner.map
    }

    /// Check every file's CRC now (`leann index validate`).
    pub fn verify_all(&self) -> Result<()> {
        for f in self.inner.files.values() {
            lex::file_bytes(&self.inner.path, &self.inner.map, f)?;
        }
        Ok(())
    }

    fn checked(&self, p: &Path) -> std::result::Result<&PackedFile, OpenReadError> {
        let f = self
            .inner
            .files
            .get(p)
            .ok_or_else(|| OpenReadError::FileDoesNotExist(p.to_path_buf()))?;
        let mut v = self
            .inner
            .verified
            .lock()
            .map_err(|_| io_read_err(p, "lock poisoned"))?;
        // A file with block CRCs is checked block by block as it is read.
        if f.block_crcs.is_empty() && !v.contains(p) {
            lex::file_bytes(&self.inner.path, &self.inner.map, f)
                .map_err(|e| io_read_err(p, &e.to_string()))?;
            v.insert(p.to_path_buf());
        }
        Ok(f)
    }
}

fn io_read_err(p: &Path, what: &str) -> OpenReadError {
    OpenReadError::IoError {
        io_error: Arc::new(io::Error::new(io::ErrorKind::InvalidData, what.to_string())),
        filepath: p.to_path_buf(),
    }
}

fn read_only() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "a segment's lexical index is read-only",
    )
}

/// A file's bytes: a range of the shared mapping.
struct Slice {
    owner: Arc<Packed>,
    range: Range<usize>,
}

impl Deref for Slice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.owner.map[self.range.clone()]
    }
}

// SAFETY: `deref` returns a range of `owner.map`, a memory map or a shared
// `Arc<Vec<u8>>` held by the `Arc<Packed>`; neither moves or changes while
// the `Slice` (which keeps the `Arc` alive) exists, so the address is stable
// when the `Slice` itself moves.
unsafe impl stable_deref_trait::StableDeref for Slice {}

struct Handle {
    bytes: OwnedBytes,
    owner: Arc<Packed>,
    name: PathBuf,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.name.display())
    }
}

impl HasLen for Handle {
    fn len(&self) -> usize {
        self.bytes.len()
    }
}

impl FileHandle for Handle {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.end > self.bytes.len() || range.start > range.end {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read {range:?} of a {}-byte file", self.bytes.len()),
            ));
        }
        let o = &self.owner;
        if let (Some(f), Some(done)) = (o.files.get(&self.name), o.blocks_done.get(&self.name)) {
            // Checked in pieces: tantivy asks for whole files it then reads
            // a little of (the term dictionary: 78 MB at 2.39 M chunks, of
            // which a query looks up a few terms), and checking a piece
            // pages it in, so each large piece's pages are given back once
            // checked; tantivy maps back what it touches.
            let mut at = range.start;
            while at < range.end {
                let end = (at + RELEASE_AFTER_CHECK_BYTES).min(range.end);
                let checked = lex::check_range(&o.path, &o.map, f, at as u64..end as u64, done)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                if checked >= RELEASE_AFTER_CHECK_BYTES as u64 / 2 {
                    let base = f.offset as usize;
                    o.map.release_range(base + at..base + end);
                }
                at = end;
            }
        }
        Ok(self.bytes.slice(range))
    }
}

impl Directory for PackedDirectory {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> std::result::Result<Arc<dyn FileHandle>, OpenReadError> {
        let f = self.checked(path)?;
        let range = f.offset as usize..(f.offset + f.len) as usize;
        Ok(Arc::new(Handle {
            bytes: OwnedBytes::new(Slice {
                owner: self.inner.clone(),
                range,
            }),
            owner: self.inner.clone(),
            name: path.to_path_buf(),
        }))
    }

    fn delete(&self, path: &Path) -> std::result::Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(read_only()),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> std::result::Result<bool, OpenReadError> {
        Ok(self.inner.files.contains_key(path))
    }

    fn open_write(&self, path: &Path) -> std::result::Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::IoError {
            io_error: Arc::new(read_only()),
            filepath: path.to_path_buf(),
        })
    }

    fn atomic_read(&self, path: &Path) -> std::result::Result<Vec<u8>, OpenReadError> {
        let f = self.checked(path)?;
        lex::file_bytes(&self.inner.path, &self.inner.map, f)
            .map(<[u8]>::to_vec)
            .map_err(|e| io_read_err(path, &e.to_string()))
    }

    fn atomic_write(&self, _path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(read_only())
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    /// Nothing writes here, so readers need no lock.
    fn acquire_lock(&self, _lock: &Lock) -> std::result::Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _cb: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}
