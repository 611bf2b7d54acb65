//! (question, code) pairs for training a static model: the first sentence
//! of a documented function's docstring (Python) or doc comment (Rust), and
//! the function's code with that documentation removed (a docstring becomes
//! blank lines, as in a tree whose docstrings were stripped), prefixed by its
//! path and name as the index embeds a chunk (`ingest::embed_input`).

use crate::chunk::{read_source, walk, Language, WalkOptions};
use crate::error::Result;
use crate::io::Storage;
use rayon::prelude::*;
use std::path::PathBuf;
use tree_sitter::{Node, Parser};

/// Fewest words a question keeps.
pub const MIN_QUESTION_WORDS: usize = 3;
/// Shortest function body (in lines) worth a pair.
pub const MIN_CODE_LINES: usize = 3;
/// Longest question, in characters (a first paragraph with no full stop).
pub const MAX_QUESTION_CHARS: usize = 300;

#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub language: Language,
    pub question: String,
    /// `path symbol\ncode`, as the index embeds a chunk.
    pub code: String,
}

/// The pairs of every Python and Rust file under `dirs`.
pub fn collect_pairs(storage: &dyn Storage, dirs: &[PathBuf]) -> Result<Vec<Pair>> {
    let mut out = Vec::new();
    for dir in dirs {
        let opts = WalkOptions {
            languages: vec![Language::Python, Language::Rust],
            ..WalkOptions::default()
        };
        let (entries, _) = walk(dir, &opts)?;
        let mut part: Vec<Pair> = entries
            .par_iter()
            .flat_map_iter(|e| {
                let text = read_source(storage, &e.abs).unwrap_or_default();
                file_pairs(&e.rel, e.language, &text)
            })
            .collect();
        out.append(&mut part);
    }
    Ok(out)
}

/// The pairs of one file.
pub fn file_pairs(path: &str, language: Language, text: &str) -> Vec<Pair> {
    let ts: tree_sitter::Language = match language {
        Language::Python => tree_sitter_python::LANGUAGE.into(),
        Language::Rust => tree_sitter_rust::LANGUAGE.into(),
        _ => return Vec::new(),
    };
    let mut parser = Parser::new();
    if parser.set_language(&ts).is_err() {
        return Vec::new();
    }
    let Some(tree) = parser.parse(text, None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        let mut c = n.walk();
        let kids: Vec<Node> = n.children(&mut c).collect();
        for (i, k) in kids.iter().enumerate() {
            let found = match (language, k.kind()) {
                (Language::Python, "function_definition") => python_pair(path, *k, text),
                (Language::Rust, "function_item") => rust_pair(path, &kids[..i], *k, text),
                _ => None,
            };
            out.extend(found);
            stack.push(*k);
        }
    }
    out
}

fn name_of<'a>(n: Node, text: &'a str) -> Option<&'a str> {
    n.child_by_field_name("name")
        .and_then(|x| text.get(x.byte_range()))
}

fn python_pair(path: &str, f: Node, text: &str) -> Option<Pair> {
    let name = name_of(f, text)?;
    let body = f.child_by_field_name("body")?;
    let first = body.named_child(0)?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let s = first.named_child(0)?;
    if s.kind() != "string" {
        return None;
    }
    let raw = text.get(s.byte_range())?;
    let doc = raw
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .trim_matches(|c| c == '"' || c == '\'');
    let question = first_sentence(doc)?;
    let fr = f.byte_range();
    let dr = first.byte_range();
    // The docstring's bytes become its newlines (line numbers unchanged).
    let blank: String = text[dr.clone()].chars().filter(|c| *c == '\n').collect();
    let code = format!(
        "{}{}{}",
        &text[fr.start..dr.start],
        blank,
        &text[dr.end..fr.end]
    );
    make(path, name, question, code, Language::Python)
}

fn rust_pair(path: &str, before: &[Node], f: Node, text: &str) -> Option<Pair> {
    let name = name_of(f, text)?;
    // Doc comments are the `///` line comments just before the item
    // (attributes may sit between them).
    let mut lines = Vec::new();
    for k in before.iter().rev() {
        match k.kind() {
            "attribute_item" => continue,
            "line_comment" => {
                let t = text.get(k.byte_range())?;
                match t.strip_prefix("///") {
                    Some(rest) if !rest.starts_with('/') => lines.push(rest.trim()),
                    _ => break,
                }
            }
            _ => break,
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    let question = first_sentence(&lines.join("\n"))?;
    let code = text.get(f.byte_range())?.to_string();
    make(path, name, question, code, Language::Rust)
}

fn make(
    path: &str,
    name: &str,
    question: String,
    code: String,
    language: Language,
) -> Option<Pair> {
    if code.lines().count() < MIN_CODE_LINES {
        return None;
    }
    Some(Pair {
        language,
        question,
        code: crate::embed::embed_input(path, Some(name), &code),
    })
}

/// The first sentence of a docstring: its first paragraph up to the first
/// full stop followed by a space or its end, whitespace collapsed. `None`
/// when shorter than MIN_QUESTION_WORDS words or longer than
/// MAX_QUESTION_CHARS.
pub fn first_sentence(doc: &str) -> Option<String> {
    let para = doc.trim().split("\n\n").next()?;
    let flat: String = para.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = flat
        .match_indices(". ")
        .next()
        .map(|(i, _)| i + 1)
        .unwrap_or(flat.len());
    let s = flat[..end].trim().to_string();
    let words = s.split_whitespace().count();
    (words >= MIN_QUESTION_WORDS && s.len() <= MAX_QUESTION_CHARS).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_docstring_becomes_the_question_and_blank_lines() {
        let src = "def load(path):\n    \"\"\"Read the settings file. More text.\n\n    Details.\n    \"\"\"\n    with open(path) as f:\n        return f.read()\n";
        let p = file_pairs("a/cfg.py", Language::Python, src);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].question, "Read the settings file.");
        assert!(!p[0].code.contains("settings"));
        assert!(p[0].code.starts_with("a/cfg.py load\ndef load(path):\n"));
        // Line count kept: the docstring's four newlines remain.
        assert_eq!(p[0].code.lines().count(), src.lines().count() + 1);
    }

    #[test]
    fn rust_doc_comment_becomes_the_question() {
        let src = "/// Parse a config file into settings.\n#[inline]\nfn parse(s: &str) -> u32 {\n    let x = 1;\n    x\n}\n// not a doc\nfn other() {\n    1;\n    2;\n}\n";
        let p = file_pairs("src/c.rs", Language::Rust, src);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].question, "Parse a config file into settings.");
        assert!(p[0].code.starts_with("src/c.rs parse\nfn parse"));
    }

    #[test]
    fn short_or_missing_docs_give_no_pair() {
        assert_eq!(first_sentence("Hi."), None);
        assert_eq!(
            first_sentence("  Return the   value. Then\nmore"),
            Some("Return the value.".into())
        );
        let src = "def f():\n    x = 1\n    y = 2\n    return x\n";
        assert!(file_pairs("f.py", Language::Python, src).is_empty());
    }
}
