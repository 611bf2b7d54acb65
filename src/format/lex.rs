//! Lexical index file `seg-S.lex` (SPEC.md, "Lexical index"): a container
//! for one segment's BM25 index, built by tantivy. After the common header
//! and a checksummed table (the node of every lexical row, and the name,
//! offset, length and CRC-32 of every tantivy file) come the tantivy files'
//! bytes. The container is specified here; the files inside are tantivy's
//! own format (its version is recorded), checked by their CRC-32s.

use super::header::{self, LEX, LEX_FLAG_BLOCK_CRCS};
use super::{expect_end, put_blocks, put_u16, put_u32, put_u64, Cursor};
use crate::error::{Error, Result};
use std::path::Path;

/// Offsets of inner files are multiples of this.
pub const FILE_ALIGN_BYTES: u64 = 8;
/// Bytes of a file-table entry besides its name.
const FILE_ENTRY_FIXED_BYTES: usize = 2 + 8 + 8 + 4;

/// One tantivy file inside the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedFile {
    pub name: String,
    /// Absolute offset in the container.
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
    /// CRC-32 of each `LEX_BLOCK_BYTES` block of the file (the last one
    /// shorter), since format 1.7 (`LEX_FLAG_BLOCK_CRCS`); empty in older
    /// files, whose readers check the whole file's `crc` on open.
    pub block_crcs: Vec<u32>,
}

/// Blocks of an inner file with their own CRC (format 1.7).
pub const LEX_BLOCK_BYTES: u64 = 64 * 1024;

/// The block CRCs of `bytes` (an inner file).
pub fn block_crcs(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(LEX_BLOCK_BYTES as usize)
        .map(crc32fast::hash)
        .collect()
}

/// Everything before the files' bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexHead {
    /// tantivy's index format version the files were written with.
    pub tantivy_format: u32,
    /// Per lexical row (tantivy's `row` fast field), the segment node.
    pub node_of_row: Vec<u32>,
    /// Sorted by offset; contiguous after the table (with alignment padding).
    pub files: Vec<PackedFile>,
    /// Whether the table holds block CRCs (`LEX_FLAG_BLOCK_CRCS`, 1.7).
    pub block_crcs: bool,
}

fn table_bytes(h: &LexHead) -> Vec<u8> {
    let mut t = Vec::with_capacity(h.node_of_row.len() * 4 + h.files.len() * 64);
    for &n in &h.node_of_row {
        put_u32(&mut t, n);
    }
    for f in &h.files {
        put_u16(&mut t, f.name.len() as u16);
        t.extend_from_slice(f.name.as_bytes());
        put_u64(&mut t, f.offset);
        put_u64(&mut t, f.len);
        put_u32(&mut t, f.crc);
        for &c in &f.block_crcs {
            put_u32(&mut t, c);
        }
    }
    t
}

fn meta_bytes(h: &LexHead, table_len: usize) -> Vec<u8> {
    let mut meta = Vec::with_capacity(24);
    put_u32(&mut meta, h.tantivy_format);
    put_u32(&mut meta, h.files.len() as u32);
    put_u64(&mut meta, h.node_of_row.len() as u64);
    put_u64(&mut meta, table_len as u64);
    meta
}

/// Bytes of the header and table of `h` (names and lengths set; offsets are
/// ignored): lay the files out after it and return (head bytes, offsets).
pub fn layout(h: &LexHead) -> (usize, Vec<u64>) {
    let table = table_bytes(h);
    let head = header::HEADER_BYTES
        + meta_bytes(h, table.len()).len()
        + super::blocks_encoded_len(table.len());
    let mut off = (head as u64).next_multiple_of(FILE_ALIGN_BYTES);
    let mut offs = Vec::with_capacity(h.files.len());
    for f in &h.files {
        offs.push(off);
        off = (off + f.len).next_multiple_of(FILE_ALIGN_BYTES);
    }
    (head, offs)
}

/// Header and table of `h` (offsets as `layout` gave them).
pub fn encode_head(h: &LexHead) -> Vec<u8> {
    let table = table_bytes(h);
    let flags = if h.block_crcs { LEX_FLAG_BLOCK_CRCS } else { 0 };
    let mut out = header::encode(LEX, flags, &meta_bytes(h, table.len()));
    put_blocks(&mut out, &table);
    out
}

