//! Relevance on a small fixture repository written for this test
//! (tests/fixtures/relevance_repo): queries that describe a function's purpose
//! in words that do not appear in its code find it in the top 3, through the
//! whole pipeline (index create with the built-in model, query with exact
//! recompute). Issue 3, "Targets".

mod common;

use leann::config::Config;
use leann::embed::static_model::StaticModel;
use leann::embed::EmbedderSpec;
use leann::engine::index::QueryContext;
use leann::search::searcher::{QueryOptions, Searcher};
use std::path::Path;

/// (query, file, a word of the target's symbol)
const CASES: [(&str, &str, &str); 10] = [
    (
        "how far apart are places on the globe",
        "src/geo.rs",
        "haversine",
    ),
    (
        "tally occurrences of terms in a passage",
        "src/text.rs",
        "word_frequencies",
    ),
    (
        "largest factor shared by two integers",
        "src/math.rs",
        "gcd",
    ),
    (
        "fingerprint the bytes of a document",
        "lib/files.py",
        "sha256_of_file",
    ),
    ("prune vacant folders", "lib/files.py", "remove_empty_dirs"),
    (
        "deliver a letter to a recipient",
        "lib/mail.py",
        "send_email",
    ),
    (
        "postpone a callback until input goes quiet",
        "web/debounce.js",
        "debounce",
    ),
    (
        "turn a colour code into red green blue parts",
        "web/color.js",
        "hexToRgb",
    ),
    (
        "arrange numbers ascending by exchanging adjacent items",
        "lib/sort.go",
        "BubbleSort",
    ),
    (
        "does a phrase mirror itself",
        "src/text.rs",
        "is_palindrome",
    ),
];

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 4)
        .map(|w| w.to_lowercase())
        .collect()
}

/// Cases the built-in model misses today, kept here, ignored, to be switched
/// on again: `cargo test --test relevance -- --ignored`. The first was missed
/// by the first built-in model (found by writing the cases above, before any
/// tuning). The second was in CASES until the built-in model trained on
/// docstring/code pairs (models/builtin/README.md): that model ranks the
/// fixture's README (three lines of prose) first for it and
/// src/text.rs below the top 3, a regression against the first model on
/// this one hand-written case while dev-relevance recall@10 went from 0.280
/// to 0.605 (semantic only); the third built-in model (v3) ranks it first
/// again, and it is back in CASES.
const KNOWN_MISSES: [(&str, &str, &str); 1] = [(
    "the sequence where each term adds the previous two",
    "src/math.rs",
    "fibonacci",
)];

#[test]
fn described_functions_rank_in_the_top_3() {
    check(&CASES);
}

#[test]
#[ignore]
fn known_misses_rank_in_the_top_3() {
    check(&KNOWN_MISSES);
}

fn check(cases: &[(&str, &str, &str)]) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance_repo");
    let d = common::tempdir();
    let idx = d.path().join("idx");
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let emb = StaticModel::builtin().unwrap();
    leann::ingest::tree::create_from_tree(
        st.as_ref(),
        &repo,
        &idx,
        &Config::default(),
        &emb,
        EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
    let s = Searcher::open(st.clone(), &idx, None, None).unwrap();
    let mut ctx = QueryContext::default();
    let o = QueryOptions {
        k: 3,
        ..Default::default()
    };
    let mut misses = Vec::new();
    for &(q, file, sym) in cases {
        // The test's own premise: no query word of 4+ letters is in the file.
        let code = std::fs::read_to_string(repo.join(file)).unwrap();
        let code_words = tokens(&code);
        for w in tokens(q) {
            assert!(!code_words.contains(&w), "`{w}` of `{q}` appears in {file}");
        }
        let res = s.query(q, &o, &mut ctx).unwrap();
        let hit = res
            .iter()
            .position(|r| r.path == file && r.symbol.as_deref().is_some_and(|x| x.contains(sym)));
        eprintln!(
            "{q:?} -> {:?} (target {file} {sym}: rank {:?})",
            res.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            hit.map(|h| h + 1)
        );
        if hit.is_none() {
            misses.push(q);
        }
    }
    assert!(misses.is_empty(), "not in the top 3: {misses:?}");
}

