//! The built-in static embedder: a token table (model2vec-style: one
//! pre-weighted vector per vocabulary token) and its tokenizer. A text's
//! vector is the mean of its tokens' vectors, normalised. No network, no
//! transformer at run time.

use super::Embedder;
use crate::error::{Error, Result};
use crate::io::Storage;
use rayon::prelude::*;
use std::path::Path;

/// Model id of the built-in model: the distilled table reweighted by token
/// frequency in code, identifiers split at case changes, and trained on
/// docstring/code pairs of eight languages (models/builtin).
pub const BUILTIN_ID: &str = "builtin:minilm-l6-static-256-v3";
/// The second built-in model (trained on Python and Rust only, identifiers
/// not split). leann no longer carries it; its files are kept in
/// format/models/builtin-v2 for the golden fixture made with it (v1.5).
pub const BUILTIN_V2_ID: &str = "builtin:minilm-l6-static-256-v2";
/// The first built-in model (the distilled table alone). leann no longer
/// carries it; indexes made with it must be created again. Its files are
/// kept in format/models/builtin-v1 for the golden fixtures made with it.
pub const BUILTIN_V1_ID: &str = "builtin:minilm-l6-static-256-v1";

/// Tokens looked at per text (a 40-line chunk is a few hundred).
pub const MAX_TOKENS: usize = 2048;

pub struct StaticModel {
    id: String,
    tokenizer: Tok,
    fast: Option<super::wordpiece::FastWordPiece>,
    table: Table,
    vocab: usize,
    dim: usize,
    /// Split identifiers at their case changes before WordPiece (model
    /// metadata `SPLIT_IDENTIFIERS_KEY` = `true`).
    split_identifiers: bool,
}

/// The tokenizers crate's tokenizer. A model directory's is parsed (and
/// checked) as the model loads; the compiled-in one, which the tests load,
/// is parsed on first use: parsing costs a fresh query process tens of
/// milliseconds, and the fast path serves ASCII text without it.
type Tok = std::sync::OnceLock<std::result::Result<tokenizers::Tokenizer, String>>;

