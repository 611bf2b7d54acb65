//! Chunk metadata file (SPEC.md, "Chunk metadata file"): per node of a segment,
//! where its chunk lives in the source tree (path, lines, bytes), its symbol,
//! its content hash and, with FLAG_TEXT, its zstd-compressed text.
//!
//! Records are in the segment's node order, so node `i` of the graph is record
//! `i` here. Paths and symbols live in two string tables loaded at open; text
//! entries are read one at a time, each with its own CRC.

use super::header::{self, CHUNKS};
use super::{put_blocks, put_u16, put_u32, put_u64, take_blocks, Cursor};
use crate::error::{Error, Result};
use crate::lang::Language;
use std::path::Path;

pub use super::header::CHUNKS_FLAG_TEXT as FLAG_TEXT;
/// Bytes of a record without / with text fields.
pub const RECORD_BYTES: usize = 44;
pub const RECORD_TEXT_BYTES: usize = 56;
/// Symbol offset meaning "no symbol".
pub const NO_SYMBOL: u32 = u32::MAX;
/// Longest path or symbol stored (longer symbols are cut at a char boundary).
pub const MAX_STRING_BYTES: usize = u16::MAX as usize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkRecord {
    /// Index into the path table.
    pub path: u32,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
    pub start_byte: u32,
    pub byte_len: u32,
    /// Offset into the symbol table, NO_SYMBOL when none.
    pub symbol_off: u32,
    pub symbol_len: u16,
    pub hash: [u8; 16],
    /// Offset of the text entry from the start of the text section.
    pub text_off: u64,
    /// Bytes of compressed text (the entry is 4 more: its CRC).
    pub text_len: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunksHead {
    pub paths: Vec<(Language, String)>,
    pub symbols: String,
    pub records: Vec<ChunkRecord>,
    pub has_text: bool,
    /// File offset of the text section.
    pub text_start: u64,
    pub text_bytes: u64,
}

impl ChunksHead {
    pub fn symbol(&self, r: &ChunkRecord) -> Option<&str> {
        if r.symbol_off == NO_SYMBOL {
            return None;
        }
        // Bounds and char boundaries were checked by decode.
        self.symbols
            .get(r.symbol_off as usize..r.symbol_off as usize + r.symbol_len as usize)
    }
}

fn put_record(out: &mut Vec<u8>, r: &ChunkRecord, text: bool) {
    put_u32(out, r.path);
    put_u32(out, r.start_line);
    put_u32(out, r.end_line);
    put_u32(out, r.start_byte);
    put_u32(out, r.byte_len);
    put_u32(out, r.symbol_off);
    put_u16(out, r.symbol_len);
    put_u16(out, 0);
    out.extend_from_slice(&r.hash);
    if text {
        put_u64(out, r.text_off);
        put_u32(out, r.text_len);
    }
}

/// Everything before the text section. `text_bytes` is the size of the text
/// section that the caller appends (0 without text).
pub fn encode_head(
    paths: &[(Language, String)],
    symbols: &str,
    records: &[ChunkRecord],
    has_text: bool,
    text_bytes: u64,
) -> Vec<u8> {
    let mut ptab = Vec::new();
    for (lang, p) in paths {
        ptab.push(lang.code());
        put_u16(&mut ptab, p.len() as u16);
        ptab.extend_from_slice(p.as_bytes());
    }
    let rb = if has_text {
        RECORD_TEXT_BYTES
    } else {
        RECORD_BYTES
    };
    let mut recs = Vec::with_capacity(records.len() * rb);
    for r in records {
        put_record(&mut recs, r, has_text);
    }
    let mut meta = Vec::new();
    put_u64(&mut meta, records.len() as u64);
    put_u32(&mut meta, paths.len() as u32);
    put_u32(&mut meta, rb as u32);
    put_u64(&mut meta, ptab.len() as u64);
    put_u64(&mut meta, symbols.len() as u64);
    put_u64(&mut meta, text_bytes);
    let mut out = header::encode(CHUNKS, if has_text { FLAG_TEXT } else { 0 }, &meta);
    put_blocks(&mut out, &ptab);
    put_blocks(&mut out, symbols.as_bytes());
    put_blocks(&mut out, &recs);
    out
}

/// The bytes that precede a text entry's compressed bytes: their CRC-32.
pub fn text_entry_head(compressed: &[u8]) -> [u8; 4] {
    crc32fast::hash(compressed).to_le_bytes()
}

/// Decode everything but the text section, verifying every block. `buf` is
/// the whole file.
pub fn decode_head(path: &Path, buf: &[u8]) -> Result<ChunksHead> {
    let header::Opened {
        header: h,
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(CHUNKS, path, buf)?;
    let has_text = h.flags & FLAG_TEXT != 0;
    let n = mc.u64("n_chunks")?;
    let n_paths = mc.u32("n_paths")? as u64;
    let rb = mc.u32("record_bytes")? as usize;
    let ptab_len = mc.u64("paths_bytes")?;
    let sym_len = mc.u64("symbols_bytes")?;
    let text_bytes = mc.u64("text_bytes")?;
    let want_rb = if has_text {
        RECORD_TEXT_BYTES
    } else {
        RECORD_BYTES
    };
    if rb != want_rb {
        return Err(Error::corrupt(
            path,
            header::HEADER_BYTES as u64 + 12,
            format!("record size {rb}, expected {want_rb}"),
        ));
    }
    let rem = c.remaining() as u128;
    for (what, len) in [
        ("path table", ptab_len as u128),
        ("symbol table", sym_len as u128),
        ("records", n as u128 * rb as u128),
    ] {
        if len > rem {
            return Err(c.err(format!("truncated: {what} of {len} bytes declared")));
        }
    }
    let p_off = c.offset();
    let ptab = take_blocks(&mut c, ptab_len as usize, "path table")?;
    let s_off = c.offset();
    let sym = take_blocks(&mut c, sym_len as usize, "symbol table")?;
    let r_off = c.offset();
    let recs = take_blocks(&mut c, n as usize * rb, "chunk records")?;
    let text_start = c.offset();
    if c.remaining() as u64 != text_bytes {
        return Err(c.err(format!(
            "text section is {} bytes, the metadata says {text_bytes}",
            c.remaining()
        )));
    }
    if !has_text && text_bytes != 0 {
        return Err(c.err("text bytes without the text flag"));
    }
    let symbols = String::from_utf8(sym).map_err(|e| {
        Error::corrupt(
            path,
            s_off + e.utf8_error().valid_up_to() as u64,
            "symbol table is not UTF-8",
        )
    })?;
    let mut pc = Cursor::new(path, &ptab, p_off);
    let mut paths = Vec::with_capacity(n_paths.min(1 << 20) as usize);
    for _ in 0..n_paths {
        let at = pc.offset();
        let code = pc.bytes(1, "path language")?[0];
        let lang = Language::from_code(code)
            .ok_or_else(|| Error::corrupt(path, at, format!("unknown language code {code}")))?;
        let len = pc.u16("path length")? as usize;
        let b = pc.bytes(len, "path")?;
        let s = std::str::from_utf8(b)
            .map_err(|_| Error::corrupt(path, at + 3, "path is not UTF-8"))?;
        super::check_rel_path(path, at + 3, s)?;
        paths.push((lang, s.to_string()));
    }
    if pc.remaining() != 0 {
        return Err(pc.err("trailing bytes in the path table"));
    }
    let mut rc = Cursor::new(path, &recs, r_off);
    let mut records = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = rc.offset();
        let mut r = ChunkRecord {
            path: rc.u32("path")?,
            start_line: rc.u32("start_line")?,
            end_line: rc.u32("end_line")?,
            start_byte: rc.u32("start_byte")?,
            byte_len: rc.u32("byte_len")?,
            symbol_off: rc.u32("symbol_off")?,
            symbol_len: rc.u16("symbol_len")?,
            ..ChunkRecord::default()
        };
        rc.u16("reserved")?;
        r.hash.copy_from_slice(rc.bytes(16, "hash")?);
        if has_text {
            r.text_off = rc.u64("text_off")?;
            r.text_len = rc.u32("text_len")?;
            if r.text_off as u128 + 4 + r.text_len as u128 > text_bytes as u128 {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!("record {i}: text entry past the end of the text section"),
                ));
            }
        }
        if r.path as u64 >= n_paths {
            return Err(Error::corrupt(
                path,
                at,
                format!("record {i}: path {} >= {n_paths}", r.path),
            ));
        }
        if r.end_line < r.start_line {
            return Err(Error::corrupt(
                path,
                at,
                format!("record {i}: end line before start line"),
            ));
        }
        if r.symbol_off != NO_SYMBOL {
            let end = r.symbol_off as usize + r.symbol_len as usize;
            if end > symbols.len()
                || !symbols.is_char_boundary(r.symbol_off as usize)
                || !symbols.is_char_boundary(end)
            {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!("record {i}: symbol out of range"),
                ));
            }
        }
        records.push(r);
    }
    Ok(ChunksHead {
        paths,
        symbols,
        records,
        has_text,
        text_start,
        text_bytes,
    })
}

