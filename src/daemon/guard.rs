//! Crash guard (`crash_guard on`, the default; spec §13.29): a tiny forked process that outlives
//! a crashed daemon just long enough to remove the addresses it held, so the peer's takeover
//! after deadtime does not create duplicate addresses.
//!
//! The daemon keeps the guard informed over a pipe: a snapshot of the `stop` commands of the
//! address resources (`IPaddr*`) of the groups it holds, sent whenever that set changes, and
//! `EXIT` when it stops cleanly. EOF without `EXIT` means the daemon died: the guard runs the
//! stop commands (reverse order, each bounded) and exits. Forked before the pid lock, sockets and
//! realtime are set up, so it holds none of them.
//!
//! Pipe lines (fields tab-separated, `%`, TAB and LF percent-escaped): `BEGIN`, then
//! `ENV k v` and `CMD program arg...` lines, then `END`; or `EXIT`.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::detach::Starter;

/// Each stop command gets this long before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// One command the guard would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardCommand {
    pub program: String,
    pub args: Vec<String>,
}

/// What the guard should undo if the daemon dies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub env: Vec<(String, String)>,
    /// In the order to run them.
    pub commands: Vec<GuardCommand>,
}

pub fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
}

pub fn unescape(s: &str) -> String {
    s.replace("%0A", "\n")
        .replace("%09", "\t")
        .replace("%25", "%")
}

/// The pipe text of a snapshot.
pub fn encode(s: &Snapshot) -> String {
    let mut out = String::from("BEGIN\n");
    for (k, v) in &s.env {
        out.push_str(&format!("ENV\t{}\t{}\n", escape(k), escape(v)));
    }
    for c in &s.commands {
        out.push_str("CMD\t");
        out.push_str(&escape(&c.program));
        for a in &c.args {
            out.push('\t');
            out.push_str(&escape(a));
        }
        out.push('\n');
    }
    out.push_str("END\n");
    out
}

/// The guard's reading of the pipe: the last complete snapshot, and whether `EXIT` came.
#[derive(Debug, Default)]
pub struct GuardState {
    pub current: Snapshot,
    building: Option<Snapshot>,
    pub clean_exit: bool,
}

impl GuardState {
    pub fn line(&mut self, line: &str) {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["BEGIN"] => self.building = Some(Snapshot::default()),
            ["END"] => {
                if let Some(s) = self.building.take() {
                    self.current = s;
                }
            }
            ["EXIT"] => self.clean_exit = true,
            ["ENV", k, v] => {
                if let Some(s) = self.building.as_mut() {
                    s.env.push((unescape(k), unescape(v)));
                }
            }
            ["CMD", program, args @ ..] => {
                if let Some(s) = self.building.as_mut() {
                    s.commands.push(GuardCommand {
                        program: unescape(program),
                        args: args.iter().map(|a| unescape(a)).collect(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// The daemon's end.
pub struct Guard {
    tx: std::fs::File,
    last: Option<Snapshot>,
}

impl Guard {
    /// Forks the guard. The child never returns.
    pub fn spawn(starter: &mut Starter) -> std::io::Result<Guard> {
        let (rx, tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        // SAFETY: called while the daemon is still single-threaded.
        match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
            nix::unistd::ForkResult::Child => {
                drop(tx);
                starter.forget_in_child();
                guard_main(rx)
            }
            nix::unistd::ForkResult::Parent { .. } => {
                drop(rx);
                let tx = std::fs::File::from(tx);
                set_nonblocking(&tx);
                Ok(Guard { tx, last: None })
            }
        }
    }

    /// Sends the snapshot if it changed.
    pub fn update(&mut self, snapshot: Snapshot) {
        if self.last.as_ref() == Some(&snapshot) {
            return;
        }
        if let Err(e) = self.tx.write_all(encode(&snapshot).as_bytes()) {
            log::warn!("crash guard: cannot update: {e}");
            return;
        }
        if !snapshot.commands.is_empty() || self.last.is_some() {
            log::debug!(
                "crash guard: {} address stop command(s) armed",
                snapshot.commands.len()
            );
        }
        self.last = Some(snapshot);
    }

    /// Clean shutdown: the guard leaves without doing anything.
    pub fn disarm(&mut self) {
        let _ = self.tx.write_all(b"EXIT\n");
    }
}

fn set_nonblocking(f: &std::fs::File) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fd = f.as_raw_fd();
        let flags = nix::libc::fcntl(fd, nix::libc::F_GETFL);
        if flags >= 0 {
            nix::libc::fcntl(fd, nix::libc::F_SETFL, flags | nix::libc::O_NONBLOCK);
        }
    }
}

fn guard_main(rx: OwnedFd) -> ! {
    // Only the pipe decides: group-wide signals (Ctrl-C in a terminal) must not take the guard
    // down before the daemon has said goodbye.
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGUSR1,
        nix::sys::signal::Signal::SIGUSR2,
    ] {
        // SAFETY: setting SIG_IGN has no handler-safety concerns.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) };
    }
    super::logging::refresh_pid();
    let mut state = GuardState::default();
    let reader = BufReader::new(std::fs::File::from(rx));
    for line in reader.lines() {
        match line {
            Ok(l) => state.line(&l),
            Err(_) => break,
        }
        if state.clean_exit {
            break;
        }
    }
    if !state.clean_exit && !state.current.commands.is_empty() {
        log::error!(
            target: super::logging::CRIT_TARGET,
            "Heartbeat daemon died: crash guard removing {} address resource(s).",
            state.current.commands.len()
        );
        for c in &state.current.commands {
            run_bounded(c, &state.current.env);
        }
        log::info!("crash guard: done.");
    }
    // SAFETY: leave without running the daemon's destructors (pid file, sockets are not ours).
    unsafe { nix::libc::_exit(0) }
}

fn run_bounded(c: &GuardCommand, env: &[(String, String)]) {
    let line = format!("{} {}", c.program, c.args.join(" "));
    log::info!("crash guard: Running {line}");
    let mut cmd = Command::new(&c.program);
    cmd.args(&c.args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log::error!("crash guard: cannot run {line}: {e}");
            return;
        }
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                if !st.success() {
                    log::error!("crash guard: {line} failed: {st}");
                }
                return;
            }
            Ok(None) if start.elapsed() < STOP_LIMIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                let pg = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                log::error!("crash guard: {line} timed out");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trip_with_awkward_characters() {
        let s = Snapshot {
            env: vec![("HA_X".into(), "a\tb%c\nd".into())],
            commands: vec![GuardCommand {
                program: "/etc/ha.d/resource.d/IPaddr".into(),
                args: vec!["192.0.2.10/24/eth0".into(), "stop".into()],
            }],
        };
        let mut st = GuardState::default();
        for l in encode(&s).lines() {
            st.line(l);
        }
        assert_eq!(st.current, s);
        assert!(!st.clean_exit);
        st.line("EXIT");
        assert!(st.clean_exit);
    }

    #[test]
    fn incomplete_snapshot_is_ignored() {
        let mut st = GuardState::default();
        st.line("BEGIN");
        st.line("CMD\t/bin/true");
        assert!(st.current.commands.is_empty(), "no END yet");
    }
}
