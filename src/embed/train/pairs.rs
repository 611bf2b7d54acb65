//! (question, code) pairs for training a static model: the first sentence
//! of a documented function's docstring (Python) or doc comment (the eight
//! tree-sitter languages: `///` in Rust, `/** */` JSDoc, Javadoc and
//! Doxygen, `//` runs in Go, C and C++), and the function's code with that
//! documentation removed (a docstring becomes blank lines, as in a tree whose
//! docstrings were stripped; a doc comment sits outside the function),
//! prefixed by its path and name as the index embeds a chunk
//! (`embed::embed_input`).

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
    /// Bytes of the file holding the documentation (blanked to its newlines
    /// in a held-out tree, `heldout`).
    pub doc: std::ops::Range<usize>,
    /// First and last line (1-based) of the function (a doc comment above
    /// it excluded, a docstring inside it included).
    pub lines: (u32, u32),
}

/// The languages pairs are made from.
pub const PAIR_LANGUAGES: [Language; 9] = [
    Language::Python,
    Language::Rust,
    Language::JavaScript,
    Language::TypeScript,
    Language::Tsx,
    Language::Go,
    Language::Java,
    Language::C,
    Language::Cpp,
];

/// The pairs of every file of PAIR_LANGUAGES under `dirs`.
pub fn collect_pairs(storage: &dyn Storage, dirs: &[PathBuf]) -> Result<Vec<Pair>> {
    let mut out = Vec::new();
    for dir in dirs {
        let opts = WalkOptions {
            languages: PAIR_LANGUAGES.to_vec(),
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
    if !PAIR_LANGUAGES.contains(&language) {
        return Vec::new();
    }
    let Some(ts) = crate::chunk::split::ts_language(language) else {
        return Vec::new();
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
                (_, kind) if is_function(language, kind) => {
                    comment_pair(path, language, &kids[..i], *k, text)
                }
                _ => None,
            };
            out.extend(found);
            stack.push(*k);
        }
    }
    out
}

fn python_pair(path: &str, f: Node, text: &str) -> Option<Pair> {
    let name = function_name(f, text)?;
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
    let blank = newlines(&text[dr.clone()]);
    let code = format!(
        "{}{}{}",
        &text[fr.start..dr.start],
        blank,
        &text[dr.end..fr.end]
    );
    make(path, name, question, code, Language::Python, dr, f)
}

fn rust_pair(path: &str, before: &[Node], f: Node, text: &str) -> Option<Pair> {
    let name = function_name(f, text)?;
    // Doc comments are the `///` line comments just before the item
    // (attributes may sit between them).
    let mut lines = Vec::new();
    let mut doc: Option<std::ops::Range<usize>> = None;
    for k in before.iter().rev() {
        match k.kind() {
            "attribute_item" => continue,
            "line_comment" => {
                let t = text.get(k.byte_range())?;
                match t.strip_prefix("///") {
                    Some(rest) if !rest.starts_with('/') => {
                        lines.push(rest.trim());
                        doc = Some(k.start_byte()..doc.map_or(k.end_byte(), |r| r.end));
                    }
                    _ => break,
                }
            }
            _ => break,
        }
    }
    let doc = doc?;
    lines.reverse();
    let question = first_sentence(&lines.join("\n"))?;
    let code = text.get(f.byte_range())?.to_string();
    make(path, name, question, code, Language::Rust, doc, f)
}

/// Function definitions with a body, per language (a wrapper such as
/// `export` or `template<...>` is the node its doc comment precedes).
fn is_function(language: Language, kind: &str) -> bool {
    match language {
        Language::JavaScript | Language::TypeScript | Language::Tsx => matches!(
            kind,
            "function_declaration"
                | "generator_function_declaration"
                | "method_definition"
                | "lexical_declaration"
                | "export_statement"
        ),
        Language::Go => matches!(kind, "function_declaration" | "method_declaration"),
        Language::Java => matches!(kind, "method_declaration" | "constructor_declaration"),
        Language::C => kind == "function_definition",
        Language::Cpp => matches!(kind, "function_definition" | "template_declaration"),
        _ => false,
    }
}

