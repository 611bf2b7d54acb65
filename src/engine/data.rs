//! Vector files and spools: the DiskANN .fbin/.ibin file formats
//! (fbin: i32 n, i32 d, n*d f32; ibin: i32 n, i32 k, n*k i32; little-endian).

use crate::error::{Error, Result};
use crate::io::{Mapped, Storage};
use std::path::Path;

#[cfg(target_endian = "big")]
compile_error!(
    "leann reads little-endian files by reinterpreting bytes; big-endian hosts are not supported"
);

pub use crate::ann::vectors::{VecVectors, VectorSource};

/// A memory-mapped .fbin file.
pub struct FbinVectors {
    map: Mapped,
    n: usize,
    dim: usize,
}

impl FbinVectors {
    pub fn open(storage: &dyn Storage, path: &Path) -> Result<Self> {
        let map = storage.map(path)?;
        let (n, dim) = read_dims(path, &map, "fbin")?;
        let need = 8 + n as u64 * dim as u64 * 4;
        if map.len() as u64 != need {
            return Err(Error::corrupt(
                path,
                map.len() as u64,
                format!(
                    "fbin declares {n} x {dim} floats ({need} bytes), file has {}",
                    map.len()
                ),
            ));
        }
        if dim == 0 {
            return Err(Error::corrupt(path, 4, "fbin dimension is 0"));
        }
        let v = FbinVectors { map, n, dim };
        Ok(v)
    }
    fn floats(&self) -> &[f32] {
        let bytes = &self.map[8..];
        // SAFETY: the mapping (or Vec) is at least 4-byte aligned at its start,
        // 8 is a multiple of 4, every bit pattern is a valid f32, and the host is
        // little-endian (compile_error above). align_to returns an empty prefix
        // exactly when the start is aligned, checked below.
        let (pre, mid, _) = unsafe { bytes.align_to::<f32>() };
        assert!(pre.is_empty(), "fbin mapping is not 4-byte aligned");
        mid
    }
}

impl VectorSource for FbinVectors {
    fn len(&self) -> usize {
        self.n
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn vector(&self, i: usize) -> &[f32] {
        &self.floats()[i * self.dim..(i + 1) * self.dim]
    }
    fn release(&self, rows: std::ops::Range<usize>) {
        let row_bytes = self.dim * 4;
        self.map
            .release_range(8 + rows.start * row_bytes..8 + rows.end * row_bytes);
    }
}

fn read_dims(path: &Path, b: &[u8], what: &str) -> Result<(usize, usize)> {
    if b.len() < 8 {
        return Err(Error::corrupt(
            path,
            0,
            format!("{what} header needs 8 bytes, file has {}", b.len()),
        ));
    }
    let n = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    if n < 0 || d < 0 {
        return Err(Error::corrupt(
            path,
            0,
            format!("{what} header has negative size {n} x {d}"),
        ));
    }
    Ok((n as usize, d as usize))
}

/// Read a whole .ibin file: (rows, k, ids row-major).
pub fn read_ibin(storage: &dyn Storage, path: &Path) -> Result<(usize, usize, Vec<u32>)> {
    let b = storage.read_all(path)?;
    let (n, k) = read_dims(path, &b, "ibin")?;
    let need = 8 + n as u64 * k as u64 * 4;
    if b.len() as u64 != need {
        return Err(Error::corrupt(
            path,
            b.len() as u64,
            format!(
                "ibin declares {n} x {k} ids ({need} bytes), file has {}",
                b.len()
            ),
        ));
    }
    let ids = b[8..]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u32)
        .collect();
    Ok((n, k, ids))
}

