//! `leann embed-server`: a ZeroMQ REP server for an embedding model.

use leann::embed::remote::Server;
use leann::embed::EmbedderSpec;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args)]
pub struct EmbedServerCmd {
    /// `builtin`, or a model directory (static or sentence-transformers BERT).
    #[arg(long, default_value = "builtin")]
    model: String,
    #[arg(long, default_value_t = 5555)]
    port: u16,
    /// Address to bind; 0.0.0.0 or * serves other machines too.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Only `cpu` here; tools/embedding_server.py serves the same protocol on a GPU.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(c: EmbedServerCmd) -> leann::Result<i32> {
    if c.device != "cpu" {
        return Err(leann::Error::argument("--device", format!(
            "--device {}: this build runs models on the CPU only; for a GPU, run tools/embedding_server.py (same protocol)",
            c.device
        )));
    }
    let st = super::storage("auto")?;
    let spec = EmbedderSpec::parse(&c.model)?;
    let embedder = spec.load(st.as_ref())?;
    let server = Server::bind(&format!("tcp://{}:{}", c.host, c.port))?;
    eprintln!(
        "leann embed-server: serving {} (dim {}, {}) on {}",
        embedder.model_id(),
        embedder.dim(),
        spec.describe(),
        server.endpoint()
    );
    let stop = AtomicBool::new(false);
    server.serve(embedder.as_ref(), &stop)?;
    Ok(0)
}
