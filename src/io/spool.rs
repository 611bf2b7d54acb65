//! Spools: private scratch files in their own temporary directory (removed
//! with it), appended to during a build and then mapped for reading: the
//! vectors of a build (`data::VectorSpool`) and stored chunk text
//! (`chunkstore::ChunkTable`), so that neither is held whole in memory.

use super::Mapped;
use crate::error::{Error, Result};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct Spool {
    file: BufWriter<std::fs::File>,
    path: PathBuf,
    len: u64,
    dir: tempfile::TempDir,
}

impl Spool {
    /// A new empty spool `name` in a fresh temporary directory `prefix*`.
    pub fn new(prefix: &str, name: &str) -> Result<Spool> {
        let dir = super::temp_dir(prefix)?;
        let path = dir.path().join(name);
        // Readable too: `map` maps this same descriptor.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 20, f),
            path,
            len: 0,
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes appended so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Overwrite bytes already appended at `offset` (a header written last).
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if offset + data.len() as u64 > self.len {
            return Err(Error::internal(format!(
                "{}: write of {} bytes at {offset} past its {} bytes",
                self.path.display(),
                data.len(),
                self.len
            )));
        }
        let io = |e| Error::io("write", &self.path, e);
        self.file.flush().map_err(io)?;
        let f = self.file.get_mut();
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        f.write_all(data).map_err(io)?;
        f.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(())
    }

    /// Flush what was appended and map the whole spool read-only.
    pub fn map(&mut self) -> Result<Mapped> {
        self.file
            .flush()
            .map_err(|e| Error::io("flush", &self.path, e))?;
        if self.len == 0 {
            return Ok(Mapped::Bytes(std::sync::Arc::new(Vec::new())));
        }
        // SAFETY: the spool is a private file in a directory of its own that
        // only this value writes, and it was flushed above; it is not written
        // while the map is used (`append` and `write_at` need `&mut self`,
        // which callers do not call while they hold the map).
        let m = unsafe { memmap2::Mmap::map(self.file.get_ref()) }
            .map_err(|e| Error::io("mmap", &self.path, e))?;
        Ok(Mapped::Mmap(m))
    }

    /// Flush and close the file, keeping the directory (and the file in it)
    /// until the returned value drops.
    pub fn close(mut self) -> Result<(PathBuf, tempfile::TempDir)> {
        self.file
            .flush()
            .map_err(|e| Error::io("flush", &self.path, e))?;
        Ok((self.path, self.dir))
    }
}
