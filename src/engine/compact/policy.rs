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
        Some(reason) => Plan::Compact {
            method: method_for(s),
            reason,
        },
        None => Plan::Nothing,
    }
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
/// (a merge would have no exact vectors to store for its survivors), and
/// neither the new nor the deleted vectors pass `MERGE_MAX_SHARE` of it.
pub fn method_for(s: &DeltaStats) -> Method {
    let seg = s.segment_vectors as f64;
    let small = s.delta_upserts as f64 <= MERGE_MAX_SHARE * seg
        && s.hidden_segment_vectors as f64 <= MERGE_MAX_SHARE * seg;
    if s.segments == 1 && !s.stored_vectors && small {
        Method::Merge
    } else {
        Method::Rebuild
    }
}
