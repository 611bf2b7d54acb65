//! Bytes <-> structs for every leann file, with no I/O. See SPEC.md for the byte
//! tables. Every decoder takes the file's path (for messages) and returns
//! `Error::Corrupt { path, offset, .. }` on bad bytes; none of them panics.

pub mod bitpack;
pub mod chunks;
pub mod codes;
pub mod graph;
pub mod header;
pub mod idmap;
pub mod lazy;
pub mod lex;
pub mod manifest;
pub mod pq;
pub mod stamps;
pub mod wal;

use crate::error::{Error, Result};
use std::path::Path;

/// Size of the data part of a checksummed block (SPEC.md, "Checksummed blocks").
pub const BLOCK_DATA_BYTES: usize = 64 * 1024;
/// Data bytes of a block of PQ codes since 1.7 (`CODES_FLAG_SMALL_BLOCKS`).
pub const SMALL_BLOCK_DATA_BYTES: usize = 4 * 1024;

/// Bounds-checked little-endian reader. `base` is the file offset of `buf[0]`
/// so that errors report absolute file offsets.
pub struct Cursor<'a> {
    pub path: &'a Path,
    buf: &'a [u8],
    base: u64,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(path: &'a Path, buf: &'a [u8], base: u64) -> Self {
        Cursor {
            path,
            buf,
            base,
            pos: 0,
        }
    }
    /// Absolute file offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::corrupt(
                self.path,
                self.offset(),
                format!(
                    "truncated: {what} needs {n} bytes, {} remain",
                    self.remaining()
                ),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// Error at the current offset.
    pub fn err(&self, what: impl Into<String>) -> Error {
        Error::corrupt(self.path, self.offset(), what)
    }
    /// Error at the offset where a field of `width` bytes just read started.
    pub fn err_back(&self, width: usize, what: impl Into<String>) -> Error {
        Error::corrupt(self.path, self.offset() - width as u64, what)
    }
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}
pub fn f32s_from(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
pub fn u32s_from(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Encoded size of `data_len` bytes stored as checksummed blocks.
pub fn blocks_encoded_len(data_len: usize) -> usize {
    blocks_encoded_len_of(data_len, BLOCK_DATA_BYTES)
}

/// Bytes on disk of `data_len` bytes stored as blocks of `block` data bytes.
pub fn blocks_encoded_len_of(data_len: usize, block: usize) -> usize {
    data_len + data_len.div_ceil(block) * 4
}

/// Whether a computed checksum equals the stored one. Fuzz builds
/// (`cfg(fuzzing)`, set by cargo-fuzz) take every stored checksum as
/// right, as if the fuzzer recomputed each one after every mutation, so
/// that mutated bodies reach the decoding behind the checks (fuzz/README.md).
#[inline]
pub fn crc_matches(computed: u32, stored: u32) -> bool {
    cfg!(fuzzing) || computed == stored
}

/// Append `data` as checksummed blocks: each block is up to BLOCK_DATA_BYTES of
/// data followed by the CRC-32 (IEEE) of that data.
pub fn put_blocks(out: &mut Vec<u8>, data: &[u8]) {
    put_blocks_of(out, data, BLOCK_DATA_BYTES)
}

/// `put_blocks` with blocks of `block` data bytes (PQ codes since 1.7:
/// `SMALL_BLOCK_DATA_BYTES`, so that a random read verifies little).
pub fn put_blocks_of(out: &mut Vec<u8>, data: &[u8], block: usize) {
    out.reserve(blocks_encoded_len_of(data.len(), block));
    for chunk in data.chunks(block) {
        out.extend_from_slice(chunk);
        put_u32(out, crc32fast::hash(chunk));
    }
}

/// Where an encoder streams its bytes: a file being written, or a Vec.
pub type Sink<'a> = dyn FnMut(&[u8]) -> Result<()> + 'a;

/// The bytes of [`put_blocks_of`] for data given piece by piece, handed to
/// a sink a block at a time: an encoder streams a large section without
/// holding it whole. [`finish`](Self::finish) writes the last, partial block.
pub struct BlockSink<'s, 'a> {
    sink: &'s mut Sink<'a>,
    block: usize,
    buf: Vec<u8>,
}

impl<'s, 'a> BlockSink<'s, 'a> {
    pub fn new(sink: &'s mut Sink<'a>, block: usize) -> Self {
        BlockSink {
            sink,
            block,
            buf: Vec::with_capacity(block + 4),
        }
    }

    pub fn put(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let take = (self.block - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == self.block {
                self.seal()?;
            }
        }
        Ok(())
    }

    fn seal(&mut self) -> Result<()> {
        let crc = crc32fast::hash(&self.buf);
        put_u32(&mut self.buf, crc);
        (self.sink)(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.seal()?;
        }
        Ok(())
    }
}

/// Read `data_len` bytes stored as checksummed blocks, verifying every block.
pub fn take_blocks(c: &mut Cursor<'_>, data_len: usize, what: &str) -> Result<Vec<u8>> {
    take_blocks_of(c, data_len, what, BLOCK_DATA_BYTES)
}

/// `take_blocks` of blocks of `block` data bytes.
pub fn take_blocks_of(
    c: &mut Cursor<'_>,
    data_len: usize,
    what: &str,
    block: usize,
) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(data_len);
    let mut left = data_len;
    while left > 0 {
        let n = left.min(block);
        let start = c.offset();
        let chunk = c.bytes(n, what)?;
        let crc = c.u32(what)?;
        if !crc_matches(crc32fast::hash(chunk), crc) {
            return Err(Error::corrupt(
                c.path,
                start,
                format!("checksum mismatch in {what} block"),
            ));
        }
        data.extend_from_slice(chunk);
        left -= n;
    }
    Ok(data)
}

/// `s` cut to at most `max` bytes at a char boundary (paths and symbols
/// stored with a u16 length).
pub fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Check a source path decoded from an index file (SPEC.md P-1): relative
/// to the tree's root and `/`-separated, with no empty, `.` or `..`
/// component, no NUL and no leading `/`, at most `MAX_PATH_BYTES`. A path
/// that fails is corruption (or a crafted file) at `offset` of `file`.
pub fn check_rel_path(file: &Path, offset: u64, p: &str) -> Result<()> {
    let why = if p.is_empty() {
        Some("is empty")
    } else if p.len() > MAX_PATH_BYTES {
        Some("is too long")
    } else if p.starts_with('/') {
        Some("is absolute")
    } else {
        rel_path_fault(p.as_bytes())
    };
    match why {
        None => Ok(()),
        Some(w) => Err(Error::corrupt(
            file,
            offset,
            format!(
                "source path {:?} {w}: paths must stay inside the tree",
                cut_str(p, 200)
            ),
        )),
    }
}

/// A NUL byte, or an empty, `.` or `..` component, found in one pass over
/// the bytes (this runs on every path a filter or an update reads).
fn rel_path_fault(p: &[u8]) -> Option<&'static str> {
    if memchr::memchr(0, p).is_some() {
        return Some("holds a NUL byte");
    }
    let mut comp_start = 0;
    for end in memchr::memchr_iter(b'/', p).chain(std::iter::once(p.len())) {
        if matches!(&p[comp_start..end], b"" | b"." | b"..") {
            return Some("has an empty, `.` or `..` component");
        }
        comp_start = end + 1;
    }
    None
}

/// Longest source path accepted from an index file, bytes (u16 lengths).
pub const MAX_PATH_BYTES: usize = u16::MAX as usize;

/// Reject trailing bytes after the last structure of a file.
pub fn expect_end(c: &Cursor<'_>) -> Result<()> {
    if c.remaining() != 0 {
        return Err(c.err(format!("{} unexpected trailing bytes", c.remaining())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_sink_writes_what_put_blocks_of_does_whatever_the_pieces() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for block in [1usize, 7, 4096] {
            for len in [0usize, 1, block, block + 1, 3 * block, data.len()] {
                let len = len.min(data.len());
                let mut want = Vec::new();
                put_blocks_of(&mut want, &data[..len], block);
                for piece in [1usize, 3, 5000] {
                    let mut got = Vec::new();
                    let mut sink = |b: &[u8]| {
                        got.extend_from_slice(b);
                        Ok(())
                    };
                    let mut s = BlockSink::new(&mut sink, block);
                    for p in data[..len].chunks(piece) {
                        s.put(p).unwrap();
                    }
                    s.finish().unwrap();
                    assert_eq!(got, want, "block {block}, {len} bytes in pieces of {piece}");
                }
            }
        }
    }
}
