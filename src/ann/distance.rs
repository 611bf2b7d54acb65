//! Metrics and the exact distance kernels (AVX2+FMA when the CPU has them,
//! checked at run time; a portable loop otherwise).
//!
//! Internally every metric is a distance, smaller is better: L2 uses the squared
//! Euclidean distance; inner product and cosine use 1 - <a, b> (vectors are
//! normalised for cosine), which orders like L2 on unit vectors.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    L2,
    Ip,
    Cosine,
}

impl Metric {
    pub fn code(self) -> u32 {
        match self {
            Metric::L2 => 0,
            Metric::Ip => 1,
            Metric::Cosine => 2,
        }
    }
    pub fn from_code(c: u32) -> Option<Metric> {
        match c {
            0 => Some(Metric::L2),
            1 => Some(Metric::Ip),
            2 => Some(Metric::Cosine),
            _ => None,
        }
    }
    /// Distance, smaller is better.
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => l2sq(a, b),
            Metric::Ip | Metric::Cosine => 1.0 - dot(a, b),
        }
    }
    /// The user-facing score of a distance: similarity for ip/cosine (larger is
    /// better), squared distance for l2 (smaller is better).
    #[inline]
    pub fn score(self, dist: f32) -> f32 {
        match self {
            Metric::L2 => dist,
            Metric::Ip | Metric::Cosine => 1.0 - dist,
        }
    }
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::L2)
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Metric> {
        match s {
            "l2" => Ok(Metric::L2),
            "ip" => Ok(Metric::Ip),
            "cosine" => Ok(Metric::Cosine),
            _ => Err(Error::config(
                "metric",
                format!("`{s}` is not one of l2, ip, cosine"),
            )),
        }
    }
}

/// Check a vector is usable: right dimension, finite values.
pub fn check_vector(v: &[f32], dim: usize, what: &str) -> Result<()> {
    if v.len() != dim {
        return Err(Error::argument(
            what,
            format!("{what} has dimension {}, the index has {dim}", v.len()),
        ));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::argument(
            what,
            format!("{what} has a non-finite value at position {i}"),
        ));
    }
    Ok(())
}

/// Scale to unit length (zero vectors are left as they are).
pub fn normalize(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        for x in v.iter_mut() {
            *x /= n;
        }
    }
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports avx2 and fma (checked just above).
            return unsafe { x86::dot(a, b) };
        }
    }
    dot_scalar(a, b)
}

#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports avx2 and fma (checked just above).
            return unsafe { x86::l2sq(a, b) };
        }
    }
    l2sq_scalar(a, b)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            s[i] += x[i] * y[i];
        }
    }
    let mut t: f32 = s.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        t += x * y;
    }
    t
}

pub fn l2sq_scalar(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            s[i] += d * d;
        }
    }
    let mut t: f32 = s.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        t += (x - y) * (x - y);
    }
    t
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let hi = _mm256_extractf128_ps(v, 1);
        let lo = _mm256_castps256_ps128(v);
        let s = _mm_add_ps(hi, lo);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Per lane: keep r where it beats best, with its index; advance the indices.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn keep_min(r: __m256, best: &mut __m256, bidx: &mut __m256i, idx: &mut __m256i) {
        let m = _mm256_cmp_ps(r, *best, _CMP_LT_OQ);
        *best = _mm256_blendv_ps(*best, r, m);
        *bidx = _mm256_blendv_epi8(*bidx, *idx, _mm256_castps_si256(m));
        *idx = _mm256_add_epi32(*idx, _mm256_set1_epi32(8));
    }

    /// # Safety
    /// avx2+fma; kpad % 8 == 0; tr.len() == x.len() * kpad; norms.len() == kpad.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn nearest_transposed(
        x: &[f32],
        tr: &[f32],
        norms: &[f32],
        kpad: usize,
    ) -> (usize, f32) {
        let dim = x.len();
        let mut best = _mm256_set1_ps(f32::INFINITY);
        let mut bidx = _mm256_set1_epi32(0);
        let mut idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let tp = tr.as_ptr();
        let np = norms.as_ptr();
        let mut c = 0;
        // Four independent accumulators (32 centroids) hide the FMA latency.
        // SAFETY (loads): c + 32 <= kpad (or c + 8 <= kpad below) and j < dim
        // keep every j * kpad + c + 32 <= tr.len() and c + 32 <= norms.len().
        while c + 32 <= kpad {
            let mut r0 = _mm256_loadu_ps(np.add(c));
            let mut r1 = _mm256_loadu_ps(np.add(c + 8));
            let mut r2 = _mm256_loadu_ps(np.add(c + 16));
            let mut r3 = _mm256_loadu_ps(np.add(c + 24));
            for j in 0..dim {
                let xj = _mm256_set1_ps(-2.0 * *x.get_unchecked(j));
                let row = tp.add(j * kpad + c);
                r0 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(row), r0);
                r1 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(row.add(8)), r1);
                r2 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(row.add(16)), r2);
                r3 = _mm256_fmadd_ps(xj, _mm256_loadu_ps(row.add(24)), r3);
            }
            for r in [r0, r1, r2, r3] {
                keep_min(r, &mut best, &mut bidx, &mut idx);
            }
            c += 32;
        }
        while c < kpad {
            let mut r = _mm256_loadu_ps(np.add(c));
            for j in 0..dim {
                let xj = _mm256_set1_ps(-2.0 * *x.get_unchecked(j));
                r = _mm256_fmadd_ps(xj, _mm256_loadu_ps(tp.add(j * kpad + c)), r);
            }
            keep_min(r, &mut best, &mut bidx, &mut idx);
            c += 8;
        }
        let mut bv = [0f32; 8];
        let mut bi = [0i32; 8];
        _mm256_storeu_ps(bv.as_mut_ptr(), best);
        _mm256_storeu_si256(bi.as_mut_ptr() as *mut __m256i, bidx);
        // Smallest lane; the lowest index among equal values.
        (0..8)
            .map(|l| (bi[l] as usize, bv[l]))
            .fold((0usize, f32::INFINITY), |a, b| {
                if b.1 < a.1 || (b.1 == a.1 && b.0 < a.0) {
                    b
                } else {
                    a
                }
            })
    }

    /// # Safety
    /// The CPU must support avx2 and fma; a and b have equal length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY (loads): i + 16 <= n and i + 8 <= n bound every unaligned load.
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
            i += 16;
        }
        while i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            i += 8;
        }
        let mut s = hsum(_mm256_add_ps(acc0, acc1));
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }

    /// # Safety
    /// The CPU must support avx2 and fma; a and b have equal length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY (loads): i + 16 <= n and i + 8 <= n bound every unaligned load.
        while i + 16 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            let d1 = _mm256_sub_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
            );
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            i += 16;
        }
        while i + 8 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            i += 8;
        }
        let mut s = hsum(_mm256_add_ps(acc0, acc1));
        while i < n {
            let d = *pa.add(i) - *pb.add(i);
            s += d * d;
            i += 1;
        }
        s
    }
}

