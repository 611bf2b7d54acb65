//! Real files: std::fs for writes and directory operations, positional reads
//! through io_uring or pread.

use super::{uring, Mapped, ReadFile, ReadMode, ReadReq, Storage, WriteFile, DIRECT_ALIGN_BYTES};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    IoUring,
    Pread,
}

pub struct OsStorage {
    reader: Reader,
}

impl OsStorage {
    pub fn new(reader: Reader) -> Self {
        OsStorage { reader }
    }
}

/// Open `path` for reading. O_NONBLOCK: a FIFO (or device) put where a file
/// was expected neither blocks the open nor is read; anything but a regular
/// file is refused.
fn open_file(path: &Path, mode: ReadMode) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if mode == ReadMode::Direct {
        flags |= libc::O_DIRECT;
    }
    o.custom_flags(flags);
    let f = o.open(path).map_err(|e| {
        let op = if mode == ReadMode::Direct {
            "open (O_DIRECT)"
        } else {
            "open"
        };
        Error::io(op, path, e)
    })?;
    regular(path, f)
}

/// `f` if it is a regular file, else an error naming `path`.
fn regular(path: &Path, f: File) -> Result<File> {
    let m = f.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !m.file_type().is_file() {
        return Err(Error::io(
            "open",
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a FIFO, socket or device is never read)",
            ),
        ));
    }
    Ok(f)
}

/// openat2(root, rel, O_RDONLY | O_NONBLOCK, RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS): the kernel refuses any resolution that leaves
/// `root` (`..`, an absolute symlink, a symlink out). Where the kernel has no
/// openat2 (before 5.6), the canonical path is checked against the root's.
fn open_beneath(root: &Path, rel: &str) -> Result<File> {
    use std::os::unix::io::{AsRawFd, FromRawFd};
    let path = root.join(rel);
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(root)
        .map_err(|e| Error::io("open tree root", root, e))?;
    let c_rel = c_path(Path::new(rel))?;
    /// `struct open_how` of openat2(2).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 reads the NUL-terminated `c_rel` and `how` (of the size
    // passed), both alive for the call; it returns a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c_rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the kernel just returned this descriptor to us alone.
        let f = unsafe { File::from_raw_fd(fd as i32) };
        return regular(&path, f);
    }
    let e = std::io::Error::last_os_error();
    let outside = || {
        Error::io(
            "open",
            &path,
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "leads outside the tree {} (a symbolic link out of it is followed only with filters.followExternalSymlinks)",
                    root.display()
                ),
            ),
        )
    };
    match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => Err(outside()),
        Some(libc::ENOSYS) | Some(libc::EPERM) => {
            // No openat2 here (or a seccomp filter refuses it).
            let canon_root =
                std::fs::canonicalize(root).map_err(|e| Error::io("open tree root", root, e))?;
            let canon = std::fs::canonicalize(&path).map_err(|e| Error::io("open", &path, e))?;
            if !canon.starts_with(&canon_root) {
                return Err(outside());
            }
            open_file(&canon, ReadMode::Buffered)
        }
        _ => Err(Error::io("open", &path, e)),
    }
}

/// Check O_DIRECT's alignment rules for a batch.
pub(super) fn check_direct(path: &Path, reqs: &[ReadReq<'_>]) -> Result<()> {
    for r in reqs {
        let a = DIRECT_ALIGN_BYTES;
        if r.offset as usize % a != 0 || r.buf.len() % a != 0 || r.buf.as_ptr() as usize % a != 0 {
            return Err(Error::internal(format!(
                "O_DIRECT read of {} at offset {} ({} bytes) is not {a}-byte aligned",
                path.display(),
                r.offset,
                r.buf.len()
            )));
        }
    }
    Ok(())
}

/// Check that every request lies inside the file.
pub(super) fn check_bounds(path: &Path, len: u64, reqs: &[ReadReq<'_>]) -> Result<()> {
    for r in reqs {
        if r.offset.saturating_add(r.buf.len() as u64) > len {
            return Err(Error::io(
                "read",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} bytes at offset {} run past the end of the file ({len} bytes)",
                        r.buf.len(),
                        r.offset
                    ),
                ),
            ));
        }
    }
    Ok(())
}

pub(super) struct OsReadFile {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) len: u64,
    pub(super) mode: ReadMode,
    reader: Reader,
}

impl OsReadFile {
    pub(super) fn pread_all(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io("pread", &self.path, e))
    }
}

