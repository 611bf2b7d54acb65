//! From a source tree to an index: walk, read and chunk files, embed chunks,
//! stream the vectors to a memory-mapped temporary file, then build the
//! segment with the chunk metadata beside it (`leann index create`).

use crate::chunk::walk::FileEntry;
use crate::chunk::{chunk_text, read_source, walk, Chunk, Skips};
use crate::config::Config;
use crate::embed::{Embedder, EmbedderSpec};
use crate::engine::chunkstore::{compress_text, ChunkTable, NewChunk};
use crate::engine::data::VectorSpool;
use crate::engine::index::{BuildInput, BuildReport, Index, Progress};
use crate::engine::manifest::IndexInfo;
use crate::error::{Error, Result};
use crate::ingest::checkpoint::{self, Checkpoint, FileOutcome, LoggedChunk, Plan};
use crate::io::Storage;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Files read and chunked together before their chunks are embedded.
pub const BATCH_FILES: usize = 256;
/// Texts handed to the embedder at once.
pub const EMBED_BATCH_TEXTS: usize = 2048;

/// Per language: files, chunks, bytes.
pub type LanguageCounts = BTreeMap<&'static str, (usize, usize, u64)>;

#[derive(Debug, Default)]
pub struct TreeReport {
    pub files: usize,
    pub chunks: usize,
    pub bytes: u64,
    pub skips: Skips,
    pub per_language: LanguageCounts,
    pub scan_seconds: f64,
    pub chunk_seconds: f64,
    pub embed_seconds: f64,
    pub build: BuildReport,
    pub seconds: f64,
    /// Continued from a checkpoint: files and chunks it had done.
    pub resumed: Option<(usize, usize)>,
}

/// C-2: an output directory inside the input tree is allowed only when the
/// tree's walk leaves it out (an ignore file, a hidden name, an exclude
/// pattern); the tree itself, or a directory the walk would enter, is
/// refused. `output` must exist.
pub fn check_output_placement(input: &Path, output: &Path, config: &Config) -> Result<()> {
    let root = std::fs::canonicalize(input).map_err(|e| Error::io("open input tree", input, e))?;
    let out = std::fs::canonicalize(output).map_err(|e| Error::io("open output", output, e))?;
    if !out.starts_with(&root) {
        return Ok(());
    }
    let opts = config.walk_options()?;
    if out == root || crate::chunk::walk::reaches(&root, &opts, &out)? {
        return Err(Error::argument("--output", format!(
            "--output {} is inside the input tree {} and not ignored by it: the index would index itself, and replacing it could reach the tree. Choose an output outside the tree, or ignore it there (.gitignore, .leannignore or filters.excludePaths)",
            output.display(),
            root.display()
        )));
    }
    Ok(())
}

