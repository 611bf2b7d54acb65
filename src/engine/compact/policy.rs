//! The compaction policy, a pure function of the delta's statistics
//! (`plan`: whether compaction is due, and by which method), with its
//! thresholds. Tested on synthetic statistics.

/// Default `incremental.deltaIndexThreshold`.
pub const DEFAULT_DELTA_THRESHOLD: usize = 1000;
/// Compact when the delta's upserts exceed this share of the segments.
pub const DELTA_SHARE: f64 = 0.10;
/// Compact when this share of segment nodes is hidden (deleted or replaced).
pub const TOMBSTONE_SHARE: f64 = 0.20;

/// A merge reuses the segment's quantizer, trained on the vectors it was
/// built from: past this share of new or deleted vectors, rebuild instead.
pub const MERGE_MAX_SHARE: f64 = 0.5;

/// What the policy looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeltaStats {
    pub segments: u64,
    pub segment_vectors: u64,
    pub hidden_segment_vectors: u64,
    pub delta_upserts: u64,
    pub threshold: usize,
    /// Segments keep full-precision vectors in their graph files.
    pub stored_vectors: bool,
    /// What a merge would hold in memory (`merge_bytes`), and the
    /// index's memory budget (`memoryBudget`) it must fit: a merge reads
    /// the whole graph, a rebuild builds out of core when it must.
    pub merge_bytes: u64,
    pub budget_bytes: u64,
}

/// How compaction folds the delta in (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Merge,
    Rebuild,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Nothing,
    Compact { method: Method, reason: String },
}

/// The compaction policy: whether compaction is due, and by which method.
pub fn plan(s: &DeltaStats) -> Plan {
    match due(s) {
        Some(mut reason) => {
            let method = method_for(s);
            if method == Method::Rebuild && !merge_fits(s) {
                reason.push_str(&format!(
                    "; by rebuild: a merge would hold {} MiB, above the memory budget of {} MiB",
                    s.merge_bytes >> 20,
                    s.budget_bytes >> 20
                ));
            }
            Plan::Compact { method, reason }
        }
        None => Plan::Nothing,
    }
}

/// Whether a merge's memory fits the budget.
fn merge_fits(s: &DeltaStats) -> bool {
    s.merge_bytes <= s.budget_bytes
}

/// What a merge into a segment holds in memory for `n` vectors after it
/// (dimension `dim`, lists of up to `max_degree`, `m`-byte codes): the
/// graph being built (as a build holds it,
/// `partition::build_bytes_per_vector`), the old graph's lists, the row
/// map, the codes and their anchors, and a build's fixed share
/// (`BUILD_BASE_BYTES`).
pub fn merge_bytes(n: u64, dim: usize, max_degree: usize, m: usize) -> u64 {
    const OLD_LIST_OVERHEAD_BYTES: u64 = 24;
    let per = crate::engine::partition::build_bytes_per_vector(dim, max_degree)
        + 4 * max_degree as u64
        + OLD_LIST_OVERHEAD_BYTES
        + 4
        + m as u64
        + 4;
    crate::engine::index::BUILD_BASE_BYTES + per * n
}

/// Why compaction is due, if it is.
fn due(s: &DeltaStats) -> Option<String> {
    let seg = s.segment_vectors.max(1) as f64;
    if s.delta_upserts as usize >= s.threshold.max(1) {
        return Some(format!(
            "{} live upserts >= deltaIndexThreshold {}",
            s.delta_upserts, s.threshold
        ));
    }
    if s.delta_upserts as f64 > DELTA_SHARE * seg {
        return Some(format!(
            "delta of {} upserts is above {:.0}% of {} segment vectors",
            s.delta_upserts,
            DELTA_SHARE * 100.0,
            s.segment_vectors
        ));
    }
    if s.hidden_segment_vectors as f64 > TOMBSTONE_SHARE * seg {
        return Some(format!(
            "{} of {} segment vectors deleted or replaced (> {:.0}%)",
            s.hidden_segment_vectors,
            s.segment_vectors,
            TOMBSTONE_SHARE * 100.0
        ));
    }
    None
}

/// Merge when there is one segment to merge into, it keeps no full vectors
/// (a merge would have no exact vectors to store for its survivors),
/// neither the new nor the deleted vectors pass `MERGE_MAX_SHARE` of it,
/// and the merge's memory fits the budget.
pub fn method_for(s: &DeltaStats) -> Method {
    let seg = s.segment_vectors as f64;
    let small = s.delta_upserts as f64 <= MERGE_MAX_SHARE * seg
        && s.hidden_segment_vectors as f64 <= MERGE_MAX_SHARE * seg;
    if s.segments == 1 && !s.stored_vectors && small && merge_fits(s) {
        Method::Merge
    } else {
        Method::Rebuild
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_merge() -> DeltaStats {
        DeltaStats {
            segments: 1,
            segment_vectors: 10_000,
            hidden_segment_vectors: 100,
            delta_upserts: 2_000,
            threshold: 1_000,
            stored_vectors: false,
            merge_bytes: 1 << 30,
            budget_bytes: 2 << 30,
        }
    }

    #[test]
    fn a_merge_above_the_memory_budget_becomes_a_rebuild_and_says_why() {
        let s = due_merge();
        assert_eq!(method_for(&s), Method::Merge);
        let Plan::Compact { method, reason } = plan(&s) else {
            panic!("compaction is due");
        };
        assert_eq!(method, Method::Merge);
        assert!(!reason.contains("memory budget"), "{reason}");
        let over = DeltaStats {
            budget_bytes: (1 << 30) - 1,
            ..s.clone()
        };
        assert_eq!(method_for(&over), Method::Rebuild);
        let Plan::Compact { method, reason } = plan(&over) else {
            panic!("compaction is due");
        };
        assert_eq!(method, Method::Rebuild);
        assert!(
            reason.contains("1024 MiB") && reason.contains("1023 MiB"),
            "{reason}"
        );
        // A rebuild chosen for another reason does not blame the budget.
        let shared = DeltaStats { segments: 2, ..s };
        let Plan::Compact { method, reason } = plan(&shared) else {
            panic!("compaction is due");
        };
        assert_eq!(method, Method::Rebuild);
        assert!(!reason.contains("memory budget"), "{reason}");
    }

    #[test]
    fn merge_memory_grows_with_vectors_and_degree() {
        let a = merge_bytes(1_000_000, 256, 64, 32);
        assert!(merge_bytes(2_000_000, 256, 64, 32) - a == a - merge_bytes(0, 256, 64, 32));
        assert!(merge_bytes(1_000_000, 256, 96, 32) > a);
        // At least the old and the new lists' ids.
        assert!(a - merge_bytes(0, 256, 64, 32) >= 1_000_000 * 2 * 64 * 4);
    }
}
