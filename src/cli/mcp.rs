//! `leann mcp`: the index as an MCP server over stdio (src/serve/mcp.rs).

use std::io::Write;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct McpCmd {
    #[command(flatten)]
    served: super::serve::Served,
}

pub fn run(c: McpCmd) -> leann::Result<i32> {
    let st = super::storage("auto")?;
    let o = leann::serve::mcp::McpOptions {
        rerank: c.served.rerank(st.as_ref()),
        watch: c.served.watch_options(),
        index: c.served.index,
        root: c.served.root,
        limits: Default::default(),
    };
    let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|m: &str| {
        let _ = writeln!(std::io::stderr(), "leann mcp: {m}");
    });
    leann::serve::mcp::run(st, o, log)?;
    Ok(0)
}
