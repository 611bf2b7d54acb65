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
}

pub fn encode(m: &Manifest) -> Vec<u8> {
    let mut meta = Vec::new();
    put_u64(&mut meta, m.generation);
    put_u32(&mut meta, m.dim);
    put_u32(&mut meta, m.metric);
    put_u32(&mut meta, m.segments.len() as u32);
    put_u32(&mut meta, m.config_json.len() as u32);
    put_u32(&mut meta, m.info_json.len() as u32);
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
    let mut c = Cursor::new(path, buf, 0);
    let (_, meta) = header::decode(MANIFEST, &mut c)?;
    let mut mc = Cursor::new(path, meta, header::HEADER_BYTES as u64);
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
    })
}
