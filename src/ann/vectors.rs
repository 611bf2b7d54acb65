//! Random access to a set of equal-length vectors (what the algorithms
//! read), and the simplest one: a Vec.

/// Random access to a set of equal-length vectors.
pub trait VectorSource: Sync {
    fn len(&self) -> usize;
    fn dim(&self) -> usize;
    fn vector(&self, i: usize) -> &[f32];
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A pass is done with `rows` for now: a mapped source may give their
    /// pages back (a later `vector` reads them again). Advice only.
    fn release(&self, _rows: std::ops::Range<usize>) {}
}

/// Rows per block of a pass over all vectors ([`in_blocks`]).
pub const PASS_BLOCK_ROWS: usize = 16_384;

/// Call `f` with consecutive row ranges covering every row of `src` in
/// order (each at most [`PASS_BLOCK_ROWS`]), and release each range after
/// `f` returns: a pass over mapped vectors then holds one block's pages,
/// not the file's (a 2.4 M-vector build's 2.4 GB spool).
pub fn in_blocks(src: &dyn VectorSource, mut f: impl FnMut(std::ops::Range<usize>)) {
    let n = src.len();
    let mut s = 0;
    while s < n {
        let e = (s + PASS_BLOCK_ROWS).min(n);
        f(s..e);
        src.release(s..e);
        s = e;
    }
}

/// Rows `idx` of `src` copied out in that order (row `idx[k]` at `k`),
/// read in ascending row order, each [`PASS_BLOCK_ROWS`] span's pages
/// released after it: a random sample of a mapped source would otherwise
/// map far more than the rows it reads (the kernel maps up to 16 cached
/// pages around each fault), up to the whole file.
pub fn gather(src: &dyn VectorSource, idx: &[usize]) -> Vec<f32> {
    let dim = src.dim();
    let mut out = vec![0f32; idx.len() * dim];
    let mut by_row: Vec<(usize, usize)> = idx.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    by_row.sort_unstable();
    let mut span_start = 0;
    for &(i, k) in &by_row {
        if i >= span_start + PASS_BLOCK_ROWS {
            src.release(span_start..i);
            span_start = i;
        }
        out[k * dim..(k + 1) * dim].copy_from_slice(src.vector(i));
    }
    src.release(span_start..src.len());
    out
}

/// Vectors held in one Vec, row-major.
pub struct VecVectors {
    pub data: Vec<f32>,
    pub dim: usize,
}

impl VectorSource for VecVectors {
    fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn vector(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}
