//! Format robustness (SPEC.md requirements F-1..F-6): every decoder rejects
//! truncated and bit-flipped files with an error naming the file and offset,
//! never panics; newer major versions are refused naming the supported one;
//! the golden v1 fixtures in format/v1 still open and answer as recorded.

mod common;

use common::*;
use leann::ann::vectors::VectorSource;
use leann::config::Config;
use leann::engine::index::{FromSource, Index, QueryContext};
use leann::io::memory::MemStorage;
use leann::io::{ReadMode, Storage};
use leann::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shapes of index the corruption tests damage: bare vectors, with full
/// vectors in the graph, and with chunk metadata and stored text.
const SHAPES: [(bool, bool); 3] = [(false, false), (true, false), (false, true)];

fn small_index(st: &MemStorage, dir: &Path, full: bool, chunks: bool) {
    let base = clustered(600, 16, 4, 1);
    let cfg = Config::from_json(
        &format!(r#"{{"seed":1,"graph":{{"storeFullVectors":{full}}}}}"#),
        "test",
    )
    .unwrap();
    let mut table = chunks.then(|| fake_chunks(base.len()));
    leann::engine::index::Index::build(
        st,
        dir,
        &base,
        leann::engine::index::BuildInput {
            ids: None,
            chunks: table.as_mut(),
            info: Default::default(),
            replace: None,
        },
        &cfg,
        &|_| {},
    )
    .unwrap();
}

/// Chunk metadata with stored text for `n` vectors.
fn fake_chunks(n: usize) -> leann::engine::chunkstore::ChunkTable {
    let mut t = leann::engine::chunkstore::ChunkTable::new(true, false).unwrap();
    for i in 0..n {
        let text = format!("fn f{i}() {{ println!(\"{i}\"); }}\n");
        let z = leann::engine::chunkstore::compress_text(&text).unwrap();
        let sym = format!("f{i}");
        t.push(&leann::engine::chunkstore::NewChunk {
            path: &format!("src/m{}.rs", i % 7),
            language: leann::lang::Language::Rust,
            start_line: 1 + i as u32,
            end_line: 1 + i as u32,
            start_byte: 40 * i,
            end_byte: 40 * i + text.len(),
            symbol: (i % 3 != 0).then_some(sym.as_str()),
            hash: leann::chunk::split::content_hash(&text),
            compressed: Some(&z),
            text: Some(&text),
        })
        .unwrap();
    }
    t
}

/// Open and fully verify; the error, if any.
fn check(st: &MemStorage, dir: &Path) -> Option<Error> {
    match Index::open(st, dir, ReadMode::Buffered, Some(0)) {
        Err(e) => Some(e),
        Ok(idx) => leann::engine::verify::verify(&idx).err(),
    }
}

fn assert_names_file(e: &Error, file: &Path, what: &str) {
    match e {
        Error::Corrupt { path, .. } | Error::UnsupportedVersion { path, .. } => {
            assert_eq!(path, file, "{what}: error names another file: {e}")
        }
        other => panic!(
            "{what}: expected a corruption error naming {}, got {other}",
            file.display()
        ),
    }
    let msg = e.to_string();
    assert!(
        msg.contains(&*file.to_string_lossy()),
        "{what}: message lacks the path: {msg}"
    );
}

fn files(st: &MemStorage, dir: &Path) -> Vec<PathBuf> {
    st.list_dir(dir)
        .unwrap()
        .into_iter()
        .map(|n| dir.join(n))
        .collect()
}

/// F-1: truncation anywhere is an error naming the file.
#[test]
fn truncated_files_are_rejected() {
    for (full, chunks) in SHAPES {
        let st = MemStorage::default();
        let dir = Path::new("/idx");
        small_index(&st, dir, full, chunks);
        assert!(check(&st, dir).is_none());
        for f in files(&st, dir) {
            let orig = st.read_all(&f).unwrap();
            let mut cuts: Vec<usize> = vec![
                0,
                1,
                8,
                31,
                32,
                33,
                40,
                64,
                100,
                orig.len() / 2,
                orig.len() - 4,
                orig.len() - 1,
            ];
            cuts.retain(|&c| c < orig.len());
            for cut in cuts {
                st.put(&f, orig[..cut].to_vec());
                let e = check(&st, dir)
                    .unwrap_or_else(|| panic!("{} cut to {cut} bytes accepted", f.display()));
                assert_names_file(&e, &f, &format!("{} cut to {cut}", f.display()));
            }
            st.put(&f, orig);
        }
    }
}

/// F-2: any single flipped bit is an error naming the file.
#[test]
fn bit_flips_are_rejected() {
    for (full, chunks) in SHAPES {
        let st = MemStorage::default();
        let dir = Path::new("/idx");
        small_index(&st, dir, full, chunks);
        for f in files(&st, dir) {
            let orig = st.read_all(&f).unwrap();
            let step = (orig.len() / 1500).max(1);
            let positions: Vec<usize> = (0..orig.len().min(256))
                .chain((256..orig.len()).step_by(step))
                .collect();
            for pos in positions {
                let mut bad = orig.clone();
                bad[pos] ^= 1 << (pos % 8);
                st.put(&f, bad);
                let e = check(&st, dir)
                    .unwrap_or_else(|| panic!("{} with byte {pos} flipped accepted", f.display()));
                assert_names_file(&e, &f, &format!("{} flip at {pos}", f.display()));
                if let Error::Corrupt { offset, .. } = e {
                    assert!(offset <= orig.len() as u64);
                }
            }
            st.put(&f, orig);
        }
        assert!(check(&st, dir).is_none());
    }
}

/// F-3: a file of a newer major version is refused naming the supported one.
#[test]
fn newer_major_version_is_refused() {
    let st = MemStorage::default();
    let dir = Path::new("/idx");
    small_index(&st, dir, false, true);
    for f in files(&st, dir) {
        let orig = st.read_all(&f).unwrap();
        let mut b = orig.clone();
        b[8..10].copy_from_slice(&2u16.to_le_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        st.put(&f, b);
        let e = check(&st, dir).expect("newer version accepted");
        assert!(
            matches!(
                e,
                Error::UnsupportedVersion {
                    found_major: 2,
                    supported_major: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("major version 1"), "{e}");
        st.put(&f, orig);
    }
}

/// F-1, F-2: random garbage never panics a decoder.
#[test]
fn garbage_never_panics() {
    use leann::format::{chunks, codes, graph, idmap, manifest, pq};
    let p = Path::new("garbage");
    let mut r = leann::ann::rng::Rng::new(77);
    for len in [0usize, 1, 7, 32, 33, 64, 200, 4096, 5000] {
        for _ in 0..50 {
            let mut b: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
            assert!(pq::decode(p, &b).is_err());
            assert!(codes::decode(p, &b).is_err());
            assert!(idmap::decode(p, &b).is_err());
            assert!(manifest::decode(p, &b).is_err());
            assert!(chunks::decode_head(p, &b).is_err());
            assert!(leann::format::stamps::decode(p, &b).is_err());
            assert!(graph::decode_header_sector(p, &b, len as u64).is_err());
            // Valid header, garbage metadata lengths.
            if len >= 32 {
                for kind in [
                    leann::format::header::PQ,
                    leann::format::header::CODES,
                    leann::format::header::IDMAP,
                    leann::format::header::MANIFEST,
                    leann::format::header::CHUNKS,
                    leann::format::header::STAMPS,
                ] {
                    let meta: Vec<u8> = b[32..].to_vec();
                    let enc = leann::format::header::encode(kind, 0, &meta);
                    b = enc;
                    let _ = pq::decode(p, &b);
                    let _ = codes::decode(p, &b);
                    let _ = idmap::decode(p, &b);
                    let _ = manifest::decode(p, &b);
                    let _ = chunks::decode_head(p, &b);
                    let _ = leann::format::stamps::decode(p, &b);
                    let _ = leann::format::lex::decode_head(p, &b);
                }
            }
        }
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.0")
}

fn fixture12_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.2")
}

fn fixture14_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.4")
}

fn fixture13_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.3")
}

fn fixture11_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.1")
}

/// The base vectors the v1.0 fixture was built from.
fn fixture_base() -> leann::ann::vectors::VecVectors {
    clustered(600, 16, 4, 1)
}

fn fixture_results(idx: &Index) -> Vec<Vec<u64>> {
    let qs = queries(20, 16, 4, 1);
    let base = fixture_base();
    let exact = FromSource(&base);
    let mut c = QueryContext::default();
    (0..qs.len())
        .map(|i| {
            idx.search(qs.vector(i), &idx.default_params(5), &exact, &mut c)
                .unwrap()
                .hits
                .iter()
                .map(|h| h.id)
                .collect()
        })
        .collect()
}

/// Decode and re-encode every file of `dir`; each must give its own bytes.
/// Every file of `dir` decodes and encodes again to its exact bytes, once the
/// header of the re-encoded file carries the file's own minor version (this
/// build writes `FORMAT_MINOR`; a 1.1 file re-encodes as 1.2 otherwise).
fn assert_reencodes(st: &dyn Storage, dir: &Path, n_anchors: usize) {
    use leann::format::{chunks, codes, idmap, lex, manifest, pq, stamps};
    for name in st.list_dir(dir).unwrap() {
        let p = dir.join(&name);
        let b = st.read_all(&p).unwrap();
        let mut again = if name == stamps::FILE_NAME {
            stamps::encode(&stamps::decode(&p, &b).unwrap())
        } else if name.ends_with(".pq") {
            pq::encode(&pq::decode(&p, &b).unwrap())
        } else if name.ends_with(".codes") {
            codes::encode(&codes::decode(&p, &b).unwrap(), n_anchors)
        } else if name.ends_with(".ids") {
            idmap::encode(&idmap::decode(&p, &b).unwrap())
        } else if name == "MANIFEST" {
            manifest::encode(&manifest::decode(&p, &b).unwrap())
        } else if name.ends_with(".lex") {
            let h = lex::decode_head(&p, &b).unwrap();
            let mut out = lex::encode_head(&h);
            let start = out.len();
            out.extend_from_slice(&b[start..]);
            out
        } else if name.ends_with(".chunks") {
            let h = chunks::decode_head(&p, &b).unwrap();
            let mut out = chunks::encode_head(
                &h.paths,
                &h.symbols,
                &h.records,
                h.has_text,
                h.text_bytes,
                h.indexed,
            );
            out.extend_from_slice(&b[h.text_start as usize..]);
            out
        } else {
            continue;
        };
        if again[10..12] != b[10..12] {
            again[10..12].copy_from_slice(&b[10..12]);
            let crc = crc32fast::hash(&again[..28]);
            again[28..32].copy_from_slice(&crc.to_le_bytes());
        }
        assert_eq!(again, b, "{name} does not re-encode identically");
    }
}

/// F-5: the golden v1.0 fixture (written before chunk files and manifest
/// info existed) still opens, verifies, and answers the recorded queries with
/// the recorded ids; its manifest reads as one with empty info.
#[test]
fn golden_v1_0_fixture_still_reads() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture_dir().join("index");
    let idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, Some(0)).unwrap();
    leann::engine::verify::verify(&idx).unwrap();
    assert!(idx.manifest.info_json.is_empty());
    assert_eq!(idx.info, leann::engine::manifest::IndexInfo::default());
    // Files other than the manifest did not change between 1.0 and 1.1 but
    // for the minor version in the header; re-encoding them writes 1.1.
    let m = dir.join("MANIFEST");
    let b = st.read_all(&m).unwrap();
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 0, "fixture is not 1.0");
    let again = leann::format::manifest::encode(&leann::format::manifest::decode(&m, &b).unwrap());
    assert_eq!(
        leann::format::manifest::decode(&m, &again).unwrap(),
        leann::format::manifest::decode(&m, &b).unwrap()
    );
    let expected: Vec<Vec<u64>> =
        serde_json::from_slice(&st.read_all(&fixture_dir().join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(fixture_results(&idx), expected);
}

/// The queries of the v1.1 fixture.
const FIXTURE11_QUERIES: [&str; 3] = [
    "evict the entry that was used longest ago",
    "zip a folder into a file named with the date",
    "what is in this fixture",
];

fn fixture11_results(s: &leann::search::searcher::Searcher) -> Vec<Vec<(String, u32)>> {
    let mut ctx = QueryContext::default();
    // Semantic ranking, as the fixtures were recorded with.
    let o = leann::search::searcher::QueryOptions {
        k: 3,
        semantic_ratio: Some(1.0),
        ..Default::default()
    };
    FIXTURE11_QUERIES
        .iter()
        .map(|q| {
            s.query(q, &o, &mut ctx)
                .unwrap()
                .into_iter()
                .map(|r| (r.path, r.start_line))
                .collect()
        })
        .collect()
}

/// F-5: the golden v1.1 fixture (an index of format/v1.1/tree with chunk
/// metadata and stored text) opens, verifies, re-encodes byte for byte, and
/// answers its text queries as recorded.
#[test]
fn golden_v1_1_fixture_still_reads() {
    check_tree_fixture(&fixture11_dir());
}

/// A searcher over the tree-index fixture at `index` (the v1.1 tree).
/// The built-in model the tree fixtures were made with (format/models).
fn builtin_v1() -> leann::embed::static_model::StaticModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("format/models/builtin-v1");
    leann::embed::static_model::StaticModel::from_bytes(
        leann::embed::static_model::BUILTIN_V1_ID,
        &std::fs::read(dir.join("tokenizer.json")).unwrap(),
        &std::fs::read(dir.join("model.safetensors")).unwrap(),
        &dir,
        true,
    )
    .unwrap()
}

