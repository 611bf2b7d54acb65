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
