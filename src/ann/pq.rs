//! Anchors and residual product quantization: each vector x is stored as its
//! nearest anchor a (a k-means centroid or a sampled vector) plus m one-byte
//! codes of the residual x - a. At query time a lookup table of <q_j, c> per
//! sub-space and <q, a> per anchor give an approximate distance per node (ADC)
//! in m table lookups.

use crate::ann::distance::Metric;
use crate::ann::kmeans::{self, Centroids};
use crate::ann::rng::Rng;
use crate::ann::vectors::{gather, VectorSource};
use crate::error::{Error, Result};
use crate::format::codes::CodesFile;
use crate::format::pq::PqFile;
use rayon::prelude::*;

/// How anchors are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorKind {
    /// Uniformly sampled vectors.
    Random,
    /// k-means centroids trained on a sample.
    KMeans,
}

#[derive(Clone, Debug)]
pub struct PqParams {
    pub metric: Metric,
    pub anchor_kind: AnchorKind,
    pub n_anchors: usize,
    /// Vectors sampled for anchor k-means.
    pub anchor_samples: usize,
    pub m: usize,
    pub ksub: usize,
    /// Residuals sampled for codebook training.
    pub training_samples: usize,
    pub kmeans_iters: usize,
    pub seed: u64,
}

/// Anchors + per-sub-space codebooks.
#[derive(Clone, Debug)]
pub struct Quantizer {
    pub metric: Metric,
    pub dim: usize,
    pub anchors: Centroids,
    pub m: usize,
    pub ksub: usize,
    pub dsub: usize,
    /// One codebook per sub-space, each ksub x dsub.
    pub books: Vec<Centroids>,
}

/// Per-query lookup tables.
pub struct QueryTables {
    /// <q, anchor> per anchor.
    pub anchor_dots: Vec<f32>,
    /// <q_j, c> for sub-space j and centroid c, at j * ksub + c.
    pub lut: Vec<f32>,
    /// |q|^2 (used by L2).
    pub qnorm: f32,
}

impl Quantizer {
    pub fn train(src: &dyn VectorSource, p: &PqParams) -> Result<Quantizer> {
        let (n, dim) = (src.len(), src.dim());
        if n == 0 {
            return Err(Error::argument(
                "vectors",
                "cannot train a quantizer on zero vectors",
            ));
        }
        if p.m == 0 || dim % p.m != 0 {
            return Err(Error::config(
                "quantization.subVectors",
                format!("{} does not divide the dimension {dim}", p.m),
            ));
        }
        if p.ksub == 0 || p.ksub > 256 {
            return Err(Error::config(
                "quantization.codebookSize",
                format!("{} is not in 1..=256 (codes are one byte)", p.ksub),
            ));
        }
        if p.n_anchors == 0 {
            return Err(Error::config(
                "anchorSelection.clusters",
                "must be at least 1",
            ));
        }
        let mut rng = Rng::new(p.seed);
        let n_anchors = p.n_anchors.min(n);
        let anchors = match p.anchor_kind {
            AnchorKind::Random => {
                Centroids::new(gather(src, &rng.sample_indices(n, n_anchors)), dim)
            }
            AnchorKind::KMeans => {
                let sample = gather(src, &rng.sample_indices(n, p.anchor_samples.max(n_anchors)));
                kmeans::train(
                    &sample,
                    dim,
                    n_anchors,
                    p.kmeans_iters,
                    kmeans::Init::PlusPlus,
                    rng.next_u64(),
                )
            }
        };
        // Stored as binary16 (SPEC.md, "Anchors + PQ codebook file"): round
        // now, so that codes, norms and entry points are computed against
        // the values a reader gets back.
        let anchors = Centroids::new(to_f16_grid(anchors.rows), dim);
        // Residuals of a sample, for the codebooks.
        let idx = rng.sample_indices(n, p.training_samples.max(p.ksub));
        let sample = gather(src, &idx);
        let residuals: Vec<f32> = sample
            .par_chunks(dim)
            .flat_map_iter(|x| {
                let mut acc = vec![0f32; anchors.k];
                let (a, _) = anchors.nearest(x, &mut acc);
                let ar = anchors.row(a);
                x.iter().zip(ar).map(|(v, c)| v - c).collect::<Vec<_>>()
            })
            .collect();
        let dsub = dim / p.m;
        let ns = idx.len();
        let seed = rng.next_u64();
        let books: Vec<Centroids> = (0..p.m)
            .into_par_iter()
            .map(|j| {
                let mut sub = Vec::with_capacity(ns * dsub);
                for i in 0..ns {
                    sub.extend_from_slice(&residuals[i * dim + j * dsub..i * dim + (j + 1) * dsub]);
                }
                let mut c = kmeans::train(
                    &sub,
                    dsub,
                    p.ksub,
                    p.kmeans_iters,
                    kmeans::Init::Random,
                    seed ^ j as u64,
                );
                if c.k < p.ksub {
                    // Fewer distinct samples than codes: pad so codes stay < ksub,
                    // with the largest binary16 value (exact in the file), far
                    // beyond any residual of unit-scale vectors, so never nearest.
                    let mut rows = c.rows.clone();
                    rows.resize(p.ksub * dsub, half::f16::MAX.to_f32());
                    c = Centroids::new(rows, dsub);
                }
                Centroids::new(to_f16_grid(c.rows), dsub)
            })
            .collect();
        // The samples' pages, spread over the whole source.
        src.release(0..n);
        Ok(Quantizer {
            metric: p.metric,
            dim,
            anchors,
            m: p.m,
            ksub: p.ksub,
            dsub,
            books,
        })
    }