/// `leann eval` (issue 5, item 5) on the cases above written as a relevance
/// file (the target is the line that names the symbol), plus one question
/// whose answer is not in the tree: every case is in the top 3 (the test
/// above), so recall@5 = recall@10 = n/(n+1) for the n cases; recall@1 and MRR@10 agree with
/// the ranks the results file holds.
#[test]
fn eval_scores_a_relevance_file() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance_repo");
    let d = common::tempdir();
    let idx = d.path().join("idx");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "index",
        "create",
        "--input",
        repo.to_str().unwrap(),
        "--output",
        idx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let mut rel = String::new();
    for (i, &(q, file, sym)) in CASES.iter().enumerate() {
        let line = target_line(&repo, file, sym);
        rel += &serde_json::json!({"id": i, "query": q, "repo": "relevance_repo",
            "path": file, "start_line": line, "end_line": line})
        .to_string();
        rel.push('\n');
    }
    rel += &serde_json::json!({"id": 99, "query": "parse a yaml document",
        "repo": "relevance_repo", "path": "src/yaml.rs", "start_line": 1, "end_line": 9})
    .to_string();
    let rel_path = d.path().join("rel.jsonl");
    std::fs::write(&rel_path, rel).unwrap();
    let res_path = d.path().join("res.jsonl");
    let out = run(&[
        "eval",
        "--index",
        idx.to_str().unwrap(),
        "--relevance",
        rel_path.to_str().unwrap(),
        "--results",
        res_path.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = CASES.len() as f64;
    assert_eq!(rep["queries"], CASES.len() + 1);
    let close = |k: &str, v: f64| {
        let got = rep[k].as_f64().unwrap();
        assert!((got - v).abs() < 1e-9, "{k}: {got}, expected {v}");
    };
    // Every case is in the top 3 (the test above); the yaml question has no
    // answer in the tree.
    close("recall_at_5", n / (n + 1.0));
    close("recall_at_10", n / (n + 1.0));
    // Ranks from the results file, by the same definition.
    let mut ranks = Vec::new();
    for line in std::fs::read_to_string(&res_path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_u64().unwrap() as usize;
        let rank = (id < CASES.len())
            .then(|| {
                let (_, file, sym) = CASES[id];
                let line = target_line(&repo, file, sym) as u64;
                v["results"].as_array().unwrap().iter().position(|r| {
                    r["path"] == file
                        && r["start_line"].as_u64().unwrap() <= line
                        && r["end_line"].as_u64().unwrap() >= line
                })
            })
            .flatten();
        ranks.push(rank.map(|r| r + 1));
    }
    assert_eq!(ranks.len(), CASES.len() + 1);
    close(
        "recall_at_1",
        ranks.iter().filter(|r| **r == Some(1)).count() as f64 / (n + 1.0),
    );
    close(
        "mrr_at_10",
        ranks.iter().flatten().map(|&r| 1.0 / r as f64).sum::<f64>() / (n + 1.0),
    );
    assert!(rep["p50_ms"].as_f64().unwrap() > 0.0);

    // A line that is not a question is an error naming the file and line.
    std::fs::write(&rel_path, "{\"id\": 1, \"query\": \"x\"}\n").unwrap();
    let out = run(&[
        "eval",
        "--index",
        idx.to_str().unwrap(),
        "--relevance",
        rel_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rel.jsonl:1"), "{err}");
}

/// The first line (1-based) of `file` that names `sym`: an eval target.
fn target_line(repo: &Path, file: &str, sym: &str) -> usize {
    let code = std::fs::read_to_string(repo.join(file)).unwrap();
    code.lines().position(|l| l.contains(sym)).unwrap() + 1
}
