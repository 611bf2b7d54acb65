//! Hybrid retrieval (issue 5, items 1-2, in progress): BM25 over code-aware
//! tokens fused with the semantic ranking by `semantic_ratio`; filters and
//! the write-ahead log's changes apply to the lexical side too.

mod common;

use leann::config::Config;
use leann::index::QueryContext;
use leann::io::Storage;
use leann::searcher::{QueryOptions, Searcher};
use std::path::Path;
use std::sync::Arc;

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance_repo");
    let d = common::tempdir();
    let tree = d.path().join("tree");
    for e in walk(&src) {
        let rel = e.strip_prefix(&src).unwrap();
        std::fs::create_dir_all(tree.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&e, tree.join(rel)).unwrap();
    }
    let idx = d.path().join("idx");
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    leann::ingest::create_from_tree(
        st.as_ref(),
        &tree,
        &idx,
        &Config::default(),
        &leann::embed::static_model::StaticModel::builtin().unwrap(),
        leann::embed::EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
    (d, idx)
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn open(idx: &Path) -> Searcher {
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    Searcher::open(st, idx, None, None).unwrap()
}

fn query(s: &Searcher, q: &str, ratio: f32, langs: &[&str]) -> Vec<(String, Option<String>)> {
    let o = QueryOptions {
        k: 5,
        semantic_ratio: Some(ratio),
        languages: leann::chunk::Language::parse_names(
            &langs.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
            "--lang",
        )
        .unwrap(),
        ..Default::default()
    };
    s.query(q, &o, &mut QueryContext::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.path, r.symbol))
        .collect()
}

/// Lexical only: an identifier's parts find the one chunk that holds them;
/// a language filter removes it; semantic only gives the semantic ranking.
#[test]
fn lexical_side_finds_identifiers_and_obeys_filters() {
    let (_d, idx) = setup();
    let s = open(&idx);
    let lex = query(&s, "hex to rgb", 0.0, &[]);
    assert_eq!(lex[0].0, "web/color.js", "{lex:?}");
    // Only color.js holds the token `rgb`: nothing else matches it.
    let only = query(&s, "rgb", 0.0, &[]);
    assert!(
        !only.is_empty() && only.iter().all(|r| r.0 == "web/color.js"),
        "{only:?}"
    );
    let py = query(&s, "hex to rgb", 0.0, &["python"]);
    assert!(py.iter().all(|r| r.0.ends_with(".py")), "{py:?}");
    let sem = query(&s, "hex to rgb", 1.0, &[]);
    let o = QueryOptions {
        k: 5,
        semantic_ratio: Some(1.0),
        ..Default::default()
    };
    let direct: Vec<(String, Option<String>)> = s
        .query("hex to rgb", &o, &mut QueryContext::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.path, r.symbol))
        .collect();
    assert_eq!(sem, direct);
    let bad = QueryOptions {
        k: 5,
        semantic_ratio: Some(1.5),
        ..Default::default()
    };
    let e = s
        .query("x", &bad, &mut QueryContext::default())
        .unwrap_err();
    assert!(e.to_string().contains("semantic-ratio"), "{e}");
}

/// The lexical side follows the log: a new file's identifier is found, a
/// removed file's chunks never come back.
#[test]
fn lexical_side_follows_updates() {
    let (d, idx) = setup();
    let tree = d.path().join("tree");
    std::fs::write(
        tree.join("src/quux.rs"),
        "pub fn frobnicate_widget(w: u32) -> u32 {\n    w + 1\n}\n",
    )
    .unwrap();
    std::fs::remove_file(tree.join("web/color.js")).unwrap();
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    // Built before the update, so the update must refresh it.
    assert_eq!(query(&s, "hex to rgb", 0.0, &[])[0].0, "web/color.js");
    leann::update::update_from_tree(&mut s, st.as_ref(), None).unwrap();
    let hits = query(&s, "frobnicate widget", 0.0, &[]);
    assert_eq!(hits[0].0, "src/quux.rs", "{hits:?}");
    let gone = query(&s, "hex to rgb", 0.0, &[]);
    assert!(gone.iter().all(|r| r.0 != "web/color.js"), "{gone:?}");
    // And after reopening (the log replayed).
    let s = open(&idx);
    assert_eq!(query(&s, "frobnicate widget", 0.0, &[])[0].0, "src/quux.rs");
    assert!(query(&s, "hex to rgb", 0.0, &[])
        .iter()
        .all(|r| r.0 != "web/color.js"));
}

/// After compaction (new segments) the lexical side still names live chunks.
#[test]
fn lexical_side_follows_compaction() {
    let (d, idx) = setup();
    let tree = d.path().join("tree");
    std::fs::remove_file(tree.join("lib/sort.go")).unwrap();
    let st: Arc<dyn Storage> = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let mut s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    leann::update::update_from_tree(&mut s, st.as_ref(), None).unwrap();
    assert_eq!(query(&s, "rgb", 0.0, &[])[0].0, "web/color.js");
    s.compact(leann::compact::Method::Rebuild, &|_| {}).unwrap();
    let hits = query(&s, "rgb", 0.0, &[]);
    assert_eq!(hits[0], ("web/color.js".into(), Some("hexToRgb".into())));
    assert!(query(&s, "bubble sort", 0.0, &[])
        .iter()
        .all(|r| r.0 != "lib/sort.go"));
}
