//! File stamps file `FILES` (SPEC.md, "File stamps"): per source file, the
//! size and modification time seen when its content was last checked against
//! the index, and a digest of the index's chunks for it then. A cache that
//! lets `leann index update` skip reading unchanged files.

use super::header::{self, STAMPS};
use super::{expect_end, put_blocks, put_u16, put_u64, take_blocks, Cursor};
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
}

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
    let mut out = header::encode(STAMPS, 0, &meta);
    put_blocks(&mut out, &body);
    out
}

pub fn decode(path: &Path, buf: &[u8]) -> Result<Stamps> {
    let header::Opened {
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(STAMPS, path, buf)?;
    let n = mc.u64("n_entries")?;
    let taken_ns = mc.u64("taken_ns")? as i64;
    let body_len = mc.u64("entries_bytes")?;
    let root_len = mc.u16("root length")? as usize;
    let root = std::str::from_utf8(mc.bytes(root_len, "root")?)
        .map_err(|_| mc.err_back(root_len, "root is not UTF-8"))?
        .to_string();
    if body_len > c.remaining() as u64 || n > body_len / ENTRY_FIXED_BYTES as u64 {
        return Err(c.err(format!(
            "truncated: {n} entries in {body_len} bytes declared"
        )));
    }
    let base = c.offset();
    let body = take_blocks(&mut c, body_len as usize, "stamps")?;
    expect_end(&c)?;
    // Offsets in errors below are within the entries (before block framing).
    let mut bc = Cursor::new(path, &body, base);
    let mut entries: Vec<Stamp> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = bc.u16("path length")? as usize;
        let p = std::str::from_utf8(bc.bytes(len, "path")?)
            .map_err(|_| bc.err_back(len, "path is not UTF-8"))?
            .to_string();
        super::check_rel_path(path, bc.offset() - len as u64, &p)?;
        if entries.last().is_some_and(|l| l.path >= p) {
            return Err(bc.err_back(len, format!("path {p:?} out of order")));
        }
        let size = bc.u64("size")?;
        let mtime_ns = bc.u64("mtime")? as i64;
        let mut digest = [0u8; 8];
        digest.copy_from_slice(bc.bytes(8, "digest")?);
        entries.push(Stamp {
            path: p,
            size,
            mtime_ns,
            digest,
        });
    }
    if bc.remaining() != 0 {
        return Err(Error::corrupt(
            path,
            bc.offset(),
            format!("{} bytes after the last entry", bc.remaining()),
        ));
    }
    Ok(Stamps {
        taken_ns,
        root,
        entries,
    })
}
