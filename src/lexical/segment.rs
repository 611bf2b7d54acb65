//! One segment's lexical index: building it with tantivy (in a scratch
//! directory, then packed into `seg-S.lex` through the storage layer) and
//! searching it, with BM25 statistics that can span several indexes (the
//! segments and the delta) so their scores compare.

use super::packed::PackedDirectory;
use crate::error::{Error, Result};
use crate::format::lex::{self, LexHead, PackedFile};
use crate::io::Storage;
use std::path::Path;
use std::sync::Arc;
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{Index, IndexWriter, Term};

/// The tokenizer name the schema refers to: the text is already tokens.
const TOKENIZER: &str = "leann";
/// Memory tantivy's writer may use before it flushes a segment.
const WRITER_BUDGET_BYTES: usize = 128 << 20;

fn lexerr(op: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Lexical {
        op,
        why: e.to_string(),
    }
}

/// Memory tantivy may hold while it reads a segment's lexical index: this
/// base plus `LEX_BUDGET_PER_FILE_BYTE` per byte of the file (F-7).
const LEX_BUDGET_BASE_BYTES: u64 = 256 << 20;
const LEX_BUDGET_PER_FILE_BYTE: u64 = 8;

/// Runs `f`, a call into tantivy over bytes read from an index file, and
/// turns a panic inside tantivy into an error: tantivy's decoders trust the
/// bytes of its files and can panic on crafted ones whose CRC is valid
/// (found by the `lex` fuzz target), while leann's decoders must return an
/// error for any bytes (SPEC.md F-1). The default panic hook still prints
/// the panic's message on stderr. Nothing `f` touches outlives a panic:
/// the open fails, or the query does, and the segment's state is read-only.
///
/// With `file` (path, bytes), `f` also runs under an allocation budget
/// (`memory::with_budget`, F-7): tantivy also trusts the counts in its
/// files, and a crafted count makes it allocate without end, which no
/// catch can stop; past the budget the process exits (code 2) naming the
/// file.
fn contained<T>(
    file: Option<(&Path, u64)>,
    f: impl FnOnce() -> Result<T>,
) -> std::result::Result<Result<T>, String> {
    let run = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let caught = match file {
        None => run(),
        Some((path, bytes)) => {
            let budget = LEX_BUDGET_BASE_BYTES
                .saturating_add(bytes.saturating_mul(LEX_BUDGET_PER_FILE_BYTE));
            let msg = format!(
                "error: {}: reading this lexical index made tantivy allocate more than {} MiB, far more than a {bytes}-byte file needs: the file is crafted or damaged (its checksums hold). Stopped before memory ran out; nothing was written. Rebuild the index (leann index create --force) from its source tree",
                path.display(),
                budget >> 20
            );
            crate::memory::with_budget(budget, &msg, run)
        }
    };
    caught.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        format!("tantivy failed on the index's bytes: {msg}")
    })
}

/// `body`'s field id: the first field `schema` adds (no schema per query).
const BODY: Field = Field::from_field_id(0);

/// The schema: `body` (space-joined tokens, frequencies, no positions) and
/// `row` (u64 fast field: the row's position in build order).
fn schema() -> (Schema, Field, Field) {
    let mut sb = Schema::builder();
    let body = sb.add_text_field(
        "body",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        ),
    );
    let row = sb.add_u64_field("row", FAST);
    debug_assert_eq!(body, BODY);
    (sb.build(), body, row)
}

fn register(index: &Index) {
    index.tokenizers().register(
        TOKENIZER,
        TextAnalyzer::builder(WhitespaceTokenizer::default()).build(),
    );
}

/// Builds a lexical index row by row (in a scratch directory).
pub struct LexBuilder {
    /// The temporary directory tantivy writes in, when the builder owns it
    /// (None: a resumable create's work directory, `dir`).
    _scratch: Option<tempfile::TempDir>,
    dir: std::path::PathBuf,
    index: Index,
    writer: IndexWriter,
    body: Field,
    row: Field,
    rows: u64,
}

