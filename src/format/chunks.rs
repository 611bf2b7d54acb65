//! Chunk metadata file (SPEC.md, "Chunk metadata file"): per node of a segment,
//! where its chunk lives in the source tree (path, lines, bytes), its symbol,
//! its content hash and, with FLAG_TEXT, its zstd-compressed text.
//!
//! Records are in the segment's node order, so node `i` of the graph is record
//! `i` here. Paths and symbols live in two string tables; since 1.8 (flag
//! bit 1) a path index, a node list by path and a symbol index let a reader
//! find a path, a file's nodes or the nodes of a symbol name without
//! reading the tables whole. Text entries are read one at a time, each with
//! its own CRC.

use super::header::{self, CHUNKS};
use super::lazy::LazyBlocks;
use super::{
    put_u16, put_u32, put_u64, BlockSink, Cursor, BLOCK_DATA_BYTES, SMALL_BLOCK_DATA_BYTES,
};
use crate::error::{Error, Result};
use crate::lang::Language;
use std::borrow::Cow;
use std::path::Path;

pub use super::header::CHUNKS_FLAG_INDEX as FLAG_INDEX;
pub use super::header::CHUNKS_FLAG_TEXT as FLAG_TEXT;
/// Bytes of a path-index entry (flag bit 1): the entry's offset in the path
/// table, the position of its first node in the node list.
pub const PATH_INDEX_ENTRY_BYTES: usize = 8;
/// Bytes of a symbol-index entry (flag bit 1): key, node.
pub const SYMBOL_INDEX_ENTRY_BYTES: usize = 8;
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
    /// Flag bit 1 (since 1.8): the path index, node list and symbol index.
    pub indexed: bool,
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

