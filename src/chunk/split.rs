//! Cutting a file into chunks. For Rust, Python, JavaScript, TypeScript/TSX,
//! Go, Java, C and C++ a tree-sitter parse gives the units: functions,
//! methods, classes/impls and other definitions (with the comments right above
//! them); the code between them forms gap units. A unit longer than
//! MAX_CHUNK_LINES is split into its member definitions when it has any, else
//! into line windows; neighbouring units are merged while they fit in
//! MERGE_LINES. Other text is cut into WINDOW_LINES-line windows overlapping by
//! WINDOW_OVERLAP_LINES.

use crate::lang::Language;
use tree_sitter::{Node, Parser};

pub const WINDOW_LINES: usize = 40;
pub const WINDOW_OVERLAP_LINES: usize = 10;
pub const MAX_CHUNK_LINES: usize = 80;
pub const MERGE_LINES: usize = 40;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Path relative to the indexed root, '/'-separated.
    pub path: String,
    pub language: Language,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    /// Enclosing definition(s), e.g. `Parser::parse` or `load, save`.
    pub symbol: Option<String>,
    /// BLAKE3 of the chunk text, first 16 bytes: the unit of incremental updates.
    pub hash: [u8; 16],
    pub text: String,
}

pub fn content_hash(text: &str) -> [u8; 16] {
    let h = blake3::hash(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.as_bytes()[..16]);
    out
}

/// A span of the file with the symbol it defines, if any.
#[derive(Clone, Debug)]
struct Unit {
    start: usize,
    end: usize,
    symbols: Vec<String>,
}

struct Lines {
    starts: Vec<usize>,
    len: usize,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' && i + 1 < text.len() {
                starts.push(i + 1);
            }
        }
        Lines {
            starts,
            len: text.len(),
        }
    }
    /// 0-based line of a byte offset.
    fn line(&self, byte: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= byte)
            .saturating_sub(1)
    }
    fn start(&self, line: usize) -> usize {
        self.starts[line]
    }
    /// Byte just past the end of a line (including its newline).
    fn end(&self, line: usize) -> usize {
        self.starts.get(line + 1).copied().unwrap_or(self.len)
    }
    fn count(&self) -> usize {
        self.starts.len()
    }
}

/// Chunk one file's text.
pub fn chunk_text(path: &str, language: Language, text: &str) -> Vec<Chunk> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let lines = Lines::new(text);
    let units = match tree_units(path, language, text, &lines) {
        Some(u) => u,
        None => window_units(&lines, 0, lines.count(), &[]),
    };
    units
        .into_iter()
        .filter_map(|u| {
            let body = &text[u.start..u.end];
            if body.trim().is_empty() {
                return None;
            }
            let symbol = if u.symbols.is_empty() {
                None
            } else {
                let mut s = u
                    .symbols
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if u.symbols.len() > 4 {
                    s.push_str(", ...");
                }
                Some(s)
            };
            Some(Chunk {
                path: path.to_string(),
                language,
                start_line: lines.line(u.start) as u32 + 1,
                end_line: lines.line(u.end.saturating_sub(1).max(u.start)) as u32 + 1,
                start_byte: u.start,
                end_byte: u.end,
                symbol,
                hash: content_hash(body),
                text: body.to_string(),
            })
        })
        .collect()
}

/// Line windows over lines [first, last).
fn window_units(lines: &Lines, first: usize, last: usize, symbols: &[String]) -> Vec<Unit> {
    let mut out = Vec::new();
    let stride = WINDOW_LINES - WINDOW_OVERLAP_LINES;
    let mut s = first;
    while s < last {
        let e = (s + WINDOW_LINES).min(last);
        out.push(Unit {
            start: lines.start(s),
            end: lines.end(e - 1),
            symbols: symbols.to_vec(),
        });
        if e == last {
            break;
        }
        s += stride;
    }
    out
}

pub(crate) fn ts_language(l: Language) -> Option<tree_sitter::Language> {
    Some(match l {
        Language::Rust => tree_sitter_rust::LANGUAGE.into(),
        Language::Python => tree_sitter_python::LANGUAGE.into(),
        Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        Language::Go => tree_sitter_go::LANGUAGE.into(),
        Language::Java => tree_sitter_java::LANGUAGE.into(),
        Language::C => tree_sitter_c::LANGUAGE.into(),
        Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
        Language::Ruby => tree_sitter_ruby::LANGUAGE.into(),
        Language::Php => tree_sitter_php::LANGUAGE_PHP.into(),
        Language::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
        Language::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
        Language::Swift => tree_sitter_swift::LANGUAGE.into(),
        Language::Scala => tree_sitter_scala::LANGUAGE.into(),
        Language::Shell => tree_sitter_bash::LANGUAGE.into(),
        Language::Lua => tree_sitter_lua::LANGUAGE.into(),
        _ => return None,
    })
}

