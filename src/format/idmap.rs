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
    decode_packed(path, buf).map(|ids| ids.to_vec())
}

/// An id map kept bit-packed (`n` x `width` bits, plus `base`): open checks
/// every block and that no id overflows, then `get` is a shift and a mask;
/// memory is the packed bytes (about a third of a `Vec<u64>`).
#[derive(Clone, Debug, Default)]
pub struct PackedIds {
    n: usize,
    base: u64,
    width: u32,
    packed: Vec<u8>,
}

impl PackedIds {
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Id of node `i` (< len).
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        debug_assert!(i < self.n);
        // `decode_packed` checked that base + any `width`-bit value fits
        // (or every stored one does).
        self.base
            .wrapping_add(bitpack::get(&self.packed, i, self.width))
    }
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.n).map(|i| self.get(i))
    }
    pub fn to_vec(&self) -> Vec<u64> {
        self.iter().collect()
    }
}

/// Decode an id map, keeping it packed.
pub fn decode_packed(path: &Path, buf: &[u8]) -> Result<PackedIds> {
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
    let ids = PackedIds {
        n: n as usize,
        base,
        width,
        packed,
    };
    let widest = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    if base.checked_add(widest).is_none() {
        // Some width-bit value would overflow: check the stored ones.
        for i in 0..ids.n {
            if base
                .checked_add(bitpack::get(&ids.packed, i, width))
                .is_none()
            {
                return Err(Error::corrupt(path, 52, format!("id {i} overflows u64")));
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_ids_read_as_decoded_and_refuse_overflow() {
        let p = Path::new("seg-00000001.ids");
        let ids: Vec<u64> = (0..5000u64)
            .map(|i| 1_000_000 + i * 7919 % 100_003)
            .collect();
        let b = encode(&ids);
        let packed = decode_packed(p, &b).unwrap();
        assert_eq!(packed.to_vec(), decode(p, &b).unwrap());
        assert_eq!(packed.get(4321), ids[4321]);
        // Near the top of u64: fine while the stored offsets fit...
        let top = [u64::MAX - 3, u64::MAX];
        let b = encode(&top);
        assert_eq!(decode_packed(p, &b).unwrap().to_vec(), top);
        // ...and refused when a stored one does not (a crafted base).
        let mut meta = Vec::new();
        put_u64(&mut meta, 1);
        put_u64(&mut meta, u64::MAX - 1);
        put_u32(&mut meta, 8);
        let mut bad = header::encode(IDMAP, 0, &meta);
        put_blocks(&mut bad, &[5u8]);
        let e = decode_packed(p, &bad).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        assert!(decode(p, &bad).is_err());
    }
}