/// The keys a symbol field (`a`, `A::b`, `a, b, c`) is found under in the
/// symbol index (flag bit 1): per listed symbol, the CRC of its last
/// component in lower case ([`symbol_key`]); sorted, without repeats.
pub fn symbol_field_keys(field: &str) -> Vec<u32> {
    let mut keys: Vec<u32> = field
        .split(", ")
        .filter_map(|one| {
            symbol_components(one)
                .last()
                .map(|name| symbol_key(&name.to_lowercase()))
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A symbol's components: split at `::`, `->`, `.`, `#` and `/`, empty
/// parts dropped (the search's symbol matching splits the same way).
pub fn symbol_components(s: &str) -> Vec<&str> {
    s.split("::")
        .flat_map(|p| p.split("->"))
        .flat_map(|p| p.split(['.', '#', '/']))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The symbol-index key of a lower-case name: the CRC of its UTF-8.
pub fn symbol_key(lower_name: &str) -> u32 {
    crc32fast::hash(lower_name.as_bytes())
}

/// The data of the three index sections of flag bit 1 (path index, node
/// list, symbol index).
struct IndexData {
    paths: Vec<u8>,
    nodes: Vec<u32>,
    /// (key, node), sorted.
    symbols: Vec<(u32, u32)>,
}

/// The index sections of flag bit 1, computed from the path table's entry
/// offsets and the `n` records (`record(i)`); `None` when the table is too
/// large for their u32 fields (it is then written without them).
fn index_sections(
    entry_at: &[u64],
    ptab_len: usize,
    symbols: &str,
    n: usize,
    record: &dyn Fn(usize) -> ChunkRecord,
) -> Option<IndexData> {
    if ptab_len > u32::MAX as usize || n >= u32::MAX as usize {
        return None;
    }
    let n_paths = entry_at.len();
    let mut count = vec![0u32; n_paths + 1];
    for i in 0..n {
        count[(record(i).path as usize).min(n_paths)] += 1;
    }
    let mut first = Vec::with_capacity(n_paths);
    let mut sum = 0u32;
    for c in &count[..n_paths] {
        first.push(sum);
        sum += c;
    }
    let mut pidx = Vec::with_capacity(n_paths * PATH_INDEX_ENTRY_BYTES);
    for (at, f) in entry_at.iter().zip(&first) {
        put_u32(&mut pidx, *at as u32);
        put_u32(&mut pidx, *f);
    }
    let mut nodes = vec![0u32; sum as usize];
    let mut next = first;
    let mut entries: Vec<(u32, u32)> = Vec::new();
    for i in 0..n {
        let r = record(i);
        if let Some(slot) = next.get_mut(r.path as usize) {
            nodes[*slot as usize] = i as u32;
            *slot += 1;
        }
        if r.symbol_off != NO_SYMBOL {
            let a = r.symbol_off as usize;
            if let Some(field) = symbols.get(a..a + r.symbol_len as usize) {
                entries.extend(symbol_field_keys(field).into_iter().map(|k| (k, i as u32)));
            }
        }
    }
    entries.sort_unstable();
    entries.shrink_to_fit();
    Some(IndexData {
        paths: pidx,
        nodes,
        symbols: entries,
    })
}

/// Everything before the text section. `text_bytes` is the size of the text
/// section that the caller appends (0 without text). With `indexed` (flag
/// bit 1, since 1.8) the file carries the path index, node list and symbol
/// index, every section in 4 KiB blocks, unless the table is too large for
/// them.
pub fn encode_head(
    paths: &[(Language, String)],
    symbols: &str,
    records: &[ChunkRecord],
    has_text: bool,
    text_bytes: u64,
    indexed: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let head = HeadSpec {
        paths,
        symbols,
        n: records.len(),
        record: &|i| records[i],
        has_text,
        text_bytes,
        indexed,
    };
    let written = write_head(
        &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        },
        &head,
    );
    // The sink above never fails.
    debug_assert!(written.is_ok());
    out
}

/// What [`write_head`] writes: records are asked for by node (`record(i)`,
/// i < n, in order, more than once), so that a caller need not hold them
/// in node order.
pub struct HeadSpec<'a> {
    pub paths: &'a [(Language, String)],
    pub symbols: &'a str,
    pub n: usize,
    pub record: &'a dyn Fn(usize) -> ChunkRecord,
    pub has_text: bool,
    pub text_bytes: u64,
    pub indexed: bool,
}

/// [`encode_head`]'s bytes, streamed to `out` a block at a time: memory
/// holds the path table and the index sections (about 12 bytes per
/// record), not the records' section or a copy of the whole. Returns the
/// bytes written.
pub fn write_head(out: &mut super::Sink<'_>, h: &HeadSpec<'_>) -> Result<u64> {
    let mut ptab = Vec::new();
    let mut entry_at = Vec::with_capacity(h.paths.len());
    for (lang, p) in h.paths {
        entry_at.push(ptab.len() as u64);
        ptab.push(lang.code());
        put_u16(&mut ptab, p.len() as u16);
        ptab.extend_from_slice(p.as_bytes());
    }
    let rb = if h.has_text {
        RECORD_TEXT_BYTES
    } else {
        RECORD_BYTES
    };
    let index = if h.indexed {
        index_sections(&entry_at, ptab.len(), h.symbols, h.n, h.record)
    } else {
        None
    };
    drop(entry_at);
    let mut meta = Vec::new();
    put_u64(&mut meta, h.n as u64);
    put_u32(&mut meta, h.paths.len() as u32);
    put_u32(&mut meta, rb as u32);
    put_u64(&mut meta, ptab.len() as u64);
    put_u64(&mut meta, h.symbols.len() as u64);
    put_u64(&mut meta, h.text_bytes);
    let mut flags = if h.has_text { FLAG_TEXT } else { 0 };
    let mut block = BLOCK_DATA_BYTES;
    if let Some(ix) = &index {
        put_u64(&mut meta, ix.symbols.len() as u64);
        flags |= FLAG_INDEX;
        block = SMALL_BLOCK_DATA_BYTES;
    }
    let mut written = 0u64;
    let mut counted = |b: &[u8]| {
        written += b.len() as u64;
        out(b)
    };
    counted(&header::encode(CHUNKS, flags, &meta))?;
    let section = |sink: &mut super::Sink<'_>, data: &[u8]| {
        let mut s = BlockSink::new(sink, block);
        s.put(data)?;
        s.finish()
    };
    section(&mut counted, &ptab)?;
    drop(ptab);
    section(&mut counted, h.symbols.as_bytes())?;
    let mut s = BlockSink::new(&mut counted, block);
    let mut one = Vec::with_capacity(rb);
    for i in 0..h.n {
        one.clear();
        put_record(&mut one, &(h.record)(i), h.has_text);
        s.put(&one)?;
    }
    s.finish()?;
    if let Some(ix) = &index {
        section(&mut counted, &ix.paths)?;
        let mut s = BlockSink::new(&mut counted, block);
        for n in &ix.nodes {
            s.put(&n.to_le_bytes())?;
        }
        s.finish()?;
        let mut s = BlockSink::new(&mut counted, block);
        for (k, n) in &ix.symbols {
            s.put(&k.to_le_bytes())?;
            s.put(&n.to_le_bytes())?;
        }
        s.finish()?;
    }
    Ok(written)
}

/// The bytes that precede a text entry's compressed bytes: their CRC-32.
pub fn text_entry_head(compressed: &[u8]) -> [u8; 4] {
    crc32fast::hash(compressed).to_le_bytes()
}

/// The index sections of flag bit 1.
struct IndexSections {
    paths: LazyBlocks,
    nodes: LazyBlocks,
    symbols: LazyBlocks,
    symbol_entries: u64,
}

/// Where every section of a chunk metadata file lies, from its header and
/// metadata, each checked to lie inside the file; nothing else is read.
struct Layout {
    has_text: bool,
    n: u64,
    n_paths: u64,
    record_bytes: usize,
    ptab: LazyBlocks,
    symbols: LazyBlocks,
    records: LazyBlocks,
    index: Option<IndexSections>,
    text_start: u64,
    text_bytes: u64,
}

fn layout(path: &Path, buf: &[u8]) -> Result<Layout> {
    let header::Opened {
        header: h,
        meta: mut mc,
        body: c,
        ..
    } = header::open(CHUNKS, path, buf)?;
    let has_text = h.flags & FLAG_TEXT != 0;
    let indexed = h.flags & FLAG_INDEX != 0;
    let n = mc.u64("n_chunks")?;
    let n_paths = mc.u32("n_paths")? as u64;
    let rb = mc.u32("record_bytes")? as usize;
    let ptab_len = mc.u64("paths_bytes")?;
    let sym_len = mc.u64("symbols_bytes")?;
    let text_bytes = mc.u64("text_bytes")?;
    let symbol_entries = if indexed {
        mc.u64("symbol_index_entries")?
    } else {
        0
    };
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
    let max_n = if indexed {
        u32::MAX as u64 - 1
    } else {
        u32::MAX as u64 + 1
    };
    if n > max_n {
        return Err(c.err(format!("{n} records: more than a segment can hold")));
    }
    let block = if indexed {
        SMALL_BLOCK_DATA_BYTES
    } else {
        BLOCK_DATA_BYTES
    };
    let mut at = c.offset() as usize;
    let mut section = |len: u128, what: &'static str| -> Result<LazyBlocks> {
        if len > buf.len() as u128 {
            return Err(Error::corrupt(
                path,
                at as u64,
                format!("truncated: {what} of {len} bytes declared"),
            ));
        }
        let s = LazyBlocks::with_block(path, buf.len(), at, len as usize, what, block)?;
        at = s.end();
        Ok(s)
    };
    let ptab = section(ptab_len as u128, "path table")?;
    let symbols = section(sym_len as u128, "symbol table")?;
    let records = section(n as u128 * rb as u128, "chunk records")?;
    let index = if indexed {
        Some(IndexSections {
            paths: section(
                n_paths as u128 * PATH_INDEX_ENTRY_BYTES as u128,
                "path index",
            )?,
            nodes: section(n as u128 * 4, "node list")?,
            symbols: section(
                symbol_entries as u128 * SYMBOL_INDEX_ENTRY_BYTES as u128,
                "symbol index",
            )?,
            symbol_entries,
        })
    } else {
        None
    };
    let text_start = at as u64;
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
    Ok(Layout {
        has_text,
        n,
        n_paths,
        record_bytes: rb,
        ptab,
        symbols,
        records,
        index,
        text_start,
        text_bytes,
    })
}

