//! A small least-recently-used cache.

use std::collections::HashMap;

pub struct Lru {
    cap: usize,
    tick: u64,
    map: HashMap<String, (u64, Vec<u8>)>,
}

impl Lru {
    /// Keep at most `cap` entries.
    pub fn new(cap: usize) -> Lru {
        Lru { cap, tick: 0, map: HashMap::new() }
    }

    /// Look a key up, marking it as recently used.
    pub fn get(&mut self, key: &str) -> Option<&Vec<u8>> {
        self.tick += 1;
        let t = self.tick;
        let e = self.map.get_mut(key)?;
        e.0 = t;
        Some(&e.1)
    }

    /// Insert, dropping the entry used longest ago when full.
    pub fn put(&mut self, key: String, value: Vec<u8>) {
        if self.map.len() >= self.cap && !self.map.contains_key(&key) {
            if let Some(old) = self.map.iter().min_by_key(|e| e.1 .0).map(|e| e.0.clone()) {
                self.map.remove(&old);
            }
        }
        self.tick += 1;
        self.map.insert(key, (self.tick, value));
    }
}