/// Decode the header and table from `buf` (the whole file), checking that
/// every file lies inside it, in order, without overlap. The files' CRCs are
/// checked when they are opened (`file_bytes`).
pub fn decode_head(path: &Path, buf: &[u8]) -> Result<LexHead> {
    decode_with(path, buf, true).map(|(h, _)| h)
}

/// The node of each lexical row, left in the file's table and read one row
/// at a time (F-8): a query reads the rows of its hits only.
pub struct LexRows {
    n: u64,
    table: super::lazy::LazyBlocks,
}

impl LexRows {
    pub fn len(&self) -> u64 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// The node of row `row` (< len), its block verified; `buf` is the file.
    pub fn get(&self, path: &Path, buf: &[u8], row: u64) -> Result<u32> {
        if row >= self.n {
            return Err(Error::corrupt(
                path,
                0,
                format!("lexical row {row} outside its {} rows", self.n),
            ));
        }
        let mut b = [0u8; 4];
        self.table.read(path, buf, row as usize * 4, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Call `f(row, node)` for every row in order, reading the table a
    /// piece at a time (each block verified once): a filtered query's pass
    /// over all rows costs a copy of the table, not a lookup per row.
    pub fn for_each(&self, path: &Path, buf: &[u8], mut f: impl FnMut(u64, u32)) -> Result<()> {
        const PIECE_ROWS: u64 = 16_384;
        let mut piece = vec![0u8; PIECE_ROWS as usize * 4];
        let mut row = 0u64;
        while row < self.n {
            let len = (self.n - row).min(PIECE_ROWS) as usize;
            let bytes = &mut piece[..len * 4];
            self.table.read(path, buf, row as usize * 4, bytes)?;
            for (k, b) in bytes.chunks_exact(4).enumerate() {
                // chunks_exact(4) yields 4-byte slices.
                f(row + k as u64, u32::from_le_bytes(b.try_into().unwrap()));
            }
            row += len as u64;
        }
        Ok(())
    }
}

/// `decode_head` without reading the rows: the head (its `node_of_row`
/// empty) and the rows to read one at a time.
pub fn decode_lazy(path: &Path, buf: &[u8]) -> Result<(LexHead, LexRows)> {
    decode_with(path, buf, false)
}

fn decode_with(path: &Path, buf: &[u8], eager_rows: bool) -> Result<(LexHead, LexRows)> {
    let header::Opened {
        header: h,
        meta: mut mc,
        body: c,
        ..
    } = header::open(LEX, path, buf)?;
    let with_blocks = h.flags & LEX_FLAG_BLOCK_CRCS != 0;
    let tantivy_format = mc.u32("tantivy format")?;
    let n_files = mc.u32("n_files")? as usize;
    let n_rows = mc.u64("n_rows")?;
    let table_len = mc.u64("table bytes")?;
    if table_len > c.remaining() as u64
        || n_rows > table_len / 4
        || n_files as u64 > table_len / FILE_ENTRY_FIXED_BYTES as u64
    {
        return Err(c.err(format!(
            "truncated: {n_rows} rows and {n_files} files in a table of {table_len} bytes"
        )));
    }
    let base = c.offset();
    let lazy = super::lazy::LazyBlocks::new(
        path,
        buf.len(),
        base as usize,
        table_len as usize,
        "lexical table",
    )?;
    let head_end = lazy.end() as u64;
    let rows_len = n_rows as usize * 4;
    let (table, tbase) = if eager_rows {
        (lazy.read_vec(path, buf, 0, table_len as usize)?, base)
    } else {
        (
            lazy.read_vec(path, buf, rows_len, table_len as usize - rows_len)?,
            lazy.file_offset(rows_len),
        )
    };
    let mut tc = Cursor::new(path, &table, tbase);
    let mut node_of_row = Vec::with_capacity(if eager_rows { n_rows as usize } else { 0 });
    if eager_rows {
        for _ in 0..n_rows {
            node_of_row.push(tc.u32("node")?);
        }
    }
    let mut files: Vec<PackedFile> = Vec::with_capacity(n_files);
    let mut end = head_end;
    for _ in 0..n_files {
        let len = tc.u16("name length")? as usize;
        let name = std::str::from_utf8(tc.bytes(len, "name")?)
            .map_err(|_| tc.err_back(len, "file name is not UTF-8"))?
            .to_string();
        if name.is_empty() || name.contains('/') || files.iter().any(|f| f.name == name) {
            return Err(tc.err_back(len, format!("bad or repeated file name {name:?}")));
        }
        let offset = tc.u64("offset")?;
        let flen = tc.u64("length")?;
        let crc = tc.u32("crc")?;
        let mut block_crcs = Vec::new();
        if with_blocks {
            let n = flen.div_ceil(LEX_BLOCK_BYTES);
            if n > tc.remaining() as u64 / 4 {
                return Err(tc.err(format!(
                    "file {name:?} of {flen} bytes needs {n} block CRCs, the table ends first"
                )));
            }
            block_crcs = (0..n).map(|_| tc.u32("block crc")).collect::<Result<_>>()?;
        }
        let fits = offset >= end
            && offset % FILE_ALIGN_BYTES == 0
            && offset
                .checked_add(flen)
                .is_some_and(|e| e <= buf.len() as u64);
        if !fits {
            return Err(tc.err_back(
                20,
                format!("file {name:?} at {offset}+{flen} is outside the container or overlaps"),
            ));
        }
        if buf[end as usize..offset as usize].iter().any(|&b| b != 0) {
            return Err(Error::corrupt(
                path,
                end,
                "non-zero padding before a lexical file",
            ));
        }
        end = offset + flen;
        files.push(PackedFile {
            name,
            offset,
            len: flen,
            crc,
            block_crcs,
        });
    }
    expect_end(&tc)?;
    // Only alignment padding (zeros) may follow the last file.
    if (buf.len() as u64).saturating_sub(end) >= FILE_ALIGN_BYTES
        || buf[end as usize..].iter().any(|&b| b != 0)
    {
        return Err(Error::corrupt(
            path,
            end,
            format!("{} bytes after the last file", buf.len() as u64 - end),
        ));
    }
    Ok((
        LexHead {
            tantivy_format,
            node_of_row,
            files,
            block_crcs: with_blocks,
        },
        LexRows {
            n: n_rows,
            table: lazy,
        },
    ))
}

/// The bytes of `f` in `buf`, checked against its CRC-32. `f` comes from
/// `decode_head` of this `buf`, which checked that it lies inside.
pub fn file_bytes<'a>(path: &Path, buf: &'a [u8], f: &PackedFile) -> Result<&'a [u8]> {
    let b = &buf[f.offset as usize..(f.offset + f.len) as usize];
    if !super::crc_matches(crc32fast::hash(b), f.crc) {
        return Err(Error::corrupt(
            path,
            f.offset,
            format!("checksum mismatch in lexical file {:?}", f.name),
        ));
    }
    for (i, &c) in f.block_crcs.iter().enumerate() {
        block_bytes(path, buf, f, i, c)?;
    }
    Ok(b)
}

