//! The graph built out of core (issue 16 §3, DiskANN's way), for vector
//! sets whose in-memory build would not fit the build's memory budget:
//!
//! 1. k-means on a sample gives P partition centres, P chosen so that a
//!    partition's in-memory build fits the budget;
//! 2. every vector joins its [`OVERLAP`] nearest partitions that still have
//!    room (so neighbouring partitions share points and the merged graph is
//!    connected across their borders);
//! 3. each partition's graph is built in memory over a view of its rows
//!    (`vamana::build`) and its lists, in global ids, spooled to a scratch
//!    file, one partition in memory at a time;
//! 4. the lists of each vector, one per partition it joined, are merged:
//!    their union, RobustPrune'd with exact distances when it holds more
//!    than R and the vectors fit the budget (the prune reads them at
//!    random: the page cache's large folios make the whole mapped vector
//!    file resident, 2.2 GB of RSS at 2.4 M x 256), else cut to R in
//!    alternating order (DiskANN's merge cuts too); streamed to a flat
//!    table (`FlatAdjacency`) that the segment writer maps back.
//!
//! Memory: one partition's build, plus 16 bytes per vector (partitions and
//! merge cursors); the vectors, the partitions' lists and the merged table
//! are mapped files whose pages are given back as passes move on.

use crate::ann::kmeans::{self, Init};
use crate::ann::rng::Rng;
use crate::ann::vamana::{self, Adjacency, BuildParams, FlatAdjacency};
use crate::ann::vectors::{gather, in_blocks, VectorSource};
use crate::error::{Error, Result};
use crate::io::spool::Spool;
use crate::io::Mapped;
use rayon::prelude::*;

/// Partitions each vector joins.
pub const OVERLAP: usize = 2;
/// Fewest partitions of an out-of-core build.
const MIN_PARTITIONS: usize = 2;
/// Vectors sampled per partition centre for the k-means (at least
/// `MIN_SAMPLE_VECTORS` in all).
const SAMPLE_PER_PARTITION: usize = 2_000;
const MIN_SAMPLE_VECTORS: usize = 50_000;
/// Nearest centres remembered per vector when partitions fill up.
const RANKED: usize = 6;
/// Vectors merged per parallel block.
const MERGE_BLOCK_VECTORS: usize = 16_384;

/// Bytes an in-memory build holds per vector: its 8-bit copy, its list's
/// lock and header, the list at its slack limit with the allocator's
/// overhead, and one visited stamp per build thread.
pub fn build_bytes_per_vector(dim: usize, max_degree: usize) -> u64 {
    let slack = max_degree + max_degree * 3 / 10;
    (dim + 32 + slack * 4 + 16 + 4 * rayon::current_num_threads()) as u64
}

/// How a graph of `n` vectors is built within `graph_budget_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphPlan {
    InMemory,
    /// `partitions` partitions of at most `max_vectors` vectors each;
    /// lists merged by exact RobustPrune with `prune` (when the vectors
    /// themselves fit the budget: the prune reads them at random, so the
    /// whole vector file becomes resident), else cut to R in `interleave`
    /// order.
    Partitioned {
        partitions: usize,
        max_vectors: usize,
        prune: bool,
    },
}

/// The plan for `n` vectors: in memory when the whole build fits, else
/// enough partitions that each fits (with room for uneven k-means clusters:
/// a partition may hold 1.5 times its even share).
pub fn plan(n: usize, dim: usize, max_degree: usize, graph_budget_bytes: u64) -> GraphPlan {
    let per = build_bytes_per_vector(dim, max_degree);
    let fit = (graph_budget_bytes / per.max(1)) as usize;
    if n <= fit {
        return GraphPlan::InMemory;
    }
    // A partition below a few thousand vectors makes a poor graph: past
    // that, the budget is exceeded rather than the graph ruined.
    let max_vectors = fit.max(4_096).min(n);
    let even = max_vectors * 2 / 3;
    let partitions = (n * OVERLAP).div_ceil(even.max(1)).max(MIN_PARTITIONS);
    GraphPlan::Partitioned {
        partitions,
        max_vectors,
        prune: (n as u64) * (dim as u64) * 4 <= graph_budget_bytes,
    }
}

/// Rows `rows` (ascending) of `src`, as a vector set of their own.
struct Subset<'a> {
    src: &'a dyn VectorSource,
    rows: &'a [u32],
}

impl VectorSource for Subset<'_> {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn dim(&self) -> usize {
        self.src.dim()
    }
    fn vector(&self, i: usize) -> &[f32] {
        self.src.vector(self.rows[i] as usize)
    }
    fn release(&self, rows: std::ops::Range<usize>) {
        if rows.is_empty() {
            return;
        }
        // Ascending rows: the range's rows lie within this span of src's.
        let first = self.rows[rows.start] as usize;
        let last = self.rows[rows.end - 1] as usize;
        self.src.release(first..last + 1);
    }
}

