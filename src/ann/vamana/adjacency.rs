//! Out-neighbour lists as the segment writer reads them: in memory (one
//! `Vec` per node, what the in-memory build makes) or a flat table of
//! fixed-stride rows in bytes (what the out-of-core build maps back from a
//! scratch file, `engine::partition`).

/// Random access to every node's out-neighbours.
pub trait Adjacency: Sync {
    fn len(&self) -> usize;
    fn neighbours(&self, i: usize) -> &[u32];
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The caller is done with the rows read so far: a mapped table may
    /// give its pages back (later reads map them again). Advice only.
    fn release(&self) {}
}

impl Adjacency for Vec<Vec<u32>> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn neighbours(&self, i: usize) -> &[u32] {
        &self[i]
    }
}

/// Rows of `1 + max_degree` little-endian u32 words: the count, then the
/// neighbours (the words after them are zero).
pub struct FlatAdjacency<B> {
    bytes: B,
    stride_words: usize,
    n: usize,
    release: Option<fn(&B)>,
}

impl<B: std::ops::Deref<Target = [u8]> + Sync> FlatAdjacency<B> {
    /// Bytes of one row of a table of out-degree at most `max_degree`.
    pub fn row_bytes(max_degree: usize) -> usize {
        (1 + max_degree) * 4
    }

    /// One row in `out` (cleared first): `list` as the table stores it.
    pub fn encode_row(max_degree: usize, list: &[u32], out: &mut Vec<u8>) {
        debug_assert!(list.len() <= max_degree);
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for &x in list {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.resize(out.len() + (max_degree - list.len()) * 4, 0);
    }

    /// The table in `bytes` (a whole number of rows, 4-byte aligned at its
    /// start); `release` gives a mapping's pages back. None when the bytes
    /// are not such a table or a count exceeds `max_degree`.
    pub fn new(bytes: B, max_degree: usize, release: Option<fn(&B)>) -> Option<Self> {
        let row = Self::row_bytes(max_degree);
        if bytes.len() % row != 0 || bytes.as_ptr().align_offset(4) != 0 {
            return None;
        }
        let t = FlatAdjacency {
            n: bytes.len() / row,
            bytes,
            stride_words: 1 + max_degree,
            release,
        };
        for i in 0..t.n {
            if t.words(i)[0] as usize > max_degree {
                return None;
            }
        }
        t.release();
        Some(t)
    }

    fn words(&self, i: usize) -> &[u32] {
        // SAFETY: `new` checked that the start is 4-byte aligned (so align_to
        // gives an empty prefix) and the length a whole number of rows;
        // every bit pattern is a valid u32, and the host is little-endian
        // (the crate refuses to build otherwise, engine/data.rs).
        let (pre, all, _) = unsafe { self.bytes.align_to::<u32>() };
        debug_assert!(pre.is_empty());
        &all[i * self.stride_words..(i + 1) * self.stride_words]
    }
}

impl<B: std::ops::Deref<Target = [u8]> + Sync> Adjacency for FlatAdjacency<B> {
    fn len(&self) -> usize {
        self.n
    }
    fn neighbours(&self, i: usize) -> &[u32] {
        let w = self.words(i);
        // `new` checked every count against the stride.
        &w[1..1 + w[0] as usize]
    }
    fn release(&self) {
        if let Some(f) = self.release {
            f(&self.bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_rows_read_back_and_bad_tables_are_refused() {
        let lists: Vec<Vec<u32>> = vec![vec![1, 2], vec![], vec![0, 1, 2]];
        let mut bytes = Vec::new();
        for l in &lists {
            FlatAdjacency::<Vec<u8>>::encode_row(3, l, &mut bytes);
        }
        let t = FlatAdjacency::new(bytes.clone(), 3, None).unwrap();
        assert_eq!(t.len(), 3);
        for (i, l) in lists.iter().enumerate() {
            assert_eq!(t.neighbours(i), &l[..]);
        }
        // A count past the stride, and a torn row.
        let mut bad = bytes.clone();
        bad[0] = 4;
        assert!(FlatAdjacency::new(bad, 3, None).is_none());
        bytes.pop();
        assert!(FlatAdjacency::new(bytes, 3, None).is_none());
    }
}
