//! `leann index ...`

use leann::engine::index::Index;
use leann::io::ReadMode;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum IndexCmd {
    /// Index a source tree: walk it (gitignore-aware), chunk, embed, build.
    Create {
        /// Source tree to index.
        #[arg(long)]
        input: PathBuf,
        /// Index directory to create.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Configuration (JSON).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the files and chunks per language that would be indexed.
        #[arg(long)]
        dry_run: bool,
        /// List every file (and every skipped file with its reason).
        #[arg(long)]
        verbose: bool,
        /// Show progress bars even when stderr is not a terminal.
        #[arg(long)]
        progress: bool,
        /// Replace an existing index at --output: the new index is built
        /// beside it and swapped in only when complete. A directory that is
        /// not a leann index is never replaced.
        #[arg(long)]
        force: bool,
        /// With --force: seconds to wait for the old index's writer lock.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_WAIT_LOCK_SECS)]
        wait_lock: f64,
        /// Continue the create of --output that was interrupted (killed, or
        /// failed after a checkpoint) from its last checkpoint, instead of
        /// starting over. Starts from the beginning when there is none.
        #[arg(long)]
        resume: bool,
        /// Seconds between checkpoints: the most work an interrupted create
        /// loses.
        #[arg(long, value_name = "SECS", default_value_t = leann::ingest::checkpoint::DEFAULT_INTERVAL_SECS)]
        checkpoint_secs: f64,
        /// Embedding model: `builtin`, or a model directory (a static model
        /// from `leann model distill`, or a sentence-transformers BERT
        /// directory). Default: the config's embeddingServer if it has one,
        /// else builtin.
        #[arg(long)]
        model: Option<String>,
        /// Memory the build may use: a size (2G, 512MiB) or a share of RAM
        /// (25%, the default; the config's memoryBudget). A graph whose
        /// in-memory build would not fit is built out of core, in
        /// partitions.
        #[arg(long, value_name = "SIZE")]
        memory_budget: Option<String>,
    },
    /// Bring an index up to date with its tree: changed, added and removed
    /// files, through the write-ahead log.
    Update {
        #[arg(long)]
        index: PathBuf,
        /// The tree (default: the one the index was built from).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Re-examine only the paths `git diff --name-status A B` names
        /// (renames and deletions included), read from the tree on disk.
        #[arg(long, num_args = 2, value_names = ["A", "B"])]
        git_diff: Option<Vec<String>>,
        /// Compact afterwards when the compaction policy asks for it.
        #[arg(long)]
        compact: bool,
        /// Keep running: update after every burst of file changes.
        #[arg(long, conflicts_with = "git_diff")]
        watch: bool,
        /// With --watch: quiet time after the last change before updating.
        #[arg(long, default_value_t = 300)]
        debounce_ms: u64,
        /// Seconds to wait for another writer's lock on the index.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_WAIT_LOCK_SECS)]
        wait_lock: f64,
    },
    /// Fold the write-ahead log's upserts and deletes into a new segment.
    Compact {
        #[arg(long)]
        index: PathBuf,
        /// Only when the compaction policy asks for it.
        #[arg(long)]
        if_needed: bool,
        /// Rebuild from scratch (quantizer included, every chunk re-embedded)
        /// instead of the policy's choice, usually a streaming merge.
        #[arg(long)]
        rebuild: bool,
        /// Show progress bars even when stderr is not a terminal.
        #[arg(long)]
        progress: bool,
        /// Seconds to wait for another writer's lock on the index.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_WAIT_LOCK_SECS)]
        wait_lock: f64,
    },
    /// Rebuild an index from scratch: anchors, quantizer and graph, every
    /// chunk re-embedded, the log folded in. In place (under the writer
    /// lock; queries keep answering from the old segments until the new one
    /// is in), or into a new index at --output, leaving --index as it is.
    Rebuild {
        #[arg(long)]
        index: PathBuf,
        /// Anchors (k-means centroids) of the rebuilt index: more cover the
        /// space better at the cost of memory (default: the index's
        /// configuration, sqrt(N) if it names none). Kept for later
        /// compactions.
        #[arg(long, value_name = "N")]
        new_anchor_count: Option<usize>,
        /// Write the rebuilt index here (a new or empty directory, or an
        /// index with --force) instead of replacing --index.
        #[arg(long)]
        output: Option<PathBuf>,
        /// With --output: replace an index there once the new one is complete.
        #[arg(long, requires = "output")]
        force: bool,
        /// Show progress bars even when stderr is not a terminal.
        #[arg(long)]
        progress: bool,
        /// Seconds to wait for another writer's lock on the index.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_WAIT_LOCK_SECS)]
        wait_lock: f64,
    },
    /// Verify every checksum of an index and print what it holds.
    Validate {
        index: PathBuf,
        #[arg(long, default_value = "auto")]
        io: String,
    },
    /// Print sizes and settings of an index.
    Stats {
        index: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "auto")]
        io: String,
    },
}

