//! From a source tree to an index: walk, read and chunk files, embed chunks,
//! stream the vectors to a memory-mapped temporary file, then build the
//! segment with the chunk metadata beside it (`leann index create`).

use crate::chunk::{chunk_text, read_source, walk, Chunk, Skips};
use crate::config::Config;
use crate::embed::{Embedder, EmbedderSpec};
use crate::engine::chunkstore::{compress_text, ChunkTable, NewChunk};
use crate::engine::data::VectorSpool;
use crate::engine::index::{BuildInput, BuildReport, Index, Progress};
use crate::engine::manifest::IndexInfo;
use crate::error::{Error, Result};
use crate::io::Storage;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

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
    let opts = config.filters.clone().unwrap_or_default().walk_options()?;
    if out == root || crate::chunk::walk::reaches(&root, &opts, &out)? {
        return Err(Error::argument("--output", format!(
            "--output {} is inside the input tree {} and not ignored by it: the index would index itself, and replacing it could reach the tree. Choose an output outside the tree, or ignore it there (.gitignore, .leannignore or filters.excludePaths)",
            output.display(),
            root.display()
        )));
    }
    Ok(())
}

/// Index the tree at `input` into a new index directory `output`.
pub fn create_from_tree(
    storage: &dyn Storage,
    input: &Path,
    output: &Path,
    config: &Config,
    embedder: &dyn Embedder,
    spec: EmbedderSpec,
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
    if storage.exists(&output.join(crate::engine::manifest::FILE_NAME)) {
        return Err(Error::argument(
            "--output",
            format!(
                "{} already holds an index (MANIFEST exists); remove it or choose another --output",
                output.display()
            ),
        ));
    }
    let opts = config.filters.clone().unwrap_or_default().walk_options()?;
    progress(&Progress::new("scan", 0, 0));
    let taken_ns = crate::engine::stamps::now_ns();
    let (files, mut skips) = walk(&root, &opts)?;
    let scan_seconds = t0.elapsed().as_secs_f64();
    progress(&Progress::new(
        "scan",
        files.len() as u64,
        files.len() as u64,
    ));

    let dim = embedder.dim();
    let mut spool = VectorSpool::new(dim)?;
    let mut table = ChunkTable::new(config.store_text, true)?;
    let mut rep = TreeReport {
        scan_seconds,
        ..TreeReport::default()
    };
    let n_files = files.len() as u64;
    let mut files_done = 0u64;
    // Files read (indexable or not), with the digest of their chunks.
    let mut stamps = Vec::with_capacity(files.len());
    progress(&Progress::new("chunk", 0, n_files));
    for batch in files.chunks(BATCH_FILES) {
        let tc = Instant::now();
        let results: Vec<std::result::Result<Vec<Chunk>, crate::chunk::SkipReason>> = batch
            .par_iter()
            .map(|f| read_source(storage, &f.abs).map(|text| chunk_text(&f.rel, f.language, &text)))
            .collect();
        let mut chunks: Vec<Chunk> = Vec::new();
        for (f, r) in batch.iter().zip(results) {
            let chunk_digest = match &r {
                Ok(cs) => Some(crate::engine::stamps::chunks_digest(cs)),
                Err(crate::chunk::SkipReason::Unreadable) => None,
                Err(_) => Some(crate::engine::stamps::digest([])),
            };
            if let Some(digest) = chunk_digest {
                stamps.push(crate::format::stamps::Stamp {
                    path: f.rel.clone(),
                    size: f.bytes,
                    mtime_ns: f.mtime_ns,
                    digest,
                });
            }
            match r {
                Ok(cs) => {
                    let e = rep.per_language.entry(f.language.name()).or_default();
                    e.0 += 1;
                    e.1 += cs.len();
                    e.2 += f.bytes;
                    rep.files += 1;
                    rep.bytes += f.bytes;
                    chunks.extend(cs);
                }
                Err(reason) => skips.add(reason, f.rel.clone().into()),
            }
        }
        let compressed: Vec<Option<Vec<u8>>> = if config.store_text {
            chunks
                .par_iter()
                .map(|c| compress_text(&c.text).map(Some))
                .collect::<Result<_>>()?
        } else {
            vec![None; chunks.len()]
        };
        rep.chunk_seconds += tc.elapsed().as_secs_f64();
        files_done += batch.len() as u64;
        progress(&Progress::new("chunk", files_done, n_files));

        let te = Instant::now();
        for part in chunks.chunks(EMBED_BATCH_TEXTS) {
            let owned: Vec<String> = part
                .iter()
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
            spool.push(&v)?;
            rep.chunks += part.len();
            progress(&Progress::new("embed", rep.chunks as u64, 0));
        }
        for (c, z) in chunks.iter().zip(&compressed) {
            table.push(&NewChunk {
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
            })?;
        }
        rep.embed_seconds += te.elapsed().as_secs_f64();
    }
    progress(&Progress::new(
        "embed",
        rep.chunks as u64,
        rep.chunks as u64,
    ));
    rep.skips = skips;
    if rep.chunks == 0 {
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
    // After the manifest: an index without stamps is complete, only slower
    // to update the first time.
    crate::engine::stamps::store(
        storage,
        output,
        &crate::format::stamps::Stamps {
            taken_ns,
            root: root.display().to_string(),
            entries: stamps,
        },
    )?;
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}
