//! `heartbeat --check`: validate the three files and print a summary.

use crate::cli::Options;

/// Runs the check; returns the exit code (0 valid, 1 errors).
pub fn run(_opts: &Options) -> i32 {
    eprintln!("heartbeat --check: not implemented yet");
    1
}