fn load_tokenizer(json: &[u8], origin: &Path) -> Result<tokenizers::Tokenizer> {
    let mut tokenizer = tokenizers::Tokenizer::from_bytes(json).map_err(|e| {
        Error::corrupt(
            origin.join("tokenizer.json"),
            0,
            format!("tokenizer does not load: {e}"),
        )
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| Error::model(format!("tokenizer: {e}")))?;
    Ok(tokenizer)
}

static BUILTIN_TOKENIZER: &[u8] = include_bytes!("../../models/builtin/tokenizer.json");

/// The token table. An int8 table stays int8 in memory (a quarter of the
/// f32 bytes: 7.8 MB instead of 31 MB for the built-in model), each row
/// dequantized as it is added, to the same f32 values an f32 copy would
/// hold: `(q * scale) * weight`.
enum Table {
    F32(Vec<f32>),
    I8 {
        codes: Vec<i8>,
        scales: Vec<f32>,
        /// Row weights (`weights` tensor, with `use_weights`).
        weights: Option<Vec<f32>>,
    },
}

/// The safetensors metadata key that turns on identifier splitting: a model
/// trained with it must be used with it.
pub const SPLIT_IDENTIFIERS_KEY: &str = "leann.split_identifiers";

impl StaticModel {
    /// Load from `tokenizer.json` and `model.safetensors` bytes: tensor
    /// `embeddings` (vocab x dim; f32, f16, or i8 with an f32 `scales` row
    /// factor) and, optionally, `weights` (f32 per row, multiplied in when
    /// `use_weights`).
    pub fn from_bytes(
        id: &str,
        tokenizer_json: &[u8],
        safetensors_bytes: &[u8],
        origin: &Path,
        use_weights: bool,
    ) -> Result<StaticModel> {
        let fast = super::wordpiece::FastWordPiece::from_tokenizer_json(tokenizer_json);
        // Deferred only for the compiled-in bytes (checked by the tests);
        // a model directory's tokenizer is checked as it loads.
        let deferred = fast.is_some()
            && tokenizer_json.as_ptr() == BUILTIN_TOKENIZER.as_ptr()
            && tokenizer_json.len() == BUILTIN_TOKENIZER.len();
        let tokenizer = Tok::new();
        if !deferred {
            // The cell was made empty just above.
            let _ = tokenizer.set(Ok(load_tokenizer(tokenizer_json, origin)?));
        }
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
        let weights = if use_weights {
            row_weights(&st, vocab, &st_path)?
        } else {
            None
        };
        let want_bytes = vocab
            .checked_mul(dim)
            .and_then(|n| n.checked_mul(t.dtype().bitsize() / 8));
        if dim == 0 || want_bytes != Some(t.data().len()) {
            return Err(Error::corrupt(
                &st_path,
                0,
                "embeddings data does not match its shape",
            ));
        }
        let table = match t.dtype() {
            safetensors::Dtype::F16 | safetensors::Dtype::F32 => {
                let mut table: Vec<f32> = if t.dtype() == safetensors::Dtype::F16 {
                    t.data()
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect()
                } else {
                    t.data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect()
                };
                if let Some(w) = &weights {
                    for (row, w) in table.chunks_mut(dim).zip(w) {
                        row.iter_mut().for_each(|x| *x *= w);
                    }
                }
                Table::F32(table)
            }
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
                Table::I8 {
                    codes: t.data().iter().map(|&b| b as i8).collect(),
                    scales,
                    weights,
                }
            }
            other => {
                return Err(Error::corrupt(
                    &st_path,
                    0,
                    format!("`embeddings` has dtype {other:?}, expected I8, F16 or F32"),
                ))
            }
        };
        let tokens = match (tokenizer.get(), &fast) {
            (Some(Ok(t)), _) => t.get_vocab_size(true),
            (_, Some(f)) => f.max_id() as usize + 1,
            (_, None) => 0,
        };
        if tokens > vocab {
            return Err(Error::corrupt(
                &st_path,
                0,
                format!("{vocab} rows for a tokenizer of {tokens} tokens"),
            ));
        }
        let split_identifiers = match safetensors::SafeTensors::read_metadata(safetensors_bytes) {
            Ok((_, m)) => m
                .metadata()
                .as_ref()
                .and_then(|m| m.get(SPLIT_IDENTIFIERS_KEY))
                .is_some_and(|v| v == "true"),
            Err(_) => false,
        };
        Ok(StaticModel {
            id: id.to_string(),
            tokenizer,
            fast,
            table,
            vocab,
            dim,
            split_identifiers,
        })
    }

    /// The model shipped inside the binary (models/builtin, distilled from
    /// all-MiniLM-L6-v2; see its README for provenance and the command).
    pub fn builtin() -> Result<StaticModel> {
        Self::builtin_for(BUILTIN_ID)
    }

    /// The built-in model an index recorded by its id: an error that says
    /// what to do when it is not the one this leann carries.
    pub fn builtin_for(id: &str) -> Result<StaticModel> {
        if id != BUILTIN_ID {
            return Err(Error::model(format!(
                "the index was made with the built-in model `{id}`; this leann carries `{BUILTIN_ID}` and cannot embed queries for it. Create the index again: leann index create --input SRC --output PATH --force"
            )));
        }
        StaticModel::from_bytes(
            BUILTIN_ID,
            BUILTIN_TOKENIZER,
            include_bytes!("../../models/builtin/model.safetensors"),
            Path::new("<builtin>"),
            true,
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
        StaticModel::from_bytes(&id, &tok, &st, dir, true)
    }

    /// The token table (vocab x dim, row-major, weights applied), in f32.
    pub fn table(&self) -> Vec<f32> {
        let mut t = vec![0f32; self.vocab * self.dim];
        for (id, row) in t.chunks_mut(self.dim.max(1)).enumerate() {
            self.row_into(id, row);
        }
        t
    }

    /// Row `id` (< vocab) of the table into `out` (dim values).
    fn row_into(&self, id: usize, out: &mut [f32]) {
        let d = self.dim;
        match &self.table {
            Table::F32(t) => out.copy_from_slice(&t[id * d..(id + 1) * d]),
            Table::I8 {
                codes,
                scales,
                weights,
            } => {
                let s = scales[id];
                let q = &codes[id * d..(id + 1) * d];
                match weights {
                    Some(w) => {
                        let w = w[id];
                        for (o, &q) in out.iter_mut().zip(q) {
                            *o = (q as f32 * s) * w;
                        }
                    }
                    None => {
                        for (o, &q) in out.iter_mut().zip(q) {
                            *o = q as f32 * s;
                        }
                    }
                }
            }
        }
    }

    /// The vocabulary size (rows of the table).
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// The text of token `id` (`None` past the tokenizer's vocabulary).
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.tok().ok()?.id_to_token(id)
    }

    /// Every token id of a text, with no cap (for counting a corpus).
    pub fn all_token_ids(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        ids.clear();
        match &self.fast {
            Some(f) if f.applies(text) => {
                f.encode(text, usize::MAX, self.split_identifiers, ids);
                Ok(())
            }
            _ => self.slow_ids(text, usize::MAX, ids),
        }
    }

    /// Whether identifiers are split at case changes before WordPiece.
    pub fn splits_identifiers(&self) -> bool {
        self.split_identifiers
    }

    /// Turn identifier splitting on or off (`leann model reweight
    /// --split-identifiers`, which records it in the model it writes).
    pub fn set_split_identifiers(&mut self, on: bool) {
        self.split_identifiers = on;
    }

    /// `text` as the tokenizers crate's path takes it: with identifiers split
    /// when this model splits them (the fast path splits as it goes).
    fn pretokenized<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.split_identifiers {
            super::wordpiece::split_identifiers(text).into()
        } else {
            text.into()
        }
    }

    /// Ids of `text` through the tokenizers crate, split first if this model
    /// splits identifiers.
    fn slow_ids(&self, text: &str, limit: usize, ids: &mut Vec<u32>) -> Result<()> {
        let text = self.pretokenized(text);
        let enc = self
            .tok()?
            .encode_fast(text.as_ref(), false)
            .map_err(|e| Error::model(format!("tokenizer: {e}")))?;
        ids.extend(enc.get_ids().iter().take(limit));
        Ok(())
    }

    /// The tokenizers crate's tokenizer, parsed now if it was deferred.
    fn tok(&self) -> Result<&tokenizers::Tokenizer> {
        // Only the built-in model's cell is left empty at load.
        self.tokenizer
            .get_or_init(|| {
                load_tokenizer(BUILTIN_TOKENIZER, Path::new("<builtin>")).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::model(e.clone()))
    }

    /// Whether ASCII texts take the fast WordPiece path (see `wordpiece`).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Token ids of a text (at most MAX_TOKENS), without special tokens.
    pub fn token_ids(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        ids.clear();
        match &self.fast {
            Some(f) if f.applies(text) => {
                f.encode(text, MAX_TOKENS, self.split_identifiers, ids);
                Ok(())
            }
            _ => self.slow_ids(text, MAX_TOKENS, ids),
        }
    }

    /// Token ids from the tokenizers crate alone (the reference for the
    /// fast path).
    pub fn reference_token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let text = self.pretokenized(text);
        let enc = self
            .tok()?
            .encode(text.as_ref(), false)
            .map_err(|e| Error::model(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().iter().take(MAX_TOKENS).copied().collect())
    }

    fn embed_one(&self, text: &str, out: &mut [f32]) -> Result<()> {
        let mut ids = Vec::with_capacity(256);
        self.token_ids(text, &mut ids)?;
        out.fill(0.0);
        let mut n = 0usize;
        let mut row = vec![0f32; self.dim];
        for &id in &ids {
            let id = id as usize;
            if id < self.vocab {
                self.row_into(id, &mut row);
                crate::ann::distance::axpy(out, 1.0, &row);
                n += 1;
            }
        }
        if n > 0 {
            crate::ann::distance::normalize(out);
        }
        Ok(())
    }
}

/// The optional `weights` tensor: F32 [vocab], finite and >= 0.
fn row_weights(
    st: &safetensors::SafeTensors,
    vocab: usize,
    st_path: &Path,
) -> Result<Option<Vec<f32>>> {
    let Ok(w) = st.tensor("weights") else {
        return Ok(None);
    };
    if w.dtype() != safetensors::Dtype::F32 || w.shape() != [vocab] {
        return Err(Error::corrupt(
            st_path,
            0,
            format!("`weights` must be F32 [{vocab}]"),
        ));
    }
    let v: Vec<f32> = w
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite() || *x < 0.0) {
        return Err(Error::corrupt(
            st_path,
            0,
            format!("`weights`[{i}] is {}, not a finite weight >= 0", v[i]),
        ));
    }
    Ok(Some(v))
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
