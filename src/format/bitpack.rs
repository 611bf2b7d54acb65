//! Fixed-width little-endian bit packing (SPEC.md, "Bit-packed integers"):
//! value i occupies bits [i*w, (i+1)*w) of the byte string, least significant
//! bit first.

/// Bits needed to represent every value in 0..=max (at least 1).
pub fn bits_for(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
}

pub fn packed_len(count: usize, width: u32) -> usize {
    (count * width as usize).div_ceil(8)
}

/// Pack `vals` with `width` bits each into `out` (which must be packed_len long
/// and zeroed).
pub fn pack(vals: impl IntoIterator<Item = u64>, width: u32, out: &mut [u8]) {
    debug_assert!((1..=64).contains(&width));
    let mut bit = 0usize;
    for v in vals {
        debug_assert!(width == 64 || v < (1u64 << width), "value exceeds width");
        let mut v = v;
        let mut left = width as usize;
        while left > 0 {
            let byte = bit / 8;
            let off = bit % 8;
            let take = (8 - off).min(left);
            let mask = ((1u16 << take) - 1) as u8;
            out[byte] |= ((v as u8) & mask) << off;
            v >>= take;
            bit += take;
            left -= take;
        }
    }
}

/// Read value `i` of width `width` from `buf`. The caller guarantees the buffer
/// holds at least `packed_len(i + 1, width)` bytes.
#[inline]
pub fn get(buf: &[u8], i: usize, width: u32) -> u64 {
    let start = i * width as usize;
    let byte = start / 8;
    let off = start % 8;
    // Fast path: read 8 bytes at once when they are all in the buffer.
    if width <= 56 && byte + 8 <= buf.len() {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[byte..byte + 8]);
        let w = u64::from_le_bytes(a);
        return (w >> off) & ((1u64 << width) - 1);
    }
    let mut v = 0u64;
    let mut got = 0usize;
    let mut bit = start;
    while got < width as usize {
        let b = bit / 8;
        let o = bit % 8;
        let take = (8 - o).min(width as usize - got);
        let part = (buf[b] as u64 >> o) & ((1u64 << take) - 1);
        v |= part << got;
        got += take;
        bit += take;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip_widths() {
        for width in [1u32, 3, 7, 8, 13, 15, 20, 31, 32, 33, 63, 64] {
            let max = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            let vals: Vec<u64> = (0..100u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & max)
                .collect();
            let mut buf = vec![0u8; packed_len(vals.len(), width)];
            pack(vals.iter().copied(), width, &mut buf);
            for (i, v) in vals.iter().enumerate() {
                assert_eq!(get(&buf, i, width), *v, "width {width} index {i}");
            }
        }
    }
    #[test]
    fn bits_for_values() {
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2), 2);
        assert_eq!(bits_for(23_999), 15);
        assert_eq!(bits_for(u64::MAX), 64);
    }
}
