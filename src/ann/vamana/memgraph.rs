//! An in-memory adjacency list as a GraphReader (tests, diagnostics, and the
//! delta index of later issues).

use super::search::{GraphReader, SearchStats};
use crate::error::Result;

pub struct MemGraph<'a>(pub &'a [Vec<u32>]);

impl GraphReader for MemGraph<'_> {
    type Scratch = ();
    fn len(&self) -> usize {
        self.0.len()
    }
    fn fetch(
        &self,
        batch: &[u32],
        _: &mut (),
        _: &mut SearchStats,
        visit: &mut dyn FnMut(u32, &[u32]),
    ) -> Result<()> {
        for &n in batch {
            visit(n, &self.0[n as usize]);
        }
        Ok(())
    }
    fn resident(&self, _: u32, _: &()) -> bool {
        false
    }
}

/// Any [`super::Adjacency`] as a GraphReader (tests and benchmarks of the
/// out-of-core build).
pub struct AdjGraph<'a>(pub &'a dyn super::Adjacency);

impl GraphReader for AdjGraph<'_> {
    type Scratch = ();
    fn len(&self) -> usize {
        self.0.len()
    }
    fn fetch(
        &self,
        batch: &[u32],
        _: &mut (),
        _: &mut SearchStats,
        visit: &mut dyn FnMut(u32, &[u32]),
    ) -> Result<()> {
        for &n in batch {
            visit(n, self.0.neighbours(n as usize));
        }
        Ok(())
    }
    fn resident(&self, _: u32, _: &()) -> bool {
        false
    }
}
