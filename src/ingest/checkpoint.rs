//! Resumable `index create` (issue 16 §3; SPEC.md "Create checkpoints").
//!
//! A create keeps its scratch state in `create.work/` inside the directory it
//! builds in (the staging directory beside `--output`):
//!
//! | file | what |
//! |---|---|
//! | `PLAN` | the walk's result, written once: files in the order they are read, the walk's skips, and a fingerprint of what decides the index (tree, model, configuration, build) |
//! | `vectors.fbin` | embeddings, one row per chunk, in chunk order |
//! | `text.spool` | compressed chunk text (with `storeText`) |
//! | `lex/` | tantivy's scratch index of the chunks (committed at each checkpoint) |
//! | `chunks.log` | one checksummed frame per batch of files: each file's outcome and its chunks' metadata |
//! | `CHECKPOINT` | how far all of the above is durable: files done, chunks, bytes of each spool |
//!
//! Every `interval` (and once all files are done) the spools are fsynced,
//! tantivy commits, and then `CHECKPOINT` is replaced atomically. A run that
//! dies at any point leaves a consistent checkpoint; `--resume` cuts each
//! spool back to the checkpoint's length, replays the log into the chunk
//! table, and reads on from the next file. Files read after the checkpoint
//! are read again.

use crate::chunk::walk::FileEntry;
use crate::chunk::{Chunk, SkipReason};
use crate::error::{Error, Result};
use crate::format::header::{self, CREATE_CHECKPOINT, CREATE_PLAN};
use crate::format::{expect_end, put_blocks, put_u16, put_u32, put_u64, take_blocks, Cursor};
use crate::io::spool::Spool;
use crate::io::Storage;
use crate::lang::Language;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The work directory, inside the directory a create builds in.
pub const WORK_DIR: &str = "create.work";
pub const PLAN_FILE: &str = "PLAN";
pub const CHECKPOINT_FILE: &str = "CHECKPOINT";
pub const LOG_FILE: &str = "chunks.log";
pub const VECTORS_FILE: &str = "vectors.fbin";
/// Default seconds between checkpoints (`index create --checkpoint-secs`).
pub const DEFAULT_INTERVAL_SECS: f64 = 30.0;
/// Bytes before each log frame's payload: its length and CRC-32.
const FRAME_HEAD_BYTES: usize = 8;
/// Largest log frame a reader accepts (one batch of files' chunk metadata).
const MAX_FRAME_BYTES: usize = 1 << 30;

/// The walk's result and what the index depends on, fixed for a create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Tree, model, configuration and build, as text (a resume must match).
    pub fingerprint: String,
    /// When the walk started (the stamps' `taken_ns`).
    pub taken_ns: i64,
    pub files: Vec<FileEntry>,
    /// Files the walk itself skipped.
    pub skips: Vec<(SkipReason, PathBuf)>,
}

/// How far a create's work is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Files of the plan read (indexed or skipped), from the first.
    pub files_done: u64,
    /// Chunks embedded: rows of the vector spool and of the lexical index.
    pub chunks: u64,
    pub text_bytes: u64,
    pub log_bytes: u64,
    /// Time spent so far chunking and embedding (for the report).
    pub chunk_ns: u64,
    pub embed_ns: u64,
}

/// What reading one file of the plan gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOutcome {
    /// Digest of its chunks for the stamps (None: unreadable, not stamped).
    pub digest: Option<[u8; 8]>,
    /// Why it was skipped, if it was.
    pub skipped: Option<SkipReason>,
    pub chunks: Vec<LoggedChunk>,
}

/// A chunk's metadata as the log keeps it (path and language are the file's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedChunk {
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u64,
    pub end_byte: u64,
    pub symbol: Option<String>,
    pub hash: [u8; 16],
    /// Bytes of its compressed text in the text spool (0 without text).
    pub text_len: u32,
}

