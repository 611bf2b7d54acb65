//! The write-ahead log: one test per row of SPEC.md's recovery table (W-1 ..
//! W-10), poisoning after a failed fsync, group commit, and a crash at every
//! operation of a workload under the fault-injecting backend.

use leann::engine::wal::{read_log, Wal};
use leann::format::wal::{Record, UpsertChunk, FIRST_FRAME};
use leann::io::fault::{FaultStorage, Tear};
use leann::io::memory::MemStorage;
use leann::io::Storage;
use leann::Error;
use std::path::Path;

const DIM: u32 = 4;

fn upsert(id: u64) -> Record {
    Record::Upsert {
        id,
        vector: vec![id as f32, 1.0, -2.5, 0.25],
        chunk: (id % 2 == 0).then(|| UpsertChunk {
            path: format!("src/f{id}.rs"),
            language: leann::lang::Language::Rust,
            start_line: 1,
            end_line: 9,
            start_byte: 0,
            byte_len: 120,
            symbol: (id % 4 == 0).then(|| format!("f{id}")),
            hash: [id as u8; 16],
        }),
    }
}

fn batch(i: u64) -> Vec<Record> {
    vec![
        upsert(3 * i),
        upsert(3 * i + 1),
        Record::DeleteId { id: 1000 + i },
        Record::UpsertReused {
            id: 2000 + i,
            vector: vec![0.5, i as f32, 0.0, -1.0],
            chunk: UpsertChunk {
                path: format!("moved/{i}.py"),
                language: leann::lang::Language::Python,
                start_line: 2,
                end_line: 4,
                start_byte: 10,
                byte_len: 30,
                symbol: Some(format!("g{i}")),
                hash: [i as u8 ^ 0x5a; 16],
            },
        },
        Record::DeletePath {
            path: format!("old/{i}.py"),
        },
    ]
}

fn dir() -> &'static Path {
    Path::new("/idx")
}

fn log_path() -> std::path::PathBuf {
    dir().join(leann::engine::wal::file_name(1))
}

/// A log with `n` committed batches in `st`.
fn write_batches(st: &dyn Storage, n: u64) -> Wal {
    let w = Wal::create(st, dir(), 1, DIM).unwrap();
    for i in 0..n {
        assert_eq!(w.commit(&batch(i)).unwrap(), i);
    }
    w
}

fn reopen(st: &dyn Storage) -> Vec<Vec<Record>> {
    match Wal::open(st, &log_path()).unwrap() {
        Some((_, b)) => b,
        None => Vec::new(),
    }
}

fn expect(n: u64) -> Vec<Vec<Record>> {
    (0..n).map(batch).collect()
}

/// W-1: a log holding only its header opens with no batches.
#[test]
fn w1_empty_log() {
    let st = MemStorage::default();
    write_batches(&st, 0);
    assert!(reopen(&st).is_empty());
}

/// W-2: committed batches replay in order, byte for byte the same records.
#[test]
fn w2_committed_batches_replay() {
    let st = MemStorage::default();
    write_batches(&st, 5);
    assert_eq!(reopen(&st), expect(5));
    // And appending continues after them with the next batch number.
    let (w, _) = Wal::open(&st, &log_path()).unwrap().unwrap();
    assert_eq!(w.commit(&batch(5)).unwrap(), 5);
    drop(w);
    assert_eq!(reopen(&st), expect(6));
}

/// W-3: a torn tail (a batch cut anywhere) is truncated; earlier batches stay.
#[test]
fn w3_torn_tail_is_truncated() {
    let st = MemStorage::default();
    write_batches(&st, 3);
    let full = st.read_all(&log_path()).unwrap();
    let st2 = MemStorage::default();
    write_batches(&st2, 2);
    let two = st2.read_all(&log_path()).unwrap().len();
    for cut in two..full.len() {
        st.put(&log_path(), full[..cut].to_vec());
        assert_eq!(reopen(&st), expect(2), "cut at {cut}");
        assert_eq!(
            st.file_len(&log_path()).unwrap() as usize,
            two,
            "not truncated at {cut}"
        );
    }
}

/// W-4: a batch written whole but without its commit frame is dropped.
#[test]
fn w4_uncommitted_batch_is_dropped() {
    let st = MemStorage::default();
    write_batches(&st, 2);
    let mut b = st.read_all(&log_path()).unwrap();
    let two = b.len();
    let (_, rec) = read_log(&log_path(), &b).unwrap().unwrap();
    assert_eq!(rec.committed_end as usize, two);
    let meta = leann::format::wal::decode_header(&log_path(), &b).unwrap();
    leann::format::wal::put_frame(&mut b, meta.salt, &Record::Begin { batch: 2 });
    leann::format::wal::put_frame(&mut b, meta.salt, &upsert(77));
    st.put(&log_path(), b);
    assert_eq!(reopen(&st), expect(2));
    assert_eq!(st.file_len(&log_path()).unwrap() as usize, two);
}

