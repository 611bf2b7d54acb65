//! io_uring batched reads: one submission and one wait per batch, on a ring
//! owned by the calling thread.

use super::ReadReq;
use crate::error::{Error, Result};
use io_uring::{opcode, types, IoUring};
use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::OnceLock;

/// The file a batch reads: its path (for errors) and descriptor.
pub(super) struct Target<'a> {
    pub path: &'a Path,
    pub file: &'a File,
}

/// Failed waits in a row (after EINTR) before the ring is taken as broken.
const WAIT_RETRIES: u32 = 64;

/// The wait for submitted reads keeps failing: returning would let the
/// kernel write into buffers the caller frees, so the process stops here.
fn in_flight_abort(f: &Target<'_>, e: &std::io::Error, in_flight: usize) -> ! {
    eprintln!(
        "leann: fatal: io_uring wait failed {WAIT_RETRIES} times ({e}) with {in_flight} reads of {} in flight; stopping rather than returning while they may still complete into freed memory",
        f.path.display()
    );
    std::process::abort()
}

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

pub(super) fn read_batch(f: &Target<'_>, reqs: &mut [ReadReq<'_>]) -> Result<()> {
    RING.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(
                IoUring::new(RING_ENTRIES).map_err(|e| Error::io("io_uring setup", f.path, e))?,
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

fn submit_chunk(ring: &mut IoUring, f: &Target<'_>, reqs: &mut [ReadReq<'_>]) -> Result<()> {
    let fd = types::Fd(f.file.as_raw_fd());
    {
        let mut sq = ring.submission();
        // Room for the whole chunk is checked before anything is queued: an
        // entry queued and then abandoned would be submitted later with a
        // dangling buffer.
        if sq.capacity() - sq.len() < reqs.len() {
            return Err(Error::io_backend(
                "io_uring",
                "io_uring submission queue full",
            ));
        }
        for (i, r) in reqs.iter_mut().enumerate() {
            let e = opcode::Read::new(fd, r.buf.as_mut_ptr(), r.buf.len() as u32)
                .offset(r.offset)
                .build()
                .user_data(i as u64);
            // SAFETY: the buffer stays borrowed (through `reqs`) until every
            // completion of this chunk has been reaped below: the wait loop
            // returns only when all have been (failed waits are retried, and
            // a ring that keeps failing aborts the process rather than
            // return), so the kernel never writes to freed or reused memory.
            // The queue has RING_ENTRIES slots, chunks are at most that long,
            // and it is empty on entry.
            unsafe { sq.push(&e) }
                .map_err(|_| Error::io_backend("io_uring", "io_uring submission queue full"))?;
        }
    }
    let n = reqs.len();
    let mut results = vec![i32::MIN; n];
    let mut got = 0;
    // Every read submitted above must complete before this function
    // returns: the kernel writes into `reqs`' buffers until then. So errors
    // of the wait are retried, never returned while reads are in flight.
    let mut failures = 0u32;
    while got < n {
        match ring.submit_and_wait(n - got) {
            Ok(_) => failures = 0,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EAGAIN / EBUSY (no resources, completion queue full) pass;
                // anything else repeating means a broken ring.
                failures += 1;
                if failures > WAIT_RETRIES {
                    in_flight_abort(f, &e, n - got);
                }
                std::thread::sleep(std::time::Duration::from_millis(1 << failures.min(6)));
            }
        }
        for cqe in ring.completion() {
            let i = cqe.user_data() as usize;
            if i < n && results[i] == i32::MIN {
                results[i] = cqe.result();
                got += 1;
            }
        }
    }
    for (i, r) in reqs.iter_mut().enumerate() {
        let res = results[i];
        if res < 0 {
            return Err(Error::io(
                "io_uring read",
                f.path,
                std::io::Error::from_raw_os_error(-res),
            ));
        }
        let done = res as usize;
        if done < r.buf.len() {
            // Short read (rare): finish it with pread.
            f.file
                .read_exact_at(&mut r.buf[done..], r.offset + done as u64)
                .map_err(|e| Error::io("pread", f.path, e))?;
        }
    }
    Ok(())
}