/// The compressed text of `r`, its CRC verified. `buf` is the whole file.
pub fn text_entry<'a>(
    path: &Path,
    buf: &'a [u8],
    head: &ChunksHead,
    r: &ChunkRecord,
) -> Result<&'a [u8]> {
    if !head.has_text {
        return Err(Error::precondition(format!(
            "{} stores no text",
            path.display()
        )));
    }
    let at = head.text_start + r.text_off;
    let end = at as u128 + 4 + r.text_len as u128;
    if end > buf.len() as u128 {
        return Err(Error::corrupt(
            path,
            at,
            "text entry past the end of the file",
        ));
    }
    let at_us = at as usize;
    let crc = u32::from_le_bytes([buf[at_us], buf[at_us + 1], buf[at_us + 2], buf[at_us + 3]]);
    let bytes = &buf[at_us + 4..at_us + 4 + r.text_len as usize];
    if !super::crc_matches(crc32fast::hash(bytes), crc) {
        return Err(Error::corrupt(
            path,
            at,
            "checksum mismatch in a text entry",
        ));
    }
    Ok(bytes)
}

/// A chunk metadata file read in place (SPEC.md F-8): the header, metadata
/// and path table are checked at open; records and symbols are read from
/// the mapping when asked for, each block's CRC verified on first touch,
/// each record checked as it is read. [`decode_head`] reads everything.
pub struct ChunksLazy {
    pub has_text: bool,
    n: u64,
    record_bytes: usize,
    /// The path table's data, and where each entry starts in it.
    ptab: Vec<u8>,
    path_at: Vec<u32>,
    /// File offset of the path table (for messages).
    ptab_off: u64,
    symbols: super::lazy::LazyBlocks,
    records: super::lazy::LazyBlocks,
    pub text_start: u64,
    pub text_bytes: u64,
}