/// The function inside a wrapper (`export`, `template`, `const f = () =>`),
/// or `n` itself; `None` when the wrapper holds no function with a body.
fn function_in(n: Node) -> Option<Node> {
    match n.kind() {
        "export_statement" => function_in(n.child_by_field_name("declaration")?),
        "template_declaration" => {
            let mut c = n.walk();
            let inner = n
                .named_children(&mut c)
                .find(|k| matches!(k.kind(), "function_definition" | "template_declaration"));
            inner.and_then(function_in)
        }
        "lexical_declaration" => {
            let mut c = n.walk();
            let d = n
                .named_children(&mut c)
                .find(|k| k.kind() == "variable_declarator")?;
            let v = d.child_by_field_name("value")?;
            matches!(
                v.kind(),
                "arrow_function" | "function_expression" | "function"
            )
            .then_some(d)
        }
        "function_declaration"
        | "generator_function_declaration"
        | "method_definition"
        | "method_declaration"
        | "constructor_declaration"
        | "function_definition" => Some(n),
        _ => None,
    }
}

/// A function's name: its `name` field, or (C, C++) the identifier at the
/// end of its declarator chain.
fn function_name<'a>(f: Node, text: &'a str) -> Option<&'a str> {
    if let Some(n) = f.child_by_field_name("name") {
        return text.get(n.byte_range());
    }
    let mut d = f.child_by_field_name("declarator")?;
    loop {
        match d.kind() {
            "identifier" | "field_identifier" | "destructor_name" | "operator_name" => {
                return text.get(d.byte_range())
            }
            "qualified_identifier" => {
                d = d.child_by_field_name("name")?;
            }
            _ => d = d.child_by_field_name("declarator")?,
        }
    }
}

/// The doc comment right above `f` (no blank line between): one block
/// comment, or a run of line comments. Annotations and decorators between
/// are skipped.
fn doc_above(before: &[Node], f: Node, text: &str) -> Option<(String, std::ops::Range<usize>)> {
    let mut lines: Vec<String> = Vec::new();
    let mut range: Option<std::ops::Range<usize>> = None;
    let mut next_row = f.start_position().row;
    for k in before.iter().rev() {
        if k.end_position().row + 1 < next_row {
            break;
        }
        if matches!(k.kind(), "decorator" | "annotation" | "marker_annotation") {
            next_row = k.start_position().row;
            continue;
        }
        if !k.kind().contains("comment") {
            break;
        }
        let t = text.get(k.byte_range())?;
        if let Some(body) = t.strip_prefix("/*") {
            if !lines.is_empty() {
                break;
            }
            range = Some(k.byte_range());
            let body = body.strip_suffix("*/").unwrap_or(body);
            let body = body.trim_start_matches(['*', '!']);
            lines = body
                .lines()
                .map(|l| l.trim().trim_start_matches('*').trim().to_string())
                .collect();
            break;
        }
        let l = t.trim_start_matches('/').trim_start_matches('!').trim();
        lines.insert(0, l.to_string());
        range = Some(k.start_byte()..range.map_or(k.end_byte(), |r| r.end));
        next_row = k.start_position().row;
    }
    let kept: Vec<String> = lines
        .into_iter()
        .map(|l| {
            for tag in ["@brief ", "\\brief ", "@description ", "@summary "] {
                if let Some(rest) = l.strip_prefix(tag) {
                    return rest.to_string();
                }
            }
            l
        })
        // gtk-doc's `name:` header line, and separator lines.
        .skip_while(|l| {
            l.is_empty()
                || l.chars().all(|c| !c.is_alphanumeric())
                || (l.ends_with(':') && !l.contains(' '))
        })
        .take_while(|l| !l.starts_with('@') && !l.starts_with('\\'))
        .collect();
    let range = range?;
    (!kept.is_empty()).then(|| (kept.join("\n"), range))
}

/// A pair from a function with a doc comment above it (JS, TS, Go, Java,
/// C, C++).
fn comment_pair(
    path: &str,
    language: Language,
    before: &[Node],
    wrapper: Node,
    text: &str,
) -> Option<Pair> {
    let f = function_in(wrapper)?;
    let name = function_name(f, text)?;
    let (doc, range) = doc_above(before, wrapper, text)?;
    let question = first_sentence(&doc)?;
    let code = text.get(wrapper.byte_range())?.to_string();
    make(path, name, question, code, language, range, wrapper)
}

fn make(
    path: &str,
    name: &str,
    question: String,
    code: String,
    language: Language,
    doc: std::ops::Range<usize>,
    f: Node,
) -> Option<Pair> {
    if code.lines().count() < MIN_CODE_LINES {
        return None;
    }
    Some(Pair {
        language,
        question,
        code: crate::embed::embed_input(path, Some(name), &code),
        doc,
        lines: (
            f.start_position().row as u32 + 1,
            f.end_position().row as u32 + 1,
        ),
    })
}

