//! `leann index update`: bring a tree index up to date with its tree through
//! the write-ahead log. Changed files are found by content: a file whose
//! indexed chunks no longer match their hashes at their byte ranges (or that
//! grew past its last chunk) is re-chunked; its old chunks are deleted by path
//! and its new ones upserted. New files are added, removed files deleted.
//! Files whose stamp (size, modification time, digest of their chunks: see
//! `stamps`) vouches for them are not read at all.
//! Chunks whose content (hash) the index already holds are not embedded
//! again (moved or copied code, the unchanged parts of an edited file): they
//! reuse the vector of a delta upsert with that hash, or else the PQ
//! reconstruction of a segment node with it, logged as a reused upsert that
//! searches score exactly by recomputing it (SPEC.md, record kind 6).

use crate::chunk::{chunk_text, split::content_hash, walk, Chunk};
use crate::error::{Error, Result};
use crate::format::stamps::{Stamp, Stamps};
use crate::format::wal::{Record, UpsertChunk};
use crate::io::Storage;
use crate::search::searcher::Searcher;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Debug, Default)]
pub struct UpdateReport {
    pub files_scanned: usize,
    /// Files taken as unchanged from their stamps, without reading them.
    pub files_trusted: usize,
    /// Why the stamps were not used, when they were damaged.
    pub stamps_note: Option<String>,
    pub files_changed: usize,
    pub files_added: usize,
    pub files_removed: usize,
    pub chunks_upserted: usize,
    pub chunks_embedded: usize,
    /// Chunks whose vector came from the embedding cache instead of the
    /// embedder: a log upsert's vector, or (`chunks_reused_from_segments` of
    /// them) a segment node's PQ reconstruction.
    pub chunks_reused: usize,
    pub chunks_reused_from_segments: usize,
    /// Paths whose chunks in the index were collected (to check files
    /// against, or to delete): every path the index holds, unless the
    /// update is scoped or the stamps' index state holds (SPEC.md T-6).
    pub paths_viewed: usize,
    pub seconds: f64,
    /// Phases: walking the tree, collecting the index's chunks by path,
    /// checking files against them, embedding, writing the log.
    pub walk_seconds: f64,
    pub known_seconds: f64,
    pub check_seconds: f64,
    pub embed_seconds: f64,
    pub write_seconds: f64,
}

/// A live chunk of the index: where it is and its hash.
struct Known {
    start_byte: u32,
    byte_len: u32,
    hash: [u8; 16],
    /// Segment and node holding it (`None`: a log upsert).
    node: Option<(usize, u32)>,
}

/// Live chunks by path (of the paths in scope) and the largest id ever used.
struct KnownState {
    by_path: BTreeMap<String, Vec<Known>>,
    max_id: u64,
}

/// A vector from the embedding cache, and whether it is exact.
type Cached = (Vec<f32>, bool);

