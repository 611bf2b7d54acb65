//! Findings of the fuzz targets in fuzz/ (fuzz/README.md), rebuilt with
//! valid checksums: each input once made a decoder panic or misbehave, and
//! must now be an error naming the file and offset (SPEC.md F-1).

mod common;

use leann::engine::wal::read_log;
use leann::format::wal::{encode_header, put_frame, LogMeta, Record, FIRST_FRAME};
use leann::Error;
use std::path::Path;

/// fuzz target `wal`: a committed batch numbered 2^64-1 overflowed the next
/// batch number (a panic with overflow checks, a wrap to batch 0 without
/// them, so the next writer would reuse batch numbers).
#[test]
fn f1_log_batch_number_at_the_limit_is_corruption() {
    let meta = LogMeta {
        salt: 0x5eed,
        seq: 1,
        dim: 4,
    };
    let mut buf = encode_header(&meta);
    assert_eq!(buf.len() as u64, FIRST_FRAME);
    put_frame(&mut buf, meta.salt, &Record::Begin { batch: u64::MAX });
    put_frame(&mut buf, meta.salt, &Record::DeleteId { id: 7 });
    put_frame(
        &mut buf,
        meta.salt,
        &Record::Commit {
            batch: u64::MAX,
            records: 1,
        },
    );
    let p = Path::new("/idx/wal-00000001.log");
    match read_log(p, &buf) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!(path, p);
            assert_eq!(offset, FIRST_FRAME, "the offset of the Begin frame");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// fuzz target `lex`: four bytes changed inside the packed tantivy files of
/// the v1.4 fixture's `seg-00000001.lex` (their CRCs then recomputed, as a
/// crafted file would have them) made tantivy panic while opening its fast
/// fields ("mid > len" in ownedbytes). Opening the segment is now an error
/// naming the file.
#[test]
fn f1_lex_files_that_make_tantivy_panic_are_corruption() {
    let bytes = crafted_v1_4_lex(&[(787, 0x01), (793, 0x0d), (794, 0xc3), (1803, 0x97)]);
    let st = leann::io::memory::MemStorage::default();
    let p = Path::new("/i/seg-00000001.lex");
    st.put(p, bytes);
    match leann::lexical::segment::LexSegment::open(&st, p, 1 << 20) {
        Err(Error::Corrupt { path, what, .. }) => {
            assert_eq!(path, p);
            assert!(
                what.contains("tantivy failed on the index's bytes"),
                "{what}"
            );
        }
        Err(e) => panic!("expected corruption naming the file, got {e}"),
        Ok(_) => panic!("the crafted lexical index opened"),
    }
}

/// The v1.4 fixture's `seg-00000001.lex` with `changes` applied and every
/// packed file's CRC (and so the head's) recomputed, as a crafted file would
/// have them.
fn crafted_v1_4_lex(changes: &[(usize, u8)]) -> Vec<u8> {
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("format/v1.4/index/seg-00000001.lex");
    let mut bytes = std::fs::read(&fixture).unwrap();
    for &(at, v) in changes {
        bytes[at] = v;
    }
    let mut head = leann::format::lex::decode_head(&fixture, &bytes).unwrap();
    for f in &mut head.files {
        f.crc = crc32fast::hash(&bytes[f.offset as usize..(f.offset + f.len) as usize]);
    }
    let enc = leann::format::lex::encode_head(&head);
    assert!(enc.len() as u64 <= head.files[0].offset);
    bytes[..enc.len()].copy_from_slice(&enc);
    bytes
}

/// fuzz target `lex`, second run: bytes changed in the packed files of the
/// v1.4 fixture's lexical index (CRCs valid) made tantivy's fast-field
/// dictionary claim a block of ~2^60 ranges, which tantivy pushed into a
/// vector until libFuzzer's 2 GB limit (no panic to catch). F-7: the
/// `leann` process stops at its allocation budget with exit code 2 and a
/// message naming the file. The child runs with a 3 GiB address-space limit,
/// so without the budget it would die of a failed allocation (SIGABRT), not
/// exit 2.
#[test]
fn f7_lex_files_that_make_tantivy_allocate_without_end_stop_the_process() {
    let d = common::tempdir();
    let idx = d.path().join("idx");
    std::fs::create_dir_all(&idx).unwrap();
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format/v1.4/index");
    for e in std::fs::read_dir(&fixture).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), idx.join(e.file_name())).unwrap();
    }
    let lex = idx.join("seg-00000001.lex");
    std::fs::write(&lex, crafted_v1_4_lex(LEX_ALLOC_BOMB)).unwrap();
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_leann"));
    cmd.args(["index", "validate", idx.to_str().unwrap()]);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the
    // parent; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 3 << 30,
                rlim_max: 3 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let t0 = std::time::Instant::now();
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{:?}: {err}", out.status);
    assert!(err.contains(lex.to_str().unwrap()), "{err}");
    assert!(err.contains("made tantivy allocate more than"), "{err}");
    eprintln!("stopped after {:?}", t0.elapsed());
}

/// The bytes of the `lex` finding of F-7 (offset, new value) in the v1.4
/// fixture's `seg-00000001.lex`.
const LEX_ALLOC_BOMB: &[(usize, u8)] = &[
    (546, 0x74),
    (547, 0x65),
    (548, 0x72),
    (549, 0x6d),
    (550, 0x22),
    (551, 0x2c),
    (552, 0x22),
    (553, 0x64),
    (554, 0x62),
    (555, 0x34),
    (556, 0x37),
    (557, 0x65),
    (558, 0x64),
    (559, 0x64),
    (560, 0x63),
    (561, 0x63),
    (593, 0x61),
    (611, 0x70),
    (612, 0x6f),
    (613, 0x73),
    (631, 0x99),
    (724, 0xbc),
    (776, 0xfe),
    (777, 0xff),
    (778, 0xf4),
    (779, 0xaf),
    (780, 0x8e),
    (1080, 0x7a),
    (1081, 0x7e),
    (1082, 0x7e),
    (1083, 0x7d),
    (1084, 0x7e),
    (1085, 0x7a),
    (1086, 0x7e),
    (1087, 0x7e),
    (1670, 0x10),
    (2043, 0x82),
    (2618, 0x24),
    (2801, 0x33),
    (2802, 0x31),
    (2805, 0x32),
    (2861, 0x6f),
    (2863, 0x6e),
    (2864, 0x73),
    (3226, 0x6a),
];
