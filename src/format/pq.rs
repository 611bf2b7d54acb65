//! Anchors + PQ codebook file (SPEC.md, "Anchors + PQ codebook file").

use super::header::{self, PQ, PQ_FLAG_F16};
use super::{expect_end, f32s_from, put_blocks, put_f32s, put_u32, take_blocks, u32s_from, Cursor};
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct PqFile {
    pub metric: u32,
    pub dim: u32,
    /// Anchor centroids, n_anchors x dim, row-major.
    pub anchors: Vec<f32>,
    /// Per anchor, the segment-local node nearest to it (a search entry point).
    pub entries: Vec<u32>,
    /// Number of sub-vectors (sub-quantizers).
    pub m: u32,
    /// Centroids per sub-quantizer (<= 256, one byte per code).
    pub ksub: u32,
    /// Codebooks, m x ksub x (dim / m), row-major.
    pub codebooks: Vec<f32>,
}

impl PqFile {
    pub fn n_anchors(&self) -> usize {
        self.entries.len()
    }
}

/// Whether every value is exactly a binary16 value (then the file stores
/// them in 2 bytes each, flag `PQ_FLAG_F16`; builds since 1.6 round their
/// anchors and codebooks so, files of earlier builds stay f32).
fn exact_f16(values: &[f32]) -> bool {
    values
        .iter()
        .all(|&x| half::f16::from_f32(x).to_f32().to_bits() == x.to_bits())
}

fn put_values(out: &mut Vec<u8>, v: &[f32], f16: bool) {
    if f16 {
        out.reserve(v.len() * 2);
        for &x in v {
            out.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
        }
    } else {
        put_f32s(out, v);
    }
}

fn values_from(b: &[u8], f16: bool) -> Vec<f32> {
    if f16 {
        b.chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()
    } else {
        f32s_from(b)
    }
}

pub fn encode(p: &PqFile) -> Vec<u8> {
    let f16 = exact_f16(&p.anchors) && exact_f16(&p.codebooks);
    let mut meta = Vec::new();
    put_u32(&mut meta, p.metric);
    put_u32(&mut meta, p.dim);
    put_u32(&mut meta, p.entries.len() as u32);
    put_u32(&mut meta, p.m);
    put_u32(&mut meta, p.ksub);
    let mut out = header::encode(PQ, if f16 { PQ_FLAG_F16 } else { 0 }, &meta);
    let mut tmp = Vec::new();
    put_values(&mut tmp, &p.anchors, f16);
    put_blocks(&mut out, &tmp);
    tmp.clear();
    for e in &p.entries {
        put_u32(&mut tmp, *e);
    }
    put_blocks(&mut out, &tmp);
    tmp.clear();
    put_values(&mut tmp, &p.codebooks, f16);
    put_blocks(&mut out, &tmp);
    out
}

pub fn decode(path: &Path, buf: &[u8]) -> Result<PqFile> {
    let header::Opened {
        header: h,
        meta: mut m,
        body: mut c,
        ..
    } = header::open(PQ, path, buf)?;
    let f16 = h.flags & PQ_FLAG_F16 != 0;
    let width: u64 = if f16 { 2 } else { 4 };
    let metric = m.u32("metric")?;
    let dim = m.u32("dim")?;
    let n_anchors = m.u32("n_anchors")?;
    let subs = m.u32("m")?;
    let ksub = m.u32("ksub")?;
    let bad = |off: u64, w: &str| Error::corrupt(path, off, w.to_string());
    if dim == 0 || dim > 65_536 {
        return Err(bad(36, "dimension out of range"));
    }
    if n_anchors == 0 || n_anchors > 1 << 24 {
        return Err(bad(40, "anchor count out of range"));
    }
    if subs == 0 || dim % subs != 0 {
        return Err(bad(44, "sub-vector count must divide the dimension"));
    }
    if ksub == 0 || ksub > 256 {
        return Err(bad(48, "codebook size must be in 1..=256"));
    }
    let need = |c: &Cursor<'_>, n: u64, w: u64| -> Result<usize> {
        if n * w > c.remaining() as u64 {
            Err(c.err(format!("truncated: body needs {} bytes", n * w)))
        } else {
            Ok((n * w) as usize)
        }
    };
    let anchors_len = need(&c, n_anchors as u64 * dim as u64, width)?;
    let anchors = values_from(&take_blocks(&mut c, anchors_len, "anchors")?, f16);
    let entries_len = need(&c, n_anchors as u64, 4)?;
    let entries = u32s_from(&take_blocks(&mut c, entries_len, "anchor entries")?);
    let cb_len = need(&c, ksub as u64 * dim as u64, width)?;
    let codebooks = values_from(&take_blocks(&mut c, cb_len, "codebooks")?, f16);
    expect_end(&c)?;
    if anchors
        .iter()
        .chain(codebooks.iter())
        .any(|x| !x.is_finite())
    {
        return Err(bad(
            header::HEADER_BYTES as u64,
            "non-finite value in anchors or codebooks",
        ));
    }
    Ok(PqFile {
        metric,
        dim,
        anchors,
        entries,
        m: subs,
        ksub,
        codebooks,
    })
}
