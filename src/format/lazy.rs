//! A section stored as checksummed blocks ([`super::put_blocks`]) read in
//! place from the file's mapping: a block's CRC is verified the first time
//! a read touches it, so opening a file costs nothing per record and a
//! query touches (and pages in) only the blocks it reads (SPEC.md F-8).
//! The bytes are the same as an eager [`super::take_blocks`] reads.

use super::crc_matches;
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct LazyBlocks {
    /// File offset of the first block.
    start: usize,
    /// Bytes of data (the section without its CRCs).
    data_len: usize,
    /// One bit per block: verified.
    verified: Vec<AtomicU64>,
    /// Data bytes per block.
    block: usize,
    what: &'static str,
}

impl LazyBlocks {
    /// The section of `data_len` bytes of data whose first block starts at
    /// file offset `start`; the section must lie inside a file of
    /// `file_len` bytes. Nothing is read.
    pub fn new(
        path: &Path,
        file_len: usize,
        start: usize,
        data_len: usize,
        what: &'static str,
    ) -> Result<LazyBlocks> {
        Self::with_block(
            path,
            file_len,
            start,
            data_len,
            what,
            super::BLOCK_DATA_BYTES,
        )
    }

    /// `new` for blocks of `block` data bytes.
    pub fn with_block(
        path: &Path,
        file_len: usize,
        start: usize,
        data_len: usize,
        what: &'static str,
        block: usize,
    ) -> Result<LazyBlocks> {
        let enc = super::blocks_encoded_len_of(data_len, block) as u128;
        if start as u128 + enc > file_len as u128 {
            return Err(Error::corrupt(
                path,
                start as u64,
                format!("truncated: {what} of {data_len} bytes declared"),
            ));
        }
        let blocks = data_len.div_ceil(block);
        Ok(LazyBlocks {
            start,
            data_len,
            verified: (0..blocks.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            block,
            what,
        })
    }

    /// Bytes of data.
    pub fn len(&self) -> usize {
        self.data_len
    }
    pub fn is_empty(&self) -> bool {
        self.data_len == 0
    }
    /// Bytes on disk (data and CRCs).
    pub fn encoded_len(&self) -> usize {
        super::blocks_encoded_len_of(self.data_len, self.block)
    }
    /// File offset just past the section.
    pub fn end(&self) -> usize {
        self.start + self.encoded_len()
    }

    /// Verify block `b` (once).
    fn check(&self, path: &Path, buf: &[u8], b: usize) -> Result<()> {
        let (w, bit) = (b / 64, 1u64 << (b % 64));
        if self.verified[w].load(Ordering::Relaxed) & bit != 0 {
            return Ok(());
        }
        let at = self.start + b * (self.block + 4);
        let n = (self.data_len - b * self.block).min(self.block);
        // `new` checked that every block and its CRC lie inside the file.
        let data = &buf[at..at + n];
        let crc = u32::from_le_bytes([
            buf[at + n],
            buf[at + n + 1],
            buf[at + n + 2],
            buf[at + n + 3],
        ]);
        if !crc_matches(crc32fast::hash(data), crc) {
            return Err(Error::corrupt(
                path,
                at as u64,
                format!("checksum mismatch in {} block", self.what),
            ));
        }
        self.verified[w].fetch_or(bit, Ordering::Relaxed);
        Ok(())
    }

    /// Verify every block now (`leann index validate`).
    pub fn verify_all(&self, path: &Path, buf: &[u8]) -> Result<()> {
        for b in 0..self.data_len.div_ceil(self.block) {
            self.check(path, buf, b)?;
        }
        Ok(())
    }

    /// File offset of data byte `off`.
    pub fn file_offset(&self, off: usize) -> u64 {
        (self.start + off / self.block * (self.block + 4) + off % self.block) as u64
    }

    /// Data bytes `off..off + out.len()` into `out`, their blocks verified.
    /// `buf` is the whole file (the one `new` was given the length of).
    pub fn read(&self, path: &Path, buf: &[u8], off: usize, out: &mut [u8]) -> Result<()> {
        if off as u128 + out.len() as u128 > self.data_len as u128 {
            return Err(Error::corrupt(
                path,
                self.file_offset(off.min(self.data_len)),
                format!(
                    "{} bytes at {off} are past the end of the {} ({} bytes)",
                    out.len(),
                    self.what,
                    self.data_len
                ),
            ));
        }
        let mut done = 0;
        while done < out.len() {
            let o = off + done;
            let (b, in_b) = (o / self.block, o % self.block);
            self.check(path, buf, b)?;
            let n = (self.block - in_b).min(out.len() - done);
            let at = self.start + b * (self.block + 4) + in_b;
            out[done..done + n].copy_from_slice(&buf[at..at + n]);
            done += n;
        }
        Ok(())
    }

    /// Data bytes `off..off + len` as a new vector.
    pub fn read_vec(&self, path: &Path, buf: &[u8], off: usize, len: usize) -> Result<Vec<u8>> {
        if off as u128 + len as u128 > self.data_len as u128 {
            return Err(Error::corrupt(
                path,
                self.file_offset(off.min(self.data_len)),
                format!("{len} bytes at {off} are past the end of the {}", self.what),
            ));
        }
        let mut v = vec![0u8; len];
        self.read(path, buf, off, &mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::BLOCK_DATA_BYTES;
    const BLOCK_STRIDE_BYTES: usize = BLOCK_DATA_BYTES + 4;

    #[test]
    fn reads_across_blocks_and_finds_a_bad_block_only_when_touched() {
        let data: Vec<u8> = (0..(BLOCK_DATA_BYTES * 2 + 100))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut file = vec![7u8; 10];
        super::super::put_blocks(&mut file, &data);
        let p = Path::new("t");
        let lb = LazyBlocks::new(p, file.len(), 10, data.len(), "test").unwrap();
        let mut out = vec![0u8; 300];
        let off = BLOCK_DATA_BYTES - 150;
        lb.read(p, &file, off, &mut out).unwrap();
        assert_eq!(&out[..], &data[off..off + 300]);
        assert_eq!(lb.read_vec(p, &file, 0, data.len()).unwrap(), data);
        // Damage the last block: reads of the first two still work.
        let mut bad = file.clone();
        let last = 10 + 2 * BLOCK_STRIDE_BYTES + 5;
        bad[last] ^= 1;
        let lb = LazyBlocks::new(p, bad.len(), 10, data.len(), "test").unwrap();
        lb.read(p, &bad, 0, &mut out).unwrap();
        let e = lb
            .read(p, &bad, 2 * BLOCK_DATA_BYTES, &mut out[..10])
            .unwrap_err();
        assert!(
            e.to_string().contains("checksum mismatch in test block"),
            "{e}"
        );
        assert!(lb.verify_all(p, &bad).is_err());
        // Past the end, and a section longer than the file.
        assert!(lb.read(p, &file, data.len() - 5, &mut out[..10]).is_err());
        assert!(LazyBlocks::new(p, file.len() - 1, 10, data.len(), "test").is_err());
    }
}
