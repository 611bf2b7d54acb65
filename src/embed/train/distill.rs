//! `leann model distill`: make a static (model2vec-style) embedding table from
//! a sentence-transformers BERT model directory (config.json, tokenizer.json,
//! model.safetensors):
//!
//! 1. run the transformer (candle, CPU) over every vocabulary token as the
//!    sentence `[CLS] token [SEP]` and mean-pool its output;
//! 2. reduce the token vectors to `dims` dimensions with PCA;
//! 3. weight each token by SIF: a / (a + p(token)), with p from Zipf's law on
//!    the token's vocabulary rank (vocabularies list frequent tokens first);
//! 4. write `tokenizer.json` and `model.safetensors` (tensor `embeddings`,
//!    int8, vocab x dims, and `scales`, f32 per row) to the output directory.

use crate::error::{Error, Result};
use crate::io::Storage;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Tokens per forward pass.
const BATCH_TOKENS: usize = 1024;

#[derive(Clone, Debug)]
pub struct DistillReport {
    pub vocab: usize,
    pub dim_in: usize,
    pub dims: usize,
    pub variance_kept: f64,
    pub seconds: f64,
    pub bytes_written: u64,
}

fn candle_err(what: &str, e: candle_core::Error) -> Error {
    Error::model(format!("{what}: {e}"))
}

pub fn distill(
    storage: &dyn Storage,
    from: &Path,
    to: &Path,
    dims: usize,
    sif: f32,
    progress: &dyn Fn(&str),
) -> Result<DistillReport> {
    let t0 = Instant::now();
    let read_text = |name: &str| -> Result<String> {
        let p = from.join(name);
        String::from_utf8(storage.read_all(&p)?).map_err(|_| Error::corrupt(&p, 0, "not UTF-8"))
    };
    let config_path = from.join("config.json");
    let config: Config = serde_json::from_str(&read_text("config.json")?)
        .map_err(|e| Error::corrupt(&config_path, 0, format!("not a BERT config: {e}")))?;
    let tok_json = read_text("tokenizer.json")?;
    let mut tokenizer = tokenizers::Tokenizer::from_bytes(tok_json.as_bytes()).map_err(|e| {
        Error::corrupt(
            from.join("tokenizer.json"),
            0,
            format!("tokenizer does not load: {e}"),
        )
    })?;
    tokenizer.with_padding(None);
    let weights = storage.read_all(&from.join("model.safetensors"))?;
    let dev = Device::Cpu;
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &dev)
        .map_err(|e| candle_err("model.safetensors", e))?;
    let model = BertModel::load(vb, &config).map_err(|e| candle_err("loading BERT weights", e))?;
    // The special tokens the tokenizer wraps a sentence in.
    let specials = tokenizer
        .encode("", true)
        .map_err(|e| Error::model(format!("tokenizer: {e}")))?
        .get_ids()
        .to_vec();
    let (cls, sep) = match specials.as_slice() {
        [c, s] => (*c, *s),
        other => {
            return Err(Error::model(format!(
                "expected [CLS] [SEP] around a sentence, tokenizer adds {other:?}"
            )))
        }
    };
    let vocab = tokenizer.get_vocab_size(true);
    let dim_in = config_hidden(&config_path, &read_text("config.json")?)?;
    let mut rows = Vec::with_capacity(vocab * dim_in);
    for start in (0..vocab).step_by(BATCH_TOKENS) {
        let end = (start + BATCH_TOKENS).min(vocab);
        let b = end - start;
        let ids: Vec<u32> = (start..end).flat_map(|t| [cls, t as u32, sep]).collect();
        let input = Tensor::from_vec(ids, (b, 3), &dev).map_err(|e| candle_err("input", e))?;
        let types = input.zeros_like().map_err(|e| candle_err("input", e))?;
        let mask = input.ones_like().map_err(|e| candle_err("input", e))?;
        let out = model
            .forward(&input, &types, Some(&mask))
            .map_err(|e| candle_err("forward pass", e))?;
        let pooled = out.mean(1).map_err(|e| candle_err("pooling", e))?;
        let v: Vec<Vec<f32>> = pooled.to_vec2().map_err(|e| candle_err("pooling", e))?;
        for r in v {
            rows.extend_from_slice(&r);
        }
        progress(&format!(
            "distill: {end}/{vocab} tokens through the transformer, {:.1} s",
            t0.elapsed().as_secs_f64()
        ));
    }
    let (mut reduced, variance_kept) = super::pca::reduce(&rows, dim_in, dims);
    let dims = reduced.len() / vocab;
    // SIF weights from Zipf ranks.
    let inv: Vec<f64> = (0..vocab).map(|r| 1.0 / (r as f64 + 2.0)).collect();
    let z: f64 = inv.iter().sum();
    for (t, row) in reduced.chunks_mut(dims).enumerate() {
        let p = inv[t] / z;
        let w = (sif as f64 / (sif as f64 + p)) as f32;
        row.iter_mut().for_each(|x| *x *= w);
    }
    let mut meta = HashMap::new();
    meta.insert(
        "source".to_string(),
        from.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    meta.insert(
        "method".to_string(),
        format!("mean-pooled [CLS] t [SEP], PCA {dim_in}->{dims}, SIF a={sif}"),
    );
    let bytes_written = write_model(storage, to, tok_json.as_bytes(), &reduced, dims, meta)?;
    Ok(DistillReport {
        vocab,
        dim_in,
        dims,
        variance_kept,
        seconds: t0.elapsed().as_secs_f64(),
        bytes_written,
    })
}

/// Write a static model directory: `tokenizer.json` and `model.safetensors`
/// holding `table` (vocab x `dims`) as int8 `embeddings` with f32 `scales`,
/// and `meta`. Returns the bytes written.
pub fn write_model(
    storage: &dyn Storage,
    to: &Path,
    tokenizer_json: &[u8],
    table: &[f32],
    dims: usize,
    meta: HashMap<String, String>,
) -> Result<u64> {
    let vocab = table.len() / dims.max(1);
    let (codes, scales) = quantize_rows(table, dims);
    let st_err = |e: safetensors::SafeTensorError| Error::model(format!("safetensors: {e}"));
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I8, vec![vocab, dims], &codes)
            .map_err(st_err)?;
    let scale_view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![vocab], &scales)
            .map_err(st_err)?;
    let st_bytes =
        safetensors::serialize([("embeddings", view), ("scales", scale_view)], Some(meta))
            .map_err(st_err)?;
    storage.create_dir_all(to)?;
    storage.write_atomic(&to.join("tokenizer.json"), tokenizer_json)?;
    storage.write_atomic(&to.join("model.safetensors"), &st_bytes)?;
    Ok((st_bytes.len() + tokenizer_json.len()) as u64)
}

/// int8 with one f32 scale per row (a quarter of f32, ~1% error): the codes
/// and the scales' little-endian bytes.
fn quantize_rows(table: &[f32], dims: usize) -> (Vec<u8>, Vec<u8>) {
    let mut codes = Vec::with_capacity(table.len());
    let mut scales = Vec::with_capacity(table.len() / dims.max(1) * 4);
    for row in table.chunks(dims) {
        let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        codes.extend(
            row.iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8),
        );
        scales.extend_from_slice(&scale.to_le_bytes());
    }
    (codes, scales)
}

fn config_hidden(path: &Path, text: &str) -> Result<usize> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::corrupt(path, 0, e.to_string()))?;
    v.get("hidden_size")
        .and_then(|h| h.as_u64())
        .map(|h| h as usize)
        .ok_or_else(|| Error::corrupt(path, 0, "no hidden_size"))
}
