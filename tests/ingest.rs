//! Walking and chunking source trees (issue 3, items 1 and 2).

mod common;

use common::leann;
use leann::chunk::{chunk_text, read_source, walk, Language, SkipReason, WalkOptions};
use std::fs;
use std::path::Path;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

#[test]
fn walker_honours_ignores_and_counts_every_skip() {
    let d = common::tempdir();
    let r = d.path();
    write(r, "src/lib.rs", b"pub fn a() {}\n");
    write(r, "src/util.py", b"def f():\n    return 1\n");
    write(r, ".gitignore", b"ignored_dir/\n*.log\n");
    write(r, "ignored_dir/x.rs", b"fn x() {}\n");
    write(r, "run.log", b"log\n");
    write(r, ".leannignore", b"secret.rs\n");
    write(r, "secret.rs", b"fn s() {}\n");
    write(r, ".hidden/h.rs", b"fn h() {}\n");
    write(r, ".env.py", b"X = 1\n");
    write(r, "node_modules/pkg/index.js", b"module.exports = 1;\n");
    write(r, "big.rs", &vec![b'a'; 5000]);
    write(r, "logo.png", b"\x89PNG");
    write(r, "go/main.go", b"package main\nfunc main() {}\n");
    std::os::unix::fs::symlink(r, r.join("src/loop")).unwrap();
    let o = WalkOptions {
        max_file_bytes: 4096,
        exclude: vec!["node_modules/".into()],
        ..WalkOptions::default()
    };
    let (files, skips) = walk(r, &o).unwrap();
    let rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    assert_eq!(rels, vec!["go/main.go", "src/lib.rs", "src/util.py"]);
    assert_eq!(files[1].language, Language::Rust);
    assert_eq!(skips.count(SkipReason::TooLarge), 1);
    assert_eq!(
        skips.by_reason[&SkipReason::Excluded],
        vec![std::path::PathBuf::from("node_modules/")]
    );
    assert_eq!(skips.count(SkipReason::UnknownType), 1, "{:?}", skips);
    assert_eq!(skips.count(SkipReason::SymlinkLoop), 1, "{:?}", skips);
    // .hidden/ is pruned as a directory and counted once.
    assert!(
        skips.by_reason[&SkipReason::Hidden].contains(&std::path::PathBuf::from(".hidden/")),
        "{skips:?}"
    );
    assert!(
        skips.by_reason[&SkipReason::Hidden].contains(&std::path::PathBuf::from(".env.py")),
        "{skips:?}"
    );
    assert!(!skips.summary().is_empty());

    // Language filter.
    let o2 = WalkOptions {
        languages: vec![Language::Python],
        max_file_bytes: 4096,
        ..WalkOptions::default()
    };
    let (files, skips) = walk(r, &o2).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].rel, "src/util.py");
    assert!(skips.count(SkipReason::LanguageFiltered) >= 3);

    // Hidden files on.
    let o3 = WalkOptions {
        hidden: true,
        max_file_bytes: 4096,
        ..WalkOptions::default()
    };
    let (files, _) = walk(r, &o3).unwrap();
    assert!(files.iter().any(|f| f.rel == ".hidden/h.rs"));
    assert!(files.iter().any(|f| f.rel == ".env.py"));

    // A missing root is an error naming it.
    let e = walk(&r.join("nope"), &WalkOptions::default()).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn sources_are_vetted() {
    let d = common::tempdir();
    let r = d.path();
    write(r, "bin.rs", b"fn a() {}\0\0\0");
    write(r, "bad.py", b"x = '\xff\xfe'\n");
    let mut min = b"var a=1;".repeat(1000);
    min.push(b'\n');
    write(r, "app.min.js", &min);
    write(r, "ok.rs", b"fn ok() {}\n");
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    assert_eq!(
        read_source(st.as_ref(), &r.join("bin.rs")),
        Err(SkipReason::Binary)
    );
    assert_eq!(
        read_source(st.as_ref(), &r.join("bad.py")),
        Err(SkipReason::InvalidUtf8)
    );
    assert_eq!(
        read_source(st.as_ref(), &r.join("app.min.js")),
        Err(SkipReason::Minified)
    );
    assert_eq!(
        read_source(st.as_ref(), &r.join("gone.rs")),
        Err(SkipReason::Unreadable)
    );
    assert_eq!(
        read_source(st.as_ref(), &r.join("ok.rs")).unwrap(),
        "fn ok() {}\n"
    );
}

