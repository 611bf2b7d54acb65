//! Write-ahead log file (SPEC.md, "Write-ahead log"): a header, then frames.
//!
//! Frame: u32 `len`, u32 CRC(salt ‖ len), u8 kind, `len` payload bytes,
//! u32 CRC(salt ‖ kind ‖ payload). The salt is random per log file, so bytes
//! of another file (or preallocated zeros) never validate as a frame here.

use super::header::{self, WAL};
use super::{put_u16, put_u32, put_u64, Cursor};
use crate::error::{Error, Result};
use crate::lang::Language;
use std::path::Path;

/// Bytes of a frame around its payload.
pub const FRAME_OVERHEAD_BYTES: usize = 13;
/// Largest payload accepted (a corrupt length cannot ask for more).
pub const MAX_PAYLOAD_BYTES: u32 = 16 * 1024 * 1024;
/// Metadata bytes of the log header.
pub const META_BYTES: usize = 24;
/// Offset of the first frame.
pub const FIRST_FRAME: u64 = (header::HEADER_BYTES + META_BYTES) as u64;

pub const KIND_BEGIN: u8 = 1;
pub const KIND_UPSERT: u8 = 2;
pub const KIND_DELETE_ID: u8 = 3;
pub const KIND_DELETE_PATH: u8 = 4;
pub const KIND_COMMIT: u8 = 5;
/// Since 1.3: an upsert whose vector is reused from an earlier copy of the
/// same content (its PQ reconstruction), not embedded; approximate.
pub const KIND_UPSERT_REUSED: u8 = 6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMeta {
    pub salt: u64,
    /// Sequence number of this log file (its name carries it too).
    pub seq: u64,
    pub dim: u32,
}

/// Chunk metadata carried by an upsert (absent for bare vectors).
#[derive(Clone, Debug, PartialEq)]
pub struct UpsertChunk {
    pub path: String,
    pub language: Language,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub byte_len: u32,
    pub symbol: Option<String>,
    pub hash: [u8; 16],
}

#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Begin {
        batch: u64,
    },
    Upsert {
        id: u64,
        vector: Vec<f32>,
        chunk: Option<UpsertChunk>,
    },
    /// Since 1.3: an upsert of a chunk whose content an earlier copy had
    /// (moved or unchanged code), carrying that copy's PQ reconstruction
    /// instead of a fresh embedding. The vector only navigates: searches
    /// score these upserts exactly by recomputing them from their text.
    UpsertReused {
        id: u64,
        vector: Vec<f32>,
        chunk: UpsertChunk,
    },
    DeleteId {
        id: u64,
    },
    DeletePath {
        path: String,
    },
    Commit {
        batch: u64,
        records: u32,
    },
}

impl Record {
    /// The vector of an upsert (either kind).
    pub fn upsert_vector(&self) -> Option<&[f32]> {
        match self {
            Record::Upsert { vector, .. } | Record::UpsertReused { vector, .. } => Some(vector),
            _ => None,
        }
    }
}

pub fn encode_header(m: &LogMeta) -> Vec<u8> {
    let mut meta = Vec::with_capacity(META_BYTES);
    put_u64(&mut meta, m.salt);
    put_u64(&mut meta, m.seq);
    put_u32(&mut meta, m.dim);
    put_u32(&mut meta, 0);
    header::encode(WAL, 0, &meta)
}

pub fn decode_header(path: &Path, buf: &[u8]) -> Result<LogMeta> {
    let header::Opened {
        meta: mut mc,
        meta_len,
        ..
    } = header::open(WAL, path, buf)?;
    let salt = mc.u64("salt")?;
    let seq = mc.u64("seq")?;
    let dim = mc.u32("dim")?;
    if meta_len != META_BYTES {
        return Err(Error::corrupt(
            path,
            16,
            format!("log metadata is {} bytes, expected {META_BYTES}", meta_len),
        ));
    }
    Ok(LogMeta { salt, seq, dim })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = super::cut_str(s, u16::MAX as usize);
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s.as_bytes());
}

