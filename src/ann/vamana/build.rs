//! Parallel Vamana build. Distances come from an 8-bit scalar-quantized copy
//! of the vectors (crate::ann::sq8): a quarter of the memory traffic of f32.
//! Points are inserted in random order, in batches processed in parallel; each
//! insertion runs a greedy search with list size L from the medoid, prunes the
//! visited set with RobustPrune(alpha, R), and adds reverse edges, pruning any
//! neighbour list that grows past R.

use super::visited::Visited;
use crate::ann::distance::Metric;
use crate::ann::rng::Rng;
use crate::ann::sq8::Sq8Vectors;
use crate::ann::vectors::VectorSource;
use rayon::prelude::*;
use std::sync::Mutex;

#[derive(Clone, Debug)]
pub struct BuildParams {
    pub metric: Metric,
    /// Maximum out-degree R.
    pub max_degree: usize,
    /// Search list size during build.
    pub build_list: usize,
    /// RobustPrune alpha (>= 1).
    pub alpha: f32,
    pub seed: u64,
}

pub struct Graph {
    pub adj: Vec<Vec<u32>>,
    pub medoid: u32,
}

/// Reverse edges may grow a list to R * 1.3 before it is pruned back to R
/// (DiskANN's slack factor): far fewer prunes for the same graph quality.
fn slack_limit(r: usize) -> usize {
    r + r * 3 / 10
}

/// Points per parallel batch; batches run one after another so that later
/// insertions search a graph that already holds the earlier ones.
const BATCH_POINTS: usize = 4096;

struct Ctx<'a> {
    vecs: Sq8Vectors,
    p: &'a BuildParams,
    adj: Vec<Mutex<Vec<u32>>>,
}

impl Ctx<'_> {
    #[inline]
    fn d(&self, a: u32, b: u32) -> f32 {
        self.vecs.distance(a, b)
    }
    fn neighbours(&self, i: u32) -> Vec<u32> {
        // Lock poisoning only follows a panic in another insertion, which
        // already aborts the build; the data is still a valid list.
        self.adj[i as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub fn build(src: &dyn VectorSource, p: &BuildParams) -> Graph {
    build_with_progress(src, p, &|_| {})
}

/// `build`, calling `progress(points_inserted)` after every batch.
pub fn build_with_progress(
    src: &dyn VectorSource,
    p: &BuildParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Graph {
    let n = src.len();
    assert!(n > 0, "build needs at least one vector");
    let medoid = find_medoid(src, p.metric);
    let ctx = Ctx {
        vecs: Sq8Vectors::new(src, p.metric),
        p,
        adj: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    Rng::new(p.seed).shuffle(&mut order);
    // Batches double in size from 1, so the first insertions see a connected
    // graph instead of racing into an empty one.
    insert_all(&ctx, &order, medoid, 1, progress);
    finish(ctx, medoid)
}

/// Insert `order` in batches run one after another (each batch in parallel),
/// the first of `first_batch` points, doubling up to `BATCH_POINTS`.
fn insert_all(
    ctx: &Ctx<'_>,
    order: &[u32],
    medoid: u32,
    first_batch: usize,
    progress: &(dyn Fn(usize) + Sync),
) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Option<Visited>> = const { std::cell::RefCell::new(None) };
    }
    let n = ctx.adj.len();
    let mut start = 0;
    let mut size = first_batch.clamp(1, BATCH_POINTS);
    while start < order.len() {
        let batch = &order[start..(start + size).min(order.len())];
        start += batch.len();
        size = (size * 2).min(BATCH_POINTS);
        batch.par_iter().for_each(|&pt| {
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                let vis = s.get_or_insert_with(|| Visited::new(n));
                insert(ctx, pt, medoid, vis);
            })
        });
        progress(start);
    }
}