impl ReadFile for OsReadFile {
    fn path(&self) -> &Path {
        &self.path
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn read_batch(&self, reqs: &mut [ReadReq<'_>]) -> Result<()> {
        check_bounds(&self.path, self.len, reqs)?;
        if self.mode == ReadMode::Direct {
            check_direct(&self.path, reqs)?;
        }
        match self.reader {
            Reader::Pread => {
                for r in reqs.iter_mut() {
                    self.pread_all(r.offset, r.buf)?;
                }
                Ok(())
            }
            Reader::IoUring => uring::read_batch(
                &uring::Target {
                    path: &self.path,
                    file: &self.file,
                },
                reqs,
            ),
        }
    }
}

struct OsWriter {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
}

impl WriteFile for OsWriter {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        // The writer is only None after finish, which consumes self.
        let out = self.out.as_mut().expect("writer used after finish");
        out.write_all(data)
            .map_err(|e| Error::io("write", &self.tmp, e))
    }
    fn finish(mut self: Box<Self>) -> Result<()> {
        let out = self.out.take().expect("finish called twice");
        let file = out
            .into_inner()
            .map_err(|e| Error::io("write", &self.tmp, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync", &self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io("rename", &self.dest, e))?;
        sync_dir(self.dest.parent().unwrap_or(Path::new(".")))
    }
}

impl Drop for OsWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            // Abandoned before finish: the temporary is garbage.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

struct OsAppendFile {
    path: PathBuf,
    file: File,
    len: std::sync::atomic::AtomicU64,
}

impl super::AppendFile for OsAppendFile {
    fn path(&self) -> &Path {
        &self.path
    }
    fn len(&self) -> u64 {
        self.len.load(std::sync::atomic::Ordering::Acquire)
    }
    fn append(&self, data: &[u8]) -> Result<()> {
        use std::io::Write as _;
        (&self.file)
            .write_all(data)
            .map_err(|e| Error::io("append", &self.path, e))?;
        self.len
            .fetch_add(data.len() as u64, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }
    fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }
    fn truncate(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io("truncate", &self.path, e))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("fsync", &self.path, e))?;
        self.len.store(len, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// fsync a directory so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Name of the temporary a file is written under before its rename.
pub fn tmp_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

impl Storage for OsStorage {
    fn name(&self) -> &'static str {
        match self.reader {
            Reader::IoUring => "io_uring",
            Reader::Pread => "pread",
        }
    }
    fn open_read(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn ReadFile>> {
        let file = open_file(path, mode)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok(Arc::new(OsReadFile {
            path: path.to_path_buf(),
            file,
            len,
            mode,
            reader: self.reader,
        }))
    }
    fn read_beneath(
        &self,
        root: &Path,
        rel: &str,
        links_out: bool,
        max_bytes: u64,
    ) -> Result<Vec<u8>> {
        use std::io::Read;
        let path = root.join(rel);
        crate::format::check_rel_path(&path, 0, rel)?;
        let file = if links_out {
            open_file(&path, ReadMode::Buffered)?
        } else {
            open_beneath(root, rel)?
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        super::check_source_len(&path, len, max_bytes)?;
        let mut buf = Vec::with_capacity(len as usize);
        // A file that grew since the stat is read up to the limit only.
        (&file)
            .take(max_bytes)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("read", &path, e))?;
        Ok(buf)
    }
    fn map(&self, path: &Path) -> Result<Mapped> {
        let file = open_file(path, ReadMode::Buffered)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if len == 0 {
            return Ok(Mapped::Bytes(Arc::new(Vec::new())));
        }
        // SAFETY: leann never modifies a file after its rename into place (files
        // are immutable once finished); a concurrent external writer would be a
        // user error that memmap2 documents as undefined behaviour.
        let m = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("mmap", path, e))?;
        Ok(Mapped::Mmap(m))
    }
    fn create(&self, path: &Path) -> Result<Box<dyn WriteFile>> {
        let tmp = tmp_path(path);
        let f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        Ok(Box::new(OsWriter {
            tmp,
            dest: path.to_path_buf(),
            out: Some(BufWriter::with_capacity(1 << 20, f)),
        }))
    }
    fn open_append(&self, path: &Path) -> Result<Arc<dyn super::AppendFile>> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io("open for append", path, e))?;
        if !existed {
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        }
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok(Arc::new(OsAppendFile {
            path: path.to_path_buf(),
            file,
            len: len.into(),
        }))
    }
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("create directory", path, e))?;
        if let Some(p) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(p)?;
        }
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(path).map_err(|e| Error::io("list directory", path, e))? {
            let e = e.map_err(|e| Error::io("list directory", path, e))?;
            out.push(e.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn file_len(&self, path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path)
            .map_err(|e| Error::io("stat", path, e))?
            .len())
    }
    fn lock_dir(
        &self,
        dir: &Path,
        holder: &str,
        wait: std::time::Duration,
    ) -> Result<Box<dyn super::DirLock>> {
        super::lock::os_lock(dir, holder, wait)
    }
    fn rename_dir(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io("rename directory", to, e))?;
        sync_parents(from, to)
    }
    fn exchange_dirs(&self, a: &Path, b: &Path) -> Result<()> {
        exchange(a, b)?;
        sync_parents(a, b)
    }
    fn remove_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::remove_dir_all(path).map_err(|e| Error::io("remove directory", path, e))
    }
}

fn parent_of(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// fsync the directories holding `a` and `b` (once when they are the same).
fn sync_parents(a: &Path, b: &Path) -> Result<()> {
    sync_dir(parent_of(a))?;
    if parent_of(a) != parent_of(b) {
        sync_dir(parent_of(b))?;
    }
    Ok(())
}

fn c_path(p: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::io(
            "rename",
            p,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path holds a NUL byte"),
        )
    })
}

/// renameat2(RENAME_EXCHANGE); where the file system cannot (EINVAL), three
/// renames through a temporary name, which leave a short window in which `a`
/// does not exist.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    let (ca, cb) = (c_path(a)?, c_path(b)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
        return Err(Error::io("exchange directories", b, e));
    }
    let mut side = a.as_os_str().to_owned();
    side.push(format!(".exchange-{}", std::process::id()));
    let side = PathBuf::from(side);
    std::fs::rename(a, &side).map_err(|e| Error::io("rename directory", a, e))?;
    if let Err(e) = std::fs::rename(b, a) {
        // Put `a` back where it was.
        let _ = std::fs::rename(&side, a);
        return Err(Error::io("rename directory", b, e));
    }
    std::fs::rename(&side, b).map_err(|e| Error::io("rename directory", &side, e))
}
