//! An ASCII fast path for BERT-uncased tokenization (BertNormalizer with
//! lowercasing, BertPreTokenizer, WordPiece with a `##` prefix), giving the
//! same ids as the tokenizers crate — tests/embed.rs compares them on real
//! code. The tokenizers crate's general pipeline spends most of its time on
//! Unicode category lookups and per-token allocation; code is nearly all ASCII.
//! Used only for ASCII text that holds no special-token string; everything
//! else goes through the tokenizers crate.

use std::collections::HashMap;

/// Vocabulary keys are short byte strings, for which SipHash's setup cost
/// dominates a lookup; no untrusted input picks these keys, so the Fx hash
/// (rustc-hash) serves.
type Vocab = HashMap<Vec<u8>, u32, rustc_hash::FxBuildHasher>;

pub struct FastWordPiece {
    /// Word-initial pieces.
    start: Vocab,
    /// Continuation pieces, without their `##`.
    cont: Vocab,
    unk: u32,
    max_chars: usize,
    /// Strings the tokenizer matches before normalisation ([CLS], ...).
    specials: Vec<String>,
}

impl FastWordPiece {
    /// Build from tokenizer.json, or None when its pipeline is not exactly the
    /// BERT-uncased one this fast path reproduces.
    pub fn from_tokenizer_json(json: &[u8]) -> Option<FastWordPiece> {
        let v: serde_json::Value = serde_json::from_slice(json).ok()?;
        let norm = v.get("normalizer")?;
        let bool_of = |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_bool());
        if norm.get("type")?.as_str()? != "BertNormalizer"
            || bool_of(norm, "lowercase") != Some(true)
            || bool_of(norm, "clean_text") != Some(true)
        {
            return None;
        }
        if v.get("pre_tokenizer")?.get("type")?.as_str()? != "BertPreTokenizer" {
            return None;
        }
        let model = v.get("model")?;
        if model.get("type")?.as_str()? != "WordPiece"
            || model.get("continuing_subword_prefix")?.as_str()? != "##"
        {
            return None;
        }
        let vocab = model.get("vocab")?.as_object()?;
        let unk_token = model.get("unk_token")?.as_str()?;
        let unk = vocab.get(unk_token)?.as_u64()? as u32;
        let max_chars = model.get("max_input_chars_per_word")?.as_u64()? as usize;
        let mut start = Vocab::default();
        let mut cont = Vocab::default();
        for (piece, id) in vocab {
            let id = id.as_u64()? as u32;
            match piece.strip_prefix("##") {
                Some(rest) => cont.insert(rest.as_bytes().to_vec(), id),
                None => start.insert(piece.as_bytes().to_vec(), id),
            };
        }
        let specials = v
            .get("added_tokens")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("content")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Some(FastWordPiece {
            start,
            cont,
            unk,
            max_chars,
            specials,
        })
    }

    /// The largest token id of the vocabulary.
    pub fn max_id(&self) -> u32 {
        self.start
            .values()
            .chain(self.cont.values())
            .copied()
            .fold(self.unk, u32::max)
    }

    /// Whether `text` can take the fast path.
    pub fn applies(&self, text: &str) -> bool {
        text.is_ascii() && !self.specials.iter().any(|s| text.contains(s.as_str()))
    }

    /// Append the ids of ASCII `text` to `out`, stopping after `limit` ids.
    /// With `split_identifiers`, a word also ends where an identifier's
    /// case says a new sub-word starts (`getUser` -> `get user`,
    /// `HTTPServer` -> `http server`; see `identifier_break`).
    pub fn encode(&self, text: &str, limit: usize, split_identifiers: bool, out: &mut Vec<u32>) {
        let mut word: Vec<u8> = Vec::with_capacity(32);
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            if split_identifiers && !word.is_empty() && identifier_break(bytes, i) {
                self.flush(&mut word, limit, out);
            }
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.flush(&mut word, limit, out),
                // Other control characters (and DEL) are removed, not split on.
                0..=0x1f | 0x7f => {}
                b if b.is_ascii_punctuation() => {
                    self.flush(&mut word, limit, out);
                    word.push(b);
                    self.flush(&mut word, limit, out);
                }
                b => word.push(b.to_ascii_lowercase()),
            }
        }
        self.flush(&mut word, limit, out);
        out.truncate(limit);
    }

    fn flush(&self, word: &mut Vec<u8>, limit: usize, out: &mut Vec<u32>) {
        if word.is_empty() || out.len() >= limit {
            word.clear();
            return;
        }
        if word.len() > self.max_chars {
            out.push(self.unk);
            word.clear();
            return;
        }
        let mark = out.len();
        let mut s = 0;
        while s < word.len() {
            let map = if s == 0 { &self.start } else { &self.cont };
            let mut e = word.len();
            let mut found = None;
            while e > s {
                if let Some(&id) = map.get(&word[s..e]) {
                    found = Some(id);
                    break;
                }
                e -= 1;
            }
            match found {
                Some(id) => {
                    out.push(id);
                    s = e;
                }
                None => {
                    out.truncate(mark);
                    out.push(self.unk);
                    break;
                }
            }
        }
        word.clear();
    }
}

/// Whether an identifier's next sub-word starts at `bytes[i]`: an upper-case
/// letter after a lower-case letter or a digit (`getUser`, `utf8Decode`), or
/// an upper-case letter followed by a lower-case one after an upper-case
/// letter (the `S` of `HTTPServer`). Works on any bytes (non-ASCII bytes are
/// neither case).
pub fn identifier_break(bytes: &[u8], i: usize) -> bool {
    if i == 0 || !bytes[i].is_ascii_uppercase() {
        return false;
    }
    let prev = bytes[i - 1];
    if prev.is_ascii_lowercase() || prev.is_ascii_digit() {
        return true;
    }
    prev.is_ascii_uppercase() && bytes.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
}

/// `text` with a space at each `identifier_break` (for the tokenizers
/// crate's path, which has no such step of its own).
pub fn split_identifiers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut last = 0;
    for i in 1..bytes.len() {
        if identifier_break(bytes, i) {
            // An ASCII upper-case byte is always a char boundary.
            out.push_str(&text[last..i]);
            out.push(' ');
            last = i;
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_where_their_case_says() {
        assert_eq!(split_identifiers("getUserName"), "get User Name");
        assert_eq!(split_identifiers("HTTPServer"), "HTTP Server");
        assert_eq!(split_identifiers("utf8Decode x"), "utf8 Decode x");
        assert_eq!(split_identifiers("snake_case IO ABC"), "snake_case IO ABC");
        assert_eq!(split_identifiers("éTé parseURL"), "éTé parse URL");
        assert_eq!(split_identifiers(""), "");
    }
}
