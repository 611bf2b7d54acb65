//! The layering of src/ (issue 14): ARCHITECTURE.md's "Layers" table gives
//! each top-level module of the library a layer; a module may use modules
//! of its own layer or lower ones, never a higher one. Inside the library,
//! the modules (a top-level module, or a module one level inside a folder:
//! `engine::index`, `format::header`) form no cycle; a folder's submodules
//! may use the folder's own items (its mod.rs) without that counting as a
//! cycle. Every top-level module must be in the table.
//!
//! The references are read from the source text: `crate::a::b` paths and
//! `super::` paths (grouped `{..}` imports included), outside `#[cfg(test)]`
//! modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// ARCHITECTURE.md's "Layers" table: module -> layer.
fn layer_table() -> BTreeMap<String, u32> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let start = text
        .find("\n## Layers")
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let body = &text[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |e| e + 3);
    let mut out = BTreeMap::new();
    for line in body[..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 {
            continue;
        }
        let Ok(layer) = cells[1].parse::<u32>() else {
            continue;
        };
        for m in cells[2].split('`').skip(1).step_by(2) {
            out.insert(m.trim_end_matches('/').to_string(), layer);
        }
    }
    assert!(!out.is_empty(), "no rows in ARCHITECTURE.md's Layers table");
    out
}

/// Every library source file (not the binary's `main.rs` and `cli/`) as
/// (module path, text without its test module).
fn library_files() -> Vec<(Vec<String>, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap().to_str().unwrap().to_string();
        if rel == "main.rs" || rel == "lib.rs" || rel.starts_with("cli/") {
            continue;
        }
        let mut parts: Vec<String> = rel
            .trim_end_matches(".rs")
            .split('/')
            .map(String::from)
            .collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        let mut text = std::fs::read_to_string(&f).unwrap();
        if let Some(t) = text.find("#[cfg(test)]\nmod tests") {
            text.truncate(t);
        }
        out.push((parts, text));
    }
    out
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths after every `prefix::` in `text`, a grouped import giving one
/// path per item: `super::{a, b::c}` -> [a], [b, c].
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let pat = format!("{prefix}::");
    let mut at = 0;
    while let Some(i) = text[at..].find(&pat) {
        let begin = at + i;
        at = begin + pat.len();
        if text[..begin].chars().next_back().is_some_and(ident_char) {
            continue; // e.g. `my_super::`
        }
        let (base, rest) = segments(&text[at..]);
        if let Some(group) = rest.strip_prefix('{') {
            let close = group.find('}').unwrap_or(group.len());
            for item in group[..close].split(',') {
                let item = item.trim();
                if item == "self" {
                    out.push(base.clone());
                } else if !item.is_empty() {
                    let (tail, _) = segments(item);
                    out.push(base.iter().cloned().chain(tail).collect());
                }
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// Leading `a::b::` segments of `s` and what follows them.
fn segments(s: &str) -> (Vec<String>, &str) {
    let mut segs = Vec::new();
    let mut rest = s;
    loop {
        let n = rest.find(|c: char| !ident_char(c)).unwrap_or(rest.len());
        if n == 0 {
            break;
        }
        segs.push(rest[..n].to_string());
        rest = &rest[n..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    (segs, rest)
}

/// The unit a module path belongs to: its first two segments.
fn unit(path: &[String]) -> String {
    path.iter().take(2).cloned().collect::<Vec<_>>().join("::")
}

/// Unit -> the units it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;
/// (from top-level module, to top-level module, file making the edge).
type TopEdge = (String, String, String);

/// Module-level dependencies: (unit -> units it uses) and the top-level
/// edges with the file that makes them.
fn dependencies() -> (Graph, Vec<TopEdge>) {
    let files = library_files();
    let units: BTreeSet<String> = files.iter().map(|(p, _)| unit(p)).collect();
    let resolve = |path: &[String]| -> Option<String> {
        (1..=path.len().min(2))
            .rev()
            .map(|k| unit(&path[..k]))
            .find(|u| units.contains(u))
    };
    let mut graph: Graph = BTreeMap::new();
    let mut top_edges = Vec::new();
    for (path, text) in &files {
        let me = unit(path);
        let mut refs = paths_after(text, "crate");
        let parent = &path[..path.len() - 1];
        for p in paths_after(text, "super") {
            refs.push(parent.iter().cloned().chain(p).collect());
        }
        for r in refs {
            let Some(to) = resolve(&r) else { continue };
            if r[0] != path[0] {
                top_edges.push((path[0].clone(), r[0].clone(), path.join("/")));
            }
            // A folder's submodule using the folder's own items is not an edge.
            if to != me && to != path[0] {
                graph.entry(me.clone()).or_default().insert(to);
            }
        }
    }
    (graph, top_edges)
}

#[test]
fn no_module_uses_a_higher_layer() {
    let layers = layer_table();
    let files = library_files();
    let tops: BTreeSet<&String> = files.iter().map(|(p, _)| &p[0]).collect();
    let unplaced: Vec<&&String> = tops
        .iter()
        .filter(|t| !layers.contains_key(t.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from ARCHITECTURE.md's Layers table: {unplaced:?}"
    );
    let (_, edges) = dependencies();
    let mut wrong = BTreeSet::new();
    for (from, to, file) in &edges {
        let (Some(lf), Some(lt)) = (layers.get(from), layers.get(to)) else {
            continue;
        };
        if lt > lf {
            wrong.insert(format!(
                "src/{file}.rs: `{from}` (layer {lf}) uses `{to}` (layer {lt})"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn modules_form_no_cycle() {
    let (graph, _) = dependencies();
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        u: &str,
        graph: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(u.to_string(), 1);
        stack.push(u.to_string());
        for v in graph.get(u).into_iter().flatten() {
            match state.get(v.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == v).unwrap();
                    let mut c = stack[from..].to_vec();
                    c.push(v.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(v, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(u.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for u in graph.keys() {
        if !state.contains_key(u) {
            if let Some(c) = visit(u, &graph, &mut state, &mut Vec::new()) {
                panic!("modules in a cycle: {}", c.join(" -> "));
            }
        }
    }
}

/// The checks above can fail: a made-up source with an upward import and a
/// cycle is caught by the same parsing.
#[test]
fn the_parser_sees_grouped_and_super_imports() {
    let text = "use crate::engine::index::{self, Index};\nuse super::{os, Mapped};\nfn f() { crate::ann::pq::x(); my_crate::no(); }";
    let c = paths_after(text, "crate");
    assert_eq!(
        c,
        vec![
            vec!["engine".to_string(), "index".into()],
            vec!["engine".into(), "index".into(), "Index".into()],
            vec!["ann".into(), "pq".into(), "x".into()],
        ]
    );
    let s = paths_after(text, "super");
    assert_eq!(s, vec![vec!["os".to_string()], vec!["Mapped".to_string()]]);
}
