//! Chunk metadata of a segment (file `seg-S.chunks`): building the table during
//! ingestion, writing it in the segment's node order, and reading it back at
//! query time (path, lines, symbol, hash; the stored text with `storeText`).

use crate::error::{Error, Result};
use crate::format::chunks::{self, ChunkRecord, MAX_STRING_BYTES, NO_SYMBOL};
use crate::io::{Mapped, Storage};
use crate::lang::Language;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// zstd level for stored chunk text.
pub const TEXT_ZSTD_LEVEL: i32 = 3;

/// Chunk metadata in ingestion order (external id i = record i, unless the
/// caller maps ids itself). With stored text, the text entries go to a
/// temporary file as they are added, so memory holds only the records.
pub struct ChunkTable {
    pub paths: Vec<(Language, String)>,
    path_index: HashMap<String, u32>,
    pub symbols: String,
    pub records: Vec<ChunkRecord>,
    text: Option<crate::io::spool::Spool>,
    /// The segment's lexical index, built row by row (`seg-S.lex`).
    lexical: Option<crate::lexical::segment::LexBuilder>,
    /// While records are replayed after a resume: the text bytes they
    /// account for so far, and the rows the checkpoint holds.
    replayed_text_bytes: u64,
    replayed_rows: Option<u64>,
}

/// A chunk's row of the lexical index: its tokens joined by spaces.
fn lexical_body(c: &NewChunk<'_>) -> String {
    crate::lexical::tokens::chunk_body(c.path, c.language, c.symbol, c.text.unwrap_or(""))
}

/// A resumable create's text spool, in its work directory.
pub const TEXT_SPOOL: &str = "text.spool";
/// A resumable create's lexical scratch index, in its work directory.
pub const LEX_DIR: &str = "lex";

/// One chunk as ingestion hands it over.
pub struct NewChunk<'a> {
    pub path: &'a str,
    pub language: Language,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    pub symbol: Option<&'a str>,
    pub hash: [u8; 16],
    /// Compressed text (zstd frame), when the table stores text.
    pub compressed: Option<&'a [u8]>,
    /// The chunk's text for the lexical index (None: unknown, for example a
    /// changed source file; only the path and symbol are indexed then).
    pub text: Option<&'a str>,
}

impl ChunkTable {
    /// A table that stores compressed text with `store_text` and builds a
    /// lexical index with `lexical`.
    pub fn new(store_text: bool, lexical: bool) -> Result<ChunkTable> {
        Self::new_in(store_text, lexical, &std::env::temp_dir())
    }

    /// `new`, with the text spool and the lexical index's files in fresh
    /// directories in `scratch` (a compaction's scratch directory; `new`
    /// uses the system's temporary directory).
    pub fn new_in(store_text: bool, lexical: bool, scratch: &Path) -> Result<ChunkTable> {
        let text = if store_text {
            Some(crate::io::spool::Spool::new_in(
                scratch,
                "text",
                "text.spool",
            )?)
        } else {
            None
        };
        let lexical = if lexical {
            Some(crate::lexical::segment::LexBuilder::new_in(scratch)?)
        } else {
            None
        };
        Ok(Self::with(text, lexical))
    }

    /// A table whose text spool (`work/text.spool`) and lexical index
    /// (`work/lex/`) live in `work`, a resumable create's work directory.
    pub fn create_in(store_text: bool, work: &Path) -> Result<ChunkTable> {
        let text = if store_text {
            Some(crate::io::spool::Spool::create_at(&work.join(TEXT_SPOOL))?)
        } else {
            None
        };
        let lex = work.join(LEX_DIR);
        std::fs::create_dir(&lex).map_err(|e| Error::io("create", &lex, e))?;
        let lexical = Some(crate::lexical::segment::LexBuilder::create_in(&lex)?);
        Ok(Self::with(text, lexical))
    }

    /// The table in `work` as a checkpoint left it: `text_bytes` of text
    /// spool and `rows` lexical rows. Its records are then given back with
    /// [`replay`](Self::replay), in the order they were pushed.
    pub fn resume_in(
        store_text: bool,
        work: &Path,
        text_bytes: u64,
        rows: u64,
    ) -> Result<ChunkTable> {
        let text = if store_text {
            Some(crate::io::spool::Spool::reopen(
                &work.join(TEXT_SPOOL),
                text_bytes,
            )?)
        } else {
            None
        };
        let lexical = Some(crate::lexical::segment::LexBuilder::resume(
            &work.join(LEX_DIR),
            rows,
        )?);
        let mut t = Self::with(text, lexical);
        t.replayed_rows = Some(rows);
        Ok(t)
    }

