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
        let paths = path_matcher(&o.paths)?;
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
                        && paths.as_ref().is_none_or(|m| m.is_match(path)),
                );
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
                            && paths.as_ref().is_none_or(|m| m.is_match(&c.path))
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

/// What `--path` keeps: a pattern without glob characters is a file or a
/// directory (kept with everything below it), compared as a string; the
/// others are globs. Matching a literal is a compare, not a glob run: a
/// filter decides on every path of a 200,000-file index.
pub(super) struct PathMatcher {
    /// Literal patterns without trailing `/`.
    literal: Vec<String>,
    globs: Option<GlobSet>,
}

impl PathMatcher {
    pub(super) fn is_match(&self, path: &str) -> bool {
        self.literal.iter().any(|t| {
            path.strip_prefix(t.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }) || self.globs.as_ref().is_some_and(|g| g.is_match(path))
    }
}

pub(super) fn path_matcher(paths: &[String]) -> Result<Option<PathMatcher>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    let mut literal = Vec::new();
    let mut any_glob = false;
    for (i, p) in paths.iter().enumerate() {
        let t = p.trim_end_matches('/');
        let pats = if p.contains('*') || p.contains('?') || p.contains('[') {
            vec![p.clone()]
        } else if !t.is_empty() && !t.contains(['{', '\\']) {
            // A plain file or directory: compared as a string.
            literal.push(t.to_string());
            continue;
        } else {
            // A bare directory-ish pattern also matches everything below it.
            vec![t.to_string(), format!("{t}/**")]
        };
        for pat in pats {
            b.add(Glob::new(&pat).map_err(|e| {
                Error::config(format!("--path[{i}]"), format!("bad glob `{p}`: {e}"))
            })?);
            any_glob = true;
        }
    }
    let globs = if any_glob {
        Some(
            b.build()
                .map_err(|e| Error::config("--path", format!("{e}")))?,
        )
    } else {
        None
    };
    Ok(Some(PathMatcher { literal, globs }))
}

#[cfg(test)]
mod tests {
    use super::path_matcher;

    fn keeps(pats: &[&str], path: &str) -> bool {
        let pats: Vec<String> = pats.iter().map(|s| s.to_string()).collect();
        path_matcher(&pats).unwrap().unwrap().is_match(path)
    }

    /// A literal pattern keeps the file or directory it names and what is
    /// below it, never a sibling that merely starts with the same letters;
    /// globs and `{a,b}` alternatives keep working as globs.
    #[test]
    fn literal_paths_match_whole_components_and_globs_stay_globs() {
        for pat in ["auth", "auth/", "auth//"] {
            assert!(keeps(&[pat], "auth"), "{pat}");
            assert!(keeps(&[pat], "auth/jwt.go"), "{pat}");
            assert!(keeps(&[pat], "auth/a/b/c.go"), "{pat}");
            assert!(!keeps(&[pat], "authz/jwt.go"), "{pat}");
            assert!(!keeps(&[pat], "src/auth/jwt.go"), "{pat}");
        }
        assert!(keeps(&["src/pool.rs"], "src/pool.rs"));
        assert!(!keeps(&["src/pool.rs"], "src/pool.rs.bak"));
        assert!(keeps(&["x", "src/pool.rs"], "src/pool.rs"));
        assert!(keeps(&["**/*.go"], "auth/jwt.go"));
        assert!(!keeps(&["**/*.go"], "auth/jwt.rs"));
        assert!(keeps(&["src/{a,b}"], "src/b/x.rs"));
        assert!(!keeps(&["src/{a,b}"], "src/c/x.rs"));
        let bad: Vec<String> = vec!["src/[".to_string()];
        assert!(path_matcher(&bad).is_err());
    }
}
