//! Text queries against an index built from a source tree: embed the query,
//! search the segments with language/path filters inside the search,
//! recompute the final candidates' exact vectors from their text (read back
//! from the source tree and checked against the chunk hash, or from the
//! stored text), and hand back results with a preview and a stale flag.

use crate::embed::{Embedder, EmbedderSpec};
use crate::engine::index::{Index, NodeFilter, QueryContext};
use crate::engine::manifest::IndexInfo;
use crate::error::{Error, Result};
use crate::io::{ReadMode, Storage};
use crate::lang::Language;
use crate::search::fusion::{DEFAULT_SEMANTIC_RATIO, FUSION_CANDIDATES};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod exact;
mod filter;
mod hybrid;
mod results;

use exact::*;
use results::preview;
pub use results::{check_request, MAX_QUERY_BYTES, MAX_TOP_K, PREVIEW_LINES, PREVIEW_LINE_CHARS};

pub use crate::search::rerank::DEFAULT_RERANK_CANDIDATES;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Retrieve,
    Rerank,
}

#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    pub k: usize,
    pub languages: Vec<Language>,
    /// Globs over the chunk path (relative to the indexed root).
    pub paths: Vec<String>,
    pub mode: Mode,
    /// Candidates rescored in rerank mode (default DEFAULT_RERANK_CANDIDATES).
    pub rerank_candidates: Option<usize>,
    /// Share of the semantic side in the fusion: 0 lexical only, 1 semantic
    /// only (default DEFAULT_SEMANTIC_RATIO).
    pub semantic_ratio: Option<f32>,
    /// Hand back each result's whole chunk text (`QueryResult::text`).
    pub with_text: bool,
}

/// One result (the JSON schema of `leann query --format json`, README.md).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QueryResult {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub language: &'static str,
    pub symbol: Option<String>,
    pub score: f32,
    pub preview: String,
    /// The source no longer holds this chunk's text (changed or removed file).
    pub stale: bool,
    /// The chunk's whole text, when `QueryOptions::with_text` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The last filter built: its languages, its path globs, the node filter.
type CachedFilter = (Vec<Language>, Vec<String>, Arc<NodeFilter>);

/// An open tree index with its embedder.
pub struct Searcher {
    pub index: Index,
    /// Shared with the snapshots `reopen` makes.
    embedder: Arc<dyn Embedder>,
    reranker: Option<Arc<crate::search::rerank::Reranker>>,
    root: Option<PathBuf>,
    storage: Arc<dyn Storage>,
    filter_cache: Mutex<Option<CachedFilter>>,
    /// The lexical index of the delta's upserts (built on first use).
    lexical: std::sync::OnceLock<std::result::Result<DeltaLexical, String>>,
}

/// The delta's upserts in a lexical index; row r is upsert `ids[r]`.
struct DeltaLexical {
    index: crate::lexical::segment::LexMemory,
    ids: Vec<u64>,
}

/// Where chunk text is read back from (SPEC.md P-2): the tree's root, read
/// through `storage` without leaving it unless the index follows links out
/// of it, files of at most `max_bytes`.
#[derive(Clone, Copy)]
struct Tree<'a> {
    root: Option<&'a Path>,
    storage: &'a dyn Storage,
    links_out: bool,
    max_bytes: u64,
}

/// Text of a chunk and whether it is stale.
#[derive(Clone, Debug)]
struct ChunkText {
    text: String,
    stale: bool,
}

