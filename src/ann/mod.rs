//! Vector algorithms with no file access: metrics and distance kernels,
//! k-means, product and scalar quantization, the Vamana graph, the seeded
//! RNG, and the vector-set trait they read from.

pub mod distance;
pub mod kmeans;
pub mod pq;
pub mod rng;
pub mod sq8;
pub mod vamana;
pub mod vectors;
