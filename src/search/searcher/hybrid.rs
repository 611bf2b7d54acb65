//! `Searcher`: the lexical side and its fusion with the semantic side; symbol matches lifted first.

use super::*;
use crate::engine::index::NodeFilter;
use crate::error::{Error, Result};
use crate::search::fusion::FUSION_CANDIDATES;
use rayon::prelude::*;
use std::collections::HashMap;

/// Up to this many nodes hidden by the log in a segment, the lexical side
/// drops them from tantivy's results instead of filtering rows up front.
const POST_FILTER_MAX_HIDDEN: usize = 20_000;

impl Searcher {
    /// The delta's lexical index (its upserts' text read from the tree on
    /// first use; a changed file contributes its path and symbol only).
    pub(super) fn delta_lexical(&self) -> Result<&DeltaLexical> {
        self.lexical
            .get_or_init(|| self.build_delta_lexical().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::internal(format!("lexical index of the log: {e}")))
    }

    pub(super) fn build_delta_lexical(&self) -> Result<DeltaLexical> {
        let tree = self.tree();
        // In path order, a batch at a time: each file is read once and let
        // go when its chunks are done, and a batch's tokens are made in
        // parallel and handed to tantivy before the next (after 10,000
        // changed files the log holds ~130,000 upserts: holding all their
        // files and tokens took 1.9 GB).
        let mut ups: Vec<(u64, &crate::format::wal::UpsertChunk)> = self
            .index
            .delta
            .upserts
            .iter()
            .filter_map(|(&id, e)| e.chunk.as_ref().map(|c| (id, c)))
            .collect();
        ups.sort_by(|a, b| a.1.path.cmp(&b.1.path).then(a.0.cmp(&b.0)));
        let ids: Vec<u64> = ups.iter().map(|(id, _)| *id).collect();
        const BATCH_CHUNKS: usize = 2048;
        let index = crate::lexical::segment::LexMemory::build_streamed(|add| {
            let mut files = HashMap::new();
            for batch in ups.chunks(BATCH_CHUNKS) {
                let texts: Vec<String> = batch
                    .iter()
                    .map(|(_, c)| {
                        // Sorted by path: a new path's file replaces the last.
                        if !files.contains_key(c.path.as_str()) {
                            files.clear();
                        }
                        let t = source_text(&tree, &delta_info(c), &mut files);
                        if t.stale {
                            String::new()
                        } else {
                            t.text
                        }
                    })
                    .collect();
                let docs: Vec<String> = batch
                    .par_iter()
                    .zip(texts.par_iter())
                    .map(|((_, c), text)| {
                        crate::lexical::tokens::chunk_body(
                            &c.path,
                            c.language,
                            c.symbol.as_deref(),
                            text,
                        )
                    })
                    .collect();
                for d in &docs {
                    add(d)?;
                }
            }
            Ok(())
        })?;
        Ok(DeltaLexical { index, ids })
    }

    /// The fusion of the semantic hits with the lexical side's best
    /// (`search::fusion::fuse`): the best `k`, scored by the fusion.
    pub(super) fn fuse(
        &self,
        query: &str,
        semantic: &[crate::engine::index::Hit],
        ratio: f32,
        k: usize,
        filter: Option<&NodeFilter>,
    ) -> Result<Vec<crate::engine::index::Hit>> {
        let lexical = self.lexical_hits(query, FUSION_CANDIDATES.max(k), filter)?;
        let mut by_id: HashMap<u64, crate::engine::index::Hit> = HashMap::new();
        let sem: Vec<(u64, f32)> = semantic.iter().map(|h| (h.id, h.score)).collect();
        let lex: Vec<(u64, f32)> = lexical.iter().map(|h| (h.id, h.score)).collect();
        for h in semantic.iter().chain(&lexical) {
            by_id.entry(h.id).or_insert_with(|| h.clone());
        }
        let all = sem.len() + lex.len();
        let fused: Vec<crate::engine::index::Hit> =
            crate::search::fusion::fuse(&sem, &lex, ratio, all)
                .into_iter()
                .filter_map(|(id, s)| {
                    by_id.remove(&id).map(|mut h| {
                        h.score = s;
                        h
                    })
                })
                .collect();
        Ok(crate::search::fusion::cap_prose(
            fused,
            |h| self.is_prose(h),
            k,
        ))
    }

