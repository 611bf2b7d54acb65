//! One conformance suite for every storage backend (SPEC.md requirement S-1):
//! pread, io_uring (when the kernel allows it) and memory; O_DIRECT on the OS
//! backends.

mod common;

use leann::io::{
    open_storage, AlignedBuf, Backend, ReadMode, ReadReq, Storage, DIRECT_ALIGN_BYTES,
};
use leann::Error;
use std::path::Path;
use std::time::Duration;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 % 251) as u8).collect()
}

fn conformance(st: &dyn Storage, dir: &Path) {
    let name = st.name();
    st.create_dir_all(dir).unwrap();
    let f = dir.join("a.bin");
    let data = pattern(3 * 4096 + 77);

    // D-1: atomic replace: new contents visible, no temporary left behind.
    st.write_atomic(&f, b"old").unwrap();
    st.write_atomic(&f, &data).unwrap();
    assert_eq!(st.read_all(&f).unwrap(), data, "{name}: read_all");
    assert_eq!(st.file_len(&f).unwrap(), data.len() as u64);
    assert_eq!(
        st.list_dir(dir).unwrap(),
        vec!["a.bin".to_string()],
        "{name}: stray files"
    );

    // Streaming writer: invisible until finish; a dropped writer leaves nothing.
    let g = dir.join("b.bin");
    let mut w = st.create(&g).unwrap();
    w.write_all(&data[..100]).unwrap();
    w.write_all(&data[100..]).unwrap();
    assert!(!st.exists(&g), "{name}: visible before finish");
    w.finish().unwrap();
    assert_eq!(st.read_all(&g).unwrap(), data);
    let h = dir.join("c.bin");
    {
        let mut w = st.create(&h).unwrap();
        w.write_all(b"never finished").unwrap();
    }
    assert!(!st.exists(&h), "{name}: abandoned writer visible");
    assert_eq!(
        st.list_dir(dir).unwrap(),
        vec!["a.bin".to_string(), "b.bin".to_string()],
        "{name}: abandoned writer left a file"
    );

    // Batched positional reads, in any order, of any size.
    let rf = st.open_read(&f, ReadMode::Buffered).unwrap();
    assert_eq!(rf.len(), data.len() as u64);
    let offs = [4096usize, 0, 77, data.len() - 5, 8191];
    let lens = [4096usize, 10, 1, 5, 2];
    let mut bufs: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0u8; l]).collect();
    {
        let mut reqs: Vec<ReadReq<'_>> = bufs
            .iter_mut()
            .zip(offs)
            .map(|(b, o)| ReadReq {
                offset: o as u64,
                buf: b,
            })
            .collect();
        rf.read_batch(&mut reqs).unwrap();
    }
    for ((b, o), l) in bufs.iter().zip(offs).zip(lens) {
        assert_eq!(&b[..], &data[o..o + l], "{name}: read at {o}");
    }
    // A batch larger than any ring.
    let mut many: Vec<Vec<u8>> = (0..200).map(|_| vec![0u8; 16]).collect();
    {
        let mut reqs: Vec<ReadReq<'_>> = many
            .iter_mut()
            .enumerate()
            .map(|(i, b)| ReadReq {
                offset: (i * 50) as u64,
                buf: b,
            })
            .collect();
        rf.read_batch(&mut reqs).unwrap();
    }
    for (i, b) in many.iter().enumerate() {
        assert_eq!(&b[..], &data[i * 50..i * 50 + 16], "{name}: batch read {i}");
    }

    // Reads past the end are errors naming the file, not panics.
    let mut past = vec![0u8; 10];
    let e = rf
        .read_batch(&mut [ReadReq {
            offset: data.len() as u64 - 5,
            buf: &mut past,
        }])
        .unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("a.bin"),
        "{name}: {e}"
    );

    // Maps.
    assert_eq!(&st.map(&f).unwrap()[..], &data[..]);
    st.write_atomic(&dir.join("empty"), b"").unwrap();
    assert!(st.map(&dir.join("empty")).unwrap().is_empty());

    // Missing files.
    let e = st
        .open_read(&dir.join("missing"), ReadMode::Buffered)
        .err()
        .expect("missing opened");
    assert!(e.to_string().contains("missing"), "{name}: {e}");
    assert!(st.read_all(&dir.join("missing")).is_err());

    // Remove.
    st.remove_file(&g).unwrap();
    assert!(!st.exists(&g));
    assert!(st.remove_file(&g).is_err());

    // Append files (the write-ahead log): created empty, appends visible to
    // readers, truncate cuts, a second open sees the same bytes.
    let l = dir.join("c.log");
    let a = st.open_append(&l).unwrap();
    assert!(st.exists(&l), "{name}: append file not created");
    assert_eq!(a.len(), 0);
    a.append(&data[..1000]).unwrap();
    a.append(&data[1000..1500]).unwrap();
    a.sync().unwrap();
    assert_eq!(a.len(), 1500);
    assert_eq!(
        st.read_all(&l).unwrap(),
        &data[..1500],
        "{name}: appended bytes"
    );
    a.truncate(700).unwrap();
    assert_eq!(a.len(), 700);
    assert_eq!(st.read_all(&l).unwrap(), &data[..700], "{name}: truncate");
    drop(a);
    let b = st.open_append(&l).unwrap();
    assert_eq!(b.len(), 700, "{name}: reopened length");
    b.append(&data[700..800]).unwrap();
    assert_eq!(
        st.read_all(&l).unwrap(),
        &data[..800],
        "{name}: append after reopen"
    );
    st.remove_file(&l).unwrap();

    // L-1, L-2: the writer lock of a directory: a second taker waits, then
    // fails naming the holder; released when its guard drops.
    let held = st.lock_dir(dir, "pid 7 (holder)", Duration::ZERO).unwrap();
    let t0 = std::time::Instant::now();
    let e = st
        .lock_dir(dir, "pid 8 (second)", Duration::from_millis(60))
        .err()
        .expect("a second lock was granted");
    assert!(
        t0.elapsed() >= Duration::from_millis(60),
        "{name}: did not wait"
    );
    assert!(
        matches!(&e, Error::Locked { holder, .. } if holder.contains("pid 7 (holder)")),
        "{name}: {e}"
    );
    drop(held);
    drop(st.lock_dir(dir, "pid 8 (second)", Duration::ZERO).unwrap());

    // Directories (C-3): exchange swaps two, rename moves one to a new or
    // empty path, remove_dir_all removes one with everything in it.
    let (d1, d2, d3) = (dir.join("d1"), dir.join("d2"), dir.join("d3"));
    st.create_dir_all(&d1).unwrap();
    st.create_dir_all(&d2).unwrap();
    st.write_atomic(&d1.join("one"), b"1").unwrap();
    st.write_atomic(&d2.join("two"), b"2").unwrap();
    st.exchange_dirs(&d1, &d2).unwrap();
    assert_eq!(
        st.read_all(&d1.join("two")).unwrap(),
        b"2",
        "{name}: exchange"
    );
    assert_eq!(
        st.read_all(&d2.join("one")).unwrap(),
        b"1",
        "{name}: exchange"
    );
    assert!(!st.exists(&d1.join("one")));
    st.rename_dir(&d1, &d3).unwrap();
    assert_eq!(
        st.read_all(&d3.join("two")).unwrap(),
        b"2",
        "{name}: rename"
    );
    assert!(!st.exists(&d1.join("two")));
    assert!(
        st.rename_dir(&d2, &d3).is_err(),
        "{name}: renamed onto a non-empty directory"
    );
    st.remove_dir_all(&d3).unwrap();
    st.remove_dir_all(&d2).unwrap();
    assert!(!st.exists(&d3.join("two")) && !st.exists(&d2.join("one")));

    // P-1, P-2: source files read beneath a root: inside is read, paths
    // leaving the root are refused, a size limit holds.
    st.write_atomic(&dir.join("src.txt"), b"hello").unwrap();
    assert_eq!(
        st.read_beneath(dir, "src.txt", false, 100).unwrap(),
        b"hello"
    );
    for bad in ["../src.txt", "/etc/passwd", "a//b", "./src.txt", ""] {
        assert!(
            st.read_beneath(dir, bad, false, 100).is_err(),
            "{name}: {bad:?} was read"
        );
    }
    assert!(
        st.read_beneath(dir, "src.txt", false, 4).is_err(),
        "{name}: size limit"
    );
    st.remove_file(&dir.join("src.txt")).unwrap();
}

