//! Text queries against an index built from a source tree: embed the query,
//! search the segments with language/path filters inside the search,
//! recompute the final candidates' exact vectors from their text (read back
//! from the source tree and checked against the chunk hash, or from the
//! stored text), and hand back results with a preview and a stale flag.

use crate::ann::vamana::SearchStats;
use crate::chunk::split::content_hash;
use crate::embed::Embedder;
use crate::engine::chunkstore::ChunkInfo;
use crate::engine::index::{ExactSource, Index, NodeFilter, QueryContext};
use crate::engine::segment::{SegScratch, Segment};
use crate::error::{Error, Result};
use crate::io::{ReadMode, Storage};
use crate::lang::Language;
use crate::search::fusion::{DEFAULT_SEMANTIC_RATIO, FUSION_CANDIDATES, RRF_K};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Preview lines per result.
pub const PREVIEW_LINES: usize = 4;
/// Characters kept of a preview line.
pub const PREVIEW_LINE_CHARS: usize = 200;
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
}

/// The last filter built: its languages, its path globs, the node filter.
type CachedFilter = (Vec<Language>, Vec<String>, Arc<NodeFilter>);

/// An open tree index with its embedder.
pub struct Searcher {
    pub index: Index,
    embedder: Box<dyn Embedder>,
    reranker: Option<crate::search::rerank::Reranker>,
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

fn build_globs(paths: &[String]) -> Result<Option<GlobSet>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for (i, p) in paths.iter().enumerate() {
        // A bare directory-ish pattern also matches everything below it.
        let pats = if p.contains('*') || p.contains('?') || p.contains('[') {
            vec![p.clone()]
        } else {
            let t = p.trim_end_matches('/');
            vec![t.to_string(), format!("{t}/**")]
        };
        for pat in pats {
            b.add(Glob::new(&pat).map_err(|e| {
                Error::config(format!("--path[{i}]"), format!("bad glob `{p}`: {e}"))
            })?);
        }
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::config("--path", format!("{e}")))
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
        let index = Index::open(storage.as_ref(), dir, ReadMode::Buffered, None)?;
        if !index.info.chunks {
            return Err(Error::invalid(format!(
                "{}: this index holds bare vectors (built by `leann bench` or the library), not chunks of a source tree",
                dir.display()
            )));
        }
        let model = index.info.model.clone().unwrap_or_default();
        let embedder = match embedder {
            Some(e) => e,
            None => {
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
            return Err(Error::invalid(format!(
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
            embedder,
            reranker: None,
            root,
            storage,
            filter_cache: Mutex::new(None),
            lexical: std::sync::OnceLock::new(),
        })
    }

    /// The models used by `Mode::Rerank`.
    pub fn set_reranker(&mut self, r: crate::search::rerank::Reranker) {
        self.reranker = Some(r);
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

    /// The delta's lexical index (its upserts' text read from the tree on
    /// first use; a changed file contributes its path and symbol only).
    fn delta_lexical(&self) -> Result<&DeltaLexical> {
        self.lexical
            .get_or_init(|| self.build_delta_lexical().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::invalid(format!("lexical index of the log: {e}")))
    }

    fn build_delta_lexical(&self) -> Result<DeltaLexical> {
        let tree = self.tree();
        let mut files = HashMap::new();
        let mut docs = Vec::new();
        let mut ids = Vec::new();
        for (&id, e) in &self.index.delta.upserts {
            if let Some(c) = &e.chunk {
                let t = source_text(&tree, &delta_info(c), &mut files);
                let text = if t.stale { "" } else { t.text.as_str() };
                docs.push(crate::lexical::tokens::chunk_tokens(
                    &c.path,
                    c.language,
                    c.symbol.as_deref(),
                    text,
                ));
                ids.push(id);
            }
        }
        Ok(DeltaLexical {
            index: crate::lexical::segment::LexMemory::build(&docs)?,
            ids,
        })
    }

    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    fn filter(&self, o: &QueryOptions) -> Result<Option<Arc<NodeFilter>>> {
        if o.languages.is_empty() && o.paths.is_empty() {
            return Ok(None);
        }
        let mut cache = self
            .filter_cache
            .lock()
            .map_err(|_| Error::invalid("filter cache poisoned"))?;
        if let Some((l, p, f)) = cache.as_ref() {
            if *l == o.languages && *p == o.paths {
                return Ok(Some(f.clone()));
            }
        }
        let globs = build_globs(&o.paths)?;
        let mut allow = Vec::with_capacity(self.index.segments.len());
        for seg in &self.index.segments {
            let store = seg
                .chunks
                .as_ref()
                .ok_or_else(|| Error::invalid("segment without chunk metadata"))?;
            let per_path: Vec<bool> = store
                .head
                .paths
                .iter()
                .map(|(lang, path)| {
                    (o.languages.is_empty() || o.languages.contains(lang))
                        && globs.as_ref().is_none_or(|g| g.is_match(path))
                })
                .collect();
            allow.push(
                (0..store.len() as u32)
                    .map(|i| per_path[store.path_of(i) as usize])
                    .collect(),
            );
        }
        let mut f = NodeFilter::new(allow);
        f.delta_ids = Some(
            self.index
                .delta
                .upserts
                .iter()
                .filter(|(_, e)| {
                    e.chunk.as_ref().is_some_and(|c| {
                        (o.languages.is_empty() || o.languages.contains(&c.language))
                            && globs.as_ref().is_none_or(|g| g.is_match(&c.path))
                    })
                })
                .map(|(id, _)| *id)
                .collect(),
        );
        let f = Arc::new(f);
        *cache = Some((o.languages.clone(), o.paths.clone(), f.clone()));
        Ok(Some(f))
    }

    /// Reciprocal rank fusion of the semantic hits with the lexical side's
    /// best: each side's rank r adds weight / (RRF_K + r), the weights being
    /// `ratio` and 1 - `ratio`. The best `k`, scored by the fusion.
    fn fuse(
        &self,
        query: &str,
        semantic: &[crate::engine::index::Hit],
        ratio: f32,
        k: usize,
        filter: Option<&NodeFilter>,
    ) -> Result<Vec<crate::engine::index::Hit>> {
        use crate::lexical::segment::{query_for, search, Combined};
        let mut qt = Vec::new();
        crate::lexical::tokens::tokens(query, &mut qt);
        let delta = self.delta_lexical()?;
        let mut searchers: Vec<&tantivy::Searcher> = Vec::new();
        for seg in &self.index.segments {
            let l = seg
                .lexical
                .as_ref()
                .ok_or_else(|| Error::invalid("segment without a lexical index"))?;
            searchers.push(l.searcher());
        }
        searchers.push(delta.index.searcher());
        let stats = Combined(searchers);
        let q = query_for(&qt);
        let want = FUSION_CANDIDATES.max(k);
        // (BM25 score, hit) over every segment and the delta.
        let mut found: Vec<(f32, crate::engine::index::Hit)> = Vec::new();
        for (si, seg) in self.index.segments.iter().enumerate() {
            let Some(l) = seg.lexical.as_ref() else {
                continue;
            };
            let rows = &l.head.node_of_row;
            let node_ok = |n: usize| self.node_allowed(si, n, filter);
            let allow = (self.index.visible.is_some() || filter.is_some()).then(|| {
                std::sync::Arc::new(
                    rows.iter()
                        .map(|&n| node_ok(n as usize))
                        .collect::<Vec<bool>>(),
                )
            });
            for (score, row) in l.search(&*q, &stats, want, allow)? {
                // The row column comes from the file: range-checked.
                // (Every row's node was checked against the segment on open.)
                let node = *rows.get(row as usize).ok_or_else(|| {
                    Error::corrupt(
                        self.index.dir.join(format!("seg-{:08}.lex", seg.id)),
                        0,
                        format!("lexical row {row} outside its {} rows", rows.len()),
                    )
                })?;
                found.push((
                    score,
                    crate::engine::index::Hit {
                        id: seg.ids[node as usize],
                        score,
                        segment: si as u32,
                        node,
                    },
                ));
            }
        }
        let delta_allow = filter.and_then(|f| f.delta_ids.as_ref()).map(|live| {
            std::sync::Arc::new(
                delta
                    .ids
                    .iter()
                    .map(|id| live.contains(id))
                    .collect::<Vec<bool>>(),
            )
        });
        for (score, row) in search(delta.index.searcher(), &*q, &stats, want, delta_allow)? {
            let Some(&id) = delta.ids.get(row as usize) else {
                return Err(Error::invalid(format!(
                    "lexical index of the log: row {row} outside its {} rows",
                    delta.ids.len()
                )));
            };
            // Only upserts still live (a later delete may have removed it).
            if self.index.delta.upserts.contains_key(&id) {
                found.push((
                    score,
                    crate::engine::index::Hit {
                        id,
                        score,
                        segment: crate::engine::index::DELTA_SEGMENT,
                        node: 0,
                    },
                ));
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        found.truncate(want);
        // (fused score, hit), keyed by external id.
        let mut by_id: HashMap<u64, (f32, crate::engine::index::Hit)> = HashMap::new();
        for (r, h) in semantic.iter().enumerate() {
            let s = ratio / (RRF_K + r as f32 + 1.0);
            by_id.insert(h.id, (s, h.clone()));
        }
        for (r, (_, h)) in found.into_iter().enumerate() {
            let s = (1.0 - ratio) / (RRF_K + r as f32 + 1.0);
            by_id.entry(h.id).and_modify(|e| e.0 += s).or_insert((s, h));
        }
        let mut all: Vec<(f32, crate::engine::index::Hit)> = by_id.into_values().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        all.truncate(k);
        Ok(all
            .into_iter()
            .map(|(s, mut h)| {
                h.score = s;
                h
            })
            .collect())
    }

    /// Whether segment `si`'s node `n` is live (not deleted or replaced by
    /// the log) and passes `filter`.
    fn node_allowed(&self, si: usize, n: usize, filter: Option<&NodeFilter>) -> bool {
        self.index.visible.as_ref().is_none_or(|v| v.allow[si][n])
            && filter.is_none_or(|f| f.allow[si][n])
    }

    /// Put the chunks whose symbol an identifier-like query names (see
    /// `symbols`) first: qualified matches, then name matches, each in the
    /// order the ranking had them (chunks it had not found after, in index
    /// order, with score 0). Deleted and filtered-out chunks are skipped.
    /// Returns how many hits were lifted (at most `k`).
    fn lift_symbols(
        &self,
        parts: &[String],
        hits: &mut Vec<crate::engine::index::Hit>,
        k: usize,
        filter: Option<&NodeFilter>,
    ) -> usize {
        use crate::search::symbols::symbol_match;
        // (match level, position in the ranking or usize::MAX, hit)
        let mut found: Vec<(u8, usize, crate::engine::index::Hit)> = Vec::new();
        let mut push = |level: u8, id: u64, segment: u32, node: u32| {
            let pos = hits.iter().position(|h| h.id == id);
            found.push((
                level,
                pos.unwrap_or(usize::MAX),
                crate::engine::index::Hit {
                    id,
                    score: pos.map_or(0.0, |p| hits[p].score),
                    segment,
                    node,
                },
            ));
        };
        for (si, seg) in self.index.segments.iter().enumerate() {
            let Some(store) = seg.chunks.as_ref() else {
                continue;
            };
            for node in 0..store.len() {
                let Some(sym) = store.info(node as u32).symbol else {
                    continue;
                };
                let level = symbol_match(parts, sym);
                if level > 0 && self.node_allowed(si, node, filter) {
                    push(level, seg.ids[node], si as u32, node as u32);
                }
            }
        }
        for (&id, e) in &self.index.delta.upserts {
            let Some(sym) = e.chunk.as_ref().and_then(|c| c.symbol.as_deref()) else {
                continue;
            };
            let allowed = filter
                .and_then(|f| f.delta_ids.as_ref())
                .is_none_or(|live| live.contains(&id));
            let level = symbol_match(parts, sym);
            if level > 0 && allowed {
                push(level, id, crate::engine::index::DELTA_SEGMENT, 0);
            }
        }
        if found.is_empty() {
            return 0;
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        found.truncate(k);
        let lifted = found.len();
        let ids: std::collections::HashSet<u64> = found.iter().map(|f| f.2.id).collect();
        let rest: Vec<crate::engine::index::Hit> =
            hits.drain(..).filter(|h| !ids.contains(&h.id)).collect();
        hits.extend(found.into_iter().map(|f| f.2));
        hits.extend(rest);
        hits.truncate(k);
        lifted
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
                .ok_or_else(|| Error::invalid("segment without chunk metadata"))?;
            let mut files = HashMap::new();
            let mut inputs = Vec::with_capacity(nodes.len());
            for &n in nodes {
                let t = segment_text(seg, n, tree, &mut files)?;
                let c = store.info(n);
                inputs.push(crate::embed::embed_input(c.path, c.symbol, &t.text));
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
                return Err(Error::invalid(format!(
                    "--semantic-ratio {r} is outside 0..1"
                )))
            }
            Some(r) if r < 1.0 && !lexical => {
                return Err(Error::invalid(format!(
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
            Some(parts) => self.lift_symbols(&parts, &mut out.hits, retrieve_k, filter.as_deref()),
            None => 0,
        };
        let mut texts = exact
            .texts
            .into_inner()
            .map_err(|_| Error::invalid("text cache poisoned"))?;
        let mut results = Vec::with_capacity(out.hits.len());
        let mut files = HashMap::new();
        let mut bodies = Vec::with_capacity(out.hits.len());
        let tree = self.tree();
        for h in &out.hits {
            let (info, ct) = if h.segment == crate::engine::index::DELTA_SEGMENT {
                // An upsert of the write-ahead log: its metadata is in the delta.
                let c = self
                    .index
                    .delta
                    .upserts
                    .get(&h.id)
                    .and_then(|e| e.chunk.as_ref())
                    .ok_or_else(|| Error::invalid(format!("delta upsert {} has no chunk", h.id)))?;
                let info = delta_info(c);
                let ct = source_text(&tree, &info, &mut files);
                (info, ct)
            } else {
                let (si, node) = (h.segment as usize, h.node);
                let seg = &self.index.segments[si];
                let store = seg
                    .chunks
                    .as_ref()
                    .ok_or_else(|| Error::invalid("segment without chunk metadata"))?;
                let ct = match texts.remove(&(si, node)) {
                    Some(t) => t,
                    None => segment_text(seg, node, &tree, &mut files)?,
                };
                (store.info(node), ct)
            };
            results.push(QueryResult {
                path: info.path.to_string(),
                start_line: info.start_line,
                end_line: info.end_line,
                language: info.language.name(),
                symbol: info.symbol.map(str::to_string),
                score: h.score,
                preview: preview(&ct.text),
                stale: ct.stale,
            });
            bodies.push(ct.text);
        }
        if o.mode == Mode::Rerank {
            let r = self.reranker.as_ref().ok_or_else(|| {
                Error::invalid(
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
}

/// Most results one query may ask for (`--top-k`, a batch line's `top_k`,
/// `--rerank-candidates`): beyond it a request is refused, not allocated.
pub const MAX_TOP_K: usize = 10_000;
/// Longest query text, bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Refuse requests that cannot be answered sensibly: no results asked for,
/// more than `MAX_TOP_K`, and queries with no letter or digit in them
/// (empty, blank or punctuation only: any answer would be arbitrary).
pub fn check_request(query: &str, o: &QueryOptions) -> Result<()> {
    if o.k == 0 || o.k > MAX_TOP_K {
        return Err(Error::invalid(format!(
            "--top-k {} is outside 1..={MAX_TOP_K}",
            o.k
        )));
    }
    if let Some(n) = o.rerank_candidates {
        if n == 0 || n > MAX_TOP_K {
            return Err(Error::invalid(format!(
                "--rerank-candidates {n} is outside 1..={MAX_TOP_K}"
            )));
        }
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::invalid(format!(
            "the query is {} bytes long; at most {MAX_QUERY_BYTES} are accepted",
            query.len()
        )));
    }
    if !query.chars().any(char::is_alphanumeric) {
        return Err(Error::invalid(format!(
            "the query {query:?} has no words to search for (no letter or digit)"
        )));
    }
    Ok(())
}

fn preview(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if out.len() == PREVIEW_LINES {
            break;
        }
        let l = line.trim_end();
        let cut = match l.char_indices().nth(PREVIEW_LINE_CHARS) {
            Some((i, _)) => &l[..i],
            None => l,
        };
        out.push(cut.to_string());
    }
    out.join("\n")
}

/// Exact vectors of final candidates, recomputed from their text; the texts
/// are kept for the results' previews.
struct TreeExact<'a> {
    searcher: &'a Searcher,
    texts: Mutex<HashMap<(usize, u32), ChunkText>>,
}

impl ExactSource for TreeExact<'_> {
    fn vectors(
        &self,
        seg: &Segment,
        nodes: &[u32],
        _ext: &[u64],
        _scratch: &mut SegScratch,
        _stats: &mut SearchStats,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let si = self
            .searcher
            .index
            .segments
            .iter()
            .position(|s| s.id == seg.id)
            .ok_or_else(|| Error::invalid("unknown segment"))?;
        let mut files = HashMap::new();
        let tree = self.searcher.tree();
        let mut got = Vec::with_capacity(nodes.len());
        for &n in nodes {
            got.push(segment_text(seg, n, &tree, &mut files)?);
        }
        let store = seg
            .chunks
            .as_ref()
            .ok_or_else(|| Error::invalid("segment without chunk metadata"))?;
        let owned: Vec<String> = nodes
            .iter()
            .zip(&got)
            .map(|(&n, t)| {
                let info = store.info(n);
                crate::embed::embed_input(info.path, info.symbol, &t.text)
            })
            .collect();
        let refs: Vec<&str> = owned.iter().map(|s| s.as_str()).collect();
        out.extend_from_slice(&self.searcher.embedder.embed(&refs)?);
        let mut texts = self
            .texts
            .lock()
            .map_err(|_| Error::invalid("text cache poisoned"))?;
        for (&n, t) in nodes.iter().zip(got) {
            texts.insert((si, n), t);
        }
        Ok(())
    }

    /// Reused delta vectors: recomputed from the chunk's text in the tree,
    /// like a segment node's.
    fn delta_vectors(
        &self,
        _ids: &[u64],
        entries: &[&crate::engine::delta::DeltaEntry],
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let tree = self.searcher.tree();
        let mut files = HashMap::new();
        let mut inputs = Vec::with_capacity(entries.len());
        for e in entries {
            let c = e
                .chunk
                .as_ref()
                .ok_or_else(|| Error::invalid("a reused delta upsert without chunk metadata"))?;
            let t = source_text(&tree, &delta_info(c), &mut files);
            inputs.push(crate::embed::embed_input(
                &c.path,
                c.symbol.as_deref(),
                &t.text,
            ));
        }
        let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
        out.extend_from_slice(&self.searcher.embedder.embed(&refs)?);
        Ok(())
    }
}

/// The text of node `node` of `seg`: stored text, or the source file's bytes
/// at the chunk's range, checked against its hash.
fn segment_text(
    seg: &Segment,
    node: u32,
    tree: &Tree<'_>,
    files: &mut HashMap<String, Option<Vec<u8>>>,
) -> Result<ChunkText> {
    let store = seg
        .chunks
        .as_ref()
        .ok_or_else(|| Error::invalid("segment without chunk metadata"))?;
    let info = store.info(node);
    if store.has_text() {
        let text = store.text(node)?;
        return Ok(ChunkText { text, stale: false });
    }
    Ok(source_text(tree, &info, files))
}

/// How text of `index`'s chunks is read from the tree at `root`.
fn tree_of<'a>(index: &Index, root: Option<&'a Path>, storage: &'a dyn Storage) -> Tree<'a> {
    let f = index.config.filters.as_ref();
    Tree {
        root,
        storage,
        links_out: f.is_some_and(|f| f.follow_external_symlinks),
        max_bytes: f
            .and_then(|f| f.max_file_bytes)
            .unwrap_or(crate::chunk::walk::DEFAULT_MAX_FILE_BYTES),
    }
}

/// The metadata of a delta upsert, as a segment's chunk store gives it.
fn delta_info(c: &crate::format::wal::UpsertChunk) -> ChunkInfo<'_> {
    ChunkInfo {
        path: &c.path,
        language: c.language,
        start_line: c.start_line,
        end_line: c.end_line,
        start_byte: c.start_byte,
        byte_len: c.byte_len,
        symbol: c.symbol.as_deref(),
        hash: c.hash,
    }
}

/// A chunk's bytes read back from the source tree, hash-checked.
/// A file that cannot be read (gone, not a regular file, outside the tree,
/// too large) makes its chunks stale.
fn source_text(
    tree: &Tree<'_>,
    c: &ChunkInfo<'_>,
    files: &mut HashMap<String, Option<Vec<u8>>>,
) -> ChunkText {
    let (path, start_byte, byte_len, hash) = (c.path, c.start_byte, c.byte_len, &c.hash);
    let bytes = files.entry(path.to_string()).or_insert_with(|| {
        let root = tree.root?;
        tree.storage
            .read_beneath(root, path, tree.links_out, tree.max_bytes)
            .ok()
    });
    let Some(bytes) = bytes else {
        return ChunkText {
            text: String::new(),
            stale: true,
        };
    };
    let a = (start_byte as usize).min(bytes.len());
    let b = (start_byte as usize + byte_len as usize).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[a..b]).into_owned();
    let stale = b - a != byte_len as usize || content_hash(&text) != *hash;
    ChunkText { text, stale }
}
