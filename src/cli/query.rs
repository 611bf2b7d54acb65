//! `leann query`: text or JSON results in the manner of ripgrep; exit code 0
//! with results, 1 with none, 2 on error.

use leann::engine::index::QueryContext;
use leann::search::response;
use leann::search::searcher::{Mode, QueryOptions, QueryResult, Searcher};
use serde::Deserialize;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct QueryCmd {
    /// Index directory (from `leann index create`).
    #[arg(long)]
    index: PathBuf,
    /// What to look for, in words.
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    query: Option<String>,
    /// A file of JSON lines {"id": ..., "query": ..., "top_k"?: n,
    /// "filters"?: {"languages": [...], "paths": [...]}}; `-` reads stdin.
    /// Writes one JSON line per query: {"id": ..., "items": [...], "latency": ms}.
    #[arg(long)]
    batch: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Only chunks in this language (repeatable).
    #[arg(long = "lang")]
    langs: Vec<String>,
    /// Only chunks whose path matches this glob (repeatable); a plain
    /// directory name matches everything below it.
    #[arg(long = "path")]
    paths: Vec<String>,
    #[command(flatten)]
    ranking: RankingArgs,
    /// Run the query N times and report latency on stderr.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

/// How results are ranked, and where the tree is (shared by `query` and
/// `eval`).
#[derive(clap::Args)]
pub(super) struct RankingArgs {
    #[arg(long, value_enum, default_value = "retrieve")]
    pub(super) mode: ModeArg,
    /// Sentence-transformers model directory for --mode rerank (default: the
    /// index config's search.rerankModel).
    #[arg(long)]
    pub(super) rerank_model: Option<PathBuf>,
    /// Cross-encoder directory (BertForSequenceClassification, one label)
    /// that --mode rerank also rescores with (default: the index config's
    /// search.crossEncoder, if any).
    #[arg(long)]
    pub(super) cross_encoder: Option<PathBuf>,
    /// Candidates rescored in rerank mode [default: 20].
    #[arg(long)]
    pub(super) rerank_candidates: Option<usize>,
    /// Share of semantic ranking in the fusion with lexical (BM25) ranking:
    /// 0 = lexical only, 1 = semantic only.
    #[arg(long)]
    pub(super) semantic_ratio: Option<f32>,
    /// Where the indexed tree is now, if it moved.
    #[arg(long)]
    pub(super) root: Option<PathBuf>,
}

impl RankingArgs {
    /// Open the index at `index` for text queries ranked as asked, and the
    /// query options that say so.
    pub(super) fn open(
        &self,
        st: &std::sync::Arc<dyn leann::io::Storage>,
        index: &std::path::Path,
    ) -> leann::Result<(Searcher, QueryOptions)> {
        let (searcher, mode) = open_searcher(st, index, self)?;
        let o = QueryOptions {
            mode,
            rerank_candidates: self.rerank_candidates,
            semantic_ratio: self.semantic_ratio,
            ..Default::default()
        };
        Ok((searcher, o))
    }
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum ModeArg {
    Retrieve,
    Rerank,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    id: serde_json::Value,
    query: String,
    #[serde(default)]
    top_k: Option<usize>,
    #[serde(default)]
    filters: Option<BatchFilters>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BatchFilters {
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// Open the index at `index` for text queries ranked as `r` asks (loading
/// the rerank models for `--mode rerank`: flags first, then the index's
/// config).
fn open_searcher(
    st: &std::sync::Arc<dyn leann::io::Storage>,
    index: &std::path::Path,
    r: &RankingArgs,
) -> leann::Result<(Searcher, Mode)> {
    let mut searcher = Searcher::open(st.clone(), index, r.root.as_deref(), None)?;
    let mode = match r.mode {
        ModeArg::Retrieve => Mode::Retrieve,
        ModeArg::Rerank => Mode::Rerank,
    };
    if mode == Mode::Rerank {
        let cfg = &searcher.index.config.search;
        let dir = r
            .rerank_model
            .clone()
            .or_else(|| cfg.rerank_model.as_ref().map(PathBuf::from))
            .ok_or_else(|| {
                leann::Error::argument("--rerank-model", format!(
                    "--mode rerank needs a transformer: pass --rerank-model DIR (a sentence-transformers model directory), or set search.rerankModel in the config of `leann index create` ({} has none)",
                    index.display()
                ))
            })?;
        let cross = r
            .cross_encoder
            .clone()
            .or_else(|| cfg.cross_encoder.as_ref().map(PathBuf::from));
        searcher.set_reranker(leann::search::rerank::Reranker::load(
            st.as_ref(),
            &dir,
            cross.as_deref(),
        )?);
    }
    Ok((searcher, mode))
}

pub fn run(c: QueryCmd) -> leann::Result<i32> {
    let st = super::storage("auto")?;
    let (searcher, base) = c.ranking.open(&st, &c.index)?;
    let languages = leann::lang::Language::parse_names(&c.langs, "--lang")?;
    let opts = QueryOptions {
        k: c.top_k,
        languages,
        paths: c.paths.clone(),
        ..base
    };
    let mut ctx = QueryContext::default();
    if let Some(batch) = &c.batch {
        return run_batch(&searcher, batch, &opts, &mut ctx);
    }
    // clap guarantees --query without --batch.
    let q = c.query.clone().unwrap_or_default();
    let mut results = Vec::new();
    let mut times = Vec::with_capacity(c.repeat.max(1));
    let mut latency = std::time::Duration::ZERO;
    for _ in 0..c.repeat.max(1) {
        let t = std::time::Instant::now();
        results = searcher.query(&q, &opts, &mut ctx)?;
        latency = t.elapsed();
        times.push(latency.as_secs_f64() * 1e3);
    }
    if c.repeat > 1 {
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "{} runs: p50 {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms",
            times.len(),
            pct(0.5),
            pct(0.9),
            times[0],
            times[times.len() - 1]
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let w = |e: std::io::Error| leann::Error::io("write results", "<stdout>", e);
    match c.format {
        Format::Json => {
            let v = serde_json::json!({
                "query": q,
                "items": response::items(&results),
                "latency": response::millis(latency),
            });
            writeln!(out, "{v}").map_err(w)?;
        }
        Format::Text => {
            let color = match c.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            // NO_COLOR wins over everything but an explicit --color always.
            print_text(&mut out, &results, color).map_err(w)?;
        }
    }
    out.flush().map_err(w)?;
    if std::env::var_os("LEANN_RSS_REPORT").is_some() {
        rss_report();
    }
    Ok(if results.is_empty() { 1 } else { 0 })
}

fn print_text(out: &mut impl Write, results: &[QueryResult], color: bool) -> std::io::Result<()> {
    let (path_c, line_c, sym_c, dim_c, reset) = if color {
        ("\x1b[35m", "\x1b[32m", "\x1b[33m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write!(
            out,
            "{path_c}{}{reset}:{line_c}{}-{}{reset}  {dim_c}{:.3}  {}{reset}",
            escape_text(&r.path, false),
            r.start_line,
            r.end_line,
            r.score,
            r.language
        )?;
        if let Some(s) = &r.symbol {
            write!(out, "  {sym_c}{}{reset}", escape_text(s, false))?;
        }
        if r.stale {
            write!(out, "  [stale: the file changed since indexing]")?;
        }
        writeln!(out)?;
        for (j, line) in r.preview.lines().enumerate() {
            writeln!(
                out,
                "{line_c}{}{reset}: {}",
                r.start_line as usize + j,
                escape_text(line, true)
            )?;
        }
    }
    Ok(())
}

/// Text from an index or a source file, made safe for a terminal: control
/// characters (terminal escapes among them) and bidirectional overrides are
/// shown escaped (`\x1b`, `\u{202e}`); tabs are kept in code when `tabs`.
pub(super) fn escape_text(s: &str, tabs: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(tabs && c == '\t'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
}

fn run_batch(
    searcher: &Searcher,
    file: &std::path::Path,
    base: &QueryOptions,
    ctx: &mut QueryContext,
) -> leann::Result<i32> {
    let mut reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).map_err(|e| leann::Error::io("open", file, e))?;
        Box::new(std::io::BufReader::new(f))
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let w = |e: std::io::Error| leann::Error::io("write results", "<stdout>", e);
    let (mut any, mut errors) = (false, 0usize);
    let mut raw = Vec::new();
    for lineno in 1.. {
        let Some(got) =
            read_line(&mut reader, &mut raw).map_err(|e| leann::Error::io("read", file, e))?
        else {
            break;
        };
        // One bad line (not UTF-8, too long, bad JSON or field) gets its own
        // error object; the lines after it are still answered.
        let line = match got {
            Line::TooLong => Err(format!("line longer than {MAX_BATCH_LINE_BYTES} bytes")),
            Line::Bytes => std::str::from_utf8(&raw)
                .map(str::to_string)
                .map_err(|e| format!("line is not UTF-8 ({e})")),
        };
        let line = match line {
            Ok(l) => l,
            Err(why) => {
                errors += 1;
                let e = leann::Error::input(file, format!("{}:{lineno}: {why}", file.display()));
                eprintln!("leann: error: {e}");
                let v = serde_json::json!({"id": null, "line": lineno, "error": e.to_string()});
                writeln!(out, "{v}").map_err(w)?;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let t = std::time::Instant::now();
        let answer = (|| -> leann::Result<(serde_json::Value, Vec<QueryResult>)> {
            let b: BatchLine = serde_json::from_str(&line).map_err(|e| {
                leann::Error::input(file, format!("{}:{lineno}: {e}", file.display()))
            })?;
            let mut o = base.clone();
            if let Some(k) = b.top_k {
                o.k = k;
            }
            if let Some(f) = b.filters {
                o.languages =
                    leann::lang::Language::parse_names(&f.languages, "filters.languages")?;
                o.paths = f.paths;
            }
            let r = searcher.query(&b.query, &o, ctx)?;
            Ok((b.id, r))
        })();
        let v = match answer {
            Ok((id, results)) => {
                any |= !results.is_empty();
                serde_json::json!({
                    "id": id,
                    "items": response::items(&results),
                    "latency": response::millis(t.elapsed()),
                })
            }
            Err(e) => {
                errors += 1;
                let id = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(serde_json::Value::Null);
                eprintln!("leann: error: {e}");
                serde_json::json!({"id": id, "line": lineno, "error": e.to_string()})
            }
        };
        writeln!(out, "{v}").map_err(w)?;
    }
    out.flush().map_err(w)?;
    Ok(if errors > 0 {
        2
    } else if any {
        0
    } else {
        1
    })
}

/// Longest line of a `--batch` file, bytes.
const MAX_BATCH_LINE_BYTES: u64 = 1 << 20;

/// What `read_line` read into its buffer.
enum Line {
    Bytes,
    /// Longer than MAX_BATCH_LINE_BYTES: skipped to its end, not kept.
    TooLong,
}

/// Read one line (without its newline) into `buf`; None at the end.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
    use std::io::Read;
    buf.clear();
    let n = r.take(MAX_BATCH_LINE_BYTES + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(Line::Bytes));
    }
    if (buf.len() as u64) <= MAX_BATCH_LINE_BYTES {
        // The last line, without a newline.
        return Ok(Some(Line::Bytes));
    }
    // Skip the rest of the over-long line.
    loop {
        buf.clear();
        let n = r.take(64 * 1024).read_until(b'\n', buf)?;
        if n == 0 || buf.last() == Some(&b'\n') {
            break;
        }
    }
    buf.clear();
    Ok(Some(Line::TooLong))
}

/// Diagnostics (`LEANN_RSS_REPORT=1`): the resident set by mapping, largest
/// first, on stderr after a query, the index still open; how the scale figures in README.md were split.
fn rss_report() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut rows: Vec<(u64, String)> = Vec::new();
    let mut name = String::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let kb = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            rows.push((kb, name.clone()));
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|w| w.contains('-'))
        {
            name = line
                .split_whitespace()
                .nth(5)
                .unwrap_or("[anon]")
                .to_string();
        }
    }
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    for (kb, n) in rows {
        *by.entry(n).or_default() += kb;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|r| std::cmp::Reverse(r.1));
    let total: u64 = v.iter().map(|r| r.1).sum();
    eprintln!("rss {total} kB");
    for (n, kb) in v.iter().take(12) {
        eprintln!("{kb:>9} kB {n}");
    }
}