    /// Whether a hit is a prose chunk (`Language::is_prose`: READMEs,
    /// Markdown, plain-text docs).
    pub(super) fn is_prose(&self, h: &crate::engine::index::Hit) -> bool {
        if h.segment == crate::engine::index::DELTA_SEGMENT {
            return self
                .index
                .delta
                .upserts
                .get(&h.id)
                .and_then(|e| e.chunk.as_ref())
                .is_some_and(|c| c.language.is_prose(&c.path));
        }
        self.index
            .segments
            .get(h.segment as usize)
            .and_then(|seg| seg.chunks.as_ref())
            .is_some_and(|store| {
                // A record that fails its read is not prose; the result's
                // own read reports the damage.
                store.record(h.node).is_ok_and(|r| {
                    store
                        .path_entry(r.path)
                        .is_ok_and(|(lang, path)| lang.is_prose(&path))
                })
            })
    }

    /// The lexical side: the best `want` chunks by BM25 over every segment
    /// and the log's upserts (score = BM25), best first.
    pub(super) fn lexical_hits(
        &self,
        query: &str,
        want: usize,
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
                .ok_or_else(|| Error::internal("segment without a lexical index"))?;
            searchers.push(l.searcher());
        }
        searchers.push(delta.index.searcher());
        let stats = Combined(searchers);
        let q = query_for(&qt);
        // (BM25 score, hit) over every segment and the delta.
        let mut found: Vec<(f32, crate::engine::index::Hit)> = Vec::new();
        for (si, seg) in self.index.segments.iter().enumerate() {
            let Some(l) = seg.lexical.as_ref() else {
                continue;
            };
            let node_ok = |n: usize| self.node_allowed(si, n, filter);
            // Nodes the log hides (changed and deleted files' chunks): when
            // they are few and no filter is set, ask tantivy for that many
            // more rows and drop theirs, instead of mapping every row to
            // its node first (millions of reads per query). The best
            // `want` live rows are the same either way.
            let hidden = self
                .index
                .visible
                .as_ref()
                .map_or(0, |v| v.allow[si].iter().filter(|&&a| !a).count());
            let post_filter = filter.is_none() && hidden <= POST_FILTER_MAX_HIDDEN;
            let (allow, fetch) = if post_filter {
                (None, want + hidden)
            } else {
                (Some(std::sync::Arc::new(l.rows_where(node_ok)?)), want)
            };
            let mut kept = 0;
            for (score, row) in l.search(&*q, &stats, fetch, allow)? {
                // The row column comes from the file: range-checked, and
                // the row's node checked against the segment.
                let node = l.node_of_row(row)?;
                if post_filter && (kept == want || !node_ok(node as usize)) {
                    continue;
                }
                kept += 1;
                found.push((
                    score,
                    crate::engine::index::Hit {
                        id: seg.ids.get(node as usize),
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
                return Err(Error::internal(format!(
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
        Ok(found.into_iter().map(|(_, h)| h).collect())
    }

    /// Whether segment `si`'s node `n` is live (not deleted or replaced by
    /// the log) and passes `filter`.
    pub(super) fn node_allowed(&self, si: usize, n: usize, filter: Option<&NodeFilter>) -> bool {
        self.index.visible.as_ref().is_none_or(|v| v.allow[si][n])
            && filter.is_none_or(|f| f.allow[si][n])
    }

    /// Put the chunks whose symbol an identifier-like query names (see
    /// `symbols`) first: qualified matches, then name matches, each in the
    /// order the ranking had them (chunks it had not found after, in index
    /// order, with score 0). Deleted and filtered-out chunks are skipped.
    /// Returns how many hits were lifted (at most `k`).
    pub(super) fn lift_symbols(
        &self,
        parts: &[String],
        hits: &mut Vec<crate::engine::index::Hit>,
        k: usize,
        filter: Option<&NodeFilter>,
    ) -> Result<usize> {
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
        // The symbol index (format 1.8) names the only nodes that can
        // match: a match needs a symbol whose last component is the
        // query's last, or its qualifier's last.
        let mut names = vec![parts[parts.len() - 1].as_str()];
        if parts.len() > 1 {
            names.push(parts[parts.len() - 2].as_str());
        }
        let mut sym = Vec::new();
        for (si, seg) in self.index.segments.iter().enumerate() {
            let Some(store) = seg.chunks.as_ref() else {
                continue;
            };
            let mut check = |node: u32, s: &str| {
                let level = symbol_match(parts, s);
                if level > 0 && self.node_allowed(si, node as usize, filter) {
                    push(level, seg.ids.get(node as usize), si as u32, node);
                }
            };
            if store.is_indexed() {
                let mut nodes = Vec::new();
                for name in &names {
                    nodes.extend(store.symbol_candidates(name)?.unwrap_or_default());
                }
                nodes.sort_unstable();
                nodes.dedup();
                for node in nodes {
                    let r = store.record(node)?;
                    if let Some(s) = store.symbol_into(&r, &mut sym)? {
                        check(node, s);
                    }
                }
            } else {
                store.for_each_symbol(check)?;
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
            return Ok(0);
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
        Ok(lifted)
    }
}
