//! `leann eval`: score an index on a relevance file (recall@1/5/10, MRR@10,
//! query latency).

use super::query::RankingArgs;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EvalCmd {
    /// Index directory (from `leann index create`).
    #[arg(long)]
    index: PathBuf,
    /// Relevance file: JSON lines {"id", "query", "repo", "path",
    /// "start_line", "end_line"} (the format of dev-relevance/relevance.jsonl).
    #[arg(long)]
    relevance: PathBuf,
    #[command(flatten)]
    ranking: RankingArgs,
    /// Also write each question's results as JSON lines {"id", "results"}
    /// (the input of score_relevance.py) to this file.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// For tuning the fusion: write, per question, its relevance entry and
    /// both sides' candidates (`sem`, `lex`: [score, path, start_line,
    /// end_line] best first) as JSON lines to this file.
    #[arg(long, hide = true)]
    dump_sides: Option<PathBuf>,
}

pub fn run(c: EvalCmd) -> leann::Result<i32> {
    let st = super::storage("auto")?;
    let (searcher, opts) = c.ranking.open(&st, &c.index)?;
    let questions = leann::search::eval::load(st.as_ref(), &c.relevance)?;
    if let Some(p) = &c.dump_sides {
        let mut out = String::new();
        let mut ctx = leann::engine::index::QueryContext::default();
        let row = |r: &leann::search::searcher::QueryResult| {
            serde_json::json!([r.score, r.path, r.start_line, r.end_line])
        };
        for q in &questions {
            let o = leann::search::searcher::QueryOptions {
                k: leann::search::eval::EVAL_K,
                ..opts.clone()
            };
            let (sem, lex) = searcher.sides(&q.query, &o, &mut ctx)?;
            out.push_str(
                &serde_json::json!({
                    "id": q.id, "query": q.query, "repo": q.repo, "path": q.path,
                    "start_line": q.start_line, "end_line": q.end_line,
                    "sem": sem.iter().map(row).collect::<Vec<_>>(),
                    "lex": lex.iter().map(row).collect::<Vec<_>>(),
                })
                .to_string(),
            );
            out.push('\n');
        }
        st.write_atomic(p, out.as_bytes())?;
    }
    let tty = std::io::stderr().is_terminal();
    let (rep, results) = leann::search::eval::run(&searcher, &questions, &opts, &|done, total| {
        if tty && (done % 10 == 0 || done == total) {
            eprint!("\r{done}/{total} questions");
            if done == total {
                eprintln!();
            }
        }
    })?;
    if let Some(p) = &c.results {
        let mut out = String::new();
        for (q, r) in questions.iter().zip(&results) {
            out.push_str(&serde_json::json!({"id": q.id, "results": r}).to_string());
            out.push('\n');
        }
        st.write_atomic(p, out.as_bytes())?;
    }
    if c.json {
        println!(
            "{}",
            serde_json::to_string(&rep).map_err(|e| leann::Error::internal(e.to_string()))?
        );
    } else {
        println!("queries {}", rep.queries);
        println!(
            "recall@1 {:.3} recall@5 {:.3} MRR@10 {:.3}",
            rep.recall_at_1, rep.recall_at_5, rep.mrr_at_10
        );
        println!("recall@10 {:.3}", rep.recall_at_10);
        println!(
            "latency p50 {:.2} ms, p90 {:.2} ms, mean {:.2} ms",
            rep.p50_ms, rep.p90_ms, rep.mean_ms
        );
    }
    Ok(0)
}
