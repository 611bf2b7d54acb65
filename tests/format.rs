//! Format robustness (SPEC.md requirements F-1..F-6): every decoder rejects
//! truncated and bit-flipped files with an error naming the file and offset,
//! never panics; newer major versions are refused naming the supported one;
//! the golden v1 fixtures in format/v1 still open and answer as recorded.

mod common;

use common::*;
use leann::config::Config;
use leann::data::VectorSource;
use leann::index::{FromSource, Index, QueryContext};
use leann::io::memory::MemStorage;
use leann::io::{ReadMode, Storage};
use leann::Error;
use std::path::{Path, PathBuf};

fn small_index(st: &MemStorage, dir: &Path, full: bool) {
    let base = clustered(600, 16, 4, 1);
    let cfg = Config::from_json(
        &format!(r#"{{"seed":1,"graph":{{"storeFullVectors":{full}}}}}"#),
        "test",
    )
    .unwrap();
    Index::create(st, dir, &base, None, &cfg).unwrap();
}

/// Open and fully verify; the error, if any.
fn check(st: &MemStorage, dir: &Path) -> Option<Error> {
    match Index::open(st, dir, ReadMode::Buffered, Some(0)) {
        Err(e) => Some(e),
        Ok(idx) => leann::verify::verify(&idx).err(),
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
    for full in [false, true] {
        let st = MemStorage::default();
        let dir = Path::new("/idx");
        small_index(&st, dir, full);
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
    for full in [false, true] {
        let st = MemStorage::default();
        let dir = Path::new("/idx");
        small_index(&st, dir, full);
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
    small_index(&st, dir, false);
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

/// F-4: random garbage never panics a decoder.
#[test]
fn garbage_never_panics() {
    use leann::format::{codes, graph, idmap, manifest, pq};
    let p = Path::new("garbage");
    let mut r = leann::rng::Rng::new(77);
    for len in [0usize, 1, 7, 32, 33, 64, 200, 4096, 5000] {
        for _ in 0..50 {
            let mut b: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
            assert!(pq::decode(p, &b).is_err());
            assert!(codes::decode(p, &b).is_err());
            assert!(idmap::decode(p, &b).is_err());
            assert!(manifest::decode(p, &b).is_err());
            assert!(graph::decode_header_sector(p, &b, len as u64).is_err());
            // Valid header, garbage metadata lengths.
            if len >= 32 {
                for kind in [
                    leann::format::header::PQ,
                    leann::format::header::CODES,
                    leann::format::header::IDMAP,
                    leann::format::header::MANIFEST,
                ] {
                    let meta: Vec<u8> = b[32..].to_vec();
                    let enc = leann::format::header::encode(kind, 0, &meta);
                    b = enc;
                    let _ = pq::decode(p, &b);
                    let _ = codes::decode(p, &b);
                    let _ = idmap::decode(p, &b);
                    let _ = manifest::decode(p, &b);
                }
            }
        }
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format/v1")
}

/// The base vectors the v1 fixture was built from.
fn fixture_base() -> leann::data::VecVectors {
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

/// F-5: the golden v1 fixture opens, verifies, re-encodes byte for byte and
/// answers the recorded queries with the recorded ids.
#[test]
fn golden_v1_fixture_still_reads() {
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let dir = fixture_dir().join("index");
    let idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, Some(0)).unwrap();
    leann::verify::verify(&idx).unwrap();
    // Decoding and re-encoding gives the same bytes.
    use leann::format::{codes, idmap, manifest, pq};
    for name in st.list_dir(&dir).unwrap() {
        let p = dir.join(&name);
        let b = st.read_all(&p).unwrap();
        let again = if name.ends_with(".pq") {
            pq::encode(&pq::decode(&p, &b).unwrap())
        } else if name.ends_with(".codes") {
            let c = codes::decode(&p, &b).unwrap();
            codes::encode(&c, idx.segments[0].quant.anchors.k)
        } else if name.ends_with(".ids") {
            idmap::encode(&idmap::decode(&p, &b).unwrap())
        } else if name == "MANIFEST" {
            manifest::encode(&manifest::decode(&p, &b).unwrap())
        } else {
            continue;
        };
        assert_eq!(again, b, "{name} does not re-encode identically");
    }
    let expected: Vec<Vec<u64>> =
        serde_json::from_slice(&st.read_all(&fixture_dir().join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(fixture_results(&idx), expected);
}

/// Regenerates format/v1 (run by hand after a deliberate format change:
/// `cargo test --release --test format -- --ignored regenerate`).
#[test]
#[ignore]
fn regenerate_v1_fixture() {
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
