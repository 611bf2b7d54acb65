//! Command-line surface (clap derive). Thin: parse, call the library, print.
//! Exit codes: 0 success, 1 nothing found, 2 error.

mod bench;
mod debug;
mod embed_server;
mod eval;
mod index;
mod mcp;
mod model;
mod progress;
mod query;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "leann",
    version,
    about = "Disk-first vector index for local semantic code search"
)]
struct Cli {
    /// The embedding server (ZeroMQ endpoint) for an index built through
    /// one; same as LEANN_EMBED_SERVER. An endpoint recorded in an index is
    /// never used by itself.
    #[arg(long, global = true, value_name = "ENDPOINT")]
    embed_server: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure build and search on DiskANN-format data (.fbin/.ibin).
    Bench(Box<bench::BenchCmd>),
    /// Manage an index.
    #[command(subcommand)]
    Index(index::IndexCmd),
    /// Embedding models.
    #[command(subcommand)]
    Model(model::ModelCmd),
    /// Search an index built from a source tree.
    Query(Box<query::QueryCmd>),
    /// Score an index on a relevance file (recall@1/5/10, MRR@10, latency).
    Eval(Box<eval::EvalCmd>),
    /// Keep an index open behind an HTTP API (/search, /batch, /health,
    /// /stats), optionally following the tree (--watch).
    Serve(Box<serve::ServeCmd>),
    /// Serve the index to coding agents over the Model Context Protocol
    /// (stdio): tools search, status, update.
    Mcp(Box<mcp::McpCmd>),
    /// Serve an embedding model over ZeroMQ (protocol in SPEC.md).
    EmbedServer(embed_server::EmbedServerCmd),
    /// A write workload for the process-crash test.
    #[command(hide = true)]
    DebugWorkload(debug::WorkloadCmd),
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    if let Some(e) = &cli.embed_server {
        // Before any thread starts: the library reads it when an index
        // built through a server is opened.
        std::env::set_var(leann::embed::EMBED_SERVER_ENV, e);
    }
    let r = match cli.cmd {
        Cmd::Bench(c) => bench::run(*c),
        Cmd::Index(c) => index::run(c),
        Cmd::Model(c) => model::run(c),
        Cmd::Query(c) => query::run(*c),
        Cmd::Eval(c) => eval::run(*c),
        Cmd::Serve(c) => serve::run(*c),
        Cmd::Mcp(c) => mcp::run(*c),
        Cmd::EmbedServer(c) => embed_server::run(c),
        Cmd::DebugWorkload(c) => debug::run(c),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("leann: error: {e}");
            2
        }
    }
}

/// Open the storage backend named on the command line.
pub fn storage(io: &str) -> leann::Result<std::sync::Arc<dyn leann::io::Storage>> {
    leann::io::open_storage(io.parse()?)
}

/// Read a config file (JSON) or the defaults.
pub fn load_config(
    path: Option<&std::path::Path>,
    st: &dyn leann::io::Storage,
) -> leann::Result<leann::config::Config> {
    match path {
        None => Ok(leann::config::Config::default()),
        Some(p) => {
            let bytes = st.read_all(p)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                leann::Error::config(p.display().to_string(), "config file is not UTF-8")
            })?;
            let mut c = leann::config::Config::from_json(&text, &p.display().to_string())?;
            c.resolve_model_dirs(p.parent().unwrap_or(std::path::Path::new("")))?;
            Ok(c)
        }
    }
}
