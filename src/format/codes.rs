//! PQ codes file (SPEC.md, "PQ codes file"): per node, its anchor id, its m
//! one-byte codes of the residual x - anchor, and for the L2 metric the squared
//! norm of its reconstruction.

use super::header::{self, CODES};
use super::{expect_end, put_blocks, put_u32, put_u64, take_blocks};
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct CodesFile {
    pub m: u32,
    /// Anchor id per node.
    pub anchors: Vec<u32>,
    /// n x m codes, row-major.
    pub codes: Vec<u8>,
    /// Squared norm of each node's reconstruction (L2 metric only).
    pub norms: Option<Vec<f32>>,
}

impl CodesFile {
    pub fn len(&self) -> usize {
        self.anchors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
    /// Bytes used for the anchor id of each record.
    pub fn anchor_bytes(n_anchors: usize) -> u32 {
        if n_anchors <= 1 << 16 {
            2
        } else {
            4
        }
    }
}

pub fn encode(c: &CodesFile, n_anchors: usize) -> Vec<u8> {
    let ab = CodesFile::anchor_bytes(n_anchors);
    let mut meta = Vec::new();
    put_u64(&mut meta, c.len() as u64);
    put_u32(&mut meta, c.m);
    put_u32(&mut meta, ab);
    put_u32(&mut meta, c.norms.is_some() as u32);
    let mut out = header::encode(CODES, 0, &meta);
    let m = c.m as usize;
    let mut body = Vec::with_capacity(c.len() * (m + 8));
    for i in 0..c.len() {
        let a = c.anchors[i];
        if ab == 2 {
            body.extend_from_slice(&(a as u16).to_le_bytes());
        } else {
            put_u32(&mut body, a);
        }
        body.extend_from_slice(&c.codes[i * m..(i + 1) * m]);
        if let Some(n) = &c.norms {
            body.extend_from_slice(&n[i].to_le_bytes());
        }
    }
    put_blocks(&mut out, &body);
    out
}

pub fn decode(path: &Path, buf: &[u8]) -> Result<CodesFile> {
    let header::Opened {
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(CODES, path, buf)?;
    let n = mc.u64("n")?;
    let m = mc.u32("m")?;
    let ab = mc.u32("anchor_bytes")?;
    let has_norm = mc.u32("has_norms")?;
    if m == 0 || m > 65_536 {
        return Err(Error::corrupt(
            path,
            40,
            format!("sub-vector count {m} out of range"),
        ));
    }
    if ab != 2 && ab != 4 {
        return Err(Error::corrupt(
            path,
            44,
            format!("anchor id width {ab} not 2 or 4"),
        ));
    }
    if has_norm > 1 {
        return Err(Error::corrupt(path, 48, "has_norms must be 0 or 1"));
    }
    let rec = ab as u64 + m as u64 + 4 * has_norm as u64;
    if n.saturating_mul(rec) > c.remaining() as u64 {
        return Err(c.err(format!("truncated: {n} records of {rec} bytes declared")));
    }
    let body = take_blocks(&mut c, (n * rec) as usize, "codes")?;
    expect_end(&c)?;
    let (n, m, rec) = (n as usize, m as usize, rec as usize);
    let mut anchors = Vec::with_capacity(n);
    let mut codes = Vec::with_capacity(n * m);
    let mut norms = if has_norm == 1 {
        Some(Vec::with_capacity(n))
    } else {
        None
    };
    for r in body.chunks_exact(rec) {
        let (a, rest) = r.split_at(ab as usize);
        anchors.push(if ab == 2 {
            u16::from_le_bytes([a[0], a[1]]) as u32
        } else {
            u32::from_le_bytes([a[0], a[1], a[2], a[3]])
        });
        codes.extend_from_slice(&rest[..m]);
        if let Some(v) = norms.as_mut() {
            let b = &rest[m..m + 4];
            v.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        }
    }
    Ok(CodesFile {
        m: m as u32,
        anchors,
        codes,
        norms,
    })
}