    /// Encode one vector: (anchor, codes appended to `codes`, |reconstruction|^2,
    /// squared distance to the anchor).
    pub fn encode(
        &self,
        x: &[f32],
        codes: &mut Vec<u8>,
        scratch: &mut Vec<f32>,
    ) -> (u32, f32, f32) {
        let kk = self.anchors.k.max(self.ksub);
        scratch.resize(kk + self.dim, 0.0);
        let (acc, resid) = scratch.split_at_mut(kk);
        let (a, da) = self.anchors.nearest(x, &mut acc[..self.anchors.k]);
        let ar = self.anchors.row(a);
        for t in 0..self.dim {
            resid[t] = x[t] - ar[t];
        }
        let mut recon_norm = 0f32;
        for j in 0..self.m {
            let r = &resid[j * self.dsub..(j + 1) * self.dsub];
            let (c, _) = self.books[j].nearest(r, &mut acc[..self.ksub]);
            codes.push(c as u8);
            let cr = self.books[j].row(c);
            for t in 0..self.dsub {
                let v = ar[j * self.dsub + t] + cr[t];
                recon_norm += v * v;
            }
        }
        (a as u32, recon_norm, da)
    }

    /// The vector a node's codes stand for (what `encode` approximated it
    /// by): its anchor plus, per sub-space, the chosen codebook centroid.
    /// `anchor` < anchors and every code < ksub (checked when a segment opens).
    pub fn reconstruct(&self, anchor: u32, codes: &[u8]) -> Vec<f32> {
        let mut v = self.anchors.row(anchor as usize).to_vec();
        for (j, &c) in codes.iter().enumerate() {
            let cr = self.books[j].row(c as usize);
            for (x, &r) in v[j * self.dsub..(j + 1) * self.dsub].iter_mut().zip(cr) {
                *x += r;
            }
        }
        v
    }

