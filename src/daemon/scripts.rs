//! Resource script runner: every run is a child in its own process group, its stdout/stderr read
//! through non-blocking pipes registered with mio and logged line by line, a deadline after which
//! the whole group gets SIGTERM then SIGKILL, and reaping on SIGCHLD (`try_wait` per child, so
//! zombies never linger and other children are not stolen).
//!
//! Completion is the exit of the script, not EOF on its pipes: a start script that leaves a
//! daemon holding stdout open must not look hung.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::config::Millis;
use crate::core::{ActionId, Severity};

/// After SIGTERM at the timeout, how long the group has before SIGKILL.
pub const KILL_GRACE_MS: Millis = 5_000;
/// Bytes of stdout kept for status interpretation (the rest is only logged).
const STDOUT_KEEP: usize = 64 * 1024;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    pub program: PathBuf,
    /// Arguments after the program (the action word included).
    pub args: Vec<String>,
    /// Added to the daemon's environment.
    pub env: Vec<(String, String)>,
    pub timeout: Millis,
    /// Written to the program's standard input, then closed (fence agents read their options
    /// there); `None`: /dev/null. Kept small: it must fit the pipe buffer.
    pub stdin: Option<Vec<u8>>,
}

impl ScriptSpec {
    /// `<path> <args...>` as the `Running ...` log line shows it.
    pub fn command_line(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal (not ours).
    Signal(i32),
    /// Killed at the timeout.
    TimedOut,
    /// Could not be started (e.g. not executable).
    SpawnFailed(String),
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub id: ActionId,
    pub exit: Exit,
    /// Captured stdout (first [`STDOUT_KEEP`] bytes).
    pub stdout: String,
    pub command: String,
}

/// A log line for the loop to emit.
pub type Note = (Severity, String);

struct Pipe {
    rx: Receiver,
    partial: Vec<u8>,
    is_stdout: bool,
}

struct Running {
    id: ActionId,
    child: Child,
    pgid: Pid,
    pipes: [Option<Pipe>; 2],
    stdout: Vec<u8>,
    deadline: Millis,
    term_sent: Option<Millis>,
    command: String,
    name: String,
}

/// Every script in flight.
pub struct ScriptRunner {
    slots: Vec<Option<Running>>,
    token_base: usize,
}

impl ScriptRunner {
    pub fn new(token_base: usize) -> Self {
        ScriptRunner {
            slots: Vec::new(),
            token_base,
        }
    }

    /// Number of scripts running.
    pub fn running(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Starts a run. A spawn failure is returned as an immediate `Finished`.
    pub fn spawn(
        &mut self,
        registry: &Registry,
        id: ActionId,
        spec: &ScriptSpec,
        now: Millis,
        notes: &mut Vec<Note>,
    ) -> Option<Finished> {
        let command = spec.command_line();
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(if spec.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir("/");
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Some(Finished {
                    id,
                    exit: Exit::SpawnFailed(e.to_string()),
                    stdout: String::new(),
                    command,
                });
            }
        };
        if let (Some(bytes), Some(mut input)) = (spec.stdin.as_ref(), child.stdin.take()) {
            use std::io::Write;
            // Well below the 64 KiB pipe buffer: never blocks. A program that exits without
            // reading gets EPIPE, which is its business.
            if let Err(e) = input.write_all(bytes) {
                notes.push((Severity::Debug, format!("{command}: stdin: {e}")));
            }
        }
        let pgid = Pid::from_raw(child.id() as i32);
        let slot = self
            .slots
            .iter()
            .position(|s| s.is_none())
            .unwrap_or_else(|| {
                self.slots.push(None);
                self.slots.len() - 1
            });
        let mut pipes: [Option<Pipe>; 2] = [None, None];
        let out = child.stdout.take().map(|o| (Receiver::from(o), true));
        let err = child.stderr.take().map(|e| (Receiver::from(e), false));
        for (k, p) in [out, err].into_iter().enumerate() {
            let Some((mut rx, is_stdout)) = p else {
                continue;
            };
            let token = Token(self.token_base + slot * 2 + k);
            if rx.set_nonblocking(true).is_ok()
                && registry
                    .register(&mut rx, token, Interest::READABLE)
                    .is_ok()
            {
                pipes[k] = Some(Pipe {
                    rx,
                    partial: Vec::new(),
                    is_stdout,
                });
            } else {
                notes.push((Severity::Warn, format!("{command}: output not captured")));
            }
        }
        let name = spec
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.slots[slot] = Some(Running {
            id,
            child,
            pgid,
            pipes,
            stdout: Vec::new(),
            deadline: now.saturating_add(spec.timeout),
            term_sent: None,
            command,
            name,
        });
        None
    }