/// Index the tree at `input` into a new index directory `output`, with a
/// checkpoint every [`checkpoint::DEFAULT_INTERVAL_SECS`].
pub fn create_from_tree(
    storage: &dyn Storage,
    input: &Path,
    output: &Path,
    config: &Config,
    embedder: &dyn Embedder,
    spec: EmbedderSpec,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<TreeReport> {
    create_from_tree_with(
        storage,
        input,
        output,
        config,
        embedder,
        spec,
        Duration::from_secs_f64(checkpoint::DEFAULT_INTERVAL_SECS),
        progress,
    )
}

/// What the files read so far add up to.
#[derive(Default)]
struct Tally {
    stamps: Vec<crate::format::stamps::Stamp>,
    skips: Skips,
    rep: TreeReport,
}

impl Tally {
    /// Count file `f`, read with outcome `o`.
    fn file(&mut self, f: &FileEntry, o: &FileOutcome) {
        if let Some(digest) = o.digest {
            self.stamps.push(crate::format::stamps::Stamp {
                path: f.rel.clone(),
                size: f.bytes,
                mtime_ns: f.mtime_ns,
                digest,
            });
        }
        match o.skipped {
            None => {
                let e = self.rep.per_language.entry(f.language.name()).or_default();
                e.0 += 1;
                e.1 += o.chunks.len();
                e.2 += f.bytes;
                self.rep.files += 1;
                self.rep.bytes += f.bytes;
            }
            Some(reason) => self.skips.add(reason, f.rel.clone().into()),
        }
    }
}

/// The builders a create appends to, all in its work directory.
struct Work {
    dir: PathBuf,
    spool: VectorSpool,
    table: ChunkTable,
    log: checkpoint::Log,
}

impl Work {
    /// Make everything appended so far durable, then record how far
    /// (`CHECKPOINT`, replaced atomically).
    fn checkpoint(&mut self, storage: &dyn Storage, k: &Checkpoint) -> Result<()> {
        self.spool.sync()?;
        self.table.checkpoint()?;
        self.log.sync()?;
        storage.write_atomic(
            &self.dir.join(checkpoint::CHECKPOINT_FILE),
            &checkpoint::encode_checkpoint(k),
        )
    }
}

/// Start a create's work in `output` (walk the tree, write the plan), or
/// take up the work a previous run left there (C-5): cut its spools back to
/// its checkpoint and replay its log. Returns the plan, how far it is done,
/// and what the files done add up to (its report's `resumed` set when it
/// continued a checkpoint).
#[allow(clippy::too_many_arguments)]
fn start_or_resume(
    storage: &dyn Storage,
    root: &Path,
    output: &Path,
    config: &Config,
    dim: usize,
    fingerprint: String,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<(Plan, Checkpoint, Work, Tally)> {
    let work_dir = output.join(checkpoint::WORK_DIR);
    if checkpoint::has_work(storage, output) {
        let (plan, k) = checkpoint::load(storage, output)?;
        if plan.fingerprint != fingerprint {
            return Err(Error::argument(
                "--resume",
                format!(
                    "the interrupted create in {} cannot be continued by this run: {}. Rerun it as it was, or pass --force instead of --resume to start over",
                    output.display(),
                    checkpoint::fingerprint_difference(&plan.fingerprint, &fingerprint)
                ),
            ));
        }
        // What a build that did not finish left beside the work.
        remove_all_but(storage, output, checkpoint::WORK_DIR)?;
        let mut tally = Tally::default();
        for (r, p) in &plan.skips {
            tally.skips.add(*r, p.clone());
        }
        let Some(k) = k else {
            // Walked but nothing durable yet: start the spools over.
            remove_all_but(storage, &work_dir, checkpoint::PLAN_FILE)?;
            let work = fresh_work(&work_dir, dim, config)?;
            return Ok((plan, Checkpoint::default(), work, tally));
        };
        let spool = VectorSpool::reopen(
            &work_dir.join(checkpoint::VECTORS_FILE),
            dim,
            k.chunks as usize,
        )?;
        let mut table =
            ChunkTable::resume_in(config.store_text, &work_dir, k.text_bytes, k.chunks)?;
        let log = checkpoint::Log::reopen(&work_dir, k.log_bytes)?;
        let log_path = work_dir.join(checkpoint::LOG_FILE);
        let map = storage.map(&log_path)?;
        let mut i = 0usize;
        checkpoint::replay_log(&log_path, &map, k.log_bytes, |o| {
            let f = plan.files.get(i).ok_or_else(|| {
                Error::corrupt(
                    &log_path,
                    0,
                    format!(
                        "the log holds more files than the plan's {}",
                        plan.files.len()
                    ),
                )
            })?;
            for c in &o.chunks {
                table.replay(
                    &NewChunk {
                        path: &f.rel,
                        language: f.language,
                        start_line: c.start_line,
                        end_line: c.end_line,
                        start_byte: c.start_byte as usize,
                        end_byte: c.end_byte as usize,
                        symbol: c.symbol.as_deref(),
                        hash: c.hash,
                        compressed: None,
                        text: None,
                    },
                    c.text_len,
                )?;
            }
            tally.file(f, &o);
            i += 1;
            Ok(())
        })?;
        drop(map);
        if i as u64 != k.files_done {
            return Err(Error::corrupt(
                &log_path,
                k.log_bytes,
                format!("the log holds {i} files, the checkpoint {}", k.files_done),
            ));
        }
        table.replay_done(&work_dir)?;
        tally.rep.chunks = k.chunks as usize;
        tally.rep.chunk_seconds = k.chunk_ns as f64 / 1e9;
        tally.rep.embed_seconds = k.embed_ns as f64 / 1e9;
        tally.rep.resumed = Some((k.files_done as usize, k.chunks as usize));
        let work = Work {
            dir: work_dir,
            spool,
            table,
            log,
        };
        return Ok((plan, k, work, tally));
    }
    if storage.exists(&output.join(crate::engine::manifest::FILE_NAME)) {
        return Err(Error::argument(
            "--output",
            format!(
                "{} already holds an index (MANIFEST exists); remove it or choose another --output",
                output.display()
            ),
        ));
    }
    let opts = config.walk_options()?;
    progress(&Progress::new("scan", 0, 0));
    let taken_ns = crate::engine::stamps::now_ns();
    let (files, skips) = walk(root, &opts)?;
    progress(&Progress::new(
        "scan",
        files.len() as u64,
        files.len() as u64,
    ));
    let plan = Plan {
        fingerprint,
        taken_ns,
        files,
        skips: skips
            .by_reason
            .iter()
            .flat_map(|(r, ps)| ps.iter().map(move |p| (*r, p.clone())))
            .collect(),
    };
    if storage.exists(&work_dir) {
        // A work directory that never reached a checkpoint.
        storage.remove_dir_all(&work_dir)?;
    }
    storage.create_dir_all(&work_dir)?;
    storage.write_atomic(
        &work_dir.join(checkpoint::PLAN_FILE),
        &checkpoint::encode_plan(&plan),
    )?;
    let work = fresh_work(&work_dir, dim, config)?;
    let tally = Tally {
        skips,
        ..Tally::default()
    };
    Ok((plan, Checkpoint::default(), work, tally))
}

/// Remove every entry of `dir` but `keep`.
fn remove_all_but(storage: &dyn Storage, dir: &Path, keep: &str) -> Result<()> {
    for name in storage.list_dir(dir)? {
        if name != keep {
            let p = dir.join(&name);
            if std::fs::metadata(&p).is_ok_and(|m| m.is_dir()) {
                storage.remove_dir_all(&p)?;
            } else {
                storage.remove_file(&p)?;
            }
        }
    }
    Ok(())
}

fn fresh_work(work_dir: &Path, dim: usize, config: &Config) -> Result<Work> {
    Ok(Work {
        dir: work_dir.to_path_buf(),
        spool: VectorSpool::create_at(&work_dir.join(checkpoint::VECTORS_FILE), dim)?,
        table: ChunkTable::create_in(config.store_text, work_dir)?,
        log: checkpoint::Log::create(work_dir)?,
    })
}

/// Index the tree at `input` into a new index directory `output`, making
/// the work durable every `interval` so that a run that dies can be
/// continued (C-5: a work directory in `output` is continued).
#[allow(clippy::too_many_arguments)]
pub fn create_from_tree_with(
    storage: &dyn Storage,
    input: &Path,
    output: &Path,
    config: &Config,
    embedder: &dyn Embedder,
    spec: EmbedderSpec,
    interval: Duration,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<TreeReport> {
    let t0 = Instant::now();
    let root = std::fs::canonicalize(input).map_err(|e| Error::io("open input tree", input, e))?;
    if !root.is_dir() {
        return Err(Error::input(
            &root,
            format!("{}: not a directory", root.display()),
        ));
    }
    let dim = embedder.dim();
    let made_output = !storage.exists(output);
    let fingerprint = checkpoint::fingerprint(&root, embedder.model_id(), dim, config);
    let (plan, mut k, mut work, mut tally) =
        start_or_resume(storage, &root, output, config, dim, fingerprint, progress)?;
    tally.rep.scan_seconds = t0.elapsed().as_secs_f64();
    let files = &plan.files;
    let n_files = files.len() as u64;
    let mut files_done = k.files_done;
    let mut last_checkpoint = Instant::now();
    progress(&Progress::new("chunk", files_done, n_files));
    for batch in files[files_done as usize..].chunks(BATCH_FILES) {
        let tc = Instant::now();
        let results: Vec<std::result::Result<Vec<Chunk>, crate::chunk::SkipReason>> = batch
            .par_iter()
            .map(|f| read_source(storage, &f.abs).map(|text| chunk_text(&f.rel, f.language, &text)))
            .collect();
        let mut chunks: Vec<Chunk> = Vec::new();
        // Per file: its outcome without chunks yet, and how many it has.
        let mut outcomes: Vec<(FileOutcome, usize)> = Vec::with_capacity(batch.len());
        for r in results {
            let digest = match &r {
                Ok(cs) => Some(crate::engine::stamps::chunks_digest(cs)),
                Err(crate::chunk::SkipReason::Unreadable) => None,
                Err(_) => Some(crate::engine::stamps::digest([])),
            };
            let (skipped, n) = match r {
                Ok(cs) => {
                    let n = cs.len();
                    chunks.extend(cs);
                    (None, n)
                }
                Err(reason) => (Some(reason), 0),
            };
            outcomes.push((
                FileOutcome {
                    digest,
                    skipped,
                    chunks: Vec::new(),
                },
                n,
            ));
        }
        let compressed: Vec<Option<Vec<u8>>> = if config.store_text {
            chunks
                .par_iter()
                .map(|c| compress_text(&c.text).map(Some))
                .collect::<Result<_>>()?
        } else {
            vec![None; chunks.len()]
        };
        let mut at = 0usize;
        for (o, n) in &mut outcomes {
            o.chunks = chunks[at..at + *n]
                .iter()
                .zip(&compressed[at..at + *n])
                .map(|(c, z)| LoggedChunk::of(c, z.as_ref().map_or(0, |z| z.len() as u32)))
                .collect();
            at += *n;
        }
        tally.rep.chunk_seconds += tc.elapsed().as_secs_f64();
        files_done += batch.len() as u64;
        progress(&Progress::new("chunk", files_done, n_files));

        let te = Instant::now();
        for part in chunks.chunks(EMBED_BATCH_TEXTS) {
            let owned: Vec<String> = part
                .par_iter()
                .map(|c| crate::embed::embed_input(&c.path, c.symbol.as_deref(), &c.text))
                .collect();
            let texts: Vec<&str> = owned.iter().map(|s| s.as_str()).collect();
            let v = embedder.embed(&texts)?;
            if v.len() != texts.len() * dim {
                return Err(Error::model(format!(
                    "embedder {} returned {} floats for {} texts of dimension {dim}",
                    embedder.model_id(),
                    v.len(),
                    texts.len()
                )));
            }
            work.spool.push(&v)?;
            tally.rep.chunks += part.len();
            progress(&Progress::new("embed", tally.rep.chunks as u64, 0));
        }
        let news: Vec<NewChunk<'_>> = chunks
            .iter()
            .zip(&compressed)
            .map(|(c, z)| NewChunk {
                path: &c.path,
                language: c.language,
                start_line: c.start_line,
                end_line: c.end_line,
                start_byte: c.start_byte,
                end_byte: c.end_byte,
                symbol: c.symbol.as_deref(),
                hash: c.hash,
                compressed: z.as_deref(),
                text: Some(&c.text),
            })
            .collect();
        work.table.push_all(&news)?;
        drop(news);
        let outcomes: Vec<FileOutcome> = outcomes.into_iter().map(|(o, _)| o).collect();
        work.log.append(&outcomes)?;
        for (f, o) in batch.iter().zip(&outcomes) {
            tally.file(f, o);
        }
        tally.rep.embed_seconds += te.elapsed().as_secs_f64();
        if last_checkpoint.elapsed() >= interval || files_done == n_files {
            k = Checkpoint {
                files_done,
                chunks: tally.rep.chunks as u64,
                text_bytes: work.table.text_bytes(),
                log_bytes: work.log.len(),
                chunk_ns: (tally.rep.chunk_seconds * 1e9) as u64,
                embed_ns: (tally.rep.embed_seconds * 1e9) as u64,
            };
            work.checkpoint(storage, &k)?;
            // The batches' texts were freed on rayon's threads, each with
            // its own malloc arena: give their pages back now and then.
            crate::memory::release_free_heap();
            last_checkpoint = Instant::now();
        }
    }
    progress(&Progress::new(
        "embed",
        tally.rep.chunks as u64,
        tally.rep.chunks as u64,
    ));
    let Tally {
        stamps,
        skips,
        mut rep,
    } = tally;
    rep.skips = skips;
    if rep.chunks == 0 {
        // A final answer, not work to resume.
        drop(work);
        storage.remove_dir_all(&output.join(checkpoint::WORK_DIR))?;
        if made_output {
            // Only if nothing else came into it meanwhile.
            let _ = std::fs::remove_dir(output);
        }
        return Err(Error::input(
            &root,
            format!(
                "{}: nothing to index ({} files found, {} skipped{})",
                root.display(),
                files.len(),
                rep.skips.total(),
                if rep.skips.total() > 0 {
                    format!(": {}", rep.skips.summary())
                } else {
                    String::new()
                }
            ),
        ));
    }
    // The plan's file list (paths of every file) is not needed by the build.
    let taken_ns = plan.taken_ns;
    drop(plan);
    let Work {
        dir: work_dir,
        spool,
        mut table,
        log,
    } = work;
    debug_assert_eq!(work_dir, output.join(checkpoint::WORK_DIR));
    drop(log);
    let vectors = spool.finish()?;
    let info = IndexInfo {
        model: Some(embedder.model_id().to_string()),
        embedder: Some(spec),
        source_root: Some(root.display().to_string()),
        chunks: true,
        lexical: true,
        log_start: 0,
    };
    rep.build = Index::build(
        storage,
        output,
        &vectors.vectors,
        BuildInput {
            ids: None,
            chunks: Some(&mut table),
            info,
            replace: None,
        },
        config,
        progress,
    )?;
    drop(vectors);
    drop(table);
    storage.remove_dir_all(&work_dir)?;
    // After the manifest: an index without stamps is complete, only slower
    // to update the first time.
    let mut stamps = stamps;
    stamps.sort_by(|a, b| a.path.cmp(&b.path));
    let (state, _) = crate::engine::dir::index_state(storage, output)?;
    crate::engine::stamps::store(
        storage,
        output,
        &crate::format::stamps::Stamps {
            taken_ns,
            root: root.display().to_string(),
            entries: stamps,
            state: Some(state),
        },
    )?;
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}
