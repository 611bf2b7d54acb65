//! Languages by file name.

use std::path::Path;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    C,
    Cpp,
    Markdown,
    Toml,
    Yaml,
    Json,
    Shell,
    Html,
    Css,
    Sql,
    Ruby,
    Php,
    Kotlin,
    Swift,
    Scala,
    CSharp,
    Lua,
    Text,
}

impl Language {
    /// The name users type in filters (`--lang`, `filters.languages`).
    pub fn name(self) -> &'static str {
        use Language::*;
        match self {
            Rust => "rust",
            Python => "python",
            JavaScript => "javascript",
            TypeScript => "typescript",
            Tsx => "tsx",
            Go => "go",
            Java => "java",
            C => "c",
            Cpp => "cpp",
            Markdown => "markdown",
            Toml => "toml",
            Yaml => "yaml",
            Json => "json",
            Shell => "shell",
            Html => "html",
            Css => "css",
            Sql => "sql",
            Ruby => "ruby",
            Php => "php",
            Kotlin => "kotlin",
            Swift => "swift",
            Scala => "scala",
            CSharp => "csharp",
            Lua => "lua",
            Text => "text",
        }
    }

    /// Every language, for messages listing the valid names.
    pub const ALL: [Language; 25] = {
        use Language::*;
        [
            Rust, Python, JavaScript, TypeScript, Tsx, Go, Java, C, Cpp, Markdown, Toml, Yaml,
            Json, Shell, Html, Css, Sql, Ruby, Php, Kotlin, Swift, Scala, CSharp, Lua, Text,
        ]
    };

    /// Stable code stored in index files (SPEC.md, "Language codes"): the
    /// position in `ALL`.
    pub fn code(self) -> u8 {
        // ALL holds every variant exactly once (25 < 256).
        Language::ALL.iter().position(|&l| l == self).unwrap_or(0) as u8
    }

    pub fn from_code(c: u8) -> Option<Language> {
        Language::ALL.get(c as usize).copied()
    }

    /// Parse a list of filter names; an unknown one is a config error naming
    /// `field[i]` and listing the valid names.
    pub fn parse_names(names: &[String], field: &str) -> crate::Result<Vec<Language>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Language::from_name(n).ok_or_else(|| {
                    crate::Error::config(
                        format!("{field}[{i}]"),
                        format!(
                            "unknown language `{n}` (one of: {})",
                            Language::ALL.map(|l| l.name()).join(", ")
                        ),
                    )
                })
            })
            .collect()
    }

    /// Parse a filter name; a few common aliases are accepted.
    pub fn from_name(s: &str) -> Option<Language> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "rs" => "rust",
            "py" => "python",
            "js" => "javascript",
            "ts" => "typescript",
            "c++" | "cxx" => "cpp",
            "md" => "markdown",
            "yml" => "yaml",
            "sh" | "bash" => "shell",
            "c#" | "cs" => "csharp",
            other => other,
        };
        Language::ALL.iter().copied().find(|l| l.name() == alias)
    }

    /// Whether a file is never indexed whatever its content: lock files,
    /// checksum lists and the binary formats (images, archives, objects,
    /// fonts, media, databases) whose names say so; the walker reads (sniffs)
    /// every other file `detect` does not know.
    pub fn never_indexed(path: &Path) -> bool {
        let Some(name) = path.file_name() else {
            return true;
        };
        let name = name.to_string_lossy().to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "cargo.lock"
                | "package-lock.json"
                | "yarn.lock"
                | "pnpm-lock.yaml"
                | "poetry.lock"
                | "go.sum"
        ) {
            return true;
        }
        let Some((_, ext)) = name.rsplit_once('.') else {
            return false;
        };
        matches!(
            ext,
            "lock"
                | "map"
                | "png"
                | "jpg"
                | "jpeg"
                | "gif"
                | "ico"
                | "webp"
                | "bmp"
                | "tif"
                | "tiff"
                | "psd"
                | "pdf"
                | "zip"
                | "gz"
                | "tgz"
                | "bz2"
                | "xz"
                | "zst"
                | "7z"
                | "tar"
                | "rar"
                | "jar"
                | "war"
                | "class"
                | "o"
                | "a"
                | "so"
                | "dylib"
                | "dll"
                | "exe"
                | "wasm"
                | "woff"
                | "woff2"
                | "ttf"
                | "otf"
                | "eot"
                | "mp3"
                | "mp4"
                | "mov"
                | "avi"
                | "webm"
                | "ogg"
                | "wav"
                | "flac"
                | "pyc"
                | "pyo"
                | "db"
                | "sqlite"
                | "bin"
                | "dat"
                | "npy"
                | "npz"
                | "pkl"
                | "parquet"
                | "onnx"
                | "safetensors"
                | "pt"
                | "idx"
                | "pack"
                | "iso"
                | "dmg"
                | "deb"
                | "rpm"
        )
    }

    /// Whether a file of this language at `path` is prose (documentation
    /// rather than code): Markdown and reStructuredText, and plain text that
    /// is a README, changelog or similar by name or a `.txt`/`.adoc` file.
    /// Other text (Makefiles, configs, sniffed files of unknown types,
    /// which may well be code) is not. Fusion caps prose in a ranking
    /// (`search::fusion::cap_prose`).
    pub fn is_prose(self, path: &str) -> bool {
        match self {
            Language::Markdown => true,
            Language::Text => {
                let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
                let ext = name.rsplit_once('.').map(|(_, e)| e);
                matches!(
                    ext,
                    Some("txt" | "text" | "adoc" | "asciidoc" | "org" | "rdoc")
                ) && name != "cmakelists.txt"
                    || [
                        "readme",
                        "changelog",
                        "changes",
                        "history",
                        "news",
                        "contributing",
                        "authors",
                        "license",
                        "copying",
                        "notice",
                    ]
                    .iter()
                    .any(|p| name.starts_with(p))
            }
            _ => false,
        }
    }

    /// Language of a file, by extension or well-known name; None for files
    /// that are not source or text we index (images, archives, lock files...).
    pub fn detect(path: &Path) -> Option<Language> {
        use Language::*;
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        match name.as_str() {
            "makefile" | "dockerfile" | "readme" | "license" | "cmakelists.txt" => {
                return Some(Text)
            }
            "cargo.lock" | "package-lock.json" | "yarn.lock" | "pnpm-lock.yaml" | "poetry.lock" => {
                return None
            }
            _ => {}
        }
        let ext = name.rsplit_once('.')?.1;
        Some(match ext {
            "rs" => Rust,
            "py" | "pyi" => Python,
            // Single-file components: their scripts are chunked with the
            // JavaScript or TypeScript grammar (chunk::component).
            "js" | "mjs" | "cjs" | "jsx" | "svelte" | "vue" | "astro" => JavaScript,
            "ts" | "mts" | "cts" => TypeScript,
            "tsx" => Tsx,
            "go" => Go,
            "java" => Java,
            "c" | "h" => C,
            "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" | "ipp" => Cpp,
            "md" | "markdown" | "rst" => Markdown,
            "toml" => Toml,
            "yaml" | "yml" => Yaml,
            "json" => Json,
            "sh" | "bash" | "zsh" => Shell,
            "html" | "htm" => Html,
            "css" | "scss" | "less" => Css,
            "sql" => Sql,
            "rb" => Ruby,
            "php" => Php,
            "kt" | "kts" => Kotlin,
            "swift" => Swift,
            "scala" => Scala,
            "cs" => CSharp,
            "lua" => Lua,
            "txt" | "cfg" | "ini" | "proto" | "graphql" | "gradle" | "cmake" => Text,
            _ => return None,
        })
    }
}
