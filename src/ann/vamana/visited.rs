//! A visited set over dense node ids that clears in O(1) (epoch stamps).

pub struct Visited {
    stamp: Vec<u32>,
    epoch: u32,
}

impl Visited {
    pub fn new(n: usize) -> Self {
        Visited {
            stamp: vec![0; n],
            epoch: 1,
        }
    }
    /// Forget every node (and grow to `n` nodes if needed).
    pub fn clear(&mut self, n: usize) {
        if self.stamp.is_empty() {
            // Zeroed by the allocator (fresh pages from the kernel for a
            // large set): only the pages a search touches are mapped, where
            // `resize` would write every stamp of millions of nodes.
            self.stamp = vec![0; n];
        } else if self.stamp.len() < n {
            self.stamp.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.fill(0);
            self.epoch = 1;
        }
    }
    /// Mark `i`; returns true if it was not marked before.
    #[inline]
    pub fn insert(&mut self, i: u32) -> bool {
        let s = &mut self.stamp[i as usize];
        if *s == self.epoch {
            false
        } else {
            *s = self.epoch;
            true
        }
    }
    #[inline]
    pub fn contains(&self, i: u32) -> bool {
        self.stamp[i as usize] == self.epoch
    }
}
