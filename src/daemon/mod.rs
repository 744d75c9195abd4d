//! The mio shell around the core.

use crate::cli::Options;

/// Runs the daemon (or `-k`/`-s`/`-r`); returns the exit code.
pub fn run(_opts: &Options) -> i32 {
    eprintln!("heartbeat: daemon not implemented yet");
    1
}