/// Node kinds that make a chunk of their own.
fn is_definition(kind: &str) -> bool {
    matches!(
        kind,
        // Rust
        "function_item" | "function_signature_item" | "impl_item" | "trait_item" | "struct_item"
        | "enum_item" | "union_item" | "mod_item" | "macro_definition" | "const_item"
        | "static_item" | "type_item"
        // Python
        | "function_definition" | "class_definition" | "decorated_definition"
        // JavaScript / TypeScript
        | "function_declaration" | "generator_function_declaration" | "class_declaration"
        | "abstract_class_declaration" | "method_definition" | "lexical_declaration"
        | "variable_declaration" | "export_statement" | "interface_declaration"
        | "type_alias_declaration" | "enum_declaration" | "internal_module" | "module"
        // Go
        | "method_declaration" | "type_declaration"
        // Java
        | "record_declaration" | "constructor_declaration" | "annotation_type_declaration"
        // C / C++
        | "struct_specifier" | "enum_specifier" | "class_specifier" | "union_specifier"
        | "namespace_definition" | "template_declaration" | "type_definition"
        | "preproc_function_def"
        // Ruby
        | "method" | "singleton_method" | "class" | "singleton_class"
        // PHP (also function_definition, class/method/interface/enum_declaration,
        // namespace_definition above)
        | "trait_declaration"
        // C# (also class/method/interface/enum/record/constructor_declaration)
        | "struct_declaration" | "namespace_declaration" | "file_scoped_namespace_declaration"
        | "property_declaration" | "local_function_statement"
        // Kotlin (also function/class/property_declaration)
        | "object_declaration" | "companion_object"
        // Swift (also function/class/property_declaration)
        | "protocol_declaration" | "init_declaration" | "protocol_function_declaration"
        // Scala (also function_definition, class_definition, function_declaration)
        // (Bash and Lua: function_definition and function_declaration above)
        | "object_definition" | "trait_definition" | "val_definition" | "enum_definition"
    )
}

/// Separator between an enclosing symbol and a member.
fn separator(l: Language) -> &'static str {
    match l {
        Language::Rust | Language::Cpp | Language::C => "::",
        _ => ".",
    }
}

fn text_of<'a>(n: Node<'_>, src: &'a str) -> &'a str {
    src.get(n.start_byte()..n.end_byte()).unwrap_or("")
}

/// The name a definition introduces, if one can be found.
fn symbol_of(n: Node<'_>, src: &str) -> Option<String> {
    if n.kind() == "impl_item" {
        let ty = n
            .child_by_field_name("type")
            .map(|t| text_of(t, src).to_string())?;
        return Some(match n.child_by_field_name("trait") {
            Some(tr) => format!("<{ty} as {}>", text_of(tr, src)),
            None => ty,
        });
    }
    for field in ["name", "declarator", "definition", "declaration", "type"] {
        if let Some(c) = n.child_by_field_name(field) {
            if matches!(
                c.kind(),
                "identifier"
                    | "type_identifier"
                    | "field_identifier"
                    | "property_identifier"
                    | "name"
                    | "constant"
                    | "namespace_identifier"
                    | "destructor_name"
                    | "qualified_identifier"
                    | "operator_name"
                    // Ruby, PHP, C#, Swift, Bash, Lua
                    | "scope_resolution"
                    | "namespace_name"
                    | "qualified_name"
                    | "simple_identifier"
                    | "user_type"
                    | "word"
                    | "dot_index_expression"
                    | "method_index_expression"
            ) {
                return Some(text_of(c, src).to_string());
            }
            if let Some(s) = symbol_of(c, src) {
                return Some(s);
            }
        }
    }
    // Declarations without a name field (lexical_declaration, type_declaration,
    // Go's type_spec...): the first named child that names something.
    let mut cur = n.walk();
    for c in n.named_children(&mut cur) {
        if matches!(
            c.kind(),
            "variable_declarator" | "type_spec" | "const_spec" | "var_spec" | "init_declarator"
        ) {
            return symbol_of(c, src);
        }
    }
    None
}

