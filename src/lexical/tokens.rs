//! Code-aware tokens for the lexical index: identifiers (runs of letters,
//! digits and `_`) in lower case, each kept whole and, when it has several
//! parts (snake_case, camelCase, HTTPServer, digits), also split into them.
//! Tokens shorter than `MIN_TOKEN_CHARS` are dropped.

pub const MIN_TOKEN_CHARS: usize = 2;
/// Longer tokens are cut (keeps a minified line from making a huge term).
pub const MAX_TOKEN_CHARS: usize = 64;

/// The tokens a chunk is indexed by: its path, its language's name, its
/// symbol, its text.
pub fn chunk_tokens(
    path: &str,
    language: crate::lang::Language,
    symbol: Option<&str>,
    text: &str,
) -> Vec<String> {
    let mut t = Vec::new();
    tokens(path, &mut t);
    tokens(language.name(), &mut t);
    if let Some(s) = symbol {
        tokens(s, &mut t);
    }
    tokens(text, &mut t);
    t
}

/// Append the tokens of `text` to `out`.
pub fn tokens(text: &str, out: &mut Vec<String>) {
    for ident in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if ident.is_empty() {
            continue;
        }
        let parts = split_ident(ident);
        if parts.len() > 1 {
            push(out, ident);
        }
        for p in parts {
            push(out, p);
        }
    }
}

fn push(out: &mut Vec<String>, t: &str) {
    if t.chars().count() < MIN_TOKEN_CHARS {
        return;
    }
    let mut s: String = t.chars().take(MAX_TOKEN_CHARS).collect();
    s.make_ascii_lowercase();
    if !s.is_ascii() {
        s = s.to_lowercase();
    }
    out.push(s);
}

/// The parts of an identifier: split at `_`, at lower→upper changes, before
/// the last capital of a run of capitals followed by a lower-case letter
/// (`HTTPServer` → `HTTP`, `Server`), and between letters and digits.
pub fn split_ident(ident: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for word in ident.split('_').filter(|w| !w.is_empty()) {
        let cs: Vec<(usize, char)> = word.char_indices().collect();
        let mut start = 0usize;
        for i in 1..cs.len() {
            let (prev, cur) = (cs[i - 1].1, cs[i].1);
            let next = cs.get(i + 1).map(|x| x.1);
            let boundary = (prev.is_lowercase() && cur.is_uppercase())
                || (prev.is_uppercase()
                    && cur.is_uppercase()
                    && next.is_some_and(|n| n.is_lowercase()))
                || (prev.is_alphabetic() && cur.is_ascii_digit())
                || (prev.is_ascii_digit() && cur.is_alphabetic());
            if boundary {
                out.push(&word[start..cs[i].0]);
                start = cs[i].0;
            }
        }
        out.push(&word[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_and_kept_whole() {
        assert_eq!(split_ident("parse_config"), vec!["parse", "config"]);
        assert_eq!(split_ident("HTTPServer"), vec!["HTTP", "Server"]);
        assert_eq!(split_ident("hexToRgb"), vec!["hex", "To", "Rgb"]);
        assert_eq!(split_ident("utf8Decode"), vec!["utf", "8", "Decode"]);
        assert_eq!(split_ident("__init__"), vec!["init"]);
        let mut t = Vec::new();
        tokens("HttpClient::send(x) app.route", &mut t);
        assert_eq!(
            t,
            vec!["httpclient", "http", "client", "send", "app", "route"]
        );
    }
}
