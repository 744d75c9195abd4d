//! The sans-IO cluster core (membership, timers, resource ownership).
//!
//! `vocab` holds every input, output, state and reason; `machine::Core` is fed `Now` and
//! `Input`s and yields `Output`s plus its next deadline.

pub mod machine;
pub mod vocab;

pub use machine::{Core, Identity};
pub use vocab::*;
