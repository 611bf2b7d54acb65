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
    each_chunk_token(path, language, symbol, text, |s| t.push(s.to_string()));
    t
}

/// [`chunk_tokens`] joined by single spaces (a lexical row's body), made
/// without a string per token.
pub fn chunk_body(
    path: &str,
    language: crate::lang::Language,
    symbol: Option<&str>,
    text: &str,
) -> String {
    let mut body = String::with_capacity(text.len() + path.len() + 16);
    each_chunk_token(path, language, symbol, text, |s| {
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(s);
    });
    body
}

fn each_chunk_token(
    path: &str,
    language: crate::lang::Language,
    symbol: Option<&str>,
    text: &str,
    mut f: impl FnMut(&str),
) {
    let mut sc = Scratch::default();
    sc.each(path, &mut f);
    sc.each(language.name(), &mut f);
    if let Some(s) = symbol {
        sc.each(s, &mut f);
    }
    sc.each(text, &mut f);
}

/// Append the tokens of `text` to `out`.
pub fn tokens(text: &str, out: &mut Vec<String>) {
    Scratch::default().each(text, &mut |s: &str| out.push(s.to_string()));
}

/// Buffers reused from token to token.
#[derive(Default)]
struct Scratch {
    chars: Vec<(usize, char)>,
    parts: Vec<(usize, usize)>,
    token: String,
}

impl Scratch {
    /// Call `f` with each token of `text`, in order.
    fn each(&mut self, text: &str, f: &mut impl FnMut(&str)) {
        for ident in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if ident.is_empty() {
                continue;
            }
            self.parts.clear();
            split_ranges(ident, &mut self.chars, &mut self.parts);
            if self.parts.len() > 1 {
                emit(ident, &mut self.token, f);
            }
            for &(a, b) in &self.parts {
                emit(&ident[a..b], &mut self.token, f);
            }
        }
    }
}

/// `t` as a token (at most `MAX_TOKEN_CHARS` characters, lower case), or
/// nothing when it is shorter than `MIN_TOKEN_CHARS`.
fn emit(t: &str, buf: &mut String, f: &mut impl FnMut(&str)) {
    buf.clear();
    if t.is_ascii() {
        if t.len() < MIN_TOKEN_CHARS {
            return;
        }
        buf.push_str(&t[..t.len().min(MAX_TOKEN_CHARS)]);
        buf.make_ascii_lowercase();
    } else {
        if t.chars().count() < MIN_TOKEN_CHARS {
            return;
        }
        let end = t
            .char_indices()
            .nth(MAX_TOKEN_CHARS)
            .map_or(t.len(), |(i, _)| i);
        buf.push_str(&t[..end].to_lowercase());
    }
    f(buf);
}

/// The parts of an identifier: split at `_`, at lower→upper changes, before
/// the last capital of a run of capitals followed by a lower-case letter
/// (`HTTPServer` → `HTTP`, `Server`), and between letters and digits.
pub fn split_ident(ident: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    split_ranges(ident, &mut Vec::new(), &mut parts);
    parts.into_iter().map(|(a, b)| &ident[a..b]).collect()
}

/// [`split_ident`] as byte ranges of `ident`, appended to `out`; `chars` is
/// scratch space.
fn split_ranges(ident: &str, chars: &mut Vec<(usize, char)>, out: &mut Vec<(usize, usize)>) {
    let mut word_at = 0usize;
    for word in ident.split('_') {
        let base = word_at;
        word_at += word.len() + 1;
        if word.is_empty() {
            continue;
        }
        chars.clear();
        chars.extend(word.char_indices());
        let cs = &chars[..];
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
                out.push((base + start, base + cs[i].0));
                start = cs[i].0;
            }
        }
        out.push((base + start, base + word.len()));
    }
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

    /// The old way, a string per token (kept here as the reference).
    fn reference(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for ident in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if ident.is_empty() {
                continue;
            }
            let parts = split_ident(ident);
            let mut push = |t: &str| {
                if t.chars().count() < MIN_TOKEN_CHARS {
                    return;
                }
                let mut s: String = t.chars().take(MAX_TOKEN_CHARS).collect();
                s.make_ascii_lowercase();
                if !s.is_ascii() {
                    s = s.to_lowercase();
                }
                out.push(s);
            };
            if parts.len() > 1 {
                push(ident);
            }
            for p in parts {
                push(p);
            }
        }
        out
    }

    /// Tokens and bodies made without a string per token equal the
    /// reference on ASCII, Unicode (case changes, long tokens cut on a
    /// character boundary) and odd underscores.
    #[test]
    fn bodies_equal_joined_reference_tokens() {
        let long = "x".repeat(70) + "Ωmega" + &"é".repeat(70);
        let texts = [
            "fn parse_config(path: &Path) -> Result<HTTPServer> { a1b2_c3D }",
            "__init__ _ __ a_ _b ÉtéCafé straßeNAME ΣίσυφοςΟδυσσέας dataΩ2x",
            long.as_str(),
            "",
            "日本語のテキストとcamelCase",
        ];
        for t in texts {
            let mut got = Vec::new();
            tokens(t, &mut got);
            assert_eq!(got, reference(t), "{t}");
        }
        let lang = crate::lang::Language::Rust;
        let body = chunk_body("src/HttpClient.rs", lang, Some("Client::send"), texts[0]);
        let mut want = reference("src/HttpClient.rs");
        want.extend(reference(lang.name()));
        want.extend(reference("Client::send"));
        want.extend(reference(texts[0]));
        assert_eq!(body, want.join(" "));
        assert_eq!(
            chunk_tokens("src/HttpClient.rs", lang, Some("Client::send"), texts[0]),
            want
        );
    }
}
