//! The JSON shape of query results, shared by `leann query --format json`
//! and `--batch`, `leann eval --results` and `leann serve`'s `/search` and
//! `/batch` (README.md, "Results as JSON"): `{"items": [{"item": {"path",
//! "startLine", "endLine", "language", "symbol"}, "score", "preview",
//! "stale"}], "latency": ms}`, the brief's `results.items[].item.path`.

use crate::search::searcher::QueryResult;
use serde::Serialize;

/// Where a result is: the chunk's file, lines, language and symbol.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemJson<'a> {
    pub path: &'a str,
    pub start_line: u32,
    pub end_line: u32,
    pub language: &'a str,
    pub symbol: Option<&'a str>,
}

/// One result: the chunk, its score, its first lines, whether the file
/// changed since it was indexed.
#[derive(Serialize, Debug, PartialEq)]
pub struct ScoredJson<'a> {
    pub item: ItemJson<'a>,
    pub score: f32,
    pub preview: &'a str,
    pub stale: bool,
}

/// `results` in the shared shape, best first.
pub fn items(results: &[QueryResult]) -> Vec<ScoredJson<'_>> {
    results
        .iter()
        .map(|r| ScoredJson {
            item: ItemJson {
                path: &r.path,
                start_line: r.start_line,
                end_line: r.end_line,
                language: r.language,
                symbol: r.symbol.as_deref(),
            },
            score: r.score,
            preview: &r.preview,
            stale: r.stale,
        })
        .collect()
}

/// Milliseconds of `d`, to the microsecond (the `latency` field).
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_nest_the_chunk_under_item_in_camel_case() {
        let r = QueryResult {
            path: "src/auth/jwt.rs".into(),
            start_line: 12,
            end_line: 40,
            language: "rust",
            symbol: Some("verify_token".into()),
            score: 0.5,
            preview: "pub fn verify_token()".into(),
            stale: false,
            text: None,
        };
        let v = serde_json::to_value(items(std::slice::from_ref(&r))).unwrap();
        assert_eq!(v[0]["item"]["path"], "src/auth/jwt.rs");
        assert_eq!(v[0]["item"]["startLine"], 12);
        assert_eq!(v[0]["item"]["endLine"], 40);
        assert_eq!(v[0]["item"]["symbol"], "verify_token");
        assert_eq!(v[0]["score"], 0.5);
        assert_eq!(v[0]["stale"], false);
        assert!(v[0]["item"].get("start_line").is_none());
        assert_eq!(
            millis(std::time::Duration::from_micros(1_234_567)),
            1234.567
        );
    }
}
