//! The mio shell around the core: start-up (configuration, identity files, pid lock, realtime,
//! detaching), the event loop ([`shell`]), and the classic controls `-k`, `-s`, `-r`.

use options::{Mode, Options};

pub mod control;
pub mod detach;
pub mod fence;
pub mod fifo;
pub mod guard;
pub mod hooks;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod options;
pub mod pidfile;
pub mod ping;
pub mod realtime;
pub mod report;
pub mod respawn;
pub mod rxqueue;
pub mod scripts;
pub mod serial;
pub mod shell;
pub mod state;
pub mod vip;

mod ctl;
mod start;

/// Runs the daemon (or `-k`/`-s`/`-r`); returns the exit code.
pub fn run(opts: &Options) -> i32 {
    match opts.mode {
        Mode::Kill => ctl::kill(opts),
        Mode::Status => ctl::status(opts),
        Mode::Reload => ctl::reload(opts),
        _ => start::run(opts),
    }
}
