//! `Searcher`: `--lang`/`--path` filters as a `NodeFilter` (cached per index state).

use super::*;
use crate::engine::index::NodeFilter;
use crate::error::{Error, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::sync::Arc;

impl Searcher {
    pub(super) fn filter(&self, o: &QueryOptions) -> Result<Option<Arc<NodeFilter>>> {
        if o.languages.is_empty() && o.paths.is_empty() {
            return Ok(None);
        }
        let mut cache = self
            .filter_cache
            .lock()
            .map_err(|_| Error::internal("filter cache poisoned"))?;
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
                .ok_or_else(|| Error::internal("segment without chunk metadata"))?;
            let mut per_path: Vec<bool> = Vec::with_capacity(store.n_paths());
            store.for_each_path(|_, lang, path| {
                per_path.push(
                    (o.languages.is_empty() || o.languages.contains(&lang))
                        && globs.as_ref().is_none_or(|g| g.is_match(path)),
                )
            })?;
            // With the node list by path (format 1.8) only the chosen
            // files' nodes are read; otherwise every record names its path.
            let nodes = if store.is_indexed() {
                let mut a = vec![false; store.len()];
                for (p, _) in per_path.iter().enumerate().filter(|(_, &on)| on) {
                    for n in store.nodes_of_path(p as u32)?.unwrap_or_default() {
                        a[n as usize] = true;
                    }
                }
                a
            } else {
                (0..store.len() as u32)
                    .map(|i| Ok(per_path[store.path_of(i)? as usize]))
                    .collect::<Result<Vec<bool>>>()?
            };
            allow.push(nodes);
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
}

pub(super) fn build_globs(paths: &[String]) -> Result<Option<GlobSet>> {
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
