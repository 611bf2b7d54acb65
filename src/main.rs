//! The `leann` command line. Each subcommand lives in src/cli/.

mod cli;

/// Counts allocations inside `leann::memory::with_budget` regions (tantivy
/// reading a lexical index), so crafted files cannot exhaust memory.
#[global_allocator]
static ALLOC: leann::memory::BudgetedAlloc = leann::memory::BudgetedAlloc;

fn main() {
    // A closed pipe on stdout (`leann query ... | head -1`) ends the process
    // quietly, as other command-line tools do, instead of a panic on the
    // next print. The servers keep SIGPIPE ignored: a peer that goes away
    // must give a write error, not end the server.
    let server = std::env::args().any(|a| a == "serve" || a == "embed-server" || a == "mcp");
    if !server {
        // SAFETY: called first thing in main, before any thread exists;
        // SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    std::process::exit(cli::main());
}
