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
    /// Weight a static model's tokens by their frequency in a corpus of code
    /// (SIF a / (a + p)); tokens without a letter or digit get 0. Writes the
    /// model with a `weights` tensor to --to.
    Reweight {
        /// A static model directory (tokenizer.json, model.safetensors).
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        /// A directory of code to count tokens in (walked like `index
        /// create`); repeat for several.
        #[arg(long, required = true)]
        corpus: Vec<PathBuf>,
        /// SIF coefficient a in a / (a + p(token)).
        #[arg(long, default_value_t = 3e-3)]
        sif: f64,
        /// Split identifiers at their case changes before WordPiece
        /// (`getUserName` -> get user name); recorded in the model, which
        /// then always tokenizes so.
        #[arg(long)]
        split_identifiers: bool,
    },
    /// Train a static model's token table on (docstring sentence, code)
    /// pairs from the documented functions of a corpus (Python, Rust, JS,
    /// TS, Go, Java, C, C++; contrastive, in-batch negatives). Writes the
    /// trained model to --to.
    Train {
        /// A static model directory (tokenizer.json, model.safetensors).
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        /// A directory of code; repeat for several.
        #[arg(long, required = true)]
        corpus: Vec<PathBuf>,
        #[arg(long, default_value_t = 2000)]
        steps: usize,
        /// Pairs per step.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Adam learning rate.
        #[arg(long, default_value_t = 2e-3)]
        lr: f32,
        #[arg(long, default_value_t = 0.05)]
        temperature: f32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Pairs kept out of training and measured on.
        #[arg(long, default_value_t = 2000)]
        held_out: usize,
    },
    /// Make project-held-out evaluation sets: from FROM/LANGUAGE/PROJECT/...
    /// (whole projects never trained on), write the projects to
    /// TO/LANGUAGE/PROJECT/... with every docstring and doc comment blanked,
    /// and TO/LANGUAGE/relevance.jsonl (first doc sentence -> function), for
    /// `leann index create --input TO/LANGUAGE` and `leann eval`.
    Heldout {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        /// Questions kept per language (a seeded sample).
        #[arg(long, default_value_t = 400)]
        max_questions: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn run(c: ModelCmd) -> leann::Result<i32> {
    match c {
        ModelCmd::Heldout {
            from,
            to,
            max_questions,
            seed,
        } => {
            let st = super::storage("auto")?;
            let sets = leann::embed::train::heldout::make_heldout(
                st.as_ref(),
                &from,
                &to,
                max_questions,
                seed,
            )?;
            for s in sets {
                println!(
                    "{}: {} projects ({}), {} files, {} documented functions, {} questions -> {}",
                    s.language,
                    s.projects.len(),
                    s.projects.join(", "),
                    s.files,
                    s.pairs,
                    s.questions,
                    to.join(&s.language).join("relevance.jsonl").display()
                );
            }
            Ok(0)
        }
        ModelCmd::Distill {
            from,
            to,
            dims,
            sif,
        } => {
            let st = super::storage("auto")?;
            let r =
                leann::embed::train::distill::distill(st.as_ref(), &from, &to, dims, sif, &|m| {
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
        ModelCmd::Train {
            from,
            to,
            corpus,
            steps,
            batch,
            lr,
            temperature,
            seed,
            held_out,
        } => {
            let st = super::storage("auto")?;
            let o = leann::embed::train::TrainOptions {
                steps,
                batch,
                lr,
                temperature,
                seed,
                held_out,
                ..Default::default()
            };
            let r = leann::embed::train::train(st.as_ref(), &from, &to, &corpus, &o, &|m| {
                eprintln!("{m}")
            })?;
            println!(
                "trained on {} pairs in {:.0} s: loss {:.4} -> {:.4}, held-out recall@10 ({} pairs) {:.3} -> {:.3}; wrote {} bytes to {}",
                r.pairs - r.held_out,
                r.seconds,
                r.loss_first,
                r.loss_last,
                r.held_out,
                r.recall_before,
                r.recall_after,
                r.bytes_written,
                to.display()
            );
            Ok(0)
        }
        ModelCmd::Reweight {
            from,
            to,
            corpus,
            sif,
            split_identifiers,
        } => {
            let st = super::storage("auto")?;
            let r = leann::embed::train::reweight::reweight(
                st.as_ref(),
                &from,
                &to,
                &corpus,
                sif,
                split_identifiers,
                &|m| eprintln!("{m}"),
            )?;
            println!(
                "counted {} tokens in {} files; {} tokens weighted 0; {:.1} s; wrote {} bytes to {}",
                r.tokens,
                r.files,
                r.zeroed,
                r.seconds,
                r.bytes_written,
                to.display()
            );
            Ok(0)
        }
    }
}