fn fixture_searcher(st: &Arc<dyn Storage>, index: &Path) -> leann::search::searcher::Searcher {
    leann::search::searcher::Searcher::open(
        st.clone(),
        index,
        Some(&fixture11_dir().join("tree")),
        Some(Box::new(builtin_v1())),
    )
    .unwrap()
}

/// Indexes made with earlier built-in models (v1: the v1.4 fixture, v2: the
/// v1.5 fixture), opened with the model they recorded, are refused with an
/// error that names both models and says to create the index again.
#[test]
fn index_of_an_earlier_builtin_model_is_refused_with_a_hint() {
    use leann::embed::static_model::{BUILTIN_ID, BUILTIN_V1_ID, BUILTIN_V2_ID};
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    for (fixture, old) in [("v1.4", BUILTIN_V1_ID), ("v1.5", BUILTIN_V2_ID)] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("format")
            .join(fixture)
            .join("index");
        let err = match leann::search::searcher::Searcher::open(st.clone(), &dir, None, None) {
            Ok(_) => panic!("an index of {old} opened with {BUILTIN_ID}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(old), "{err}");
        assert!(err.contains(BUILTIN_ID), "{err}");
        assert!(err.contains("index create"), "{err}");
    }
}

/// Open the tree-index fixture in `fixture/index` over the v1.1 tree, verify
/// it, check that its files re-encode byte for byte and that it answers the
/// v1.1 text queries as `fixture/expected.json` records.
fn check_tree_fixture(fixture: &Path) {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture.join("index");
    let s = fixture_searcher(&st, &dir);
    leann::engine::verify::verify(&s.index).unwrap();
    assert_reencodes(st.as_ref(), &dir, s.index.segments[0].quant.anchors.k);
    let expected: Vec<Vec<(String, u32)>> =
        serde_json::from_slice(&st.read_all(&fixture.join("expected.json")).unwrap()).unwrap();
    assert_eq!(fixture11_results(&s), expected);
}

/// Regenerates format/v1.0 (run by hand after a deliberate format change:
/// `cargo test --release --test format -- --ignored regenerate`).
#[test]
#[ignore]
fn regenerate_v1_0_fixture() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture_dir().join("index");
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_json(r#"{"seed":1}"#, "fixture").unwrap();
    Index::create(st.as_ref(), &dir, &fixture_base(), None, &cfg).unwrap();
    let idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, Some(0)).unwrap();
    let res = fixture_results(&idx);
    st.write_atomic(
        &fixture_dir().join("expected.json"),
        serde_json::to_string(&res).unwrap().as_bytes(),
    )
    .unwrap();
}