/// W-5: damage in the middle (valid frames after it) is refused, naming the
/// file and the offset of the damaged frame.
#[test]
fn w5_corruption_in_the_middle_is_refused() {
    let st = MemStorage::default();
    write_batches(&st, 4);
    let orig = st.read_all(&log_path()).unwrap();
    let last_start = {
        let st2 = MemStorage::default();
        write_batches(&st2, 3);
        st2.read_all(&log_path()).unwrap().len()
    };
    // Flip a bit in every frame byte before the last batch.
    for pos in (FIRST_FRAME as usize..last_start).step_by(7) {
        let mut b = orig.clone();
        b[pos] ^= 0x10;
        st.put(&log_path(), b.clone());
        match Wal::open(&st, &log_path()) {
            Err(Error::Corrupt { path, offset, .. }) => {
                assert_eq!(path, log_path());
                assert!(
                    offset <= pos as u64,
                    "offset {offset} after the flip at {pos}"
                );
            }
            Err(e) => panic!("flip at {pos}: {e}"),
            Ok(_) => panic!("flip at {pos} accepted"),
        }
        // Refused without writing: the file is unchanged.
        assert_eq!(st.read_all(&log_path()).unwrap(), b);
    }
}

/// W-6: a log torn while its header was written is removed (nothing in it
/// was acknowledged).
#[test]
fn w6_log_torn_at_creation_is_removed() {
    let st = MemStorage::default();
    write_batches(&st, 0);
    let b = st.read_all(&log_path()).unwrap();
    for cut in [0, 1, 20, b.len() - 1] {
        st.put(&log_path(), b[..cut].to_vec());
        assert!(Wal::open(&st, &log_path()).unwrap().is_none());
        assert!(!st.exists(&log_path()));
    }
}

/// W-7: a damaged header of full length is an error naming the file.
#[test]
fn w7_damaged_header_is_refused() {
    let st = MemStorage::default();
    write_batches(&st, 1);
    let orig = st.read_all(&log_path()).unwrap();
    for pos in 0..FIRST_FRAME as usize {
        let mut b = orig.clone();
        b[pos] ^= 1;
        st.put(&log_path(), b);
        match Wal::open(&st, &log_path()) {
            Err(Error::Corrupt { path, .. }) | Err(Error::UnsupportedVersion { path, .. }) => {
                assert_eq!(path, log_path())
            }
            Err(e) => panic!("flip at {pos}: {e}"),
            Ok(_) => panic!("header flip at {pos} accepted"),
        }
    }
}

/// W-8: frames of another log file (another salt) after the tail never
/// validate: they are a torn tail, not data.
#[test]
fn w8_stale_frames_of_another_log_do_not_validate() {
    let st = MemStorage::default();
    write_batches(&st, 2);
    let mine = st.read_all(&log_path()).unwrap();
    let other = MemStorage::default();
    write_batches(&other, 5);
    let theirs = other.read_all(&log_path()).unwrap();
    let mut b = mine.clone();
    b.extend_from_slice(&theirs[FIRST_FRAME as usize..]);
    st.put(&log_path(), b);
    assert_eq!(reopen(&st), expect(2));
    assert_eq!(st.read_all(&log_path()).unwrap(), mine);
}

/// W-9: a zero-filled (preallocated) tail is a torn tail.
#[test]
fn w9_zero_tail_is_torn() {
    let st = MemStorage::default();
    write_batches(&st, 2);
    let mine = st.read_all(&log_path()).unwrap();
    let mut b = mine.clone();
    b.extend(std::iter::repeat_n(0u8, 4096));
    st.put(&log_path(), b);
    assert_eq!(reopen(&st), expect(2));
    assert_eq!(st.read_all(&log_path()).unwrap(), mine);
}

