//! `--daemon`: detach from the terminal for the init script (double fork, `setsid`, stdio to
//! `/dev/null`), keeping a pipe to the original process so that it exits only once the daemon
//! has started, with the daemon's verdict (exit 0, or the start-up error and exit 1).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::unistd::{ForkResult, fork, pipe, setsid};

/// How long the launching process waits for the verdict.
const START_WAIT: Duration = Duration::from_secs(60);

/// The daemon's end of the start-up report; a no-op in the foreground.
pub struct Starter {
    pipe: Option<std::fs::File>,
}

impl Starter {
    pub fn foreground() -> Starter {
        Starter { pipe: None }
    }

    /// In a forked helper: close our copy of the pipe so the launcher still sees EOF if the
    /// daemon dies during start-up.
    pub fn forget_in_child(&mut self) {
        self.pipe = None;
    }

    pub fn is_detached(&self) -> bool {
        self.pipe.is_some()
    }

    /// Start-up finished: the launcher exits 0.
    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"OK\n");
        }
    }

    /// Start-up failed: the launcher prints `message` and exits with `code`; in the foreground
    /// the message goes to stderr here.
    pub fn fail(&mut self, code: i32, message: &str) {
        match self.pipe.take() {
            Some(mut p) => {
                let _ = p.write_all(format!("ERR {code} {message}\n").as_bytes());
            }
            None => eprintln!("heartbeat: {message}"),
        }
    }
}

/// Forks into the background. Returns in the daemon (grandchild) only; the launcher exits with
/// the daemon's verdict. Must be called while the process is single-threaded.
pub fn detach() -> std::io::Result<Starter> {
    let (rx, tx) = pipe().map_err(std::io::Error::from)?;
    // SAFETY: the process is single-threaded here (no runtime, no threads started yet).
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Parent { .. } => {
            drop(tx);
            std::process::exit(wait_for_verdict(rx));
        }
        ForkResult::Child => {}
    }
    drop(rx);
    setsid().map_err(std::io::Error::from)?;
    // SAFETY: still single-threaded.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        // SAFETY: _exit skips atexit handlers and buffered output meant for the daemon.
        ForkResult::Parent { .. } => unsafe { nix::libc::_exit(0) },
        ForkResult::Child => {}
    }
    let _ = std::env::set_current_dir("/");
    redirect_stdio()?;
    Ok(Starter {
        pipe: Some(std::fs::File::from(tx)),
    })
}

fn redirect_stdio() -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of our own process.
        if unsafe { nix::libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn wait_for_verdict(rx: OwnedFd) -> i32 {
    let mut f = std::fs::File::from(rx);
    let mut buf = Vec::new();
    let start = std::time::Instant::now();
    let mut chunk = [0u8; 512];
    // Reads until the daemon writes its line or closes the pipe (it died).
    while let Some(left) = START_WAIT.checked_sub(start.elapsed()) {
        let mut pfd = nix::libc::pollfd {
            fd: f.as_raw_fd(),
            events: nix::libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { nix::libc::poll(&mut pfd, 1, left.as_millis().min(60_000) as i32) };
        if n == 0 {
            break;
        }
        if n < 0 {
            continue;
        }
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("");
    if line == "OK" {
        return 0;
    }
    if let Some(rest) = line.strip_prefix("ERR ") {
        let (code, msg) = rest.split_once(' ').unwrap_or(("1", rest));
        eprintln!("heartbeat: {msg}");
        return code.parse().unwrap_or(1);
    }
    eprintln!("heartbeat: the daemon exited during start-up (see the log)");
    1
}