/// Open a chunk metadata file for lazy reads; `buf` is the whole file.
pub fn decode_lazy(path: &Path, buf: &[u8]) -> Result<ChunksLazy> {
    let header::Opened {
        header: h,
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(CHUNKS, path, buf)?;
    let has_text = h.flags & FLAG_TEXT != 0;
    let n = mc.u64("n_chunks")?;
    let n_paths = mc.u32("n_paths")? as u64;
    let rb = mc.u32("record_bytes")? as usize;
    let ptab_len = mc.u64("paths_bytes")?;
    let sym_len = mc.u64("symbols_bytes")?;
    let text_bytes = mc.u64("text_bytes")?;
    let want_rb = if has_text {
        RECORD_TEXT_BYTES
    } else {
        RECORD_BYTES
    };
    if rb != want_rb {
        return Err(Error::corrupt(
            path,
            header::HEADER_BYTES as u64 + 12,
            format!("record size {rb}, expected {want_rb}"),
        ));
    }
    let rem = c.remaining() as u128;
    for (what, len) in [
        ("path table", ptab_len as u128),
        ("symbol table", sym_len as u128),
        ("records", n as u128 * rb as u128),
    ] {
        if len > rem {
            return Err(c.err(format!("truncated: {what} of {len} bytes declared")));
        }
    }
    if n > u32::MAX as u64 + 1 {
        return Err(c.err(format!("{n} records: more than a segment can hold")));
    }
    let p_off = c.offset();
    let ptab = take_blocks(&mut c, ptab_len as usize, "path table")?;
    let s_off = c.offset() as usize;
    let symbols =
        super::lazy::LazyBlocks::new(path, buf.len(), s_off, sym_len as usize, "symbol table")?;
    let r_off = symbols.end();
    let records =
        super::lazy::LazyBlocks::new(path, buf.len(), r_off, n as usize * rb, "chunk records")?;
    let text_start = records.end() as u64;
    if buf.len() as u64 - text_start != text_bytes {
        return Err(Error::corrupt(
            path,
            text_start,
            format!(
                "text section is {} bytes, the metadata says {text_bytes}",
                buf.len() as u64 - text_start
            ),
        ));
    }
    if !has_text && text_bytes != 0 {
        return Err(Error::corrupt(
            path,
            text_start,
            "text bytes without the text flag",
        ));
    }
    let mut pc = Cursor::new(path, &ptab, p_off);
    let mut path_at = Vec::with_capacity(n_paths.min(1 << 20) as usize);
    for _ in 0..n_paths {
        let at = pc.offset();
        path_at.push((at - p_off) as u32);
        let code = pc.bytes(1, "path language")?[0];
        Language::from_code(code)
            .ok_or_else(|| Error::corrupt(path, at, format!("unknown language code {code}")))?;
        let len = pc.u16("path length")? as usize;
        let b = pc.bytes(len, "path")?;
        let s = std::str::from_utf8(b)
            .map_err(|_| Error::corrupt(path, at + 3, "path is not UTF-8"))?;
        super::check_rel_path(path, at + 3, s)?;
    }
    if pc.remaining() != 0 {
        return Err(pc.err("trailing bytes in the path table"));
    }
    Ok(ChunksLazy {
        has_text,
        n,
        record_bytes: rb,
        ptab,
        path_at,
        ptab_off: p_off,
        symbols,
        records,
        text_start,
        text_bytes,
    })
}

impl ChunksLazy {
    pub fn len(&self) -> usize {
        self.n as usize
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn n_paths(&self) -> usize {
        self.path_at.len()
    }

    /// Path-table entry `p` (checked at open).
    pub fn path(&self, p: u32) -> (Language, &str) {
        let at = self.path_at[p as usize] as usize;
        let len = u16::from_le_bytes([self.ptab[at + 1], self.ptab[at + 2]]) as usize;
        // `decode_lazy` checked the code, the bounds and the UTF-8 of every
        // entry; the fallbacks below cannot happen.
        let lang = Language::from_code(self.ptab[at]).unwrap_or(Language::Text);
        let s = std::str::from_utf8(&self.ptab[at + 3..at + 3 + len]).unwrap_or("");
        (lang, s)
    }

    /// File offset of path-table entry `p` (for messages).
    pub fn path_offset(&self, p: u32) -> u64 {
        self.ptab_off + self.path_at[p as usize] as u64
    }

    /// Record `i` (< len), read and checked as `decode_head` checks it.
    pub fn record(&self, path: &Path, buf: &[u8], i: u32) -> Result<ChunkRecord> {
        let rb = self.record_bytes;
        let mut b = [0u8; RECORD_TEXT_BYTES];
        let off = i as usize * rb;
        self.records.read(path, buf, off, &mut b[..rb])?;
        let at = self.records.file_offset(off);
        let mut rc = Cursor::new(path, &b[..rb], at);
        let mut r = ChunkRecord {
            path: rc.u32("path")?,
            start_line: rc.u32("start_line")?,
            end_line: rc.u32("end_line")?,
            start_byte: rc.u32("start_byte")?,
            byte_len: rc.u32("byte_len")?,
            symbol_off: rc.u32("symbol_off")?,
            symbol_len: rc.u16("symbol_len")?,
            ..ChunkRecord::default()
        };
        rc.u16("reserved")?;
        r.hash.copy_from_slice(rc.bytes(16, "hash")?);
        if self.has_text {
            r.text_off = rc.u64("text_off")?;
            r.text_len = rc.u32("text_len")?;
            if r.text_off as u128 + 4 + r.text_len as u128 > self.text_bytes as u128 {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!("record {i}: text entry past the end of the text section"),
                ));
            }
        }
        if r.path as usize >= self.path_at.len() {
            return Err(Error::corrupt(
                path,
                at,
                format!("record {i}: path {} >= {}", r.path, self.path_at.len()),
            ));
        }
        if r.end_line < r.start_line {
            return Err(Error::corrupt(
                path,
                at,
                format!("record {i}: end line before start line"),
            ));
        }
        if r.symbol_off != NO_SYMBOL
            && r.symbol_off as u64 + r.symbol_len as u64 > self.symbols.len() as u64
        {
            return Err(Error::corrupt(
                path,
                at,
                format!("record {i}: symbol out of range"),
            ));
        }
        Ok(r)
    }

    /// The symbol of `r` (a record this table returned), read and checked.
    pub fn symbol(&self, path: &Path, buf: &[u8], r: &ChunkRecord) -> Result<Option<String>> {
        if r.symbol_off == NO_SYMBOL {
            return Ok(None);
        }
        let b = self
            .symbols
            .read_vec(path, buf, r.symbol_off as usize, r.symbol_len as usize)?;
        String::from_utf8(b).map(Some).map_err(|_| {
            Error::corrupt(
                path,
                self.symbols.file_offset(r.symbol_off as usize),
                "symbol is not UTF-8",
            )
        })
    }

    /// The symbol of `r` read into `buf` (reused), checked.
    pub fn symbol_into<'b>(
        &self,
        path: &Path,
        buf: &[u8],
        r: &ChunkRecord,
        out: &'b mut Vec<u8>,
    ) -> Result<Option<&'b str>> {
        if r.symbol_off == NO_SYMBOL {
            return Ok(None);
        }
        out.resize(r.symbol_len as usize, 0);
        self.symbols.read(path, buf, r.symbol_off as usize, out)?;
        std::str::from_utf8(out).map(Some).map_err(|_| {
            Error::corrupt(
                path,
                self.symbols.file_offset(r.symbol_off as usize),
                "symbol is not UTF-8",
            )
        })
    }

    /// Verify every block of the records and symbols (validate).
    pub fn verify_all(&self, path: &Path, buf: &[u8]) -> Result<()> {
        self.symbols.verify_all(path, buf)?;
        self.records.verify_all(path, buf)
    }

    /// The head as [`decode_head`] would return it, for a text entry read.
    pub fn text_entry<'a>(&self, path: &Path, buf: &'a [u8], r: &ChunkRecord) -> Result<&'a [u8]> {
        let head = ChunksHead {
            has_text: self.has_text,
            text_start: self.text_start,
            text_bytes: self.text_bytes,
            ..ChunksHead::default()
        };
        text_entry(path, buf, &head, r)
    }
}
