//! Findings of the fuzz targets in fuzz/ (fuzz/README.md), rebuilt with
//! valid checksums: each input once made a decoder panic or misbehave, and
//! must now be an error naming the file and offset (SPEC.md F-1).

use leann::format::wal::{encode_header, put_frame, LogMeta, Record, FIRST_FRAME};
use leann::wal::read_log;
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
    use leann::io::Storage;
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("format/v1.4/index/seg-00000001.lex");
    let mut bytes = std::fs::read(&fixture).unwrap();
    for (at, v) in [(787usize, 0x01u8), (793, 0x0d), (794, 0xc3), (1803, 0x97)] {
        bytes[at] = v;
    }
    let mut head = leann::format::lex::decode_head(&fixture, &bytes).unwrap();
    for f in &mut head.files {
        f.crc = crc32fast::hash(&bytes[f.offset as usize..(f.offset + f.len) as usize]);
    }
    let enc = leann::format::lex::encode_head(&head);
    assert!(enc.len() as u64 <= head.files[0].offset);
    bytes[..enc.len()].copy_from_slice(&enc);
    let st = leann::io::memory::MemStorage::default();
    let p = Path::new("/i/seg-00000001.lex");
    st.put(p, bytes);
    match leann::lexical::segment::LexSegment::open(&st, p, 1 << 20) {
        Err(Error::Corrupt { path, what, .. }) => {
            assert_eq!(path, p);
            assert!(what.contains("tantivy failed on the index's bytes"), "{what}");
        }
        Err(e) => panic!("expected corruption naming the file, got {e}"),
        Ok(_) => panic!("the crafted lexical index opened"),
    }
}
