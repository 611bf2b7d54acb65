//! Manifest file (SPEC.md, "Manifest"): the live segments of an index and the
//! configuration it was built with. Replaced atomically, never edited in place.

use super::header::{self, MANIFEST};
use super::{expect_end, put_blocks, put_u32, put_u64, take_blocks, Cursor};
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentEntry {
    pub id: u64,
    pub n_vectors: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub generation: u64,
    pub dim: u32,
    pub metric: u32,
    pub segments: Vec<SegmentEntry>,
    /// The index configuration as JSON (UTF-8).
    pub config_json: String,
    /// What the index was built from, as JSON (UTF-8): the embedder's model id
    /// and dimension, the source root, whether segments carry chunk files.
    /// Empty in version 1.0 manifests. Since 1.1.
    pub info_json: String,
    /// The features a reader and a writer of this index must know (since
    /// 1.5; None in older manifests, which are read as using none).
    pub features: Option<Features>,
}

/// Feature bits of an index (SPEC.md F-3): a build refuses to read an index
/// with a read feature it does not know, and to write one with a write
/// feature it does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub read: u32,
    pub write: u32,
}

/// Write feature: writers take the writer lock (`LOCK`, L-1).
pub const W_WRITER_LOCK: u32 = 1 << 0;
/// Write feature: `FILES` (file stamps) must be kept true to the index
/// (T-1..T-4).
pub const W_FILE_STAMPS: u32 = 1 << 1;
/// Write feature: logs may hold reused upserts (record kind 6), which a
/// writer must decode (never take for a torn tail).
pub const W_REUSED_UPSERTS: u32 = 1 << 2;
/// Write feature: every segment has a lexical index (compaction writes
/// one for the new segment).
pub const W_LEXICAL: u32 = 1 << 3;
/// Read features this build knows (none yet: every feature so far can be
/// ignored by a reader).
pub const KNOWN_READ: u32 = 0;
/// Write features this build knows.
pub const KNOWN_WRITE: u32 = W_WRITER_LOCK | W_FILE_STAMPS | W_REUSED_UPSERTS | W_LEXICAL;

pub fn encode(m: &Manifest) -> Vec<u8> {
    let mut meta = Vec::new();
    put_u64(&mut meta, m.generation);
    put_u32(&mut meta, m.dim);
    put_u32(&mut meta, m.metric);
    put_u32(&mut meta, m.segments.len() as u32);
    put_u32(&mut meta, m.config_json.len() as u32);
    put_u32(&mut meta, m.info_json.len() as u32);
    if let Some(f) = m.features {
        put_u32(&mut meta, f.read);
        put_u32(&mut meta, f.write);
    }
    let mut out = header::encode(MANIFEST, 0, &meta);
    let mut body = Vec::new();
    for s in &m.segments {
        put_u64(&mut body, s.id);
        put_u64(&mut body, s.n_vectors);
    }
    body.extend_from_slice(m.config_json.as_bytes());
    body.extend_from_slice(m.info_json.as_bytes());
    put_blocks(&mut out, &body);
    out
}

pub fn decode(path: &Path, buf: &[u8]) -> Result<Manifest> {
    let header::Opened {
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(MANIFEST, path, buf)?;
    let generation = mc.u64("generation")?;
    let dim = mc.u32("dim")?;
    let metric = mc.u32("metric")?;
    let n_seg = mc.u32("n_segments")? as u64;
    let cfg_len = mc.u32("config_len")? as u64;
    // Version 1.0 metadata ends here; 1.1 adds info_len.
    let info_len = if mc.remaining() >= 4 {
        mc.u32("info_len")? as u64
    } else {
        0
    };
    // 1.5 adds the feature bits.
    let features = if mc.remaining() >= 8 {
        Some(Features {
            read: mc.u32("read_features")?,
            write: mc.u32("write_features")?,
        })
    } else {
        None
    };
    let len = n_seg * 16 + cfg_len + info_len;
    if len > c.remaining() as u64 {
        return Err(c.err(format!("truncated: body of {len} bytes declared")));
    }
    let body_off = c.offset();
    let body = take_blocks(&mut c, len as usize, "manifest body")?;
    expect_end(&c)?;
    let mut b = Cursor::new(path, &body, body_off);
    let mut segments = Vec::with_capacity(n_seg as usize);
    for _ in 0..n_seg {
        let id = b.u64("segment id")?;
        let n_vectors = b.u64("segment size")?;
        segments.push(SegmentEntry { id, n_vectors });
    }
    let config_json = String::from_utf8(b.bytes(cfg_len as usize, "config")?.to_vec())
        .map_err(|_| Error::corrupt(path, body_off + n_seg * 16, "config is not UTF-8"))?;
    let info_json = String::from_utf8(b.bytes(info_len as usize, "info")?.to_vec())
        .map_err(|_| Error::corrupt(path, body_off + n_seg * 16 + cfg_len, "info is not UTF-8"))?;
    Ok(Manifest {
        generation,
        dim,
        metric,
        segments,
        config_json,
        info_json,
        features,
    })
}
