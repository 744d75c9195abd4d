//! Running a short-lived command with a hard time limit (the crash guard's `ip` calls and stop
//! scripts): its own process group, no input, output discarded, killed with its children at the
//! deadline.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How a bounded run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Exited with this code (`None`: killed by a signal).
    Exited(Option<i32>),
    /// Killed at the deadline.
    TimedOut,
    /// Could not be started.
    NotStarted(String),
}

impl RunOutcome {
    pub fn ok(&self) -> bool {
        matches!(self, RunOutcome::Exited(Some(0)))
    }

    pub fn describe(&self) -> String {
        match self {
            RunOutcome::Exited(Some(c)) => format!("exit {c}"),
            RunOutcome::Exited(None) => "killed by a signal".to_string(),
            RunOutcome::TimedOut => "timed out".to_string(),
            RunOutcome::NotStarted(e) => format!("not started: {e}"),
        }
    }
}

/// Runs `program args` with extra `env`, waiting at most `limit`; `capture` keeps stdout.
pub fn run_bounded(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    limit: Duration,
    capture: bool,
) -> (RunOutcome, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(if capture {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (RunOutcome::NotStarted(e.to_string()), String::new()),
    };
    // Output of `ip addr show` fits the pipe buffer many times over; read after exit.
    let deadline = Instant::now() + limit;
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break None,
        }
    };
    let pgid = Pid::from_raw(child.id() as i32);
    let outcome = match status {
        Some(s) => RunOutcome::Exited(s.code()),
        None => {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
            RunOutcome::TimedOut
        }
    };
    // Children left behind by a script that exited (background jobs) are not ours to wait for,
    // but a stop must not leave them running: end the group.
    let _ = killpg(pgid, Signal::SIGKILL);
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        use std::io::Read;
        let mut buf = Vec::new();
        let _ = o.read_to_end(&mut buf);
        out = String::from_utf8_lossy(&buf).into_owned();
    }
    (outcome, out)
}

/// The `ip` binary (the guard may run with a minimal PATH).
pub fn ip_binary() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("ip"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_output_and_timeouts() {
        let sh = Path::new("/bin/sh");
        let (o, out) = run_bounded(
            sh,
            &["-c".into(), "echo hi; exit 3".into()],
            &[],
            Duration::from_secs(5),
            true,
        );
        assert_eq!(o, RunOutcome::Exited(Some(3)));
        assert_eq!(out, "hi\n");
        let t0 = Instant::now();
        let (o, _) = run_bounded(
            sh,
            &["-c".into(), "sleep 30".into()],
            &[],
            Duration::from_millis(100),
            false,
        );
        assert_eq!(o, RunOutcome::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(10));
        let (o, _) = run_bounded(
            Path::new("/nonexistent/x"),
            &[],
            &[],
            Duration::from_secs(1),
            false,
        );
        assert!(matches!(o, RunOutcome::NotStarted(_)));
        let (o, out) = run_bounded(
            sh,
            &["-c".into(), "echo $GUARD_X".into()],
            &[("GUARD_X".into(), "y".into())],
            Duration::from_secs(5),
            true,
        );
        assert!(o.ok());
        assert_eq!(out, "y\n");
    }
}