impl LoggedChunk {
    pub fn of(c: &Chunk, text_len: u32) -> LoggedChunk {
        LoggedChunk {
            start_line: c.start_line,
            end_line: c.end_line,
            start_byte: c.start_byte as u64,
            end_byte: c.end_byte as u64,
            symbol: c.symbol.clone(),
            hash: c.hash,
            text_len,
        }
    }
}

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn take_bytes32<'a>(c: &mut Cursor<'a>, what: &str) -> Result<&'a [u8]> {
    let n = c.u32(what)? as usize;
    c.bytes(n, what)
}

fn take_path(c: &mut Cursor<'_>, what: &str) -> Result<PathBuf> {
    let b = take_bytes32(c, what)?;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(b)))
}

fn take_str(c: &mut Cursor<'_>, what: &str) -> Result<String> {
    let b = take_bytes32(c, what)?;
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| c.err_back(b.len(), format!("{what} is not UTF-8")))
}

fn reason_code(r: SkipReason) -> u8 {
    // ALL holds every variant (13 < 256).
    SkipReason::ALL.iter().position(|&x| x == r).unwrap_or(0) as u8
}

fn take_reason(c: &mut Cursor<'_>) -> Result<SkipReason> {
    let b = c.bytes(1, "skip reason")?[0];
    SkipReason::ALL
        .get(b as usize)
        .copied()
        .ok_or_else(|| c.err_back(1, format!("unknown skip reason {b}")))
}

pub fn encode_plan(p: &Plan) -> Vec<u8> {
    let mut body = Vec::new();
    for f in &p.files {
        put_bytes32(&mut body, f.rel.as_bytes());
        put_bytes32(&mut body, f.abs.as_os_str().as_bytes());
        body.push(f.language.code());
        put_u64(&mut body, f.bytes);
        put_u64(&mut body, f.mtime_ns as u64);
    }
    for (r, path) in &p.skips {
        body.push(reason_code(*r));
        put_bytes32(&mut body, path.as_os_str().as_bytes());
    }
    let mut meta = Vec::new();
    put_u64(&mut meta, p.taken_ns as u64);
    put_u64(&mut meta, p.files.len() as u64);
    put_u64(&mut meta, p.skips.len() as u64);
    put_u64(&mut meta, body.len() as u64);
    put_bytes32(&mut meta, p.fingerprint.as_bytes());
    let mut out = header::encode(CREATE_PLAN, 0, &meta);
    put_blocks(&mut out, &body);
    out
}

pub fn decode_plan(path: &Path, buf: &[u8]) -> Result<Plan> {
    let header::Opened {
        meta: mut mc,
        body: mut c,
        ..
    } = header::open(CREATE_PLAN, path, buf)?;
    let taken_ns = mc.u64("taken_ns")? as i64;
    let n_files = mc.u64("files")?;
    let n_skips = mc.u64("skips")?;
    let body_len = mc.u64("body bytes")?;
    let fingerprint = take_str(&mut mc, "fingerprint")?;
    // Each file takes at least 25 bytes and each skip 5.
    if body_len > c.remaining() as u64
        || n_files.saturating_mul(25) + n_skips.saturating_mul(5) > body_len
    {
        return Err(c.err(format!(
            "truncated: {n_files} files and {n_skips} skips in {body_len} bytes declared"
        )));
    }
    let base = c.offset();
    let body = take_blocks(&mut c, body_len as usize, "plan")?;
    expect_end(&c)?;
    let mut bc = Cursor::new(path, &body, base);
    let mut files = Vec::with_capacity(n_files as usize);
    for _ in 0..n_files {
        let rel = take_str(&mut bc, "relative path")?;
        let abs = take_path(&mut bc, "path")?;
        let code = bc.bytes(1, "language")?[0];
        let language = Language::from_code(code)
            .ok_or_else(|| bc.err_back(1, format!("unknown language code {code}")))?;
        let bytes = bc.u64("size")?;
        let mtime_ns = bc.u64("mtime")? as i64;
        files.push(FileEntry {
            rel,
            abs,
            language,
            bytes,
            mtime_ns,
        });
    }
    let mut skips = Vec::with_capacity(n_skips as usize);
    for _ in 0..n_skips {
        let r = take_reason(&mut bc)?;
        skips.push((r, take_path(&mut bc, "skipped path")?));
    }
    if bc.remaining() != 0 {
        return Err(bc.err(format!("{} bytes after the last skip", bc.remaining())));
    }
    Ok(Plan {
        fingerprint,
        taken_ns,
        files,
        skips,
    })
}

