//! The lexical side of hybrid retrieval: BM25 (tantivy) over code-aware
//! tokens (`tokens`), one index per segment packed into `seg-S.lex`
//! (`segment`, `packed`) and one in memory over the delta's upserts.

pub mod packed;
pub mod segment;
pub mod tokens;