impl LexBuilder {
    pub fn new() -> Result<LexBuilder> {
        Self::fresh_in(&std::env::temp_dir(), "leann-lex")
    }

    /// A builder writing in a fresh directory in `parent` (a build's
    /// scratch directory), removed when it drops.
    pub fn new_in(parent: &Path) -> Result<LexBuilder> {
        Self::fresh_in(parent, "lex")
    }

    fn fresh_in(parent: &Path, prefix: &str) -> Result<LexBuilder> {
        let scratch = crate::io::temp_dir_in(parent, prefix)?;
        let dir = scratch.path().to_path_buf();
        let index = Index::create_in_dir(&dir, schema().0)
            .map_err(|e| lexerr("create scratch index", e))?;
        Self::started(Some(scratch), dir, index, 0)
    }

    /// A builder writing in `dir` (a new, empty directory that outlives it:
    /// a resumable create's work directory).
    pub fn create_in(dir: &Path) -> Result<LexBuilder> {
        let index =
            Index::create_in_dir(dir, schema().0).map_err(|e| lexerr("create scratch index", e))?;
        Self::started(None, dir.to_path_buf(), index, 0)
    }

    /// The builder in `dir` as its last [`checkpoint`](Self::checkpoint)
    /// left it (rows added after that are gone), which must hold `rows` rows.
    pub fn resume(dir: &Path, rows: u64) -> Result<LexBuilder> {
        let index = Index::open_in_dir(dir).map_err(|e| lexerr("reopen scratch index", e))?;
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| lexerr("reopen scratch index", e))?;
        let have = reader.searcher().num_docs();
        if have != rows {
            return Err(Error::corrupt(
                dir,
                0,
                format!("the checkpoint recorded {rows} lexical rows but the index holds {have}"),
            ));
        }
        drop(reader);
        Self::started(None, dir.to_path_buf(), index, rows)
    }

    fn started(
        scratch: Option<tempfile::TempDir>,
        dir: std::path::PathBuf,
        index: Index,
        rows: u64,
    ) -> Result<LexBuilder> {
        let (_, body, row) = schema();
        register(&index);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let writer: IndexWriter = index
            .writer_with_num_threads(threads, WRITER_BUDGET_BYTES)
            .map_err(|e| lexerr("start writer", e))?;
        // `finish` merges every segment into one itself. With tantivy's
        // default policy, the commit before it would start background merges
        // of the same segments once there are 8 or more (a large tree), and
        // the explicit merge then fails: "the segments that were merged could
        // not be found" (seen on a 200,000-file tree by benches/scale.rs).
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        Ok(LexBuilder {
            _scratch: scratch,
            dir,
            index,
            writer,
            body,
            row,
            rows,
        })
    }

    /// Make every row added so far durable (tantivy's commit): a later
    /// [`resume`](Self::resume) starts after them.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.writer
            .commit()
            .map_err(|e| lexerr("commit", e))
            .map(|_| ())
    }

    /// Add the next row (rows are numbered in the order they are added).
    pub fn add(&mut self, tokens: &[String]) -> Result<()> {
        self.add_body(tokens.join(" "))
    }

    /// Add the next row given as its tokens joined by spaces.
    pub fn add_body(&mut self, body: String) -> Result<()> {
        let mut d = tantivy::TantivyDocument::default();
        d.add_u64(self.row, self.rows);
        d.add_text(self.body, body);
        self.writer
            .add_document(d)
            .map_err(|e| lexerr("add document", e))?;
        self.rows += 1;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Commit, merge into one tantivy segment, and pack the files into
    /// `path` (durably, through `storage`) with `node_of_row`. Returns the
    /// container's size.
    pub fn finish(
        mut self,
        storage: &dyn Storage,
        path: &Path,
        node_of_row: &[u32],
    ) -> Result<u64> {
        if node_of_row.len() as u64 != self.rows {
            return Err(Error::internal(format!(
                "lexical index: {} rows but {} nodes given",
                self.rows,
                node_of_row.len()
            )));
        }
        self.writer.commit().map_err(|e| lexerr("commit", e))?;
        let ids = self
            .index
            .searchable_segment_ids()
            .map_err(|e| lexerr("list segments", e))?;
        if ids.len() > 1 {
            self.writer
                .merge(&ids)
                .wait()
                .map_err(|e| lexerr("merge", e))?;
        }
        self.writer
            .garbage_collect_files()
            .wait()
            .map_err(|e| lexerr("clean up", e))?;
        self.writer
            .wait_merging_threads()
            .map_err(|e| lexerr("finish merges", e))?;
        let dir = self.dir.as_path();
        let mut names: Vec<String> = storage
            .list_dir(dir)?
            .into_iter()
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        names.sort();
        let mut maps = Vec::with_capacity(names.len());
        let mut files = Vec::with_capacity(names.len());
        for n in &names {
            let m = storage.map(&dir.join(n))?;
            files.push(PackedFile {
                name: n.clone(),
                offset: 0,
                len: m.len() as u64,
                crc: crc32fast::hash(&m),
                block_crcs: lex::block_crcs(&m),
            });
            // Read whole for its checksums; copied below, read again then.
            m.release_range(0..m.len());
            maps.push(m);
        }
        let mut head = LexHead {
            tantivy_format: tantivy::INDEX_FORMAT_VERSION,
            node_of_row: node_of_row.to_vec(),
            files,
            block_crcs: true,
        };
        let (_, offs) = lex::layout(&head);
        for (f, o) in head.files.iter_mut().zip(&offs) {
            f.offset = *o;
        }
        let bytes = lex::encode_head(&head);
        let mut w = storage.create(path)?;
        w.write_all(&bytes)?;
        let mut at = bytes.len() as u64;
        for (f, m) in head.files.iter().zip(&maps) {
            w.write_all(&vec![0u8; (f.offset - at) as usize])?;
            w.write_all(m)?;
            m.release_range(0..m.len());
            at = f.offset + f.len;
        }
        let end = at.next_multiple_of(lex::FILE_ALIGN_BYTES);
        w.write_all(&vec![0u8; (end - at) as usize])?;
        w.finish()?;
        Ok(end)
    }
}

