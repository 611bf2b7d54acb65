//! The index configuration (the JSON schema of the product brief, plus the
//! engine's own knobs). Unknown fields are errors naming the field.

use crate::ann::distance::Metric;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// "diskann" (graph on disk) or "hnsw" (in-memory tier; later issue).
    #[serde(default)]
    pub backend: Backend,
    #[serde(default)]
    pub complexity: Complexity,
    #[serde(default)]
    pub metric: Option<Metric>,
    #[serde(default)]
    pub anchor_selection: AnchorSelection,
    #[serde(default)]
    pub quantization: Quantization,
    #[serde(default)]
    pub graph: GraphConfig,
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub embedding_server: Option<crate::embed::remote::ServerConfig>,
    #[serde(default)]
    pub incremental: Option<Incremental>,
    #[serde(default)]
    pub hnsw: Option<Hnsw>,
    #[serde(default)]
    pub filters: Option<Filters>,
    /// Keep zstd-compressed chunk text inside the index (for trees that move
    /// or change); by default text is read back from the source tree.
    #[serde(default)]
    pub store_text: bool,
    /// Seed for sampling and k-means (builds are reproducible).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Memory a build may use: bytes (a number), a size ("2G", "512MiB") or
    /// a share of the machine's RAM ("25%"). Default [`DEFAULT_MEMORY_BUDGET`].
    /// A graph whose in-memory build would not fit is built out of core.
    /// `--memory-budget` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_budget: Option<MemorySize>,
}

/// The default memory budget of a build: a quarter of RAM.
pub const DEFAULT_MEMORY_BUDGET: &str = "25%";
/// The least memory budget accepted.
pub const MIN_MEMORY_BUDGET_BYTES: u64 = 64 << 20;

/// A memory size as the config or a flag gives it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MemorySize {
    Bytes(u64),
    Text(String),
}

impl MemorySize {
    /// Bytes, given the machine's RAM (for a percentage); errors name
    /// `field`.
    pub fn bytes(&self, field: &str, ram_bytes: u64) -> Result<u64> {
        let bad = |why: String| Error::config(field.to_string(), why);
        let b = match self {
            MemorySize::Bytes(b) => *b,
            MemorySize::Text(t) => parse_size(t, ram_bytes).map_err(bad)?,
        };
        if b < MIN_MEMORY_BUDGET_BYTES {
            return Err(bad(format!(
                "{b} bytes is below the least budget, {} MiB",
                MIN_MEMORY_BUDGET_BYTES >> 20
            )));
        }
        Ok(b)
    }
}

/// "2G", "2GiB", "2GB", "512M", "1.5g", "123456", "25%" (of `ram_bytes`).
/// Units are powers of 1024.
fn parse_size(text: &str, ram_bytes: u64) -> std::result::Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!("{text:?} is not a size: give bytes, a number with K, M, G or T (2G, 512MiB), or a share of RAM (25%)")
    };
    if let Some(p) = t.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(format!("{text:?}: a share of RAM must be in (0, 100]%"));
        }
        return Ok((ram_bytes as f64 * p / 100.0) as u64);
    }
    let lower = t.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let x: f64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let b = x * (1u64 << shift) as f64;
    if !b.is_finite() || b >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(b as u64)
}

/// Incremental updates (write-ahead log and compaction).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Incremental {
    /// Accept updates (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Live upserts in the delta at which compaction folds it into the
    /// segments. Default 1,000.
    #[serde(default)]
    pub delta_index_threshold: Option<usize>,
    /// Cron expression of the brief; accepted, not acted on by leann itself.
    #[serde(default)]
    pub rebuild_schedule: Option<String>,
}

/// The brief's `hnsw` section (the in-memory tier of a later issue):
/// checked, stored, not yet acted on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hnsw {
    /// Links per node.
    #[serde(default, rename = "M", skip_serializing_if = "Option::is_none")]
    pub m: Option<u32>,
    #[serde(
        default,
        rename = "efConstruction",
        skip_serializing_if = "Option::is_none"
    )]
    pub ef_construction: Option<u32>,
    #[serde(default, rename = "efSearch", skip_serializing_if = "Option::is_none")]
    pub ef_search: Option<u32>,
}

/// Sections of the config that are objects: each is refused, naming it,
/// when given as anything else (serde would take an array positionally).
const SECTIONS: &[&str] = &[
    "anchorSelection",
    "quantization",
    "graph",
    "search",
    "embeddingServer",
    "incremental",
    "hnsw",
    "filters",
];

