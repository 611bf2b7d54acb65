//! `leann eval`: run the questions of a relevance file (the format of
//! `../shared/data/dev-relevance/relevance.jsonl`) against a tree index and
//! score them as that set's `score_relevance.py` does: a result is a hit when
//! it lies in the question's file and its line span overlaps the function;
//! recall@1/5/10 and MRR@10 over all questions; plus query latency.

use crate::engine::index::QueryContext;
use crate::error::{Error, Result};
use crate::io::Storage;
use crate::search::searcher::{QueryOptions, QueryResult, Searcher};
use serde::Deserialize;
use std::path::Path;
use std::time::Instant;

/// Results scored per question.
pub const EVAL_K: usize = 10;

/// One question of a relevance file.
#[derive(Clone, Debug, Deserialize)]
pub struct Question {
    pub id: serde_json::Value,
    pub query: String,
    /// The repository directory the path is relative to (`flask`, ...).
    pub repo: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
}

/// Read a relevance file: one JSON object per line (blank lines skipped).
/// A bad line is an error naming the file and the line.
pub fn load(storage: &dyn Storage, path: &Path) -> Result<Vec<Question>> {
    let bytes = storage.read_all(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::input(path, format!("{}: not UTF-8: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).map_err(|e| {
            Error::input(path, format!(
                "{}:{}: not a relevance question ({{\"id\", \"query\", \"repo\", \"path\", \"start_line\", \"end_line\"}}): {e}",
                path.display(),
                i + 1
            ))
        })?;
        out.push(q);
    }
    if out.is_empty() {
        return Err(Error::input(
            path,
            format!("{}: no questions in the file", path.display()),
        ));
    }
    Ok(out)
}

/// A result path relative to its repository, as `score_relevance.py`'s
/// `norm` makes it: `./` dropped, then the part after `tree/REPO/` or
/// `heldout-nodoc/REPO/`, or after a leading `REPO/`, or after `/REPO/`.
pub fn norm(path: &str, repo: &str) -> String {
    let mut p = path.replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    for prefix in [format!("tree/{repo}/"), format!("heldout-nodoc/{repo}/")] {
        if let Some(i) = p.find(&prefix) {
            return p[i + prefix.len()..].to_string();
        }
    }
    if let Some(rest) = p.strip_prefix(&format!("{repo}/")) {
        return rest.to_string();
    }
    match p.find(&format!("/{repo}/")) {
        Some(i) => p[i + repo.len() + 2..].to_string(),
        None => p,
    }
}

/// The 1-based rank of the first hit among the first `EVAL_K` results.
pub fn first_hit(q: &Question, results: &[QueryResult]) -> Option<usize> {
    results
        .iter()
        .take(EVAL_K)
        .position(|r| {
            norm(&r.path, &q.repo) == q.path
                && r.start_line <= q.end_line
                && r.end_line >= q.start_line
        })
        .map(|i| i + 1)
}

/// The scores of one run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct EvalReport {
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
    /// Query latency (embedding, search, exact rescoring; the index is open).
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
}

/// Scores from the first-hit rank of each question and per-query seconds.
pub fn score(ranks: &[Option<usize>], seconds: &[f64]) -> EvalReport {
    let n = ranks.len().max(1) as f64;
    let within = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
    let mut ms: Vec<f64> = seconds.iter().map(|s| s * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() - 1) as f64 * p).round() as usize]
        }
    };
    EvalReport {
        queries: ranks.len(),
        recall_at_1: within(1),
        recall_at_5: within(5),
        recall_at_10: within(EVAL_K),
        mrr_at_10: ranks.iter().flatten().map(|&r| 1.0 / r as f64).sum::<f64>() / n,
        p50_ms: pct(0.5),
        p90_ms: pct(0.9),
        mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
    }
}

/// Run every question through `s` with `opts` (k is set to `EVAL_K`), one
/// at a time; `each(done, total)` after each.
pub fn run(
    s: &Searcher,
    questions: &[Question],
    opts: &QueryOptions,
    each: &dyn Fn(usize, usize),
) -> Result<(EvalReport, Vec<Vec<QueryResult>>)> {
    let o = QueryOptions {
        k: EVAL_K,
        ..opts.clone()
    };
    let mut ctx = QueryContext::default();
    let mut ranks = Vec::with_capacity(questions.len());
    let mut seconds = Vec::with_capacity(questions.len());
    let mut all = Vec::with_capacity(questions.len());
    for (i, q) in questions.iter().enumerate() {
        let t = Instant::now();
        let res = s.query(&q.query, &o, &mut ctx)?;
        seconds.push(t.elapsed().as_secs_f64());
        ranks.push(first_hit(q, &res));
        all.push(res);
        each(i + 1, questions.len());
    }
    Ok((score(&ranks, &seconds), all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_matches_score_relevance() {
        assert_eq!(norm("flask/src/flask/app.py", "flask"), "src/flask/app.py");
        assert_eq!(
            norm("./tree/click/src/click/core.py", "click"),
            "src/click/core.py"
        );
        assert_eq!(
            norm("/data/heldout-nodoc/werkzeug/src/w.py", "werkzeug"),
            "src/w.py"
        );
        assert_eq!(norm("x/flask/a.py", "flask"), "a.py");
        // As score_relevance.py does: the part after `/flask/`.
        assert_eq!(norm("src/flask/app.py", "flask"), "app.py");
        assert_eq!(norm("src/other.py", "flask"), "src/other.py");
    }

    #[test]
    fn scores_follow_the_definitions() {
        let r = score(
            &[Some(1), Some(3), None, Some(10)],
            &[0.001, 0.002, 0.003, 0.004],
        );
        assert_eq!(r.recall_at_1, 0.25);
        assert_eq!(r.recall_at_5, 0.5);
        assert_eq!(r.recall_at_10, 0.75);
        assert!((r.mrr_at_10 - (1.0 + 1.0 / 3.0 + 0.1) / 4.0).abs() < 1e-12);
    }
}