    fn with(
        text: Option<crate::io::spool::Spool>,
        lexical: Option<crate::lexical::segment::LexBuilder>,
    ) -> ChunkTable {
        ChunkTable {
            paths: Vec::new(),
            path_index: HashMap::new(),
            symbols: String::new(),
            records: Vec::new(),
            text,
            lexical,
            replayed_text_bytes: 0,
            replayed_rows: None,
        }
    }

    /// Bytes of the text spool (0 without text).
    pub fn text_bytes(&self) -> u64 {
        self.text.as_ref().map_or(0, |t| t.len())
    }

    /// Make the text and lexical rows pushed so far durable.
    pub fn checkpoint(&mut self) -> Result<()> {
        if let Some(t) = &mut self.text {
            t.sync()?;
        }
        if let Some(l) = &mut self.lexical {
            l.checkpoint()?;
        }
        Ok(())
    }

    /// Give back a record pushed before a checkpoint that this table
    /// resumed from: its lexical row and text entry (`text_len` compressed
    /// bytes) are already in the resumed builders.
    pub fn replay(&mut self, c: &NewChunk<'_>, text_len: u32) -> Result<()> {
        let rows = self.replayed_rows.unwrap_or(0);
        if self.records.len() as u64 >= rows {
            return Err(Error::internal(format!(
                "chunk table: record {} replayed but the checkpoint holds {rows}",
                self.records.len()
            )));
        }
        let text = self.text.as_ref().map(|_| {
            let at = self.replayed_text_bytes;
            self.replayed_text_bytes += 4 + text_len as u64;
            (at, text_len)
        });
        self.record(c, text)
    }