/// A segment's lexical index, open for search.
pub struct LexSegment {
    /// The container's head; its `node_of_row` is empty (rows are read
    /// one at a time: `node_of_row`).
    pub head: LexHead,
    rows: lex::LexRows,
    /// Nodes of the segment (every row's node must be below).
    nodes: usize,
    pub dir: PackedDirectory,
    searcher: tantivy::Searcher,
    path: std::path::PathBuf,
    bytes: u64,
}

impl LexSegment {
    /// Open `path`; every row must name a node below `nodes`.
    pub fn open(storage: &dyn Storage, path: &Path, nodes: usize) -> Result<LexSegment> {
        let map = storage.map(path)?;
        let bytes = map.len() as u64;
        // Rows are read per hit and checked then (F-8).
        let (head, rows) = lex::decode_lazy(path, &map)?;
        map.advise_random();
        let dir = PackedDirectory::new(path, map, &head);
        let searcher = contained(Some((path, bytes)), || {
            let searcher = Self::open_tantivy(path, &dir, rows.len())?;
            // The row column is read on every search: read it once here so
            // that a bad one fails the open, naming the file.
            Self::row_column(path, &searcher)?;
            Ok(searcher)
        })
        .map_err(|why| Error::corrupt(path, 0, why))??;
        Ok(LexSegment {
            head,
            rows,
            nodes,
            dir,
            searcher,
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// Tantivy's index and searcher over the container's files.
    fn open_tantivy(path: &Path, dir: &PackedDirectory, rows: u64) -> Result<tantivy::Searcher> {
        let index = Index::open(dir.clone()).map_err(|e| {
            Error::corrupt(
                path,
                0,
                format!("tantivy cannot open the lexical index: {e}"),
            )
        })?;
        register(&index);
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| Error::corrupt(path, 0, format!("lexical index reader: {e}")))?;
        let searcher = reader.searcher();
        if searcher.num_docs() != rows {
            return Err(Error::corrupt(
                path,
                0,
                format!(
                    "{} lexical documents for {} rows",
                    searcher.num_docs(),
                    rows
                ),
            ));
        }
        Ok(searcher)
    }

    /// Every tantivy segment's `row` column.
    fn row_column(path: &Path, searcher: &tantivy::Searcher) -> Result<()> {
        for r in searcher.segment_readers() {
            r.fast_fields()
                .u64("row")
                .map_err(|e| Error::corrupt(path, 0, format!("lexical row column: {e}")))?;
        }
        Ok(())
    }

    /// Check everything (`leann index validate`): every tantivy file's
    /// CRCs, the whole table, and every row's node.
    pub fn verify_all(&self) -> Result<()> {
        self.dir.verify_all()?;
        let head = lex::decode_head(&self.path, self.dir.bytes())?;
        if let Some(n) = head.node_of_row.iter().find(|&&n| n as usize >= self.nodes) {
            return Err(Error::corrupt(
                &self.path,
                0,
                format!("a row names node {n}, the segment has {}", self.nodes),
            ));
        }
        Ok(())
    }

    /// Lexical rows (documents).
    pub fn rows(&self) -> u64 {
        self.rows.len()
    }

    /// The segment node of lexical row `row`, read and checked.
    pub fn node_of_row(&self, row: u64) -> Result<u32> {
        let n = self.rows.get(&self.path, self.dir.bytes(), row)?;
        if n as usize >= self.nodes {
            return Err(Error::corrupt(
                &self.path,
                0,
                format!("row {row} names node {n}, the segment has {}", self.nodes),
            ));
        }
        Ok(n)
    }

    /// Whether each row's node passes `node_ok`, for every row (indexed by
    /// row), in one pass over the row table; a row naming a node outside the
    /// segment is an error naming this file.
    pub fn rows_where(&self, node_ok: impl Fn(usize) -> bool) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(self.rows.len() as usize);
        let mut bad = None;
        self.rows.for_each(&self.path, self.dir.bytes(), |row, n| {
            if n as usize >= self.nodes {
                bad.get_or_insert(row);
                out.push(false);
            } else {
                out.push(node_ok(n as usize));
            }
        })?;
        if let Some(row) = bad {
            // Re-read it for the same error `node_of_row` gives.
            self.node_of_row(row)?;
        }
        Ok(out)
    }

    pub fn searcher(&self) -> &tantivy::Searcher {
        &self.searcher
    }

    /// The best `k` rows for `query` that `allow` accepts (see [`search`]);
    /// a failure inside tantivy is an error naming this file.
    pub fn search(
        &self,
        query: &dyn Query,
        stats: &Combined<'_>,
        k: usize,
        allow: Option<Arc<Vec<bool>>>,
    ) -> Result<Vec<(f32, u64)>> {
        contained(Some((&self.path, self.bytes)), || {
            search_unguarded(&self.searcher, query, stats, k, allow)
        })
        .map_err(|why| Error::corrupt(&self.path, 0, why))?
    }

    pub fn file_bytes(&self) -> u64 {
        self.bytes
    }
}

/// A lexical index in memory (the delta's upserts), rows numbered in the
/// order given.
pub struct LexMemory {
    searcher: tantivy::Searcher,
}

impl LexMemory {
    pub fn build(docs: &[Vec<String>]) -> Result<LexMemory> {
        Self::build_streamed(|add| {
            for t in docs {
                add(&t.join(" "))?;
            }
            Ok(())
        })
    }

