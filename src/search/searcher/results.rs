//! `Searcher`: what a query may ask (`check_request`, limits) and how a result is shown (preview).

use super::*;
use crate::error::{Error, Result};

/// Most results one query may ask for (`--top-k`, a batch line's `top_k`,
/// `--rerank-candidates`): beyond it a request is refused, not allocated.
pub const MAX_TOP_K: usize = 10_000;

/// Longest query text, bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Refuse requests that cannot be answered sensibly: no results asked for,
/// more than `MAX_TOP_K`, and queries with no letter or digit in them
/// (empty, blank or punctuation only: any answer would be arbitrary).
pub fn check_request(query: &str, o: &QueryOptions) -> Result<()> {
    if o.k == 0 || o.k > MAX_TOP_K {
        return Err(Error::argument(
            "--top-k",
            format!("--top-k {} is outside 1..={MAX_TOP_K}", o.k),
        ));
    }
    if let Some(n) = o.rerank_candidates {
        if n == 0 || n > MAX_TOP_K {
            return Err(Error::argument(
                "--rerank-candidates",
                format!("--rerank-candidates {n} is outside 1..={MAX_TOP_K}"),
            ));
        }
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::argument(
            "query",
            format!(
                "the query is {} bytes long; at most {MAX_QUERY_BYTES} are accepted",
                query.len()
            ),
        ));
    }
    if !query.chars().any(char::is_alphanumeric) {
        return Err(Error::argument(
            "query",
            format!("the query {query:?} has no words to search for (no letter or digit)"),
        ));
    }
    Ok(())
}

pub(super) fn preview(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if out.len() == PREVIEW_LINES {
            break;
        }
        let l = line.trim_end();
        let cut = match l.char_indices().nth(PREVIEW_LINE_CHARS) {
            Some((i, _)) => &l[..i],
            None => l,
        };
        out.push(cut.to_string());
    }
    out.join("\n")
}

/// Preview lines per result.
pub const PREVIEW_LINES: usize = 4;

/// Characters kept of a preview line.
pub const PREVIEW_LINE_CHARS: usize = 200;
