//! Cheap, bounded observers for timing measurements: a thread that enters a namespace once and
//! polls addresses with `getifaddrs`, an HTTP client that starts a fresh request every 10 ms, and a
//! log tail that stamps the moment a line appears. Spawning `ip` or `curl` every 10 ms would cost
//! more than what is measured.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Moves the calling thread into the named network namespace (only this thread).
pub fn enter_netns(name: &str) -> std::io::Result<()> {
    let f = File::open(format!("/run/netns/{name}"))?;
    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(std::io::Error::other)
}

/// Runs `f` on a new thread inside the namespace and returns its result.
pub fn in_netns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let name = name.to_string();
    std::thread::spawn(move || -> std::io::Result<T> {
        enter_netns(&name)?;
        Ok(f())
    })
    .join()
    .map_err(|_| std::io::Error::other("probe thread panicked"))?
}

/// True when `addr` is configured on any interface of the current namespace.
pub fn has_addr_here(addr: Ipv4Addr) -> bool {
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    for ifa in list {
        if let Some(a) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in())
            && a.ip() == addr
        {
            return true;
        }
    }
    false
}

/// One HTTP/1.0 GET of `/` from the current namespace: the status code and body.
pub fn http_get_here(addr: Ipv4Addr, timeout: Duration) -> Option<(u16, String)> {
    let sa = SocketAddr::new(IpAddr::V4(addr), 80);
    let mut s = TcpStream::connect_timeout(&sa, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((code, body))
}

/// Samples the presence of an address in a namespace every `step`, recording each change.
/// A removal is dated at the last sample that still saw the address: only sampled presence is
/// certain, and dating it at the first absent sample would invent an overlap whenever a graceful
/// move (remove here, add there) takes less than one step.
pub struct AddrWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<(Instant, bool)>>>,
}