/// The node holding a definition's members (class or impl body), if any:
/// a `body`-like field, or (Kotlin) a class body child without a field name.
fn body_of(n: Node<'_>) -> Option<Node<'_>> {
    for field in ["body", "definition", "declaration"] {
        if let Some(b) = n.child_by_field_name(field) {
            return Some(b);
        }
    }
    let mut cur = n.walk();
    let body = n
        .named_children(&mut cur)
        .find(|c| matches!(c.kind(), "class_body" | "enum_class_body"));
    body
}

fn tree_units(path: &str, language: Language, text: &str, lines: &Lines) -> Option<Vec<Unit>> {
    let mut parser = Parser::new();
    let mut language = language;
    if let Some((scripts, typescript)) = crate::chunk::component::scripts(path, text) {
        // A single-file component: its scripts parsed as one program, the
        // markup between them cut as gaps.
        if scripts.is_empty() {
            return None;
        }
        language = if typescript {
            Language::TypeScript
        } else {
            Language::JavaScript
        };
        let ranges: Vec<tree_sitter::Range> = scripts
            .iter()
            .map(|r| tree_sitter::Range {
                start_byte: r.start,
                end_byte: r.end,
                start_point: point(text, lines, r.start),
                end_point: point(text, lines, r.end),
            })
            .collect();
        parser.set_included_ranges(&ranges).ok()?;
    }
    let ts = ts_language(language)?;
    parser.set_language(&ts).ok()?;
    let tree = parser.parse(text, None)?;
    let root = tree.root_node();
    let mut units = Vec::new();
    collect(root, text, lines, language, &[], 0, text.len(), &mut units);
    Some(merge(units, lines))
}

/// The tree-sitter point (row, byte column) of byte `b`.
fn point(text: &str, lines: &Lines, b: usize) -> tree_sitter::Point {
    let row = lines.line(b.min(text.len()));
    tree_sitter::Point {
        row,
        column: b - lines.start(row),
    }
}

/// Units covering bytes [from, to) of the children of `parent`.
#[allow(clippy::too_many_arguments)]
fn collect(
    parent: Node<'_>,
    src: &str,
    lines: &Lines,
    lang: Language,
    scope: &[String],
    from: usize,
    to: usize,
    out: &mut Vec<Unit>,
) {
    // Units start and end on line boundaries.
    let mut cursor = lines.start(lines.line(from));
    let mut comment_start: Option<usize> = None;
    let mut cur = parent.walk();
    for child in parent.named_children(&mut cur) {
        let kind = child.kind();
        if kind.contains("comment") {
            comment_start.get_or_insert(child.start_byte());
            continue;
        }
        if !is_definition(kind) {
            comment_start = None;
            continue;
        }
        let def_start = lines.start(
            lines
                .line(comment_start.take().unwrap_or(child.start_byte()))
                .max(lines.line(cursor)),
        );
        let def_end =
            lines.end(lines.line(child.end_byte().saturating_sub(1).max(child.start_byte())));
        if def_start < cursor || def_end <= cursor {
            continue;
        }
        if def_start > cursor {
            gap(lines, cursor, def_start, scope, out);
        }
        let name = symbol_of(child, src);
        let mut sym: Vec<String> = scope.to_vec();
        if let Some(n) = &name {
            if let Some(last) = sym.last_mut() {
                *last = format!("{last}{}{n}", separator(lang));
            } else {
                sym.push(n.clone());
            }
        }
        let n_lines = lines.line(def_end.saturating_sub(1)) + 1 - lines.line(def_start);
        if n_lines <= MAX_CHUNK_LINES {
            out.push(Unit {
                start: def_start,
                end: def_end,
                symbols: sym,
            });
        } else {
            let before = out.len();
            if let Some(body) = body_of(child) {
                collect(body, src, lines, lang, &sym, def_start, def_end, out);
            }
            let found_members = out[before..].iter().any(|u| u.symbols != sym);
            if !found_members {
                out.truncate(before);
                out.extend(window_units(
                    lines,
                    lines.line(def_start),
                    lines.line(def_end - 1) + 1,
                    &sym,
                ));
            }
        }
        cursor = def_end;
    }
    let end = lines.end(lines.line(to.saturating_sub(1).max(from)));
    if end > cursor {
        gap(lines, cursor, end, scope, out);
    }
}

/// Code between definitions: one unit, or windows when long.
fn gap(lines: &Lines, from: usize, to: usize, scope: &[String], out: &mut Vec<Unit>) {
    let (a, b) = (
        lines.line(from),
        lines.line(to.saturating_sub(1).max(from)) + 1,
    );
    if b - a <= MAX_CHUNK_LINES {
        out.push(Unit {
            start: from,
            end: to,
            symbols: scope.to_vec(),
        });
    } else {
        out.extend(window_units(lines, a, b, scope));
    }
}

/// Merge neighbouring units while the result spans at most MERGE_LINES lines;
/// whitespace-only units vanish into their neighbours.
fn merge(units: Vec<Unit>, lines: &Lines) -> Vec<Unit> {
    let span =
        |u: &Unit| lines.line(u.end.saturating_sub(1).max(u.start)) + 1 - lines.line(u.start);
    let mut out: Vec<Unit> = Vec::new();
    for u in units {
        if let Some(last) = out.last_mut() {
            let merged = Unit {
                start: last.start,
                end: u.end.max(last.end),
                symbols: Vec::new(),
            };
            if u.start >= last.start && span(&merged) <= MERGE_LINES {
                last.end = merged.end;
                for s in u.symbols {
                    if !last.symbols.contains(&s) {
                        last.symbols.push(s);
                    }
                }
                continue;
            }
        }
        out.push(u);
    }
    out
}