/// F-5: the golden v1.2 fixture (format/v1.1/tree indexed by 1.2, with file
/// stamps) opens, verifies, re-encodes byte for byte (FILES included), and
/// answers the v1.1 queries as recorded.
#[test]
fn golden_v1_2_fixture_still_reads() {
    check_tree_fixture(&fixture12_dir());
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture12_dir().join("index");
    let b = st.read_all(&dir.join("MANIFEST")).unwrap();
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 2, "fixture is not 1.2");
    let stamps = leann::format::stamps::decode(
        &dir.join("FILES"),
        &st.read_all(&dir.join("FILES")).unwrap(),
    )
    .unwrap();
    let paths: Vec<&str> = stamps.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
}

/// Regenerates format/v1.2 (only by a 1.2 build: this one writes 1.3).
#[test]
#[ignore]
fn regenerate_v1_2_fixture() {
    regenerate_tree_fixture(&fixture12_dir());
}

/// F-5: the golden v1.3 fixture (format/v1.1/tree indexed by 1.3) opens,
/// verifies, re-encodes byte for byte, and answers the v1.1 queries as
/// recorded.
#[test]
fn golden_v1_3_fixture_still_reads() {
    check_tree_fixture(&fixture13_dir());
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let b = st
        .read_all(&fixture13_dir().join("index/MANIFEST"))
        .unwrap();
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 3, "fixture is not 1.3");
}

/// Regenerates format/v1.3 (only by a 1.3 build: this one writes 1.4).
#[test]
#[ignore]
fn regenerate_v1_3_fixture() {
    regenerate_tree_fixture(&fixture13_dir());
}

/// F-5: the golden v1.4 fixture (format/v1.1/tree indexed by 1.4, with a
/// lexical index per segment) opens, verifies (every packed file's CRC),
/// re-encodes its container heads byte for byte, answers the v1.1 queries as
/// recorded, and answers lexical-only queries from `seg-S.lex`.
#[test]
fn golden_v1_4_fixture_still_reads() {
    check_tree_fixture(&fixture14_dir());
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture14_dir().join("index");
    let b = st.read_all(&dir.join("MANIFEST")).unwrap();
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 4, "fixture is not 1.4");
    let s = fixture_searcher(&st, &dir);
    assert!(s.has_lexical());
    let o = leann::search::searcher::QueryOptions {
        k: 3,
        semantic_ratio: Some(0.0),
        ..Default::default()
    };
    let hits = s
        .query("lru cache evict", &o, &mut QueryContext::default())
        .unwrap();
    assert!(!hits.is_empty());
    let expected: Vec<(String, u32)> =
        serde_json::from_slice(&st.read_all(&fixture14_dir().join("lexical.json")).unwrap())
            .unwrap();
    let got: Vec<(String, u32)> = hits.into_iter().map(|r| (r.path, r.start_line)).collect();
    assert_eq!(got, expected);
}