    /// Encode every vector in parallel; also returns, per anchor, the nearest
    /// vector to it (u32::MAX where no vector chose that anchor).
    pub fn encode_all(&self, src: &dyn VectorSource) -> (CodesFile, Vec<u32>) {
        const PER_TASK: usize = 1024;
        let n = src.len();
        // Per task: anchors, codes, reconstruction norms, anchor distances.
        type Part = (Vec<u32>, Vec<u8>, Vec<f32>, Vec<f32>);
        let mut parts: Vec<Part> = Vec::with_capacity(n.div_ceil(PER_TASK));
        crate::ann::vectors::in_blocks(src, |rows| {
            let starts: Vec<usize> = rows.clone().step_by(PER_TASK).collect();
            let end = rows.end;
            parts.par_extend(starts.par_iter().map(|&s| {
                let e = (s + PER_TASK).min(end);
                let mut anchors = Vec::with_capacity(e - s);
                let mut codes = Vec::with_capacity((e - s) * self.m);
                let mut norms = Vec::with_capacity(e - s);
                let mut dists = Vec::with_capacity(e - s);
                let mut scratch = Vec::new();
                for i in s..e {
                    let (a, nn, da) = self.encode(src.vector(i), &mut codes, &mut scratch);
                    anchors.push(a);
                    norms.push(nn);
                    dists.push(da);
                }
                (anchors, codes, norms, dists)
            }));
        });
        let mut out = CodesFile {
            small_blocks: true,
            m: self.m as u32,
            anchors: Vec::with_capacity(n),
            codes: Vec::with_capacity(n * self.m),
            norms: if self.metric == Metric::L2 {
                Some(Vec::with_capacity(n))
            } else {
                None
            },
        };
        let mut best = vec![(f32::INFINITY, u32::MAX); self.anchors.k];
        let mut i = 0u32;
        for (a, c, nn, d) in parts {
            for (k, &anc) in a.iter().enumerate() {
                let b = &mut best[anc as usize];
                if d[k] < b.0 {
                    *b = (d[k], i);
                }
                i += 1;
            }
            out.anchors.extend(a);
            out.codes.extend(c);
            if let Some(v) = out.norms.as_mut() {
                v.extend(nn);
            }
        }
        (out, best.into_iter().map(|b| b.1).collect())
    }

    /// Lookup tables for a query (already normalised for cosine).
    pub fn tables(&self, q: &[f32]) -> QueryTables {
        let mut anchor_dots = vec![0f32; self.anchors.k];
        self.anchors.dots(q, &mut anchor_dots);
        let mut lut = vec![0f32; self.m * self.ksub];
        for j in 0..self.m {
            self.books[j].dots(
                &q[j * self.dsub..(j + 1) * self.dsub],
                &mut lut[j * self.ksub..(j + 1) * self.ksub],
            );
        }
        QueryTables {
            anchor_dots,
            lut,
            qnorm: q.iter().map(|x| x * x).sum(),
        }
    }

    /// Approximate distance (smaller is better) of a node from its codes.
    #[inline]
    pub fn adc(&self, t: &QueryTables, anchor: u32, codes: &[u8], norm: f32) -> f32 {
        let mut ip = t.anchor_dots[anchor as usize];
        let ks = self.ksub;
        for (j, &c) in codes.iter().enumerate() {
            ip += t.lut[j * ks + c as usize];
        }
        match self.metric {
            Metric::L2 => t.qnorm - 2.0 * ip + norm,
            Metric::Ip | Metric::Cosine => 1.0 - ip,
        }
    }

    pub fn to_file(&self, entries: Vec<u32>) -> PqFile {
        let mut codebooks = Vec::with_capacity(self.m * self.ksub * self.dsub);
        for b in &self.books {
            codebooks.extend_from_slice(&b.rows);
        }
        PqFile {
            metric: self.metric.code(),
            dim: self.dim as u32,
            anchors: self.anchors.rows.clone(),
            entries,
            m: self.m as u32,
            ksub: self.ksub as u32,
            codebooks,
        }
    }

    pub fn from_file(f: &PqFile, metric: Metric) -> Quantizer {
        let dim = f.dim as usize;
        let (m, ksub) = (f.m as usize, f.ksub as usize);
        let dsub = dim / m;
        let books = (0..m)
            .map(|j| {
                Centroids::new(
                    f.codebooks[j * ksub * dsub..(j + 1) * ksub * dsub].to_vec(),
                    dsub,
                )
            })
            .collect();
        Quantizer {
            metric,
            dim,
            anchors: Centroids::new(f.anchors.clone(), dim),
            m,
            ksub,
            dsub,
            books,
        }
    }
}

/// Each value rounded to the nearest binary16 value, where one is finite
/// (a value beyond binary16's range stays, and the file is then written in
/// f32).
fn to_f16_grid(mut rows: Vec<f32>) -> Vec<f32> {
    for x in &mut rows {
        let h = half::f16::from_f32(*x).to_f32();
        if h.is_finite() {
            *x = h;
        }
    }
    rows
}
