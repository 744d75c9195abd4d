//! A null-modem cable between two pseudo-terminals, for serial heartbeats: each end is a pty
//! slave (`/dev/pts/N`) a daemon opens as its `serial` device; a relay thread copies what one
//! side writes to the other. The cable can be pulled and plugged again.
#![allow(dead_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub struct NullModem {
    /// The slave device paths (end A, end B).
    pub ends: [String; 2],
    plugged: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    relay: Option<JoinHandle<()>>,
    /// Kept open so the masters never see a hang-up while no daemon has the line open.
    _slaves: Vec<OwnedFd>,
}

fn open_pair() -> (OwnedFd, OwnedFd, String) {
    let p = nix::pty::openpty(None, None).expect("openpty");
    let name = std::fs::read_link(format!("/proc/self/fd/{}", p.slave.as_raw_fd()))
        .expect("pty name")
        .display()
        .to_string();
    (p.master, p.slave, name)
}

impl NullModem {
    pub fn new() -> NullModem {
        let (ma, sa, na) = open_pair();
        let (mb, sb, nb) = open_pair();
        let plugged = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (plugged.clone(), stop.clone());
        let relay = std::thread::spawn(move || relay(ma, mb, p, s));
        NullModem {
            ends: [na, nb],
            plugged,
            stop,
            relay: Some(relay),
            _slaves: vec![sa, sb],
        }
    }

    /// Pulls (false) or plugs (true) the cable: while pulled, bytes are dropped.
    pub fn plug(&self, on: bool) {
        self.plugged.store(on, Ordering::SeqCst);
    }
}

impl Drop for NullModem {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.relay.take() {
            let _ = h.join();
        }
    }
}

fn relay(a: OwnedFd, b: OwnedFd, plugged: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [
            PollFd::new(std::os::fd::AsFd::as_fd(&a), PollFlags::POLLIN),
            PollFd::new(std::os::fd::AsFd::as_fd(&b), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) <= 0 {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect();
        for (from, to, go) in [(&a, &b, ready[0]), (&b, &a, ready[1])] {
            if !go {
                continue;
            }
            match nix::unistd::read(from, &mut buf) {
                Ok(n) if n > 0 => {
                    if plugged.load(Ordering::SeqCst) {
                        let _ = nix::unistd::write(to, &buf[..n]);
                    }
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
}
