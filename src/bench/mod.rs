//! What is measured: the vector benchmark behind `leann bench` (`harness`)
//! and the generated data it and the tests use (`synth`).

pub mod harness;
pub mod synth;
