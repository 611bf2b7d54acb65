//! `leann model train`: fit a static model's token table to code search.
//! The distilled table answers "which tokens mean alike" from English text;
//! training moves it so that a function's docstring sentence lands near the
//! function's code (pairs from `pairs`), by the contrastive loss used for
//! sentence embedders (in-batch negatives, InfoNCE both ways, temperature
//! `temperature`), with Adam on the rows a batch touches. The gradient of the
//! normalised mean of token vectors is written out by hand (no autograd).
//!
//! A share of the pairs (`held_out`) is never trained on: their recall@10
//! (question -> code among the held-out codes) is reported before and after,
//! which is how steps and rates are chosen without looking at any benchmark.

pub mod distill;
pub mod heldout;
pub mod pairs;
pub mod pca;
pub mod reweight;

use self::pairs::{collect_pairs, Pair};
use super::static_model::StaticModel;
use crate::ann::rng::Rng;
use crate::error::{Error, Result};
use crate::io::Storage;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub temperature: f32,
    pub seed: u64,
    /// Tokens per text looked at.
    pub max_tokens: usize,
    /// Pairs kept out of training to measure on.
    pub held_out: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            steps: 2000,
            batch: 256,
            lr: 2e-3,
            temperature: 0.05,
            seed: 1,
            max_tokens: 512,
            held_out: 2000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrainReport {
    pub pairs: usize,
    pub held_out: usize,
    pub recall_before: f64,
    pub recall_after: f64,
    pub loss_first: f64,
    pub loss_last: f64,
    pub seconds: f64,
    pub bytes_written: u64,
}

struct Tokenized {
    q: Vec<Vec<u32>>,
    d: Vec<Vec<u32>>,
}

fn tokenize(model: &StaticModel, pairs: &[Pair], max: usize) -> Result<Tokenized> {
    let one = |t: &str| -> Result<Vec<u32>> {
        let mut v = Vec::new();
        model.token_ids(t, &mut v)?;
        v.truncate(max);
        v.retain(|&x| (x as usize) < model.vocab());
        Ok(v)
    };
    let q = pairs
        .par_iter()
        .map(|p| one(&p.question))
        .collect::<Result<Vec<_>>>()?;
    let d = pairs
        .par_iter()
        .map(|p| one(&p.code))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tokenized { q, d })
}

/// Sum of the rows of `ids`, its norm, and the unit vector.
fn pool(table: &[f32], dim: usize, ids: &[u32]) -> (Vec<f32>, f32) {
    let mut u = vec![0f32; dim];
    for &t in ids {
        let row = &table[t as usize * dim..(t as usize + 1) * dim];
        u.iter_mut().zip(row).for_each(|(a, b)| *a += b);
    }
    let n = u.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        u.iter_mut().for_each(|x| *x /= n);
    }
    (u, n)
}

/// Recall@10 of question i finding code i among all codes given.
fn recall_at_10(table: &[f32], dim: usize, q: &[Vec<u32>], d: &[Vec<u32>]) -> f64 {
    let qs: Vec<Vec<f32>> = q.par_iter().map(|x| pool(table, dim, x).0).collect();
    let ds: Vec<Vec<f32>> = d.par_iter().map(|x| pool(table, dim, x).0).collect();
    let hits: usize = qs
        .par_iter()
        .enumerate()
        .filter(|(i, qv)| {
            let own: f32 = qv.iter().zip(&ds[*i]).map(|(a, b)| a * b).sum();
            let better = ds
                .iter()
                .filter(|dv| qv.iter().zip(dv.iter()).map(|(a, b)| a * b).sum::<f32>() > own)
                .count();
            better < 10
        })
        .count();
    hits as f64 / q.len().max(1) as f64
}

