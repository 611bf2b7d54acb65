//! `Index`: searching: beam search per segment, exact rerank, the delta merged in.

use super::*;
use crate::ann::distance::{check_vector, normalize, Metric};
use crate::ann::vamana::{self, SearchParams, SearchStats, Visited};
use crate::engine::segment::SegScratch;
use crate::error::{Error, Result};
use std::time::Instant;

impl Index {
    /// Default query settings from the index configuration.
    pub fn default_params(&self, k: usize) -> QueryParams {
        let r = &self.resolved;
        let list = r.search_list.max(k);
        QueryParams {
            k,
            list,
            beam: r.beam_width,
            entry_anchors: r.entry_anchors,
            patience: r.patience,
            rerank: r.rerank.unwrap_or(list).max(k),
            free_expand: true,
            filter_scan_nodes: FILTER_SCAN_NODES,
        }
    }

    /// Search: beam search per segment, exact rerank of the best `rerank`
    /// candidates, merged by exact distance.
    pub fn search(
        &self,
        query: &[f32],
        p: &QueryParams,
        exact: &dyn ExactSource,
        ctx: &mut QueryContext,
    ) -> Result<SearchOutput> {
        self.search_with(query, p, exact, ctx, None)
    }

    /// Distance of an exact vector `v` (not necessarily unit length) from
    /// the prepared query `q` (unit length for cosine).
    pub(super) fn exact_distance(&self, q: &[f32], v: &[f32]) -> f32 {
        if self.metric == Metric::Cosine {
            // q is unit length; scale instead of copying v to normalise it.
            let nv = crate::ann::distance::dot(v, v).sqrt();
            if nv > 0.0 {
                1.0 - crate::ann::distance::dot(q, v) / nv
            } else {
                1.0
            }
        } else {
            self.metric.distance(q, v)
        }
    }