impl Searcher {
    /// Open an index built by `leann index create`. `root` overrides the
    /// recorded source root (for a tree that moved); `embedder` overrides the
    /// recorded embedder (its model id must still match).
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        root: Option<&Path>,
        embedder: Option<Box<dyn Embedder>>,
    ) -> Result<Searcher> {
        // The built-in model (tens of milliseconds to load) is known from
        // the manifest alone: load it while the segments open. What the
        // opened index records decides; a guess made from a manifest
        // replaced in between is not used. Other embedders (a server to
        // reach, a model directory) load after the open, once.
        let (opened, early) = std::thread::scope(|scope| {
            let early = embedder.is_none().then(|| {
                scope.spawn(|| -> Option<(String, Box<dyn Embedder>)> {
                    let m = crate::engine::manifest::load(storage.as_ref(), dir).ok()?;
                    let info = IndexInfo::from_json(dir, &m.info_json).ok()?;
                    let model = info.model.clone().unwrap_or_default();
                    let spec = info.embedder.filter(|s| *s == EmbedderSpec::Builtin)?;
                    let e = spec.load_recorded(storage.as_ref(), &model).ok()?;
                    Some((model, e))
                })
            });
            let opened = Index::open(storage.as_ref(), dir, ReadMode::Buffered, None);
            (opened, early.and_then(|h| h.join().ok().flatten()))
        });
        let index = opened?;
        if !index.info.chunks {
            return Err(Error::precondition(format!(
                "{}: this index holds bare vectors (built by `leann bench` or the library), not chunks of a source tree",
                dir.display()
            )));
        }
        let model = index.info.model.clone().unwrap_or_default();
        let embedder = match (embedder, early) {
            (Some(e), _) => e,
            (None, Some((m, e)))
                if m == model && index.info.embedder == Some(EmbedderSpec::Builtin) =>
            {
                e
            }
            (None, _) => {
                let spec = index.info.embedder.clone().ok_or_else(|| {
                    Error::corrupt(
                        dir.join("MANIFEST"),
                        0,
                        "no embedder recorded for a chunk index",
                    )
                })?;
                spec.load_recorded(storage.as_ref(), &model)?
            }
        };
        if embedder.model_id() != model || embedder.dim() != index.dim {
            return Err(Error::model(format!(
                "{}: the index was built with model `{model}` (dimension {}); the embedder here is `{}` (dimension {}). Query with the same model, or rebuild the index",
                dir.display(),
                index.dim,
                embedder.model_id(),
                embedder.dim()
            )));
        }
        let root = match root {
            Some(r) => Some(r.to_path_buf()),
            None => index.info.source_root.as_ref().map(PathBuf::from),
        };
        Ok(Searcher {
            index,
            embedder: Arc::from(embedder),
            reranker: None,
            root,
            storage,
            filter_cache: Mutex::new(None),
            lexical: std::sync::OnceLock::new(),
        })
    }

    /// The models used by `Mode::Rerank`.
    pub fn set_reranker(&mut self, r: crate::search::rerank::Reranker) {
        self.reranker = Some(Arc::new(r));
    }

    /// The index as it is on disk now (its manifest and logs read again),
    /// with this searcher's models, root and storage: a new snapshot for
    /// readers while this one keeps answering (`leann serve`). The writer
    /// lock is not taken or carried over.
    pub fn reopen(&self) -> Result<Searcher> {
        let index = Index::open(
            self.storage.as_ref(),
            &self.index.dir,
            ReadMode::Buffered,
            None,
        )?;
        let model = index.info.model.clone().unwrap_or_default();
        if !index.info.chunks
            || model != self.embedder.model_id()
            || index.dim != self.embedder.dim()
        {
            return Err(Error::Replaced {
                dir: self.index.dir.clone(),
                why: format!(
                    "the index was replaced by one built with model `{model}` (dimension {}), and this process embeds with `{}`; start it again",
                    index.dim,
                    self.embedder.model_id()
                ),
            });
        }
        Ok(Searcher {
            index,
            embedder: self.embedder.clone(),
            reranker: self.reranker.clone(),
            root: self.root.clone(),
            storage: self.storage.clone(),
            filter_cache: Mutex::new(None),
            lexical: std::sync::OnceLock::new(),
        })
    }

    /// Where the indexed tree is read from.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    fn tree(&self) -> Tree<'_> {
        tree_of(&self.index, self.root.as_deref(), self.storage.as_ref())
    }

    /// Take the index's writer lock (`Index::lock_writes`). When another
    /// writer had changed the index, it is open again now: cached filters
    /// are dropped, and an index rebuilt with another model is refused.
    pub fn lock_writes(&mut self) -> Result<bool> {
        let reopened = self.index.lock_writes(self.storage.as_ref())?;
        if reopened {
            self.clear_filter_cache();
            let model = self.index.info.model.clone().unwrap_or_default();
            if model != self.embedder.model_id() || self.index.dim != self.embedder.dim() {
                self.index.unlock_writes(self.storage.as_ref());
                return Err(Error::Replaced {
                    dir: self.index.dir.clone(),
                    why: format!(
                        "the index was replaced by one built with model `{model}` (dimension {}), and this process embeds with `{}`; start it again",
                        self.index.dim,
                        self.embedder.model_id()
                    ),
                });
            }
        }
        Ok(reopened)
    }

    /// Let go of the writer lock (`Index::unlock_writes`).
    pub fn unlock_writes(&mut self) {
        self.index.unlock_writes(self.storage.as_ref());
    }

    /// Forget cached filters (after the index changed).
    pub fn clear_filter_cache(&mut self) {
        if let Ok(c) = self.filter_cache.get_mut() {
            *c = None;
        }
        self.lexical = std::sync::OnceLock::new();
    }

    /// Whether the index has a lexical index (built by format 1.4 or later).
    pub fn has_lexical(&self) -> bool {
        self.index.info.lexical && self.index.segments.iter().all(|s| s.lexical.is_some())
    }

    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    /// Compact a tree index (`leann index compact`) by `method`: both
    /// methods re-embed the live segment chunks from their text (stored, or
    /// read back from the tree, as a query would) for exact distances;
    /// upserts enter by their logged vectors.
    pub fn compact(
        &mut self,
        method: crate::engine::compact::Method,
        progress: &(dyn Fn(&crate::engine::index::Progress) + Sync),
    ) -> Result<crate::engine::compact::CompactReport> {
        self.lock_writes()?;
        let Searcher {
            index,
            embedder,
            root,
            storage,
            filter_cache,
            lexical,
            ..
        } = self;
        let storage: &dyn Storage = storage.as_ref();
        index.enable_writes(storage)?;
        let root = root.as_deref();
        let tree = tree_of(index, root, storage);
        let tree = &tree;
        let vectors = |idx: &Index, si: usize, nodes: &[u32], _ids: &[u64], out: &mut Vec<f32>| {
            let seg = &idx.segments[si];
            let store = seg
                .chunks
                .as_ref()
                .ok_or_else(|| Error::internal("segment without chunk metadata"))?;
            let mut files = HashMap::new();
            let mut inputs = Vec::with_capacity(nodes.len());
            for &n in nodes {
                let t = segment_text(seg, n, tree, &mut files)?;
                let c = store.info(n)?;
                inputs.push(crate::embed::embed_input(
                    &c.path,
                    c.symbol.as_deref(),
                    &t.text,
                ));
            }
            let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
            out.extend_from_slice(&embedder.embed(&refs)?);
            Ok(())
        };
        let text =
            |idx: &Index, r: crate::engine::compact::ChunkRef<'_>| -> Result<(String, bool)> {
                let mut files = HashMap::new();
                let t = match r {
                    crate::engine::compact::ChunkRef::Segment(si, n) => {
                        segment_text(&idx.segments[si], n, tree, &mut files)?
                    }
                    crate::engine::compact::ChunkRef::Delta(c) => {
                        source_text(tree, &delta_info(c), &mut files)
                    }
                };
                Ok((t.text, t.stale))
            };
        let rep = crate::engine::compact::compact(
            index,
            storage,
            method,
            &vectors,
            Some(&text),
            progress,
        )?;
        if let Ok(c) = filter_cache.get_mut() {
            *c = None;
        }
        *lexical = std::sync::OnceLock::new();
        Ok(rep)
    }

    /// Run one query.
    pub fn query(
        &self,
        query: &str,
        o: &QueryOptions,
        ctx: &mut QueryContext,
    ) -> Result<Vec<QueryResult>> {
        check_request(query, o)?;
        let q = self.embedder.embed(&[query])?;
        let filter = self.filter(o)?;
        let retrieve_k = match o.mode {
            Mode::Retrieve => o.k,
            Mode::Rerank => o
                .rerank_candidates
                .unwrap_or(DEFAULT_RERANK_CANDIDATES)
                .max(o.k),
        };
        let lexical = self.has_lexical();
        let ratio = match o.semantic_ratio {
            Some(r) if !(0.0..=1.0).contains(&r) => {
                return Err(Error::argument("--semantic-ratio", format!(
                    "--semantic-ratio {r} is outside 0..1"
                )))
            }
            Some(r) if r < 1.0 && !lexical => {
                return Err(Error::precondition(format!(
                    "{}: this index has no lexical index (it was built before format 1.4), so --semantic-ratio must be 1; create it again (`leann index create --input DIR --output PATH --force`) for lexical search",
                    self.index.dir.display()
                )))
            }
            Some(r) => r,
            None if lexical => DEFAULT_SEMANTIC_RATIO,
            None => 1.0,
        };
        let cand = if ratio < 1.0 {
            retrieve_k.max(FUSION_CANDIDATES)
        } else {
            retrieve_k
        };
        let params = self.index.default_params(cand);
        let exact = TreeExact {
            searcher: self,
            texts: Mutex::new(HashMap::new()),
        };
        let mut out = if ratio > 0.0 {
            self.index
                .search_with(&q, &params, &exact, ctx, filter.as_deref())?
        } else {
            crate::engine::index::SearchOutput {
                hits: Vec::new(),
                stats: Default::default(),
            }
        };
        if ratio < 1.0 {
            out.hits = self.fuse(query, &out.hits, ratio, retrieve_k, filter.as_deref())?;
        }
        let lifted = match crate::search::symbols::identifier_query(query) {
            Some(parts) => {
                self.lift_symbols(&parts, &mut out.hits, retrieve_k, filter.as_deref())?
            }
            None => 0,
        };
        let mut texts = exact
            .texts
            .into_inner()
            .map_err(|_| Error::internal("text cache poisoned"))?;
        let (mut results, bodies) = self.materialize(&out.hits, &mut texts)?;
        if o.with_text {
            // Before rerank reorders the results (the bodies stay in the
            // first stage's order).
            for (r, b) in results.iter_mut().zip(&bodies) {
                r.text = Some(b.clone());
            }
        }
        if o.mode == Mode::Rerank {
            let r = self.reranker.as_ref().ok_or_else(|| {
                Error::argument("--rerank-model", 
                    "--mode rerank needs a transformer model: pass --rerank-model DIR (a sentence-transformers directory) or set search.rerankModel in the index's config",
                )
            })?;
            // Exact symbol matches stay first; the rest in the reranked order.
            let refs: Vec<&str> = bodies[lifted..].iter().map(|s| s.as_str()).collect();
            let scores = r.rerank(query, &refs)?;
            let rest = &mut results[lifted..];
            for (res, s) in rest.iter_mut().zip(&scores) {
                res.score = *s;
            }
            rest.sort_by(|a, b| b.score.total_cmp(&a.score));
            results.truncate(o.k);
        }
        Ok(results)
    }

    /// Results (path, lines, preview, stale flag) and full texts of `hits`;
    /// texts already read for the exact rescoring are taken from `texts`.
    fn materialize(
        &self,
        hits: &[crate::engine::index::Hit],
        texts: &mut HashMap<(usize, u32), ChunkText>,
    ) -> Result<(Vec<QueryResult>, Vec<String>)> {
        let mut results = Vec::with_capacity(hits.len());
        let mut files = HashMap::new();
        let mut bodies = Vec::with_capacity(hits.len());
        let tree = self.tree();
        for h in hits {
            let (info, ct) = if h.segment == crate::engine::index::DELTA_SEGMENT {
                // An upsert of the write-ahead log: its metadata is in the delta.
                let c = self
                    .index
                    .delta
                    .upserts
                    .get(&h.id)
                    .and_then(|e| e.chunk.as_ref())
                    .ok_or_else(|| {
                        Error::internal(format!("delta upsert {} has no chunk", h.id))
                    })?;
                let info = delta_info(c);
                let ct = source_text(&tree, &info, &mut files);
                (info, ct)
            } else {
                let (si, node) = (h.segment as usize, h.node);
                let seg = &self.index.segments[si];
                let store = seg
                    .chunks
                    .as_ref()
                    .ok_or_else(|| Error::internal("segment without chunk metadata"))?;
                let ct = match texts.remove(&(si, node)) {
                    Some(t) => t,
                    None => segment_text(seg, node, &tree, &mut files)?,
                };
                (store.info(node)?, ct)
            };
            results.push(QueryResult {
                path: info.path.to_string(),
                start_line: info.start_line,
                end_line: info.end_line,
                language: info.language.name(),
                symbol: info.symbol,
                score: h.score,
                preview: preview(&ct.text),
                stale: ct.stale,
                text: None,
            });
            bodies.push(ct.text);
        }
        Ok((results, bodies))
    }

    /// The two sides of the fusion for `query`, each as results best
    /// first: the semantic side's and the lexical side's FUSION_CANDIDATES
    /// (scores: cosine similarity and BM25). For tuning the fusion
    /// (`leann eval --dump-sides`); filters apply, rerank does not.
    pub fn sides(
        &self,
        query: &str,
        o: &QueryOptions,
        ctx: &mut QueryContext,
    ) -> Result<(Vec<QueryResult>, Vec<QueryResult>)> {
        check_request(query, o)?;
        let q = self.embedder.embed(&[query])?;
        let filter = self.filter(o)?;
        let params = self.index.default_params(FUSION_CANDIDATES);
        let exact = TreeExact {
            searcher: self,
            texts: Mutex::new(HashMap::new()),
        };
        let sem = self
            .index
            .search_with(&q, &params, &exact, ctx, filter.as_deref())?;
        let lex = if self.has_lexical() {
            self.lexical_hits(query, FUSION_CANDIDATES, filter.as_deref())?
        } else {
            Vec::new()
        };
        let mut texts = exact
            .texts
            .into_inner()
            .map_err(|_| Error::internal("text cache poisoned"))?;
        Ok((
            self.materialize(&sem.hits, &mut texts)?.0,
            self.materialize(&lex, &mut texts)?.0,
        ))
    }
}