/// An index of format 1.3 (no lexical index) still answers semantic
/// queries; asking for lexical ranking is an error that says what to do.
#[test]
fn v1_3_index_without_lexical_index() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let s = fixture_searcher(&st, &fixture13_dir().join("index"));
    assert!(!s.has_lexical());
    let mut o = leann::search::searcher::QueryOptions {
        k: 3,
        ..Default::default()
    };
    assert!(!s
        .query("lru cache", &o, &mut QueryContext::default())
        .unwrap()
        .is_empty());
    o.semantic_ratio = Some(0.5);
    let e = s
        .query("lru cache", &o, &mut QueryContext::default())
        .unwrap_err();
    assert!(e.to_string().contains("no lexical index"), "{e}");
}

/// Regenerates format/v1.4 (from the v1.1 tree) and its lexical answers.
#[test]
#[ignore]
fn regenerate_v1_4_fixture() {
    regenerate_tree_fixture(&fixture14_dir());
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let s = fixture_searcher(&st, &fixture14_dir().join("index"));
    let o = leann::search::searcher::QueryOptions {
        k: 3,
        semantic_ratio: Some(0.0),
        ..Default::default()
    };
    let got: Vec<(String, u32)> = s
        .query("lru cache evict", &o, &mut QueryContext::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.path, r.start_line))
        .collect();
    st.write_atomic(
        &fixture14_dir().join("lexical.json"),
        serde_json::to_string(&got).unwrap().as_bytes(),
    )
    .unwrap();
}

/// Regenerates format/v1.1 (only by a 1.1 build: this one writes 1.2).
#[test]
#[ignore]
fn regenerate_v1_1_fixture() {
    regenerate_tree_fixture(&fixture11_dir());
}