/// W-10: a frame whose checks pass but whose kind this build does not know
/// (a newer writer) is refused wherever it is, even as the last frame of the
/// log, naming the file and the frame's kind byte; the file is unchanged.
#[test]
fn w10_unknown_record_kind_is_refused_not_truncated() {
    let st = MemStorage::default();
    write_batches(&st, 2);
    let mine = st.read_all(&log_path()).unwrap();
    let salt = u64::from_le_bytes(mine[32..40].try_into().unwrap());
    let crc = |parts: &[&[u8]]| {
        let mut h = crc32fast::Hasher::new();
        h.update(&salt.to_le_bytes());
        for p in parts {
            h.update(p);
        }
        h.finalize()
    };
    for committed in [false, true] {
        let mut b = mine.clone();
        leann::format::wal::put_frame(&mut b, salt, &Record::Begin { batch: 2 });
        let at = b.len() as u64;
        let payload = [1u8, 2, 3];
        let len = (payload.len() as u32).to_le_bytes();
        b.extend_from_slice(&len);
        b.extend_from_slice(&crc(&[&len]).to_le_bytes());
        b.push(99);
        b.extend_from_slice(&payload);
        b.extend_from_slice(&crc(&[&[99], &payload]).to_le_bytes());
        if committed {
            let c = Record::Commit {
                batch: 2,
                records: 1,
            };
            leann::format::wal::put_frame(&mut b, salt, &c);
        }
        st.put(&log_path(), b.clone());
        match Wal::open(&st, &log_path()) {
            Err(Error::Corrupt { path, offset, what }) => {
                assert_eq!(path, log_path());
                assert_eq!(offset, at + 8, "{what}");
                assert!(what.contains("unknown record kind 99"), "{what}");
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a record of unknown kind was accepted (committed: {committed})"),
        }
        assert_eq!(st.read_all(&log_path()).unwrap(), b);
    }
}

/// D-3: a failed fsync poisons the log: that commit and every later one fail
/// until the index is reopened; reopening holds every acknowledged batch.
#[test]
fn failed_fsync_poisons_until_reopen() {
    let st = FaultStorage::default();
    let w = write_batches(&st, 2);
    // The next commit is one append, then one fsync: fail the fsync.
    st.fail_at(st.ops() + 1);
    assert!(w.commit(&batch(2)).is_err());
    match w.commit(&batch(3)) {
        Err(Error::Poisoned(_)) => {}
        other => panic!("expected Poisoned, got {other:?}"),
    }
    drop(w);
    let image = st.crash_image(Tear::Drop);
    let got = reopen(&image);
    assert_eq!(got, expect(2));
    // A reopened log accepts writes again.
    let (w, _) = Wal::open(&st, &log_path()).unwrap().unwrap();
    w.commit(&batch(2)).unwrap();
}

/// Group commit: many threads committing at once all get their batches
/// durable and replayed.
#[test]
fn group_commit_from_many_threads() {
    let d = tempfile::tempdir().unwrap();
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let w = Wal::create(st.as_ref(), d.path(), 1, DIM).unwrap();
    let n_threads = 8;
    let per = 50;
    std::thread::scope(|s| {
        for t in 0..n_threads {
            let w = &w;
            s.spawn(move || {
                for i in 0..per {
                    w.commit(&[upsert((t * per + i) as u64)]).unwrap();
                }
            });
        }
    });
    drop(w);
    let (_, batches) = Wal::open(
        st.as_ref(),
        &d.path().join(leann::engine::wal::file_name(1)),
    )
    .unwrap()
    .unwrap();
    let mut ids: Vec<u64> = batches
        .iter()
        .map(|b| match &b[0] {
            Record::Upsert { id, .. } => *id,
            r => panic!("{r:?}"),
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..(n_threads * per) as u64).collect::<Vec<_>>());
}

/// A crash at every mutating operation of a workload, with unsynced bytes
/// dropped, kept or torn: the log always opens, holds every acknowledged
/// batch, and what it holds is a prefix of what was attempted.
#[test]
fn crash_at_every_operation() {
    let total = {
        let st = FaultStorage::default();
        write_batches(&st, 6);
        st.ops()
    };
    for stop in 0..=total {
        let st = FaultStorage::default();
        st.stop_at(stop);
        let mut acked = 0u64;
        if let Ok(w) = Wal::create(&st, dir(), 1, DIM) {
            for i in 0..6 {
                match w.commit(&batch(i)) {
                    Ok(_) => acked = i + 1,
                    Err(_) => break,
                }
            }
        }
        for tear in [Tear::Drop, Tear::Keep, Tear::Torn(77), Tear::Torn(200)] {
            let image = st.crash_image(tear);
            let got = if image.exists(&log_path()) {
                reopen(&image)
            } else {
                Vec::new()
            };
            assert!(
                got.len() as u64 >= acked,
                "stop {stop} {tear:?}: {} batches recovered, {acked} acknowledged",
                got.len()
            );
            assert_eq!(got, expect(got.len() as u64), "stop {stop} {tear:?}");
        }
    }
}