impl AddrWatch {
    /// Starts sampling; the first record is the state at start.
    pub fn start(netns: &str, addr: Ipv4Addr, step: Duration, limit: Duration) -> AddrWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = netns.to_string();
        let handle = std::thread::spawn(move || {
            let mut changes = Vec::new();
            if enter_netns(&name).is_err() {
                return changes;
            }
            let start = Instant::now();
            let mut last = None;
            let mut last_seen = start;
            while !flag.load(Ordering::Relaxed) && start.elapsed() < limit {
                let now_has = has_addr_here(addr);
                let at = Instant::now();
                if last != Some(now_has) {
                    let dated = if now_has || last.is_none() {
                        at
                    } else {
                        last_seen
                    };
                    changes.push((dated, now_has));
                    last = Some(now_has);
                }
                if now_has {
                    last_seen = at;
                }
                std::thread::sleep(step);
            }
            changes
        });
        AddrWatch {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling and returns the changes (time, present).
    pub fn finish(mut self) -> Vec<(Instant, bool)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for AddrWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Polls the address in a namespace every `step` until it is present (or `limit` passes);
/// returns the moment it was first seen.
pub fn wait_addr(netns: &str, addr: Ipv4Addr, step: Duration, limit: Duration) -> Option<Instant> {
    let start = Instant::now();
    in_netns(netns, move || {
        while start.elapsed() < limit {
            if has_addr_here(addr) {
                return Some(Instant::now());
            }
            std::thread::sleep(step);
        }
        None
    })
    .ok()
    .flatten()
}

/// Starts an HTTP GET every `step` from the client namespace (each on its own thread, each bounded
/// by `per_try`) until one returns 200 with a body containing `want`, or `limit` passes; returns
/// when that answer arrived. Requests that hang on a frozen server do not delay the next ones.
pub fn wait_http(
    client_netns: &str,
    addr: Ipv4Addr,
    want: &str,
    step: Duration,
    per_try: Duration,
    limit: Duration,
) -> Option<Instant> {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel::<Instant>();
    let done = Arc::new(AtomicBool::new(false));
    let mut handles: Vec<JoinHandle<()>> = Vec::new();
    while start.elapsed() < limit {
        if let Ok(t) = rx.try_recv() {
            done.store(true, Ordering::Relaxed);
            for h in handles {
                let _ = h.join();
            }
            return Some(t);
        }
        let tx = tx.clone();
        let name = client_netns.to_string();
        let want = want.to_string();
        let done = done.clone();
        handles.push(std::thread::spawn(move || {
            if done.load(Ordering::Relaxed) || enter_netns(&name).is_err() {
                return;
            }
            if let Some((200, body)) = http_get_here(addr, per_try)
                && body.contains(&want)
            {
                let _ = tx.send(Instant::now());
            }
        }));
        // Keep finished threads from piling up.
        handles.retain(|h| !h.is_finished());
        std::thread::sleep(step);
    }
    done.store(true, Ordering::Relaxed);
    let late = rx.recv_timeout(per_try).ok();
    for h in handles {
        let _ = h.join();
    }
    late
}

/// Follows a log file from a byte offset, stamping the moment a line containing a needle appears.
pub struct LogTail {
    path: PathBuf,
    offset: u64,
}

impl LogTail {
    /// Starts at the current end of the file (or 0 if it does not exist yet).
    pub fn from_end(path: &Path) -> LogTail {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        LogTail {
            path: path.to_path_buf(),
            offset,
        }
    }

    /// The text appended since the start offset.
    pub fn new_text(&self) -> String {
        let Ok(mut f) = File::open(&self.path) else {
            return String::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return String::new();
        }
        let mut s = String::new();
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_ok() {
            s = String::from_utf8_lossy(&buf).into_owned();
        }
        s
    }

    /// Polls every `step` until some needle appears in the new text; returns when it was seen
    /// and which needle.
    pub fn wait_any(
        &self,
        needles: &[&str],
        step: Duration,
        limit: Duration,
    ) -> Option<(Instant, String)> {
        let start = Instant::now();
        loop {
            let text = self.new_text();
            for n in needles {
                if text.contains(n) {
                    return Some((Instant::now(), n.to_string()));
                }
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(step);
        }
    }
}

/// A log watcher on its own thread, so that several events can be stamped concurrently.
pub fn watch_log(
    path: &Path,
    needles: Vec<String>,
    step: Duration,
    limit: Duration,
) -> JoinHandle<Option<(Instant, String)>> {
    let tail = LogTail::from_end(path);
    std::thread::spawn(move || {
        let refs: Vec<&str> = needles.iter().map(|s| s.as_str()).collect();
        tail.wait_any(&refs, step, limit)
    })
}

/// The intervals in which both change records say "present" (records as from [`AddrWatch`]).
pub fn overlaps(
    a: &[(Instant, bool)],
    b: &[(Instant, bool)],
    end: Instant,
) -> Vec<(Instant, Instant)> {
    let mut events: Vec<(Instant, usize, bool)> = a
        .iter()
        .map(|&(t, v)| (t, 0, v))
        .chain(b.iter().map(|&(t, v)| (t, 1, v)))
        .collect();
    events.sort_by_key(|e| e.0);
    let mut state = [false, false];
    let mut open: Option<Instant> = None;
    let mut out = Vec::new();
    for (t, who, v) in events {
        state[who] = v;
        match (state[0] && state[1], open) {
            (true, None) => open = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(s) = open {
        out.push((s, end));
    }
    out
}

/// Asks every address in `targets` by ARP from the current namespace's `iface` (its MAC
/// `src_mac`; sender addresses: for each target, the one of `senders` in its /24) every `step` until each has
/// answered from `want_mac`; returns when the last one did. For the VIP-scale benchmark: the
/// moment every VIP is reachable at the new holder's MAC, as a client on the segment sees it.
pub fn wait_arp_all_here(
    iface: &str,
    src_mac: [u8; 6],
    senders: &[Ipv4Addr],
    targets: &[Ipv4Addr],
    want_mac: [u8; 6],
    step: Duration,
    limit: Duration,
) -> Option<Instant> {
    use nix::libc;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let ifindex = nix::net::if_::if_nametoindex(iface).ok()?;
    // SAFETY: plain socket(2), owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(0x0806u16.to_be()),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_ll is valid; bind to the interface for ARP.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = 0x0806u16.to_be();
    sa.sll_ifindex = ifindex as i32;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    // SAFETY: sa is valid for len bytes.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            len,
        )
    } < 0
    {
        return None;
    }
    let mut answered = vec![false; targets.len()];
    let mut last = None;
    let start = Instant::now();
    let mut next_send = start;
    let mut buf = [0u8; 128];
    while start.elapsed() < limit {
        if Instant::now() >= next_send {
            for (t, _) in targets.iter().zip(&answered).filter(|(_, a)| !**a) {
                let sender = senders
                    .iter()
                    .find(|s| s.octets()[..3] == t.octets()[..3])
                    .or(senders.first())
                    .copied()
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                let mut p = [0u8; 28];
                p[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
                p[8..14].copy_from_slice(&src_mac);
                p[14..18].copy_from_slice(&sender.octets());
                p[24..28].copy_from_slice(&t.octets());
                let mut to = sa;
                to.sll_halen = 6;
                to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
                // SAFETY: buffers valid for their lengths.
                unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        p.as_ptr().cast(),
                        p.len(),
                        0,
                        (&to as *const libc::sockaddr_ll).cast(),
                        len,
                    )
                };
            }
            next_send = Instant::now() + step;
        }
        // Read replies until the next round.
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 28 {
                break;
            }
            if buf[6..8] != [0, 2] || buf[8..14] != want_mac {
                continue;
            }
            let spa = Ipv4Addr::new(buf[14], buf[15], buf[16], buf[17]);
            if let Some(i) = targets.iter().position(|t| *t == spa)
                && !answered[i]
            {
                answered[i] = true;
                last = Some(Instant::now());
            }
        }
        if answered.iter().all(|a| *a) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}
