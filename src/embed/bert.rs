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

fn candle_err(what: &str, e: candle_core::Error) -> Error {
    Error::invalid(format!("{what}: {e}"))
}

impl BertEmbedder {
    pub fn load(storage: &dyn Storage, dir: &Path) -> Result<BertEmbedder> {
        let read_text = |name: &str| -> Result<String> {
            let p = dir.join(name);
            String::from_utf8(storage.read_all(&p)?).map_err(|_| Error::corrupt(&p, 0, "not UTF-8"))
        };
        let config_path = dir.join("config.json");
        let config_text = read_text("config.json")?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| Error::corrupt(&config_path, 0, format!("not a BERT config: {e}")))?;
        let dim = serde_json::from_str::<serde_json::Value>(&config_text)
            .ok()
            .and_then(|v| v.get("hidden_size").and_then(|h| h.as_u64()))
            .ok_or_else(|| Error::corrupt(&config_path, 0, "no hidden_size"))?
            as usize;
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
        tokenizer.with_padding(Some(tokenizers::PaddingParams::default()));
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| Error::invalid(format!("tokenizer: {e}")))?;
        let weights_path = dir.join("model.safetensors");
        let weights = storage.read_all(&weights_path)?;
        let mut h = blake3::Hasher::new();
        h.update(config_text.as_bytes());
        h.update(tok_json.as_bytes());
        h.update(&weights);
        let hex = h.finalize().to_hex();
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| candle_err(&weights_path.display().to_string(), e))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| candle_err("loading BERT weights", e))?;
        let label = model_label(dir);
        Ok(BertEmbedder {
            id: format!("transformer:{label}:{}", &hex[..16]),
            model,
            tokenizer,
            dim,
            max_tokens,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Cut texts at `n` tokens (the model directory's max_seq_length by default).
    pub fn set_max_tokens(&mut self, n: usize) -> Result<()> {
        self.tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: n.max(2),
                ..Default::default()
            }))
            .map_err(|e| Error::invalid(format!("tokenizer: {e}")))?;
        self.max_tokens = n.max(2);
        Ok(())
    }

    fn embed_batch(&self, texts: &[&str], out: &mut Vec<f32>) -> Result<()> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::invalid(format!("tokenizer: {e}")))?;
        let b = enc.len();
        let len = enc.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        if len == 0 {
            out.extend(std::iter::repeat_n(0.0, b * self.dim));
            return Ok(());
        }
        let mut ids = Vec::with_capacity(b * len);
        let mut types = Vec::with_capacity(b * len);
        let mut mask = Vec::with_capacity(b * len);
        for e in &enc {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let dev = Device::Cpu;
        let t =
            |v: Vec<u32>| Tensor::from_vec(v, (b, len), &dev).map_err(|e| candle_err("input", e));
        let mask_t = t(mask)?;
        let hidden = self
            .model
            .forward(&t(ids)?, &t(types)?, Some(&mask_t))
            .map_err(|e| candle_err("forward pass", e))?;
        // Masked mean: sum(hidden * mask) / sum(mask).
        let m = mask_t
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
        let rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(|e| candle_err("pooling", e))?;
        for mut r in rows {
            crate::distance::normalize(&mut r);
            out.extend_from_slice(&r);
        }
        Ok(())
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
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for batch in texts.chunks(BATCH_TEXTS) {
            self.embed_batch(batch, &mut out)?;
        }
        Ok(out)
    }
}
