//! What the demo and `make sam-local` share: how they print their steps,
//! the `ltiaas-sim` binary they start, the sample activity they register
//! with it, and the table they create and read.

pub mod console;
pub mod ltiaas_sim;
pub mod sample;
pub mod table;