    /// `search` restricted to the nodes `filter` allows. The filter acts inside
    /// the search: a selective one (few allowed nodes) is answered by a scan of
    /// the allowed nodes' PQ codes; a broad one widens the beam search's list
    /// by the inverse of its selectivity, and falls back to the scan when the
    /// list still holds fewer than k allowed nodes. Either way k results come
    /// back whenever k allowed nodes exist.
    pub fn search_with(
        &self,
        query: &[f32],
        p: &QueryParams,
        exact: &dyn ExactSource,
        ctx: &mut QueryContext,
        filter: Option<&NodeFilter>,
    ) -> Result<SearchOutput> {
        if let Some(f) = filter {
            if f.allow.len() != self.segments.len() {
                return Err(Error::argument(
                    "filter",
                    format!(
                        "filter covers {} segments, the index has {}",
                        f.allow.len(),
                        self.segments.len()
                    ),
                ));
            }
        }
        // Nodes the delta hides are filtered out inside the search too.
        let combined;
        let seg_filter = match (filter, &self.visible) {
            (None, v) => v.as_ref(),
            (Some(f), None) => Some(f),
            (Some(f), Some(v)) => {
                combined = f.and(v);
                Some(&combined)
            }
        };
        let filter = seg_filter;
        let t0 = Instant::now();
        check_vector(query, self.dim, "query")?;
        if p.k == 0 {
            return Err(Error::argument("k", "k must be at least 1"));
        }
        let mut q = query.to_vec();
        if self.metric == Metric::Cosine {
            normalize(&mut q);
        }
        let mut stats = SearchStats::default();
        while ctx.scratch.len() < self.segments.len() {
            ctx.scratch.push(SegScratch::default());
        }
        // (distance, external id, segment index, node)
        let mut all: Vec<(f32, u64, u32, u32)> = Vec::new();
        let vis = ctx.visited.get_or_insert_with(|| Visited::new(0));
        for (si, seg) in self.segments.iter().enumerate() {
            let scratch = &mut ctx.scratch[si];
            scratch.reset();
            let tables = seg.quant.tables(&q);
            let entries = seg.entry_points(&tables, p.entry_anchors);
            // A record that fails its read (a damaged codes block) ranks
            // last and its error is returned once the search is done.
            let failed: std::cell::RefCell<Option<Error>> = Default::default();
            let approx = |i: u32| {
                seg.approx(&tables, i).unwrap_or_else(|e| {
                    failed.borrow_mut().get_or_insert(e);
                    f32::INFINITY
                })
            };
            let sp = SearchParams {
                list: p.list.max(p.k),
                beam: p.beam,
                patience: p.patience,
                k: p.k,
                free_expand: p.free_expand,
            };
            let want = p.rerank.max(p.k);
            let nodes: Vec<u32> = match filter {
                None => {
                    let pool =
                        vamana::beam_search(seg, &entries, &approx, &sp, vis, scratch, &mut stats)?;
                    pool.iter().take(want).map(|c| c.node).collect()
                }
                Some(f) => {
                    let allow = &f.allow[si];
                    let allowed = f.counts[si];
                    if allowed == 0 {
                        continue;
                    }
                    let mut picked = Vec::new();
                    if allowed > p.filter_scan_nodes {
                        let widen = (seg.len() as f64 / allowed as f64).ceil() as usize;
                        let sp = SearchParams {
                            list: (sp.list * widen).min(MAX_FILTERED_LIST).max(sp.list),
                            ..sp
                        };
                        let pool = vamana::beam_search(
                            seg, &entries, &approx, &sp, vis, scratch, &mut stats,
                        )?;
                        picked.extend(
                            pool.iter()
                                .filter(|c| allow[c.node as usize])
                                .take(want)
                                .map(|c| c.node),
                        );
                    }
                    if picked.len() < p.k.min(allowed) {
                        // Scan the allowed nodes' codes.
                        let mut scored: Vec<(f32, u32)> = (0..seg.len() as u32)
                            .filter(|&i| allow[i as usize])
                            .map(|i| (approx(i), i))
                            .collect();
                        stats.nodes_visited += scored.len() as u64;
                        let take = want.min(scored.len());
                        if take < scored.len() {
                            scored.select_nth_unstable_by(take, |a, b| a.0.total_cmp(&b.0));
                            scored.truncate(take);
                        }
                        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
                        picked = scored.into_iter().map(|x| x.1).collect();
                    }
                    picked
                }
            };
            if let Some(e) = failed.into_inner() {
                return Err(e);
            }
            let ext: Vec<u64> = nodes.iter().map(|&i| seg.ids.get(i as usize)).collect();
            ctx.exact.clear();
            if exact.stored_in_graph() {
                seg.stored_vectors(&nodes, scratch, &mut stats, &mut ctx.exact)?;
            } else {
                let c = Candidates {
                    segment: si,
                    seg,
                    nodes: &nodes,
                    ids: &ext,
                };
                exact.vectors(&c, &mut ctx.exact)?;
            }
            if ctx.exact.len() != nodes.len() * self.dim {
                return Err(Error::internal(format!(
                    "exact source returned {} floats for {} vectors of dim {}",
                    ctx.exact.len(),
                    nodes.len(),
                    self.dim
                )));
            }
            for (j, &e) in ext.iter().enumerate() {
                let v = &ctx.exact[j * self.dim..(j + 1) * self.dim];
                let d = self.exact_distance(&q, v);
                all.push((d, e, si as u32, nodes[j]));
            }
        }
        // Live upserts of the delta (exact distances), merged by distance.
        if !self.delta.upserts.is_empty() {
            let want = p.rerank.max(p.k);
            let delta_ids = filter.and_then(|f| f.delta_ids.as_ref());
            let vis = ctx.visited.get_or_insert_with(|| Visited::new(0));
            let found = self.delta.search(
                &q,
                want,
                self.metric,
                delta_ids.is_some(),
                &|id, _| delta_ids.is_none_or(|s| s.contains(&id)),
                vis,
            );
            // Reused vectors only navigate: score those upserts exactly.
            let reused: Vec<(usize, u64)> = found
                .iter()
                .enumerate()
                .filter(|(_, (_, id))| self.delta.upserts.get(id).is_some_and(|e| !e.exact))
                .map(|(i, &(_, id))| (i, id))
                .collect();
            let mut found = found;
            if !reused.is_empty() {
                let entries: Vec<&crate::engine::delta::DeltaEntry> = reused
                    .iter()
                    .filter_map(|(_, id)| self.delta.upserts.get(id))
                    .collect();
                ctx.exact.clear();
                exact.delta_vectors(&entries, &mut ctx.exact)?;
                if ctx.exact.len() != reused.len() * self.dim {
                    return Err(Error::internal(format!(
                        "exact source returned {} floats for {} delta upserts of dim {}",
                        ctx.exact.len(),
                        reused.len(),
                        self.dim
                    )));
                }
                for (j, &(i, _)) in reused.iter().enumerate() {
                    found[i].0 =
                        self.exact_distance(&q, &ctx.exact[j * self.dim..(j + 1) * self.dim]);
                }
            }
            all.extend(found.into_iter().map(|(d, id)| (d, id, DELTA_SEGMENT, 0)));
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.dedup_by_key(|x| x.1);
        all.truncate(p.k);
        stats.micros = t0.elapsed().as_micros() as u64;
        Ok(SearchOutput {
            hits: all
                .into_iter()
                .map(|(d, id, segment, node)| Hit {
                    id,
                    score: self.metric.score(d),
                    segment,
                    node,
                })
                .collect(),
            stats,
        })
    }
}
