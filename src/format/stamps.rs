//! File stamps file `FILES` (SPEC.md, "File stamps"): per source file, the
//! size and modification time seen when its content was last checked against
//! the index, and a digest of the index's chunks for it then. A cache that
//! lets `leann index update` skip reading unchanged files.

use super::header::{self, STAMPS};
use super::{put_blocks, put_u16, put_u64, Cursor};
use crate::error::{Error, Result};
use std::path::Path;

/// File name inside the index directory.
pub const FILE_NAME: &str = "FILES";

/// One source file's stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Path relative to the root, '/'-separated.
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    /// First 8 bytes of BLAKE3 over the index's chunks of this path (SPEC).
    pub digest: [u8; 8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamps {
    /// When the stamps were taken (the walk's start), ns since the Unix epoch.
    pub taken_ns: i64,
    /// The tree the paths are relative to (absolute, UTF-8).
    pub root: String,
    /// Sorted by path, no duplicates.
    pub entries: Vec<Stamp>,
    /// The index state the digests describe (since 1.9; SPEC.md T-6).
    pub state: Option<IndexState>,
}

/// The state of an index when its stamps were written (SPEC.md T-6): while
/// the manifest is the same and the log has only grown since, the index's
/// chunks changed only for the paths the log names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IndexState {
    /// The first 16 bytes of BLAKE3 over the `MANIFEST` file.
    pub manifest: [u8; 16],
    /// Sequence number of the last log at or past `logStart` (0: none).
    pub log_seq: u64,
    /// That log's length in bytes.
    pub log_bytes: u64,
}

/// Bytes of an `IndexState` in the metadata.
const STATE_BYTES: usize = 16 + 8 + 8;

/// Entry bytes: u16 path length, path, u64 size, i64 mtime, 8-byte digest.
const ENTRY_FIXED_BYTES: usize = 2 + 8 + 8 + 8;

pub fn encode(s: &Stamps) -> Vec<u8> {
    let root = super::cut_str(&s.root, u16::MAX as usize);
    let mut body = Vec::new();
    for e in &s.entries {
        let p = super::cut_str(&e.path, u16::MAX as usize);
        put_u16(&mut body, p.len() as u16);
        body.extend_from_slice(p.as_bytes());
        put_u64(&mut body, e.size);
        put_u64(&mut body, e.mtime_ns as u64);
        body.extend_from_slice(&e.digest);
    }
    let mut meta = Vec::new();
    put_u64(&mut meta, s.entries.len() as u64);
    put_u64(&mut meta, s.taken_ns as u64);
    put_u64(&mut meta, body.len() as u64);
    put_u16(&mut meta, root.len() as u16);
    meta.extend_from_slice(root.as_bytes());
    if let Some(st) = &s.state {
        meta.extend_from_slice(&st.manifest);
        put_u64(&mut meta, st.log_seq);
        put_u64(&mut meta, st.log_bytes);
    }
    let mut out = header::encode(STAMPS, 0, &meta);
    put_blocks(&mut out, &body);
    out
}

/// One entry as `Head::for_each` reads it, borrowing its path.
#[derive(Clone, Copy, Debug)]
pub struct StampRef<'a> {
    pub path: &'a str,
    pub size: u64,
    pub mtime_ns: i64,
    pub digest: [u8; 8],
}

impl From<StampRef<'_>> for Stamp {
    fn from(e: StampRef<'_>) -> Stamp {
        Stamp {
            path: e.path.to_string(),
            size: e.size,
            mtime_ns: e.mtime_ns,
            digest: e.digest,
        }
    }
}

/// A `FILES` file's header and metadata; its entries are read in path order
/// by `for_each` from the file's bytes (a mapping), a block at a time, so
/// that no table of all entries is built.
#[derive(Clone, Debug)]
pub struct Head {
    pub n: u64,
    pub taken_ns: i64,
    pub root: String,
    pub state: Option<IndexState>,
    body_len: u64,
    /// File offset of the entries' first block.
    body_start: u64,
}

/// Decode the header and metadata of a `FILES` file and check that the
/// entries' blocks fill the rest of it exactly.
pub fn open(path: &Path, buf: &[u8]) -> Result<Head> {
    let header::Opened {
        meta: mut mc,
        body: c,
        ..
    } = header::open(STAMPS, path, buf)?;
    let n = mc.u64("n_entries")?;
    let taken_ns = mc.u64("taken_ns")? as i64;
    let body_len = mc.u64("entries_bytes")?;
    let root_len = mc.u16("root length")? as usize;
    let root = std::str::from_utf8(mc.bytes(root_len, "root")?)
        .map_err(|_| mc.err_back(root_len, "root is not UTF-8"))?
        .to_string();
    // Since 1.9; a FILES without it (or with fewer bytes, which F-3 lets
    // a reader ignore) describes no state, and T-6 does not apply.
    let state = if mc.remaining() >= STATE_BYTES {
        let mut manifest = [0u8; 16];
        manifest.copy_from_slice(mc.bytes(16, "index state: manifest digest")?);
        Some(IndexState {
            manifest,
            log_seq: mc.u64("index state: log")?,
            log_bytes: mc.u64("index state: log bytes")?,
        })
    } else {
        None
    };
    if body_len > c.remaining() as u64 || n > body_len / ENTRY_FIXED_BYTES as u64 {
        return Err(c.err(format!(
            "truncated: {n} entries in {body_len} bytes declared"
        )));
    }
    let encoded = super::blocks_encoded_len(body_len as usize);
    if c.remaining() != encoded {
        let e = if c.remaining() < encoded {
            format!("truncated: {body_len} entry bytes need {encoded} bytes of blocks")
        } else {
            format!("{} unexpected trailing bytes", c.remaining() - encoded)
        };
        return Err(c.err(e));
    }
    Ok(Head {
        n,
        taken_ns,
        root,
        state,
        body_len,
        body_start: c.offset(),
    })
}