/// Which files of a tree are indexed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filters {
    /// Only these languages (names as in `leann query --lang`); empty = all.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Globs of paths to leave out; `dir/` names a directory at any depth.
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    /// Include hidden files and directories.
    #[serde(default)]
    pub hidden: bool,
    /// Largest file indexed, bytes. Default 1 MiB.
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Follow symbolic links that lead out of the tree (default false: they
    /// are skipped, and queries never read through them).
    #[serde(default, skip_serializing_if = "is_false")]
    pub follow_external_symlinks: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Most `filters.excludePaths` patterns, and the longest one, bytes.
pub const MAX_EXCLUDE_PATTERNS: usize = 10_000;
pub const MAX_PATTERN_BYTES: usize = 4096;

impl Filters {
    /// Walk options, with language names checked.
    pub fn walk_options(&self) -> Result<crate::chunk::WalkOptions> {
        let languages = crate::lang::Language::parse_names(&self.languages, "filters.languages")?;
        if self.exclude_paths.len() > MAX_EXCLUDE_PATTERNS {
            return Err(Error::config(
                "filters.excludePaths",
                format!(
                    "{} patterns; at most {MAX_EXCLUDE_PATTERNS}",
                    self.exclude_paths.len()
                ),
            ));
        }
        if let Some((i, p)) = self
            .exclude_paths
            .iter()
            .enumerate()
            .find(|(_, p)| p.len() > MAX_PATTERN_BYTES)
        {
            return Err(Error::config(
                format!("filters.excludePaths[{i}]"),
                format!("{} bytes long; at most {MAX_PATTERN_BYTES}", p.len()),
            ));
        }
        crate::chunk::walk::exclude_set(&self.exclude_paths)?;
        Ok(crate::chunk::WalkOptions {
            hidden: self.hidden,
            max_file_bytes: self
                .max_file_bytes
                .unwrap_or(crate::chunk::walk::DEFAULT_MAX_FILE_BYTES),
            languages,
            exclude: self.exclude_paths.clone(),
            follow_links: true,
            follow_external_links: self.follow_external_symlinks,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Diskann,
    Hnsw,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    Low,
    #[default]
    Medium,
    High,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorType {
    Random,
    #[default]
    Kmeans,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnchorSelection {
    #[serde(default, rename = "type")]
    pub kind: AnchorType,
    /// Number of anchors (`count` is accepted for `random`). Default: sqrt(N).
    #[serde(default, alias = "count")]
    pub clusters: Option<usize>,
    /// Vectors sampled for k-means. Default 10,000.
    #[serde(default)]
    pub samples: Option<usize>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quantization {
    /// Sub-vectors (one code byte each). Default: dim / 8.
    #[serde(default)]
    pub sub_vectors: Option<usize>,
    /// Centroids per sub-quantizer, <= 256. Default 256.
    #[serde(default)]
    pub codebook_size: Option<usize>,
    /// Residuals sampled to train the codebooks. Default 10,000.
    #[serde(default)]
    pub training_samples: Option<usize>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphConfig {
    /// Max out-degree R (overrides the complexity level).
    #[serde(default)]
    pub max_degree: Option<usize>,
    /// Build list size L_build.
    #[serde(default)]
    pub build_list: Option<usize>,
    /// Search list size L_search.
    #[serde(default)]
    pub search_list: Option<usize>,
    /// RobustPrune alpha. Default 1.2.
    #[serde(default)]
    pub alpha: Option<f32>,
    /// Store full-precision vectors in the graph file (rerank without recompute).
    #[serde(default)]
    pub store_full_vectors: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchConfig {
    /// Beam width W. Default 4.
    #[serde(default)]
    pub beam_width: Option<usize>,
    /// Node cache budget in bytes.
    #[serde(default)]
    pub cache_bytes: Option<usize>,
    /// Anchors whose entry nodes seed a search. Default 4.
    #[serde(default)]
    pub entry_anchors: Option<usize>,
    /// Early termination after this many rounds without a better top-k (0 = off).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Candidates reranked exactly. Default: the search list size.
    #[serde(default)]
    pub rerank: Option<usize>,
    /// Sentence-transformers model directory for `--mode rerank` (the
    /// `--rerank-model` flag overrides it). Made absolute against the config
    /// file's directory when the config is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank_model: Option<String>,
    /// Cross-encoder directory (a BertForSequenceClassification with one
    /// label) that `--mode rerank` also rescores with (`--cross-encoder`
    /// overrides it). Made absolute like `rerankModel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_encoder: Option<String>,
}

/// The resolved numbers a build and a search use.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub metric: Metric,
    pub max_degree: usize,
    pub build_list: usize,
    pub search_list: usize,
    pub alpha: f32,
    pub store_full_vectors: bool,
    pub anchor_kind: crate::ann::pq::AnchorKind,
    pub n_anchors: usize,
    pub anchor_samples: usize,
    pub sub_vectors: usize,
    pub codebook_size: usize,
    pub training_samples: usize,
    pub beam_width: usize,
    pub cache_bytes: usize,
    pub entry_anchors: usize,
    pub patience: usize,
    pub rerank: Option<usize>,
    pub seed: u64,
}

/// Default node cache budget.
pub const DEFAULT_CACHE_BYTES: usize = 0;

impl Complexity {
    /// (R, L_build, L_search)
    pub fn params(self) -> (usize, usize, usize) {
        match self {
            Complexity::Low => (24, 32, 32),
            Complexity::Medium => (32, 48, 48),
            Complexity::High => (48, 100, 96),
        }
    }
}

impl Config {
    /// The walk options of `filters` (defaults when there is none).
    pub fn walk_options(&self) -> Result<crate::chunk::WalkOptions> {
        self.filters.clone().unwrap_or_default().walk_options()
    }

    pub fn from_json(text: &str, origin: &str) -> Result<Config> {
        // serde_path_to_error names the field that failed (`complexity`,
        // `embeddingServer.batchSize`), not just the line and column.
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::config(origin.to_string(), e.to_string()))?;
        let Some(top) = value.as_object() else {
            return Err(Error::config(
                origin.to_string(),
                format!("must be a JSON object, not {}", json_kind(&value)),
            ));
        };
        for name in SECTIONS {
            match top.get(*name) {
                None | Some(serde_json::Value::Null) | Some(serde_json::Value::Object(_)) => {}
                Some(v) => {
                    return Err(Error::config(
                        format!("{origin}: {name}"),
                        format!("must be a JSON object, not {}", json_kind(v)),
                    ))
                }
            }
        }
        let c: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                origin.to_string()
            } else {
                format!("{origin}: {path}")
            };
            Error::config(field, e.inner().to_string())
        })?;
        if let Some(s) = &c.embedding_server {
            s.check()?;
        }
        c.memory_budget_bytes()?;
        if let Some(f) = &c.filters {
            f.walk_options()?;
        }
        Ok(c)
    }

    /// Make the model directories of `search` absolute against `base` (the
    /// config file's directory) and check that each holds a config.json;
    /// errors name the field.
    pub fn resolve_model_dirs(&mut self, base: &Path) -> Result<()> {
        let s = &mut self.search;
        for (field, dir) in [
            ("search.rerankModel", &mut s.rerank_model),
            ("search.crossEncoder", &mut s.cross_encoder),
        ] {
            let Some(d) = dir.as_mut() else { continue };
            let p = base.join(&*d);
            if !p.join("config.json").is_file() {
                return Err(Error::config(
                    field,
                    format!("{} is not a model directory (no config.json)", p.display()),
                ));
            }
            let abs =
                std::fs::canonicalize(&p).map_err(|e| Error::io("open model directory", &p, e))?;
            *d = abs.display().to_string();
        }
        Ok(())
    }

    /// The build's memory budget in bytes (`memoryBudget`, or
    /// [`DEFAULT_MEMORY_BUDGET`] of this machine's RAM).
    pub fn memory_budget_bytes(&self) -> Result<u64> {
        let ram = crate::io::total_memory_bytes().unwrap_or(8 << 30);
        match &self.memory_budget {
            Some(m) => m.bytes("memoryBudget", ram),
            None => Ok(MemorySize::Text(DEFAULT_MEMORY_BUDGET.into())
                .bytes("memoryBudget", ram)?
                .max(MIN_MEMORY_BUDGET_BYTES)),
        }
    }

    /// Fill in defaults for a data set of `n` vectors of dimension `dim`.
    pub fn resolve(&self, n: usize, dim: usize) -> Result<Resolved> {
        let (r, lb, ls) = self.complexity.params();
        let g = &self.graph;
        let max_degree = g.max_degree.unwrap_or(r);
        if !(1..=1024).contains(&max_degree) {
            return Err(Error::config(
                "graph.maxDegree",
                format!("{max_degree} is not in 1..=1024"),
            ));
        }
        let build_list = g.build_list.unwrap_or(lb);
        if build_list < 1 {
            return Err(Error::config("graph.buildList", "must be at least 1"));
        }
        let alpha = g.alpha.unwrap_or(1.2);
        if !(alpha.is_finite() && alpha >= 1.0) {
            return Err(Error::config(
                "graph.alpha",
                format!("{alpha} must be >= 1"),
            ));
        }
        let sub_vectors = match self.quantization.sub_vectors {
            Some(m) => m,
            None => (1..=dim)
                .rev()
                .find(|m| dim % m == 0 && dim / m >= 8)
                .unwrap_or(1),
        };
        if sub_vectors == 0 || dim % sub_vectors != 0 {
            return Err(Error::config(
                "quantization.subVectors",
                format!("{sub_vectors} does not divide the dimension {dim}"),
            ));
        }
        let codebook_size = self.quantization.codebook_size.unwrap_or(256);
        if !(1..=256).contains(&codebook_size) {
            return Err(Error::config(
                "quantization.codebookSize",
                format!("{codebook_size} is not in 1..=256 (codes are one byte)"),
            ));
        }
        let n_anchors = self
            .anchor_selection
            .clusters
            .unwrap_or_else(|| ((n as f64).sqrt().round() as usize).clamp(1, 4096));
        if n_anchors == 0 {
            return Err(Error::config(
                "anchorSelection.clusters",
                "must be at least 1",
            ));
        }
        let s = &self.search;
        let beam_width = s.beam_width.unwrap_or(4);
        if beam_width == 0 {
            return Err(Error::config("search.beamWidth", "must be at least 1"));
        }
        Ok(Resolved {
            metric: self.metric.unwrap_or(Metric::Cosine),
            max_degree,
            build_list,
            search_list: g.search_list.unwrap_or(ls),
            alpha,
            store_full_vectors: g.store_full_vectors,
            anchor_kind: match self.anchor_selection.kind {
                AnchorType::Random => crate::ann::pq::AnchorKind::Random,
                AnchorType::Kmeans => crate::ann::pq::AnchorKind::KMeans,
            },
            n_anchors: n_anchors.min(n.max(1)),
            anchor_samples: self.anchor_selection.samples.unwrap_or(10_000),
            sub_vectors,
            codebook_size,
            training_samples: self.quantization.training_samples.unwrap_or(10_000),
            beam_width,
            cache_bytes: s.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES),
            entry_anchors: s.entry_anchors.unwrap_or(4),
            patience: s.patience.unwrap_or(0),
            rerank: s.rerank,
            seed: self.seed.unwrap_or(0x0001_eaaa),
        })
    }
}

/// What kind of JSON value `v` is, for errors.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_and_bad_ones_name_the_field() {
        let ram = 16u64 << 30;
        let b = |t: &str| MemorySize::Text(t.into()).bytes("memoryBudget", ram);
        assert_eq!(b("2G").unwrap(), 2 << 30);
        assert_eq!(b("512MiB").unwrap(), 512 << 20);
        assert_eq!(b("1.5g").unwrap(), 3 << 29);
        assert_eq!(b("25%").unwrap(), 4 << 30);
        assert_eq!(b(" 100000000 ").unwrap(), 100_000_000);
        assert_eq!(
            MemorySize::Bytes(1 << 30)
                .bytes("memoryBudget", ram)
                .unwrap(),
            1 << 30
        );
        for bad in ["", "2X", "-1G", "0%", "150%", "G", "1e999"] {
            let e = b(bad).unwrap_err().to_string();
            assert!(e.contains("memoryBudget"), "{bad}: {e}");
        }
        // Below the least budget.
        assert!(b("1M").unwrap_err().to_string().contains("least"));
        let c = Config::from_json(r#"{"memoryBudget": "3G"}"#, "c.json").unwrap();
        assert_eq!(c.memory_budget_bytes().unwrap(), 3 << 30);
        let e = Config::from_json(r#"{"memoryBudget": "lots"}"#, "c.json").unwrap_err();
        assert!(e.to_string().contains("memoryBudget"), "{e}");
    }
}
