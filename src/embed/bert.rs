//! The transformer embedder: a sentence-transformers BERT model directory
//! (config.json, tokenizer.json, model.safetensors) run with candle on the CPU,
//! mean pooling over the attention mask, normalised. Full MiniLM/bge-class
//! quality at tens of texts per second on 2 cores: for small trees, reranking
//! and distillation, not the default.

use super::Embedder;
use crate::error::{Error, Result};
use crate::io::Storage;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;

/// Tokens per text when the model directory does not say
/// (sentence_bert_config.json `max_seq_length`).
pub const DEFAULT_MAX_TOKENS: usize = 256;
/// Texts per forward pass.
pub const BATCH_TEXTS: usize = 16;

pub struct BertEmbedder {
    id: String,
    model: BertModel,
    tokenizer: tokenizers::Tokenizer,
    dim: usize,
    max_tokens: usize,
}

pub(crate) fn candle_err(what: &str, e: candle_core::Error) -> Error {
    Error::model(format!("{what}: {e}"))
}

/// A BERT model directory read and checked: config.json, tokenizer.json
/// (truncating at the directory's max_seq_length, no padding: batches are
/// padded by `run_batches`), model.safetensors.
pub(crate) struct BertDir {
    pub config: Config,
    pub tokenizer: tokenizers::Tokenizer,
    pub max_tokens: usize,
    pub weights: VarBuilder<'static>,
    /// The first 16 hex digits of the BLAKE3 of config, tokenizer and weights.
    pub hash: String,
    /// A readable name for the directory (`model_label`).
    pub label: String,
}

impl BertDir {
    pub fn read(storage: &dyn Storage, dir: &Path) -> Result<BertDir> {
        let read_text = |name: &str| -> Result<String> {
            let p = dir.join(name);
            String::from_utf8(storage.read_all(&p)?).map_err(|_| Error::corrupt(&p, 0, "not UTF-8"))
        };
        let config_path = dir.join("config.json");
        let config_text = read_text("config.json")?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| Error::corrupt(&config_path, 0, format!("not a BERT config: {e}")))?;
        let max_tokens = read_text("sentence_bert_config.json")
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
            .map_or(DEFAULT_MAX_TOKENS, |m| m as usize);
        let tok_json = read_text("tokenizer.json")?;
        let mut tokenizer =
            tokenizers::Tokenizer::from_bytes(tok_json.as_bytes()).map_err(|e| {
                Error::corrupt(
                    dir.join("tokenizer.json"),
                    0,
                    format!("tokenizer does not load: {e}"),
                )
            })?;
        tokenizer.with_padding(None);
        truncate_at(&mut tokenizer, max_tokens)?;
        let weights_path = dir.join("model.safetensors");
        let bytes = storage.read_all(&weights_path)?;
        let mut h = blake3::Hasher::new();
        h.update(config_text.as_bytes());
        h.update(tok_json.as_bytes());
        h.update(&bytes);
        let hash = h.finalize().to_hex()[..16].to_string();
        let weights = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|e| candle_err(&weights_path.display().to_string(), e))?;
        Ok(BertDir {
            config,
            tokenizer,
            max_tokens,
            weights,
            hash,
            label: model_label(dir),
        })
    }
}

/// Cut encodings at `n` tokens (at least 2: the special tokens).
pub(crate) fn truncate_at(t: &mut tokenizers::Tokenizer, n: usize) -> Result<usize> {
    let n = n.max(2);
    t.with_truncation(Some(tokenizers::TruncationParams {
        max_length: n,
        ..Default::default()
    }))
    .map_err(|e| Error::model(format!("tokenizer: {e}")))?;
    Ok(n)
}

