//! Reading a source file and deciding whether it is indexable text; the skip
//! reasons every phase of ingestion counts.

use crate::io::Storage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a file was not indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Hidden file or directory (dot name) while hidden files are off.
    Hidden,
    /// Not a language or text type leann indexes.
    UnknownType,
    /// Language not in `filters.languages`.
    LanguageFiltered,
    /// Matched `filters.excludePaths`.
    Excluded,
    /// Larger than the maximum file size.
    TooLarge,
    /// Holds NUL bytes.
    Binary,
    /// Very long lines (minified or generated).
    Minified,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Could not be read (permissions, vanished, I/O error).
    Unreadable,
    /// A symbolic link that loops.
    SymlinkLoop,
    /// A FIFO, socket or device: reading it could block or never end.
    NotRegular,
    /// A symbolic link to a place outside the tree (followed only with
    /// `filters.followExternalSymlinks`).
    ExternalSymlink,
    /// A name that is not valid UTF-8 (it could not be recorded exactly).
    NonUtf8Name,
}

impl SkipReason {
    /// Every reason, in a fixed order (a create checkpoint stores positions).
    pub const ALL: [SkipReason; 13] = [
        SkipReason::Hidden,
        SkipReason::UnknownType,
        SkipReason::LanguageFiltered,
        SkipReason::Excluded,
        SkipReason::TooLarge,
        SkipReason::Binary,
        SkipReason::Minified,
        SkipReason::InvalidUtf8,
        SkipReason::Unreadable,
        SkipReason::SymlinkLoop,
        SkipReason::NotRegular,
        SkipReason::ExternalSymlink,
        SkipReason::NonUtf8Name,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden",
            SkipReason::UnknownType => "not source or text",
            SkipReason::LanguageFiltered => "language filtered out",
            SkipReason::Excluded => "excluded path",
            SkipReason::TooLarge => "too large",
            SkipReason::Binary => "binary",
            SkipReason::Minified => "minified or generated",
            SkipReason::InvalidUtf8 => "invalid UTF-8",
            SkipReason::Unreadable => "unreadable",
            SkipReason::SymlinkLoop => "symlink loop",
            SkipReason::NotRegular => "not a regular file",
            SkipReason::ExternalSymlink => "symlink out of the tree",
            SkipReason::NonUtf8Name => "name not UTF-8",
        }
    }
}

/// Skipped files by reason (paths relative to the walked root).
#[derive(Clone, Debug, Default)]
pub struct Skips {
    pub by_reason: BTreeMap<SkipReason, Vec<PathBuf>>,
}

impl Skips {
    pub fn add(&mut self, r: SkipReason, p: PathBuf) {
        self.by_reason.entry(r).or_default().push(p);
    }
    pub fn count(&self, r: SkipReason) -> usize {
        self.by_reason.get(&r).map_or(0, |v| v.len())
    }
    pub fn total(&self) -> usize {
        self.by_reason.values().map(|v| v.len()).sum()
    }
    /// One line per reason: "binary: 3, too large: 1".
    pub fn summary(&self) -> String {
        self.by_reason
            .iter()
            .map(|(r, v)| format!("{}: {}", r.label(), v.len()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Bytes looked at for NUL bytes.
const BINARY_PROBE_BYTES: usize = 8192;
/// A line this long marks minified or generated text.
pub const MINIFIED_LINE_BYTES: usize = 4000;
/// Mean line length above which a file counts as minified.
const MINIFIED_MEAN_LINE_BYTES: usize = 500;

/// Read a file and vet it: Ok(text) or the reason to skip it.
pub fn read_source(storage: &dyn Storage, abs: &Path) -> Result<String, SkipReason> {
    let bytes = storage.read_all(abs).map_err(|_| SkipReason::Unreadable)?;
    vet(bytes)
}

/// Decide whether bytes are indexable text.
pub fn vet(bytes: Vec<u8>) -> Result<String, SkipReason> {
    if bytes[..bytes.len().min(BINARY_PROBE_BYTES)].contains(&0) {
        return Err(SkipReason::Binary);
    }
    let text = String::from_utf8(bytes).map_err(|_| SkipReason::InvalidUtf8)?;
    let lines = text.lines().count().max(1);
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    if longest > MINIFIED_LINE_BYTES
        || (text.len() / lines > MINIFIED_MEAN_LINE_BYTES && text.len() > 2000)
    {
        return Err(SkipReason::Minified);
    }
    Ok(text)
}
