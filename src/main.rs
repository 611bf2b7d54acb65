//! The `leann` command line. Each subcommand lives in src/cli/.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
