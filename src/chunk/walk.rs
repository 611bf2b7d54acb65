//! Walking a source tree with the `ignore` crate: .gitignore, .ignore and
//! .leannignore are honoured (with or without a git repository), hidden files
//! are off by default, symlinks are followed with loop detection, and every
//! file not listed is counted in `Skips` with its reason. Nothing in a tree
//! makes the walk fail; only an unreadable root does.

use super::source::{SkipReason, Skips};
use crate::error::{Error, Result};
use crate::lang::Language;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

/// Default maximum file size.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug)]
pub struct WalkOptions {
    pub hidden: bool,
    pub max_file_bytes: u64,
    /// Only these languages (empty = all).
    pub languages: Vec<Language>,
    /// Glob patterns of paths to leave out (`node_modules/` = that directory
    /// anywhere; `*.min.js`; `src/gen/**`).
    pub exclude: Vec<String>,
    pub follow_links: bool,
    /// Follow symbolic links whose target is outside the tree (off: such a
    /// link is skipped and counted, so a link to `/` cannot walk the whole
    /// file system).
    pub follow_external_links: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            hidden: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            languages: Vec::new(),
            exclude: Vec::new(),
            follow_links: true,
            follow_external_links: false,
        }
    }
}

/// A file to index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the root, '/'-separated.
    pub rel: String,
    pub abs: PathBuf,
    pub language: Language,
    pub bytes: u64,
    /// Modification time, ns since the Unix epoch, from the walk's stat.
    pub mtime_ns: i64,
}

/// Compile exclude patterns; a pattern ending in '/' names a directory
/// anywhere in the tree, one without '/' matches a name at any depth.
pub fn exclude_set(patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let bad = |e: globset::Error| Error::config("filters.excludePaths", format!("`{p}`: {e}"));
        let p2 = p.trim_start_matches("./");
        let globs: Vec<String> = if let Some(dir) = p2.strip_suffix('/') {
            vec![format!("{dir}/**"), format!("**/{dir}/**")]
        } else if !p2.contains('/') {
            vec![p2.to_string(), format!("**/{p2}")]
        } else {
            vec![p2.to_string()]
        };
        for g in globs {
            b.add(Glob::new(&g).map_err(bad)?);
        }
    }
    b.build()
        .map_err(|e| Error::config("filters.excludePaths", e.to_string()))
}

fn rel_of(root: &Path, p: &Path) -> String {
    rel_str(p.strip_prefix(root).unwrap_or(p))
}

/// `p` relative to `root`, '/'-separated (the form of `FileEntry::rel`);
/// None when `p` is not under `root`.
pub fn rel_under(root: &Path, p: &Path) -> Option<String> {
    p.strip_prefix(root).ok().map(rel_str)
}

fn rel_str(r: &Path) -> String {
    r.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Paths a scoped walk covers (relative, '/'-separated): each named path
/// and everything under those that are directories.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    only: std::collections::BTreeSet<String>,
    /// Every proper ancestor directory of a named path: entered, so that
    /// its ignore files apply, but its other entries are not.
    ancestors: std::collections::HashSet<String>,
}

impl Scope {
    pub fn new(only: &std::collections::BTreeSet<String>) -> Scope {
        let mut ancestors = std::collections::HashSet::new();
        for p in only {
            let mut at = p.len();
            while let Some(i) = p[..at].rfind('/') {
                if !ancestors.insert(p[..i].to_string()) {
                    break;
                }
                at = i;
            }
        }
        Scope {
            only: only.clone(),
            ancestors,
        }
    }

    /// Whether it names no path at all.
    pub fn is_empty(&self) -> bool {
        self.only.is_empty()
    }

    /// Whether `rel` is a named path or lies under one.
    pub fn contains(&self, rel: &str) -> bool {
        in_paths(&self.only, rel)
    }

    /// Whether a walk enters or lists `rel`.
    fn reaches(&self, rel: &str) -> bool {
        rel.is_empty() || self.ancestors.contains(rel) || self.contains(rel)
    }
}