pub fn encode_checkpoint(k: &Checkpoint) -> Vec<u8> {
    let mut meta = Vec::new();
    for v in [
        k.files_done,
        k.chunks,
        k.text_bytes,
        k.log_bytes,
        k.chunk_ns,
        k.embed_ns,
    ] {
        put_u64(&mut meta, v);
    }
    header::encode(CREATE_CHECKPOINT, 0, &meta)
}

pub fn decode_checkpoint(path: &Path, buf: &[u8]) -> Result<Checkpoint> {
    let header::Opened {
        meta: mut mc, body, ..
    } = header::open(CREATE_CHECKPOINT, path, buf)?;
    let k = Checkpoint {
        files_done: mc.u64("files done")?,
        chunks: mc.u64("chunks")?,
        text_bytes: mc.u64("text bytes")?,
        log_bytes: mc.u64("log bytes")?,
        chunk_ns: mc.u64("chunk time")?,
        embed_ns: mc.u64("embed time")?,
    };
    expect_end(&body)?;
    Ok(k)
}

/// One log frame's payload: the outcomes of consecutive files of the plan.
pub fn encode_frame(outcomes: &[FileOutcome]) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, outcomes.len() as u32);
    for o in outcomes {
        p.push(o.skipped.map_or(0, |r| 1 + reason_code(r)));
        match o.digest {
            Some(d) => {
                p.push(1);
                p.extend_from_slice(&d);
            }
            None => p.push(0),
        }
        put_u32(&mut p, o.chunks.len() as u32);
        for c in &o.chunks {
            put_u32(&mut p, c.start_line);
            put_u32(&mut p, c.end_line);
            put_u64(&mut p, c.start_byte);
            put_u64(&mut p, c.end_byte);
            let s = c.symbol.as_deref().unwrap_or("");
            put_u16(&mut p, s.len().min(u16::MAX as usize) as u16);
            p.extend_from_slice(&s.as_bytes()[..s.len().min(u16::MAX as usize)]);
            p.extend_from_slice(&c.hash);
            put_u32(&mut p, c.text_len);
        }
    }
    let mut out = Vec::with_capacity(FRAME_HEAD_BYTES + p.len());
    put_u32(&mut out, p.len() as u32);
    put_u32(&mut out, crc32fast::hash(&p));
    out.extend_from_slice(&p);
    out
}

fn decode_outcome(c: &mut Cursor<'_>) -> Result<FileOutcome> {
    let kind = c.bytes(1, "outcome")?[0];
    let skipped = match kind {
        0 => None,
        k => Some(
            SkipReason::ALL
                .get(k as usize - 1)
                .copied()
                .ok_or_else(|| c.err_back(1, format!("unknown outcome {k}")))?,
        ),
    };
    let digest = match c.bytes(1, "digest flag")?[0] {
        0 => None,
        1 => {
            let mut d = [0u8; 8];
            d.copy_from_slice(c.bytes(8, "digest")?);
            Some(d)
        }
        b => return Err(c.err_back(1, format!("digest flag {b}"))),
    };
    let n = c.u32("chunks")? as usize;
    // Each chunk takes at least 46 bytes.
    if n > c.remaining() / 46 {
        return Err(c.err_back(4, format!("{n} chunks do not fit the frame")));
    }
    let mut chunks = Vec::with_capacity(n);
    for _ in 0..n {
        let start_line = c.u32("start line")?;
        let end_line = c.u32("end line")?;
        let start_byte = c.u64("start byte")?;
        let end_byte = c.u64("end byte")?;
        if end_byte < start_byte {
            return Err(c.err_back(8, "chunk ends before it starts"));
        }
        let sl = c.u16("symbol length")? as usize;
        let sb = c.bytes(sl, "symbol")?;
        let symbol = std::str::from_utf8(sb).map_err(|_| c.err_back(sl, "symbol is not UTF-8"))?;
        let mut hash = [0u8; 16];
        hash.copy_from_slice(c.bytes(16, "hash")?);
        let text_len = c.u32("text length")?;
        chunks.push(LoggedChunk {
            start_line,
            end_line,
            start_byte,
            end_byte,
            symbol: (!symbol.is_empty()).then(|| symbol.to_string()),
            hash,
            text_len,
        });
    }
    Ok(FileOutcome {
        digest,
        skipped,
        chunks,
    })
}