fn check_chunks(text: &str, chunks: &[leann::chunk::Chunk]) {
    for c in chunks {
        assert_eq!(&text[c.start_byte..c.end_byte], c.text);
        let first = text[..c.start_byte].matches('\n').count() as u32 + 1;
        assert_eq!(c.start_line, first, "{c:?}");
        assert!(c.end_line >= c.start_line);
        assert_eq!(c.hash, leann::chunk::split::content_hash(&c.text));
    }
}

#[test]
fn rust_definitions_become_chunks_with_symbols() {
    let mut src = String::from("use std::io;\n\n/// Adds.\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\npub struct Parser {\n    pos: usize,\n}\n\nimpl Parser {\n");
    for m in 0..6 {
        src.push_str(&format!(
            "    /// Method {m}.\n    pub fn method_{m}(&mut self) -> usize {{\n"
        ));
        for i in 0..12 {
            src.push_str(&format!("        self.pos += {i};\n"));
        }
        src.push_str("        self.pos\n    }\n\n");
    }
    src.push_str("}\n");
    let chunks = chunk_text("src/p.rs", Language::Rust, &src);
    check_chunks(&src, &chunks);
    let syms: Vec<String> = chunks.iter().filter_map(|c| c.symbol.clone()).collect();
    assert!(syms.iter().any(|s| s.contains("add")), "{syms:?}");
    assert!(
        syms.iter().any(|s| s.contains("Parser::method_3")),
        "{syms:?}"
    );
    // The big impl was split: no chunk is longer than the size limit.
    assert!(chunks.iter().all(|c| c.end_line - c.start_line < 80));
    assert!(chunks.len() >= 3);
    // Every non-blank line is in some chunk.
    for (i, line) in src.lines().enumerate() {
        let ln = i as u32 + 1;
        if !line.trim().is_empty() {
            assert!(
                chunks
                    .iter()
                    .any(|c| c.start_line <= ln && ln <= c.end_line),
                "line {ln} `{line}` not covered"
            );
        }
    }
}

#[test]
fn every_grammar_finds_its_function() {
    let cases: [(Language, &str, &str); 9] = [
        (
            Language::Rust,
            "fn parse_config(p: &str) -> u32 {\n    1\n}\n",
            "parse_config",
        ),
        (
            Language::Python,
            "class Loader:\n    def load(self):\n        return 1\n",
            "Loader",
        ),
        (
            Language::JavaScript,
            "function sendRequest(url) {\n  return fetch(url);\n}\n",
            "sendRequest",
        ),
        (
            Language::TypeScript,
            "export function verifyToken(t: string): boolean {\n  return t.length > 0;\n}\n",
            "verifyToken",
        ),
        (
            Language::Tsx,
            "function App(): JSX.Element {\n  return <div/>;\n}\n",
            "App",
        ),
        (
            Language::Go,
            "package main\n\nfunc HandleLogin(w int) int {\n\treturn w\n}\n",
            "HandleLogin",
        ),
        (
            Language::Java,
            "class Server {\n  void start() {\n  }\n}\n",
            "Server",
        ),
        (
            Language::C,
            "int open_pool(int n) {\n  return n;\n}\n",
            "open_pool",
        ),
        (
            Language::Cpp,
            "namespace net {\nint connect_socket(int fd) {\n  return fd;\n}\n}\n",
            "net",
        ),
    ];
    for (lang, src, want) in cases {
        let chunks = chunk_text("f", lang, src);
        check_chunks(src, &chunks);
        let syms: Vec<String> = chunks.iter().filter_map(|c| c.symbol.clone()).collect();
        assert!(syms.iter().any(|s| s.contains(want)), "{lang:?}: {syms:?}");
    }
}

