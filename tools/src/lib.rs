//! What the demo and `make sam-local` share: how they print their steps,
//! the `ltiaas-sim` binary they start, and the table they create and read.

pub mod console;
pub mod ltiaas_sim;
pub mod table;
