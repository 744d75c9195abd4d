//! The sans-IO cluster core (membership, timers, resource ownership).
//!
//! `vocab` holds every input, output, state and reason; the state machine is fed `Now` and
//! `Input`s and yields `Output`s plus its next deadline.

pub mod vocab;

pub use vocab::*;