/// Default of `--wait-lock`, seconds (`engine::dir::DEFAULT_LOCK_WAIT`).
const DEFAULT_WAIT_LOCK_SECS: f64 = 5.0;

/// `--wait-lock SECS` as a duration.
fn lock_wait(secs: f64) -> leann::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| {
        leann::Error::argument(
            "--wait-lock",
            format!("--wait-lock {secs}: not a number of seconds (0 or more)"),
        )
    })
}

pub fn run(c: IndexCmd) -> leann::Result<i32> {
    match c {
        IndexCmd::Create {
            input,
            output,
            config,
            dry_run,
            verbose,
            progress,
            force,
            wait_lock,
            resume,
            checkpoint_secs,
            model,
            memory_budget,
        } => {
            let st = super::storage("auto")?;
            let mut cfg = super::load_config(config.as_deref(), st.as_ref())?;
            if let Some(m) = memory_budget {
                let m = leann::config::MemorySize::Text(m);
                let ram = leann::io::total_memory_bytes().unwrap_or(8 << 30);
                m.bytes("--memory-budget", ram)
                    .map_err(|e| leann::Error::argument("--memory-budget", e.to_string()))?;
                cfg.memory_budget = Some(m);
            }
            if dry_run {
                return dry_run_report(st.as_ref(), &input, &cfg, verbose);
            }
            let output = output.ok_or_else(|| {
                leann::Error::argument(
                    "--output",
                    "index create needs --output PATH (or --dry-run)",
                )
            })?;
            let placement =
                |out: &Path| leann::ingest::tree::check_output_placement(&input, out, &cfg);
            if !(checkpoint_secs.is_finite() && checkpoint_secs >= 0.0) {
                return Err(leann::Error::argument(
                    "--checkpoint-secs",
                    format!(
                        "--checkpoint-secs {checkpoint_secs}: not a number of seconds (0 or more)"
                    ),
                ));
            }
            let resumable = |dir: &Path| leann::ingest::checkpoint::has_work(st.as_ref(), dir);
            let o = leann::engine::dir::CreateOptions {
                force,
                lock_wait: lock_wait(wait_lock)?,
                placement: Some(&placement),
                resumable: Some(&resumable),
                resume,
            };
            create(
                st.as_ref(),
                &input,
                &output,
                &cfg,
                &o,
                std::time::Duration::from_secs_f64(checkpoint_secs),
                verbose,
                progress,
                model,
            )
        }
        IndexCmd::Update {
            index,
            input,
            git_diff,
            compact,
            watch,
            debounce_ms,
            wait_lock,
        } => {
            let st = super::storage("auto")?;
            let t_open = std::time::Instant::now();
            let mut s = leann::search::searcher::Searcher::open(
                st.clone(),
                &index,
                input.as_deref(),
                None,
            )?;
            s.index.lock_wait = lock_wait(wait_lock)?;
            let open_seconds = t_open.elapsed().as_secs_f64();
            if watch {
                return watch_tree(&mut s, st.as_ref(), input.as_deref(), debounce_ms, compact);
            }
            let only = match &git_diff {
                Some(ab) => {
                    let root = leann::ingest::update::tree_root(&s, input.as_deref())?;
                    let g = leann::ingest::update::git_changes(&root, &ab[0], &ab[1])?;
                    if g.b_is_not_head {
                        eprintln!(
                            "warning: {} is not the checked-out commit; changed files are read from the tree on disk",
                            ab[1]
                        );
                    }
                    println!(
                        "git diff {} {}: {} paths ({} renames)",
                        ab[0],
                        ab[1],
                        g.paths.len(),
                        g.renames
                    );
                    Some(g.paths)
                }
                None => None,
            };
            let r = leann::ingest::update::update_paths(
                &mut s,
                st.as_ref(),
                input.as_deref(),
                only.as_ref(),
            )?;
            if let Some(note) = &r.stamps_note {
                eprintln!("warning: {note}; every file was checked by content");
            }
            println!(
                "{} files scanned in {:.3} s ({} unchanged by their stamps): {} changed, {} added, {} removed; {} chunks upserted ({} embedded, {} reused, {} of them from segments)",
                r.files_scanned,
                r.seconds,
                r.files_trusted,
                r.files_changed,
                r.files_added,
                r.files_removed,
                r.chunks_upserted,
                r.chunks_embedded,
                r.chunks_reused,
                r.chunks_reused_from_segments
            );
            println!(
                "  open {open_seconds:.3} s, walk {:.3} s, index chunks {:.3} s ({} paths), check files {:.3} s, embed {:.3} s, write {:.3} s",
                r.walk_seconds, r.known_seconds, r.paths_viewed, r.check_seconds, r.embed_seconds, r.write_seconds
            );
            let plan = leann::engine::compact::plan(&leann::engine::compact::stats(&s.index));
            if let (false, leann::engine::compact::Plan::Compact { reason, .. }) = (compact, &plan)
            {
                // Until then every query process replays the log and indexes
                // its chunks' text again.
                eprintln!(
                    "note: compaction is due ({reason}); queries read the log until `leann index compact --index {} --if-needed` (or `index update --compact`)",
                    index.display()
                );
            }
            if compact {
                if let leann::engine::compact::Plan::Compact { method, reason } = plan {
                    println!("compacting ({}): {reason}", method_name(method));
                    let c = s.compact(method, &|_| {})?;
                    println!(
                        "compacted {} live chunks in {:.2} s",
                        c.live_vectors, c.seconds
                    );
                }
            }
            Ok(0)
        }
        IndexCmd::Compact {
            index,
            if_needed,
            rebuild,
            progress,
            wait_lock,
        } => {
            let st = super::storage("auto")?;
            let mut s = leann::search::searcher::Searcher::open(st.clone(), &index, None, None)?;
            s.index.lock_wait = lock_wait(wait_lock)?;
            // The policy looks at the index as it is under the lock.
            s.lock_writes()?;
            let stats = leann::engine::compact::stats(&s.index);
            let plan = leann::engine::compact::plan(&stats);
            if let (true, leann::engine::compact::Plan::Nothing) = (if_needed, &plan) {
                println!(
                    "nothing to do: {} live upserts, {} of {} segment vectors hidden",
                    stats.delta_upserts, stats.hidden_segment_vectors, stats.segment_vectors
                );
                return Ok(0);
            }
            let method = match (&plan, rebuild) {
                (_, true) => leann::engine::compact::Method::Rebuild,
                (leann::engine::compact::Plan::Compact { method, reason }, false) => {
                    println!("compacting ({}): {reason}", method_name(*method));
                    *method
                }
                (leann::engine::compact::Plan::Nothing, false) => {
                    leann::engine::compact::method_for(&stats)
                }
            };
            let bars = super::progress::Bars::new(progress);
            let rep = s.compact(method, &|p| bars.update(p));
            bars.finish();
            let rep = rep?;
            println!(
                "compacted {} live chunks by {} in {:.2} s; folded logs {:?}; removed {} files",
                rep.live_vectors,
                method_name(rep.method),
                rep.seconds,
                rep.folded_logs,
                rep.removed_files.len()
            );
            Ok(0)
        }
        IndexCmd::Rebuild {
            index,
            new_anchor_count,
            output,
            force,
            progress,
            wait_lock,
        } => rebuild(
            &index,
            new_anchor_count,
            output.as_deref(),
            force,
            progress,
            lock_wait(wait_lock)?,
        ),
        IndexCmd::Validate { index, io } => {
            let st = super::storage(&io)?;
            let idx = Index::open(st.as_ref(), &index, ReadMode::Buffered, Some(0))?;
            let checked = leann::engine::verify::verify(&idx)?;
            // The stamps cache is not needed to open the index, but damage
            // to it is still damage.
            let stamps = index.join(leann::engine::stamps::FILE_NAME);
            let n_stamps = if st.exists(&stamps) {
                let s = leann::format::stamps::decode(&stamps, &st.read_all(&stamps)?)?;
                format!(", {} file stamps", s.entries.len())
            } else {
                String::new()
            };
            let logs = leann::engine::verify::logs(&idx, st.as_ref())?;
            let torn: Vec<&leann::engine::verify::LogReport> =
                logs.iter().filter(|l| l.torn_bytes > 0).collect();
            println!(
                "{}: {} segments, {} vectors, {} sectors verified{n_stamps}; {} logs, {} committed batches ({} records, {} bytes)",
                if torn.is_empty() { "ok" } else { "damaged" },
                idx.segments.len(),
                idx.len(),
                checked,
                logs.len(),
                logs.iter().map(|l| l.batches).sum::<usize>(),
                logs.iter().map(|l| l.records).sum::<usize>(),
                logs.iter().map(|l| l.bytes).sum::<u64>(),
            );
            for l in &logs {
                println!(
                    "  {}: {} batches, {} records, {} bytes",
                    l.name, l.batches, l.records, l.bytes
                );
            }
            for l in &torn {
                println!(
                    "  {}: {} bytes after the last committed batch (offset {}) are a torn or unfinished batch; the next writer discards them",
                    l.name, l.torn_bytes, l.torn_at
                );
            }
            // Exit 1: opening this index for writing will drop bytes.
            Ok(if torn.is_empty() { 0 } else { 1 })
        }
        IndexCmd::Stats { index, json, io } => {
            let st = super::storage(&io)?;
            let idx = Index::open(st.as_ref(), &index, ReadMode::Buffered, Some(0))?;
            let n = idx.len().max(1) as f64;
            let files = idx.file_bytes();
            let total: u64 = files.iter().map(|f| f.1).sum();
            if json {
                let v = serde_json::to_string(&leann::engine::stats::stats(&idx))
                    .map_err(|e| leann::Error::internal(format!("stats as JSON: {e}")))?;
                println!("{v}");
            } else {
                println!(
                    "{} vectors, dim {}, metric {:?}, {} segment(s)",
                    idx.len(),
                    idx.dim,
                    idx.metric,
                    idx.segments.len()
                );
                for (k, b) in &files {
                    println!(
                        "  {k:<12} {b:>12} bytes  {:>8.1} bytes/vector",
                        *b as f64 / n
                    );
                }
                println!(
                    "  {:<12} {total:>12} bytes  {:>8.1} bytes/vector",
                    "total",
                    total as f64 / n
                );
                let d = leann::engine::stats::stats(&idx);
                println!(
                    "delta: {} upserts, {} segment vectors hidden ({:.1}% of the main index's {}; compaction at {} upserts)",
                    d.delta_upserts,
                    d.hidden_segment_vectors,
                    100.0 * d.delta_index_size as f64 / d.main_index_size.max(1) as f64,
                    d.main_index_size,
                    d.compaction_threshold
                );
            }
            Ok(0)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn create(
    st: &dyn leann::io::Storage,
    input: &std::path::Path,
    output: &std::path::Path,
    cfg: &leann::config::Config,
    o: &leann::engine::dir::CreateOptions<'_>,
    checkpoint_every: std::time::Duration,
    verbose: bool,
    progress: bool,
    model: Option<String>,
) -> leann::Result<i32> {
    use leann::embed::EmbedderSpec;
    let spec = match (model, &cfg.embedding_server) {
        (Some(m), _) => EmbedderSpec::parse(&m)?,
        (None, Some(s)) => EmbedderSpec::Server(s.clone()),
        (None, None) => EmbedderSpec::Builtin,
    };
    let embedder = spec.load(st)?;
    let bars = super::progress::Bars::new(progress);
    let rep = leann::engine::dir::create_index(st, output, o, |staging| {
        leann::ingest::tree::create_from_tree_with(
            st,
            input,
            staging,
            cfg,
            embedder.as_ref(),
            spec.clone(),
            checkpoint_every,
            &|p| bars.update(p),
        )
    });
    bars.finish();
    let rep = rep?;
    let bytes = rep.build.files.total();
    if verbose {
        for (reason, paths) in &rep.skips.by_reason {
            for p in paths {
                println!("skipped ({}): {}", reason.label(), p.display());
            }
        }
    }
    if let Some((files, chunks)) = rep.resumed {
        println!("resumed from a checkpoint: {files} files ({chunks} chunks) were done");
    } else if o.resume {
        println!("nothing to resume: created from the beginning");
    }
    for (lang, (nf, nc, nb)) in &rep.per_language {
        println!("{lang:<12} {nf:>8} files {nc:>9} chunks {nb:>12} bytes");
    }
    // A resumed run's rate counts the chunks it read itself.
    let this_run = rep.chunks - rep.resumed.map_or(0, |r| r.1);
    println!(
        "indexed {} files, {} chunks in {:.2} s ({:.0} chunks/s{}): scan {:.2} s, chunk {:.2} s, embed {:.2} s, build {:.2} s{}",
        rep.files,
        rep.chunks,
        rep.seconds,
        this_run as f64 / rep.seconds.max(1e-9),
        if rep.resumed.is_some() {
            format!(" over the {this_run} chunks of this run; chunk and embed times include the interrupted run's")
        } else {
            String::new()
        },
        rep.scan_seconds,
        rep.chunk_seconds,
        rep.embed_seconds,
        rep.build.seconds,
        match rep.build.graph_partitions {
            0 => String::new(),
            p => format!(" (graph built out of core in {p} partitions, within the memory budget)"),
        }
    );
    println!(
        "model {} ({}), dim {}; index {} bytes ({:.1} bytes/chunk) in {}",
        embedder.model_id(),
        spec.describe(),
        embedder.dim(),
        bytes,
        bytes as f64 / rep.chunks.max(1) as f64,
        output.display()
    );
    println!(
        "skipped {} files{}; peak RSS {:.0} MB",
        rep.skips.total(),
        if rep.skips.total() > 0 {
            format!(" ({})", rep.skips.summary())
        } else {
            String::new()
        },
        leann::io::peak_rss_bytes().unwrap_or(0) as f64 / 1e6
    );
    Ok(0)
}

/// `index create --dry-run`: walk, read and chunk, report per language.
fn dry_run_report(
    st: &dyn leann::io::Storage,
    input: &std::path::Path,
    cfg: &leann::config::Config,
    verbose: bool,
) -> leann::Result<i32> {
    use leann::chunk::{chunk_text, read_source, walk};
    use std::collections::BTreeMap;
    let t0 = std::time::Instant::now();
    let opts = cfg.walk_options()?;
    let (files, mut skips) = walk(input, &opts)?;
    let mut per: BTreeMap<&'static str, (usize, usize, u64)> = BTreeMap::new();
    let mut total_chunks = 0usize;
    use rayon::prelude::*;
    let results: Vec<Result<usize, leann::chunk::SkipReason>> = files
        .par_iter()
        .map(|f| read_source(st, &f.abs).map(|text| chunk_text(&f.rel, f.language, &text).len()))
        .collect();
    for (f, r) in files.iter().zip(results) {
        match r {
            Ok(n) => {
                let e = per.entry(f.language.name()).or_default();
                e.0 += 1;
                e.1 += n;
                e.2 += f.bytes;
                total_chunks += n;
                if verbose {
                    println!("{}\t{}\t{} chunks", f.rel, f.language.name(), n);
                }
            }
            Err(reason) => skips.add(reason, f.rel.clone().into()),
        }
    }
    println!(
        "{:<12} {:>8} {:>8} {:>12}",
        "language", "files", "chunks", "bytes"
    );
    for (lang, (nf, nc, nb)) in &per {
        println!("{lang:<12} {nf:>8} {nc:>8} {nb:>12}");
    }
    let indexed: usize = per.values().map(|v| v.0).sum();
    println!(
        "{indexed} files, {total_chunks} chunks in {:.2} s; skipped {} ({})",
        t0.elapsed().as_secs_f64(),
        skips.total(),
        if skips.total() == 0 {
            "none".to_string()
        } else {
            skips.summary()
        }
    );
    if verbose {
        for (reason, paths) in &skips.by_reason {
            for p in paths {
                println!("skipped ({}): {}", reason.label(), p.display());
            }
        }
    }
    Ok(0)
}

/// `leann index rebuild`.
fn rebuild(
    index: &Path,
    anchors: Option<usize>,
    output: Option<&Path>,
    force: bool,
    progress: bool,
    wait: std::time::Duration,
) -> leann::Result<i32> {
    if anchors == Some(0) {
        return Err(leann::Error::argument(
            "--new-anchor-count",
            "--new-anchor-count 0: an index needs at least one anchor",
        ));
    }
    let st = super::storage("auto")?;
    let bars = super::progress::Bars::new(progress);
    let run = |dir: &Path| -> leann::Result<leann::engine::compact::CompactReport> {
        let mut s = leann::search::searcher::Searcher::open(st.clone(), dir, None, None)?;
        s.index.lock_wait = wait;
        s.lock_writes()?;
        if let Some(n) = anchors {
            s.index.config.anchor_selection.clusters = Some(n);
        }
        s.compact(leann::engine::compact::Method::Rebuild, &|p| bars.update(p))
    };
    let rep = match output {
        None => run(index),
        Some(out) => {
            // Opening it first: a missing or damaged --index fails before
            // anything is made at --output.
            leann::engine::index::Index::open(st.as_ref(), index, ReadMode::Buffered, Some(0))?;
            let same = |a: &Path, b: &Path| matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y);
            if same(index, out) {
                return Err(leann::Error::argument(
                    "--output",
                    format!(
                        "--output {} is --index itself: leave out --output to rebuild in place",
                        out.display()
                    ),
                ));
            }
            let o = leann::engine::dir::CreateOptions {
                force,
                lock_wait: wait,
                ..Default::default()
            };
            leann::engine::dir::create_index(st.as_ref(), out, &o, |staging| {
                leann::engine::dir::copy_index(st.as_ref(), index, staging, wait)?;
                run(staging)
            })
        }
    };
    bars.finish();
    let rep = rep?;
    let dir = output.unwrap_or(index);
    let idx = leann::engine::index::Index::open(st.as_ref(), dir, ReadMode::Buffered, Some(0))?;
    println!(
        "rebuilt {} live chunks in {:.2} s: {} anchors; folded logs {:?}; index {}",
        rep.live_vectors,
        rep.seconds,
        idx.segments
            .iter()
            .map(|s| s.quant.anchors.k)
            .sum::<usize>(),
        rep.folded_logs,
        dir.display()
    );
    Ok(0)
}

fn method_name(m: leann::engine::compact::Method) -> &'static str {
    match m {
        leann::engine::compact::Method::Merge => "streaming merge",
        leann::engine::compact::Method::Rebuild => "rebuild",
    }
}

/// `leann index update --watch`: runs until killed (every update is durable
/// when its line is printed).
fn watch_tree(
    s: &mut leann::search::searcher::Searcher,
    st: &dyn leann::io::Storage,
    input: Option<&Path>,
    debounce_ms: u64,
    compact: bool,
) -> leann::Result<i32> {
    let o = leann::ingest::watch::WatchOptions {
        debounce: std::time::Duration::from_millis(debounce_ms),
        compact,
        ..Default::default()
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    leann::ingest::watch::watch(s, st, input, &o, &stop, &mut |e| match e {
        leann::ingest::watch::WatchEvent::Ready { polling } => eprintln!(
            "watching{}; Ctrl-C to stop",
            if polling { " by polling" } else { "" }
        ),
        leann::ingest::watch::WatchEvent::Warning(w)
        | leann::ingest::watch::WatchEvent::Polling(w) => eprintln!("warning: {w}"),
        leann::ingest::watch::WatchEvent::Updated(r) => {
            if r.files_changed + r.files_added + r.files_removed > 0 {
                println!(
                    "{} changed, {} added, {} removed; {} chunks upserted ({} embedded) in {:.3} s ({} files walked: walk {:.3}, index chunks {:.3}, check {:.3}, embed {:.3}, write {:.3})",
                    r.files_changed,
                    r.files_added,
                    r.files_removed,
                    r.chunks_upserted,
                    r.chunks_embedded,
                    r.seconds,
                    r.files_scanned,
                    r.walk_seconds,
                    r.known_seconds,
                    r.check_seconds,
                    r.embed_seconds,
                    r.write_seconds
                );
            }
        }
        leann::ingest::watch::WatchEvent::Compacted(c) => println!(
            "compacted {} live chunks by {} in {:.2} s",
            c.live_vectors,
            method_name(c.method),
            c.seconds
        ),
    })?;
    Ok(0)
}