    /// Whether a token belongs to a script pipe.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.token_base && token.0 < self.token_base + self.slots.len() * 2
    }

    /// Reads what a pipe has (a readable event).
    pub fn on_readable(&mut self, registry: &Registry, token: Token, notes: &mut Vec<Note>) {
        let Some(rel) = token.0.checked_sub(self.token_base) else {
            return;
        };
        let (slot, k) = (rel / 2, rel % 2);
        if let Some(Some(run)) = self.slots.get_mut(slot) {
            run.drain_pipe(k, registry, notes);
        }
    }

    /// Reaps finished children (call on SIGCHLD and now and then).
    pub fn reap(&mut self, registry: &Registry, notes: &mut Vec<Note>) -> Vec<Finished> {
        let mut done = Vec::new();
        for slot in self.slots.iter_mut() {
            let Some(run) = slot.as_mut() else {
                continue;
            };
            let status = match run.child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    notes.push((
                        Severity::Error,
                        format!("{}: wait failed: {e}", run.command),
                    ));
                    continue;
                }
            };
            for k in 0..2 {
                run.drain_pipe(k, registry, notes);
                run.close_pipe(k, registry, notes);
            }
            let exit = if run.term_sent.is_some() {
                // Stragglers of a killed group go too.
                let _ = killpg(run.pgid, Signal::SIGKILL);
                Exit::TimedOut
            } else if let Some(c) = status.code() {
                Exit::Code(c)
            } else {
                use std::os::unix::process::ExitStatusExt;
                Exit::Signal(status.signal().unwrap_or(0))
            };
            done.push(Finished {
                id: run.id,
                exit,
                stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
                command: std::mem::take(&mut run.command),
            });
            *slot = None;
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        done
    }

    /// Enforces deadlines: SIGTERM to the group at the timeout, SIGKILL after the grace.
    pub fn enforce_timeouts(&mut self, now: Millis, notes: &mut Vec<Note>) {
        for run in self.slots.iter_mut().flatten() {
            match run.term_sent {
                None if now >= run.deadline => {
                    notes.push((
                        Severity::Error,
                        format!(
                            "Resource script timed out: {} (killing process group {})",
                            run.command, run.pgid
                        ),
                    ));
                    let _ = killpg(run.pgid, Signal::SIGTERM);
                    run.term_sent = Some(now);
                }
                Some(t) if now >= t.saturating_add(KILL_GRACE_MS) => {
                    let _ = killpg(run.pgid, Signal::SIGKILL);
                }
                _ => {}
            }
        }
    }

    /// The next time `enforce_timeouts` has something to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.slots
            .iter()
            .flatten()
            .map(|r| match r.term_sent {
                None => r.deadline,
                Some(t) => t.saturating_add(KILL_GRACE_MS),
            })
            .min()
    }

    /// Kills every group (emergency exit).
    pub fn kill_all(&mut self) {
        for run in self.slots.iter_mut().flatten() {
            let _ = killpg(run.pgid, Signal::SIGKILL);
        }
    }
}

