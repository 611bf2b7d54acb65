//! The lexical index container `seg-S.lex` (issue 5, item 1): tantivy's
//! BM25 index packed through the storage layer, read back without copies,
//! statistics shared across indexes, filters by node, and damage reported
//! naming the file (never a panic).

mod common;

use leann::error::Error;
use leann::io::Storage;
use leann::lexical::segment::{query_for, search, Combined, LexBuilder, LexSegment};
use std::path::Path;
use std::sync::Arc;

/// Documents of generated words: doc i holds `w{i % 7}`, `w{i % 13}`,
/// `only{i}` and some filler, so every word's document frequency is known.
fn doc(i: usize) -> Vec<String> {
    let mut t = vec![
        format!("w{}", i % 7),
        format!("w{}", i % 13),
        format!("only{i}"),
    ];
    for j in 0..(i % 5) {
        t.push(format!("fill{j}"));
    }
    t
}

fn build(st: &dyn Storage, path: &Path, rows: std::ops::Range<usize>) -> Vec<u32> {
    let mut b = LexBuilder::new().unwrap();
    for i in rows.clone() {
        b.add(&doc(i)).unwrap();
    }
    // Nodes: the rows reversed (as a segment's layout order would permute).
    let n = rows.len() as u32;
    let node_of_row: Vec<u32> = (0..n).map(|r| n - 1 - r).collect();
    b.finish(st, path, &node_of_row).unwrap();
    node_of_row
}

fn toks(q: &str) -> Vec<String> {
    q.split_whitespace().map(str::to_string).collect()
}

#[test]
fn container_round_trip_and_search() {
    let d = common::tempdir();
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let p = d.path().join("seg-00000001.lex");
    let nodes = build(st.as_ref(), &p, 0..500);
    let seg = LexSegment::open(st.as_ref(), &p, 500).unwrap();
    let read: Vec<u32> = (0..seg.rows())
        .map(|r| seg.node_of_row(r).unwrap())
        .collect();
    assert_eq!(read, nodes);
    assert!(seg.node_of_row(seg.rows()).is_err(), "a row past the end");
    seg.verify_all().unwrap();
    let stats = Combined(vec![seg.searcher()]);
    // A word of one document finds exactly it.
    let hits = search(
        seg.searcher(),
        &*query_for(&toks("only123")),
        &stats,
        10,
        None,
    )
    .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].1, 123);
    // w3 is in the documents with i % 7 == 3 or i % 13 == 3.
    let has = |i: u64, w: u64| i % 7 == w || i % 13 == w;
    let hits = search(seg.searcher(), &*query_for(&toks("w3")), &stats, 1000, None).unwrap();
    assert_eq!(hits.len(), (0..500).filter(|&i| has(i, 3)).count());
    assert!(hits.iter().all(|h| has(h.1, 3)));
    // Documents with both words score above those with one.
    let both = (0..500).filter(|&i| has(i, 3) && has(i, 5)).count();
    let hits = search(
        seg.searcher(),
        &*query_for(&toks("w3 w5")),
        &stats,
        1000,
        None,
    )
    .unwrap();
    assert!(both > 0);
    for (k, (_, r)) in hits.iter().enumerate() {
        assert_eq!(k < both, has(*r, 3) && has(*r, 5), "rank {k}: {hits:?}");
    }
    // The filter is by row: allow only odd rows.
    let allow = Arc::new((0..500).map(|r| r % 2 == 1).collect::<Vec<bool>>());
    let hits = search(
        seg.searcher(),
        &*query_for(&toks("w3")),
        &stats,
        1000,
        Some(allow),
    )
    .unwrap();
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h.1 % 2 == 1),
        "{hits:?}"
    );
    // Rows naming nodes past the segment are refused: when read (rows are
    // read per hit, F-8) and by validate.
    let small = LexSegment::open(st.as_ref(), &p, 100).unwrap();
    let e = small.node_of_row(0).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("names node 499"), "{e}");
    assert_eq!(small.node_of_row(499).unwrap(), 0);
    let e = small.verify_all().unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
}

/// Two indexes searched with their combined statistics score every
/// document as one index holding all of them does.
#[test]
fn combined_statistics_match_one_index() {
    let d = common::tempdir();
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    build(st.as_ref(), &d.path().join("all.lex"), 0..400);
    build(st.as_ref(), &d.path().join("a.lex"), 0..250);
    let all = LexSegment::open(st.as_ref(), &d.path().join("all.lex"), 400).unwrap();
    let a = LexSegment::open(st.as_ref(), &d.path().join("a.lex"), 250).unwrap();
    // b holds rows 250..400 numbered from 0.
    let mut bb = LexBuilder::new().unwrap();
    for i in 250..400 {
        bb.add(&doc(i)).unwrap();
    }
    bb.finish(
        st.as_ref(),
        &d.path().join("b.lex"),
        &(0..150).collect::<Vec<u32>>(),
    )
    .unwrap();
    let b = LexSegment::open(st.as_ref(), &d.path().join("b.lex"), 150).unwrap();
    for q in ["w3 fill2", "w1 w12 only300", "fill0 fill3 w6"] {
        let q = query_for(&toks(q));
        let one = Combined(vec![all.searcher()]);
        let want = search(all.searcher(), &*q, &one, 1000, None).unwrap();
        let two = Combined(vec![a.searcher(), b.searcher()]);
        let mut got = search(a.searcher(), &*q, &two, 1000, None).unwrap();
        got.extend(
            search(b.searcher(), &*q, &two, 1000, None)
                .unwrap()
                .into_iter()
                .map(|(s, r)| (s, r + 250)),
        );
        let mut want: Vec<(u64, f32)> = want.into_iter().map(|(s, r)| (r, s)).collect();
        let mut got: Vec<(u64, f32)> = got.into_iter().map(|(s, r)| (r, s)).collect();
        want.sort_by_key(|x| x.0);
        got.sort_by_key(|x| x.0);
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(w.0, g.0);
            assert!((w.1 - g.1).abs() < 1e-4, "row {}: {} vs {}", w.0, w.1, g.1);
        }
    }
}

/// F-1, F-2: every truncation and sampled bit flips of a container are
/// errors naming the file, at open or when its files are checked.
#[test]
fn damaged_containers_are_refused() {
    let d = common::tempdir();
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let p = d.path().join("seg-00000001.lex");
    build(st.as_ref(), &p, 0..60);
    let good = std::fs::read(&p).unwrap();
    let mem = leann::io::memory::MemStorage::default();
    let q = Path::new("/idx/seg-00000001.lex");
    let check = |bytes: Vec<u8>, what: &str| {
        mem.put(q, bytes);
        let r = LexSegment::open(&mem, q, 60).and_then(|s| s.verify_all());
        match r {
            Err(Error::Corrupt { path, .. }) | Err(Error::UnsupportedVersion { path, .. }) => {
                assert_eq!(path, q, "{what}")
            }
            Err(e) => panic!("{what}: {e}"),
            Ok(()) => panic!("{what}: accepted"),
        }
    };
    for cut in (0..good.len()).step_by(good.len() / 97 + 1) {
        check(good[..cut].to_vec(), &format!("cut to {cut}"));
    }
    for at in (0..good.len()).step_by(good.len() / 301 + 1) {
        let mut b = good.clone();
        b[at] ^= 0x08;
        check(b, &format!("flip at {at}"));
    }
}
