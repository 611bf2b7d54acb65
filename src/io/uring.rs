//! io_uring batched reads: one submission and one wait per batch, on a ring
//! owned by the calling thread.

use super::os::OsReadFile;
use super::ReadReq;
use crate::error::{Error, Result};
use io_uring::{opcode, types, IoUring};
use std::cell::RefCell;
use std::os::unix::io::AsRawFd;
use std::sync::OnceLock;

/// Ring size; larger batches are split.
const RING_ENTRIES: u32 = 64;

thread_local! {
    static RING: RefCell<Option<IoUring>> = const { RefCell::new(None) };
}

/// Whether the kernel lets this process create an io_uring (checked once).
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| IoUring::new(4).is_ok())
}

pub(super) fn read_batch(f: &OsReadFile, reqs: &mut [ReadReq<'_>]) -> Result<()> {
    RING.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(
                IoUring::new(RING_ENTRIES).map_err(|e| Error::io("io_uring setup", &f.path, e))?,
            );
        }
        // Just initialised above when it was None.
        let ring = slot.as_mut().expect("ring initialised");
        for chunk in reqs.chunks_mut(RING_ENTRIES as usize) {
            submit_chunk(ring, f, chunk)?;
        }
        Ok(())
    })
}

fn submit_chunk(ring: &mut IoUring, f: &OsReadFile, reqs: &mut [ReadReq<'_>]) -> Result<()> {
    let fd = types::Fd(f.file.as_raw_fd());
    {
        let mut sq = ring.submission();
        for (i, r) in reqs.iter_mut().enumerate() {
            let e = opcode::Read::new(fd, r.buf.as_mut_ptr(), r.buf.len() as u32)
                .offset(r.offset)
                .build()
                .user_data(i as u64);
            // SAFETY: the buffer stays borrowed (through `reqs`) until every
            // completion of this chunk has been reaped below, so the kernel never
            // writes to freed or reused memory. The queue has RING_ENTRIES slots
            // and chunks are at most that long, and it is empty on entry.
            unsafe { sq.push(&e) }.map_err(|_| Error::invalid("io_uring submission queue full"))?;
        }
    }
    let n = reqs.len();
    let mut results = vec![i32::MIN; n];
    let mut got = 0;
    let mut submit_err = None;
    while got < n {
        if let Err(e) = ring.submit_and_wait(n - got) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            submit_err = Some(e);
            break;
        }
        for cqe in ring.completion() {
            let i = cqe.user_data() as usize;
            if i < n && results[i] == i32::MIN {
                results[i] = cqe.result();
                got += 1;
            }
        }
    }
    if let Some(e) = submit_err {
        // Nothing more will complete without a submit; a failed submit_and_wait
        // with reads in flight is unrecoverable for these buffers, so drain by
        // waiting once more before giving up.
        let _ = ring.submit_and_wait(n - got);
        for _ in ring.completion() {}
        return Err(Error::io("io_uring submit", &f.path, e));
    }
    for (i, r) in reqs.iter_mut().enumerate() {
        let res = results[i];
        if res < 0 {
            return Err(Error::io(
                "io_uring read",
                &f.path,
                std::io::Error::from_raw_os_error(-res),
            ));
        }
        let done = res as usize;
        if done < r.buf.len() {
            // Short read (rare): finish it with pread.
            f.pread_all(r.offset + done as u64, &mut r.buf[done..])?;
        }
    }
    Ok(())
}