impl Layout {
    /// Read the whole path table (every block verified) and check each of
    /// its entries, calling `f(entry offset in the table, language, path)`
    /// in order; returns the table's bytes.
    fn read_paths(
        &self,
        path: &Path,
        buf: &[u8],
        mut f: impl FnMut(u64, Language, &str),
    ) -> Result<Vec<u8>> {
        let data = self.ptab.read_vec(path, buf, 0, self.ptab.len())?;
        let base = self.ptab.file_offset(0);
        let mut pc = Cursor::new(path, &data, base);
        for _ in 0..self.n_paths {
            let at = pc.offset();
            let code = pc.bytes(1, "path language")?[0];
            let lang = Language::from_code(code)
                .ok_or_else(|| Error::corrupt(path, at, format!("unknown language code {code}")))?;
            let len = pc.u16("path length")? as usize;
            let b = pc.bytes(len, "path")?;
            let s = std::str::from_utf8(b)
                .map_err(|_| Error::corrupt(path, at + 3, "path is not UTF-8"))?;
            super::check_rel_path(path, at + 3, s)?;
            f(at - base, lang, s);
        }
        if pc.remaining() != 0 {
            return Err(pc.err("trailing bytes in the path table"));
        }
        Ok(data)
    }
}

/// Record `i` from its bytes `b` (at file offset `at`), checked against the
/// table's counts: path, lines, symbol range and text entry.
fn parse_record(path: &Path, b: &[u8], at: u64, i: u64, lay: &Layout) -> Result<ChunkRecord> {
    let mut rc = Cursor::new(path, b, at);
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
    if lay.has_text {
        r.text_off = rc.u64("text_off")?;
        r.text_len = rc.u32("text_len")?;
        if r.text_off as u128 + 4 + r.text_len as u128 > lay.text_bytes as u128 {
            return Err(Error::corrupt(
                path,
                at,
                format!("record {i}: text entry past the end of the text section"),
            ));
        }
    }
    if r.path as u64 >= lay.n_paths {
        return Err(Error::corrupt(
            path,
            at,
            format!("record {i}: path {} >= {}", r.path, lay.n_paths),
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
        && r.symbol_off as u64 + r.symbol_len as u64 > lay.symbols.len() as u64
    {
        return Err(Error::corrupt(
            path,
            at,
            format!("record {i}: symbol out of range"),
        ));
    }
    Ok(r)
}

/// Decode everything but the text section, verifying every block, and with
/// flag bit 1 that the index sections are exactly what the path table and
/// records imply. `buf` is the whole file.
pub fn decode_head(path: &Path, buf: &[u8]) -> Result<ChunksHead> {
    let lay = layout(path, buf)?;
    let sym = lay.symbols.read_vec(path, buf, 0, lay.symbols.len())?;
    let recs = lay.records.read_vec(path, buf, 0, lay.records.len())?;
    let symbols = String::from_utf8(sym).map_err(|e| {
        Error::corrupt(
            path,
            lay.symbols.file_offset(e.utf8_error().valid_up_to()),
            "symbol table is not UTF-8",
        )
    })?;
    let mut paths = Vec::with_capacity(lay.n_paths.min(1 << 20) as usize);
    let mut entry_at = Vec::with_capacity(lay.n_paths.min(1 << 20) as usize);
    let ptab = lay.read_paths(path, buf, |at, lang, s| {
        entry_at.push(at);
        paths.push((lang, s.to_string()));
    })?;
    let rb = lay.record_bytes;
    let mut records = Vec::with_capacity(lay.n as usize);
    for i in 0..lay.n as usize {
        let b = &recs[i * rb..(i + 1) * rb];
        let r = parse_record(path, b, lay.records.file_offset(i * rb), i as u64, &lay)?;
        if r.symbol_off != NO_SYMBOL {
            let (a, e) = (
                r.symbol_off as usize,
                r.symbol_off as usize + r.symbol_len as usize,
            );
            if !symbols.is_char_boundary(a) || !symbols.is_char_boundary(e) {
                return Err(Error::corrupt(
                    path,
                    lay.records.file_offset(i * rb),
                    format!("record {i}: symbol out of range"),
                ));
            }
        }
        records.push(r);
    }
    if let Some(ix) = &lay.index {
        let want = index_sections(&entry_at, ptab.len(), &symbols, records.len(), &|i| {
            records[i]
        })
        .ok_or_else(|| Error::corrupt(path, 0, "an index flag on a table too large for one"))?;
        if want.symbols.len() as u64 != ix.symbol_entries {
            return Err(Error::corrupt(
                path,
                header::HEADER_BYTES as u64 + 40,
                format!(
                    "symbol index of {} entries, the records give {}",
                    ix.symbol_entries,
                    want.symbols.len()
                ),
            ));
        }
        let nodes: Vec<u8> = want.nodes.iter().flat_map(|n| n.to_le_bytes()).collect();
        let syms: Vec<u8> = want
            .symbols
            .iter()
            .flat_map(|(k, n)| k.to_le_bytes().into_iter().chain(n.to_le_bytes()))
            .collect();
        for (want, sec) in [
            (&want.paths, &ix.paths),
            (&nodes, &ix.nodes),
            (&syms, &ix.symbols),
        ] {
            let got = sec.read_vec(path, buf, 0, sec.len())?;
            if let Some(d) = got.iter().zip(want.iter()).position(|(a, b)| a != b) {
                return Err(Error::corrupt(
                    path,
                    sec.file_offset(d),
                    "the index does not match the path table and records",
                ));
            }
        }
    }
    Ok(ChunksHead {
        paths,
        symbols,
        records,
        has_text: lay.has_text,
        indexed: lay.index.is_some(),
        text_start: lay.text_start,
        text_bytes: lay.text_bytes,
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

/// A chunk metadata file read in place (SPEC.md F-8): the header and
/// metadata are checked at open (before 1.8, without flag bit 1, the path
/// table too); records, symbols, paths and the index sections are read from
/// the mapping when asked for, each block's CRC verified on first touch,
/// each entry checked as it is read. [`decode_head`] reads everything.
pub struct ChunksLazy {
    pub has_text: bool,
    lay: Layout,
    /// Without flag bit 1: the path table, read at open, and where each
    /// entry starts in it.
    eager: Option<(Vec<u8>, Vec<u32>)>,
}

/// Open a chunk metadata file for lazy reads; `buf` is the whole file.
pub fn decode_lazy(path: &Path, buf: &[u8]) -> Result<ChunksLazy> {
    let lay = layout(path, buf)?;
    let eager = if lay.index.is_none() {
        let mut path_at = Vec::with_capacity(lay.n_paths.min(1 << 20) as usize);
        let ptab = lay.read_paths(path, buf, |at, _, _| path_at.push(at as u32))?;
        Some((ptab, path_at))
    } else {
        None
    };
    Ok(ChunksLazy {
        has_text: lay.has_text,
        lay,
        eager,
    })
}

impl ChunksLazy {
    pub fn len(&self) -> usize {
        self.lay.n as usize
    }
    pub fn is_empty(&self) -> bool {
        self.lay.n == 0
    }
    pub fn n_paths(&self) -> usize {
        self.lay.n_paths as usize
    }
    /// File offset of the text section.
    pub fn text_start(&self) -> u64 {
        self.lay.text_start
    }
    /// Whether the file has the path and symbol indexes (flag bit 1).
    pub fn is_indexed(&self) -> bool {
        self.lay.index.is_some()
    }

    /// Path-table entry `p`: its language and path, read and checked.
    pub fn path(&self, path: &Path, buf: &[u8], p: u32) -> Result<(Language, Cow<'_, str>)> {
        if p as u64 >= self.lay.n_paths {
            return Err(Error::corrupt(
                path,
                self.lay.ptab.file_offset(0),
                format!("path {p} asked of a table of {}", self.lay.n_paths),
            ));
        }
        if let Some((ptab, path_at)) = &self.eager {
            let at = path_at[p as usize] as usize;
            let len = u16::from_le_bytes([ptab[at + 1], ptab[at + 2]]) as usize;
            // `decode_lazy` checked the code, the bounds and the UTF-8 of
            // every entry; the fallbacks below cannot happen.
            let lang = Language::from_code(ptab[at]).unwrap_or(Language::Text);
            let s = std::str::from_utf8(&ptab[at + 3..at + 3 + len]).unwrap_or("");
            return Ok((lang, Cow::Borrowed(s)));
        }
        let ix = self.index(path)?;
        let mut e = [0u8; PATH_INDEX_ENTRY_BYTES];
        ix.paths
            .read(path, buf, p as usize * PATH_INDEX_ENTRY_BYTES, &mut e)?;
        let at = u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as usize;
        let mut h = [0u8; 3];
        self.lay.ptab.read(path, buf, at, &mut h)?;
        let file_at = self.lay.ptab.file_offset(at);
        let lang = Language::from_code(h[0]).ok_or_else(|| {
            Error::corrupt(path, file_at, format!("unknown language code {}", h[0]))
        })?;
        let len = u16::from_le_bytes([h[1], h[2]]) as usize;
        let b = self.lay.ptab.read_vec(path, buf, at + 3, len)?;
        let s = String::from_utf8(b)
            .map_err(|_| Error::corrupt(path, file_at + 3, "path is not UTF-8"))?;
        super::check_rel_path(path, file_at + 3, &s)?;
        Ok((lang, Cow::Owned(s)))
    }

    /// Call `f(p, language, path)` for every path-table entry in order,
    /// reading the table once (each entry checked as [`Self::path`] checks
    /// it): for passes over all paths (filters, deleted paths, update
    /// scopes), far cheaper than asking for each entry.
    pub fn for_each_path(
        &self,
        path: &Path,
        buf: &[u8],
        mut f: impl FnMut(u32, Language, &str),
    ) -> Result<()> {
        if let Some((ptab, path_at)) = &self.eager {
            for (p, &at) in path_at.iter().enumerate() {
                let at = at as usize;
                let len = u16::from_le_bytes([ptab[at + 1], ptab[at + 2]]) as usize;
                // Checked by `decode_lazy`, as in `path`.
                let lang = Language::from_code(ptab[at]).unwrap_or(Language::Text);
                let s = std::str::from_utf8(&ptab[at + 3..at + 3 + len]).unwrap_or("");
                f(p as u32, lang, s);
            }
            return Ok(());
        }
        let mut p = 0u32;
        self.lay.read_paths(path, buf, |_, lang, s| {
            f(p, lang, s);
            p += 1;
        })?;
        Ok(())
    }

    fn index(&self, path: &Path) -> Result<&IndexSections> {
        self.lay.index.as_ref().ok_or_else(|| {
            Error::internal(format!(
                "{}: no index sections (flag bit 1)",
                path.display()
            ))
        })
    }

    /// The nodes whose chunks come from path-table entry `p`, ascending;
    /// `None` for a file without the index (before 1.8).
    pub fn nodes_of_path(&self, path: &Path, buf: &[u8], p: u32) -> Result<Option<Vec<u32>>> {
        let Some(ix) = &self.lay.index else {
            return Ok(None);
        };
        let entry = |q: u64| -> Result<u32> {
            if q == self.lay.n_paths {
                return Ok(self.lay.n as u32);
            }
            let mut e = [0u8; 4];
            ix.paths
                .read(path, buf, q as usize * PATH_INDEX_ENTRY_BYTES + 4, &mut e)?;
            Ok(u32::from_le_bytes(e))
        };
        if p as u64 >= self.lay.n_paths {
            return Err(Error::corrupt(
                path,
                ix.paths.file_offset(0),
                format!("path {p} asked of a table of {}", self.lay.n_paths),
            ));
        }
        let (a, b) = (entry(p as u64)?, entry(p as u64 + 1)?);
        if a > b || b as u64 > self.lay.n {
            return Err(Error::corrupt(
                path,
                ix.paths.file_offset(p as usize * PATH_INDEX_ENTRY_BYTES),
                format!("path {p}: nodes {a}..{b} of a list of {}", self.lay.n),
            ));
        }
        let bytes = ix
            .nodes
            .read_vec(path, buf, a as usize * 4, (b - a) as usize * 4)?;
        let nodes = super::u32s_from(&bytes);
        if let Some(i) = nodes.iter().position(|&v| v as u64 >= self.lay.n) {
            return Err(Error::corrupt(
                path,
                ix.nodes.file_offset((a as usize + i) * 4),
                format!("node {} of a segment of {}", nodes[i], self.lay.n),
            ));
        }
        Ok(Some(nodes))
    }

    /// The nodes the symbol index lists under `key` ([`symbol_key`]),
    /// ascending and without repeats; `None` for a file without the index.
    /// A key is a hash: the caller checks each node's symbol.
    pub fn symbol_nodes(&self, path: &Path, buf: &[u8], key: u32) -> Result<Option<Vec<u32>>> {
        let Some(ix) = &self.lay.index else {
            return Ok(None);
        };
        let entry = |i: u64| -> Result<(u32, u32)> {
            let mut e = [0u8; SYMBOL_INDEX_ENTRY_BYTES];
            ix.symbols
                .read(path, buf, i as usize * SYMBOL_INDEX_ENTRY_BYTES, &mut e)?;
            Ok((
                u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            ))
        };
        // The first entry whose key is >= `key` (entries are sorted; a
        // file whose are not only finds less, `validate` reports it).
        let (mut lo, mut hi) = (0u64, ix.symbol_entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if entry(mid)?.0 < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut nodes = Vec::new();
        let mut i = lo;
        while i < ix.symbol_entries {
            let (k, node) = entry(i)?;
            if k != key {
                break;
            }
            if node as u64 >= self.lay.n {
                return Err(Error::corrupt(
                    path,
                    ix.symbols
                        .file_offset(i as usize * SYMBOL_INDEX_ENTRY_BYTES),
                    format!(
                        "symbol index names node {node} of a segment of {}",
                        self.lay.n
                    ),
                ));
            }
            nodes.push(node);
            i += 1;
        }
        nodes.sort_unstable();
        nodes.dedup();
        Ok(Some(nodes))
    }

    /// Record `i` (< len), read and checked as `decode_head` checks it.
    pub fn record(&self, path: &Path, buf: &[u8], i: u32) -> Result<ChunkRecord> {
        let rb = self.lay.record_bytes;
        let mut b = [0u8; RECORD_TEXT_BYTES];
        let off = i as usize * rb;
        self.lay.records.read(path, buf, off, &mut b[..rb])?;
        parse_record(
            path,
            &b[..rb],
            self.lay.records.file_offset(off),
            i as u64,
            &self.lay,
        )
    }

    /// The symbol of `r` (a record this table returned), read and checked.
    pub fn symbol(&self, path: &Path, buf: &[u8], r: &ChunkRecord) -> Result<Option<String>> {
        let mut out = Vec::new();
        if self.symbol_into(path, buf, r, &mut out)?.is_none() {
            return Ok(None);
        }
        // `symbol_into` checked the bytes are UTF-8.
        Ok(String::from_utf8(out).ok())
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
        self.lay
            .symbols
            .read(path, buf, r.symbol_off as usize, out)?;
        std::str::from_utf8(out).map(Some).map_err(|_| {
            Error::corrupt(
                path,
                self.lay.symbols.file_offset(r.symbol_off as usize),
                "symbol is not UTF-8",
            )
        })
    }

    /// Verify every block of every section (validate).
    pub fn verify_all(&self, path: &Path, buf: &[u8]) -> Result<()> {
        self.lay.ptab.verify_all(path, buf)?;
        self.lay.symbols.verify_all(path, buf)?;
        self.lay.records.verify_all(path, buf)?;
        if let Some(ix) = &self.lay.index {
            ix.paths.verify_all(path, buf)?;
            ix.nodes.verify_all(path, buf)?;
            ix.symbols.verify_all(path, buf)?;
        }
        Ok(())
    }

    /// The head as [`decode_head`] would return it, for a text entry read.
    pub fn text_entry<'a>(&self, path: &Path, buf: &'a [u8], r: &ChunkRecord) -> Result<&'a [u8]> {
        let head = ChunksHead {
            has_text: self.has_text,
            text_start: self.lay.text_start,
            text_bytes: self.lay.text_bytes,
            ..ChunksHead::default()
        };
        text_entry(path, buf, &head, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: u32, symbol: Option<(u32, u16)>, i: u32) -> ChunkRecord {
        let (symbol_off, symbol_len) = symbol.unwrap_or((NO_SYMBOL, 0));
        ChunkRecord {
            path,
            start_line: i + 1,
            end_line: i + 2,
            start_byte: i * 10,
            byte_len: 10,
            symbol_off,
            symbol_len,
            hash: [i as u8; 16],
            ..ChunkRecord::default()
        }
    }

    /// Three files, nodes interleaved across them, symbols that share names.
    fn table() -> (Vec<(Language, String)>, String, Vec<ChunkRecord>) {
        let paths = vec![
            (Language::Rust, "src/a.rs".to_string()),
            (Language::Python, "pkg/b.py".to_string()),
            (Language::Markdown, "README.md".to_string()),
        ];
        let symbols = "Pool::acquire, Pool::releaseHttp.Client#send".to_string();
        // "Pool::acquire, Pool::release" at 0..28, "Http.Client#send" at 28..
        let records = vec![
            rec(1, Some((0, 28)), 0),
            rec(0, None, 1),
            rec(2, None, 2),
            rec(0, Some((28, 16)), 3),
            rec(1, Some((6, 7)), 4), // "acquire"
        ];
        (paths, symbols, records)
    }

    fn file(indexed: bool) -> Vec<u8> {
        let (p, s, r) = table();
        encode_head(&p, &s, &r, false, 0, indexed)
    }

    #[test]
    fn indexed_file_finds_paths_nodes_and_symbols() {
        let path = Path::new("seg.chunks");
        let b = file(true);
        let head = decode_head(path, &b).unwrap();
        let (p, s, r) = table();
        assert!(head.indexed);
        assert_eq!((head.paths.clone(), head.symbols.clone()), (p.clone(), s));
        assert_eq!(head.records, r);
        let t = decode_lazy(path, &b).unwrap();
        assert!(t.is_indexed());
        for (i, (lang, want)) in p.iter().enumerate() {
            let (l, got) = t.path(path, &b, i as u32).unwrap();
            assert_eq!((l, got.as_ref()), (*lang, want.as_str()));
        }
        assert!(t.path(path, &b, 3).is_err());
        let mut all = Vec::new();
        t.for_each_path(path, &b, |i, l, s| all.push((i, l, s.to_string())))
            .unwrap();
        let want: Vec<(u32, Language, String)> = p
            .iter()
            .enumerate()
            .map(|(i, (l, s))| (i as u32, *l, s.clone()))
            .collect();
        assert_eq!(all, want);
        assert_eq!(t.nodes_of_path(path, &b, 0).unwrap(), Some(vec![1, 3]));
        assert_eq!(t.nodes_of_path(path, &b, 1).unwrap(), Some(vec![0, 4]));
        assert_eq!(t.nodes_of_path(path, &b, 2).unwrap(), Some(vec![2]));
        let find = |name: &str| t.symbol_nodes(path, &b, symbol_key(name)).unwrap();
        assert_eq!(find("acquire"), Some(vec![0, 4]));
        assert_eq!(find("release"), Some(vec![0]));
        assert_eq!(find("send"), Some(vec![3]));
        assert_eq!(find("pool"), Some(vec![]));
        assert_eq!(find("nothing"), Some(vec![]));
        // The same table without the flag: no index, the same records.
        let plain = file(false);
        let h = decode_head(path, &plain).unwrap();
        assert!(!h.indexed);
        assert_eq!(h.records, r);
        let t = decode_lazy(path, &plain).unwrap();
        assert_eq!(t.nodes_of_path(path, &plain, 0).unwrap(), None);
        assert_eq!(
            t.symbol_nodes(path, &plain, symbol_key("send")).unwrap(),
            None
        );
        assert_eq!(t.path(path, &plain, 1).unwrap().1, "pkg/b.py");
        let mut all = Vec::new();
        t.for_each_path(path, &plain, |i, l, s| all.push((i, l, s.to_string())))
            .unwrap();
        assert_eq!(all, want);
    }

    /// Offset of the node list's first data byte in `file(true)`.
    fn node_list_at(b: &[u8]) -> usize {
        let lay = layout(Path::new("x"), b).unwrap();
        lay.index.unwrap().nodes.file_offset(0) as usize
    }

    /// Rewrite the CRC of the 4 KiB block holding file offset `at`
    /// (sections here are one block each, shorter than 4 KiB).
    fn reseal(b: &mut [u8], start: usize, len: usize) {
        let crc = crc32fast::hash(&b[start..start + len]);
        b[start + len..start + len + 4].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn damaged_index_sections_are_found() {
        let path = Path::new("seg.chunks");
        let good = file(true);
        let at = node_list_at(&good);
        // A flipped bit: the block's CRC fails, at read and at validate.
        let mut bad = good.clone();
        bad[at] ^= 1;
        let t = decode_lazy(path, &bad).unwrap();
        let e = t.nodes_of_path(path, &bad, 1).unwrap_err().to_string();
        assert!(
            e.contains("seg.chunks") && e.contains("checksum mismatch"),
            "{e}"
        );
        assert!(decode_head(path, &bad).is_err());
        // A node past the segment with a valid CRC: the read names it.
        let mut bad = good.clone();
        bad[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        reseal(&mut bad, at, 5 * 4);
        let t = decode_lazy(path, &bad).unwrap();
        let e = t.nodes_of_path(path, &bad, 0).unwrap_err().to_string();
        assert!(e.contains("node 99"), "{e}");
        // Two nodes swapped, each in range: only validate can tell.
        let mut bad = good.clone();
        bad.copy_within(at..at + 4, at + 8);
        bad[at..at + 4].copy_from_slice(&good[at + 8..at + 12]);
        reseal(&mut bad, at, 5 * 4);
        let e = decode_head(path, &bad).unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
        // A truncated file fails to open.
        assert!(decode_lazy(path, &good[..good.len() - 3]).is_err());
        for cut in 0..good.len() {
            assert!(decode_head(path, &good[..cut]).is_err());
        }
    }
}
