//! A generated monorepo for the scale benchmark (`benches/scale.rs`): real
//! source files copied into packages, each copy with about 15% of its
//! distinct identifiers renamed, so that every file's content hash and
//! vectors differ from its original's and from its other copies'.
//!
//! Deterministic: the same source files (by path, sorted), file count and
//! seed give the same tree, byte for byte.

use crate::error::{Error, Result};
use crate::lang::Language;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Largest source file copied (bigger ones are generated code or data).
pub const MAX_SOURCE_FILE_BYTES: u64 = 256 * 1024;

/// What to generate.
#[derive(Clone, Debug)]
pub struct MonorepoSpec {
    pub files: usize,
    pub seed: u64,
    /// Files per package directory (`packages/pkg-NNNNN/`).
    pub files_per_package: usize,
    /// Share of a file's distinct identifiers that are renamed, per mille.
    pub rename_per_mille: u64,
}

impl MonorepoSpec {
    pub fn new(files: usize, seed: u64) -> MonorepoSpec {
        MonorepoSpec {
            files,
            seed,
            files_per_package: 200,
            rename_per_mille: 150,
        }
    }
}

/// What was generated.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Paths of the generated files, relative to the output root, in
    /// generation order.
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

/// The source files under `roots` that leann indexes (by
/// `Language::detect`, non-empty, at most `MAX_SOURCE_FILE_BYTES`),
/// gitignore-aware, sorted by path.
pub fn source_pool(roots: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut pool = Vec::new();
    for root in roots {
        if !root.is_dir() {
            return Err(Error::Argument {
                arg: "--source".into(),
                why: format!("{} is not a directory", root.display()),
            });
        }
        for entry in ignore::WalkBuilder::new(root).build() {
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let p = entry.path();
            if Language::detect(p).is_none() || Language::never_indexed(p) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.len() == 0 || meta.len() > MAX_SOURCE_FILE_BYTES {
                continue;
            }
            pool.push(p.to_path_buf());
        }
    }
    pool.sort();
    pool.dedup();
    Ok(pool)
}

/// Writes `spec.files` files under `out` (which should be empty), copied
/// from `pool` in a seeded order (every source once before any twice) and
/// mutated by `mutate`. Files are named after their source with the file's
/// number, so copies never collide.
pub fn generate(pool: &[PathBuf], out: &Path, spec: &MonorepoSpec) -> Result<Generated> {
    if pool.is_empty() {
        return Err(Error::Argument {
            arg: "--source".into(),
            why: "no source files to copy into the monorepo".into(),
        });
    }
    let mut order: Vec<usize> = (0..pool.len()).collect();
    crate::ann::rng::Rng::new(spec.seed).shuffle(&mut order);
    let plan: Vec<(PathBuf, PathBuf)> = (0..spec.files)
        .map(|i| {
            let src = &pool[order[i % order.len()]];
            (src.clone(), out.join(dest_name(src, i, spec)))
        })
        .collect();
    let bytes: Vec<u64> = plan
        .par_iter()
        .enumerate()
        .map(|(i, (src, dst))| -> Result<u64> {
            let text = std::fs::read(src).map_err(|e| Error::io("read", src, e))?;
            let body = mutate(&text, spec.seed, i as u64, spec.rename_per_mille);
            if let Some(dir) = dst.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
            }
            std::fs::write(dst, &body).map_err(|e| Error::io("write", dst, e))?;
            Ok(body.len() as u64)
        })
        .collect::<Result<_>>()?;
    Ok(Generated {
        files: plan
            .into_iter()
            .map(|(_, d)| d.strip_prefix(out).map(Path::to_path_buf).unwrap_or(d))
            .collect(),
        bytes: bytes.iter().sum(),
    })
}

/// `packages/pkg-NNNNN/<source's parent dir name>/<stem>_<i>.<ext>`.
fn dest_name(src: &Path, i: usize, spec: &MonorepoSpec) -> PathBuf {
    let pkg = i / spec.files_per_package.max(1);
    let parent = src
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "src".into());
    let name = src
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}_{i}.{ext}"),
        _ => format!("{name}_{i}"),
    };
    Path::new("packages")
        .join(format!("pkg-{pkg:05}"))
        .join(parent)
        .join(file)
}

/// Words of the eight tree-sitter languages that renaming would turn into
/// syntax errors; never renamed.
const KEYWORDS: &[&str] = &[
    "abstract",
    "and",
    "as",
    "assert",
    "async",
    "auto",
    "await",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "crate",
    "def",
    "default",
    "defer",
    "del",
    "delete",
    "do",
    "double",
    "dyn",
    "elif",
    "else",
    "enum",
    "except",
    "export",
    "extends",
    "extern",
    "false",
    "final",
    "finally",
    "float",
    "for",
    "from",
    "func",
    "function",
    "global",
    "go",
    "goto",
    "if",
    "impl",
    "implements",
    "import",
    "in",
    "inline",
    "instanceof",
    "int",
    "interface",
    "is",
    "lambda",
    "let",
    "long",
    "loop",
    "map",
    "match",
    "mod",
    "module",
    "mut",
    "namespace",
    "new",
    "nil",
    "None",
    "nonlocal",
    "not",
    "null",
    "or",
    "package",
    "pass",
    "private",
    "protected",
    "pub",
    "public",
    "raise",
    "range",
    "ref",
    "return",
    "select",
    "self",
    "Self",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "super",
    "switch",
    "template",
    "this",
    "throw",
    "throws",
    "trait",
    "True",
    "False",
    "true",
    "try",
    "type",
    "typedef",
    "typeof",
    "union",
    "unsafe",
    "unsigned",
    "use",
    "using",
    "var",
    "virtual",
    "void",
    "volatile",
    "where",
    "while",
    "with",
    "yield",
];