    /// After the last [`replay`](Self::replay): every record of the
    /// checkpoint came back and their text fills the spool exactly.
    pub fn replay_done(&mut self, work: &Path) -> Result<()> {
        let rows = self.replayed_rows.take().unwrap_or(0);
        if self.records.len() as u64 != rows || self.replayed_text_bytes != self.text_bytes() {
            return Err(Error::corrupt(
                work,
                0,
                format!(
                    "the checkpoint's chunk log gives {} chunks and {} text bytes, its builders hold {rows} and {}",
                    self.records.len(),
                    self.replayed_text_bytes,
                    self.text_bytes()
                ),
            ));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Append a chunk. Byte offsets and sizes must fit the format's u32 fields.
    pub fn push(&mut self, c: &NewChunk<'_>) -> Result<()> {
        let body = self.lexical.as_ref().map(|_| lexical_body(c));
        self.push_with_body(c, body)
    }

    /// Append chunks in order, their lexical tokens made in parallel.
    pub fn push_all(&mut self, cs: &[NewChunk<'_>]) -> Result<()> {
        use rayon::prelude::*;
        let bodies: Vec<Option<String>> = if self.lexical.is_some() {
            cs.par_iter().map(|c| Some(lexical_body(c))).collect()
        } else {
            vec![None; cs.len()]
        };
        for (c, body) in cs.iter().zip(bodies) {
            self.push_with_body(c, body)?;
        }
        Ok(())
    }

    fn push_with_body(&mut self, c: &NewChunk<'_>, body: Option<String>) -> Result<()> {
        if let (Some(b), Some(body)) = (self.lexical.as_mut(), body) {
            b.add_body(body)?;
        }
        let text = match &mut self.text {
            Some(spool) => {
                let bytes = c.compressed.ok_or_else(|| {
                    Error::internal("chunk table stores text but a chunk came without it")
                })?;
                let len = u32::try_from(bytes.len()).map_err(|_| {
                    Error::limit(format!(
                        "{}: chunk text exceeds the chunk format's 4 GiB limit",
                        c.path
                    ))
                })?;
                let at = spool.len();
                spool.append(&chunks::text_entry_head(bytes))?;
                spool.append(bytes)?;
                Some((at, len))
            }
            None => None,
        };
        self.record(c, text)
    }

    /// Add `c`'s record, with its text entry at `text` (offset, length).
    fn record(&mut self, c: &NewChunk<'_>, text: Option<(u64, u32)>) -> Result<()> {
        let path = crate::format::cut_str(c.path, MAX_STRING_BYTES);
        let p = match self.path_index.get(path) {
            Some(&p) => p,
            None => {
                let p = self.paths.len() as u32;
                self.paths.push((c.language, path.to_string()));
                self.path_index.insert(path.to_string(), p);
                p
            }
        };
        let too_big = |what: &str| {
            Error::limit(format!(
                "{}: {what} exceeds the chunk format's 4 GiB limit",
                c.path
            ))
        };
        let start_byte = u32::try_from(c.start_byte).map_err(|_| too_big("byte offset"))?;
        let byte_len =
            u32::try_from(c.end_byte - c.start_byte).map_err(|_| too_big("chunk size"))?;
        let (symbol_off, symbol_len) = match c.symbol {
            Some(s) if !s.is_empty() => {
                let s = crate::format::cut_str(s, MAX_STRING_BYTES);
                let off = u32::try_from(self.symbols.len())
                    .ok()
                    .filter(|&o| o != NO_SYMBOL)
                    .ok_or_else(|| too_big("symbol table"))?;
                self.symbols.push_str(s);
                (off, s.len() as u16)
            }
            _ => (NO_SYMBOL, 0),
        };
        let mut r = ChunkRecord {
            path: p,
            start_line: c.start_line,
            end_line: c.end_line,
            start_byte,
            byte_len,
            symbol_off,
            symbol_len,
            hash: c.hash,
            text_off: 0,
            text_len: 0,
        };
        if let Some((off, len)) = text {
            r.text_off = off;
            r.text_len = len;
        }
        self.records.push(r);
        Ok(())
    }

    /// Write `seg-S.chunks` at `path` with records in `order` (new -> old).
    /// Returns the file's size.
    pub fn write(&mut self, storage: &dyn Storage, path: &Path, order: &[u32]) -> Result<u64> {
        let has_text = self.text.is_some();
        // Node n's text entry starts at text_at[n] of the text section
        // (entries are written in node order).
        let mut text_at = Vec::new();
        let mut text_bytes = 0u64;
        if has_text {
            text_at.reserve_exact(order.len());
            for &o in order {
                text_at.push(text_bytes);
                text_bytes += 4 + self.records[o as usize].text_len as u64;
            }
        }
        let records = &self.records;
        let record = |n: usize| {
            let mut r = records[order[n] as usize];
            if has_text {
                r.text_off = text_at[n];
            }
            r
        };
        let mut w = storage.create(path)?;
        let head_bytes = chunks::write_head(
            &mut |b: &[u8]| w.write_all(b),
            &chunks::HeadSpec {
                paths: &self.paths,
                symbols: &self.symbols,
                n: order.len(),
                record: &record,
                has_text,
                text_bytes,
                indexed: true,
            },
        )?;
        drop(text_at);
        if let Some(spool) = &mut self.text {
            let map = spool.map()?;
            let mut buf = Vec::with_capacity(1 << 20);
            for &o in order {
                let r = &self.records[o as usize];
                let a = r.text_off as usize;
                buf.extend_from_slice(&map[a..a + 4 + r.text_len as usize]);
                if buf.len() >= 1 << 20 {
                    w.write_all(&buf)?;
                    buf.clear();
                }
            }
            w.write_all(&buf)?;
        }
        w.finish()?;
        Ok(head_bytes + text_bytes)
    }
}

impl ChunkTable {
    /// Free the records, paths and symbols once [`write`](Self::write) has
    /// written them (the lexical index, written next, needs none of them):
    /// the table is empty afterwards.
    pub fn release_written(&mut self) {
        self.records = Vec::new();
        self.paths = Vec::new();
        self.path_index = HashMap::new();
        self.symbols = String::new();
    }

    /// Write `seg-S.lex` at `path` (when the table builds one) for a segment
    /// whose node n holds row `order[n]`. Returns its size (0: none).
    pub fn write_lexical(
        &mut self,
        storage: &dyn Storage,
        path: &Path,
        order: &[u32],
    ) -> Result<u64> {
        let Some(b) = self.lexical.take() else {
            return Ok(0);
        };
        let mut node_of_row = vec![0u32; order.len()];
        for (node, &row) in order.iter().enumerate() {
            node_of_row[row as usize] = node as u32;
        }
        b.finish(storage, path, &node_of_row)
    }
}

/// A chunk as a query result needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkInfo<'a> {
    pub path: Cow<'a, str>,
    pub language: Language,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub byte_len: u32,
    pub symbol: Option<String>,
    pub hash: [u8; 16],
}

/// An open `seg-S.chunks`, read in place: records and symbols are read
/// from the mapping as they are asked for (SPEC.md F-8), so opening it
/// costs its path table only.
pub struct ChunkStore {
    path: PathBuf,
    map: Mapped,
    table: chunks::ChunksLazy,
}

impl ChunkStore {
    pub fn open(storage: &dyn Storage, path: &Path) -> Result<ChunkStore> {
        let map = storage.map(path)?;
        let table = chunks::decode_lazy(path, &map)?;
        map.advise_random();
        Ok(ChunkStore {
            path: path.to_path_buf(),
            map,
            table,
        })
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Entries in the path table.
    pub fn n_paths(&self) -> usize {
        self.table.n_paths()
    }
    /// Path-table entry `p` (< n_paths): language and path, read and checked.
    pub fn path_entry(&self, p: u32) -> Result<(Language, Cow<'_, str>)> {
        self.table.path(&self.path, &self.map, p)
    }

    /// Call `f(p, language, path)` for every path-table entry, reading the
    /// table once.
    pub fn for_each_path(&self, f: impl FnMut(u32, Language, &str)) -> Result<()> {
        self.table.for_each_path(&self.path, &self.map, f)
    }

    /// Whether the file has the path and symbol indexes (format 1.8).
    pub fn is_indexed(&self) -> bool {
        self.table.is_indexed()
    }

    /// The nodes of path-table entry `p`, ascending (`None` before 1.8).
    pub fn nodes_of_path(&self, p: u32) -> Result<Option<Vec<u32>>> {
        self.table.nodes_of_path(&self.path, &self.map, p)
    }

    /// The nodes whose symbol field names `lower_name` (a symbol's last
    /// component, lower case) or another name of the same key: candidates
    /// the caller checks; `None` before 1.8.
    pub fn symbol_candidates(&self, lower_name: &str) -> Result<Option<Vec<u32>>> {
        self.table
            .symbol_nodes(&self.path, &self.map, chunks::symbol_key(lower_name))
    }

    /// Record of node `i` (< len), checked.
    pub fn record(&self, i: u32) -> Result<ChunkRecord> {
        self.table.record(&self.path, &self.map, i)
    }

    /// Path-table index of node `i`'s file.
    pub fn path_of(&self, i: u32) -> Result<u32> {
        Ok(self.record(i)?.path)
    }

    pub fn info(&self, i: u32) -> Result<ChunkInfo<'_>> {
        let r = self.record(i)?;
        let (language, path) = self.table.path(&self.path, &self.map, r.path)?;
        Ok(ChunkInfo {
            path,
            language,
            start_line: r.start_line,
            end_line: r.end_line,
            start_byte: r.start_byte,
            byte_len: r.byte_len,
            symbol: self.table.symbol(&self.path, &self.map, &r)?,
            hash: r.hash,
        })
    }

    /// The symbol of record `r`, read into `buf` (reused) and checked.
    pub fn symbol_into<'b>(
        &self,
        r: &ChunkRecord,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b str>> {
        self.table.symbol_into(&self.path, &self.map, r, buf)
    }

    /// Call `f(node, symbol)` for every node with a symbol, in node order
    /// (one pass over the records and the symbols they name).
    pub fn for_each_symbol(&self, mut f: impl FnMut(u32, &str)) -> Result<()> {
        let mut buf = Vec::new();
        for i in 0..self.len() as u32 {
            let r = self.record(i)?;
            if r.symbol_off == NO_SYMBOL {
                continue;
            }
            if let Some(s) = self
                .table
                .symbol_into(&self.path, &self.map, &r, &mut buf)?
            {
                f(i, s);
            }
        }
        Ok(())
    }

    /// Read and check every block, record and symbol (`index validate`).
    pub fn verify_all(&self) -> Result<()> {
        self.table.verify_all(&self.path, &self.map)?;
        chunks::decode_head(&self.path, &self.map).map(|_| ())
    }

    pub fn has_text(&self) -> bool {
        self.table.has_text
    }

    /// The stored text of node `i` (requires FLAG_TEXT).
    pub fn text(&self, i: u32) -> Result<String> {
        let r = self.record(i)?;
        let bytes = self.table.text_entry(&self.path, &self.map, &r)?;
        let at = self.table.text_start() + r.text_off;
        let raw = decompress_text(bytes, r.byte_len as usize).map_err(|e| {
            Error::corrupt(&self.path, at, format!("text does not decompress: {e}"))
        })?;
        let text = String::from_utf8(raw)
            .map_err(|_| Error::corrupt(&self.path, at, "text is not UTF-8"))?;
        if text.len() != r.byte_len as usize || crate::chunk::split::content_hash(&text) != r.hash {
            return Err(Error::corrupt(
                &self.path,
                at,
                "stored text does not match the chunk's length and hash",
            ));
        }
        Ok(text)
    }
}

/// Decompress a stored text that should be `len` bytes. Memory follows the
/// output actually produced (starting from a bound on the compressed size,
/// not from `len`, which a crafted file could set to 4 GiB), and decoding
/// stops one byte past `len`.
fn decompress_text(bytes: &[u8], len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(len.min(bytes.len().saturating_mul(8) + 64));
    zstd::stream::read::Decoder::new(bytes)?
        .take(len as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Compress a chunk's text for a table that stores text.
pub fn compress_text(text: &str) -> Result<Vec<u8>> {
    zstd::bulk::compress(text.as_bytes(), TEXT_ZSTD_LEVEL)
        .map_err(|e| Error::internal(format!("zstd: {e}")))
}
