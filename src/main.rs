//! The `leann` command line. Each subcommand lives in src/cli/.

mod cli;

/// Counts allocations inside `leann::memory::with_budget` regions (tantivy
/// reading a lexical index), so crafted files cannot exhaust memory.
#[global_allocator]
static ALLOC: leann::memory::BudgetedAlloc = leann::memory::BudgetedAlloc;

fn main() {
    std::process::exit(cli::main());
}