/// `text` with about `per_mille`/1000 of its distinct identifiers (3 or
/// more characters, not keywords) renamed consistently within the file:
/// `name` becomes `name_xxxx`, `xxxx` from a hash of (seed, file, name).
pub fn mutate(text: &[u8], seed: u64, file: u64, per_mille: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < text.len() && (text[i].is_ascii_alphanumeric() || text[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            out.extend_from_slice(word);
            if word.len() >= 3 && !is_keyword(word) {
                let h = mix(seed ^ mix(file) ^ fnv1a(word));
                if h % 1000 < per_mille {
                    out.push(b'_');
                    for k in 0..4 {
                        out.push(b'a' + ((h >> (16 + 5 * k)) % 26) as u8);
                    }
                }
            }
        } else if c.is_ascii_digit() {
            // A number's letters (0x1f, 10u32) are not identifiers.
            while i < text.len() && (text[i].is_ascii_alphanumeric() || text[i] == b'_') {
                out.push(text[i]);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_keyword(w: &[u8]) -> bool {
    std::str::from_utf8(w).is_ok_and(|s| KEYWORDS.contains(&s))
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Appends one comment line (in the file's comment syntax) naming `round`
/// to each of `files` under `root`: an edit the update steps must find.
pub fn edit_files(root: &Path, files: &[PathBuf], round: u64) -> Result<()> {
    files.par_iter().try_for_each(|rel| {
        let p = root.join(rel);
        let mut body = std::fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
        let hash = matches!(
            Language::detect(&p),
            Some(
                Language::Python
                    | Language::Shell
                    | Language::Ruby
                    | Language::Toml
                    | Language::Yaml
                    | Language::Text
                    | Language::Markdown
            )
        );
        if !body.ends_with(b"\n") {
            body.push(b'\n');
        }
        let marker = if hash { "#" } else { "//" };
        body.extend_from_slice(format!("{marker} edited in round {round}\n").as_bytes());
        std::fs::write(&p, body).map_err(|e| Error::io("write", &p, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_renames_about_the_asked_share_consistently() {
        let src: String = (0..400)
            .map(|i| format!("let value_{i} = compute_{i}(value_{i});\n"))
            .collect();
        let a = mutate(src.as_bytes(), 7, 3, 150);
        assert_eq!(a, mutate(src.as_bytes(), 7, 3, 150), "not deterministic");
        assert_ne!(a, mutate(src.as_bytes(), 7, 4, 150), "files not distinct");
        let text = String::from_utf8(a).unwrap();
        let mut renamed = 0;
        for (line, i) in text.lines().zip(0..) {
            // Keywords stay; a renamed name is renamed at each use.
            assert!(line.starts_with("let "), "{line}");
            let first = line.split_whitespace().nth(1).unwrap();
            assert!(first.starts_with(&format!("value_{i}")), "{line}");
            assert_eq!(line.matches(first).count(), 2, "{line}");
            renamed += (first != format!("value_{i}")) as usize;
        }
        // 400 names, each renamed with probability 0.15: 60 expected.
        assert!((30..=95).contains(&renamed), "{renamed} of 400 renamed");
        assert_eq!(mutate(b"0x1fab + 10u32", 1, 1, 1000), b"0x1fab + 10u32");
    }

    #[test]
    fn generation_is_deterministic_and_edits_are_appended() {
        let src = tempfile::tempdir().unwrap();
        for (name, body) in [
            (
                "a/lib.rs",
                "fn parse_args() -> Options { Options::default() }\n",
            ),
            (
                "b/util.py",
                "def read_config(path):\n    return open(path).read()\n",
            ),
            ("b/image.png", "not source"),
        ] {
            let p = src.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let pool = source_pool(&[src.path().to_path_buf()]).unwrap();
        assert_eq!(pool.len(), 2, "{pool:?}");
        let spec = MonorepoSpec {
            files_per_package: 3,
            ..MonorepoSpec::new(7, 5)
        };
        let (o1, o2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let g1 = generate(&pool, o1.path(), &spec).unwrap();
        let g2 = generate(&pool, o2.path(), &spec).unwrap();
        assert_eq!(g1.files, g2.files);
        assert_eq!(g1.files.len(), 7);
        for f in &g1.files {
            assert_eq!(
                std::fs::read(o1.path().join(f)).unwrap(),
                std::fs::read(o2.path().join(f)).unwrap()
            );
        }
        assert!(g1.files[6].starts_with("packages/pkg-00002"));
        let py = g1
            .files
            .iter()
            .find(|f| f.extension().unwrap() == "py")
            .unwrap();
        edit_files(o1.path(), std::slice::from_ref(py), 9).unwrap();
        let body = std::fs::read_to_string(o1.path().join(py)).unwrap();
        assert!(body.ends_with("\n# edited in round 9\n"), "{body}");
    }
}
