//! `--mode rerank`: the first stage's best N chunks (fusion of semantic and
//! lexical ranking) rescored by a transformer that reads their text, and by
//! a cross-encoder when one is configured. The final order is a reciprocal
//! rank fusion of the first stage's order and each rescoring's order, one
//! vote each: a transformer that knows little of code cannot push the first
//! stage's best far down, and one that is sure moves a chunk up.
//!
//! Where to change what: the number of candidates and the tokens read per
//! candidate are the constants below (they set the latency); the combination
//! is `rank_fusion`.

use crate::embed::bert::BertEmbedder;
use crate::embed::cross::CrossEncoder;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::io::Storage;
use std::path::Path;

/// Candidates rescored when `--rerank-candidates` is not given (at least k).
/// With RERANK_MAX_TOKENS, a dev-relevance question in rerank mode with
/// all-MiniLM-L6-v2 takes 0.69 s (p50) on 2 cores.
pub const DEFAULT_RERANK_CANDIDATES: usize = 20;
/// Tokens of a candidate (or of a question-candidate pair for the
/// cross-encoder) the models read: a chunk's head (its signature and first
/// lines). The transformer's cost grows a little faster than linearly in it.
pub const RERANK_MAX_TOKENS: usize = 128;
/// Reciprocal rank fusion's constant (as the first stage's fusion).
pub const RERANK_RRF_K: f32 = crate::search::fusion::RRF_K;

/// The models of `--mode rerank`.
pub struct Reranker {
    embedder: Box<dyn Embedder>,
    cross: Option<CrossEncoder>,
}

impl Reranker {
    /// Load the transformer from `model_dir` (a sentence-transformers
    /// directory) and the cross-encoder from `cross_dir` if given, both
    /// reading RERANK_MAX_TOKENS tokens of a candidate at most.
    pub fn load(storage: &dyn Storage, model_dir: &Path, cross_dir: Option<&Path>) -> Result<Self> {
        keep_transformer_buffers();
        let mut m = BertEmbedder::load(storage, model_dir)?;
        m.set_max_tokens(m.max_tokens().min(RERANK_MAX_TOKENS))?;
        let cross = match cross_dir {
            Some(d) => {
                let mut c = CrossEncoder::load(storage, d)?;
                c.set_max_tokens(c.max_tokens().min(RERANK_MAX_TOKENS))?;
                Some(c)
            }
            None => None,
        };
        Ok(Reranker {
            embedder: Box::new(m),
            cross,
        })
    }

    /// A reranker from models already loaded (tests, the library).
    pub fn new(embedder: Box<dyn Embedder>, cross: Option<CrossEncoder>) -> Self {
        Reranker { embedder, cross }
    }

    /// The rescorings' scores of `texts` for `query`, one list per model:
    /// the transformer's cosines, then the cross-encoder's logits.
    pub fn scores(&self, query: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let d = self.embedder.dim();
        let q = self.embedder.embed(&[query])?;
        let v = self.embedder.embed(texts)?;
        if q.len() != d || v.len() != texts.len() * d {
            return Err(Error::model(format!(
                "{}: gave {} floats for {} texts of dimension {d}",
                self.embedder.model_id(),
                v.len(),
                texts.len()
            )));
        }
        let mut out = vec![(0..texts.len())
            .map(|i| crate::ann::distance::dot(&q, &v[i * d..(i + 1) * d]))
            .collect::<Vec<f32>>()];
        if let Some(c) = &self.cross {
            out.push(c.score(query, texts)?);
        }
        Ok(out)
    }

    /// Scores of `texts` (in the first stage's order, best first) after
    /// reranking: `rank_fusion` of that order and every rescoring.
    pub fn rerank(&self, query: &str, texts: &[&str]) -> Result<Vec<f32>> {
        Ok(rank_fusion(texts.len(), &self.scores(query, texts)?))
    }
}

/// Allocations below this come from the heap instead of fresh mappings.
pub const TRANSFORMER_MMAP_THRESHOLD_BYTES: usize = 64 << 20;
/// Free heap above this is returned to the system.
pub const TRANSFORMER_TRIM_THRESHOLD_BYTES: usize = 256 << 20;

/// Keep the transformer's large buffers in the heap between batches. By
/// default glibc maps every allocation over 32 MiB afresh and unmaps it when
/// freed, and a forward pass frees and reallocates its activations (about
/// 12 MB per tensor at 16 texts of 128 tokens) hundreds of times: measured
/// on 40 dev-relevance questions in rerank mode, p50 912 ms with 12 s of
/// system time, 620 ms with 1 s after this (the same peak RSS, 250 MB).
/// Process-wide; only rerank mode calls it.
fn keep_transformer_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it takes
    // plain integers and has no memory-safety preconditions.
    unsafe {
        libc::mallopt(
            libc::M_MMAP_THRESHOLD,
            TRANSFORMER_MMAP_THRESHOLD_BYTES as i32,
        );
        libc::mallopt(
            libc::M_TRIM_THRESHOLD,
            TRANSFORMER_TRIM_THRESHOLD_BYTES as i32,
        );
    }
}

/// Reciprocal rank fusion of `n` candidates given in a first order (candidate
/// i at rank i) and rescored by each list of `scores` (higher better; ties
/// keep the first order): candidate i's fused score is the sum over the
/// orders of 1 / (RERANK_RRF_K + rank + 1).
pub fn rank_fusion(n: usize, scores: &[Vec<f32>]) -> Vec<f32> {
    let mut fused: Vec<f32> = (0..n)
        .map(|i| 1.0 / (RERANK_RRF_K + i as f32 + 1.0))
        .collect();
    for s in scores {
        assert_eq!(s.len(), n, "one score per candidate");
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        for (rank, &i) in order.iter().enumerate() {
            fused[i] += 1.0 / (RERANK_RRF_K + rank as f32 + 1.0);
        }
    }
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_without_rescoring_keeps_the_first_order() {
        let f = rank_fusion(4, &[]);
        assert!(f.windows(2).all(|w| w[0] > w[1]), "{f:?}");
    }

    #[test]
    fn fusion_weighs_each_order_equally() {
        // The rescoring reverses three candidates: the middle one stays in
        // the middle, the ends tie (each has ranks 0 and 2).
        let f = rank_fusion(3, &[vec![0.1, 0.5, 0.9]]);
        assert_eq!(f[0], f[2]);
        let k = RERANK_RRF_K;
        let want_mid = 2.0 / (k + 2.0);
        assert!((f[1] - want_mid).abs() < 1e-7);
        assert!(f[0] > f[1], "ranks 1 and 3 beat 2 and 2 (1/x is convex)");
        // A candidate the rescoring puts first moves up past one that both
        // orders put second.
        let f = rank_fusion(3, &[vec![0.5, 0.4, 0.9]]);
        let best = (0..3).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
        assert_eq!(best, 0, "first in one order and second in the other: {f:?}");
        assert!(f[2] > f[1], "{f:?}");
    }

    #[test]
    fn ties_in_a_rescoring_keep_the_first_order() {
        let f = rank_fusion(3, &[vec![0.5, 0.5, 0.5]]);
        assert!(f.windows(2).all(|w| w[0] > w[1]), "{f:?}");
    }

    #[test]
    fn two_rescorings_outvote_the_first_order() {
        // Both rescorings put the last candidate first.
        let f = rank_fusion(3, &[vec![0.0, 0.1, 0.9], vec![-2.0, -1.0, 3.0]]);
        let best = (0..3).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
        assert_eq!(best, 2, "{f:?}");
    }
}
