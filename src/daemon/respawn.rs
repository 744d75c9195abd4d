//! `respawn USER PATH [ARGS]` clients, supervised as Heartbeat 3.0.6 does (spec §11, §12.6):
//! started once communication is up, as USER, in their own process group with stdio on
//! /dev/null; restarted when they exit with any code but 100; after more than 10 consecutive
//! runs shorter than 30 s, given up with `respawning too fast`; stopped with SIGTERM in reverse
//! order at shutdown. Unlike 3.0.6, a client that keeps dying is restarted with a growing delay
//! (1 s, 2 s, 4 s … 30 s) instead of at once, and dies with the daemon (`PR_SET_PDEATHSIG`).
//!
//! The restart decision is [`after_exit`], a pure function; [`Supervisor`] only runs processes.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::config::{Millis, Respawn};

/// An exit with this code means "do not restart me" (3.0.6's convention).
pub const NO_RESTART_CODE: i32 = 100;
/// A run shorter than this counts towards "respawning too fast".
pub const SHORT_RUN_MS: Millis = 30_000;
/// Consecutive short runs tolerated; one more and the client is given up.
pub const MAX_SHORT_RUNS: u32 = 10;
/// Longest delay between two restarts of a client that keeps dying.
pub const MAX_BACKOFF_MS: Millis = 30_000;
/// How long a client has to exit after SIGTERM at shutdown before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What to do after a client exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start it again after this many milliseconds.
    Restart { after: Millis },
    /// It asked not to be restarted (exit code 100).
    Finished,
    /// It died young too often.
    TooFast,
}

/// Decides the fate of a client that ran `ran_for` ms and exited with `code` (`None`: killed by
/// a signal), given the count of consecutive short runs before this one. Returns the verdict
/// and the new count.
pub fn after_exit(code: Option<i32>, ran_for: Millis, short_runs: u32) -> (Verdict, u32) {
    if code == Some(NO_RESTART_CODE) {
        return (Verdict::Finished, short_runs);
    }
    if ran_for >= SHORT_RUN_MS {
        return (Verdict::Restart { after: 0 }, 0);
    }
    let short = short_runs + 1;
    if short > MAX_SHORT_RUNS {
        return (Verdict::TooFast, short);
    }
    let after = (1_000u64 << (short - 1).min(15)).min(MAX_BACKOFF_MS);
    (Verdict::Restart { after }, short)
}

/// The state of one client, for `cl_status` and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub command: String,
    pub user: String,
    /// `running`, `waiting`, `finished`, `gave_up`, `failed` or `stopped`.
    pub state: &'static str,
    pub pid: Option<u32>,
    pub restarts: u64,
}

struct Client {
    spec: Respawn,
    child: Option<Child>,
    started_at: Millis,
    short_runs: u32,
    next_start: Option<Millis>,
    state: &'static str,
    restarts: u64,
}

/// Every respawn client of the configuration.
pub struct Supervisor {
    clients: Vec<Client>,
    env: Vec<(String, String)>,
    started: bool,
}

impl Supervisor {
    /// Clients of `specs`, none started yet; `env` is added to each one's environment.
    pub fn new(specs: &[Respawn], env: Vec<(String, String)>) -> Supervisor {
        Supervisor {
            clients: specs
                .iter()
                .map(|s| Client {
                    spec: s.clone(),
                    child: None,
                    started_at: 0,
                    short_runs: 0,
                    next_start: None,
                    state: "waiting",
                    restarts: 0,
                })
                .collect(),
            env,
            started: false,
        }
    }

    /// Communication is up: start every client (once; later calls do nothing).
    pub fn start_all(&mut self, now: Millis) {
        if self.started {
            return;
        }
        self.started = true;
        for c in &mut self.clients {
            c.next_start = Some(now);
        }
        self.start_due(now);
    }

    /// Starts the clients whose (re)start time has come.
    pub fn start_due(&mut self, now: Millis) {
        for c in &mut self.clients {
            if c.next_start.is_some_and(|t| t <= now) {
                c.next_start = None;
                start(c, &self.env, now);
            }
        }
    }

