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
