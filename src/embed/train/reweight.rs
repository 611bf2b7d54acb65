//! `leann model reweight`: weight a static model's tokens by how often they
//! occur in a corpus of code (SIF, Arora et al. 2017: a / (a + p(token))),
//! and give tokens with no letter or digit (punctuation, operators) weight 0.
//!
//! The distillation's own weights come from Zipf's law on the vocabulary
//! rank, which is English frequency: in code, `(`, `self`, `=` and `return`
//! are far more frequent than their rank says, and a chunk's mean vector is
//! mostly made of them. Counting the tokens of real code fixes that. The
//! weights are stored beside the table (tensor `weights`, F32 per token), so
//! the table itself, and models made before, are unchanged.

use crate::chunk::{read_source, walk, WalkOptions};
use crate::embed::static_model::StaticModel;
use crate::error::{Error, Result};
use crate::io::Storage;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct ReweightReport {
    pub files: usize,
    pub tokens: u64,
    /// Tokens given weight 0 (no letter or digit).
    pub zeroed: usize,
    pub seconds: f64,
    pub bytes_written: u64,
}

/// How often each token id occurs in the indexable files under `dirs`
/// (walked as `leann index create` walks a tree). Returns the counts and the
/// number of files read.
pub fn count_tokens(
    storage: &dyn Storage,
    model: &StaticModel,
    dirs: &[PathBuf],
    progress: &dyn Fn(&str),
) -> Result<(Vec<u64>, usize)> {
    let mut counts = vec![0u64; model.vocab()];
    let mut files = 0usize;
    for dir in dirs {
        let (entries, _skips) = walk(dir, &WalkOptions::default())?;
        let part = entries
            .par_iter()
            .map(|e| -> Result<(Vec<u64>, usize)> {
                let mut c = vec![0u64; model.vocab()];
                let Ok(text) = read_source(storage, &e.abs) else {
                    return Ok((c, 0));
                };
                let mut ids = Vec::new();
                model.all_token_ids(&text, &mut ids)?;
                for t in ids {
                    if let Some(x) = c.get_mut(t as usize) {
                        *x += 1;
                    }
                }
                Ok((c, 1))
            })
            .try_reduce(
                || (vec![0u64; model.vocab()], 0),
                |(mut a, n), (b, m)| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    Ok((a, n + m))
                },
            )?;
        counts.iter_mut().zip(&part.0).for_each(|(x, y)| *x += y);
        files += part.1;
        progress(&format!(
            "reweight: {} files under {} counted",
            part.1,
            dir.display()
        ));
    }
    Ok((counts, files))
}

/// SIF weights from token counts: a / (a + count / total); 0 for tokens
/// whose text (without a `##` continuation mark) has no letter or digit.
pub fn weights_from_counts(model: &StaticModel, counts: &[u64], a: f64) -> Vec<f32> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(t, &c)| {
            let word = model.token_text(t as u32).unwrap_or_default();
            if !word
                .trim_start_matches("##")
                .chars()
                .any(char::is_alphanumeric)
            {
                return 0.0;
            }
            let p = c as f64 / total;
            (a / (a + p)) as f32
        })
        .collect()
}

/// Read the static model in `from`, count tokens over `corpus`, and write
/// the model with its `weights` tensor to `to` (tokenizer.json copied).
pub fn reweight(
    storage: &dyn Storage,
    from: &Path,
    to: &Path,
    corpus: &[PathBuf],
    a: f64,
    split_identifiers: bool,
    progress: &dyn Fn(&str),
) -> Result<ReweightReport> {
    let t0 = Instant::now();
    if corpus.is_empty() {
        return Err(Error::config(
            "--corpus",
            "name at least one directory of code to count tokens in",
        ));
    }
    if !(a > 0.0 && a.is_finite()) {
        return Err(Error::config(
            "--sif",
            format!("{a} is not a positive number"),
        ));
    }
    let tok = storage.read_all(&from.join("tokenizer.json"))?;
    let st_path = from.join("model.safetensors");
    let st_bytes = storage.read_all(&st_path)?;
    // The table as stored (weights not applied: they are replaced).
    let mut model = StaticModel::from_bytes("reweight", &tok, &st_bytes, from, false)?;
    if split_identifiers {
        model.set_split_identifiers(true);
    }
    let (counts, files) = count_tokens(storage, &model, corpus, progress)?;
    let tokens: u64 = counts.iter().sum();
    if tokens == 0 {
        return Err(Error::argument(
            "corpus",
            format!(
                "no indexable files with tokens under {}",
                corpus
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let weights = weights_from_counts(&model, &counts, a);
    let zeroed = weights.iter().filter(|w| **w == 0.0).count();
    let st = safetensors::SafeTensors::deserialize(&st_bytes)
        .map_err(|e| Error::corrupt(&st_path, 0, format!("not safetensors: {e}")))?;
    let (_, old_meta) = safetensors::SafeTensors::read_metadata(&st_bytes)
        .map_err(|e| Error::corrupt(&st_path, 0, format!("not safetensors: {e}")))?;
    let mut meta: HashMap<String, String> = old_meta.metadata().clone().unwrap_or_default();
    if model.splits_identifiers() {
        meta.insert(
            crate::embed::static_model::SPLIT_IDENTIFIERS_KEY.to_string(),
            "true".to_string(),
        );
    }
    meta.insert(
        "weights".to_string(),
        format!(
            "SIF a={a} from {tokens} tokens of {files} files of code; tokens without a letter or digit 0"
        ),
    );
    let w_bytes: Vec<u8> = weights.iter().flat_map(|w| w.to_le_bytes()).collect();
    let st_err = |e: safetensors::SafeTensorError| Error::model(format!("safetensors: {e}"));
    let mut views = Vec::new();
    for (name, view) in st.tensors() {
        if name != "weights" {
            views.push((name, view));
        }
    }
    views.push((
        "weights".to_string(),
        safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![weights.len()],
            &w_bytes,
        )
        .map_err(st_err)?,
    ));
    let out = safetensors::serialize(views, Some(meta)).map_err(st_err)?;
    storage.create_dir_all(to)?;
    storage.write_atomic(&to.join("tokenizer.json"), &tok)?;
    storage.write_atomic(&to.join("model.safetensors"), &out)?;
    Ok(ReweightReport {
        files,
        tokens,
        zeroed,
        seconds: t0.elapsed().as_secs_f64(),
        bytes_written: (out.len() + tok.len()) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequent_tokens_weigh_less_and_punctuation_nothing() {
        let m = StaticModel::builtin().unwrap();
        let id = |t: &str| {
            let mut v = Vec::new();
            m.token_ids(t, &mut v).unwrap();
            assert_eq!(v.len(), 1, "{t} is one token");
            v[0] as usize
        };
        let (paren, the, network) = (id("("), id("the"), id("network"));
        let mut counts = vec![1u64; m.vocab()];
        counts[paren] = 1_000_000;
        counts[the] = 100_000;
        let w = weights_from_counts(&m, &counts, 3e-3);
        assert_eq!(w[paren], 0.0);
        assert!(
            w[the] > 0.0 && w[the] < w[network],
            "{} {}",
            w[the],
            w[network]
        );
        assert!(w[network] <= 1.0);
    }
}