/// The merged graph: its table (mapped from a scratch file, removed with
/// this value) and its medoid.
pub struct PartitionedGraph {
    pub adj: FlatAdjacency<Mapped>,
    pub medoid: u32,
    _scratch: tempfile::TempDir,
}

fn release_map(m: &Mapped) {
    m.release_range(0..m.len());
}

/// Build the graph of `src` in `partitions` partitions of at most
/// `max_vectors` each, its scratch files in a new directory in `scratch_in`;
/// lists longer than R merged by exact RobustPrune with `prune`, else cut
/// (see [`GraphPlan::Partitioned`]).
/// `progress(done, total)` counts insertions over all partitions, then the
/// merge.
pub fn build(
    src: &dyn VectorSource,
    p: &BuildParams,
    partitions: usize,
    max_vectors: usize,
    prune: bool,
    scratch_in: &std::path::Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<PartitionedGraph> {
    let n = src.len();
    if n == 0 || partitions < 2 || max_vectors * partitions < n * OVERLAP {
        return Err(Error::internal(format!(
            "out-of-core build of {n} vectors in {partitions} partitions of {max_vectors}"
        )));
    }
    let medoid = vamana::find_medoid(src, p.metric);
    let centres = centres(src, partitions, p.seed);
    let (members, joined) = assign(src, &centres, max_vectors);
    drop(centres);
    let scratch = crate::io::temp_dir_in(scratch_in, "graph")?;
    let total = (n * OVERLAP + n) as u64;
    let mut done = 0u64;
    let mut spools = Vec::with_capacity(members.len());
    for (k, rows) in members.iter().enumerate() {
        let mut spool = Spool::create_at(&scratch.path().join(format!("part-{k}.adj")))?;
        if !rows.is_empty() {
            let view = Subset { src, rows };
            let base = done;
            let g = vamana::build_with_progress(&view, p, &|d| progress(base + d as u64, total));
            let mut row = Vec::new();
            for list in &g.adj {
                row.clear();
                row.extend_from_slice(&(list.len() as u32).to_le_bytes());
                for &x in list {
                    row.extend_from_slice(&rows[x as usize].to_le_bytes());
                }
                spool.append(&row)?;
            }
            done += rows.len() as u64;
        }
        spools.push(spool);
    }
    drop(members);
    // The partitions' graphs are freed; their pages go back before the merge.
    crate::memory::release_free_heap();
    let maps: Vec<Mapped> = spools.iter_mut().map(|s| s.map()).collect::<Result<_>>()?;
    let mut out = Spool::create_at(&scratch.path().join("graph.adj"))?;
    let mut cursors = vec![0usize; maps.len()];
    let r = p.max_degree;
    let mut start = 0;
    while start < n {
        let end = (start + MERGE_BLOCK_VECTORS).min(n);
        // Each vector's lists, read in order from its partitions' files.
        let mut cands: Vec<Vec<u32>> = Vec::with_capacity(end - start);
        for (v, parts) in joined.iter().enumerate().take(end).skip(start) {
            let mut lists: [&[u8]; OVERLAP] = [&[]; OVERLAP];
            for (slot, &k) in lists.iter_mut().zip(parts) {
                if k == u32::MAX {
                    continue;
                }
                let (m, at) = (&maps[k as usize], &mut cursors[k as usize]);
                let bad = || {
                    Error::internal(format!(
                        "partition {k}'s list of vector {v} is cut at byte {at}"
                    ))
                };
                let count = m.get(*at..*at + 4).ok_or_else(bad)?;
                let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize;
                *slot = m.get(*at + 4..*at + 4 + count * 4).ok_or_else(bad)?;
                *at += 4 + count * 4;
            }
            cands.push(interleave(&lists, v as u32));
        }
        let rows: Vec<Vec<u8>> = cands
            .into_par_iter()
            .enumerate()
            .map(|(i, c)| {
                let v = (start + i) as u32;
                let mut list = c;
                if list.len() > r && !prune {
                    // The union's first R: each partition's first choices,
                    // alternately (`interleave`).
                    list.truncate(r);
                } else if list.len() > r {
                    let x = src.vector(v as usize);
                    let mut scored: Vec<(f32, u32)> = list
                        .iter()
                        .map(|&y| (p.metric.distance(x, src.vector(y as usize)), y))
                        .collect();
                    let d = |a: u32, b: u32| {
                        p.metric
                            .distance(src.vector(a as usize), src.vector(b as usize))
                    };
                    vamana::robust_prune_by(&mut scored, r, p.alpha, d, &mut list);
                }
                let mut row = Vec::with_capacity(FlatAdjacency::<Mapped>::row_bytes(r));
                FlatAdjacency::<Mapped>::encode_row(r, &list, &mut row);
                row
            })
            .collect();
        for row in &rows {
            out.append(row)?;
        }
        // Pages of the vectors and of the partitions' lists read so far go
        // back: the merge reads each list once, the vectors at random.
        if prune {
            src.release(0..n);
        }
        for m in &maps {
            release_map(m);
        }
        done += (end - start) as u64;
        start = end;
        progress(done.min(total), total);
    }
    drop(maps);
    drop(spools);
    let table = out.map()?;
    let adj = FlatAdjacency::new(table, r, Some(release_map)).ok_or_else(|| {
        Error::internal(format!(
            "the merged graph table in {} is not a table of out-degree {r}",
            scratch.path().display()
        ))
    })?;
    if adj.len() != n {
        return Err(Error::internal(format!(
            "the merged graph has {} lists for {n} vectors",
            adj.len()
        )));
    }
    Ok(PartitionedGraph {
        adj,
        medoid,
        _scratch: scratch,
    })
}

/// The union of a vector's lists, alternating between them so that each
/// partition's first (nearest, after RobustPrune) choices come first;
/// without `v` itself and without repeats.
fn interleave(lists: &[&[u8]], v: u32) -> Vec<u32> {
    let ids = |l: &[u8]| -> Vec<u32> {
        l.chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let lists: Vec<Vec<u32>> = lists.iter().map(|l| ids(l)).collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    let mut out: Vec<u32> = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    for i in 0..longest {
        for l in &lists {
            if let Some(&x) = l.get(i) {
                if x != v && !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out
}

/// k-means centres of a sample of `src`.
fn centres(src: &dyn VectorSource, k: usize, seed: u64) -> kmeans::Centroids {
    let n = src.len();
    let dim = src.dim();
    let want = (k * SAMPLE_PER_PARTITION).max(MIN_SAMPLE_VECTORS).min(n);
    let rows = Rng::new(seed ^ 0x9a27_7e1d).sample_indices(n, want);
    let data = gather(src, &rows);
    kmeans::train(&data, dim, k, 10, Init::PlusPlus, seed)
}

/// Each vector's partitions: the nearest [`OVERLAP`] centres with room
/// (under `max_vectors`), else the least full. Returns the rows of each
/// partition (ascending) and the partitions of each row (`u32::MAX` for
/// none).
fn assign(
    src: &dyn VectorSource,
    centres: &kmeans::Centroids,
    max_vectors: usize,
) -> (Vec<Vec<u32>>, Vec<[u32; OVERLAP]>) {
    let n = src.len();
    let k = centres.k;
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut joined: Vec<[u32; OVERLAP]> = Vec::with_capacity(n);
    in_blocks(src, |rows| {
        let start = rows.start;
        let ranked: Vec<[u32; RANKED]> = rows
            .into_par_iter()
            .map_init(
                || vec![0f32; k],
                |acc, i| {
                    centres.dots(src.vector(i), acc);
                    let mut order: Vec<(f32, u32)> = acc
                        .iter()
                        .enumerate()
                        .map(|(c, d)| (centres.norm(c) - 2.0 * d, c as u32))
                        .collect();
                    let take = RANKED.min(k);
                    order.select_nth_unstable_by(take - 1, |a, b| a.0.total_cmp(&b.0));
                    order[..take].sort_by(|a, b| a.0.total_cmp(&b.0));
                    let mut out = [u32::MAX; RANKED];
                    for (o, c) in out.iter_mut().zip(&order[..take]) {
                        *o = c.1;
                    }
                    out
                },
            )
            .collect();
        for (j, ranks) in ranked.iter().enumerate() {
            let v = (start + j) as u32;
            let mut got = [u32::MAX; OVERLAP];
            let mut slot = 0;
            for &c in ranks.iter().filter(|&&c| c != u32::MAX) {
                if slot < OVERLAP && members[c as usize].len() < max_vectors {
                    got[slot] = c;
                    slot += 1;
                }
            }
            while slot < OVERLAP {
                // Every ranked centre is full: the least full other one.
                let Some((c, _)) = members
                    .iter()
                    .enumerate()
                    .filter(|(c, m)| !got.contains(&(*c as u32)) && m.len() < max_vectors)
                    .min_by_key(|(_, m)| m.len())
                else {
                    break;
                };
                got[slot] = c as u32;
                slot += 1;
            }
            for &c in got.iter().filter(|&&c| c != u32::MAX) {
                members[c as usize].push(v);
            }
            joined.push(got);
        }
    });
    (members, joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::distance::Metric;
    use crate::ann::vamana::{beam_search, MemGraph, SearchParams, SearchStats, Visited};
    use crate::ann::vectors::VecVectors;

    /// `n` points around 20 centres in `dim` dimensions.
    fn data(n: usize, dim: usize, seed: u64) -> VecVectors {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f32>> = (0..20)
            .map(|_| (0..dim).map(|_| rng.normal() * 2.0).collect())
            .collect();
        let mut v = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = &centres[(rng.below(20) as usize + i) % centres.len()];
            v.extend(c.iter().map(|x| x + rng.normal()));
        }
        VecVectors { data: v, dim }
    }

    /// Mean recall@10 of a beam search (list `l`, exact distances) against
    /// brute force, ties counted as hits.
    fn recall(
        adj: &dyn Adjacency,
        medoid: u32,
        src: &VecVectors,
        queries: &VecVectors,
        l: usize,
    ) -> f64 {
        let k = 10;
        let mut vis = Visited::new(src.len());
        let mut sum = 0.0;
        for qi in 0..queries.len() {
            let q = queries.vector(qi);
            let d = |i: u32| Metric::L2.distance(q, src.vector(i as usize));
            let mut all: Vec<f32> = (0..src.len() as u32).map(d).collect();
            all.sort_by(f32::total_cmp);
            let kth = all[k - 1];
            let p = SearchParams {
                list: l,
                beam: 4,
                patience: 0,
                k,
                free_expand: false,
            };
            let got = beam_search(
                &MemGraph(adj),
                &[medoid],
                &d,
                &p,
                &mut vis,
                &mut (),
                &mut SearchStats::default(),
            )
            .unwrap();
            let hits = got.iter().take(k).filter(|c| d(c.node) <= kth).count();
            sum += hits as f64 / k as f64;
        }
        sum / queries.len() as f64
    }

    #[test]
    fn plan_partitions_only_past_the_budget() {
        let per = build_bytes_per_vector(64, 32);
        assert_eq!(plan(1000, 64, 32, per * 1000), GraphPlan::InMemory);
        match plan(100_000, 64, 32, per * 20_000) {
            GraphPlan::Partitioned {
                partitions,
                max_vectors,
                prune,
            } => {
                assert_eq!(max_vectors, 20_000);
                // 25.6 MB of vectors against a 20,000-vector budget.
                assert!(!prune);
                // Room for every vector twice at two thirds full.
                assert!(partitions * max_vectors * 2 / 3 >= 200_000, "{partitions}");
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn every_vector_joins_two_partitions_within_their_room() {
        let src = data(6_000, 16, 3);
        let c = centres(&src, 4, 7);
        let (members, joined) = assign(&src, &c, 4_000);
        for m in &members {
            assert!(m.len() <= 4_000);
            assert!(m.windows(2).all(|w| w[0] < w[1]));
        }
        for (v, j) in joined.iter().enumerate() {
            assert!(
                j[0] != u32::MAX && j[1] != u32::MAX && j[0] != j[1],
                "{v}: {j:?}"
            );
            for &k in j {
                assert!(members[k as usize].binary_search(&(v as u32)).is_ok());
            }
        }
    }

    #[test]
    fn merged_lists_interleave_without_self_or_repeats() {
        let enc = |l: &[u32]| l.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (a, b) = (enc(&[5, 1, 9]), enc(&[1, 7, 3, 2]));
        assert_eq!(interleave(&[&a, &b], 3), vec![5, 1, 7, 9, 2]);
        assert_eq!(interleave(&[&a, &[]], 3), vec![5, 1, 9]);
    }

    /// The out-of-core graph finds what the in-memory one finds: recall@10
    /// at equal list size within 0.02 of it (lists merged either way), every
    /// list within R, no self-loops.
    #[test]
    fn partitioned_graph_recalls_like_the_in_memory_one() {
        let (n, dim) = (12_000, 24);
        let src = data(n, dim, 11);
        let queries = data(200, dim, 12);
        let p = BuildParams {
            metric: Metric::L2,
            max_degree: 24,
            build_list: 48,
            alpha: 1.2,
            seed: 5,
        };
        let whole = vamana::build(&src, &p);
        let a = recall(&whole.adj, whole.medoid, &src, &queries, 100);
        assert!(a > 0.8, "in memory {a}");
        // Lists merged by exact RobustPrune, and cut to R (vectors beyond
        // the budget).
        for prune in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            let parts = build(&src, &p, 5, 6_000, prune, tmp.path(), &|_, _| {}).unwrap();
            assert_eq!(parts.adj.len(), n);
            for i in 0..n {
                let l = parts.adj.neighbours(i);
                assert!(l.len() <= p.max_degree && !l.is_empty(), "{i}: {l:?}");
                assert!(!l.contains(&(i as u32)));
            }
            let b = recall(&parts.adj, parts.medoid, &src, &queries, 100);
            eprintln!("recall@10 at L=100: in memory {a:.4}, out of core {b:.4} (prune {prune})");
            assert!(
                b >= a - 0.02,
                "partitioned {b} vs in memory {a} (prune {prune})"
            );
        }
    }
}
