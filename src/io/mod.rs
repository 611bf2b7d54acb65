//! The storage layer: the only code in leann that opens, reads, writes, syncs,
//! renames or removes files. Everything above it talks to `dyn Storage`.
//!
//! Backends: `os::OsStorage` with positional reads through io_uring (chosen at
//! run time when the kernel allows it) or pread, and `memory::MemStorage`. One
//! conformance suite (tests/io_conformance.rs) runs against each.

mod aligned;
pub mod fault;
pub mod lock;
pub mod memory;
pub mod os;
pub mod spool;
mod uring;

pub use aligned::AlignedBuf;
pub use lock::{DirLock, LOCK_FILE};

use crate::error::Result;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Alignment for O_DIRECT buffers, offsets and lengths.
pub const DIRECT_ALIGN_BYTES: usize = 4096;

/// One positional read: fill all of `buf` from `offset`.
pub struct ReadReq<'a> {
    pub offset: u64,
    pub buf: &'a mut [u8],
}

/// How a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Through the page cache.
    Buffered,
    /// O_DIRECT: bypass the page cache (cold measurements). Buffers, offsets and
    /// lengths must be multiples of DIRECT_ALIGN_BYTES.
    Direct,
}

/// A file opened for positional reads. Shared between threads.
pub trait ReadFile: Send + Sync {
    fn path(&self) -> &Path;
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fill every request completely. Backends submit the whole batch at once
    /// where they can (io_uring: one submission, one wait).
    fn read_batch(&self, reqs: &mut [ReadReq<'_>]) -> Result<()>;
}

/// A file being written sequentially. `finish` makes it durable and visible
/// under its final name (write-new-then-rename, fsync of file and directory).
pub trait WriteFile: Send {
    fn write_all(&mut self, data: &[u8]) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<()>;
}

/// A file that grows at its end (the write-ahead log). Appends are not
/// durable until `sync` returns; `truncate` cuts and syncs. Shared between
/// threads: appends are serialised by the caller, a sync may run beside them
/// (group commit).
pub trait AppendFile: Send + Sync {
    fn path(&self) -> &Path;
    /// Bytes appended so far (durable or not).
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn append(&self, data: &[u8]) -> Result<()>;
    /// Make every byte appended before this call durable (fdatasync).
    fn sync(&self) -> Result<()>;
    /// Cut the file to `len` bytes and make that durable.
    fn truncate(&self, len: u64) -> Result<()>;
}

/// Read-only bytes of a whole file (a memory map for OS files).
pub enum Mapped {
    Mmap(memmap2::Mmap),
    Bytes(Arc<Vec<u8>>),
}

impl Mapped {
    /// Tell the kernel reads will be random (a query's records, codes and
    /// postings): no readahead and no mapping of neighbouring cached pages
    /// on a fault, so the process maps what it reads. Advice only: an
    /// error changes nothing that matters and is ignored.
    pub fn advise_random(&self) {
        if let Mapped::Mmap(m) = self {
            let _ = m.advise(memmap2::Advice::Random);
        }
    }
}

impl Mapped {
    /// Drop this process's resident pages of `range` (whole pages inside
    /// it) after a whole-range check read them: the pages stay in the page
    /// cache and a later read maps back only what it touches, so checking
    /// a large section does not keep it in the process's memory. Advice
    /// only: errors are ignored, and in-memory bytes are left alone.
    pub fn release_range(&self, range: std::ops::Range<usize>) {
        let Mapped::Mmap(m) = self else {
            return;
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = if page > 0 { page as usize } else { 4096 };
        let start = range.start.div_ceil(page) * page;
        let end = (range.end.min(m.len()) / page) * page;
        if start >= end {
            return;
        }
        // SAFETY: `m` is a read-only shared mapping of a file nothing
        // writes while it is mapped: an index file (segments are written
        // once, then renamed into place, D-1) or a finished spool (closed
        // for writing before it is mapped, `VectorSpool::finish`).
        // MADV_DONTNEED on a file mapping only unmaps the pages from this
        // process: the next access maps the same bytes again from the page
        // cache (it never zero-fills, which it would for anonymous memory,
        // hence only `Mapped::Mmap`). Slices into the range stay valid and
        // read the same bytes; nothing writes through the mapping.
        let _ = unsafe {
            m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Mapped::Mmap(m) => m,
            Mapped::Bytes(b) => b,
        }
    }
}

/// Files and directories, as leann needs them.
pub trait Storage: Send + Sync {
    /// Backend name for reports ("io_uring", "pread", "memory").
    fn name(&self) -> &'static str;
    fn open_read(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn ReadFile>>;
    /// Whole file contents.
    fn read_all(&self, path: &Path) -> Result<Vec<u8>> {
        let f = self.open_read(path, ReadMode::Buffered)?;
        let mut buf = vec![0u8; f.len() as usize];
        f.read_batch(&mut [ReadReq {
            offset: 0,
            buf: &mut buf,
        }])?;
        Ok(buf)
    }
    /// Read the source file `rel` of the tree at `root` (SPEC.md P-2): `rel`
    /// must pass `format::check_rel_path`; unless `links_out` the file may
    /// not lie outside `root`, through `..` or a symbolic link; it must be a
    /// regular file (a FIFO or device is refused, never waited on) of at
    /// most `max_bytes`.
    fn read_beneath(
        &self,
        root: &Path,
        rel: &str,
        links_out: bool,
        max_bytes: u64,
    ) -> Result<Vec<u8>> {
        let _ = links_out;
        let path = root.join(rel);
        crate::format::check_rel_path(&path, 0, rel)?;
        let f = self.open_read(&path, ReadMode::Buffered)?;
        check_source_len(&path, f.len(), max_bytes)?;
        let mut buf = vec![0u8; f.len() as usize];
        f.read_batch(&mut [ReadReq {
            offset: 0,
            buf: &mut buf,
        }])?;
        Ok(buf)
    }
    /// Map a whole file read-only.
    fn map(&self, path: &Path) -> Result<Mapped>;
    /// Start writing `path` (invisible under that name until `finish`).
    fn create(&self, path: &Path) -> Result<Box<dyn WriteFile>>;
    /// Replace `path` atomically and durably with `data`.
    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let mut w = self.create(path)?;
        w.write_all(data)?;
        w.finish()
    }
    /// Open `path` for appending, creating it (durably: the directory is
    /// synced) when missing.
    fn open_append(&self, path: &Path) -> Result<Arc<dyn AppendFile>>;
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// File names (not paths) in a directory, sorted.
    fn list_dir(&self, path: &Path) -> Result<Vec<String>>;
    fn remove_file(&self, path: &Path) -> Result<()>;
    fn exists(&self, path: &Path) -> bool;
    fn file_len(&self, path: &Path) -> Result<u64>;
    /// Take the writer lock of directory `dir` (SPEC.md L-1..L-5), waiting up
    /// to `wait` for another holder to let go; `holder` says who takes it.
    fn lock_dir(&self, dir: &Path, holder: &str, wait: Duration) -> Result<Box<dyn DirLock>>;
    /// Rename directory `from` to `to` (which must not exist, or be an empty
    /// directory), durably.
    fn rename_dir(&self, from: &Path, to: &Path) -> Result<()>;
    /// Swap two directories atomically and durably: readers of either path
    /// see one or the other, never neither.
    fn exchange_dirs(&self, a: &Path, b: &Path) -> Result<()>;
    /// Remove a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> Result<()>;
}

/// A source file longer than `max_bytes` is not read.
pub(crate) fn check_source_len(path: &Path, len: u64, max_bytes: u64) -> Result<()> {
    if len > max_bytes {
        return Err(crate::error::Error::io(
            "read source",
            path,
            std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("{len} bytes, more than the {max_bytes} allowed"),
            ),
        ));
    }
    Ok(())
}

/// Which OS read backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring when the kernel allows it, else pread.
    Auto,
    IoUring,
    Pread,
    Memory,
}

impl std::str::FromStr for Backend {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => Backend::Auto,
            "io_uring" | "uring" => Backend::IoUring,
            "pread" => Backend::Pread,
            "memory" => Backend::Memory,
            _ => {
                return Err(crate::error::Error::argument(
                    "--io",
                    format!("unknown I/O backend `{s}` (auto, io_uring, pread, memory)"),
                ))
            }
        })
    }
}