/// One step's loss and the gradient rows it touches.
fn step_grad(
    table: &[f32],
    dim: usize,
    qi: &[&[u32]],
    di: &[&[u32]],
    tau: f32,
) -> (f64, HashMap<u32, Vec<f32>>) {
    let b = qi.len();
    let qp: Vec<(Vec<f32>, f32)> = qi.par_iter().map(|x| pool(table, dim, x)).collect();
    let dp: Vec<(Vec<f32>, f32)> = di.par_iter().map(|x| pool(table, dim, x)).collect();
    let mut s = vec![0f32; b * b];
    s.par_chunks_mut(b).enumerate().for_each(|(i, row)| {
        for (j, x) in row.iter_mut().enumerate() {
            *x = qp[i]
                .0
                .iter()
                .zip(&dp[j].0)
                .map(|(a, c)| a * c)
                .sum::<f32>()
                / tau;
        }
    });
    // Row (question -> code) and column (code -> question) softmaxes.
    let mut g = vec![0f32; b * b];
    let mut loss = 0f64;
    let scale = 1.0 / (2.0 * tau * b as f32);
    for i in 0..b {
        let row = &s[i * b..(i + 1) * b];
        let m = row.iter().cloned().fold(f32::MIN, f32::max);
        let z: f32 = row.iter().map(|x| (x - m).exp()).sum();
        loss -= ((row[i] - m) - z.ln()) as f64;
        for j in 0..b {
            let p = (row[j] - m).exp() / z;
            g[i * b + j] += (p - if i == j { 1.0 } else { 0.0 }) * scale;
        }
    }
    for j in 0..b {
        let m = (0..b).map(|i| s[i * b + j]).fold(f32::MIN, f32::max);
        let z: f32 = (0..b).map(|i| (s[i * b + j] - m).exp()).sum();
        loss -= ((s[j * b + j] - m) - z.ln()) as f64;
        for i in 0..b {
            let p = (s[i * b + j] - m).exp() / z;
            g[i * b + j] += (p - if i == j { 1.0 } else { 0.0 }) * scale;
        }
    }
    loss /= 2.0 * b as f64;
    // d loss / d unit vectors, then through the normalisation to the sums.
    let back = |v: &[f32], n: f32, gv: Vec<f32>| -> Vec<f32> {
        if n == 0.0 {
            return vec![0f32; dim];
        }
        let dot: f32 = v.iter().zip(&gv).map(|(a, c)| a * c).sum();
        gv.iter()
            .zip(v)
            .map(|(gx, vx)| (gx - vx * dot) / n)
            .collect()
    };
    let gq: Vec<Vec<f32>> = (0..b)
        .into_par_iter()
        .map(|i| {
            let mut acc = vec![0f32; dim];
            for j in 0..b {
                let w = g[i * b + j];
                acc.iter_mut().zip(&dp[j].0).for_each(|(a, c)| *a += w * c);
            }
            back(&qp[i].0, qp[i].1, acc)
        })
        .collect();
    let gd: Vec<Vec<f32>> = (0..b)
        .into_par_iter()
        .map(|j| {
            let mut acc = vec![0f32; dim];
            for i in 0..b {
                let w = g[i * b + j];
                acc.iter_mut().zip(&qp[i].0).for_each(|(a, c)| *a += w * c);
            }
            back(&dp[j].0, dp[j].1, acc)
        })
        .collect();
    let mut rows: HashMap<u32, Vec<f32>> = HashMap::new();
    for (ids, gu) in qi.iter().zip(&gq).chain(di.iter().zip(&gd)) {
        for &t in ids.iter() {
            let r = rows.entry(t).or_insert_with(|| vec![0f32; dim]);
            r.iter_mut().zip(gu).for_each(|(a, c)| *a += c);
        }
    }
    (loss, rows)
}

