//! From a source tree to chunks: `walk` lists the files worth indexing (gitignore
//! aware, every skip counted by reason), `crate::lang` names their language, `source`
//! reads and vets their bytes, `split` cuts them into chunks (tree-sitter for
//! the languages it knows, line windows otherwise).

pub mod component;
pub mod source;
pub mod split;
pub mod walk;

pub use crate::lang::Language;
pub use source::{read_source, SkipReason, Skips};
pub use split::{chunk_text, Chunk};
pub use walk::{walk, FileEntry, WalkOptions};
