//! Chunk metadata of a segment (file `seg-S.chunks`): building the table during
//! ingestion, writing it in the segment's node order, and reading it back at
//! query time (path, lines, symbol, hash; the stored text with `storeText`).

use crate::error::{Error, Result};
use crate::format::chunks::{self, ChunkRecord, ChunksHead, MAX_STRING_BYTES, NO_SYMBOL};
use crate::io::{Mapped, Storage};
use crate::lang::Language;
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
}

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
        let text = if store_text {
            Some(crate::io::spool::Spool::new("leann-text", "text.spool")?)
        } else {
            None
        };
        Ok(ChunkTable {
            paths: Vec::new(),
            path_index: HashMap::new(),
            symbols: String::new(),
            records: Vec::new(),
            text,
            lexical: if lexical {
                Some(crate::lexical::segment::LexBuilder::new()?)
            } else {
                None
            },
        })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Append a chunk. Byte offsets and sizes must fit the format's u32 fields.
    pub fn push(&mut self, c: &NewChunk<'_>) -> Result<()> {
        if let Some(b) = self.lexical.as_mut() {
            b.add(&crate::lexical::tokens::chunk_tokens(
                c.path,
                c.language,
                c.symbol,
                c.text.unwrap_or(""),
            ))?;
        }
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
        if let Some(spool) = &mut self.text {
            let bytes = c.compressed.ok_or_else(|| {
                Error::internal("chunk table stores text but a chunk came without it")
            })?;
            r.text_off = spool.len();
            r.text_len = u32::try_from(bytes.len()).map_err(|_| too_big("chunk text"))?;
            spool.append(&chunks::text_entry_head(bytes))?;
            spool.append(bytes)?;
        }
        self.records.push(r);
        Ok(())
    }

    /// Write `seg-S.chunks` at `path` with records in `order` (new -> old).
    /// Returns the file's size.
    pub fn write(&mut self, storage: &dyn Storage, path: &Path, order: &[u32]) -> Result<u64> {
        let mut recs: Vec<ChunkRecord> = order.iter().map(|&o| self.records[o as usize]).collect();
        let has_text = self.text.is_some();
        let mut text_bytes = 0u64;
        if has_text {
            for r in &mut recs {
                r.text_off = text_bytes;
                text_bytes += 4 + r.text_len as u64;
            }
        }
        let head = chunks::encode_head(&self.paths, &self.symbols, &recs, has_text, text_bytes);
        let mut w = storage.create(path)?;
        w.write_all(&head)?;
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
        Ok(head.len() as u64 + text_bytes)
    }
}

impl ChunkTable {
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
    pub path: &'a str,
    pub language: Language,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub byte_len: u32,
    pub symbol: Option<&'a str>,
    pub hash: [u8; 16],
}

/// An open `seg-S.chunks`.
pub struct ChunkStore {
    path: PathBuf,
    map: Mapped,
    pub head: ChunksHead,
}

impl ChunkStore {
    pub fn open(storage: &dyn Storage, path: &Path) -> Result<ChunkStore> {
        let map = storage.map(path)?;
        let head = chunks::decode_head(path, &map)?;
        Ok(ChunkStore {
            path: path.to_path_buf(),
            map,
            head,
        })
    }

    pub fn len(&self) -> usize {
        self.head.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.head.records.is_empty()
    }
    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Path-table index of node `i`'s file.
    pub fn path_of(&self, i: u32) -> u32 {
        self.head.records[i as usize].path
    }

    pub fn info(&self, i: u32) -> ChunkInfo<'_> {
        let r = &self.head.records[i as usize];
        let (language, path) = &self.head.paths[r.path as usize];
        ChunkInfo {
            path,
            language: *language,
            start_line: r.start_line,
            end_line: r.end_line,
            start_byte: r.start_byte,
            byte_len: r.byte_len,
            symbol: self.head.symbol(r),
            hash: r.hash,
        }
    }

    pub fn has_text(&self) -> bool {
        self.head.has_text
    }

    /// The stored text of node `i` (requires FLAG_TEXT).
    pub fn text(&self, i: u32) -> Result<String> {
        let r = &self.head.records[i as usize];
        let bytes = chunks::text_entry(&self.path, &self.map, &self.head, r)?;
        let at = self.head.text_start + r.text_off;
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