fn known_chunks(s: &Searcher, scope: Option<&crate::chunk::walk::Scope>) -> Result<KnownState> {
    let idx = &s.index;
    let mut by_path: BTreeMap<String, Vec<Known>> = BTreeMap::new();
    let mut max_id = 0u64;
    for (si, seg) in idx.segments.iter().enumerate() {
        let Some(store) = seg.chunks.as_ref() else {
            continue;
        };
        if scope.is_some_and(|sc| sc.is_empty()) {
            max_id = max_id.max(seg.ids.iter().max().unwrap_or(0));
            continue;
        }
        // Scope by path-table entry, once per segment.
        let wanted: Option<Vec<bool>> = match scope {
            Some(sc) => {
                let mut w = Vec::with_capacity(store.n_paths());
                store.for_each_path(|_, _, p| w.push(sc.contains(p)))?;
                Some(w)
            }
            None => None,
        };
        max_id = max_id.max(seg.ids.iter().max().unwrap_or(0));
        // With the node list by path (format 1.8) only the scope's nodes
        // are read; otherwise every record names its path.
        let nodes: Vec<u32> = match &wanted {
            Some(w) if store.is_indexed() => {
                let mut v = Vec::new();
                for (p, _) in w.iter().enumerate().filter(|(_, &on)| on) {
                    v.extend(store.nodes_of_path(p as u32)?.unwrap_or_default());
                }
                v.sort_unstable();
                v
            }
            _ => (0..seg.ids.len() as u32).collect(),
        };
        for n in nodes {
            let id = seg.ids.get(n as usize);
            if !idx.node_visible(si, n as usize) {
                continue;
            }
            if let Some(w) = &wanted {
                if !store.is_indexed() && !w[store.path_of(n)? as usize] {
                    continue;
                }
            }
            // A live id in the delta is described there, not here.
            if idx.delta.upserts.contains_key(&id) {
                continue;
            }
            let c = store.info(n)?;
            by_path.entry(c.path.to_string()).or_default().push(Known {
                start_byte: c.start_byte,
                byte_len: c.byte_len,
                hash: c.hash,
                node: Some((si, n)),
            });
        }
    }
    for (&id, e) in &idx.delta.upserts {
        max_id = max_id.max(id);
        if let Some(c) = &e.chunk {
            if scope.is_some_and(|sc| !sc.contains(&c.path)) {
                continue;
            }
            by_path.entry(c.path.clone()).or_default().push(Known {
                start_byte: c.start_byte,
                byte_len: c.byte_len,
                hash: c.hash,
                node: None,
            });
        }
    }
    for &id in &idx.delta.shadowed_ids {
        max_id = max_id.max(id);
    }
    Ok(KnownState { by_path, max_id })
}

/// Vectors of the delta's upserts whose content hash is in `want` (the
/// embedding cache's first level), each with whether it is exact; the
/// latest upsert of a content wins. Only the wanted ones are copied.
fn delta_vectors_by_hash(
    idx: &crate::engine::index::Index,
    want: &HashSet<[u8; 16]>,
) -> HashMap<[u8; 16], Cached> {
    let mut out = HashMap::new();
    if want.is_empty() {
        return out;
    }
    for e in idx.delta.upserts.values() {
        if let Some(c) = e.chunk.as_ref().filter(|c| want.contains(&c.hash)) {
            out.insert(c.hash, (e.vector.clone(), e.exact));
        }
    }
    out
}

/// PQ reconstructions of segment nodes whose content hash is in `want` (one
/// per hash). Without a scope, any node, live or hidden, holds that
/// content's vector: every record is read. With one (`scoped`: the chunks
/// of the paths in scope), only those chunks are looked at, so an update of
/// a few files reads a few records: content moved within the scope (a
/// rename that `--git-diff` reports names both paths) is still found, and
/// content copied from a file outside it is embedded again.
fn segment_vectors_by_hash(
    idx: &crate::engine::index::Index,
    want: &HashSet<[u8; 16]>,
    scoped: Option<&BTreeMap<String, Vec<Known>>>,
) -> Result<HashMap<[u8; 16], Vec<f32>>> {
    let mut out = HashMap::new();
    let Some(known) = scoped else {
        for seg in &idx.segments {
            let Some(store) = seg.chunks.as_ref() else {
                continue;
            };
            for n in 0..store.len() as u32 {
                let r = store.record(n)?;
                if want.contains(&r.hash) && !out.contains_key(&r.hash) {
                    out.insert(r.hash, seg.reconstruct(n)?);
                }
            }
        }
        return Ok(out);
    };
    for k in known.values().flatten() {
        let Some((si, n)) = k.node else {
            continue;
        };
        if want.contains(&k.hash) && !out.contains_key(&k.hash) {
            let seg = idx
                .segments
                .get(si)
                .ok_or_else(|| crate::error::Error::internal("known chunk of no segment"))?;
            out.insert(k.hash, seg.reconstruct(n)?);
        }
    }
    Ok(out)
}

/// What the check found for one walked file.
enum Outcome {
    /// Its stamp vouches for it: not read.
    Trusted,
    /// Outside the paths to re-examine: not read.
    Skipped,
    /// Read: the index's chunks for it still match.
    Unchanged,
    /// Read: (re)index these chunks (none: drop the file's chunks).
    Changed(Vec<Chunk>),
    Unreadable,
}

