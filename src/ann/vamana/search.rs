//! Beam search with beam width W over a graph whose adjacency is fetched in
//! batches (one batch of sector reads per round), steered by approximate (PQ)
//! distances.

use super::visited::Visited;
use crate::error::Result;

/// Where a search gets neighbour lists from.
pub trait GraphReader {
    /// Per-query scratch (sector buffers and the like).
    type Scratch;
    /// Number of nodes.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fetch the neighbour lists of `batch` (one round: reads issued together)
    /// and call `visit(node, neighbours)` for each. Stats count real reads.
    fn fetch(
        &self,
        batch: &[u32],
        scratch: &mut Self::Scratch,
        stats: &mut SearchStats,
        visit: &mut dyn FnMut(u32, &[u32]),
    ) -> Result<()>;
    /// Whether `node`'s record is already in memory for this query (node cache
    /// or a sector read earlier in this query), so fetching it costs no I/O.
    fn resident(&self, node: u32, scratch: &Self::Scratch) -> bool;
}

#[derive(Clone, Debug)]
pub struct SearchParams {
    /// Candidate list size L.
    pub list: usize,
    /// Beam width W: nodes fetched per round.
    pub beam: usize,
    /// Stop after this many rounds in a row that did not change the best
    /// `k` candidates (0 = run until the list is fully expanded).
    pub patience: usize,
    /// Results wanted (for the patience test).
    pub k: usize,
    /// Expand unexpanded candidates whose records are already in memory (same
    /// sector as a node just read) without spending reads.
    pub free_expand: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Sectors read from storage.
    pub sector_reads: u64,
    /// Node records served by the node cache.
    pub cache_hits: u64,
    /// Nodes whose neighbours were expanded.
    pub nodes_expanded: u64,
    /// Nodes whose approximate distance was computed.
    pub nodes_visited: u64,
    pub rounds: u64,
    /// Wall time in microseconds (filled by the caller that times the query).
    pub micros: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub dist: f32,
    pub node: u32,
    pub expanded: bool,
}

/// Run the search; returns the final candidate list, best first.
pub fn beam_search<G: GraphReader>(
    g: &G,
    entries: &[u32],
    approx: &dyn Fn(u32) -> f32,
    p: &SearchParams,
    vis: &mut Visited,
    scratch: &mut G::Scratch,
    stats: &mut SearchStats,
) -> Result<Vec<Candidate>> {
    let l = p.list.max(1);
    vis.clear(g.len());
    let mut pool: Vec<Candidate> = Vec::with_capacity(l + 1);
    let insert = |pool: &mut Vec<Candidate>, d: f32, node: u32| -> Option<usize> {
        if pool.len() >= l && d >= pool[pool.len() - 1].dist {
            return None;
        }
        let at = pool.partition_point(|c| c.dist <= d);
        pool.insert(
            at,
            Candidate {
                dist: d,
                node,
                expanded: false,
            },
        );
        pool.truncate(l);
        Some(at)
    };
    for &e in entries {
        if vis.insert(e) {
            stats.nodes_visited += 1;
            insert(&mut pool, approx(e), e);
        }
    }
    let mut batch = Vec::with_capacity(p.beam.max(1));
    // Neighbours first seen in a round (reused across rounds).
    let mut newly: Vec<u32> = Vec::new();
    let mut quiet_rounds = 0usize;
    loop {
        batch.clear();
        for c in pool.iter_mut() {
            if !c.expanded {
                c.expanded = true;
                batch.push(c.node);
                if batch.len() >= p.beam.max(1) {
                    break;
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        // Nodes whose records came into memory with this round's sectors are
        // expanded too when free_expand is on (checked after the fetch).
        stats.rounds += 1;
        let mut best_changed = false;
        let k = p.k.max(1);
        let mut round = |pool: &mut Vec<Candidate>,
                         vis: &mut Visited,
                         nodes: &[u32],
                         scratch: &mut G::Scratch,
                         stats: &mut SearchStats|
         -> Result<()> {
            newly.clear();
            g.fetch(nodes, scratch, stats, &mut |_, nbrs| {
                for &nb in nbrs {
                    if vis.insert(nb) {
                        newly.push(nb);
                    }
                }
            })?;
            stats.nodes_expanded += nodes.len() as u64;
            stats.nodes_visited += newly.len() as u64;
            for &nb in newly.iter() {
                if let Some(at) = insert(pool, approx(nb), nb) {
                    if at < k {
                        best_changed = true;
                    }
                }
            }
            Ok(())
        };
        round(&mut pool, vis, &batch, scratch, stats)?;
        if p.free_expand {
            let free: Vec<u32> = pool
                .iter_mut()
                .filter(|c| !c.expanded && g.resident(c.node, scratch))
                .map(|c| {
                    c.expanded = true;
                    c.node
                })
                .collect();
            if !free.is_empty() {
                round(&mut pool, vis, &free, scratch, stats)?;
            }
        }
        if p.patience > 0 {
            if best_changed {
                quiet_rounds = 0;
            } else {
                quiet_rounds += 1;
                if quiet_rounds >= p.patience && pool.len() >= k {
                    break;
                }
            }
        }
    }
    Ok(pool)
}
