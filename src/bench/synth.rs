//! Generated data for tests and `leann bench --synthetic`: a mixture of
//! Gaussians whose clusters are low-rank, like embeddings of real text.
//!
//! Point = normalise(c_k + spread * B_k z + noise * e), with centre c_k ~ N(0, I),
//! z ~ N(0, I_rank / rank), B_k a per-cluster dim x rank matrix of N(0, 1), and
//! e ~ N(0, I). Isotropic noise alone in hundreds of dimensions has almost no
//! neighbour structure (every point is nearly equidistant from every other in
//! its cluster), which no real embedding model produces.

use crate::ann::distance::normalize;
use crate::ann::rng::Rng;
use rayon::prelude::*;

#[derive(Clone, Debug)]
pub struct Mixture {
    pub dim: usize,
    pub clusters: usize,
    pub rank: usize,
    pub spread: f32,
    pub noise: f32,
    centres: Vec<f32>,
    /// clusters x dim x rank
    bases: Vec<f32>,
}

impl Mixture {
    pub fn new(
        dim: usize,
        clusters: usize,
        rank: usize,
        spread: f32,
        noise: f32,
        seed: u64,
    ) -> Mixture {
        let mut rng = Rng::new(seed);
        let centres = (0..clusters * dim).map(|_| rng.normal()).collect();
        let bases = (0..clusters * dim * rank).map(|_| rng.normal()).collect();
        Mixture {
            dim,
            clusters,
            rank,
            spread,
            noise,
            centres,
            bases,
        }
    }

    /// The defaults used by the benchmark for `n` points.
    pub fn for_bench(n: usize, dim: usize) -> Mixture {
        let clusters = ((n as f64).sqrt() as usize).clamp(4, 2048);
        Mixture::new(dim, clusters, 16, 0.6, 0.05, 42)
    }

    /// Append point number `i` of stream `seed` to `out`.
    pub fn point(&self, seed: u64, i: u64, out: &mut Vec<f32>) {
        let mut r = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i);
        let k = r.below(self.clusters as u64) as usize;
        let z: Vec<f32> = (0..self.rank)
            .map(|_| r.normal() / (self.rank as f32).sqrt())
            .collect();
        let s = out.len();
        let c = &self.centres[k * self.dim..(k + 1) * self.dim];
        let b = &self.bases[k * self.dim * self.rank..(k + 1) * self.dim * self.rank];
        for j in 0..self.dim {
            let row = &b[j * self.rank..(j + 1) * self.rank];
            let low: f32 = row.iter().zip(&z).map(|(x, y)| x * y).sum();
            out.push(c[j] + self.spread * low + self.noise * r.normal());
        }
        normalize(&mut out[s..]);
    }

    /// Points `range` of stream `seed`, generated in parallel, row-major.
    pub fn points(&self, seed: u64, range: std::ops::Range<u64>) -> Vec<f32> {
        const PER_TASK: u64 = 4096;
        let starts: Vec<u64> = range.clone().step_by(PER_TASK as usize).collect();
        let parts: Vec<Vec<f32>> = starts
            .par_iter()
            .map(|&s| {
                let mut v = Vec::with_capacity(PER_TASK as usize * self.dim);
                for i in s..(s + PER_TASK).min(range.end) {
                    self.point(seed, i, &mut v);
                }
                v
            })
            .collect();
        parts.concat()
    }
}
