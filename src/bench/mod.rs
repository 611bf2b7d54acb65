//! What is measured: the vector benchmark behind `leann bench` (`harness`)
//! and the generated data it and the tests use (`synth`); the generated
//! monorepo of the scale benchmark (`monorepo`).

pub mod harness;
pub mod monorepo;
pub mod synth;
