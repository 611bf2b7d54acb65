//! Allocation budgets for calls into code that sizes its allocations from
//! bytes leann did not write and cannot check itself (tantivy's decoders,
//! SPEC.md F-7).
//!
//! tantivy trusts the counts in its files: a crafted `seg-S.lex` whose CRCs
//! are valid can make it allocate without bound (found by the `lex` fuzz
//! target: a block count in the fast-field dictionary grew a vector past
//! 2 GB). A panic can be caught; an allocation that never ends cannot. So
//! such calls run inside [`with_budget`]: while it runs, [`BudgetedAlloc`]
//! counts the bytes the thread holds beyond what it held on entry, and when
//! they pass the budget it prints the caller's message (which names the
//! file) on stderr and ends the process with exit code 2 before memory runs
//! out. Nothing is lost by that exit: the calls inside only read.
//!
//! The budget is enforced only in a program that installs [`BudgetedAlloc`]
//! as its global allocator (the `leann` binary, the `lex` fuzz target and
//! the tests that exercise it); elsewhere `with_budget` just
//! runs its closure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting a thread's bytes while it is inside
/// [`with_budget`].
pub struct BudgetedAlloc;

#[derive(Clone, Copy)]
struct Region {
    /// Net bytes allocated by this thread since the region began.
    live_bytes: isize,
    limit_bytes: isize,
    /// The caller's message, owned by `with_budget`'s frame for the
    /// region's life.
    msg: *const u8,
    msg_len: usize,
}

thread_local! {
    // Const-initialised and without a destructor: reading it never
    // allocates, so the allocator may use it.
    static REGION: Cell<Option<Region>> = const { Cell::new(None) };
}

/// Count `delta` bytes against the thread's region, if it is in one.
#[inline]
fn account(delta: isize) {
    let over = REGION
        .try_with(|r| {
            let mut region = r.get()?;
            region.live_bytes = region.live_bytes.saturating_add(delta);
            r.set(Some(region));
            (delta > 0 && region.live_bytes > region.limit_bytes).then_some(region)
        })
        .ok()
        .flatten();
    if let Some(region) = over {
        exceeded(region);
    }
}

/// The budget is spent: say so (without allocating) and leave.
#[cold]
fn exceeded(region: Region) -> ! {
    let _ = REGION.try_with(|r| r.set(None));
    // SAFETY: `msg` points at `msg_len` bytes of a String that
    // `with_budget` keeps alive until the region ends, and the region has
    // not ended (this thread is inside it). write(2) and _exit(2) take no
    // Rust-managed memory and do not allocate.
    unsafe {
        libc::write(2, region.msg.cast(), region.msg_len);
        libc::_exit(2)
    }
}

// SAFETY: every call is forwarded to `System` with the same arguments; the
// wrapper only counts sizes in a thread-local `Cell` (no allocation, no
// unwinding) and may end the process, which never hands out a bad pointer.
unsafe impl GlobalAlloc for BudgetedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System` through this allocator with
        // `layout` (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Run `f` with at most `limit_bytes` more bytes held by this thread than on
/// entry (only where [`BudgetedAlloc`] is the global allocator); past it,
/// `message` (a full line naming what was being read) goes to stderr and the
/// process exits with code 2. Regions do not nest: an inner one replaces the
/// outer one until it ends.
pub fn with_budget<T>(limit_bytes: u64, message: &str, f: impl FnOnce() -> T) -> T {
    let mut line = String::with_capacity(message.len() + 1);
    line.push_str(message);
    if !line.ends_with('\n') {
        line.push('\n');
    }
    let region = Region {
        live_bytes: 0,
        limit_bytes: isize::try_from(limit_bytes).unwrap_or(isize::MAX),
        msg: line.as_ptr(),
        msg_len: line.len(),
    };
    let outer = REGION.with(|r| r.replace(Some(region)));
    // Ends the region even when `f` panics (the caller may catch it).
    struct End(Option<Region>);
    impl Drop for End {
        fn drop(&mut self) {
            let _ = REGION.try_with(|r| r.set(self.0));
        }
    }
    let _end = End(outer);
    let out = f();
    drop(_end);
    drop(line);
    out
}

/// Give the heap's free pages back to the OS (glibc's `malloc_trim`).
///
/// A build frees millions of small allocations at once (the graph's
/// neighbour lists, made on rayon's threads, each with its own malloc
/// arena); glibc keeps freed memory that is not at the top of an arena,
/// so without this the process keeps their pages resident through the
/// steps after (measured: 1.4 GB anonymous after a 2.4 M-node graph was
/// freed). Called between a build's steps; costs a walk of the arenas.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes the arena locks itself and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
