//! How the semantic and lexical rankings are fused (reciprocal rank
//! fusion): the constants the searcher and rerank mode share.

/// Default share of the semantic side in the fusion (`--semantic-ratio`):
/// equal shares. Measured on dev-relevance with the built-in model v2
/// (recall@10): 0.710 at 0.5, 0.695 at 0.7, 0.665 at 0.3, semantic only
/// 0.605, lexical only 0.530.
pub const DEFAULT_SEMANTIC_RATIO: f32 = 0.5;

/// Candidates each side brings to the fusion.
pub const FUSION_CANDIDATES: usize = 50;

/// Reciprocal rank fusion's constant.
pub const RRF_K: f32 = 60.0;
