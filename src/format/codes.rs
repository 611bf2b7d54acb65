//! PQ codes file (SPEC.md, "PQ codes file"): per node, its anchor id, its m
//! one-byte codes of the residual x - anchor, and for the L2 metric the squared
//! norm of its reconstruction.

use super::header::{self, CODES, CODES_FLAG_SMALL_BLOCKS};
use super::{put_u32, put_u64, BlockSink};
use super::{BLOCK_DATA_BYTES, SMALL_BLOCK_DATA_BYTES};
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct CodesFile {
    /// Body blocks of `SMALL_BLOCK_DATA_BYTES` (since 1.7; older files use
    /// 64 KiB blocks). Encoders of new files set it.
    pub small_blocks: bool,
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
    let mut out = Vec::new();
    let written = write(
        &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        },
        c,
        c.small_blocks,
        n_anchors,
        &|i| i,
    );
    // The sink above never fails.
    debug_assert!(written.is_ok());
    out
}

/// [`encode`]'s bytes for the file whose record i is `c`'s record
/// `order(i)`, in blocks of `SMALL_BLOCK_DATA_BYTES` with `small_blocks`
/// (whatever `c.small_blocks` says), streamed to `out` a block at a time
/// (no reordered copy, no encoded copy). Returns the bytes written.
pub fn write(
    out: &mut super::Sink<'_>,
    c: &CodesFile,
    small_blocks: bool,
    n_anchors: usize,
    order: &dyn Fn(usize) -> usize,
) -> Result<u64> {
    let ab = CodesFile::anchor_bytes(n_anchors);
    let mut meta = Vec::new();
    put_u64(&mut meta, c.len() as u64);
    put_u32(&mut meta, c.m);
    put_u32(&mut meta, ab);
    put_u32(&mut meta, c.norms.is_some() as u32);
    let (flags, block) = if small_blocks {
        (CODES_FLAG_SMALL_BLOCKS, SMALL_BLOCK_DATA_BYTES)
    } else {
        (0, BLOCK_DATA_BYTES)
    };
    let mut written = 0u64;
    let mut counted = |b: &[u8]| {
        written += b.len() as u64;
        out(b)
    };
    counted(&header::encode(CODES, flags, &meta))?;
    let m = c.m as usize;
    let mut s = BlockSink::new(&mut counted, block);
    let mut rec = Vec::with_capacity(m + 8);
    for i in 0..c.len() {
        let o = order(i);
        rec.clear();
        let a = c.anchors[o];
        if ab == 2 {
            rec.extend_from_slice(&(a as u16).to_le_bytes());
        } else {
            put_u32(&mut rec, a);
        }
        rec.extend_from_slice(&c.codes[o * m..(o + 1) * m]);
        if let Some(n) = &c.norms {
            rec.extend_from_slice(&n[o].to_le_bytes());
        }
        s.put(&rec)?;
    }
    s.finish()?;
    Ok(written)
}

/// Decode the whole file, verifying every block (validate, tools, tests);
/// the same checks as [`decode_lazy`], which queries use.
pub fn decode(path: &Path, buf: &[u8]) -> Result<CodesFile> {
    let l = decode_lazy(path, buf)?;
    let body = l.body.read_vec(path, buf, 0, l.body.len())?;
    let (n, m, rec, ab) = (l.n, l.m, l.record_bytes, l.anchor_bytes);
    let mut anchors = Vec::with_capacity(n);
    let mut codes = Vec::with_capacity(n * m);
    let mut norms = if l.has_norms {
        Some(Vec::with_capacity(n))
    } else {
        None
    };
    for r in body.chunks_exact(rec) {
        let (a, rest) = r.split_at(ab);
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
        small_blocks: l.small_blocks,
        m: m as u32,
        anchors,
        codes,
        norms,
    })
}

/// A PQ codes file read in place (SPEC.md F-8): the header and metadata
/// are checked at open, each record is read from the mapping when the
/// search asks for it, its block's CRC verified on first touch.
pub struct CodesLazy {
    /// Header flag bit 0: 4 KiB blocks.
    pub small_blocks: bool,
    pub n: usize,
    pub m: usize,
    anchor_bytes: usize,
    pub has_norms: bool,
    record_bytes: usize,
    body: super::lazy::LazyBlocks,
}

/// Open a codes file for lazy reads; `buf` is the whole file.
pub fn decode_lazy(path: &Path, buf: &[u8]) -> Result<CodesLazy> {
    let header::Opened {
        header: h,
        meta: mut mc,
        body: c,
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
    let start = c.offset() as usize;
    let small_blocks = h.flags & CODES_FLAG_SMALL_BLOCKS != 0;
    let block = if small_blocks {
        SMALL_BLOCK_DATA_BYTES
    } else {
        BLOCK_DATA_BYTES
    };
    let body = super::lazy::LazyBlocks::with_block(
        path,
        buf.len(),
        start,
        (n * rec) as usize,
        "codes",
        block,
    )?;
    if body.end() != buf.len() {
        return Err(Error::corrupt(
            path,
            body.end() as u64,
            format!("{} unexpected trailing bytes", buf.len() - body.end()),
        ));
    }
    Ok(CodesLazy {
        small_blocks,
        n: n as usize,
        m: m as usize,
        anchor_bytes: ab as usize,
        has_norms: has_norm == 1,
        record_bytes: rec as usize,
        body,
    })
}

impl CodesLazy {
    /// Record `i` (< n): its m codes into `codes[..m]`; returns its anchor
    /// id and norm (0 without norms). The caller checks the values' ranges.
    pub fn read(&self, path: &Path, buf: &[u8], i: usize, codes: &mut [u8]) -> Result<(u32, f32)> {
        let mut head = [0u8; 4];
        let off = i * self.record_bytes;
        let ab = self.anchor_bytes;
        if self.record_bytes <= 256 {
            // The common case: one read of the whole record.
            let mut r = [0u8; 256];
            let r = &mut r[..self.record_bytes];
            self.body.read(path, buf, off, r)?;
            head[..ab].copy_from_slice(&r[..ab]);
            codes[..self.m].copy_from_slice(&r[ab..ab + self.m]);
            let anchor = if ab == 2 {
                u16::from_le_bytes([head[0], head[1]]) as u32
            } else {
                u32::from_le_bytes(head)
            };
            let norm = if self.has_norms {
                let b = &r[ab + self.m..ab + self.m + 4];
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            } else {
                0.0
            };
            return Ok((anchor, norm));
        }
        self.body.read(path, buf, off, &mut head[..ab])?;
        self.body.read(path, buf, off + ab, &mut codes[..self.m])?;
        let anchor = if ab == 2 {
            u16::from_le_bytes([head[0], head[1]]) as u32
        } else {
            u32::from_le_bytes(head)
        };
        let mut norm = 0.0;
        if self.has_norms {
            let mut b = [0u8; 4];
            self.body.read(path, buf, off + ab + self.m, &mut b)?;
            norm = f32::from_le_bytes(b);
        }
        Ok((anchor, norm))
    }

    /// File offset of record `i` (for messages).
    pub fn offset(&self, i: usize) -> u64 {
        self.body.file_offset(i * self.record_bytes)
    }

    /// Verify every block (validate).
    pub fn verify_all(&self, path: &Path, buf: &[u8]) -> Result<()> {
        self.body.verify_all(path, buf)
    }
}