/// Whether `rel` is in `only` or lies under a directory in it.
pub fn in_paths(only: &std::collections::BTreeSet<String>, rel: &str) -> bool {
    if only.contains(rel) {
        return true;
    }
    let mut at = rel.len();
    while let Some(i) = rel[..at].rfind('/') {
        if only.contains(&rel[..i]) {
            return true;
        }
        at = i;
    }
    false
}

/// List the indexable files under `root`, sorted by path, and the skips.
pub fn walk(root: &Path, o: &WalkOptions) -> Result<(Vec<FileEntry>, Skips)> {
    walk_in(root, o, None)
}

/// `walk`, listing only the files in `scope`: the directories on the way
/// to its paths are read (their ignore files apply as in a full walk), no
/// other directory is entered and no other file is looked at, so the cost
/// follows the scope, not the tree.
pub fn walk_scoped(root: &Path, o: &WalkOptions, scope: &Scope) -> Result<(Vec<FileEntry>, Skips)> {
    walk_in(root, o, Some(scope))
}

fn walk_in(root: &Path, o: &WalkOptions, scope: Option<&Scope>) -> Result<(Vec<FileEntry>, Skips)> {
    let (excl, canon_root) = prepare(root, o)?;
    let ctx = Ctx {
        root,
        canon_root: &canon_root,
        o,
        excl: &excl,
    };
    // Hidden and excluded entries are filtered here (not by `ignore`) so they
    // can be counted; directories among them are pruned, never entered. The
    // walk runs on several threads; results are sorted afterwards.
    let found: std::sync::Mutex<(Vec<FileEntry>, Skips)> = Default::default();
    scoped_builder(root, o, scope).build_parallel().run(|| {
        let (found, ctx) = (&found, &ctx);
        Box::new(move |item| {
            let (what, prune) = visit(ctx, item);
            if !matches!(what, Visit::Nothing) {
                // A panic while holding the lock aborts the walk anyway.
                let mut g = found.lock().unwrap_or_else(|e| e.into_inner());
                match what {
                    Visit::File(f) => g.0.push(f),
                    Visit::Skip(r, p) => g.1.add(r, p),
                    Visit::Nothing => {}
                }
            }
            if prune {
                ignore::WalkState::Skip
            } else {
                ignore::WalkState::Continue
            }
        })
    });
    let (mut files, mut skips) = found.into_inner().unwrap_or_else(|e| e.into_inner());
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    for v in skips.by_reason.values_mut() {
        v.sort();
    }
    Ok((files, skips))
}

/// Call `on_dir` with every directory a walk of `root` (or of `scope`'s
/// paths) enters, the root first among them, before the directory's entries
/// are read, so that whatever `on_dir` sets up there (a watch) sees every
/// change made after the walk listed it. Files are not looked at (no stat,
/// no read). `on_dir` returns false to end the walk early. The directories
/// are the ones `walk` would enter: ignore files, the hidden rule and the
/// exclude patterns leave out the same ones.
pub fn walk_dirs(
    root: &Path,
    o: &WalkOptions,
    scope: Option<&Scope>,
    on_dir: &(dyn Fn(&Path) -> bool + Sync),
) -> Result<()> {
    let (excl, canon_root) = prepare(root, o)?;
    let ctx = Ctx {
        root,
        canon_root: &canon_root,
        o,
        excl: &excl,
    };
    scoped_builder(root, o, scope).build_parallel().run(|| {
        let ctx = &ctx;
        Box::new(move |item| {
            let dir = match &item {
                Ok(e) if e.file_type().is_some_and(|t| t.is_dir()) => e.path().to_path_buf(),
                // Files, and entries the walk could not read (counted by
                // `walk`, not here).
                _ => return ignore::WalkState::Continue,
            };
            let (_, prune) = visit(ctx, item);
            if prune {
                ignore::WalkState::Skip
            } else if on_dir(&dir) {
                ignore::WalkState::Continue
            } else {
                ignore::WalkState::Quit
            }
        })
    });
    Ok(())
}

