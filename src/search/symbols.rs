//! Symbol-aware ranking: a query that looks like an identifier
//! (`HttpClient::send`, `parse_config`, `app.route`, `` `Flask` ``) lifts the
//! chunks whose recorded symbol it names to the top of the results.
//!
//! A symbol and a query are compared as paths of components (split at `::`,
//! `.`, `#`, `->` and `/`, case-insensitive): a chunk symbol whose components
//! end with all of the query's is a qualified match (`MATCH_QUALIFIED`); one
//! that ends with all but the query's last names the member's container
//! (`MATCH_CONTAINER`: a class or impl small enough to be one chunk records
//! only its own name, its members inside); one whose last component is the
//! query's last is a name match (`MATCH_NAME`). A chunk's symbol field lists
//! several symbols when small definitions were merged (`a, b, c`); any of
//! them may match.

/// The query's components name a symbol's trailing components.
pub const MATCH_QUALIFIED: u8 = 3;
/// The query's components but the last name the symbol (`A::b` and `A`).
pub const MATCH_CONTAINER: u8 = 2;
/// The query's last component is the symbol's name.
pub const MATCH_NAME: u8 = 1;

/// The components of a query that looks like an identifier, or `None` for
/// a query in words. It looks like one when it is a single word made of
/// identifier characters and separators that is either wrapped in
/// backticks, or qualified (`::`, `.`, `#`, `->`), or has `_`, or mixes
/// case inside the word (camelCase, PascalCase with two capitals); a
/// trailing `()` is ignored.
pub fn identifier_query(query: &str) -> Option<Vec<String>> {
    let q = query.trim();
    let (q, ticked) = match q.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        Some(inner) => (inner.trim(), true),
        None => (q, false),
    };
    let q = q.strip_suffix("()").unwrap_or(q);
    if q.is_empty() || q.chars().any(char::is_whitespace) {
        return None;
    }
    let parts = components(q);
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| !p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        || !parts.iter().any(|p| p.chars().any(char::is_alphabetic))
    {
        return None;
    }
    let qualified = parts.len() > 1;
    let snake = q.contains('_');
    let mixed = q.chars().skip(1).any(char::is_uppercase) && q.chars().any(char::is_lowercase);
    (ticked || qualified || snake || mixed)
        .then(|| parts.iter().map(|p| p.to_lowercase()).collect())
}

/// A path's components: split at `::`, `.`, `#`, `->` and `/`, empty
/// parts dropped.
/// (The split the symbol index of `seg-S.chunks` keys its names by.)
pub fn components(s: &str) -> Vec<&str> {
    crate::format::chunks::symbol_components(s)
}

/// Whether `parts` ends with `query` (case-insensitive; `query` is lower
/// case and not empty).
fn ends_with(parts: &[&str], query: &[String]) -> bool {
    !query.is_empty()
        && parts.len() >= query.len()
        && parts[parts.len() - query.len()..]
            .iter()
            .zip(query)
            .all(|(p, q)| p.to_lowercase() == *q)
}

/// How well a chunk's symbol field (`a`, `A::b`, `a, b, ...`) matches query
/// components from `identifier_query` (lower case): MATCH_QUALIFIED,
/// MATCH_CONTAINER, MATCH_NAME or 0.
pub fn symbol_match(query: &[String], symbol: &str) -> u8 {
    let Some((last, qualifier)) = query.split_last() else {
        return 0;
    };
    let mut best = 0;
    for one in symbol.split(", ") {
        let parts = components(one);
        let level = if ends_with(&parts, query) {
            MATCH_QUALIFIED
        } else if ends_with(&parts, qualifier) {
            MATCH_CONTAINER
        } else if parts.last().is_some_and(|n| n.to_lowercase() == *last) {
            MATCH_NAME
        } else {
            0
        };
        best = best.max(level);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Option<Vec<String>> {
        identifier_query(s)
    }

    #[test]
    fn identifier_queries_are_told_from_words() {
        assert_eq!(
            q("HttpClient::send"),
            Some(vec!["httpclient".into(), "send".into()])
        );
        assert_eq!(q("parse_config"), Some(vec!["parse_config".into()]));
        assert_eq!(q("app.route"), Some(vec!["app".into(), "route".into()]));
        assert_eq!(q("  parseConfig() "), Some(vec!["parseconfig".into()]));
        assert_eq!(q("`Flask`"), Some(vec!["flask".into()]));
        assert_eq!(q("HTTPServer"), Some(vec!["httpserver".into()]));
        assert_eq!(q("where is the JWT middleware"), None);
        assert_eq!(q("Flask"), None);
        assert_eq!(q("route"), None);
        assert_eq!(q("a + b"), None);
        assert_eq!(q("3.14"), None);
        assert_eq!(q(""), None);
    }

    #[test]
    fn symbols_match_qualified_before_by_name() {
        let hc = q("HttpClient::send").unwrap();
        assert_eq!(symbol_match(&hc, "HttpClient::send"), MATCH_QUALIFIED);
        assert_eq!(symbol_match(&hc, "net::HttpClient::send"), MATCH_QUALIFIED);
        assert_eq!(symbol_match(&hc, "Socket::send"), MATCH_NAME);
        assert_eq!(symbol_match(&hc, "HttpClient::sender"), 0);
        assert_eq!(
            symbol_match(&hc, "connect, Socket::send, close"),
            MATCH_NAME
        );
        assert_eq!(
            symbol_match(&hc, "Socket::send, HttpClient::send"),
            MATCH_QUALIFIED
        );
        let route = q("app.route").unwrap();
        assert_eq!(symbol_match(&route, "Scaffold.route"), MATCH_NAME);
        assert_eq!(symbol_match(&route, "route"), MATCH_NAME);
        assert_eq!(
            symbol_match(&q("parse_config").unwrap(), "parse_config"),
            MATCH_QUALIFIED
        );
        assert_eq!(
            symbol_match(&q("Parse_Config").unwrap(), "parse_config"),
            MATCH_QUALIFIED
        );
        assert_eq!(symbol_match(&route, ""), 0);
    }
}