/// acc[i] += a * x[i] (the inner loop of batched distance computation).
#[inline]
pub fn axpy(acc: &mut [f32], a: f32, x: &[f32]) {
    debug_assert_eq!(acc.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports avx2 and fma (checked just above).
            unsafe { axpy_avx2(acc, a, x) };
            return;
        }
    }
    for (s, v) in acc.iter_mut().zip(x) {
        *s += a * v;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(acc: &mut [f32], a: f32, x: &[f32]) {
    // A plain loop compiled with avx2+fma enabled: LLVM vectorises it.
    for (s, v) in acc.iter_mut().zip(x) {
        *s = a.mul_add(*v, *s);
    }
}

/// Nearest centroid in a transposed (dim x kpad, kpad % 8 == 0) layout:
/// argmin over c of norms[c] - 2 <x, c>. None when no SIMD kernel applies.
#[inline]
pub fn nearest_transposed(
    x: &[f32],
    tr: &[f32],
    norms: &[f32],
    kpad: usize,
) -> Option<(usize, f32)> {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() && kpad % 8 == 0 && tr.len() == x.len() * kpad && norms.len() == kpad {
            // SAFETY: avx2+fma checked; the layout checks above bound every load.
            return Some(unsafe { x86::nearest_transposed(x, tr, norms, kpad) });
        }
    }
    let _ = (x, tr, norms, kpad);
    None
}

/// Index and value of the smallest element (first one on ties); (0, INF) if
/// empty. (The SIMD path of nearest-centroid search is nearest_transposed.)
pub fn argmin(v: &[f32]) -> (usize, f32) {
    let mut best = (0usize, f32::INFINITY);
    for (i, &x) in v.iter().enumerate() {
        if x < best.1 {
            best = (i, x);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn argmin_finds_first_minimum() {
        let v: Vec<f32> = (0..256).map(|i| ((i * 7919) % 97) as f32 - 40.0).collect();
        let (i, m) = argmin(&v);
        assert_eq!(m, -40.0);
        assert_eq!(i, v.iter().position(|&x| x == -40.0).unwrap());
        assert_eq!(argmin(&[1.0f32; 20]).0, 0);
    }

    #[test]
    fn nearest_transposed_matches_brute_force() {
        for (dim, k) in [(8usize, 256usize), (3, 40), (384, 155), (16, 8)] {
            let mut r = crate::ann::rng::Rng::new(dim as u64);
            let rows: Vec<f32> = (0..dim * k).map(|_| r.normal()).collect();
            let c = crate::ann::kmeans::Centroids::new(rows.clone(), dim);
            let mut acc = vec![0f32; k];
            for _ in 0..20 {
                let x: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
                let want = (0..k)
                    .map(|j| (j, l2sq(&x, &rows[j * dim..(j + 1) * dim])))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap();
                let got = c.nearest(&x, &mut acc);
                assert_eq!(got.0, want.0, "dim {dim} k {k}");
                assert!((got.1 - want.1).abs() < 1e-3 * want.1.max(1.0));
            }
        }
    }
    #[test]
    fn simd_matches_scalar() {
        for n in [1usize, 7, 8, 15, 16, 17, 100, 384] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            assert!((dot(&a, &b) - dot_scalar(&a, &b)).abs() < 1e-4);
            assert!((l2sq(&a, &b) - l2sq_scalar(&a, &b)).abs() < 1e-4);
        }
    }
}
