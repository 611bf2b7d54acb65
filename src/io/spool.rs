//! Spools: private scratch files appended to during a build and then mapped
//! for reading: the vectors of a build (`data::VectorSpool`) and stored chunk
//! text (`chunkstore::ChunkTable`), so that neither is held whole in memory.
//! A spool lives in its own temporary directory (removed with it), or at a
//! path the caller keeps: a resumable create's work directory
//! (`ingest::checkpoint`), where `sync` makes what was appended durable and
//! `reopen` continues a spool from the length a checkpoint recorded.

use super::Mapped;
use crate::error::{Error, Result};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct Spool {
    file: BufWriter<std::fs::File>,
    path: PathBuf,
    len: u64,
    /// The temporary directory the spool lives in, when it owns one.
    dir: Option<tempfile::TempDir>,
}

impl Spool {
    /// A new empty spool `name` in a fresh temporary directory `prefix*`.
    pub fn new(prefix: &str, name: &str) -> Result<Spool> {
        Self::new_in(&std::env::temp_dir(), prefix, name)
    }

    /// A new empty spool `name` in a fresh directory `prefix*` in `parent`.
    pub fn new_in(parent: &Path, prefix: &str, name: &str) -> Result<Spool> {
        let dir = super::temp_dir_in(parent, prefix)?;
        let mut s = Spool::create_at(&dir.path().join(name))?;
        s.dir = Some(dir);
        Ok(s)
    }

    /// A new empty spool at `path` (which must not exist), kept when the
    /// spool drops.
    pub fn create_at(path: &Path) -> Result<Spool> {
        // Readable too: `map` maps this same descriptor.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 20, f),
            path: path.to_path_buf(),
            len: 0,
            dir: None,
        })
    }

    /// The spool at `path` continued from its first `len` bytes (what a
    /// checkpoint recorded): anything after them (appended after that
    /// checkpoint) is cut off. Fails when the file is shorter than `len`.
    pub fn reopen(path: &Path, len: u64) -> Result<Spool> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let have = f.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        if have < len {
            return Err(Error::corrupt(
                path,
                have,
                format!("the checkpoint recorded {len} bytes but the spool holds {have}"),
            ));
        }
        f.set_len(len).map_err(|e| Error::io("truncate", path, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, f);
        file.seek(SeekFrom::End(0))
            .map_err(|e| Error::io("seek", path, e))?;
        Ok(Spool {
            file,
            path: path.to_path_buf(),
            len,
            dir: None,
        })
    }

    /// Flush and fsync what was appended (a checkpoint's first step).
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| Error::io("flush", &self.path, e))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
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

    /// Flush and close the file, keeping its temporary directory (and the
    /// file in it), if it has one, until the returned value drops.
    pub fn close(mut self) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
        self.file
            .flush()
            .map_err(|e| Error::io("flush", &self.path, e))?;
        Ok((self.path, self.dir))
    }
}
