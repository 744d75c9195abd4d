//! Helpers shared by the integration tests.
#![allow(dead_code)]
pub mod daemon;
pub mod director;
pub mod netns;
pub mod pty;
pub mod testbed;