/// Whether `bytes` still hold exactly the chunks `known` describes.
fn unchanged(bytes: &[u8], known: &[Known]) -> bool {
    let mut end = 0usize;
    for k in known {
        let a = k.start_byte as usize;
        let b = a + k.byte_len as usize;
        if b > bytes.len() {
            return false;
        }
        let Ok(t) = std::str::from_utf8(&bytes[a..b]) else {
            return false;
        };
        if content_hash(t) != k.hash {
            return false;
        }
        end = end.max(b);
    }
    // Anything but whitespace after the last chunk is new content.
    bytes[end..].iter().all(|b| b.is_ascii_whitespace())
}

/// Update `s`'s index from the tree at `input` (default: the indexed root).
pub fn update_from_tree(
    s: &mut Searcher,
    storage: &dyn Storage,
    input: Option<&Path>,
) -> Result<UpdateReport> {
    update_paths(s, storage, input, None)
}

/// The tree an update reads: `input` (canonical), or the one the index was
/// built from.
pub fn tree_root(s: &Searcher, input: Option<&Path>) -> Result<std::path::PathBuf> {
    match input {
        Some(p) => std::fs::canonicalize(p).map_err(|e| Error::io("open input tree", p, e)),
        None => s.root().map(Path::to_path_buf).ok_or_else(|| {
            Error::argument(
                "--input",
                "the index records no source tree: pass --input DIR",
            )
        }),
    }
}

/// Paths (relative to the tree's root) that `git diff --name-status A B`
/// names: a rename counts as its old path (gone) and its new path (added).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GitChanges {
    pub paths: std::collections::BTreeSet<String>,
    pub renames: usize,
    /// B is not the commit checked out (files are read from the tree on disk).
    pub b_is_not_head: bool,
}

fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| Error::io("run git", Path::new("git"), e))?;
    if !out.status.success() {
        return Err(Error::git(
            root,
            format!(
                "`git -C {} {}` failed: {}",
                root.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(out.stdout)
}

/// Run `git diff --name-status -M A B` in `root` (paths relative to it, only
/// those under it).
pub fn git_changes(root: &Path, a: &str, b: &str) -> Result<GitChanges> {
    let out = git(
        root,
        &[
            "diff",
            "--name-status",
            "-z",
            "-M",
            "--relative",
            a,
            b,
            "--",
        ],
    )?;
    let mut fields = out
        .split(|&c| c == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut ch = GitChanges::default();
    while let Some(status) = fields.next() {
        let mut path = || {
            fields.next().ok_or_else(|| {
                Error::git(
                    root,
                    format!("git diff output ends after status {status:?}"),
                )
            })
        };
        match status.chars().next() {
            // Renamed or copied: old and new path.
            Some('R') => {
                ch.paths.insert(path()?);
                ch.paths.insert(path()?);
                ch.renames += 1;
            }
            Some('C') => {
                path()?;
                ch.paths.insert(path()?);
            }
            Some('A' | 'M' | 'D' | 'T' | 'U' | 'X') => {
                ch.paths.insert(path()?);
            }
            _ => {
                return Err(Error::git(
                    root,
                    format!("git diff: unknown status {status:?}"),
                ))
            }
        }
    }
    let head = git(root, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    let bb = git(root, &["rev-parse", "--verify", &format!("{b}^{{commit}}")])?;
    ch.b_is_not_head = head != bb;
    Ok(ch)
}

/// `update_from_tree`, re-examining only the paths in `only` (when given)
/// and everything under those that are directories: every other walked file
/// is taken as unchanged without being read.
pub fn update_paths(
    s: &mut Searcher,
    storage: &dyn Storage,
    input: Option<&Path>,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<UpdateReport> {
    let t0 = Instant::now();
    // Under the writer lock from here on (L-1): the chunks and ids below are
    // the index's as of now, and no other writer changes them meanwhile.
    s.lock_writes()?;
    let root = tree_root(s, input)?;
    let opts = s.index.config.walk_options()?;
    let taken_ns = crate::engine::stamps::now_ns();
    // With paths to re-examine, only they are walked (issue 16 §4: the cost
    // follows the change, not the tree).
    let scope = only.map(crate::chunk::walk::Scope::new);
    let (files, _skips) = match &scope {
        Some(sc) => crate::chunk::walk::walk_scoped(&root, &opts, sc)?,
        None => walk(&root, &opts)?,
    };
    let walk_seconds = t0.elapsed().as_secs_f64();
    let dir = s.index.dir.clone();
    // A scoped update (`--git-diff`, `--watch`) reads every file it names
    // and leaves FILES alone (SPEC.md "File stamps", T-5): the entries of
    // the files it changed then fail T-2 or T-4, so the next whole-tree
    // update reads those files again, and only those. Its cost is the
    // change's, not the stamps table's (issue 16 §4).
    // FILES is read through its mapping and joined with the sorted walk, so
    // no table of all its entries is built (issue 16 §2): per walked file
    // its stamp, if any; the stamped paths that were not walked and whose
    // index chunks were not nothing (to delete them); the entry count.
    let mut stamp_of: Vec<Option<Stamp>> = Vec::new();
    let mut unwalked: Vec<String> = Vec::new();
    let mut n_stamps = 0usize;
    let mut stamps_note = None;
    let mut head = None;
    if scope.is_none() {
        let read = crate::engine::stamps::open_mapped(storage, &dir, &root).and_then(|m| {
            let Some(m) = m else {
                return Ok(None);
            };
            stamp_of = vec![None; files.len()];
            let none = crate::engine::stamps::digest([]);
            let mut i = 0;
            m.head.for_each(&m.path, &m.map, |e| {
                n_stamps += 1;
                while i < files.len() && files[i].rel.as_str() < e.path {
                    i += 1;
                }
                if files.get(i).is_some_and(|f| f.rel == e.path) {
                    stamp_of[i] = Some(Stamp {
                        path: String::new(),
                        size: e.size,
                        mtime_ns: e.mtime_ns,
                        digest: e.digest,
                    });
                    i += 1;
                } else if e.digest != none {
                    unwalked.push(e.path.to_string());
                }
                Ok(())
            })?;
            Ok(Some(m.head))
        });
        match read {
            Ok(h) => head = h,
            Err(e) => stamps_note = Some(format!("file stamps ignored: {e}")),
        }
        if head.is_none() {
            stamp_of.clear();
            unwalked.clear();
            n_stamps = 0;
        }
    }
    let stamp_at = |i: usize| stamp_of.get(i).and_then(|s| s.as_ref());
    let stamps_taken = head.as_ref().map_or(0, |h| h.taken_ns);
    // T-6: while the index is in the stamps' state (same manifest, log only
    // appended to), a path the delta does not name still holds the chunks
    // its digest describes, so T-4 needs no look at the index for it.
    let recorded = head.as_ref().and_then(|h| h.state);
    let state_holds = match &recorded {
        Some(r) => {
            let (now, logs) = crate::engine::dir::index_state(storage, &dir)?;
            crate::engine::stamps::state_holds(r, &now, &logs)
        }
        None => false,
    };
    let touched = if state_holds {
        s.index.delta_paths()?
    } else {
        HashSet::new()
    };
    let vouched = |i: usize, f: &walk::FileEntry| {
        stamp_at(i).is_some_and(|st| {
            crate::engine::stamps::matches(st, stamps_taken, f.bytes, f.mtime_ns)
                && state_holds
                && !touched.contains(&f.rel)
        })
    };
    // With T-6 the index's chunks are collected only for the paths that
    // need them: files the stamps do not vouch for, and paths the index may
    // hold that were not walked (to delete them). Past a quarter of the
    // tree one pass over every chunk is cheaper.
    let view = match &scope {
        Some(sc) => Some(sc.clone()),
        None if state_holds => {
            let mut need: std::collections::BTreeSet<String> = files
                .iter()
                .enumerate()
                .filter(|(i, f)| !vouched(*i, f))
                .map(|(_, f)| f.rel.clone())
                .collect();
            need.extend(unwalked.iter().cloned());
            for p in &touched {
                if files.binary_search_by(|f| f.rel.as_str().cmp(p)).is_err() {
                    need.insert(p.clone());
                }
            }
            (need.len() <= files.len() / 4).then(|| crate::chunk::walk::Scope::new(&need))
        }
        None => None,
    };
    let KnownState {
        by_path: known,
        max_id,
    } = known_chunks(s, view.as_ref())?;
    let known_seconds = t0.elapsed().as_secs_f64() - walk_seconds;
    let known_digest = |path: &str| {
        crate::engine::stamps::digest(
            known
                .get(path)
                .into_iter()
                .flatten()
                .map(|k| (k.start_byte, k.byte_len, k.hash)),
        )
    };
    let results: Vec<Outcome> = files
        .par_iter()
        .enumerate()
        .map(|(i, f)| {
            if scope.as_ref().is_some_and(|sc| !sc.contains(&f.rel)) {
                return Outcome::Skipped;
            }
            if vouched(i, f) {
                return Outcome::Trusted;
            }
            if let Some(st) = stamp_at(i) {
                if crate::engine::stamps::matches(st, stamps_taken, f.bytes, f.mtime_ns)
                    && known_digest(&f.rel) == st.digest
                {
                    return Outcome::Trusted;
                }
            }
            let Ok(bytes) = storage.read_all(&f.abs) else {
                return Outcome::Unreadable;
            };
            if let Some(k) = known.get(&f.rel) {
                if unchanged(&bytes, k) {
                    return Outcome::Unchanged;
                }
            }
            match crate::chunk::source::vet(bytes) {
                Ok(text) => Outcome::Changed(chunk_text(&f.rel, f.language, &text)),
                // No longer text: its chunks are dropped.
                Err(_) => Outcome::Changed(Vec::new()),
            }
        })
        .collect();
    let mut rep = UpdateReport {
        files_scanned: files.len(),
        files_trusted: results
            .iter()
            .filter(|r| matches!(r, Outcome::Trusted))
            .count(),
        stamps_note,
        paths_viewed: known.len(),
        walk_seconds,
        known_seconds,
        check_seconds: t0.elapsed().as_secs_f64() - walk_seconds - known_seconds,
        ..UpdateReport::default()
    };
    // New stamps, for a whole-tree update only (T-5): every file read or
    // trusted, with the digest of the chunks the index holds for it once
    // this update is written.
    let mut new_stamps = Vec::new();
    let mut restamp = false;
    if scope.is_none() {
        new_stamps.reserve(files.len());
        // Stamps without a state that holds are written again with the
        // index's state now (T-6), so that the next update can use it.
        restamp = head.is_none() || !state_holds;
        for (i, (f, r)) in files.iter().zip(&results).enumerate() {
            let digest = match r {
                // Only a scoped update skips files.
                Outcome::Skipped => continue,
                Outcome::Unreadable => {
                    restamp |= stamp_at(i).is_some();
                    continue;
                }
                Outcome::Trusted => match stamp_at(i) {
                    Some(st) => st.digest,
                    None => return Err(Error::internal("a file trusted without a stamp")),
                },
                Outcome::Unchanged => {
                    restamp = true;
                    known_digest(&f.rel)
                }
                Outcome::Changed(cs) => {
                    restamp = true;
                    crate::engine::stamps::chunks_digest(cs)
                }
            };
            new_stamps.push(Stamp {
                path: f.rel.clone(),
                size: f.bytes,
                mtime_ns: f.mtime_ns,
                digest,
            });
        }
        restamp |= new_stamps.len() != n_stamps;
    }
    let mut records = Vec::new();
    let mut to_embed: Vec<(usize, String)> = Vec::new();
    // Per chunk to upsert: its vector once known, and whether it is exact.
    let mut pending: Vec<(Chunk, Option<Cached>)> = Vec::new();
    let wanted: HashSet<[u8; 16]> = results
        .iter()
        .filter_map(|r| match r {
            Outcome::Changed(cs) => Some(cs.iter().map(|c| c.hash)),
            _ => None,
        })
        .flatten()
        .collect();
    let cache = delta_vectors_by_hash(&s.index, &wanted);
    for (f, r) in files.iter().zip(results) {
        let chunks = match r {
            Outcome::Changed(c) => c,
            // Unreadable now: its chunks are dropped (and it is not stamped,
            // so it is read again next time).
            Outcome::Unreadable => Vec::new(),
            Outcome::Trusted | Outcome::Unchanged | Outcome::Skipped => continue,
        };
        if known.contains_key(&f.rel) {
            rep.files_changed += 1;
            records.push(Record::DeletePath {
                path: f.rel.clone(),
            });
        } else if chunks.is_empty() {
            // A file with nothing to index (empty, or no longer text) that
            // the index never held: nothing changed.
            continue;
        } else {
            rep.files_added += 1;
        }
        for c in chunks {
            match cache.get(&c.hash) {
                Some(v) => {
                    rep.chunks_reused += 1;
                    pending.push((c, Some(v.clone())));
                }
                None => {
                    to_embed.push((
                        pending.len(),
                        crate::embed::embed_input(&c.path, c.symbol.as_deref(), &c.text),
                    ));
                    pending.push((c, None));
                }
            }
        }
    }
    let walked: std::collections::HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    for path in known.keys() {
        if !walked.contains(path.as_str()) && scope.as_ref().is_none_or(|sc| sc.contains(path)) {
            rep.files_removed += 1;
            records.push(Record::DeletePath { path: path.clone() });
        }
    }
    let te = Instant::now();
    // The cache's second level: content a segment holds lends its node's PQ
    // reconstruction (segments keep no exact vectors), logged as a reused
    // upsert that searches score by recomputing it.
    if !to_embed.is_empty() {
        let want: HashSet<[u8; 16]> = to_embed.iter().map(|(i, _)| pending[*i].0.hash).collect();
        let found = segment_vectors_by_hash(&s.index, &want, view.as_ref().map(|_| &known))?;
        if !found.is_empty() {
            to_embed.retain(|(i, _)| match found.get(&pending[*i].0.hash) {
                Some(v) => {
                    pending[*i].1 = Some((v.clone(), false));
                    rep.chunks_reused += 1;
                    rep.chunks_reused_from_segments += 1;
                    false
                }
                None => true,
            });
        }
    }
    let dim = s.embedder().dim();
    for part in to_embed.chunks(crate::ingest::tree::EMBED_BATCH_TEXTS) {
        let texts: Vec<&str> = part.iter().map(|(_, t)| t.as_str()).collect();
        let v = s.embedder().embed(&texts)?;
        for (j, (i, _)) in part.iter().enumerate() {
            pending[*i].1 = Some((v[j * dim..(j + 1) * dim].to_vec(), true));
        }
        rep.chunks_embedded += part.len();
    }
    for (next_id, (c, v)) in (max_id + 1..).zip(pending) {
        let (vector, exact) =
            v.ok_or_else(|| Error::internal("a chunk was left without a vector"))?;
        let too_big = |_| {
            Error::limit(format!(
                "{}: chunk beyond the format's 4 GiB offsets",
                c.path
            ))
        };
        let chunk = UpsertChunk {
            path: c.path.clone(),
            language: c.language,
            start_line: c.start_line,
            end_line: c.end_line,
            start_byte: u32::try_from(c.start_byte).map_err(too_big)?,
            byte_len: u32::try_from(c.end_byte - c.start_byte).map_err(too_big)?,
            symbol: c.symbol.clone(),
            hash: c.hash,
        };
        records.push(if exact {
            Record::Upsert {
                id: next_id,
                vector,
                chunk: Some(chunk),
            }
        } else {
            Record::UpsertReused {
                id: next_id,
                vector,
                chunk,
            }
        });
        rep.chunks_upserted += 1;
    }
    rep.embed_seconds = te.elapsed().as_secs_f64();
    let tw = Instant::now();
    if !records.is_empty() {
        s.index.enable_writes(storage)?;
        s.index.write(&records)?;
        s.clear_filter_cache();
    }
    // After the log: stamps never describe content the index does not hold.
    if restamp {
        let (state, _) = crate::engine::dir::index_state(storage, &dir)?;
        crate::engine::stamps::store(
            storage,
            &dir,
            &Stamps {
                taken_ns,
                root: root.display().to_string(),
                entries: new_stamps,
                state: Some(state),
            },
        )?;
    }
    rep.write_seconds = tw.elapsed().as_secs_f64();
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}

/// A path relative to the root is in scope when it or one of its ancestor
/// directories is in `only`.
pub fn in_scope(only: &std::collections::BTreeSet<String>, rel: &str) -> bool {
    crate::chunk::walk::in_paths(only, rel)
}