/// Call `f` with every file outcome in the log's first `len` bytes, in
/// order; each frame's CRC is checked before it is decoded.
pub fn replay_log(
    path: &Path,
    log: &[u8],
    len: u64,
    mut f: impl FnMut(FileOutcome) -> Result<()>,
) -> Result<()> {
    if (log.len() as u64) < len {
        return Err(Error::corrupt(
            path,
            log.len() as u64,
            format!(
                "the checkpoint recorded {len} bytes but the log holds {}",
                log.len()
            ),
        ));
    }
    let log = &log[..len as usize];
    let mut c = Cursor::new(path, log, 0);
    while c.remaining() > 0 {
        let n = c.u32("frame length")? as usize;
        let crc = c.u32("frame CRC")?;
        if n > MAX_FRAME_BYTES {
            return Err(c.err_back(8, format!("frame of {n} bytes")));
        }
        let at = c.offset();
        let payload = c.bytes(n, "frame")?;
        if !crate::format::crc_matches(crc32fast::hash(payload), crc) {
            return Err(Error::corrupt(path, at, "frame CRC mismatch"));
        }
        let mut fc = Cursor::new(path, payload, at);
        let files = fc.u32("files in frame")?;
        for _ in 0..files {
            f(decode_outcome(&mut fc)?)?;
        }
        if fc.remaining() != 0 {
            return Err(fc.err(format!(
                "{} bytes after the frame's last file",
                fc.remaining()
            )));
        }
    }
    Ok(())
}

/// The log of a create: frames appended per batch, durable at `sync`.
pub struct Log {
    spool: Spool,
}

impl Log {
    pub fn create(work: &Path) -> Result<Log> {
        Ok(Log {
            spool: Spool::create_at(&work.join(LOG_FILE))?,
        })
    }
    pub fn reopen(work: &Path, len: u64) -> Result<Log> {
        Ok(Log {
            spool: Spool::reopen(&work.join(LOG_FILE), len)?,
        })
    }
    pub fn append(&mut self, outcomes: &[FileOutcome]) -> Result<()> {
        self.spool.append(&encode_frame(outcomes))
    }
    pub fn len(&self) -> u64 {
        self.spool.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spool.is_empty()
    }
    pub fn sync(&mut self) -> Result<()> {
        self.spool.sync()
    }
}

/// Whether `dir` (a directory a create builds in) holds a create's work
/// that got as far as a checkpoint (worth keeping for a resume).
pub fn has_work(storage: &dyn Storage, dir: &Path) -> bool {
    let work = dir.join(WORK_DIR);
    storage.exists(&work.join(PLAN_FILE)) && storage.exists(&work.join(CHECKPOINT_FILE))
}

/// The plan a create left in `dir`, and its checkpoint if it got as far as
/// one (a plan alone: nothing durable beyond the walk).
pub fn load(storage: &dyn Storage, dir: &Path) -> Result<(Plan, Option<Checkpoint>)> {
    let work = dir.join(WORK_DIR);
    let pp = work.join(PLAN_FILE);
    let plan = decode_plan(&pp, &storage.read_all(&pp)?)?;
    let kp = work.join(CHECKPOINT_FILE);
    if !storage.exists(&kp) {
        return Ok((plan, None));
    }
    let k = decode_checkpoint(&kp, &storage.read_all(&kp)?)?;
    if k.files_done > plan.files.len() as u64 {
        return Err(Error::corrupt(
            &kp,
            header::HEADER_BYTES as u64,
            format!(
                "{} files done of a plan of {}",
                k.files_done,
                plan.files.len()
            ),
        ));
    }
    Ok((plan, Some(k)))
}

