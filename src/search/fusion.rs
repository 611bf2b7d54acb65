//! How the semantic and lexical rankings are fused (`fuse`), and the
//! constants the searcher and rerank mode share.

/// Default share of the semantic side in the fusion (`--semantic-ratio`):
/// equal shares. Chosen on the project-held-out sets with the built-in
/// model v3 (mean recall@10 over 8 languages): 0.651 at 0.4, 0.658 at 0.45,
/// 0.660 at 0.5, 0.652 at 0.55, 0.642 at 0.6.
pub const DEFAULT_SEMANTIC_RATIO: f32 = 0.5;

/// Candidates each side brings to the fusion.
pub const FUSION_CANDIDATES: usize = 50;

/// Reciprocal rank fusion's constant (rerank mode's fusion of orders).
pub const RRF_K: f32 = 60.0;

/// Fuse a semantic ranking and a lexical ranking, each (id, score) best
/// first, into the best `k` (id, fused score). `ratio` is the semantic
/// side's share (0 lexical only, 1 semantic only).
///
/// A convex combination of the sides' scores, each min-max normalised over
/// its own candidates (best 1, worst 0; a chunk a side did not bring scores
/// 0 there): `ratio * semantic + (1 - ratio) * lexical`. Unlike reciprocal
/// rank fusion it keeps how far ahead a side's best is: a BM25 hit on a rare
/// identifier far above the rest wins over a close semantic field, and the
/// other way round. Chosen on the project-held-out sets (recall@10 mean over
/// 8 languages, built-in model v3: 0.660 against 0.627 for RRF at k = 60;
/// above both sides on each set, where RRF was below lexical on Go); see
/// models/builtin/README.md. Non-finite scores count as a side's worst.
/// Ties keep the smaller id first.
pub fn fuse(
    semantic: &[(u64, f32)],
    lexical: &[(u64, f32)],
    ratio: f32,
    k: usize,
) -> Vec<(u64, f32)> {
    let mut by_id: std::collections::HashMap<u64, f32> = std::collections::HashMap::new();
    for (side, w) in [(semantic, ratio), (lexical, 1.0 - ratio)] {
        let finite = side.iter().map(|x| x.1).filter(|s| s.is_finite());
        let lo = finite.clone().fold(f32::INFINITY, f32::min);
        let hi = finite.fold(f32::NEG_INFINITY, f32::max);
        for &(id, s) in side {
            let n = if !s.is_finite() {
                0.0
            } else if hi > lo {
                (s - lo) / (hi - lo)
            } else {
                1.0
            };
            *by_id.entry(id).or_insert(0.0) += w * n;
        }
    }
    let mut all: Vec<(u64, f32)> = by_id.into_iter().collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

/// Results per prose chunk allowed in a fused ranking: at most one prose
/// chunk (README, Markdown, plain-text docs: `Language::is_prose`) in each
/// ten results, at least one in any.
pub const RESULTS_PER_PROSE: usize = 10;

/// Keep prose hubs from crowding out code: of a ranking, best first, the
/// first `max(1, k / RESULTS_PER_PROSE)` prose items keep their places; every
/// later prose item moves behind the last non-prose item. The result is the
/// best `k`. The best prose item is never moved, so a question about the
/// docs still finds them first.
///
/// Chosen on the project-held-out sets with each project's own READMEs and
/// docs added (README.md, "Search quality"): mean recall@10 of
/// the default mode 0.643 with no cap, 0.654 with one prose chunk per ten
/// results, 0.650 with two, 0.660 with none at all (prose dropped). The
/// lexical-only ranking (which goes through here too) gains likewise;
/// semantic-only (`--semantic-ratio 1`) is the model's raw ranking; the
/// default beats both on every set.
pub fn cap_prose<T>(ranked: Vec<T>, is_prose: impl Fn(&T) -> bool, k: usize) -> Vec<T> {
    let allowed = (k / RESULTS_PER_PROSE).max(1);
    let mut kept = Vec::with_capacity(ranked.len());
    let mut moved = Vec::new();
    let mut prose = 0usize;
    for item in ranked {
        if is_prose(&item) {
            prose += 1;
            if prose > allowed {
                moved.push(item);
                continue;
            }
        }
        kept.push(item);
    }
    kept.extend(moved);
    kept.truncate(k);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_beyond_one_in_ten_moves_behind_code() {
        // Odd ids are prose.
        let ranked: Vec<u32> = vec![1, 3, 2, 5, 4, 7, 6];
        let odd = |x: &u32| x % 2 == 1;
        // k = 5: one prose item allowed; the best prose item stays first.
        assert_eq!(cap_prose(ranked.clone(), odd, 5), [1, 2, 4, 6, 3]);
        // k = 20: two allowed, and every item kept.
        assert_eq!(cap_prose(ranked.clone(), odd, 20), [1, 3, 2, 4, 6, 5, 7]);
        // Only prose: order kept.
        assert_eq!(cap_prose(vec![9, 7, 5], odd, 2), [9, 7]);
        assert!(cap_prose(Vec::<u32>::new(), odd, 3).is_empty());
    }

    #[test]
    fn a_side_far_ahead_wins_and_agreement_ranks_first() {
        // Lexical: id 7 far above the rest; semantic: a close field.
        let sem = [(1, 0.80), (2, 0.79), (3, 0.78), (7, 0.77), (5, 0.50)];
        let lex = [(7, 30.0), (4, 5.0), (1, 4.0)];
        let f = fuse(&sem, &lex, 0.5, 10);
        assert_eq!(f[0].0, 7, "{f:?}");
        // Every candidate of either side is there once, scores in 0..=1.
        assert_eq!(f.len(), 6);
        assert!(f.iter().all(|x| (0.0..=1.0).contains(&x.1)), "{f:?}");
        // Ratio 1: the semantic order; ratio 0: the lexical order.
        let s: Vec<u64> = fuse(&sem, &lex, 1.0, 4).iter().map(|x| x.0).collect();
        assert_eq!(s, [1, 2, 3, 7]);
        let l: Vec<u64> = fuse(&[], &lex, 0.0, 3).iter().map(|x| x.0).collect();
        assert_eq!(l, [7, 4, 1]);
    }

    #[test]
    fn odd_scores_neither_panic_nor_lead() {
        let sem = [(1, f32::NAN), (2, 0.5), (3, 0.5)];
        let lex = [(9, f32::INFINITY)];
        let f = fuse(&sem, &lex, 0.5, 10);
        assert_eq!(f.len(), 4);
        // Equal scores: 1.0 each on their side; ties by id.
        assert_eq!(f[0].0, 2);
        assert!(f.iter().all(|x| x.1.is_finite()));
        assert!(fuse(&[], &[], 0.5, 10).is_empty());
    }
}
