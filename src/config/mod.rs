//! Configuration: `ha.cf`, `authkeys`, `haresources` (spec §3.1, §6.1, §9).

pub mod check;
pub mod model;

pub use model::*;