fn direct(st: &dyn Storage, dir: &Path) {
    let name = st.name();
    let f = dir.join("direct.bin");
    let data = pattern(4 * DIRECT_ALIGN_BYTES);
    st.write_atomic(&f, &data).unwrap();
    let rf = match st.open_read(&f, ReadMode::Direct) {
        Ok(r) => r,
        Err(e) => {
            // tmpfs and some overlay filesystems refuse O_DIRECT: that is an
            // error naming the file, which is what a user gets too.
            assert!(
                e.to_string().contains("O_DIRECT") && e.to_string().contains("direct.bin"),
                "{e}"
            );
            common::no_o_direct(dir, &format!("{name}: {e}"));
            return;
        }
    };
    let mut a = AlignedBuf::new(DIRECT_ALIGN_BYTES, DIRECT_ALIGN_BYTES);
    let mut b = AlignedBuf::new(2 * DIRECT_ALIGN_BYTES, DIRECT_ALIGN_BYTES);
    rf.read_batch(&mut [
        ReadReq {
            offset: 2 * DIRECT_ALIGN_BYTES as u64,
            buf: &mut a,
        },
        ReadReq {
            offset: 0,
            buf: &mut b,
        },
    ])
    .unwrap();
    assert_eq!(
        &a[..],
        &data[2 * DIRECT_ALIGN_BYTES..3 * DIRECT_ALIGN_BYTES],
        "{name}"
    );
    assert_eq!(&b[..], &data[..2 * DIRECT_ALIGN_BYTES], "{name}");
    let mut un = vec![0u8; 100];
    let e = rf
        .read_batch(&mut [ReadReq {
            offset: 1,
            buf: &mut un,
        }])
        .unwrap_err();
    assert!(e.to_string().contains("aligned"), "{name}: {e}");
}

