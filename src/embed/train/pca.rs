//! Principal component analysis by the cyclic Jacobi eigenvalue method on the
//! covariance matrix (dimensions of a few hundred: exact and fast enough).

use rayon::prelude::*;

/// Eigen-decomposition of a symmetric n x n matrix (row-major, f64):
/// eigenvalues descending and the matching eigenvectors as rows.
pub fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off < 1e-18 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vpk, vqk) = (v[p * n + k], v[q * n + k]);
                    v[p * n + k] = c * vpk - s * vqk;
                    v[q * n + k] = s * vpk + c * vqk;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| a[y * n + y].total_cmp(&a[x * n + x]));
    let vals = order.iter().map(|&i| a[i * n + i]).collect();
    let vecs = order
        .iter()
        .flat_map(|&i| v[i * n..(i + 1) * n].to_vec())
        .collect();
    (vals, vecs)
}

/// Project rows (n x dim) onto their top `k` principal components (centred).
/// Returns n x k, row-major, and the fraction of variance kept.
pub fn reduce(rows: &[f32], dim: usize, k: usize) -> (Vec<f32>, f64) {
    let n = rows.len() / dim;
    let k = k.min(dim);
    let mut mean = vec![0f64; dim];
    for r in rows.chunks(dim) {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += *x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let cov = rows
        .par_chunks(dim * 1024)
        .map(|block| {
            let mut c = vec![0f64; dim * dim];
            for r in block.chunks(dim) {
                let d: Vec<f64> = r.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect();
                for i in 0..dim {
                    let di = d[i];
                    for j in i..dim {
                        c[i * dim + j] += di * d[j];
                    }
                }
            }
            c
        })
        .reduce(
            || vec![0f64; dim * dim],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut full = vec![0f64; dim * dim];
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / n.max(1) as f64;
            full[i * dim + j] = v;
            full[j * dim + i] = v;
        }
    }
    let (vals, vecs) = symmetric_eigen(full, dim);
    let total: f64 = vals.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = vals[..k].iter().map(|v| v.max(0.0)).sum();
    let out: Vec<f32> = rows
        .par_chunks(dim)
        .flat_map_iter(|r| {
            let d: Vec<f64> = r.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect();
            (0..k)
                .map(|c| {
                    let e = &vecs[c * dim..(c + 1) * dim];
                    e.iter().zip(&d).map(|(a, b)| a * b).sum::<f64>() as f32
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (out, if total > 0.0 { kept / total } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn eigen_of_known_matrix() {
        // [[2,1],[1,2]]: eigenvalues 3 and 1, vectors (1,1)/sqrt2 and (1,-1)/sqrt2.
        let (vals, vecs) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 3.0).abs() < 1e-9 && (vals[1] - 1.0).abs() < 1e-9);
        assert!((vecs[0].abs() - 0.5f64.sqrt()).abs() < 1e-9);
        assert!((vecs[0] * vecs[1] - 0.5).abs() < 1e-9);
    }
    #[test]
    fn reduce_keeps_the_dominant_direction() {
        let mut r = crate::ann::rng::Rng::new(4);
        let mut rows = Vec::new();
        for _ in 0..500 {
            let t = r.normal() * 10.0;
            rows.extend_from_slice(&[t, 2.0 * t + r.normal() * 0.01, r.normal() * 0.1]);
        }
        let (out, kept) = reduce(&rows, 3, 1);
        assert_eq!(out.len(), 500);
        assert!(kept > 0.99, "kept {kept}");
    }
}
