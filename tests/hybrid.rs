//! Hybrid retrieval (issue 5, items 1-3): BM25 over code-aware tokens fused
//! with the semantic ranking by `semantic_ratio`; filters and the write-ahead
//! log's changes apply to the lexical side too; identifier-like queries lift
//! exact symbol matches.

mod common;

use leann::config::Config;
use leann::engine::index::QueryContext;
use leann::io::Storage;
use leann::search::searcher::{QueryOptions, Searcher};
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
    build(&tree, &idx);
    (d, idx)
}

/// Index `tree` into `idx` with the default configuration.
fn build(tree: &Path, idx: &Path) {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    leann::ingest::tree::create_from_tree(
        st.as_ref(),
        tree,
        idx,
        &Config::default(),
        &leann::embed::static_model::StaticModel::builtin().unwrap(),
        leann::embed::EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
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
    query_with(s, q, Some(ratio), langs)
}

/// `query` with the ratio left to the default when `None`.
fn query_with(
    s: &Searcher,
    q: &str,
    ratio: Option<f32>,
    langs: &[&str],
) -> Vec<(String, Option<String>)> {
    let o = QueryOptions {
        k: 5,
        semantic_ratio: ratio,
        languages: leann::lang::Language::parse_names(
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
    leann::ingest::update::update_from_tree(&mut s, st.as_ref(), None).unwrap();
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
    leann::ingest::update::update_from_tree(&mut s, st.as_ref(), None).unwrap();
    assert_eq!(query(&s, "rgb", 0.0, &[])[0].0, "web/color.js");
    s.compact(leann::engine::compact::Method::Rebuild, &|_| {})
        .unwrap();
    let hits = query(&s, "rgb", 0.0, &[]);
    assert_eq!(hits[0], ("web/color.js".into(), Some("hexToRgb".into())));
    assert!(query(&s, "bubble sort", 0.0, &[])
        .iter()
        .all(|r| r.0 != "lib/sort.go"));
}

/// A tree with an `HttpClient::send`, a `Socket::send`, and a README that
/// talks about `HttpClient::send` more than the code does.
fn symbol_tree(root: &Path) {
    std::fs::create_dir_all(root.join("net")).unwrap();
    std::fs::create_dir_all(root.join("py")).unwrap();
    std::fs::write(
        root.join("net/client.rs"),
        "pub struct HttpClient { base: String }\n\nimpl HttpClient {\n    pub fn send(&self, req: Request) -> Response {\n        let url = format!(\"{}{}\", self.base, req.path);\n        transport::post(&url, &req.body)\n    }\n}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("net/socket.rs"),
        "pub struct Socket { fd: i32 }\n\nimpl Socket {\n    pub fn send(&mut self, bytes: &[u8]) -> usize {\n        unsafe_write(self.fd, bytes)\n    }\n}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("README.md"),
        "# HttpClient\n\nCall HttpClient send to send a request: HttpClient send posts it.\nHttpClient send retries. HttpClient send, HttpClient send, HttpClient send.\n",
    )
    .unwrap();
    std::fs::write(
        root.join("py/mailer.py"),
        "def send(message):\n    smtp = connect()\n    smtp.sendmail(message)\n",
    )
    .unwrap();
}

/// Item 3: an identifier-like query lifts the chunk whose symbol it names
/// to the top (qualified match first, then matches by name), where the same
/// words as a phrase rank the README first; filters and deletes apply.
#[test]
fn identifier_queries_lift_exact_symbol_matches() {
    let d = common::tempdir();
    let tree = d.path().join("tree");
    symbol_tree(&tree);
    let idx = d.path().join("idx");
    build(&tree, &idx);
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let s = open(&idx);
    let ask = |s: &Searcher, q: &str, langs: &[&str]| query_with(s, q, None, langs);
    // As words, the README wins (it says them most).
    let words = ask(&s, "HttpClient send", &[]);
    assert_eq!(words[0].0, "README.md", "{words:?}");
    // As an identifier: the impl of HttpClient (small enough to be one
    // chunk, so its symbol is `HttpClient`), then the function named `send`.
    let ident = ask(&s, "HttpClient::send", &[]);
    assert_eq!(ident[0].0, "net/client.rs", "{ident:?}");
    assert_eq!(ident[1].0, "py/mailer.py", "{ident:?}");
    // A qualified name that only the Python function's name matches.
    let named = ask(&s, "mailer.send", &[]);
    assert_eq!(
        named[0],
        ("py/mailer.py".to_string(), Some("send".to_string())),
        "{named:?}"
    );
    // Filters apply to lifted chunks.
    let py = ask(&s, "HttpClient::send", &["python"]);
    assert_eq!(py[0].0, "py/mailer.py", "{py:?}");
    assert!(py.iter().all(|r| r.0.ends_with(".py")), "{py:?}");
    // A deleted file's symbol is not lifted; a new one in the log is.
    drop(s);
    std::fs::remove_file(tree.join("net/client.rs")).unwrap();
    std::fs::write(
        tree.join("net/h2.rs"),
        "pub struct Http2 {}\n\nimpl HttpClient {\n    pub fn send(&self) {\n        todo!()\n    }\n}\n",
    )
    .unwrap();
    let mut s = open(&idx);
    leann::ingest::update::update_from_tree(&mut s, st.as_ref(), None).unwrap();
    let after = ask(&s, "HttpClient::send", &[]);
    assert_eq!(after[0].0, "net/h2.rs", "{after:?}");
    assert!(after.iter().all(|r| r.0 != "net/client.rs"), "{after:?}");
}

/// Issue 15 §3, prose hubs: a guide whose sections all talk about the
/// question does not crowd the code out of the default ranking (at most one
/// prose chunk in five results, and the function is there), while the
/// uncapped semantic-only ranking shows several guide sections; a question
/// about the guide itself still finds the guide first.
#[test]
fn prose_hubs_do_not_crowd_out_code() {
    let (d, _) = setup();
    let tree = d.path().join("tree");
    let mut guide = String::new();
    for s in 0..6 {
        guide.push_str(&format!("## Distances, part {s}\n\n"));
        for l in 0..36 {
            guide.push_str(&format!(
                "How far apart are places on the globe? Measure the distance between two places on Earth (note {s}.{l}).\n"
            ));
        }
        guide.push('\n');
    }
    std::fs::write(tree.join("GUIDE.md"), &guide).unwrap();
    std::fs::write(tree.join("notes.txt"), &guide).unwrap();
    let idx = d.path().join("idx-prose");
    build(&tree, &idx);
    let s = open(&idx);
    let q = "how far apart are places on the globe";
    let is_prose = |p: &str| p.ends_with(".md") || p.ends_with(".txt");
    let sem = query(&s, q, 1.0, &[]);
    assert!(
        sem.iter().filter(|(p, _)| is_prose(p)).count() >= 2,
        "the guide should crowd the uncapped ranking: {sem:?}"
    );
    for ratio in [None, Some(0.0)] {
        let got = query_with(&s, q, ratio, &[]);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(
            got.iter().filter(|(p, _)| is_prose(p)).count() <= 1,
            "ratio {ratio:?}: {got:?}"
        );
        assert!(
            got.iter().any(|(p, _)| p == "src/geo.rs"),
            "ratio {ratio:?}: {got:?}"
        );
    }
    let doc = query_with(&s, "distances part note", None, &[]);
    assert!(is_prose(&doc[0].0), "{doc:?}");
}