/// Whether a walk of `root` with options `o` would enter the existing
/// directory `target` (both canonical, `target` under `root`): false when an
/// ignore file, the hidden rule or an exclude pattern leaves it (or one of
/// its ancestors) out.
pub fn reaches(root: &Path, o: &WalkOptions, target: &Path) -> Result<bool> {
    let excl = exclude_set(&o.exclude)?;
    let want = target.to_path_buf();
    let walker = builder(root, o)
        .filter_entry(move |e| want.starts_with(e.path()))
        .build();
    for item in walker {
        let Ok(e) = item else { continue };
        let path = e.path();
        if path == root {
            continue;
        }
        let rel = rel_of(root, path);
        let hidden = !o.hidden && e.file_name().to_string_lossy().starts_with('.');
        if hidden || excl.is_match(&rel) || excl.is_match(format!("{rel}/")) {
            return Ok(false);
        }
        if path == target {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `ignore` walker with leann's settings (hidden files and exclude
/// patterns are judged by `visit`, so that they can be counted).
fn builder(root: &Path, o: &WalkOptions) -> ignore::WalkBuilder {
    let mut b = ignore::WalkBuilder::new(root);
    b.hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(false)
        .require_git(false)
        .add_custom_ignore_filename(".leannignore")
        .follow_links(o.follow_links);
    b
}

/// What every walk checks and compiles first: `root` is a directory; the
/// exclude patterns; the root with all links resolved.
fn prepare(root: &Path, o: &WalkOptions) -> Result<(GlobSet, PathBuf)> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io("open input directory", root, e))?;
    if !meta.is_dir() {
        return Err(Error::input(
            root,
            format!("{} is not a directory", root.display()),
        ));
    }
    let excl = exclude_set(&o.exclude)?;
    let canon_root =
        std::fs::canonicalize(root).map_err(|e| Error::io("open input directory", root, e))?;
    Ok((excl, canon_root))
}

/// `builder`, entering only what `scope` reaches when there is one.
fn scoped_builder(root: &Path, o: &WalkOptions, scope: Option<&Scope>) -> ignore::WalkBuilder {
    let mut b = builder(root, o);
    if let Some(scope) = scope {
        let scope = std::sync::Arc::new(scope.clone());
        let base = root.to_path_buf();
        b.filter_entry(move |e| scope.reaches(&rel_of(&base, e.path())));
    }
    b
}

/// What one walked entry is.
enum Visit {
    File(FileEntry),
    Skip(SkipReason, PathBuf),
    Nothing,
}

/// What `visit` needs to know of the walk.
struct Ctx<'a> {
    root: &'a Path,
    canon_root: &'a Path,
    o: &'a WalkOptions,
    excl: &'a GlobSet,
}