    /// Build from documents handed over one at a time by `feed`, each a
    /// body of tokens joined by spaces (each call of `add` is the next
    /// row): nothing but tantivy's own index holds a document once it is
    /// added, so a log of 100,000 upserts does not hold all their tokens
    /// at once.
    pub fn build_streamed(
        feed: impl FnOnce(&mut dyn FnMut(&str) -> Result<()>) -> Result<()>,
    ) -> Result<LexMemory> {
        let (schema, body, row) = schema();
        let index = Index::create_in_ram(schema);
        register(&index);
        // 64 MB before tantivy cuts a segment, and no merges: the index
        // lives for one process, and merging it there only costs time (a
        // log of ~130,000 upserts spent a fifth of its build merging). One
        // indexing thread: with two, which segment a row lands in varies
        // from run to run, and so would the order of equal scores.
        let mut w: IndexWriter = index
            .writer_with_num_threads(1, 64 << 20)
            .map_err(|e| lexerr("start writer", e))?;
        w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut i = 0u64;
        feed(&mut |t: &str| {
            let mut d = tantivy::TantivyDocument::default();
            d.add_u64(row, i);
            d.add_text(body, t);
            w.add_document(d).map_err(|e| lexerr("add document", e))?;
            i += 1;
            Ok(())
        })?;
        w.commit().map_err(|e| lexerr("commit", e))?;
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| lexerr("reader", e))?;
        Ok(LexMemory {
            searcher: reader.searcher(),
        })
    }