/// Issue 15 §3: the grammars added for Ruby, PHP, C#, Kotlin, Swift, Scala,
/// Bash and Lua cut a long class (or file) at its methods, and name each
/// chunk after its method inside its class.
#[test]
fn added_grammars_cut_long_classes_at_their_methods() {
    // (language, file name, head, method template with NAME and BODY, tail,
    // statement line, expected symbol prefix)
    let cases: [(Language, &str, &str, &str, &str, &str, &str); 8] = [
        (
            Language::Ruby,
            "store.rb",
            "class Store\n",
            "  def NAME\nBODY  end\n",
            "end\n",
            "    x = 1\n",
            "Store.",
        ),
        (
            Language::Php,
            "store.php",
            "<?php\nclass Store {\n",
            "  public function NAME() {\nBODY  }\n",
            "}\n",
            "    $x = 1;\n",
            "Store.",
        ),
        (
            Language::CSharp,
            "Store.cs",
            "class Store {\n",
            "  void NAME() {\nBODY  }\n",
            "}\n",
            "    int x = 1;\n",
            "Store.",
        ),
        (
            Language::Kotlin,
            "Store.kt",
            "class Store {\n",
            "  fun NAME() {\nBODY  }\n",
            "}\n",
            "    val x = 1\n",
            "Store.",
        ),
        (
            Language::Swift,
            "Store.swift",
            "class Store {\n",
            "  func NAME() {\nBODY  }\n",
            "}\n",
            "    let x = 1\n",
            "Store.",
        ),
        (
            Language::Scala,
            "Store.scala",
            "class Store {\n",
            "  def NAME(): Unit = {\nBODY  }\n",
            "}\n",
            "    val x = 1\n",
            "Store.",
        ),
        (
            Language::Shell,
            "store.sh",
            "#!/bin/bash\n",
            "NAME() {\nBODY}\n",
            "",
            "  x=1\n",
            "",
        ),
        (
            Language::Lua,
            "store.lua",
            "local Store = {}\n",
            "function Store.NAME()\nBODY end\n",
            "return Store\n",
            "  local x = 1\n",
            "Store.",
        ),
    ];
    let names = ["alpha", "beta", "gamma"];
    for (lang, file, head, method, tail, stmt, prefix) in cases {
        let body = stmt.repeat(30);
        let mut src = head.to_string();
        for n in names {
            src.push_str(&method.replace("NAME", n).replace("BODY", &body));
        }
        src.push_str(tail);
        let chunks = chunk_text(file, lang, &src);
        check_chunks(&src, &chunks);
        for (i, n) in names.iter().enumerate() {
            let want = format!("{prefix}{n}");
            let c = chunks
                .iter()
                .find(|c| {
                    c.symbol
                        .as_deref()
                        .is_some_and(|s| s.split(", ").any(|s| s == want))
                })
                .unwrap_or_else(|| panic!("{lang:?}: no chunk `{want}` in {chunks:#?}"));
            // The chunk holds its method and no other.
            for (j, other) in names.iter().enumerate() {
                let def = method.split("NAME").next().unwrap_or("").to_string() + other;
                assert_eq!(
                    c.text.contains(&def),
                    i == j,
                    "{lang:?} `{want}`: {}",
                    c.text
                );
            }
        }
    }
}

#[test]
fn plain_text_is_windowed_with_overlap() {
    let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    let chunks = chunk_text("notes.md", Language::Markdown, &text);
    check_chunks(&text, &chunks);
    let spans: Vec<(u32, u32)> = chunks.iter().map(|c| (c.start_line, c.end_line)).collect();
    assert_eq!(spans, vec![(1, 40), (31, 70), (61, 100)]);
    assert!(chunk_text("empty.md", Language::Markdown, "  \n\n").is_empty());
}