/// Open a storage backend. `IoUring` fails when the kernel refuses io_uring.
pub fn open_storage(b: Backend) -> Result<Arc<dyn Storage>> {
    Ok(match b {
        Backend::Auto => {
            if uring::available() {
                Arc::new(os::OsStorage::new(os::Reader::IoUring))
            } else {
                Arc::new(os::OsStorage::new(os::Reader::Pread))
            }
        }
        Backend::IoUring => {
            if !uring::available() {
                return Err(crate::error::Error::io_backend(
                    "io_uring",
                    "io_uring is not available on this kernel (or is blocked); use --io pread",
                ));
            }
            Arc::new(os::OsStorage::new(os::Reader::IoUring))
        }
        Backend::Pread => Arc::new(os::OsStorage::new(os::Reader::Pread)),
        Backend::Memory => Arc::new(memory::MemStorage::default()),
    })
}

/// Whether this kernel lets us create an io_uring.
pub fn io_uring_available() -> bool {
    uring::available()
}

/// A new temporary directory in the system's temporary directory (removed
/// when the handle drops), for the benchmark's data and tests.
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    temp_dir_in(&std::env::temp_dir(), prefix)
}

/// A new temporary directory `prefix*` in `parent` (removed when the handle
/// drops): a build's scratch files next to the index they make, not in the
/// system's temporary directory (often a RAM-backed tmpfs).
pub fn temp_dir_in(parent: &std::path::Path, prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .map_err(|e| crate::error::Error::io("create temporary directory", parent, e))
}

/// This machine's RAM in bytes (MemTotal), if the OS tells.
pub fn total_memory_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident set size of this process in bytes (VmHWM), if the OS tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Giving back a range's pages leaves the bytes readable and the same,
    /// for a file mapping and for in-memory bytes.
    #[test]
    fn released_ranges_read_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 << 20)
            .map(|i: u32| (i * 7 + i / 4096) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        for b in [Backend::Pread, Backend::Memory] {
            let st = open_storage(b).unwrap();
            if b == Backend::Memory {
                st.write_atomic(&path, &data).unwrap();
            }
            let m = st.map(&path).unwrap();
            assert_eq!(&m[..], &data[..]);
            m.release_range(1000..(2 << 20) + 5);
            m.release_range(0..m.len());
            m.release_range(5..6);
            assert_eq!(&m[..], &data[..], "{b:?}");
        }
    }
}
