//! The manifest of an index directory (file `MANIFEST`): which segments are live.
//! Replaced atomically: written as MANIFEST.tmp, fsynced, renamed, directory
//! fsynced (the storage layer's write_atomic).

use crate::error::Result;
use crate::format::manifest::{self, Manifest};
use crate::io::Storage;
use std::path::Path;

pub const FILE_NAME: &str = "MANIFEST";

pub fn load(storage: &dyn Storage, dir: &Path) -> Result<Manifest> {
    let p = dir.join(FILE_NAME);
    manifest::decode(&p, &storage.read_all(&p)?)
}

pub fn store(storage: &dyn Storage, dir: &Path, m: &Manifest) -> Result<()> {
    storage.write_atomic(&dir.join(FILE_NAME), &manifest::encode(m))
}

/// What an index was built from (the manifest's info JSON, SPEC.md
/// "Manifest"). Empty for indexes built from bare vectors.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexInfo {
    /// Model id of the embedder that made the vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How to load that embedder again (see `embed::EmbedderSpec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedder: Option<crate::embed::EmbedderSpec>,
    /// Absolute path of the indexed tree; chunk paths are relative to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_root: Option<String>,
    /// Every segment has a `seg-S.chunks` file.
    #[serde(default)]
    pub chunks: bool,
    /// Every segment has a `seg-S.lex` file (since 1.4).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lexical: bool,
    /// Write-ahead logs with a sequence number below this are folded into
    /// the segments (compaction) and no longer read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_start: u64,
}

fn is_false(x: &bool) -> bool {
    !*x
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

impl IndexInfo {
    /// The features an index of this description uses (SPEC.md F-3).
    pub fn features(&self) -> crate::format::manifest::Features {
        use crate::format::manifest as m;
        let mut write = m::W_WRITER_LOCK;
        if self.chunks {
            write |= m::W_FILE_STAMPS | m::W_REUSED_UPSERTS;
        }
        if self.lexical {
            write |= m::W_LEXICAL;
        }
        m::Features { read: 0, write }
    }

    pub fn to_json(&self) -> crate::Result<String> {
        if *self == IndexInfo::default() {
            return Ok(String::new());
        }
        serde_json::to_string(self)
            .map_err(|e| crate::Error::internal(format!("index info does not serialise: {e}")))
    }

    pub fn from_json(path: &Path, s: &str) -> crate::Result<IndexInfo> {
        if s.is_empty() {
            return Ok(IndexInfo::default());
        }
        serde_json::from_str(s).map_err(|e| {
            crate::Error::corrupt(path, 0, format!("stored index info does not parse: {e}"))
        })
    }
}
