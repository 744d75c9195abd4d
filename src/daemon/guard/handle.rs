//! The daemon's side of the crash guard: starting it, and telling it what we hold.
//!
//! Writes never block the event loop: the pipe's write end is non-blocking and every line is
//! far below `PIPE_BUF`. A guard that is gone (killed by hand) is reported once; the daemon
//! keeps running without it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, pipe2};

use super::guardian::{GuardSettings, guardian_main};
use super::protocol::GuardCommand;

/// Ticks are sent at most this often (the watch period is seconds).
const TICK_EVERY: Duration = Duration::from_millis(100);

/// Why the guard could not be started or reached.
#[derive(Debug)]
pub enum GuardError {
    Pipe(nix::Error),
    Fork(nix::Error),
    /// The guard is gone or its pipe is full.
    Write(std::io::Error),
    /// A line that cannot be encoded (a resource word with blanks).
    BadCommand,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardError::Pipe(e) => write!(f, "cannot create the crash guard pipe: {e}"),
            GuardError::Fork(e) => write!(f, "cannot fork the crash guard: {e}"),
            GuardError::Write(e) => write!(f, "cannot reach the crash guard: {e}"),
            GuardError::BadCommand => {
                write!(f, "resource word not representable for the crash guard")
            }
        }
    }
}

impl std::error::Error for GuardError {}

/// The running guard, as the daemon holds it.
pub struct GuardHandle {
    pipe: Option<File>,
    pid: Pid,
    last_tick: Option<Instant>,
    held: BTreeMap<usize, Vec<String>>,
    /// Highest seq reported with `sent`.
    reported_seq: u64,
}

/// Forks the guard. Call it early, while the daemon is single-threaded and before realtime
/// priority and locked memory (the guard needs neither), after detaching from the terminal.
pub fn spawn(settings: GuardSettings) -> Result<GuardHandle, GuardError> {
    // CLOEXEC on both ends: scripts and re-executions of the daemon must not inherit them.
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(GuardError::Pipe)?;
    let daemon = getpid();
    // SAFETY: the daemon is single-threaded here; the child only runs the guard loop and
    // leaves with _exit.
    match unsafe { fork() }.map_err(GuardError::Fork)? {
        ForkResult::Child => {
            drop(write_end);
            guardian_main(read_end, daemon, settings)
        }
        ForkResult::Parent { child } => {
            drop(read_end);
            Ok(GuardHandle::new(write_end, child))
        }
    }
}

impl GuardHandle {
    fn new(write_end: OwnedFd, pid: Pid) -> Self {
        let _ = fcntl(&write_end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        GuardHandle {
            pipe: Some(File::from(write_end)),
            pid,
            last_tick: None,
            held: BTreeMap::new(),
            reported_seq: 0,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Whether the guard is still reachable.
    pub fn is_connected(&self) -> bool {
        self.pipe.is_some()
    }

    /// Groups the guard believes we hold.
    pub fn held(&self) -> impl Iterator<Item = usize> + '_ {
        self.held.keys().copied()
    }

    fn send(&mut self, cmd: &GuardCommand) -> Result<(), GuardError> {
        let line = cmd.encode().ok_or(GuardError::BadCommand)?;
        self.write_line(&line)
    }

    /// One line (atomic: at most `PIPE_BUF` bytes).
    fn write_line(&mut self, line: &str) -> Result<(), GuardError> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Err(GuardError::Write(std::io::Error::from(
                std::io::ErrorKind::BrokenPipe,
            )));
        };
        match pipe.write_all(line.as_bytes()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(GuardError::Write(e)),
            Err(e) => {
                // Gone for good: stop trying (the caller logs it once).
                self.pipe = None;
                Err(GuardError::Write(e))
            }
        }
    }

    /// We are about to start (or hold) `group` made of these haresources words. Idempotent.
    pub fn hold(&mut self, group: usize, resources: &[String]) -> Result<(), GuardError> {
        if self.held.get(&group).is_some_and(|r| r == resources) {
            return Ok(());
        }
        let lines = GuardCommand::hold_lines(group, resources).ok_or(GuardError::BadCommand)?;
        for line in lines {
            self.write_line(&line)?;
        }
        self.held.insert(group, resources.to_vec());
        Ok(())
    }

    /// `group` is fully stopped. Idempotent.
    pub fn release(&mut self, group: usize) -> Result<(), GuardError> {
        if !self.held.contains_key(&group) {
            return Ok(());
        }
        self.send(&GuardCommand::Release { group })?;
        self.held.remove(&group);
        Ok(())
    }

    /// Arms the freeze watchdog: if no line arrives for `millis` while we hold something, the
    /// guard kills us and cleans up. 0 disarms.
    pub fn watch(&mut self, millis: u64) -> Result<(), GuardError> {
        self.send(&GuardCommand::Watch { millis })
    }

    /// A sign of life; cheap to call on every loop iteration (sent at most every 100 ms).
    pub fn tick(&mut self) -> Result<(), GuardError> {
        if self.last_tick.is_some_and(|t| t.elapsed() < TICK_EVERY) {
            return Ok(());
        }
        self.last_tick = Some(Instant::now());
        self.send(&GuardCommand::Tick)
    }

    /// Who we are on the wire, for the guard's shutdown notice in our name.
    pub fn ident(&mut self, uuid: [u8; 16], generation: u64) -> Result<(), GuardError> {
        self.send(&GuardCommand::Ident { uuid, generation })
    }

    /// The highest seq stamped so far; call before the packet carrying it leaves, so that the
    /// guard never reuses a seq the peer has seen. Written only when it grew.
    pub fn sent(&mut self, seq: u64) -> Result<(), GuardError> {
        if seq <= self.reported_seq {
            return Ok(());
        }
        self.send(&GuardCommand::Sent { seq })?;
        self.reported_seq = seq;
        Ok(())
    }

    /// Clean exit (everything was stopped, or we re-execute ourselves): the guard leaves
    /// without touching anything. Reaps it if it is already gone.
    pub fn bye(mut self) -> Result<(), GuardError> {
        let r = self.send(&GuardCommand::Bye);
        self.pipe = None;
        let _ = waitpid(self.pid, Some(WaitPidFlag::WNOHANG));
        r
    }
}
