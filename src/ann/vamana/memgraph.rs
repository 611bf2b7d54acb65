//! Any in-memory [`super::Adjacency`] as a GraphReader: the delta's graph
//! (a `Vec` per node), and the out-of-core build's table in its tests.

use super::search::{GraphReader, SearchStats};
use crate::error::Result;

pub struct MemGraph<'a, A: super::Adjacency + ?Sized>(pub &'a A);

impl<A: super::Adjacency + ?Sized> GraphReader for MemGraph<'_, A> {
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