    /// The earliest pending restart.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.clients.iter().filter_map(|c| c.next_start).min()
    }

    /// Collects exited clients (after SIGCHLD) and schedules their restarts.
    pub fn reap(&mut self, now: Millis) {
        for c in &mut self.clients {
            let Some(child) = c.child.as_mut() else {
                continue;
            };
            let status = match child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    log::error!("respawn: cannot wait for \"{}\": {e}", c.spec.command);
                    continue;
                }
            };
            c.child = None;
            let ran_for = now.saturating_sub(c.started_at);
            let (verdict, short) = after_exit(status.code(), ran_for, c.short_runs);
            c.short_runs = short;
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(sig)) => format!("signal {sig}"),
                _ => "unknown status".to_string(),
            };
            match verdict {
                Verdict::Finished => {
                    log::info!(
                        "Client \"{}\" exited with code {NO_RESTART_CODE}: not respawned.",
                        c.spec.command
                    );
                    c.state = "finished";
                }
                Verdict::TooFast => {
                    log::error!(
                        "Client \"{}\" respawning too fast ({} runs shorter than {} s); not restarted. Fix it and reload or restart heartbeat.",
                        c.spec.command,
                        short,
                        SHORT_RUN_MS / 1000
                    );
                    c.state = "gave_up";
                }
                Verdict::Restart { after } => {
                    log::warn!(
                        "Respawning client \"{}\": it ended ({how}) after {ran_for} ms; restart in {after} ms.",
                        c.spec.command
                    );
                    c.state = "waiting";
                    c.next_start = Some(now + after);
                    c.restarts += 1;
                }
            }
        }
    }

    /// Shutdown: SIGTERM to each client's process group in reverse order, waiting for each
    /// (SIGKILL after [`STOP_GRACE`]). Blocks; runs once the resources are released.
    pub fn stop_all(&mut self) {
        for c in self.clients.iter_mut().rev() {
            c.next_start = None;
            let Some(mut child) = c.child.take() else {
                continue;
            };
            let pgid = Pid::from_raw(child.id() as i32);
            log::info!(
                "Stopping respawn client \"{}\" (pid {}).",
                c.spec.command,
                child.id()
            );
            let _ = killpg(pgid, Signal::SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        log::warn!(
                            "Respawn client \"{}\" ignored SIGTERM; killing it.",
                            c.spec.command
                        );
                        let _ = killpg(pgid, Signal::SIGKILL);
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            c.state = "stopped";
        }
    }

    pub fn views(&self) -> Vec<ClientView> {
        self.clients
            .iter()
            .map(|c| ClientView {
                command: c.spec.command.clone(),
                user: c.spec.user.clone(),
                state: c.state,
                pid: c.child.as_ref().map(|ch| ch.id()),
                restarts: c.restarts,
            })
            .collect()
    }
}

/// Starts one client as its user; a failure is logged and retried like an early exit.
fn start(c: &mut Client, env: &[(String, String)], now: Millis) {
    let mut words = c.spec.command.split_whitespace();
    let Some(program) = words.next() else {
        c.state = "failed";
        return;
    };
    let user = match nix::unistd::User::from_name(&c.spec.user) {
        Ok(Some(u)) => u,
        Ok(None) => {
            log::error!(
                "respawn: user '{}' does not exist; \"{}\" not started. Create the user or fix the respawn line in ha.cf.",
                c.spec.user,
                c.spec.command
            );
            c.state = "failed";
            return;
        }
        Err(e) => {
            log::error!("respawn: cannot look up user '{}': {e}", c.spec.user);
            c.state = "failed";
            return;
        }
    };
    let mut cmd = Command::new(program);
    cmd.args(words)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .process_group(0);
    let (uid, gid) = (user.uid, user.gid);
    // The supplementary groups are looked up here: NSS must not run between fork and exec.
    let groups = std::ffi::CString::new(user.name.clone())
        .ok()
        .and_then(|n| nix::unistd::getgrouplist(&n, gid).ok())
        .unwrap_or_else(|| vec![gid]);
    // SAFETY: only async-signal-safe system calls run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGTERM);
            if nix::unistd::getuid().is_root() {
                nix::unistd::setgroups(&groups).map_err(std::io::Error::from)?;
                nix::unistd::setgid(gid).map_err(std::io::Error::from)?;
                nix::unistd::setuid(uid).map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    match cmd.spawn() {
        Ok(child) => {
            log::info!(
                "Starting \"{}\" as uid {} gid {} (pid {})",
                c.spec.command,
                uid,
                gid,
                child.id()
            );
            c.child = Some(child);
            c.started_at = now;
            c.state = "running";
        }
        Err(e) => {
            let (verdict, short) = after_exit(None, 0, c.short_runs);
            c.short_runs = short;
            match verdict {
                Verdict::Restart { after } => {
                    log::error!(
                        "respawn: cannot start \"{}\": {e}; retry in {after} ms.",
                        c.spec.command
                    );
                    c.next_start = Some(now + after);
                    c.state = "waiting";
                }
                _ => {
                    log::error!(
                        "respawn: cannot start \"{}\": {e}; giving up.",
                        c.spec.command
                    );
                    c.state = "gave_up";
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_100_is_never_restarted() {
        assert_eq!(after_exit(Some(100), 5, 0).0, Verdict::Finished);
        assert_eq!(after_exit(Some(100), 60_000, 3).0, Verdict::Finished);
    }

    #[test]
    fn a_long_run_restarts_at_once_and_resets_the_count() {
        assert_eq!(
            after_exit(Some(1), SHORT_RUN_MS, 7),
            (Verdict::Restart { after: 0 }, 0)
        );
        assert_eq!(
            after_exit(None, 40_000, 9),
            (Verdict::Restart { after: 0 }, 0)
        );
    }

    #[test]
    fn short_runs_back_off_then_give_up_after_ten() {
        let mut short = 0;
        let mut delays = Vec::new();
        loop {
            let (v, s) = after_exit(Some(1), 10, short);
            short = s;
            match v {
                Verdict::Restart { after } => delays.push(after),
                Verdict::TooFast => break,
                Verdict::Finished => unreachable!(),
            }
        }
        assert_eq!(
            delays,
            vec![
                1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
        assert_eq!(short, MAX_SHORT_RUNS + 1);
    }
}
