//! File stamps (`FILES`, SPEC.md "File stamps"): a cache that lets
//! `leann index update` skip reading files that cannot have changed. A stamp
//! records a file's size and modification time, taken by the walk's stat
//! before the file was read, and a digest of the chunks the index held for
//! it afterwards. A file is trusted as unchanged without reading it only when
//! (T-1) the stamps were taken from the same root, (T-2) its size and
//! modification time equal the stamp's, (T-3) that time is at least
//! `RACY_MARGIN_NS` before the stamps were taken (a write in the same clock
//! tick as the stat could otherwise go unseen), and (T-4) the index's chunks
//! for the path still have the stamp's digest (so a change made to the index
//! by other means is never hidden). Since 1.9 the stamps also record the
//! index state they describe (T-6): while it holds, T-4 looks at the index
//! only for the paths the delta changed. A missing or damaged file only costs
//! reads: every file is then checked by content.

use crate::error::Result;
use crate::format::stamps::{self, IndexState, Stamp, Stamps};
use crate::io::Storage;
use std::path::Path;

pub use crate::format::stamps::FILE_NAME;

/// T-3: files modified this close to (or after) the stamps' time are checked
/// by content anyway.
pub const RACY_MARGIN_NS: i64 = 2_000_000_000;

/// Digest of the chunks an index holds for one file, as
/// `(start byte, byte length, content hash)` in any order.
pub fn digest(chunks: impl IntoIterator<Item = (u32, u32, [u8; 16])>) -> [u8; 8] {
    let mut v: Vec<(u32, u32, [u8; 16])> = chunks.into_iter().collect();
    v.sort_unstable();
    let mut h = blake3::Hasher::new();
    for (a, l, hash) in &v {
        h.update(&a.to_le_bytes());
        h.update(&l.to_le_bytes());
        h.update(hash);
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

/// `digest` of freshly cut chunks.
pub fn chunks_digest(chunks: &[crate::chunk::Chunk]) -> [u8; 8] {
    digest(chunks.iter().map(|c| {
        (
            c.start_byte as u32,
            (c.end_byte - c.start_byte) as u32,
            c.hash,
        )
    }))
}

/// `FILES` of the index in `dir`, mapped: its header decoded, its entries
/// read in path order by `head.for_each(&path, &map, ...)`.
pub struct MappedStamps {
    pub path: std::path::PathBuf,
    pub map: crate::io::Mapped,
    pub head: stamps::Head,
}

/// The stamps of the index in `dir` taken from `root`, mapped: `Ok(None)`
/// when there are none or they are from another root; an error when the
/// header is damaged (a damaged entry block is found by `for_each`; callers
/// then fall back to checking every file).
pub fn open_mapped(storage: &dyn Storage, dir: &Path, root: &Path) -> Result<Option<MappedStamps>> {
    let path = dir.join(FILE_NAME);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let map = storage.map(&path)?;
    let head = stamps::open(&path, &map)?;
    if head.root != root.display().to_string() {
        return Ok(None);
    }
    Ok(Some(MappedStamps { path, map, head }))
}

/// Write the stamps durably (D-1).
pub fn store(storage: &dyn Storage, dir: &Path, s: &Stamps) -> Result<()> {
    storage.write_atomic(&dir.join(FILE_NAME), &stamps::encode(s))
}

/// T-2 and T-3 for one walked file of `size` bytes modified at `mtime_ns`,
/// against its stamp (T-1 is `open_mapped`'s, T-4 the caller's).
pub fn matches(s: &Stamp, taken_ns: i64, size: u64, mtime_ns: i64) -> bool {
    s.size == size && s.mtime_ns == mtime_ns && mtime_ns < taken_ns.saturating_sub(RACY_MARGIN_NS)
}

/// The index state of T-6 for a `MANIFEST` file's bytes and the logs at or
/// past its `logStart` (sequence number, bytes), as `dir::index_state`
/// reads them.
pub fn state_of(manifest_bytes: &[u8], logs: &[(u64, u64)]) -> IndexState {
    let mut manifest = [0u8; 16];
    manifest.copy_from_slice(&blake3::hash(manifest_bytes).as_bytes()[..16]);
    let (log_seq, log_bytes) = logs.last().copied().unwrap_or((0, 0));
    IndexState {
        manifest,
        log_seq,
        log_bytes,
    }
}

/// T-6: whether an index now in state `now` with logs `logs` is still in
/// `recorded`'s state or has only appended to its logs since (same
/// manifest bytes; the recorded log still there and at least as long).
/// Then the index's chunks have changed only for the paths its delta names.
pub fn state_holds(recorded: &IndexState, now: &IndexState, logs: &[(u64, u64)]) -> bool {
    now.manifest == recorded.manifest
        && (recorded.log_seq == 0
            || logs
                .iter()
                .any(|&(seq, bytes)| seq == recorded.log_seq && bytes >= recorded.log_bytes))
}

/// The index state `FILES` in `dir` records: None when there is no such
/// file, it is from before 1.9, or its header is damaged.
pub fn recorded_state(storage: &dyn Storage, dir: &Path) -> Option<IndexState> {
    let path = dir.join(FILE_NAME);
    if !storage.exists(&path) {
        return None;
    }
    let map = storage.map(&path).ok()?;
    stamps::open(&path, &map).ok()?.state
}

/// The digest given to an entry whose path's chunks are not known: not the
/// digest of any chunk list (short of a 64-bit collision), and not that of
/// no chunks, so an update that does not walk the path still collects the
/// index's chunks for it (and deletes them).
pub const UNKNOWN_DIGEST: [u8; 8] = [0xFF; 8];

/// The modification time given to an entry that must fail T-2.
pub const UNKNOWN_MTIME_NS: i64 = i64::MIN;

/// T-7: after a compaction that folded a delta changing the paths
/// `changed`, carry `FILES` (whose state held before it) over to the new
/// index state `state`: the same entries and `taken_ns`, those of
/// `changed` made to fail T-2 and T-4 (their chunks may have changed since
/// they were stamped), and an entry of the same kind for each path of
/// `changed` that had none (so that, gone from the tree, its chunks are
/// still found and deleted). Everything else the compaction left as it
/// was: its chunks are the ones its digest describes.
pub fn carry_over(
    storage: &dyn Storage,
    dir: &Path,
    changed: &std::collections::HashSet<String>,
    state: IndexState,
) -> Result<()> {
    let path = dir.join(FILE_NAME);
    let map = storage.map(&path)?;
    let head = stamps::open(&path, &map)?;
    let mut absent: Vec<&str> = changed.iter().map(|p| p.as_str()).collect();
    absent.sort_unstable();
    let unknown = |p: &str| Stamp {
        path: p.to_string(),
        size: 0,
        mtime_ns: UNKNOWN_MTIME_NS,
        digest: UNKNOWN_DIGEST,
    };
    let mut entries = Vec::with_capacity(head.n as usize + absent.len());
    let mut ai = 0;
    head.for_each(&path, &map, |e| {
        while ai < absent.len() && absent[ai] < e.path {
            entries.push(unknown(absent[ai]));
            ai += 1;
        }
        if ai < absent.len() && absent[ai] == e.path {
            entries.push(unknown(e.path));
            ai += 1;
        } else {
            entries.push(e.into());
        }
        Ok(())
    })?;
    entries.extend(absent[ai..].iter().map(|p| unknown(p)));
    let carried = Stamps {
        taken_ns: head.taken_ns,
        root: head.root.clone(),
        entries,
        state: Some(state),
    };
    drop(map);
    store(storage, dir, &carried)
}

/// Now, in ns since the Unix epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}
