//! The mio shell around the core.

use crate::cli::Options;

pub mod admin;
pub mod client;
pub mod clstatus;
pub mod control;
pub mod logging;
pub mod media;
pub mod notify;
pub mod pidfile;
pub mod realtime;
pub mod scripts;
pub mod state;
pub mod tools;

/// Runs the daemon (or `-k`/`-s`/`-r`); returns the exit code.
pub fn run(_opts: &Options) -> i32 {
    eprintln!("heartbeat: daemon not implemented yet");
    1
}