/// The fingerprint of a create: what must not change between a create and
/// its resume (the tree, the model, the configuration and this build).
pub fn fingerprint(
    root: &Path,
    model_id: &str,
    dim: usize,
    config: &crate::config::Config,
) -> String {
    let mut c = config.clone();
    // Where the embeddings come from may change (another server), not what
    // they are.
    c.embedding_server = None;
    // How much memory the build may use changes how, not what, it builds.
    c.memory_budget = None;
    let mut out = format!(
        "leann {} format {}.{}\nroot {}\nmodel {model_id}\ndim {dim}",
        env!("CARGO_PKG_VERSION"),
        header::FORMAT_MAJOR,
        header::FORMAT_MINOR,
        root.display(),
    );
    // One line per configuration field, so that a refusal names the field.
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&c) {
        for (k, v) in fields {
            out.push_str(&format!("\nconfig.{k} {v}"));
        }
    }
    out
}

/// The first line where two fingerprints differ, for the error that
/// refuses a resume.
pub fn fingerprint_difference(was: &str, now: &str) -> String {
    for (a, b) in was.lines().zip(now.lines()) {
        if a != b {
            return format!("it was made with `{a}`, this run has `{b}`");
        }
    }
    "its fingerprint differs".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            fingerprint: "leann x\nroot /t".into(),
            taken_ns: 42,
            files: vec![FileEntry {
                rel: "a/b.py".into(),
                abs: "/t/a/b.py".into(),
                language: Language::Python,
                bytes: 12,
                mtime_ns: -3,
            }],
            skips: vec![(SkipReason::Binary, "x.bin".into())],
        }
    }

    #[test]
    fn plan_and_checkpoint_round_trip_and_damage_is_named() {
        let p = plan();
        let b = encode_plan(&p);
        let path = Path::new("PLAN");
        assert_eq!(decode_plan(path, &b).unwrap(), p);
        for cut in 0..b.len() {
            assert!(decode_plan(path, &b[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert!(decode_plan(path, &d).is_err(), "flip at {i}");
        }
        let k = Checkpoint {
            files_done: 1,
            chunks: 2,
            text_bytes: 3,
            log_bytes: 4,
            chunk_ns: 5,
            embed_ns: 6,
        };
        let kb = encode_checkpoint(&k);
        assert_eq!(decode_checkpoint(path, &kb).unwrap(), k);
        for i in 0..kb.len() {
            let mut d = kb.clone();
            d[i] ^= 1;
            assert!(decode_checkpoint(path, &d).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn log_frames_replay_in_order_and_a_damaged_frame_is_refused() {
        let a = FileOutcome {
            digest: Some([7; 8]),
            skipped: None,
            chunks: vec![LoggedChunk {
                start_line: 1,
                end_line: 9,
                start_byte: 0,
                end_byte: 80,
                symbol: Some("parse".into()),
                hash: [3; 16],
                text_len: 33,
            }],
        };
        let b = FileOutcome {
            digest: None,
            skipped: Some(SkipReason::Unreadable),
            chunks: vec![],
        };
        let mut log = encode_frame(std::slice::from_ref(&a));
        log.extend(encode_frame(&[b.clone(), a.clone()]));
        let mut got = Vec::new();
        replay_log(Path::new("log"), &log, log.len() as u64, |o| {
            got.push(o);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![a.clone(), b, a]);
        // A length short of the checkpoint's, a flipped byte, a cut frame.
        assert!(replay_log(Path::new("log"), &log[..10], log.len() as u64, |_| Ok(())).is_err());
        for i in 0..log.len() {
            let mut d = log.clone();
            d[i] ^= 0x40;
            assert!(
                replay_log(Path::new("log"), &d, d.len() as u64, |_| Ok(())).is_err(),
                "flip at {i}"
            );
        }
        assert!(replay_log(Path::new("log"), &log, 20, |_| Ok(())).is_err());
    }
}
