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
//! by other means is never hidden). A missing or damaged file only costs
//! reads: every file is then checked by content.

use crate::error::Result;
use crate::format::stamps::{self, Stamp, Stamps};
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

/// The stamps of the index in `dir` taken from `root`: `Ok(None)` when there
/// are none or they are from another root; an error when the file is damaged
/// (callers fall back to checking every file).
pub fn load(storage: &dyn Storage, dir: &Path, root: &Path) -> Result<Option<Stamps>> {
    let p = dir.join(FILE_NAME);
    if !storage.exists(&p) {
        return Ok(None);
    }
    let s = stamps::decode(&p, &storage.read_all(&p)?)?;
    Ok((s.root == root.display().to_string()).then_some(s))
}

/// Write the stamps durably (D-1).
pub fn store(storage: &dyn Storage, dir: &Path, s: &Stamps) -> Result<()> {
    storage.write_atomic(&dir.join(FILE_NAME), &stamps::encode(s))
}

/// T-2 and T-3 for one walked file (T-1 is `load`'s, T-4 the caller's).
pub fn matches(s: &Stamp, taken_ns: i64, size: u64, mtime_ns: i64) -> bool {
    s.size == size && s.mtime_ns == mtime_ns && mtime_ns < taken_ns.saturating_sub(RACY_MARGIN_NS)
}

/// Now, in ns since the Unix epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}