/// Run encodings through `forward` in batches of at most BATCH_TEXTS,
/// shortest first so that a batch holds texts of similar length, each batch
/// padded to its longest (pad id 0, mask 0). `forward` takes (ids, type ids,
/// mask), each (b, len) u32, and returns one row per text. Rows come back in
/// the order of `encs`; an encoding without tokens gets an empty row.
pub(crate) fn run_batches(
    encs: &[tokenizers::Encoding],
    mut forward: impl FnMut(&Tensor, &Tensor, &Tensor) -> Result<Vec<Vec<f32>>>,
) -> Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..encs.len())
        .filter(|&i| !encs[i].get_ids().is_empty())
        .collect();
    order.sort_by_key(|&i| encs[i].get_ids().len());
    let mut rows = vec![Vec::new(); encs.len()];
    let dev = Device::Cpu;
    for batch in order.chunks(BATCH_TEXTS) {
        let len = batch
            .iter()
            .map(|&i| encs[i].get_ids().len())
            .max()
            .unwrap_or(0);
        let b = batch.len();
        let (mut ids, mut types, mut mask) = (
            Vec::with_capacity(b * len),
            Vec::with_capacity(b * len),
            Vec::with_capacity(b * len),
        );
        for &i in batch {
            let e = &encs[i];
            let pad = len - e.get_ids().len();
            ids.extend_from_slice(e.get_ids());
            ids.extend(std::iter::repeat_n(0, pad));
            types.extend_from_slice(e.get_type_ids());
            types.extend(std::iter::repeat_n(0, pad));
            mask.extend(std::iter::repeat_n(1u32, len - pad));
            mask.extend(std::iter::repeat_n(0, pad));
        }
        let t =
            |v: Vec<u32>| Tensor::from_vec(v, (b, len), &dev).map_err(|e| candle_err("input", e));
        let out = forward(&t(ids)?, &t(types)?, &t(mask)?)?;
        if out.len() != b {
            return Err(Error::model(format!(
                "model gave {} rows for a batch of {b}",
                out.len()
            )));
        }
        for (&i, r) in batch.iter().zip(out) {
            rows[i] = r;
        }
    }
    Ok(rows)
}

impl BertEmbedder {
    pub fn load(storage: &dyn Storage, dir: &Path) -> Result<BertEmbedder> {
        let d = BertDir::read(storage, dir)?;
        let model = BertModel::load(d.weights, &d.config)
            .map_err(|e| candle_err("loading BERT weights", e))?;
        Ok(BertEmbedder {
            id: format!("transformer:{}:{}", d.label, d.hash),
            model,
            tokenizer: d.tokenizer,
            dim: d.config.hidden_size,
            max_tokens: d.max_tokens,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Cut texts at `n` tokens (the model directory's max_seq_length by default).
    pub fn set_max_tokens(&mut self, n: usize) -> Result<()> {
        self.max_tokens = truncate_at(&mut self.tokenizer, n)?;
        Ok(())
    }

    /// Mean of the last hidden states over the mask, normalised: one row per text.
    fn forward(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> Result<Vec<Vec<f32>>> {
        let hidden = self
            .model
            .forward(ids, types, Some(mask))
            .map_err(|e| candle_err("forward pass", e))?;
        // Masked mean: sum(hidden * mask) / sum(mask).
        let m = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(|e| candle_err("pooling", e))?;
        let summed = hidden
            .broadcast_mul(&m)
            .and_then(|x| x.sum(1))
            .map_err(|e| candle_err("pooling", e))?;
        let counts = m.sum(1).map_err(|e| candle_err("pooling", e))?;
        let pooled = summed
            .broadcast_div(
                &counts
                    .clamp(1e-9f32, f32::MAX)
                    .map_err(|e| candle_err("pooling", e))?,
            )
            .map_err(|e| candle_err("pooling", e))?;
        let mut rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(|e| candle_err("pooling", e))?;
        for r in &mut rows {
            crate::ann::distance::normalize(r);
        }
        Ok(rows)
    }
}

/// A readable name for a model directory: its own name, or its parent's when
/// it is called `model` (as in the PyPI packages that carry models).
fn model_label(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let own = name(dir).unwrap_or_else(|| "model".into());
    if own == "model" {
        if let Some(parent) = dir.parent().and_then(name) {
            return parent;
        }
    }
    own
}

impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let encs = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::model(format!("tokenizer: {e}")))?;
        let rows = run_batches(&encs, |i, t, m| self.forward(i, t, m))?;
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for r in rows {
            if r.is_empty() {
                out.extend(std::iter::repeat_n(0.0, self.dim));
            } else {
                out.extend_from_slice(&r);
            }
        }
        Ok(out)
    }
}
