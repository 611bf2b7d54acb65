//! The built-in static embedder: a token table (model2vec-style: one
//! pre-weighted vector per vocabulary token) and its tokenizer. A text's
//! vector is the mean of its tokens' vectors, normalised. No network, no
//! transformer at run time.

use super::Embedder;
use crate::error::{Error, Result};
use crate::io::Storage;
use rayon::prelude::*;
use std::path::Path;

/// Model id of the built-in model.
pub const BUILTIN_ID: &str = "builtin:minilm-l6-static-256-v1";

/// Tokens looked at per text (a 40-line chunk is a few hundred).
pub const MAX_TOKENS: usize = 2048;

pub struct StaticModel {
    id: String,
    tokenizer: tokenizers::Tokenizer,
    fast: Option<super::wordpiece::FastWordPiece>,
    table: Vec<f32>,
    vocab: usize,
    dim: usize,
}

impl StaticModel {
    /// Load from `tokenizer.json` and `model.safetensors` bytes: tensor
    /// `embeddings` (vocab x dim; f32, f16, or i8 with an f32 `scales` row
    /// factor).
    pub fn from_bytes(
        id: &str,
        tokenizer_json: &[u8],
        safetensors_bytes: &[u8],
        origin: &Path,
    ) -> Result<StaticModel> {
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(tokenizer_json).map_err(|e| {
            Error::corrupt(
                origin.join("tokenizer.json"),
                0,
                format!("tokenizer does not load: {e}"),
            )
        })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::invalid(format!("tokenizer: {e}")))?;
        let st_path = origin.join("model.safetensors");
        let st = safetensors::SafeTensors::deserialize(safetensors_bytes)
            .map_err(|e| Error::corrupt(&st_path, 0, format!("not safetensors: {e}")))?;
        let t = st
            .tensor("embeddings")
            .map_err(|e| Error::corrupt(&st_path, 0, format!("no `embeddings` tensor: {e}")))?;
        let shape = t.shape().to_vec();
        let [vocab, dim] = shape[..] else {
            return Err(Error::corrupt(
                &st_path,
                0,
                format!("`embeddings` has shape {shape:?}, expected [vocab, dim]"),
            ));
        };
        let table: Vec<f32> = match t.dtype() {
            safetensors::Dtype::F16 => t
                .data()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            safetensors::Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            safetensors::Dtype::I8 => {
                let sc = st.tensor("scales").map_err(|e| {
                    Error::corrupt(
                        &st_path,
                        0,
                        format!("int8 embeddings need a `scales` tensor: {e}"),
                    )
                })?;
                if sc.dtype() != safetensors::Dtype::F32 || sc.shape() != [vocab] {
                    return Err(Error::corrupt(
                        &st_path,
                        0,
                        format!("`scales` must be F32 [{vocab}]"),
                    ));
                }
                let scales: Vec<f32> = sc
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                t.data()
                    .chunks(dim.max(1))
                    .zip(&scales)
                    .flat_map(|(row, s)| row.iter().map(move |&q| q as i8 as f32 * s))
                    .collect()
            }
            other => {
                return Err(Error::corrupt(
                    &st_path,
                    0,
                    format!("`embeddings` has dtype {other:?}, expected I8, F16 or F32"),
                ))
            }
        };
        if table.len() != vocab * dim || dim == 0 {
            return Err(Error::corrupt(
                &st_path,
                0,
                "embeddings data does not match its shape",
            ));
        }
        if tokenizer.get_vocab_size(true) > vocab {
            return Err(Error::corrupt(
                &st_path,
                0,
                format!(
                    "{vocab} rows for a tokenizer of {} tokens",
                    tokenizer.get_vocab_size(true)
                ),
            ));
        }
        let fast = super::wordpiece::FastWordPiece::from_tokenizer_json(tokenizer_json);
        Ok(StaticModel {
            id: id.to_string(),
            tokenizer,
            fast,
            table,
            vocab,
            dim,
        })
    }

    /// The model shipped inside the binary (models/builtin, distilled from
    /// all-MiniLM-L6-v2; see its README for provenance and the command).
    pub fn builtin() -> Result<StaticModel> {
        StaticModel::from_bytes(
            BUILTIN_ID,
            include_bytes!("../../models/builtin/tokenizer.json"),
            include_bytes!("../../models/builtin/model.safetensors"),
            Path::new("<builtin>"),
        )
    }

    /// Load a model directory (tokenizer.json + model.safetensors).
    pub fn load_dir(storage: &dyn Storage, dir: &Path) -> Result<StaticModel> {
        let tok = storage.read_all(&dir.join("tokenizer.json"))?;
        let st = storage.read_all(&dir.join("model.safetensors"))?;
        let id = format!(
            "static:{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        StaticModel::from_bytes(&id, &tok, &st, dir)
    }

    /// Whether ASCII texts take the fast WordPiece path (see `wordpiece`).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Token ids of a text (at most MAX_TOKENS), without special tokens.
    pub fn token_ids(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        ids.clear();
        match &self.fast {
            Some(f) if f.applies(text) => f.encode(text, MAX_TOKENS, ids),
            _ => {
                let enc = self
                    .tokenizer
                    .encode_fast(text, false)
                    .map_err(|e| Error::invalid(format!("tokenizer: {e}")))?;
                ids.extend(enc.get_ids().iter().take(MAX_TOKENS));
            }
        }
        Ok(())
    }

    /// Token ids from the tokenizers crate alone (the reference for the
    /// fast path).
    pub fn reference_token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::invalid(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().iter().take(MAX_TOKENS).copied().collect())
    }

    fn embed_one(&self, text: &str, out: &mut [f32]) -> Result<()> {
        let mut ids = Vec::with_capacity(256);
        self.token_ids(text, &mut ids)?;
        out.fill(0.0);
        let mut n = 0usize;
        for &id in &ids {
            let id = id as usize;
            if id < self.vocab {
                crate::distance::axpy(out, 1.0, &self.table[id * self.dim..(id + 1) * self.dim]);
                n += 1;
            }
        }
        if n > 0 {
            crate::distance::normalize(out);
        }
        Ok(())
    }
}

impl Embedder for StaticModel {
    fn model_id(&self) -> &str {
        &self.id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; texts.len() * self.dim];
        out.par_chunks_mut(self.dim)
            .zip(texts.par_iter())
            .try_for_each(|(row, t)| self.embed_one(t, row))?;
        Ok(out)
    }
}
