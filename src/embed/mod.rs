//! Embedders: a batch of texts in, unit-length vectors out. The model id and
//! dimension are recorded in an index so that opening it with another model is
//! a clear error (issue 3).
//!
//! - `static_model`: the built-in static embedder (model2vec-style token table,
//!   weighted mean pooling), pure Rust, shipped in the repository.
//! - `distill`: `leann model distill`, making such a table from a
//!   sentence-transformer with candle.
//! - `pca`: principal components for the distillation.
//! - `reweight`: `leann model reweight`, token weights from how often each
//!   token occurs in a corpus of code.
//! - `bert`: the transformer embedder (candle BERT, mean pooling).
//! - `cross`: the cross-encoder of `--mode rerank` (a BERT sequence classifier).
//! - `remote`: the ZeroMQ embedding-server protocol, server and client.

pub mod bert;
pub mod cross;
pub mod remote;
pub mod static_model;
pub mod train;
pub mod wordpiece;

use crate::error::{Error, Result};
use crate::io::Storage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The environment variable naming the embedding server of this machine
/// for indexes built through one (`--embed-server` sets it).
pub const EMBED_SERVER_ENV: &str = "LEANN_EMBED_SERVER";

pub trait Embedder: Send + Sync {
    /// Identifies the model; stored in the index.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// Embed `texts`: `texts.len() * dim` floats, row-major, each row unit
    /// length (all-zero when a text has no known token).
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>>;
}

/// Which embedder made an index's vectors, and how to load it again. Stored
/// in the manifest's info.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EmbedderSpec {
    /// The static model compiled into leann.
    Builtin,
    /// A static model directory (tokenizer.json + model.safetensors with an
    /// `embeddings` tensor), as `leann model distill` writes.
    Static { dir: String },
    /// A sentence-transformers BERT directory (config.json + tokenizer.json +
    /// model.safetensors).
    Transformer { dir: String },
    /// An embedding server (config `embeddingServer`).
    Server(remote::ServerConfig),
}

impl EmbedderSpec {
    /// Parse a `--model` value: `builtin` or a model directory (static or
    /// transformer, told apart by its files). Directories are made absolute.
    pub fn parse(s: &str) -> Result<EmbedderSpec> {
        if s == "builtin" {
            return Ok(EmbedderSpec::Builtin);
        }
        let p = PathBuf::from(s);
        let abs =
            std::fs::canonicalize(&p).map_err(|e| Error::io("open model directory", &p, e))?;
        let dir = abs.display().to_string();
        if abs.join("config.json").exists() {
            Ok(EmbedderSpec::Transformer { dir })
        } else if abs.join("model.safetensors").exists() {
            Ok(EmbedderSpec::Static { dir })
        } else {
            Err(Error::model(format!(
                "{}: not a model directory (no config.json for a transformer, no model.safetensors for a static model)",
                abs.display()
            )))
        }
    }

    pub fn load(&self, storage: &dyn Storage) -> Result<Box<dyn Embedder>> {
        Ok(match self {
            EmbedderSpec::Builtin => Box::new(static_model::StaticModel::builtin()?),
            EmbedderSpec::Static { dir } => Box::new(static_model::StaticModel::load_dir(
                storage,
                Path::new(dir),
            )?),
            EmbedderSpec::Transformer { dir } => {
                Box::new(bert::BertEmbedder::load(storage, Path::new(dir))?)
            }
            EmbedderSpec::Server(cfg) => Box::new(remote::RemoteEmbedder::connect(cfg)?),
        })
    }

    /// Load the embedder an index recorded, `model_id` being the model id
    /// it recorded: the built-in spec then names the built-in model of that
    /// id (an index made with an earlier built-in model still opens). An
    /// embedding server is never reached at the endpoint the index records
    /// (Z-1): the endpoint comes from this machine, `LEANN_EMBED_SERVER`
    /// (which `--embed-server` sets).
    pub fn load_recorded(
        &self,
        storage: &dyn Storage,
        model_id: &str,
    ) -> Result<Box<dyn Embedder>> {
        match self {
            EmbedderSpec::Builtin => {
                Ok(Box::new(static_model::StaticModel::builtin_for(model_id)?))
            }
            EmbedderSpec::Server(recorded) => {
                let given = std::env::var(EMBED_SERVER_ENV)
                    .ok()
                    .filter(|s| !s.trim().is_empty());
                let Some(endpoint) = given else {
                    return Err(Error::argument("--embed-server", format!(
                        "this index was built through the embedding server at {}, and leann connects only to a server named on this machine, never to an endpoint read from an index: pass --embed-server ENDPOINT or set {EMBED_SERVER_ENV}=ENDPOINT (a server of model `{model_id}`; the recorded endpoint is fine if it is yours)",
                        crate::format::cut_str(&recorded.endpoint, 200)
                    )));
                };
                let cfg = remote::ServerConfig {
                    endpoint,
                    ..recorded.clone()
                };
                Ok(Box::new(remote::RemoteEmbedder::connect(&cfg)?))
            }
            other => other.load(storage),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            EmbedderSpec::Builtin => "built-in static model".into(),
            EmbedderSpec::Static { dir } => format!("static model {dir}"),
            EmbedderSpec::Transformer { dir } => format!("transformer {dir}"),
            EmbedderSpec::Server(c) => format!("embedding server {}", c.endpoint),
        }
    }
}

/// The text a chunk is embedded from, at build time and again at query time
/// (so that the recomputed vector equals the indexed one): its path and
/// symbol on a first line, then its text. Measured on dev-relevance with the
/// built-in model, exact recall@10 0.225 with the text alone, 0.280 with this.
pub fn embed_input(path: &str, symbol: Option<&str>, text: &str) -> String {
    let mut s = String::with_capacity(path.len() + text.len() + 64);
    s.push_str(path);
    if let Some(sym) = symbol {
        s.push(' ');
        s.push_str(sym);
    }
    s.push('\n');
    s.push_str(text);
    s
}
