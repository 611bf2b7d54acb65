//! The cross-encoder of `--mode rerank`: a BERT sequence classifier
//! (Hugging Face `BertForSequenceClassification`: config.json, tokenizer.json,
//! model.safetensors with `bert.*`, `bert.pooler.dense.*` and `classifier.*`),
//! which reads a question and a chunk together and gives one relevance
//! logit. ms-marco-MiniLM-L-6-v2 is of this kind. Run with candle on the CPU.

use super::bert::{candle_err, run_batches, truncate_at, BertDir};
use crate::error::{Error, Result};
use crate::io::Storage;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Linear, Module};
use candle_transformers::models::bert::BertModel;
use std::path::Path;

pub struct CrossEncoder {
    id: String,
    model: BertModel,
    pooler: Linear,
    classifier: Linear,
    tokenizer: tokenizers::Tokenizer,
    max_tokens: usize,
}

impl CrossEncoder {
    /// Load a sequence-classification model directory. It must have one
    /// output (`num_labels` 1, a relevance logit); a missing head is an error
    /// naming model.safetensors.
    pub fn load(storage: &dyn Storage, dir: &Path) -> Result<CrossEncoder> {
        let d = BertDir::read(storage, dir)?;
        let weights_path = dir.join("model.safetensors");
        let head_err = |what: &str, e: candle_core::Error| {
            Error::model(format!(
                "{}: {what} (a cross-encoder is a BertForSequenceClassification with one label): {e}",
                weights_path.display()
            ))
        };
        let h = d.config.hidden_size;
        let classifier = candle_nn::linear(h, 1, d.weights.pp("classifier")).map_err(|e| {
            head_err(
                "no classifier.weight of shape (1, hidden_size) and classifier.bias",
                e,
            )
        })?;
        let pooler = candle_nn::linear(h, h, d.weights.pp("bert.pooler.dense"))
            .map_err(|e| head_err("no bert.pooler.dense weight and bias", e))?;
        let model = BertModel::load(d.weights, &d.config)
            .map_err(|e| candle_err("loading BERT weights", e))?;
        Ok(CrossEncoder {
            id: format!("cross-encoder:{}:{}", d.label, d.hash),
            model,
            pooler,
            classifier,
            tokenizer: d.tokenizer,
            max_tokens: d.max_tokens,
        })
    }

    pub fn model_id(&self) -> &str {
        &self.id
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Cut each (question, text) pair at `n` tokens, the text losing first.
    pub fn set_max_tokens(&mut self, n: usize) -> Result<()> {
        self.max_tokens = truncate_at(&mut self.tokenizer, n)?;
        Ok(())
    }

    /// The relevance logit of each text for `query` (higher is better).
    pub fn score(&self, query: &str, texts: &[&str]) -> Result<Vec<f32>> {
        let pairs: Vec<(&str, &str)> = texts.iter().map(|t| (query, *t)).collect();
        let encs = self
            .tokenizer
            .encode_batch(pairs, true)
            .map_err(|e| Error::model(format!("tokenizer: {e}")))?;
        let rows = run_batches(&encs, |ids, types, mask| {
            let err = |e| candle_err("cross-encoder forward pass", e);
            let hidden = self.model.forward(ids, types, Some(mask)).map_err(err)?;
            // The pooler reads the first ([CLS]) position.
            let cls = hidden.i((.., 0, ..)).map_err(err)?;
            let pooled = self
                .pooler
                .forward(&cls)
                .and_then(|x| x.tanh())
                .map_err(err)?;
            let logits: Tensor = self.classifier.forward(&pooled).map_err(err)?;
            logits.to_vec2::<f32>().map_err(err)
        })?;
        Ok(rows
            .into_iter()
            .map(|r| r.first().copied().unwrap_or(f32::NEG_INFINITY))
            .collect())
    }
}