/// Classify one entry of the walk; the flag says to prune a directory.
fn visit(
    ctx: &Ctx<'_>,
    item: std::result::Result<ignore::DirEntry, ignore::Error>,
) -> (Visit, bool) {
    let (root, o, excl) = (ctx.root, ctx.o, ctx.excl);
    let entry = match item {
        Ok(e) => e,
        Err(e) => {
            let (reason, path) = classify(&e);
            let p = path
                .map(|p| PathBuf::from(rel_of(root, &p)))
                .unwrap_or_default();
            return (Visit::Skip(reason, p), false);
        }
    };
    let path = entry.path();
    if path == root {
        return (Visit::Nothing, false);
    }
    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
    let Some(name) = entry.file_name().to_str() else {
        // Indexed under a lossy name it would be stale at once: counted.
        let shown = rel_of(root, path);
        return (Visit::Skip(SkipReason::NonUtf8Name, shown.into()), is_dir);
    };
    let rel = rel_of(root, path);
    // A pruned directory is counted once, as `dir/`.
    let shown = if is_dir {
        format!("{rel}/")
    } else {
        rel.clone()
    };
    if !o.hidden && name.starts_with('.') {
        return (Visit::Skip(SkipReason::Hidden, shown.into()), is_dir);
    }
    if excl.is_match(&rel) || (is_dir && excl.is_match(&shown)) {
        return (Visit::Skip(SkipReason::Excluded, shown.into()), is_dir);
    }
    if entry.path_is_symlink() && !o.follow_external_links {
        // Where the link leads, all links resolved: outside the tree, it is
        // skipped (and, a directory, never entered).
        match std::fs::canonicalize(path) {
            Ok(target) if target.starts_with(ctx.canon_root) => {}
            Ok(_) => return (Visit::Skip(SkipReason::ExternalSymlink, shown.into()), true),
            Err(_) => return (Visit::Skip(SkipReason::Unreadable, shown.into()), true),
        }
    }
    let Some(ft) = entry.file_type() else {
        return (Visit::Nothing, false);
    };
    if is_dir {
        return (Visit::Nothing, false);
    }
    if !ft.is_file() {
        // With links followed, a file type that is neither directory nor
        // regular file is a FIFO, socket or device (or a dangling link).
        let reason = if ft.is_symlink() {
            SkipReason::Unreadable
        } else {
            SkipReason::NotRegular
        };
        return (Visit::Skip(reason, rel.into()), false);
    }
    let language = match Language::detect(path) {
        Some(l) => l,
        // Any other file that reads as text is indexed as text (windows).
        None if !Language::never_indexed(path) && sniff_text(path) => Language::Text,
        None => return (Visit::Skip(SkipReason::UnknownType, rel.into()), false),
    };
    if !o.languages.is_empty() && !o.languages.contains(&language) {
        return (Visit::Skip(SkipReason::LanguageFiltered, rel.into()), false);
    }
    // The stat happens before any read of the file, so a file that changes
    // after it shows a newer time than the one recorded for its content.
    let (bytes, mtime_ns) = match entry.metadata() {
        Ok(m) => (m.len(), mtime_ns(&m)),
        Err(_) => return (Visit::Skip(SkipReason::Unreadable, rel.into()), false),
    };
    if bytes > o.max_file_bytes {
        return (Visit::Skip(SkipReason::TooLarge, rel.into()), false);
    }
    (
        Visit::File(FileEntry {
            rel,
            abs: path.to_path_buf(),
            language,
            bytes,
            mtime_ns,
        }),
        false,
    )
}

/// Bytes read from a file of unknown type to decide whether it is text.
pub const SNIFF_BYTES: usize = 8192;

/// Whether a file's first SNIFF_BYTES read as text: not empty, no NUL byte,
/// UTF-8 (a character cut by the end of the probe is allowed). Binary,
/// invalid and minified content is skipped later (`source::vet`) with its
/// reason; this only stops the unknown types that are plainly not text.
fn sniff_text(path: &Path) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = Vec::with_capacity(SNIFF_BYTES);
    if f.take(SNIFF_BYTES as u64).read_to_end(&mut buf).is_err() || buf.is_empty() {
        return false;
    }
    if buf.contains(&0) {
        return false;
    }
    match std::str::from_utf8(&buf) {
        Ok(_) => true,
        // Only an incomplete character at the very end of the probe.
        Err(e) => e.error_len().is_none() && buf.len() == SNIFF_BYTES,
    }
}

/// Modification time in nanoseconds since the Unix epoch (0 when unknown).
pub fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

fn classify(e: &ignore::Error) -> (SkipReason, Option<PathBuf>) {
    match e {
        ignore::Error::Loop { child, .. } => (SkipReason::SymlinkLoop, Some(child.clone())),
        ignore::Error::WithPath { path, err } => (classify(err).0, Some(path.clone())),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            classify(err)
        }
        ignore::Error::Partial(errs) => errs
            .first()
            .map_or((SkipReason::Unreadable, None), classify),
        _ => (SkipReason::Unreadable, None),
    }
}