fn salted_crc(salt: u64, parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&salt.to_le_bytes());
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// The payload of an upsert (kinds 2 and 6).
fn put_upsert(p: &mut Vec<u8>, id: u64, vector: &[f32], chunk: Option<&UpsertChunk>) {
    put_u64(p, id);
    put_u32(p, vector.len() as u32);
    super::put_f32s(p, vector);
    match chunk {
        None => p.push(0),
        Some(c) => {
            p.push(1);
            put_str(p, &c.path);
            p.push(c.language.code());
            put_u32(p, c.start_line);
            put_u32(p, c.end_line);
            put_u32(p, c.start_byte);
            put_u32(p, c.byte_len);
            match &c.symbol {
                None => p.push(0),
                Some(s) => {
                    p.push(1);
                    put_str(p, s);
                }
            }
            p.extend_from_slice(&c.hash);
        }
    }
}

/// Append one frame holding `r` to `out`.
pub fn put_frame(out: &mut Vec<u8>, salt: u64, r: &Record) {
    let mut p = Vec::new();
    let kind = match r {
        Record::Begin { batch } => {
            put_u64(&mut p, *batch);
            KIND_BEGIN
        }
        Record::Upsert { id, vector, chunk } => {
            put_upsert(&mut p, *id, vector, chunk.as_ref());
            KIND_UPSERT
        }
        Record::UpsertReused { id, vector, chunk } => {
            put_upsert(&mut p, *id, vector, Some(chunk));
            KIND_UPSERT_REUSED
        }
        Record::DeleteId { id } => {
            put_u64(&mut p, *id);
            KIND_DELETE_ID
        }
        Record::DeletePath { path } => {
            put_str(&mut p, path);
            KIND_DELETE_PATH
        }
        Record::Commit { batch, records } => {
            put_u64(&mut p, *batch);
            put_u32(&mut p, *records);
            KIND_COMMIT
        }
    };
    let len = (p.len() as u32).to_le_bytes();
    out.extend_from_slice(&len);
    put_u32(out, salted_crc(salt, &[&len]));
    out.push(kind);
    out.extend_from_slice(&p);
    put_u32(out, salted_crc(salt, &[&[kind], &p]));
}

/// What is at `off` of a log.
#[derive(Debug)]
pub enum FrameAt {
    /// A valid frame and the offset just past it.
    Frame(Record, u64),
    /// The end of the buffer, exactly.
    End,
    /// Not a valid frame (torn, zeroed, corrupt); the reason.
    Invalid(String),
    /// A frame whose checks pass but whose kind or payload this build cannot
    /// read (a newer writer, or a bug): never a torn write, so never
    /// truncated; the error names the file and offset.
    Unreadable(Error),
}

/// Read the frame at `off` of `buf` (the whole log file).
pub fn frame_at(path: &Path, buf: &[u8], off: u64, salt: u64) -> FrameAt {
    let o = off as usize;
    if o == buf.len() {
        return FrameAt::End;
    }
    if buf.len() - o < 8 {
        return FrameAt::Invalid(format!("{} stray bytes at the end", buf.len() - o));
    }
    let lenb = [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]];
    let len = u32::from_le_bytes(lenb);
    let check = u32::from_le_bytes([buf[o + 4], buf[o + 5], buf[o + 6], buf[o + 7]]);
    if !super::crc_matches(salted_crc(salt, &[&lenb]), check) {
        return FrameAt::Invalid("frame length fails its check".into());
    }
    if len > MAX_PAYLOAD_BYTES {
        return FrameAt::Invalid(format!("frame length {len} too large"));
    }
    let end = o + FRAME_OVERHEAD_BYTES + len as usize;
    if end > buf.len() {
        return FrameAt::Invalid("frame runs past the end of the file".into());
    }
    let kind = buf[o + 8];
    let payload = &buf[o + 9..o + 9 + len as usize];
    let crc = u32::from_le_bytes([buf[end - 4], buf[end - 3], buf[end - 2], buf[end - 1]]);
    if !super::crc_matches(salted_crc(salt, &[&[kind], payload]), crc) {
        return FrameAt::Invalid("frame checksum mismatch".into());
    }
    match decode_payload(path, off + 9, kind, payload) {
        Ok(r) => FrameAt::Frame(r, end as u64),
        Err(e) => FrameAt::Unreadable(e),
    }
}