#[test]
fn pread_conforms() {
    let d = common::disk_tempdir();
    let st = open_storage(Backend::Pread).unwrap();
    conformance(st.as_ref(), &d.path().join("x"));
    direct(st.as_ref(), d.path());
}

#[test]
fn io_uring_conforms() {
    let required = std::env::var("LEANN_REQUIRE_IO_URING").is_ok_and(|v| v == "1");
    let st = match open_storage(Backend::IoUring) {
        Ok(s) => s,
        Err(e) => {
            assert!(!required, "io_uring required but unavailable: {e}");
            eprintln!("io_uring unavailable, skipped: {e}");
            return;
        }
    };
    assert_eq!(st.name(), "io_uring");
    let d = common::disk_tempdir();
    conformance(st.as_ref(), &d.path().join("x"));
    direct(st.as_ref(), d.path());
}

#[test]
fn fault_injecting_backend_conforms() {
    let st = leann::io::fault::FaultStorage::default();
    conformance(&st, Path::new("/f/x"));
}

#[test]
fn memory_conforms() {
    let st = open_storage(Backend::Memory).unwrap();
    conformance(st.as_ref(), Path::new("/m/x"));
}

#[test]
fn auto_picks_a_working_backend() {
    let st = open_storage(Backend::Auto).unwrap();
    assert!(["io_uring", "pread"].contains(&st.name()));
    if leann::io::io_uring_available() {
        assert_eq!(st.name(), "io_uring");
    }
}
