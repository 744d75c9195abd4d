//! The pid file in the run dir, held under an exclusive `flock` for the daemon's lifetime: a
//! second daemon on the same run dir sees the lock and refuses; `-s` / `-k` probe the lock, which
//! a dead daemon cannot hold (no stale-pid guessing).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// File name of the pid file inside the run dir.
pub const PID_FILE: &str = "heartbeat.pid";

/// Why the pid file could not be taken.
#[derive(Debug)]
pub enum PidError {
    /// Another daemon holds the lock (its pid, if readable).
    AlreadyRunning(Option<i32>),
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for PidError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PidError::AlreadyRunning(Some(p)) => write!(f, "already running [pid {p}]."),
            PidError::AlreadyRunning(None) => write!(f, "already running."),
            PidError::Io(p, e) => write!(f, "pid file {}: {e}", p.display()),
        }
    }
}

/// The held lock; the pid file is removed when it is dropped.
pub struct PidLock {
    path: PathBuf,
    _lock: Flock<File>,
}

impl Drop for PidLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What `-s` / `-k` find in the run dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running(i32),
    /// A pid file nobody holds (the daemon died).
    Stale(Option<i32>),
    Stopped,
}

pub fn pid_path(run_dir: &Path) -> PathBuf {
    run_dir.join(PID_FILE)
}

/// Takes the lock and writes our pid.
pub fn acquire(run_dir: &Path) -> Result<PidLock, PidError> {
    let path = pid_path(run_dir);
    let io = |e| PidError::Io(path.clone(), e);
    std::fs::create_dir_all(run_dir).map_err(|e| PidError::Io(run_dir.to_path_buf(), e))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(io)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
            return Err(PidError::AlreadyRunning(read_pid(&mut f)));
        }
        Err((_, e)) => return Err(io(std::io::Error::from(e))),
    };
    lock.set_len(0).map_err(io)?;
    lock.rewind().map_err(io)?;
    lock.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(io)?;
    Ok(PidLock { path, _lock: lock })
}

/// Looks at the pid file without disturbing a running daemon.
pub fn probe(run_dir: &Path) -> RunState {
    let path = pid_path(run_dir);
    let Ok(file) = File::open(&path) else {
        return RunState::Stopped;
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(mut held) => RunState::Stale(read_pid(&mut held)),
        Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => match read_pid(&mut f) {
            Some(p) => RunState::Running(p),
            // Locked but not yet written: treat as running with an unknown pid.
            None => RunState::Running(0),
        },
        Err((mut f, _)) => RunState::Stale(read_pid(&mut f)),
    }
}

fn read_pid(f: &mut File) -> Option<i32> {
    let mut s = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut s).ok()?;
    s.trim().parse().ok().filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused_and_probe_sees_the_holder() {
        let d = std::env::temp_dir().join(format!("hbpid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        assert_eq!(probe(&d), RunState::Stopped);
        let held = acquire(&d).unwrap();
        let me = std::process::id() as i32;
        // flock locks belong to the open file description: a second open conflicts even in-process.
        match acquire(&d) {
            Err(PidError::AlreadyRunning(Some(p))) => assert_eq!(p, me),
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => panic!("second lock granted"),
        }
        assert_eq!(probe(&d), RunState::Running(me));
        drop(held);
        assert_eq!(probe(&d), RunState::Stopped);
        let _ = std::fs::remove_dir_all(&d);
    }
}
