//! The classic controls of the `heartbeat` binary: `-k` (stop and wait, bounded), `-s` (status
//! with LSB exit codes), `-r` (validate, then SIGHUP). They find the daemon through the locked
//! pid file of the run dir.

use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::options::Options;
use super::pidfile::{self, RunState};

/// LSB status codes.
const LSB_DEAD_WITH_PIDFILE: i32 = 1;
const LSB_NOT_RUNNING: i32 = 3;
const LSB_RELOAD_NOT_RUNNING: i32 = 7;

/// How long `-k` waits: every resource may take its timeout to stop, plus slack; 10 minutes
/// when the configuration cannot be read.
fn stop_bound(opts: &Options) -> Duration {
    match crate::config::load(&opts.ha_dir, opts.node.as_deref()) {
        Ok(l) => {
            let c = &l.config;
            let resources: u64 = c.groups.iter().map(|g| g.resources.len() as u64).sum();
            let ms =
                c.ha.resource_timeout.saturating_mul(resources.max(1) + 1) + c.ha.deadtime + 30_000;
            Duration::from_millis(ms)
        }
        Err(_) => Duration::from_secs(600),
    }
}

pub fn kill(opts: &Options) -> i32 {
    let pid = match pidfile::probe(&opts.run_dir) {
        RunState::Running(p) if p > 0 => p,
        RunState::Running(_) => {
            eprintln!("heartbeat: pid file locked but unreadable; try again");
            return 1;
        }
        _ => {
            println!("INFO: Heartbeat already stopped.");
            return 0;
        }
    };
    if let Err(e) = signal::kill(Pid::from_raw(pid), Signal::SIGTERM) {
        eprintln!("heartbeat: cannot signal pid {pid}: {e}");
        return 1;
    }
    let bound = stop_bound(opts);
    let start = Instant::now();
    while start.elapsed() < bound {
        if !matches!(pidfile::probe(&opts.run_dir), RunState::Running(_)) {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "heartbeat: pid {pid} did not stop within {} s (resources may still be stopping)",
        bound.as_secs()
    );
    1
}

pub fn status(opts: &Options) -> i32 {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    match pidfile::probe(&opts.run_dir) {
        RunState::Running(pid) => {
            let node = crate::config::local_node(&opts.ha_dir, opts.node.as_deref());
            println!("heartbeat OK [pid {pid} et al] is running on {host} [{node}]...");
            0
        }
        RunState::Stale(_) => {
            println!(
                "heartbeat is stopped. Stale pid file {}",
                pidfile::pid_path(&opts.run_dir).display()
            );
            LSB_DEAD_WITH_PIDFILE
        }
        RunState::Stopped => {
            println!("heartbeat is stopped. No process");
            LSB_NOT_RUNNING
        }
    }
}

pub fn reload(opts: &Options) -> i32 {
    if let Err(errors) = crate::config::load(&opts.ha_dir, opts.node.as_deref()) {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("heartbeat: configuration invalid; not reloading.");
        return 1;
    }
    match pidfile::probe(&opts.run_dir) {
        RunState::Running(pid) if pid > 0 => match signal::kill(Pid::from_raw(pid), Signal::SIGHUP)
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("heartbeat: cannot signal pid {pid}: {e}");
                1
            }
        },
        _ => {
            eprintln!("heartbeat: not running");
            LSB_RELOAD_NOT_RUNNING
        }
    }
}