fn take_str(c: &mut Cursor<'_>, what: &str) -> Result<String> {
    let n = c.u16(what)? as usize;
    let at = c.offset();
    let b = c.bytes(n, what)?;
    String::from_utf8(b.to_vec())
        .map_err(|_| Error::corrupt(c.path, at, format!("{what} is not UTF-8")))
}

/// The payload of an upsert (kinds 2 and 6): id, vector, chunk metadata.
fn take_upsert(path: &Path, c: &mut Cursor<'_>) -> Result<(u64, Vec<f32>, Option<UpsertChunk>)> {
    let id = c.u64("id")?;
    let dim = c.u32("dim")? as usize;
    if dim * 4 > c.remaining() {
        return Err(c.err("truncated vector"));
    }
    let vector = super::f32s_from(c.bytes(dim * 4, "vector")?);
    let chunk = match c.bytes(1, "chunk flag")?[0] {
        0 => None,
        1 => {
            let at = c.offset() + 2;
            let path_s = take_str(c, "path")?;
            super::check_rel_path(path, at, &path_s)?;
            let at = c.offset();
            let code = c.bytes(1, "language")?[0];
            let language = Language::from_code(code)
                .ok_or_else(|| Error::corrupt(path, at, format!("unknown language {code}")))?;
            let start_line = c.u32("start_line")?;
            let end_line = c.u32("end_line")?;
            let start_byte = c.u32("start_byte")?;
            let byte_len = c.u32("byte_len")?;
            let symbol = match c.bytes(1, "symbol flag")?[0] {
                0 => None,
                1 => Some(take_str(c, "symbol")?),
                f => return Err(c.err_back(1, format!("bad symbol flag {f}"))),
            };
            let mut hash = [0u8; 16];
            hash.copy_from_slice(c.bytes(16, "hash")?);
            Some(UpsertChunk {
                path: path_s,
                language,
                start_line,
                end_line,
                start_byte,
                byte_len,
                symbol,
                hash,
            })
        }
        f => return Err(c.err_back(1, format!("bad chunk flag {f}"))),
    };
    Ok((id, vector, chunk))
}

fn decode_payload(path: &Path, base: u64, kind: u8, p: &[u8]) -> Result<Record> {
    let mut c = Cursor::new(path, p, base);
    let r = match kind {
        KIND_BEGIN => Record::Begin {
            batch: c.u64("batch")?,
        },
        KIND_UPSERT => {
            let (id, vector, chunk) = take_upsert(path, &mut c)?;
            Record::Upsert { id, vector, chunk }
        }
        KIND_UPSERT_REUSED => {
            let (id, vector, chunk) = take_upsert(path, &mut c)?;
            let chunk = chunk.ok_or_else(|| {
                Error::corrupt(path, base, "reused upsert without chunk metadata")
            })?;
            Record::UpsertReused { id, vector, chunk }
        }
        KIND_DELETE_ID => Record::DeleteId { id: c.u64("id")? },
        KIND_DELETE_PATH => {
            let at = c.offset() + 2;
            let p = take_str(&mut c, "path")?;
            super::check_rel_path(path, at, &p)?;
            Record::DeletePath { path: p }
        }
        KIND_COMMIT => Record::Commit {
            batch: c.u64("batch")?,
            records: c.u32("records")?,
        },
        k => {
            return Err(Error::corrupt(
                path,
                base - 1,
                format!(
                "unknown record kind {k} (written by a newer leann? this build reads format {}.{})",
                header::FORMAT_MAJOR,
                header::FORMAT_MINOR
            ),
            ))
        }
    };
    if c.remaining() != 0 {
        return Err(c.err("trailing bytes in a frame"));
    }
    Ok(r)
}