    pub fn searcher(&self) -> &tantivy::Searcher {
        &self.searcher
    }
}

/// BM25 statistics summed over several indexes (segments and the delta), so
/// their scores are on one scale.
pub struct Combined<'a>(pub Vec<&'a tantivy::Searcher>);

impl tantivy::query::Bm25StatisticsProvider for Combined<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.0.iter().map(|s| s.total_num_tokens(field)).sum()
    }
    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.0.iter().map(|s| s.total_num_docs()).sum()
    }
    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.0.iter().map(|s| s.doc_freq(term)).sum()
    }
}

/// The query: any of the distinct tokens (BM25 sums their scores).
pub fn query_for(tokens: &[String]) -> Box<dyn Query> {
    let body = BODY;
    let mut seen = std::collections::HashSet::new();
    let terms: Vec<Box<dyn Query>> = tokens
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .map(|t| {
            Box::new(TermQuery::new(
                Term::from_field_text(body, t),
                IndexRecordOption::WithFreqs,
            )) as Box<dyn Query>
        })
        .collect();
    Box::new(BooleanQuery::union(terms))
}

/// The best `k` rows of `searcher` for `query` that `allow` (by row)
/// accepts, scored with `stats`: (score, row), best first. For an index
/// built in memory (the log's); a segment's file goes through
/// [`LexSegment::search`].
pub fn search(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    stats: &Combined<'_>,
    k: usize,
    allow: Option<Arc<Vec<bool>>>,
) -> Result<Vec<(f32, u64)>> {
    contained(None, || search_unguarded(searcher, query, stats, k, allow))
        .map_err(|why| lexerr("search", why))?
}

fn search_unguarded(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    stats: &Combined<'_>,
    k: usize,
    allow: Option<Arc<Vec<bool>>>,
) -> Result<Vec<(f32, u64)>> {
    let top = TopDocs::with_limit(k.max(1));
    let docs = match allow {
        None => searcher.search_with_statistics_provider(query, &top, stats),
        Some(a) => {
            let c = FilterCollector::new(
                "row".to_string(),
                move |r: u64| a.get(r as usize).copied().unwrap_or(false),
                top,
            );
            searcher.search_with_statistics_provider(query, &c, stats)
        }
    }
    .map_err(|e| lexerr("search", e))?;
    let mut out = Vec::with_capacity(docs.len());
    for (score, addr) in docs {
        let col = searcher
            .segment_reader(addr.segment_ord)
            .fast_fields()
            .u64("row")
            .map_err(|e| lexerr("row column", e))?;
        let row = col
            .first(addr.doc_id)
            .ok_or_else(|| lexerr("row column", "a document without a row"))?;
        out.push((score, row));
    }
    Ok(out)
}