/// `text` with every pair's documentation blanked to its newlines (line
/// numbers unchanged), as in a tree whose docstrings were stripped.
pub fn blank_docs(text: &str, pairs: &[Pair]) -> String {
    let mut docs: Vec<&std::ops::Range<usize>> = pairs.iter().map(|p| &p.doc).collect();
    docs.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in docs {
        if r.start < at || r.end > text.len() {
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(&newlines(&text[r.clone()]));
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The newlines of `s`: what a blanked doc leaves (line numbers kept).
fn newlines(s: &str) -> String {
    s.chars().filter(|&c| c == '\n').collect()
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
    fn doc_comments_of_the_other_languages_become_questions() {
        let cases: [(&str, Language, &str, &str); 7] = [
            (
                "a.js",
                Language::JavaScript,
                "/**\n * Merge two sorted lists into one.\n * @param {Array} a\n */\nexport function merge(a, b) {\n  const out = [];\n  return out;\n}\n",
                "a.js merge\nexport function merge",
            ),
            (
                "b.ts",
                Language::TypeScript,
                "/** Parse the header of a packet. */\nconst parseHeader = (b: Uint8Array): number => {\n  let x = 0;\n  return x;\n};\n",
                "b.ts parseHeader\nconst parseHeader",
            ),
            (
                "c.go",
                Language::Go,
                "package p\n\n// Retry calls f until it succeeds\n// or the context ends.\nfunc Retry(f func() error) error {\n\tvar err error\n\treturn err\n}\n",
                "c.go Retry\nfunc Retry",
            ),
            (
                "D.java",
                Language::Java,
                "class D {\n  /**\n   * Returns the number of open sockets.\n   */\n  @Override\n  public int open() {\n    int n = 0;\n    return n;\n  }\n}\n",
                "D.java open\n@Override",
            ),
            (
                "e.c",
                Language::C,
                "/**\n * e_hash:\n * Hash a key with the table's seed.\n */\nstatic unsigned e_hash(const char *k) {\n    unsigned h = 0;\n    return h;\n}\n",
                "e.c e_hash\nstatic unsigned",
            ),
            (
                "f.cc",
                Language::Cpp,
                "/// Compacts the range of keys given.\ntemplate <typename T>\nvoid Db::Compact(T begin, T end) {\n  int x = 0;\n  (void)x;\n}\n",
                "f.cc Compact\ntemplate",
            ),
            (
                "g.cc",
                Language::Cpp,
                "// Writes a batch of updates to the log.\nStatus Writer::Write(const Batch& b) {\n  Status s;\n  return s;\n}\n",
                "g.cc Write\nStatus",
            ),
        ];
        for (path, lang, src, start) in cases {
            let p = file_pairs(path, lang, src);
            assert_eq!(p.len(), 1, "{path}: {p:?}");
            assert!(p[0].code.starts_with(start), "{path}: {:?}", p[0].code);
            let q = &p[0].question;
            assert!(
                q.split_whitespace().count() >= 3 && !q.contains('@'),
                "{path}: {q}"
            );
            assert!(
                !p[0].code.contains(q.as_str()),
                "{path}: the doc stays in the code"
            );
        }
        // A blank line between comment and function: not its doc.
        let src = "// Licence header text here.\n\nint f(void) {\n  int a = 1;\n  return a;\n}\n";
        assert!(file_pairs("h.c", Language::C, src).is_empty());
    }

    #[test]
    fn every_line_of_a_doc_is_blanked() {
        let src = "/// Parse a config file\n/// into settings.\n/// More.\n#[inline]\nfn parse(s: &str) -> u32 {\n    let x = 1;\n    x\n}\n";
        let p = file_pairs("src/c.rs", Language::Rust, src);
        let b = blank_docs(src, &p);
        assert!(!b.contains("///"), "{b}");
        assert_eq!(b.lines().count(), src.lines().count());
        let src = "// Retry calls f\n// until it succeeds.\nfunc Retry() error {\n\tvar err error\n\treturn err\n}\n";
        let p = file_pairs("r.go", Language::Go, src);
        let b = blank_docs(src, &p);
        assert!(!b.contains("//"), "{b}");
        assert_eq!(b.lines().count(), src.lines().count());
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