/// Prune lists that grew past R (up to the slack limit) back to R.
fn finish(ctx: Ctx<'_>, medoid: u32) -> Graph {
    (0..ctx.adj.len() as u32).into_par_iter().for_each(|j| {
        let mut list = ctx.adj[j as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if list.len() > ctx.p.max_degree {
            let mut c: Vec<(f32, u32)> = list.iter().map(|&x| (ctx.d(j, x), x)).collect();
            let mut out = Vec::new();
            robust_prune(&ctx, &mut c, &mut out);
            *list = out;
        }
    });
    let adj: Vec<Vec<u32>> = ctx
        .adj
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    Graph { adj, medoid }
}

/// What a streaming merge starts from: an existing graph, which of its nodes
/// survive, and where each survivor sits among the merge's vectors.
pub struct MergeInput<'a> {
    /// The existing graph, in its own node numbering.
    pub old_adj: &'a [Vec<u32>],
    pub old_medoid: u32,
    /// Per old node: its row in the merge's vectors, or `u32::MAX` if deleted.
    /// Survivors take rows `0..survivors`; rows after them are new points.
    pub row_of: &'a [u32],
}

/// FreshDiskANN-style streaming merge. `src` holds the surviving old nodes
/// (rows `0..s`, as `input.row_of` says) followed by the points to insert.
/// 1. Delete: a survivor that linked to deleted nodes takes their surviving
///    out-neighbours as candidates beside its own, RobustPrune'd to R when
///    there are more than R.
/// 2. Insert: each new point is inserted as in the build (greedy search from
///    the medoid, RobustPrune, reverse edges), in parallel batches.
/// 3. Patch: lists grown past R by reverse edges are pruned back.
///
/// Returns the graph over the rows of `src`.
pub fn merge(
    src: &dyn VectorSource,
    input: &MergeInput<'_>,
    p: &BuildParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Graph {
    let n = src.len();
    assert!(n > 0, "merge needs at least one vector");
    let survivors = input.row_of.iter().filter(|&&r| r != u32::MAX).count();
    assert!(survivors <= n, "more survivors than rows");
    let vecs = Sq8Vectors::new(src, p.metric);
    let ctx = Ctx {
        vecs,
        p,
        adj: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
    };
    let row_of = input.row_of;
    (0..input.old_adj.len()).into_par_iter().for_each(|old| {
        let row = row_of[old];
        if row == u32::MAX {
            return;
        }
        let mut cands: Vec<u32> = Vec::with_capacity(p.max_degree * 2);
        let mut touched = false;
        for &x in &input.old_adj[old] {
            match row_of[x as usize] {
                u32::MAX => {
                    touched = true;
                    for &y in &input.old_adj[x as usize] {
                        let ry = row_of[y as usize];
                        if ry != u32::MAX && ry != row {
                            cands.push(ry);
                        }
                    }
                }
                rx => cands.push(rx),
            }
        }
        if touched {
            cands.sort_unstable();
            cands.dedup();
        }
        let list = if cands.len() <= p.max_degree {
            cands
        } else {
            let mut c: Vec<(f32, u32)> = cands.iter().map(|&x| (ctx.d(row, x), x)).collect();
            let mut out = Vec::with_capacity(p.max_degree);
            robust_prune(&ctx, &mut c, &mut out);
            out
        };
        *ctx.adj[row as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = list;
    });
    let medoid = match row_of.get(input.old_medoid as usize) {
        Some(&r) if r != u32::MAX => r,
        _ => find_medoid(src, p.metric),
    };
    let mut order: Vec<u32> = (survivors as u32..n as u32).collect();
    Rng::new(p.seed).shuffle(&mut order);
    // With no survivors this is a build: start from one point.
    let first = if survivors == 0 { 1 } else { 256 };
    insert_all(&ctx, &order, medoid, first, progress);
    finish(ctx, medoid)
}

/// The point nearest the mean of `src` (one pass in blocks, two for the
/// mean): where every build search starts.
pub fn find_medoid(src: &dyn VectorSource, metric: Metric) -> u32 {
    let n = src.len();
    let dim = src.dim();
    let mut sum = vec![0f64; dim];
    crate::ann::vectors::in_blocks(src, |rows| {
        let part = rows
            .into_par_iter()
            .fold(
                || vec![0f64; dim],
                |mut acc, i| {
                    for (a, b) in acc.iter_mut().zip(src.vector(i)) {
                        *a += *b as f64;
                    }
                    acc
                },
            )
            .reduce(
                || vec![0f64; dim],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(&b) {
                        *x += y;
                    }
                    a
                },
            );
        for (x, y) in sum.iter_mut().zip(&part) {
            *x += y;
        }
    });
    let mut c: Vec<f32> = sum.iter().map(|s| (*s / n as f64) as f32).collect();
    if metric != Metric::L2 {
        crate::ann::distance::normalize(&mut c);
    }
    let mut best = (f32::INFINITY, 0u32);
    crate::ann::vectors::in_blocks(src, |rows| {
        if let Some(b) = rows
            .into_par_iter()
            .map(|i| (crate::ann::distance::l2sq(src.vector(i), &c), i as u32))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        {
            if b.0 < best.0 {
                best = b;
            }
        }
    });
    best.1
}

/// Greedy search on the graph under construction: returns every expanded node
/// with its distance to `q`.
fn greedy(ctx: &Ctx<'_>, q: u32, start: u32, vis: &mut Visited) -> Vec<(f32, u32)> {
    let l = ctx.p.build_list;
    vis.clear(ctx.vecs.len());
    let mut pool: Vec<(f32, u32, bool)> = Vec::with_capacity(l + 1);
    let mut expanded = Vec::with_capacity(l * 2);
    vis.insert(start);
    pool.push((ctx.d(q, start), start, false));
    vis.insert(q);
    while let Some(pos) = pool.iter().position(|c| !c.2) {
        pool[pos].2 = true;
        let (dist, node, _) = pool[pos];
        expanded.push((dist, node));
        let mut nbrs = ctx.neighbours(node);
        nbrs.retain(|&nb| vis.insert(nb));
        for &nb in &nbrs {
            ctx.vecs.prefetch(nb);
        }
        for nb in nbrs {
            let d = ctx.d(q, nb);
            if pool.len() >= l && d >= pool[pool.len() - 1].0 {
                continue;
            }
            let at = pool.partition_point(|c| c.0 <= d);
            pool.insert(at, (d, nb, false));
            pool.truncate(l);
        }
    }
    expanded
}

/// RobustPrune: choose at most R of `cands` (sorted by distance to p) such that
/// no chosen s occludes a later c (alpha * d(s, c) <= d(p, c)).
fn robust_prune(ctx: &Ctx<'_>, cands: &mut Vec<(f32, u32)>, out: &mut Vec<u32>) {
    robust_prune_by(
        cands,
        ctx.p.max_degree,
        ctx.p.alpha,
        |a, b| ctx.d(a, b),
        out,
    );
}

/// RobustPrune over any distance `d` between two points: at most `r` of
/// `cands` ((distance to p, point), in any order; sorted and deduplicated
/// here), each kept only if no point kept before it occludes it.
pub fn robust_prune_by(
    cands: &mut Vec<(f32, u32)>,
    r: usize,
    alpha: f32,
    d: impl Fn(u32, u32) -> f32,
    out: &mut Vec<u32>,
) {
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    cands.dedup_by_key(|c| c.1);
    out.clear();
    for &(dpc, c) in cands.iter() {
        if out.len() >= r {
            break;
        }
        let occluded = out.iter().any(|&s| alpha * d(s, c) <= dpc);
        if !occluded {
            out.push(c);
        }
    }
}

fn insert(ctx: &Ctx<'_>, p: u32, medoid: u32, vis: &mut Visited) {
    // The node's current list (reverse edges gained so far; for the medoid,
    // everything linked to it before its own turn) joins the candidates, so
    // that replacing the list never drops edges RobustPrune would keep.
    let mut cands = greedy(ctx, p, medoid, vis);
    for x in ctx.neighbours(p) {
        cands.push((ctx.d(p, x), x));
    }
    cands.retain(|c| c.1 != p);
    let mut chosen = Vec::with_capacity(ctx.p.max_degree);
    robust_prune(ctx, &mut cands, &mut chosen);
    *ctx.adj[p as usize]
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = chosen.clone();
    let mut scratch = Vec::new();
    for &j in &chosen {
        let mut list = ctx.adj[j as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if list.contains(&p) {
            continue;
        }
        if list.len() < slack_limit(ctx.p.max_degree) {
            list.push(p);
            continue;
        }
        for &x in list.iter() {
            ctx.vecs.prefetch(x);
        }
        let mut c: Vec<(f32, u32)> = list.iter().map(|&x| (ctx.d(j, x), x)).collect();
        c.push((ctx.d(j, p), p));
        robust_prune(ctx, &mut c, &mut scratch);
        list.clear();
        list.extend_from_slice(&scratch);
    }
}