/// Write an .ibin file (rows of equal length k).
pub fn write_ibin(storage: &dyn Storage, path: &Path, k: usize, rows: &[Vec<u32>]) -> Result<()> {
    let mut out = Vec::with_capacity(8 + rows.len() * k * 4);
    out.extend_from_slice(&(rows.len() as i32).to_le_bytes());
    out.extend_from_slice(&(k as i32).to_le_bytes());
    for r in rows {
        for j in 0..k {
            let v = r.get(j).map(|&x| x as i32).unwrap_or(-1);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    storage.write_atomic(path, &out)
}

/// Write an .fbin file through a streaming writer, rows produced by `row(i, out)`.
pub fn write_fbin(
    storage: &dyn Storage,
    path: &Path,
    n: usize,
    dim: usize,
    mut row: impl FnMut(usize, &mut Vec<f32>),
) -> Result<()> {
    let mut w = storage.create(path)?;
    let mut head = Vec::with_capacity(8);
    head.extend_from_slice(&(n as i32).to_le_bytes());
    head.extend_from_slice(&(dim as i32).to_le_bytes());
    w.write_all(&head)?;
    let mut v = Vec::with_capacity(dim);
    let mut bytes = Vec::with_capacity(dim * 4);
    for i in 0..n {
        v.clear();
        row(i, &mut v);
        bytes.clear();
        for x in &v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        w.write_all(&bytes)?;
    }
    w.finish()
}

/// Vectors streamed to a temporary .fbin as they are made, then memory-mapped,
/// so that a million-chunk build never holds them all in one Vec.
pub struct VectorSpool {
    spool: crate::io::spool::Spool,
    n: usize,
    dim: usize,
}

/// The finished spool: a mapped .fbin that lives as long as this value.
pub struct SpooledVectors {
    pub vectors: FbinVectors,
    _dir: Option<tempfile::TempDir>,
}

impl VectorSpool {
    /// A new spool in a fresh directory in `parent` (a build's scratch
    /// directory), removed when it drops.
    pub fn new_in(parent: &std::path::Path, dim: usize) -> Result<VectorSpool> {
        let spool = crate::io::spool::Spool::new_in(parent, "vectors", "vectors.fbin")?;
        Self::started(spool, dim)
    }

    /// A new spool at `path`, kept when it drops (a resumable create).
    pub fn create_at(path: &std::path::Path, dim: usize) -> Result<VectorSpool> {
        Self::started(crate::io::spool::Spool::create_at(path)?, dim)
    }

    fn started(mut spool: crate::io::spool::Spool, dim: usize) -> Result<VectorSpool> {
        // The .fbin header, written for real by `finish`.
        spool.append(&[0u8; 8])?;
        Ok(VectorSpool { spool, n: 0, dim })
    }

    /// The spool at `path` continued after its first `n` rows (those a
    /// checkpoint recorded); rows after them are cut off.
    pub fn reopen(path: &std::path::Path, dim: usize, n: usize) -> Result<VectorSpool> {
        let len = 8 + (n as u64) * (dim as u64) * 4;
        let spool = crate::io::spool::Spool::reopen(path, len)?;
        Ok(VectorSpool { spool, n, dim })
    }

    /// Make the rows pushed so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.spool.sync()
    }

    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Append rows (`dim` floats each).
    pub fn push(&mut self, rows: &[f32]) -> Result<()> {
        if rows.len() % self.dim != 0 {
            return Err(Error::argument(
                "rows",
                format!(
                    "{} floats are not whole rows of dimension {}",
                    rows.len(),
                    self.dim
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(rows.len() * 4);
        crate::format::put_f32s(&mut bytes, rows);
        self.spool.append(&bytes)?;
        self.n += rows.len() / self.dim;
        Ok(())
    }

    pub fn finish(mut self) -> Result<SpooledVectors> {
        let n = i32::try_from(self.n)
            .map_err(|_| Error::limit(format!("{} vectors exceed the .fbin limit", self.n)))?;
        let mut head = Vec::with_capacity(8);
        head.extend_from_slice(&n.to_le_bytes());
        head.extend_from_slice(&(self.dim as i32).to_le_bytes());
        self.spool.write_at(0, &head)?;
        let (path, dir) = self.spool.close()?;
        let os = crate::io::os::OsStorage::new(crate::io::os::Reader::Pread);
        let vectors = FbinVectors::open(&os, &path)?;
        Ok(SpooledVectors { vectors, _dir: dir })
    }
}