#[test]
fn dry_run_reports_files_chunks_and_skips() {
    let d = common::tempdir();
    let r = d.path();
    write(
        r,
        "src/a.rs",
        b"fn a() -> u32 {\n    1\n}\n\nfn b() -> u32 {\n    2\n}\n",
    );
    write(r, "lib/x.py", b"def f():\n    return 1\n");
    write(r, "data.bin.rs", b"\0\0\0");
    write(r, "vendor/v.rs", b"fn v() {}\n");
    let root = r.to_str().unwrap();
    let out = leann(&["index", "create", "--input", root, "--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("rust"), "{text}");
    assert!(text.contains("3 files"), "{text}");
    assert!(text.contains("binary: 1"), "{text}");

    let cfg = r.join("cfg.json");
    fs::write(
        &cfg,
        r#"{"filters":{"languages":["python"],"excludePaths":["vendor/"]}}"#,
    )
    .unwrap();
    let out = leann(&[
        "index",
        "create",
        "--input",
        root,
        "--dry-run",
        "--verbose",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("1 files"), "{text}");
    assert!(text.contains("skipped (excluded path): vendor/"), "{text}");

    fs::write(&cfg, r#"{"filters":{"languages":["cobol"]}}"#).unwrap();
    let out = leann(&[
        "index",
        "create",
        "--input",
        root,
        "--dry-run",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("filters.languages[0]") && err.contains("cobol"),
        "{err}"
    );

    fs::write(&cfg, r#"{"filters":{"langauges":["rust"]}}"#).unwrap();
    let out = leann(&[
        "index",
        "create",
        "--input",
        root,
        "--dry-run",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("langauges"));
}

/// Config errors name the field (issue 3, item 5), for every part of the
/// schema: enums, nested objects, the embedding server, filters.
#[test]
fn config_errors_name_the_field() {
    use leann::config::Config;
    let cases = [
        (r#"{"complexity":"extreme"}"#, "complexity"),
        (r#"{"backnd":"hnsw"}"#, "backnd"),
        (
            r#"{"quantization":{"subVectors":"a"}}"#,
            "quantization.subVectors",
        ),
        (
            r#"{"embeddingServer":{"endpoint":"tcp://h:1","batchsize":3}}"#,
            "embeddingServer.batchsize",
        ),
        (
            r#"{"embeddingServer":{"endpoint":"tcp://h:1","batchSize":0}}"#,
            "embeddingServer.batchSize",
        ),
        (
            r#"{"embeddingServer":{"endpoint":"localhost"}}"#,
            "embeddingServer.endpoint",
        ),
        (r#"{"embeddingServer":{"model":"m"}}"#, "embeddingServer"),
        (
            r#"{"filters":{"languages":["rust","cobol"]}}"#,
            "filters.languages[1]",
        ),
        (
            r#"{"anchorSelection":{"type":"spiral"}}"#,
            "anchorSelection.type",
        ),
        (r#"{"storeText":"yes"}"#, "storeText"),
    ];
    for (json, field) in cases {
        let e = Config::from_json(json, "cfg.json").expect_err(json);
        match &e {
            leann::Error::Config { field: f, .. } => {
                assert!(
                    f.contains(field),
                    "{json}: error names `{f}`, expected `{field}`: {e}"
                )
            }
            other => panic!("{json}: not a config error: {other}"),
        }
    }
    // The brief's example configuration is accepted as written.
    let brief = r#"{"backend":"hnsw","complexity":"medium",
        "anchorSelection":{"type":"kmeans","clusters":300,"samples":5000},
        "quantization":{"subVectors":96,"codebookSize":256},
        "embeddingServer":{"endpoint":"tcp://localhost:5555",
            "model":"sentence-transformers/all-MiniLM-L6-v2","batchSize":128,"timeout":30000}}"#;
    let c = Config::from_json(brief, "brief").unwrap();
    assert_eq!(c.embedding_server.unwrap().batch_size, Some(128));
}

/// Every text file is indexed: an unknown extension or a bare name is read
/// and kept as text when it is text; binary content, lock files and the
/// names of binary formats are skipped as not source or text. Components
/// (.svelte, .vue, .astro) are indexed with their scripts' grammar.
#[test]
fn unknown_types_are_sniffed() {
    let d = common::tempdir();
    let r = d.path();
    write(r, "notes.weird", b"deploy steps: build, sign, upload\n");
    write(
        r,
        "Gemfile",
        b"source 'https://rubygems.org'\ngem 'rails'\n",
    );
    write(r, "blob.xyz", b"abc\x00def");
    write(r, "bad.xyz", b"\xff\xfe\xfd text");
    write(r, "empty.xyz", b"");
    write(r, "image.png", b"plain text in a png name");
    write(r, "deps.lock", b"a = 1\n");
    write(
        r,
        "App.svelte",
        b"<script>\nexport let a = 1;\n</script>\n<p>{a}</p>\n",
    );
    let (files, skips) = walk(r, &WalkOptions::default()).unwrap();
    let got: Vec<(&str, Language)> = files.iter().map(|f| (f.rel.as_str(), f.language)).collect();
    assert_eq!(
        got,
        vec![
            ("App.svelte", Language::JavaScript),
            ("Gemfile", Language::Text),
            ("notes.weird", Language::Text),
        ]
    );
    assert_eq!(skips.count(SkipReason::UnknownType), 5, "{skips:?}");
}