impl Head {
    /// Call `f` with every entry in path order, reading `buf` (the whole
    /// file, as `open` saw it) a block at a time: each block's CRC is
    /// checked when reached, each entry's path checked (P-1) and its order.
    /// Offsets in errors are within the entries (before block framing),
    /// from the entries' start.
    pub fn for_each(
        &self,
        path: &Path,
        buf: &[u8],
        mut f: impl FnMut(StampRef<'_>) -> Result<()>,
    ) -> Result<()> {
        let block = super::BLOCK_DATA_BYTES;
        let mut pos = self.body_start as usize;
        let mut left = self.body_len as usize;
        // Bytes of entries not yet read: the end of one block and the start
        // of the next when an entry spans both.
        let mut carry: Vec<u8> = Vec::with_capacity(block + 1024);
        let mut carry_at = 0u64; // logical offset of carry[0]
        let mut last: Vec<u8> = Vec::new();
        let mut seen = 0u64;
        while left > 0 || !carry.is_empty() {
            if left > 0 {
                let n = left.min(block);
                let data = buf
                    .get(pos..pos + n)
                    .ok_or_else(|| Error::corrupt(path, pos as u64, "truncated stamps block"))?;
                let crc = buf.get(pos + n..pos + n + 4).ok_or_else(|| {
                    Error::corrupt(path, (pos + n) as u64, "truncated stamps block")
                })?;
                let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
                if !super::crc_matches(crc32fast::hash(data), crc) {
                    return Err(Error::corrupt(
                        path,
                        pos as u64,
                        "checksum mismatch in stamps block",
                    ));
                }
                carry.extend_from_slice(data);
                pos += n + 4;
                left -= n;
            }
            let base = self.body_start + carry_at;
            let mut bc = Cursor::new(path, &carry, base);
            let mut used = 0usize;
            loop {
                if seen == self.n {
                    break;
                }
                // A whole entry, or wait for the next block (when there is one).
                let avail = carry.len() - used;
                let need = if avail >= 2 {
                    2 + u16::from_le_bytes([carry[used], carry[used + 1]]) as usize + 24
                } else {
                    2
                };
                if avail < need {
                    if left > 0 {
                        break;
                    }
                    return Err(Error::corrupt(
                        path,
                        base + used as u64,
                        format!("truncated: entry {seen} of {} cut short", self.n),
                    ));
                }
                let len = bc.u16("path length")? as usize;
                let p = std::str::from_utf8(bc.bytes(len, "path")?)
                    .map_err(|_| bc.err_back(len, "path is not UTF-8"))?;
                super::check_rel_path(path, bc.offset() - len as u64, p)?;
                if seen > 0 && last.as_slice() >= p.as_bytes() {
                    return Err(bc.err_back(len, format!("path {p:?} out of order")));
                }
                let size = bc.u64("size")?;
                let mtime_ns = bc.u64("mtime")? as i64;
                let mut digest = [0u8; 8];
                digest.copy_from_slice(bc.bytes(8, "digest")?);
                f(StampRef {
                    path: p,
                    size,
                    mtime_ns,
                    digest,
                })?;
                last.clear();
                last.extend_from_slice(p.as_bytes());
                used += need;
                seen += 1;
            }
            if seen == self.n {
                let rest = carry.len() - used + left;
                if rest != 0 {
                    return Err(Error::corrupt(
                        path,
                        base + used as u64,
                        format!("{rest} bytes after the last entry"),
                    ));
                }
                return Ok(());
            }
            carry.drain(..used);
            carry_at += used as u64;
        }
        if seen != self.n {
            return Err(Error::corrupt(
                path,
                self.body_start + self.body_len,
                format!("truncated: {seen} of {} entries", self.n),
            ));
        }
        Ok(())
    }
}

/// Decode a whole `FILES` file (`open` and every entry of `for_each`).
pub fn decode(path: &Path, buf: &[u8]) -> Result<Stamps> {
    let head = open(path, buf)?;
    let mut entries: Vec<Stamp> = Vec::with_capacity(head.n.min(1 << 20) as usize);
    head.for_each(path, buf, |e| {
        entries.push(e.into());
        Ok(())
    })?;
    Ok(Stamps {
        taken_ns: head.taken_ns,
        root: head.root,
        entries,
        state: head.state,
    })
}