/// Block `i` of `f` checked against its CRC `crc` (format 1.7).
fn block_bytes<'a>(
    path: &Path,
    buf: &'a [u8],
    f: &PackedFile,
    i: usize,
    crc: u32,
) -> Result<&'a [u8]> {
    let start = f.offset + i as u64 * LEX_BLOCK_BYTES;
    let end = (start + LEX_BLOCK_BYTES).min(f.offset + f.len);
    let b = &buf[start as usize..end as usize];
    if !super::crc_matches(crc32fast::hash(b), crc) {
        return Err(Error::corrupt(
            path,
            start,
            format!(
                "checksum mismatch in block {i} of lexical file {:?}",
                f.name
            ),
        ));
    }
    Ok(b)
}

/// Check the blocks of `f` that hold its bytes `range` (relative to the
/// file), skipping those `done` says were checked and marking the ones
/// checked now; returns the bytes checked now. A file without block CRCs
/// (before 1.7) is checked whole by `file_bytes` when opened instead.
pub fn check_range(
    path: &Path,
    buf: &[u8],
    f: &PackedFile,
    range: std::ops::Range<u64>,
    done: &[std::sync::atomic::AtomicU64],
) -> Result<u64> {
    use std::sync::atomic::Ordering;
    if f.block_crcs.is_empty() || range.start >= range.end {
        return Ok(0);
    }
    let mut checked = 0u64;
    let first = (range.start / LEX_BLOCK_BYTES) as usize;
    let last = ((range.end - 1) / LEX_BLOCK_BYTES) as usize;
    for i in first..=last.min(f.block_crcs.len() - 1) {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        if done[w].load(Ordering::Relaxed) & bit != 0 {
            continue;
        }
        checked += block_bytes(path, buf, f, i, f.block_crcs[i])?.len() as u64;
        done[w].fetch_or(bit, Ordering::Relaxed);
    }
    Ok(checked)
}
