//! Shared helpers for integration tests: generated clustered data and brute
//! force ground truth.
#![allow(dead_code)]

use leann::data::{VecVectors, VectorSource};
use leann::distance::Metric;
use leann::synth::Mixture;

/// `n` unit vectors of dimension `dim` from a mixture of `clusters` low-rank
/// Gaussians (leann::synth::Mixture; rank 8, spread 0.6, noise 0.05).
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> VecVectors {
    let m = Mixture::new(dim, clusters, 8, 0.6, 0.05, seed);
    VecVectors {
        data: m.points(1, 0..n as u64),
        dim,
    }
}

/// Queries from the same mixture as `clustered(.., seed)`, a different stream.
pub fn queries(n: usize, dim: usize, clusters: usize, seed: u64) -> VecVectors {
    let m = Mixture::new(dim, clusters, 8, 0.6, 0.05, seed);
    VecVectors {
        data: m.points(2, 0..n as u64),
        dim,
    }
}

/// Mean tie-aware recall@k of `results` (external ids = base positions).
pub fn mean_recall(
    base: &dyn VectorSource,
    qs: &dyn VectorSource,
    results: &[Vec<u64>],
    k: usize,
    metric: Metric,
) -> f64 {
    let gt = leann::bench::brute_force(base, qs, k, metric);
    let mut s = 0.0;
    for i in 0..qs.len() {
        s += leann::bench::recall_at(k, qs.vector(i), &results[i], &gt[i], base, metric);
    }
    s / qs.len() as f64
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("leann-test")
        .tempdir()
        .expect("temp dir")
}