impl Running {
    fn drain_pipe(&mut self, k: usize, registry: &Registry, notes: &mut Vec<Note>) {
        let mut buf = [0u8; 4096];
        let mut eof = false;
        if let Some(p) = self.pipes[k].as_mut() {
            // Bounded per wake-up so a chatty script cannot starve the heartbeats.
            for _ in 0..64 {
                match p.rx.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        if p.is_stdout && self.stdout.len() < STDOUT_KEEP {
                            let room = STDOUT_KEEP - self.stdout.len();
                            self.stdout.extend_from_slice(&buf[..n.min(room)]);
                        }
                        p.partial.extend_from_slice(&buf[..n]);
                        while let Some(pos) = p.partial.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = p.partial.drain(..=pos).collect();
                            log_line(&self.name, self.pgid, &line, notes);
                        }
                        if p.partial.len() > 4096 {
                            let line = std::mem::take(&mut p.partial);
                            log_line(&self.name, self.pgid, &line, notes);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }
        if eof {
            self.close_pipe(k, registry, notes);
        }
    }

    fn close_pipe(&mut self, k: usize, registry: &Registry, notes: &mut Vec<Note>) {
        if let Some(mut p) = self.pipes[k].take() {
            if !p.partial.is_empty() {
                log_line(&self.name, self.pgid, &p.partial, notes);
            }
            let _ = registry.deregister(&mut p.rx);
        }
    }
}

fn log_line(name: &str, pid: Pid, raw: &[u8], notes: &mut Vec<Note>) {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\n', '\r']);
    if !text.is_empty() {
        notes.push((Severity::Info, format!("{name}[{pid}]: {text}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Drives a runner like the loop does until every script is done (bounded).
    fn drive(
        runner: &mut ScriptRunner,
        poll: &mut mio::Poll,
        limit: Duration,
    ) -> (Vec<Finished>, Vec<Note>) {
        let start = Instant::now();
        let mut events = mio::Events::with_capacity(16);
        let mut done = Vec::new();
        let mut notes = Vec::new();
        while runner.running() > 0 && start.elapsed() < limit {
            let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
            for ev in events.iter() {
                runner.on_readable(poll.registry(), ev.token(), &mut notes);
            }
            let now = start.elapsed().as_millis() as Millis;
            runner.enforce_timeouts(now, &mut notes);
            done.extend(runner.reap(poll.registry(), &mut notes));
        }
        (done, notes)
    }

    fn sh(script: &str, timeout: Millis) -> ScriptSpec {
        ScriptSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("HA_TEST".into(), "yes".into())],
            timeout,
            stdin: None,
        }
    }

    #[test]
    fn output_is_captured_and_exit_code_reported() {
        let mut poll = mio::Poll::new().unwrap();
        let mut r = ScriptRunner::new(100);
        let mut notes = Vec::new();
        let spec = sh("echo running $HA_TEST; echo oops >&2; exit 3", 10_000);
        assert!(
            r.spawn(poll.registry(), ActionId(7), &spec, 0, &mut notes)
                .is_none()
        );
        let (done, notes) = drive(&mut r, &mut poll, Duration::from_secs(10));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id, ActionId(7));
        assert_eq!(done[0].exit, Exit::Code(3));
        assert_eq!(done[0].stdout, "running yes\n");
        assert!(
            notes.iter().any(|(_, t)| t.ends_with("]: running yes")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|(_, t)| t.ends_with("]: oops")),
            "{notes:?}"
        );
    }

    #[test]
    fn hanging_script_and_its_group_are_killed_at_the_timeout() {
        let mut poll = mio::Poll::new().unwrap();
        let mut r = ScriptRunner::new(100);
        let mut notes = Vec::new();
        // The grandchild ignores nothing but would outlive a leader-only kill.
        let spec = sh("sleep 30 & echo $! > /dev/null; sleep 30", 300);
        let started = Instant::now();
        assert!(
            r.spawn(poll.registry(), ActionId(1), &spec, 0, &mut notes)
                .is_none()
        );
        let (done, notes) = drive(&mut r, &mut poll, Duration::from_secs(20));
        assert_eq!(done.len(), 1, "{notes:?}");
        assert_eq!(done[0].exit, Exit::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(15));
        assert!(
            notes
                .iter()
                .any(|(s, t)| *s == Severity::Error && t.contains("timed out"))
        );
    }

    #[test]
    fn script_leaving_a_daemon_on_stdout_still_completes() {
        let mut poll = mio::Poll::new().unwrap();
        let mut r = ScriptRunner::new(100);
        let mut notes = Vec::new();
        // The background sleep keeps stdout open after the script exits.
        let spec = sh("(sleep 6; true) & echo started", 10_000);
        let started = Instant::now();
        r.spawn(poll.registry(), ActionId(2), &spec, 0, &mut notes);
        let (done, _) = drive(&mut r, &mut poll, Duration::from_secs(10));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].exit, Exit::Code(0));
        assert!(started.elapsed() < Duration::from_secs(5), "waited for EOF");
    }

    #[test]
    fn missing_program_fails_at_spawn() {
        let poll = mio::Poll::new().unwrap();
        let mut r = ScriptRunner::new(100);
        let mut notes = Vec::new();
        let spec = ScriptSpec {
            program: "/nonexistent/script".into(),
            args: vec!["start".into()],
            env: vec![],
            timeout: 1000,
            stdin: None,
        };
        let f = r
            .spawn(poll.registry(), ActionId(3), &spec, 0, &mut notes)
            .unwrap();
        assert!(matches!(f.exit, Exit::SpawnFailed(_)));
        assert_eq!(r.running(), 0);
    }
}
