//! `leann model ...`

use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum ModelCmd {
    /// Make a static embedding model from a sentence-transformers BERT model
    /// directory (config.json, tokenizer.json, model.safetensors).
    Distill {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        /// Output dimensions (PCA).
        #[arg(long, default_value_t = 256)]
        dims: usize,
        /// SIF coefficient a in a / (a + p(token)).
        #[arg(long, default_value_t = 1e-4)]
        sif: f32,
    },
}

pub fn run(c: ModelCmd) -> leann::Result<i32> {
    match c {
        ModelCmd::Distill {
            from,
            to,
            dims,
            sif,
        } => {
            let st = super::storage("auto")?;
            let r = leann::embed::distill::distill(st.as_ref(), &from, &to, dims, sif, &|m| {
                eprintln!("{m}")
            })?;
            println!(
                "distilled {} tokens, {} -> {} dims ({:.1}% of variance kept) in {:.1} s; wrote {} bytes to {}",
                r.vocab,
                r.dim_in,
                r.dims,
                r.variance_kept * 100.0,
                r.seconds,
                r.bytes_written,
                to.display()
            );
            Ok(0)
        }
    }
}
