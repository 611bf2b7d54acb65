//! Id map file (SPEC.md, "Id map file"): segment-local node id -> external chunk
//! id, stored frame-of-reference: a base and bit-packed offsets from it.

use super::bitpack;
use super::header::{self, IDMAP};
use super::{expect_end, put_blocks, put_u32, put_u64, take_blocks};
use crate::error::{Error, Result};
use std::path::Path;

pub fn encode(ids: &[u64]) -> Vec<u8> {
    let base = ids.iter().copied().min().unwrap_or(0);
    let max = ids.iter().map(|x| x - base).max().unwrap_or(0);
    let width = bitpack::bits_for(max);
    let mut meta = Vec::new();
    put_u64(&mut meta, ids.len() as u64);
    put_u64(&mut meta, base);
    put_u32(&mut meta, width);
    let mut out = header::encode(IDMAP, 0, &meta);
    let mut packed = vec![0u8; bitpack::packed_len(ids.len(), width)];
    bitpack::pack(ids.iter().map(|x| x - base), width, &mut packed);
    put_blocks(&mut out, &packed);
    out
}

pub fn decode(path: &Path, buf: &[u8]) -> Result<Vec<u64>> {
    let header::Opened {
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(IDMAP, path, buf)?;
    let n = mc.u64("n")?;
    let base = mc.u64("base")?;
    let width = mc.u32("width")?;
    if !(1..=64).contains(&width) {
        return Err(Error::corrupt(
            path,
            48,
            format!("id width {width} out of range"),
        ));
    }
    let len = (n as u128 * width as u128).div_ceil(8);
    if len > c.remaining() as u128 {
        return Err(c.err(format!("truncated: {n} ids of {width} bits declared")));
    }
    let packed = take_blocks(&mut c, len as usize, "ids")?;
    expect_end(&c)?;
    let mut ids = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let v = bitpack::get(&packed, i, width);
        ids.push(
            base.checked_add(v)
                .ok_or_else(|| Error::corrupt(path, 52, format!("id {i} overflows u64")))?,
        );
    }
    Ok(ids)
}
