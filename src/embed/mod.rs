//! Embedders: a batch of texts in, unit-length vectors out. The model id and
//! dimension are recorded in an index so that opening it with another model is
//! a clear error (issue 3).
//!
//! - `static_model`: the built-in static embedder (model2vec-style token table,
//!   weighted mean pooling), pure Rust, shipped in the repository.
//! - `distill`: `leann model distill`, making such a table from a
//!   sentence-transformer with candle.
//! - `pca`: principal components for the distillation.

pub mod distill;
pub mod pca;
pub mod static_model;
pub mod wordpiece;

use crate::error::Result;

pub trait Embedder: Send + Sync {
    /// Identifies the model; stored in the index.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// Embed `texts`: `texts.len() * dim` floats, row-major, each row unit
    /// length (all-zero when a text has no known token).
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>>;
}