/// Train the table of the static model in `from` on the pairs of `corpus`
/// and write the result to `to`.
pub fn train(
    storage: &dyn Storage,
    from: &Path,
    to: &Path,
    corpus: &[PathBuf],
    o: &TrainOptions,
    progress: &dyn Fn(&str),
) -> Result<TrainReport> {
    let t0 = Instant::now();
    if corpus.is_empty() {
        return Err(Error::config(
            "--corpus",
            "name at least one directory of code",
        ));
    }
    let tok = storage.read_all(&from.join("tokenizer.json"))?;
    let st = storage.read_all(&from.join("model.safetensors"))?;
    let model = StaticModel::from_bytes("train", &tok, &st, from, true)?;
    let dim = super::Embedder::dim(&model);
    let mut pairs = collect_pairs(storage, corpus)?;
    pairs.sort_by(|a, b| (&a.question, &a.code).cmp(&(&b.question, &b.code)));
    pairs.dedup_by(|a, b| a.question == b.question || a.code == b.code);
    let mut rng = Rng::new(o.seed);
    rng.shuffle(&mut pairs);
    if pairs.len() < o.held_out + o.batch {
        return Err(Error::argument(
            "corpus",
            format!(
                "{} documented functions found under the corpus; training needs at least {}",
                pairs.len(),
                o.held_out + o.batch
            ),
        ));
    }
    let mut by_language: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in &pairs {
        *by_language.entry(p.language.name()).or_default() += 1;
    }
    progress(&format!(
        "train: {} pairs ({})",
        pairs.len(),
        by_language
            .iter()
            .map(|(l, n)| format!("{n} {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let t = tokenize(&model, &pairs, o.max_tokens)?;
    let n_train = pairs.len() - o.held_out;
    let (hq, hd) = (&t.q[n_train..], &t.d[n_train..]);
    let mut table = model.table();
    let recall_before = recall_at_10(&table, dim, hq, hd);
    progress(&format!(
        "train: held-out recall@10 before {recall_before:.3}"
    ));
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut m1 = vec![0f32; table.len()];
    let mut m2 = vec![0f32; table.len()];
    let mut order: Vec<usize> = (0..n_train).collect();
    let mut pos = order.len();
    let (mut loss_first, mut loss_last) = (f64::NAN, f64::NAN);
    let mut window = 0f64;
    for step in 1..=o.steps {
        if pos + o.batch > order.len() {
            rng.shuffle(&mut order);
            pos = 0;
        }
        let idx = &order[pos..pos + o.batch];
        pos += o.batch;
        let qi: Vec<&[u32]> = idx.iter().map(|&i| t.q[i].as_slice()).collect();
        let di: Vec<&[u32]> = idx.iter().map(|&i| t.d[i].as_slice()).collect();
        let (loss, grads) = step_grad(&table, dim, &qi, &di, o.temperature);
        if step == 1 {
            loss_first = loss;
        }
        window += loss;
        let c1 = 1.0 - b1.powi(step as i32);
        let c2 = 1.0 - b2.powi(step as i32);
        let mut keys: Vec<&u32> = grads.keys().collect();
        keys.sort();
        for k in keys {
            let g = &grads[k];
            let r = *k as usize * dim..(*k as usize + 1) * dim;
            for (((w, a), v), gx) in table[r.clone()]
                .iter_mut()
                .zip(&mut m1[r.clone()])
                .zip(&mut m2[r])
                .zip(g)
            {
                *a = b1 * *a + (1.0 - b1) * gx;
                *v = b2 * *v + (1.0 - b2) * gx * gx;
                *w -= o.lr * (*a / c1) / ((*v / c2).sqrt() + eps);
            }
        }
        if step % 100 == 0 || step == o.steps {
            loss_last = window
                / (if step % 100 == 0 {
                    100.0
                } else {
                    (step % 100) as f64
                });
            window = 0.0;
            let extra = if step % 500 == 0 || step == o.steps {
                format!(
                    ", held-out recall@10 {:.3}",
                    recall_at_10(&table, dim, hq, hd)
                )
            } else {
                String::new()
            };
            progress(&format!(
                "train: step {step}/{}, loss {loss_last:.4}{extra}, {:.0} s",
                o.steps,
                t0.elapsed().as_secs_f64()
            ));
        }
    }
    let recall_after = recall_at_10(&table, dim, hq, hd);
    // The input's metadata (identifier splitting, the weights' provenance)
    // holds for the output too.
    let mut meta: HashMap<String, String> = safetensors::SafeTensors::read_metadata(&st)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default();
    meta.insert(
        "trained".to_string(),
        format!(
            "{} docstring/code pairs, {} steps of {}, lr {}, temperature {}, seed {}; held-out recall@10 {recall_before:.3} -> {recall_after:.3}",
            pairs.len(), o.steps, o.batch, o.lr, o.temperature, o.seed
        ),
    );
    let bytes_written = distill::write_model(storage, to, &tok, &table, dim, meta)?;
    Ok(TrainReport {
        pairs: pairs.len(),
        held_out: o.held_out,
        recall_before,
        recall_after,
        loss_first,
        loss_last,
        seconds: t0.elapsed().as_secs_f64(),
        bytes_written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss_of(table: &[f32], dim: usize, q: &[&[u32]], d: &[&[u32]], tau: f32) -> f64 {
        step_grad(table, dim, q, d, tau).0
    }

    /// The hand-written gradient matches central finite differences.
    #[test]
    fn gradient_matches_finite_differences() {
        let (vocab, dim) = (7usize, 5usize);
        let mut rng = Rng::new(3);
        let table: Vec<f32> = (0..vocab * dim).map(|_| rng.normal()).collect();
        let q: Vec<Vec<u32>> = vec![vec![0, 1], vec![2, 2, 3], vec![4]];
        let d: Vec<Vec<u32>> = vec![vec![1, 5], vec![3, 6], vec![4, 0, 6]];
        let qi: Vec<&[u32]> = q.iter().map(|v| v.as_slice()).collect();
        let di: Vec<&[u32]> = d.iter().map(|v| v.as_slice()).collect();
        let tau = 0.5;
        let (_, grads) = step_grad(&table, dim, &qi, &di, tau);
        let h = 1e-3f32;
        let mut checked = 0;
        for t in 0..vocab {
            for x in 0..dim {
                let mut plus = table.clone();
                plus[t * dim + x] += h;
                let mut minus = table.clone();
                minus[t * dim + x] -= h;
                let num = (loss_of(&plus, dim, &qi, &di, tau)
                    - loss_of(&minus, dim, &qi, &di, tau))
                    / (2.0 * h as f64);
                let ana = grads.get(&(t as u32)).map_or(0.0, |g| g[x] as f64);
                assert!(
                    (num - ana).abs() < 2e-3 * (1.0 + num.abs()),
                    "token {t} dim {x}: numeric {num} analytic {ana}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, vocab * dim);
    }
}