fn regenerate_tree_fixture(out: &Path) {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = out.join("index");
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::from_json(r#"{"seed":1,"storeText":true}"#, "fixture").unwrap();
    let emb = leann::embed::static_model::StaticModel::builtin().unwrap();
    leann::ingest::tree::create_from_tree(
        st.as_ref(),
        &fixture11_dir().join("tree"),
        &dir,
        &cfg,
        &emb,
        leann::embed::EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
    let s = leann::search::searcher::Searcher::open(st.clone(), &dir, None, None).unwrap();
    st.write_atomic(
        &out.join("expected.json"),
        serde_json::to_string(&fixture11_results(&s))
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
}

/// The records of the golden log `format/v1.1/wal/wal-00000001.log`: two
/// committed batches covering every record kind.
fn fixture_wal_batches() -> Vec<Vec<leann::format::wal::Record>> {
    use leann::format::wal::{Record, UpsertChunk};
    vec![
        vec![
            Record::Upsert {
                id: 7,
                vector: vec![0.5, -1.0, 2.0, 0.25],
                chunk: Some(UpsertChunk {
                    path: "src/lib.rs".into(),
                    language: leann::lang::Language::Rust,
                    start_line: 3,
                    end_line: 9,
                    start_byte: 40,
                    byte_len: 120,
                    symbol: Some("Pool::acquire".into()),
                    hash: [0xab; 16],
                }),
            },
            Record::Upsert {
                id: 8,
                vector: vec![1.0, 0.0, 0.0, 0.0],
                chunk: None,
            },
        ],
        vec![
            Record::DeleteId { id: 3 },
            Record::DeletePath {
                path: "old/gone.py".into(),
            },
        ],
    ]
}

/// The records of the golden log `format/v1.3/wal/wal-00000001.log`: the 1.1
/// log's batches and one holding a reused upsert (kind 6, since 1.3).
fn fixture13_wal_batches() -> Vec<Vec<leann::format::wal::Record>> {
    use leann::format::wal::{Record, UpsertChunk};
    let mut b = fixture_wal_batches();
    b.push(vec![
        Record::DeletePath {
            path: "src/lib.rs".into(),
        },
        Record::UpsertReused {
            id: 9,
            vector: vec![0.5, -1.0, 2.0, 0.25],
            chunk: UpsertChunk {
                path: "src/pool.rs".into(),
                language: leann::lang::Language::Rust,
                start_line: 1,
                end_line: 7,
                start_byte: 0,
                byte_len: 120,
                symbol: Some("Pool::acquire".into()),
                hash: [0xab; 16],
            },
        },
    ]);
    b
}

/// F-5 for the 1.3 log: it recovers to the recorded batches, kind 6
/// included.
#[test]
fn golden_v1_3_log_still_reads() {
    check_log_fixture(&fixture13_dir(), &fixture13_wal_batches());
    let b = std::fs::read(fixture13_dir().join("wal/wal-00000001.log")).unwrap();
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 3, "fixture is not 1.3");
}

/// Regenerates the golden 1.3 log (a new salt each time).
#[test]
#[ignore]
fn regenerate_v1_3_log_fixture() {
    write_log_fixture(&fixture13_dir(), &fixture13_wal_batches());
}

/// `fixture/wal/wal-00000001.log` (dimension 4) recovers to `batches`, with
/// nothing torn.
fn check_log_fixture(fixture: &Path, batches: &[Vec<leann::format::wal::Record>]) {
    let p = fixture.join("wal/wal-00000001.log");
    let b = std::fs::read(&p).unwrap();
    let (meta, rec) = leann::engine::wal::read_log(&p, &b).unwrap().unwrap();
    assert_eq!((meta.seq, meta.dim), (1, 4));
    assert_eq!(rec.torn_bytes, 0);
    assert_eq!(rec.batches, batches);
}

fn write_log_fixture(fixture: &Path, batches: &[Vec<leann::format::wal::Record>]) {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture.join("wal");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let w = leann::engine::wal::Wal::create(st.as_ref(), &dir, 1, 4).unwrap();
    for b in batches {
        w.commit(b).unwrap();
    }
}

/// F-1, F-2 for a reused upsert: every truncation of its payload and a
/// missing chunk is refused, naming the file.
#[test]
fn damaged_reused_upserts_are_refused() {
    let p = fixture13_dir().join("wal/wal-00000001.log");
    let b = std::fs::read(&p).unwrap();
    let meta = leann::format::wal::decode_header(&p, &b).unwrap();
    let batches = fixture13_wal_batches();
    let r = &batches[2][1];
    let mut frame = Vec::new();
    leann::format::wal::put_frame(&mut frame, meta.salt, r);
    assert!(matches!(
        leann::format::wal::frame_at(&p, &frame, 0, meta.salt),
        leann::format::wal::FrameAt::Frame(..)
    ));
    // The payload cut short, with its length and checksums made valid again:
    // the frame's checks pass, its payload does not decode.
    let payload = &frame[9..frame.len() - 4];
    let crc = |parts: &[&[u8]]| {
        let mut h = crc32fast::Hasher::new();
        h.update(&meta.salt.to_le_bytes());
        for x in parts {
            h.update(x);
        }
        h.finalize()
    };
    let reframe = |payload: &[u8]| {
        let len = (payload.len() as u32).to_le_bytes();
        let mut f = len.to_vec();
        f.extend_from_slice(&crc(&[&len]).to_le_bytes());
        f.push(leann::format::wal::KIND_UPSERT_REUSED);
        f.extend_from_slice(payload);
        f.extend_from_slice(
            &crc(&[&[leann::format::wal::KIND_UPSERT_REUSED], payload]).to_le_bytes(),
        );
        f
    };
    for cut in 0..payload.len() {
        match leann::format::wal::frame_at(&p, &reframe(&payload[..cut]), 0, meta.salt) {
            leann::format::wal::FrameAt::Unreadable(e) => {
                assert_names_file(&e, &p, &format!("cut {cut}"))
            }
            other => panic!("cut {cut}: {other:?}"),
        }
    }
    // has_chunk 0 is a plain upsert's, not a reused one's.
    let flag_at = 8 + 4 + 4 * 4;
    let mut no_chunk = payload[..flag_at].to_vec();
    no_chunk.push(0);
    match leann::format::wal::frame_at(&p, &reframe(&no_chunk), 0, meta.salt) {
        leann::format::wal::FrameAt::Unreadable(e) => {
            assert!(e.to_string().contains("without chunk metadata"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

/// F-5 for the write-ahead log: the golden log of format 1.1 still recovers
/// to the recorded batches, with nothing torn.
#[test]
fn golden_v1_1_log_still_reads() {
    check_log_fixture(&fixture11_dir(), &fixture_wal_batches());
}

/// Regenerates the golden log (a new salt each time; only by a 1.1 build).
#[test]
#[ignore]
fn regenerate_v1_1_log_fixture() {
    write_log_fixture(&fixture11_dir(), &fixture_wal_batches());
}

/// F-1, F-2 for `FILES` (not read by open, so not in the damage loops above):
/// every truncation and every single bit flip is an error naming the file.
#[test]
fn damaged_stamps_are_rejected() {
    use leann::format::stamps::{decode, encode, Stamp, Stamps};
    let s = Stamps {
        taken_ns: 1_700_000_000_000_000_000,
        root: "/src/tree".into(),
        entries: (0..40)
            .map(|i| Stamp {
                path: format!("src/m{i:02}.rs"),
                size: 100 + i,
                mtime_ns: 1_600_000_000_000_000_000 + i as i64,
                digest: [i as u8; 8],
            })
            .collect(),
        state: Some(leann::format::stamps::IndexState {
            manifest: [0x5a; 16],
            log_seq: 3,
            log_bytes: 4096,
        }),
    };
    let p = Path::new("/idx/FILES");
    // Without the index state (before 1.9) it decodes as none.
    let old = Stamps {
        state: None,
        ..s.clone()
    };
    assert_eq!(decode(p, &encode(&old)).unwrap(), old);
    let b = encode(&s);
    assert_eq!(decode(p, &b).unwrap(), s);
    for cut in 0..b.len() {
        let e = decode(p, &b[..cut]).expect_err("truncation accepted");
        assert_names_file(&e, p, &format!("cut to {cut}"));
    }
    for at in 0..b.len() {
        for bit in [0u8, 3, 7] {
            let mut d = b.clone();
            d[at] ^= 1 << bit;
            // Reserved header bytes are checked by the header CRC as well.
            let e = decode(p, &d).expect_err("bit flip accepted");
            assert_names_file(&e, p, &format!("flip at {at} bit {bit}"));
        }
    }
}

/// `FILES` entries are read a 64 KiB block at a time: entries that span two
/// blocks decode whole, and damage in a later block is found there.
#[test]
fn stamps_spanning_blocks_read_back() {
    use leann::format::stamps::{decode, encode, Stamp, Stamps};
    let s = Stamps {
        taken_ns: 1_700_000_000_000_000_000,
        root: "/src/tree".into(),
        entries: (0..6000u64)
            .map(|i| Stamp {
                path: format!(
                    "pkg/{:0width$}/m{i:05}.rs",
                    i % 97,
                    width = (i % 40 + 1) as usize
                ),
                size: i,
                mtime_ns: i as i64 * 3,
                digest: i.to_le_bytes(),
            })
            .collect::<Vec<_>>(),
        state: None,
    };
    let mut s = s;
    s.entries.sort_by(|a, b| a.path.cmp(&b.path));
    s.entries.dedup_by(|a, b| a.path == b.path);
    let p = Path::new("/idx/FILES");
    let b = encode(&s);
    assert!(b.len() > 3 * 65536, "only {} bytes", b.len());
    assert_eq!(decode(p, &b).unwrap(), s);
    let mut d = b.clone();
    let at = b.len() - 70_000;
    d[at] ^= 0x10;
    let e = decode(p, &d).expect_err("damage in a later block accepted");
    assert_names_file(&e, p, "later block");
    assert!(e.to_string().contains("checksum"), "{e}");
}

fn fixture15_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.5")
}

/// A searcher over the v1.5 fixture (made with the second built-in model,
/// format/models/builtin-v2).
fn fixture15_searcher(st: &Arc<dyn Storage>) -> leann::search::searcher::Searcher {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("format/models/builtin-v2");
    let model = leann::embed::static_model::StaticModel::from_bytes(
        leann::embed::static_model::BUILTIN_V2_ID,
        &std::fs::read(dir.join("tokenizer.json")).unwrap(),
        &std::fs::read(dir.join("model.safetensors")).unwrap(),
        &dir,
        true,
    )
    .unwrap();
    leann::search::searcher::Searcher::open(
        st.clone(),
        &fixture15_dir().join("index"),
        Some(&fixture11_dir().join("tree")),
        Some(Box::new(model)),
    )
    .unwrap()
}

/// F-5, F-3: the golden v1.5 fixture (format/v1.1/tree indexed by 1.5, with
/// the manifest's feature bits) opens, verifies, re-encodes byte for byte,
/// names the write features it uses, and answers the v1.1 queries as
/// recorded.
#[test]
fn golden_v1_5_fixture_still_reads() {
    use leann::format::manifest as m;
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture15_dir().join("index");
    let s = fixture15_searcher(&st);
    leann::engine::verify::verify(&s.index).unwrap();
    assert_reencodes(st.as_ref(), &dir, s.index.segments[0].quant.anchors.k);
    let b = st.read_all(&dir.join("MANIFEST")).unwrap();
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 5, "fixture is not 1.5");
    assert_eq!(
        s.index.manifest.features,
        Some(m::Features {
            read: 0,
            write: m::W_WRITER_LOCK | m::W_FILE_STAMPS | m::W_REUSED_UPSERTS | m::W_LEXICAL
        })
    );
    let expected: Vec<Vec<(String, u32)>> =
        serde_json::from_slice(&st.read_all(&fixture15_dir().join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(fixture11_results(&s), expected);
    // Manifests before 1.5 read as using no features.
    let old = Index::open(
        st.as_ref(),
        &fixture14_dir().join("index"),
        ReadMode::Buffered,
        Some(0),
    )
    .unwrap();
    assert_eq!(old.manifest.features, None);
}

/// Regenerates format/v1.5 (from the v1.1 tree).
#[test]
#[ignore]
fn regenerate_v1_5_fixture() {
    regenerate_tree_fixture(&fixture15_dir());
}

/// F-5: the golden tree fixture `format/v1.MINOR/` (format/v1.1/tree
/// indexed by that version) opens, verifies, re-encodes byte for byte, is
/// marked with its minor version and answers the v1.1 queries as recorded.
/// Returns the storage, the index directory and the open searcher.
fn golden_tree_fixture(
    minor: u16,
) -> (Arc<dyn Storage>, PathBuf, leann::search::searcher::Searcher) {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("format/v1.{minor}"));
    let dir = root.join("index");
    let s = leann::search::searcher::Searcher::open(
        st.clone(),
        &dir,
        Some(&fixture11_dir().join("tree")),
        None,
    )
    .unwrap();
    leann::engine::verify::verify(&s.index).unwrap();
    assert_reencodes(st.as_ref(), &dir, s.index.segments[0].quant.anchors.k);
    let b = st.read_all(&dir.join("MANIFEST")).unwrap();
    assert_eq!(
        u16::from_le_bytes([b[10], b[11]]),
        minor,
        "fixture is not 1.{minor}"
    );
    let expected: Vec<Vec<(String, u32)>> =
        serde_json::from_slice(&st.read_all(&root.join("expected.json")).unwrap()).unwrap();
    assert_eq!(fixture11_results(&s), expected);
    (st, dir, s)
}

fn fixture16_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.6")
}

/// F-5, F-4: the golden v1.6 fixture (format/v1.1/tree indexed by 1.6 with
/// the current built-in model) opens, verifies, re-encodes byte for byte,
/// stores its anchors and codebooks as binary16 (flag bit 0 of `seg-S.pq`,
/// half the bytes of the same values in f32) and answers the v1.1 queries
/// as recorded.
#[test]
fn golden_v1_6_fixture_still_reads() {
    use leann::format::header::PQ_FLAG_F16;
    let (st, dir, _s) = golden_tree_fixture(6);
    let pq_path = dir.join("seg-00000001.pq");
    let b = st.read_all(&pq_path).unwrap();
    let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    assert_eq!(
        flags, PQ_FLAG_F16,
        "anchors + codebooks not stored as binary16"
    );
    let p = leann::format::pq::decode(&pq_path, &b).unwrap();
    let values = p.anchors.len() + p.codebooks.len();
    assert!(
        b.len() < 32 + 64 + values * 3,
        "{} bytes for {values} values: not 2 bytes each",
        b.len()
    );
    // One value off the binary16 grid: the file is written in f32, with
    // 4 bytes per value.
    let mut wide = p.clone();
    wide.anchors[0] = f32::from_bits(wide.anchors[0].to_bits() ^ 1);
    let wide_bytes = leann::format::pq::encode(&wide);
    assert_eq!(
        u32::from_le_bytes(wide_bytes[12..16].try_into().unwrap()),
        0
    );
    assert!(wide_bytes.len() > b.len() + values);
}

/// Regenerates format/v1.6 (from the v1.1 tree).
#[test]
#[ignore]
fn regenerate_v1_6_fixture() {
    regenerate_tree_fixture(&fixture16_dir());
}

/// F-3: an index with a read feature this build does not know is refused on
/// open, naming the manifest; one with an unknown write feature opens and
/// answers, but is never written: taking it for writing fails before the
/// log is touched (a newer writer's log is not truncated as a torn tail).
#[test]
fn unknown_features_are_refused_for_reading_or_writing() {
    use leann::format::manifest as m;
    let st = MemStorage::default();
    let dir = Path::new("/mem/features");
    small_index(&st, dir, false, false);
    let mut idx = Index::open(&st, dir, ReadMode::Buffered, Some(0)).unwrap();
    idx.enable_writes(&st).unwrap();
    let v = clustered(1, 16, 4, 9);
    idx.write(&[leann::format::wal::Record::Upsert {
        id: 10_000,
        vector: v.vector(0).to_vec(),
        chunk: None,
    }])
    .unwrap();
    drop(idx);
    let log = dir.join("wal-00000001.log");
    // A newer writer's batch, cut short: to this build, a torn tail.
    let mut bytes = st.read_all(&log).unwrap();
    bytes.extend_from_slice(&[7u8; 40]);
    st.put(&log, bytes.clone());
    let mpath = dir.join("MANIFEST");
    let original = leann::format::manifest::decode(&mpath, &st.read_all(&mpath).unwrap()).unwrap();
    for (read, write) in [(1u32 << 31, 0u32), (0, 1 << 30)] {
        let mut man = original.clone();
        man.features = Some(m::Features { read, write });
        st.put(&mpath, leann::format::manifest::encode(&man));
        match Index::open(&st, dir, ReadMode::Buffered, Some(0)) {
            Err(e) => {
                assert!(read != 0, "{e}");
                assert!(
                    matches!(e, Error::UnsupportedFeatures { what: "read", .. }),
                    "{e}"
                );
                assert!(e.to_string().contains("MANIFEST"), "{e}");
            }
            Ok(mut idx) => {
                assert_eq!(read, 0);
                assert_eq!(idx.live_len(), 601, "the log's upsert is read");
                let e = idx.enable_writes(&st).unwrap_err();
                assert!(
                    matches!(e, Error::UnsupportedFeatures { what: "write", .. }),
                    "{e}"
                );
                assert!(e.to_string().contains("not changed"), "{e}");
                assert_eq!(st.read_all(&log).unwrap(), bytes, "the log was touched");
            }
        }
    }
}

/// F-4: a header flag bit this build does not know is refused in every kind
/// of file, naming the file (the header's checksum recomputed, so only the
/// flag is wrong).
#[test]
fn unknown_header_flags_are_refused() {
    let st = MemStorage::default();
    let dir = Path::new("/mem/flags");
    small_index(&st, dir, false, true);
    for name in st.list_dir(dir).unwrap() {
        let p = dir.join(&name);
        let orig = st.read_all(&p).unwrap();
        let mut b = orig.clone();
        b[15] |= 0x40; // bit 30 of the flags
        let crc = crc32fast::hash(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        st.put(&p, b);
        let e = check(&st, dir).unwrap_or_else(|| panic!("{name}: unknown flag accepted"));
        assert_names_file(&e, &p, "unknown flags");
        st.put(&p, orig);
    }
    assert!(check(&st, dir).is_none());
}

/// F-6: files that are each valid but belong to another index (another
/// size, dimension or quantizer) are refused on open, naming a file; none is
/// silently read against the wrong others.
#[test]
fn files_of_another_index_are_refused() {
    let st = MemStorage::default();
    let a = Path::new("/mem/a");
    small_index(&st, a, false, true);
    let b = Path::new("/mem/b");
    let base = clustered(300, 8, 3, 2);
    let cfg = Config::from_json(r#"{"seed":2}"#, "test").unwrap();
    let mut table = Some(fake_chunks(base.len()));
    leann::engine::index::Index::build(
        &st,
        b,
        &base,
        leann::engine::index::BuildInput {
            ids: None,
            chunks: table.as_mut(),
            info: Default::default(),
            replace: None,
        },
        &cfg,
        &|_| {},
    )
    .unwrap();
    for name in st.list_dir(a).unwrap() {
        if name == "MANIFEST" {
            continue;
        }
        let (pa, pb) = (a.join(&name), b.join(&name));
        let orig = st.read_all(&pa).unwrap();
        st.put(&pa, st.read_all(&pb).unwrap());
        let e = check(&st, a).unwrap_or_else(|| panic!("{name} of another index accepted"));
        assert!(
            matches!(&e, Error::Corrupt { path, .. } if path.starts_with(a)),
            "{name}: {e}"
        );
        st.put(&pa, orig);
    }
    assert!(check(&st, a).is_none());
}

fn fixture17_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.7")
}

/// F-5, F-8: the golden v1.7 fixture (format/v1.1/tree indexed by 1.7)
/// opens, verifies, re-encodes byte for byte, carries a CRC per 64 KiB block
/// of each tantivy file in `seg-S.lex` (flag bit 0), stores its PQ codes in
/// 4 KiB blocks (`seg-S.codes` flag bit 0) and answers the v1.1
/// queries as recorded.
#[test]
fn golden_v1_7_fixture_still_reads() {
    use leann::format::header::LEX_FLAG_BLOCK_CRCS;
    let (st, dir, _s) = golden_tree_fixture(7);
    let lex_path = dir.join("seg-00000001.lex");
    let b = st.read_all(&lex_path).unwrap();
    let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    assert_eq!(flags, LEX_FLAG_BLOCK_CRCS, "no block CRCs in seg-S.lex");
    let b = st.read_all(&dir.join("seg-00000001.codes")).unwrap();
    let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    assert_eq!(
        flags,
        leann::format::header::CODES_FLAG_SMALL_BLOCKS,
        "codes not in 4 KiB blocks"
    );
    let b = st.read_all(&lex_path).unwrap();
    let h = leann::format::lex::decode_head(&lex_path, &b).unwrap();
    assert!(h.block_crcs);
    for f in &h.files {
        assert_eq!(
            f.block_crcs,
            leann::format::lex::block_crcs(&b[f.offset as usize..(f.offset + f.len) as usize])
        );
    }
}

/// Regenerates format/v1.7 (from the v1.1 tree).
#[test]
#[ignore]
fn regenerate_v1_7_fixture() {
    regenerate_tree_fixture(&fixture17_dir());
}

/// F-5, F-8: the golden v1.8 fixture (format/v1.1/tree indexed by 1.8)
/// carries the path index, node list and symbol index (`seg-S.chunks` flag
/// bit 1) and they answer as the records do: every path read through the
/// index is the table's, every file's node list is the nodes whose records
/// name it, and every symbol's name finds its nodes.
#[test]
fn golden_v1_8_fixture_still_reads() {
    use leann::format::chunks::{self, FLAG_INDEX, FLAG_TEXT};
    let (st, dir, s) = golden_tree_fixture(8);
    let cpath = dir.join("seg-00000001.chunks");
    let b = st.read_all(&cpath).unwrap();
    let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    assert_eq!(flags, FLAG_TEXT | FLAG_INDEX, "no index sections");
    let head = chunks::decode_head(&cpath, &b).unwrap();
    assert!(head.indexed);
    let store = s.index.segments[0].chunks.as_ref().unwrap();
    assert!(store.is_indexed());
    assert_eq!(store.n_paths(), head.paths.len());
    let mut seen = 0;
    for (p, (lang, want)) in head.paths.iter().enumerate() {
        let (l, got) = store.path_entry(p as u32).unwrap();
        assert_eq!((l, got.as_ref()), (*lang, want.as_str()));
        let nodes = store.nodes_of_path(p as u32).unwrap().unwrap();
        let want_nodes: Vec<u32> = (0..head.records.len() as u32)
            .filter(|&i| head.records[i as usize].path == p as u32)
            .collect();
        assert_eq!(nodes, want_nodes, "{want}");
        seen += nodes.len();
    }
    assert_eq!(seen, head.records.len());
    let mut named = 0;
    for (i, r) in head.records.iter().enumerate() {
        let Some(field) = head.symbol(r) else {
            continue;
        };
        for one in field.split(", ") {
            let Some(last) = chunks::symbol_components(one)
                .last()
                .map(|c| c.to_lowercase())
            else {
                continue;
            };
            let nodes = store.symbol_candidates(&last).unwrap().unwrap();
            assert!(nodes.contains(&(i as u32)), "{one} does not find node {i}");
            named += 1;
        }
    }
    assert!(named >= 3, "only {named} symbols in the fixture");
    assert!(store
        .symbol_candidates("no_such_name_at_all")
        .unwrap()
        .unwrap()
        .is_empty());
}

/// Regenerates format/v1.8 (from the v1.1 tree).
#[test]
#[ignore]
fn regenerate_v1_8_fixture() {
    regenerate_tree_fixture(&Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.8"));
}

/// F-5, T-6: the golden v1.9 fixture (format/v1.1/tree indexed by 1.9)
/// opens, verifies, re-encodes byte for byte and answers the v1.1 queries
/// as recorded; its `FILES` records the index state it was written in
/// (the manifest's digest, no log), and that state holds for the fixture.
#[test]
fn golden_v1_9_fixture_still_reads() {
    let (st, dir, _s) = golden_tree_fixture(9);
    let p = dir.join(leann::engine::stamps::FILE_NAME);
    let stamps = leann::format::stamps::decode(&p, &st.read_all(&p).unwrap()).unwrap();
    let state = stamps.state.expect("no index state in a 1.9 FILES");
    assert_eq!((state.log_seq, state.log_bytes), (0, 0));
    let m = st.read_all(&dir.join("MANIFEST")).unwrap();
    assert_eq!(state.manifest, blake3::hash(&m).as_bytes()[..16]);
    let holds = |dir: &Path| {
        let (now, logs) = leann::engine::dir::index_state(st.as_ref(), dir).unwrap();
        leann::engine::stamps::state_holds(&state, &now, &logs)
    };
    assert!(holds(&dir));
    // Another manifest (here: the next generation) voids it.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&dir, tmp.path());
    let mpath = tmp.path().join("MANIFEST");
    let mut next = leann::format::manifest::decode(&mpath, &m).unwrap();
    next.generation += 1;
    std::fs::write(&mpath, leann::format::manifest::encode(&next)).unwrap();
    assert!(!holds(tmp.path()));
}

/// Regenerates format/v1.9 (from the v1.1 tree).
#[test]
#[ignore]
fn regenerate_v1_9_fixture() {
    regenerate_tree_fixture(&Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1.9"));
}

/// F-8: a damaged block of chunk records, or of a tantivy file in
/// `seg-S.lex`, does not stop the index from opening (nothing is read
/// whole); the first read that touches it fails naming the file and the
/// block's offset, `validate` finds it, and reads of other blocks work.
#[test]
fn lazy_reads_find_damage_when_touched() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    copy_dir(&fixture17_dir().join("index"), &dir);
    let tree = fixture11_dir().join("tree");
    // Chunk records: flip a byte of the last record.
    let cpath = dir.join("seg-00000001.chunks");
    let good = std::fs::read(&cpath).unwrap();
    let s = leann::search::searcher::Searcher::open(st.clone(), &dir, Some(&tree), None).unwrap();
    let store = s.index.segments[0].chunks.as_ref().unwrap();
    let n = store.len() as u32;
    let first = store.info(0).unwrap().path.to_string();
    drop(s);
    let head = leann::format::chunks::decode_head(&cpath, &good).unwrap();
    let text_start = head.text_start as usize;
    let mut bad = good.clone();
    // The record block ends with its CRC just before the text section.
    bad[text_start - 5] ^= 0x40;
    std::fs::write(&cpath, &bad).unwrap();
    let s = leann::search::searcher::Searcher::open(st.clone(), &dir, Some(&tree), None).unwrap();
    let store = s.index.segments[0].chunks.as_ref().unwrap();
    let e = store.info(n - 1).unwrap_err().to_string();
    assert!(
        e.contains("seg-00000001.chunks") && e.contains("checksum mismatch"),
        "{e}"
    );
    let e = leann::engine::verify::verify(&s.index)
        .unwrap_err()
        .to_string();
    assert!(e.contains("seg-00000001.chunks"), "{e}");
    drop(s);
    std::fs::write(&cpath, &good).unwrap();
    // A tantivy file: flip a byte in the middle of the largest one.
    let lpath = dir.join("seg-00000001.lex");
    let lgood = std::fs::read(&lpath).unwrap();
    let h = leann::format::lex::decode_head(&lpath, &lgood).unwrap();
    let f = h.files.iter().max_by_key(|f| f.len).unwrap();
    let mut lbad = lgood.clone();
    lbad[(f.offset + f.len / 2) as usize] ^= 0x01;
    std::fs::write(&lpath, &lbad).unwrap();
    match leann::search::searcher::Searcher::open(st.clone(), &dir, Some(&tree), None) {
        // tantivy read that block while opening: the error names the file.
        Err(e) => assert!(e.to_string().contains("seg-00000001.lex"), "{e}"),
        Ok(s) => {
            let e = leann::engine::verify::verify(&s.index)
                .unwrap_err()
                .to_string();
            assert!(e.contains("seg-00000001.lex") && e.contains(&f.name), "{e}");
            let store = s.index.segments[0].chunks.as_ref().unwrap();
            assert_eq!(store.info(0).unwrap().path, first);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// F-8: PQ codes are read record by record from 4 KiB blocks: a damaged
/// block leaves the index opening and the records of other blocks reading;
/// the first read of a record in it fails naming the file, as does validate.
#[test]
fn damaged_codes_block_fails_only_its_reads() {
    let st = MemStorage::default();
    let dir = Path::new("/codes");
    let base = clustered(4000, 16, 4, 1);
    let cfg = Config::from_json(r#"{"seed":1}"#, "test").unwrap();
    leann::engine::index::Index::build(
        &st,
        dir,
        &base,
        leann::engine::index::BuildInput {
            ids: None,
            chunks: None,
            info: Default::default(),
            replace: None,
        },
        &cfg,
        &|_| {},
    )
    .unwrap();
    let qpath = dir.join("seg-00000001.codes");
    let good = st.read_all(&qpath).unwrap();
    assert!(good.len() > 3 * 4096, "the codes span several blocks");
    let mut bad = good.clone();
    let at = bad.len() - 6;
    bad[at] ^= 0x20;
    st.put(&qpath, bad);
    let idx = Index::open(&st, dir, ReadMode::Buffered, Some(0)).unwrap();
    let seg = &idx.segments[0];
    seg.reconstruct(0).unwrap();
    let e = seg.reconstruct(seg.len() as u32 - 1).unwrap_err();
    assert_names_file(&e, &qpath, "last record");
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    let e = leann::engine::verify::verify(&idx).unwrap_err();
    assert_names_file(&e, &qpath, "validate");
}
