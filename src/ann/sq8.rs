//! 8-bit scalar quantization used only while building the graph: a global
//! symmetric scale maps every value to an i8, so the build's millions of
//! distance computations touch a quarter of the memory of f32 vectors.

use crate::ann::distance::Metric;
use crate::ann::vectors::VectorSource;
use rayon::prelude::*;

pub struct Sq8Vectors {
    data: Vec<i8>,
    dim: usize,
    /// Multiply an integer dot/L2 by this to get the float value.
    scale2: f32,
    metric: Metric,
}

impl Sq8Vectors {
    pub fn new(src: &dyn VectorSource, metric: Metric) -> Self {
        let (n, dim) = (src.len(), src.dim());
        let mut max = 0f32;
        crate::ann::vectors::in_blocks(src, |rows| {
            let m = rows
                .into_par_iter()
                .map(|i| src.vector(i).iter().fold(0f32, |m, x| m.max(x.abs())))
                .reduce(|| 0f32, f32::max);
            max = max.max(m);
        });
        let q = if max > 0.0 { 127.0 / max } else { 1.0 };
        let mut data = vec![0i8; n * dim];
        crate::ann::vectors::in_blocks(src, |rows| {
            let start = rows.start;
            data[rows.start * dim..rows.end * dim]
                .par_chunks_mut(dim)
                .enumerate()
                .for_each(|(k, row)| {
                    for (o, x) in row.iter_mut().zip(src.vector(start + k)) {
                        *o = (x * q).round().clamp(-127.0, 127.0) as i8;
                    }
                });
        });
        Sq8Vectors {
            data,
            dim,
            scale2: 1.0 / (q * q),
            metric,
        }
    }
    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    #[inline]
    fn row(&self, i: u32) -> &[i8] {
        let i = i as usize;
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    /// Ask the CPU to start loading vector `i` into cache.
    #[inline]
    pub fn prefetch(&self, i: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let row = self.row(i);
            let mut off = 0;
            while off < row.len() {
                // SAFETY: prefetch is a hint with no memory effects; the address
                // is inside `row`.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(
                        row.as_ptr().add(off),
                        std::arch::x86_64::_MM_HINT_T0,
                    )
                };
                off += 64;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// Approximate distance between stored vectors a and b (the metric's
    /// distance, smaller is better).
    #[inline]
    pub fn distance(&self, a: u32, b: u32) -> f32 {
        let (x, y) = (self.row(a), self.row(b));
        match self.metric {
            Metric::L2 => l2_i8(x, y) as f32 * self.scale2,
            Metric::Ip | Metric::Cosine => 1.0 - dot_i8(x, y) as f32 * self.scale2,
        }
    }
}

#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports avx2 (checked just above).
            return unsafe { x86::dot(a, b) };
        }
    }
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

#[inline]
pub fn l2_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports avx2 (checked just above).
            return unsafe { x86::l2(a, b) };
        }
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i32 - y as i32;
            d * d
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }

    /// # Safety
    /// The CPU must support avx2; a and b have equal length.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        // SAFETY (loads): i + 16 <= n bounds every 16-byte unaligned load.
        while i + 16 <= n {
            let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
            let y = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
            i += 16;
        }
        let mut s = hsum(acc);
        while i < n {
            s += a[i] as i32 * b[i] as i32;
            i += 1;
        }
        s
    }

    /// # Safety
    /// The CPU must support avx2; a and b have equal length.
    #[target_feature(enable = "avx2")]
    pub unsafe fn l2(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        // SAFETY (loads): i + 16 <= n bounds every 16-byte unaligned load.
        while i + 16 <= n {
            let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
            let y = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
            let d = _mm256_sub_epi16(x, y);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d, d));
            i += 16;
        }
        let mut s = hsum(acc);
        while i < n {
            let d = a[i] as i32 - b[i] as i32;
            s += d * d;
            i += 1;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn simd_matches_scalar_and_approximates_float() {
        let dim = 100;
        let mut r = crate::ann::rng::Rng::new(9);
        let data: Vec<f32> = (0..dim * 4).map(|_| r.normal()).collect();
        let src = crate::ann::vectors::VecVectors {
            data: data.clone(),
            dim,
        };
        let sq = Sq8Vectors::new(&src, Metric::L2);
        for (a, b) in [(0u32, 1u32), (2, 3), (1, 3)] {
            let x = sq.row(a);
            let y = sq.row(b);
            let sd: i32 = x.iter().zip(y).map(|(&p, &q)| p as i32 * q as i32).sum();
            assert_eq!(dot_i8(x, y), sd);
            let exact = crate::ann::distance::l2sq(src.vector(a as usize), src.vector(b as usize));
            let approx = sq.distance(a, b);
            assert!((exact - approx).abs() / exact < 0.02, "{exact} vs {approx}");
        }
    }
}
