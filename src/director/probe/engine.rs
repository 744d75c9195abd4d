//! Runs checks: every probe is a non-blocking socket (or a child's pidfd) registered with the
//! director's one `mio::Poll`, with its own deadline. Thousands can be in flight; above the
//! file-descriptor budget they wait in a queue, in order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UdpSocket};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::config::Millis;
use crate::daemon::ping::socket::{IcmpSocket, Received};

use super::super::health::RealId;
use super::super::spec::ProbeSpec;
use super::ping6::Icmp6Socket;
use super::talk::{MAX_ANSWER, Talk, judge_dns};
use super::tls;

/// Tokens below this are the run loop's own.
pub const FIRST_TOKEN: usize = 16;
/// The shared ICMP socket's token.
pub const ICMP_TOKEN: Token = Token(2);
/// The shared ICMPv6 socket's token.
pub const ICMP6_TOKEN: Token = Token(4);

/// A finished check.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub id: RealId,
    pub ok: bool,
    pub detail: String,
}

enum Work {
    Tcp(Box<TcpProbe>),
    Udp {
        socket: UdpSocket,
        id: u16,
        receive: Option<regex::bytes::Regex>,
    },
    Ping {
        seq: u16,
        addr: IpAddr,
    },
    Command {
        child: Child,
        pidfd: OwnedFd,
    },
}

struct TcpProbe {
    stream: TcpStream,
    connected: bool,
    talk: Talk,
    out: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    eof: bool,
    /// Boxed: a connection is a kilobyte, and most checks are not HTTPS.
    tls: Option<Box<rustls::ClientConnection>>,
}

struct Slot {
    id: RealId,
    started: Instant,
    timeout: Millis,
    work: Work,
}

/// The probes in flight.
pub struct Engine {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Generation per slot, so a stale deadline of a reused slot is ignored.
    gens: Vec<u64>,
    waiting: VecDeque<(RealId, ProbeSpec, Millis)>,
    in_flight: usize,
    max_in_flight: usize,
    icmp: Option<IcmpSocket>,
    icmp6: Option<Icmp6Socket>,
    pings: HashMap<u16, usize>,
    next_seq: u16,
    tls: Result<Arc<rustls::ClientConfig>, String>,
    done: Vec<Verdict>,
    /// fallbackcommand children, reaped as they end.
    detached: Vec<Child>,
    /// One read buffer for every probe (not zeroed per read).
    scratch: Vec<u8>,
}

impl Engine {
    pub fn new(max_in_flight: usize) -> Engine {
        Engine {
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: BinaryHeap::new(),
            gens: Vec::new(),
            waiting: VecDeque::new(),
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            icmp: None,
            icmp6: None,
            pings: HashMap::new(),
            next_seq: 1,
            tls: tls::client_config(),
            done: Vec::new(),
            detached: Vec::new(),
            scratch: vec![0; 16384],
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Starts a check at `now` (the caller's clock reading of this wake-up: one per wake-up,
    /// not one per check), or queues it when the budget is spent.
    pub fn start(
        &mut self,
        registry: &Registry,
        id: RealId,
        spec: ProbeSpec,
        timeout: Millis,
        now: Instant,
    ) {
        if self.in_flight >= self.max_in_flight {
            self.waiting.push_back((id, spec, timeout));
            return;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.gens.push(0);
            self.slots.len() - 1
        });
        let token = Token(FIRST_TOKEN + slot);
        match self.open(registry, token, slot, &spec) {
            Ok(work) => {
                self.slots[slot] = Some(Slot {
                    id,
                    started: now,
                    timeout,
                    work,
                });
                self.gens[slot] += 1;
                let deadline = now + Duration::from_millis(timeout);
                self.deadlines
                    .push(Reverse((deadline, slot, self.gens[slot])));
                self.in_flight += 1;
                // No drive here: epoll reports a connect that already failed at registration.
            }
            Err(e) => {
                self.free.push(slot);
                self.done.push(Verdict {
                    id,
                    ok: false,
                    detail: e,
                });
            }
        }
    }

    fn open(
        &mut self,
        registry: &Registry,
        token: Token,
        slot: usize,
        spec: &ProbeSpec,
    ) -> Result<Work, String> {
        match spec {
            ProbeSpec::Ping { addr } => {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1).max(1);
                let sent = match addr {
                    IpAddr::V4(v4) => {
                        shared_socket(&mut self.icmp, registry, ICMP_TOKEN, IcmpSocket::open)
                            .and_then(|s| s.send_echo(*v4, seq, b"hb_ldirectord"))
                    }
                    IpAddr::V6(v6) => {
                        shared_socket(&mut self.icmp6, registry, ICMP6_TOKEN, Icmp6Socket::open)
                            .and_then(|s| s.send_echo(*v6, seq, b"hb_ldirectord"))
                    }
                };
                sent.map_err(|e| format!("ping: {e}"))?;
                self.pings.insert(seq, slot);
                Ok(Work::Ping { seq, addr: *addr })
            }
            ProbeSpec::External { command, args } => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c")
                    .arg(format!("{command} \"$@\""))
                    .arg("checkcommand")
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .process_group(0);
                let child = cmd.spawn().map_err(|e| format!("checkcommand: {e}"))?;
                let pidfd =
                    pidfd_open(child.id()).map_err(|e| format!("checkcommand: pidfd: {e}"))?;
                registry
                    .register(&mut SourceFd(&pidfd.as_raw_fd()), token, Interest::READABLE)
                    .map_err(|e| format!("checkcommand: {e}"))?;
                Ok(Work::Command { child, pidfd })
            }
            ProbeSpec::Dns {
                addr,
                tcp: false,
                name,
                receive,
            } => {
                let any: SocketAddr = if addr.is_ipv6() {
                    "[::]:0".parse().map_err(|_| "dns: bind")?
                } else {
                    "0.0.0.0:0".parse().map_err(|_| "dns: bind")?
                };
                let mut socket = UdpSocket::bind(any).map_err(|e| format!("dns: {e}"))?;
                socket.connect(*addr).map_err(|e| format!("dns: {e}"))?;
                let id = (slot as u16) ^ (Instant::now().elapsed().subsec_nanos() as u16) ^ 0x5a5a;
                socket
                    .send(&super::dns::query(id, name))
                    .map_err(|e| format!("dns: {e}"))?;
                registry
                    .register(&mut socket, token, Interest::READABLE)
                    .map_err(|e| format!("dns: {e}"))?;
                Ok(Work::Udp {
                    socket,
                    id,
                    receive: receive.clone(),
                })
            }
            _ => {
                let addr = match spec {
                    ProbeSpec::Connect { addr }
                    | ProbeSpec::Http { addr, .. }
                    | ProbeSpec::Tcp { addr, .. }
                    | ProbeSpec::Smtp { addr }
                    | ProbeSpec::Dns { addr, .. } => *addr,
                    _ => return Err("unsupported probe".into()),
                };
                let (talk, out) = Talk::of(spec, slot as u16).ok_or("unsupported probe")?;
                let tls = match spec {
                    ProbeSpec::Http {
                        tls: true, host, ..
                    } => Some(Box::new(tls::connection(
                        self.tls.as_ref().map_err(Clone::clone)?,
                        host,
                        addr.ip(),
                    )?)),
                    _ => None,
                };
                let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
                registry
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .map_err(|e| format!("connect: {e}"))?;
                Ok(Work::Tcp(Box::new(TcpProbe {
                    stream,
                    connected: false,
                    talk,
                    out,
                    sent: 0,
                    got: Vec::new(),
                    eof: false,
                    tls,
                })))
            }
        }
    }

    /// An event on a probe's token, with what the socket is ready for.
    pub fn event(&mut self, registry: &Registry, token: Token, ready: Ready) {
        if token == ICMP_TOKEN || token == ICMP6_TOKEN {
            self.read_icmp(registry);
            return;
        }
        if let Some(slot) = token.0.checked_sub(FIRST_TOKEN) {
            self.drive(registry, slot, ready);
        }
    }

    /// Moves one probe on; finishes it when it has a verdict.
    fn drive(&mut self, registry: &Registry, slot: usize, ready: Ready) {
        let Some(Some(s)) = self.slots.get_mut(slot) else {
            return;
        };
        let verdict = match &mut s.work {
            Work::Tcp(p) => p.step(ready, &mut self.scratch),
            Work::Udp {
                socket,
                id,
                receive,
            } => {
                let mut buf = [0u8; 4096];
                match socket.recv(&mut buf) {
                    Ok(n) => Some(judge_dns(*id, receive.as_ref(), &buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                    Err(e) => Some((false, format!("dns: {e}"))),
                }
            }
            Work::Command { child, .. } => match child.try_wait() {
                Ok(Some(st)) if st.success() => Some((true, "checkcommand exited 0".into())),
                Ok(Some(st)) => Some((false, format!("checkcommand: {st}"))),
                Ok(None) => None,
                Err(e) => Some((false, format!("checkcommand: {e}"))),
            },
            Work::Ping { .. } => None,
        };
        if let Some((ok, detail)) = verdict {
            self.finish(registry, slot, ok, detail);
        }
    }

    /// Takes the echo replies waiting on both ICMP sockets.
    fn read_icmp(&mut self, registry: &Registry) {
        let mut buf = vec![0u8; 65536];
        let mut replies: Vec<(IpAddr, u16)> = Vec::new();
        if let Some(sock) = &self.icmp {
            for _ in 0..4096 {
                match sock.receive(&mut buf) {
                    Ok(Received::Reply { from, echo }) => replies.push((from.into(), echo.seq)),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        if let Some(sock) = &self.icmp6 {
            for _ in 0..4096 {
                match sock.receive(&mut buf) {
                    Ok(Some((from, seq))) => replies.push((from.into(), seq)),
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        }
        for (from, seq) in replies {
            let Some(&slot) = self.pings.get(&seq) else {
                continue;
            };
            let matches = matches!(
                self.slots.get(slot),
                Some(Some(Slot { work: Work::Ping { addr, .. }, .. })) if *addr == from
            );
            if matches {
                self.finish(registry, slot, true, "echo reply".into());
            }
        }
    }

    fn finish(&mut self, registry: &Registry, slot: usize, ok: bool, detail: String) {
        let Some(Some(s)) = self.slots.get_mut(slot).map(Option::take) else {
            return;
        };
        match s.work {
            // Closing a socket takes it out of epoll: no deregister call per check. A check's
            // connection ends with a reset (linger 0), as HAProxy ends its checks: no FIN
            // exchange, no TIME_WAIT socket per check (thousands a second would pile up).
            Work::Tcp(p) => {
                let linger = nix::libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                let _ = nix::sys::socket::setsockopt(
                    &p.stream,
                    nix::sys::socket::sockopt::Linger,
                    &linger,
                );
            }
            Work::Udp { .. } => {}
            Work::Ping { seq, .. } => {
                self.pings.remove(&seq);
            }
            Work::Command { mut child, pidfd } => {
                let _ = registry.deregister(&mut SourceFd(&pidfd.as_raw_fd()));
                if !ok && matches!(child.try_wait(), Ok(None)) {
                    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.wait();
            }
        }
        self.free.push(slot);
        self.in_flight -= 1;
        self.done.push(Verdict {
            id: s.id,
            ok,
            detail,
        });
        if let Some((id, spec, timeout)) = self.waiting.pop_front() {
            // Only past the descriptor budget: a clock reading of its own is rare enough.
            self.start(registry, id, spec, timeout, Instant::now());
        }
    }

    /// Fails every probe past its deadline.
    pub fn expire(&mut self, registry: &Registry, now: Instant) {
        while let Some(Reverse((deadline, slot, generation))) = self.deadlines.peek().copied() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self.gens.get(slot) != Some(&generation) {
                continue;
            }
            let Some(Some(s)) = self.slots.get(slot) else {
                continue;
            };
            let detail = format!(
                "timed out after {} ms",
                s.started
                    .elapsed()
                    .as_millis()
                    .min(u128::from(s.timeout) + 999)
            );
            self.finish(registry, slot, false, detail);
        }
        self.detached
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    /// The earliest probe deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, slot, generation))) = self.deadlines.peek().copied() {
            if self.gens.get(slot) == Some(&generation)
                && matches!(self.slots.get(slot), Some(Some(_)))
            {
                return Some(deadline);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Verdicts since the last call.
    pub fn take_verdicts(&mut self) -> Vec<Verdict> {
        std::mem::take(&mut self.done)
    }

    /// Runs `command args…` without waiting (fallbackcommand).
    pub fn run_detached(&mut self, command: &str, args: &[String]) -> io::Result<()> {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{command} \"$@\""))
            .arg("fallbackcommand")
            .args(args)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()?;
        self.detached.push(child);
        Ok(())
    }
}

/// What an event said a socket is ready for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
    pub error: bool,
}

impl Ready {
    pub fn of(ev: &mio::event::Event) -> Ready {
        Ready {
            readable: ev.is_readable() || ev.is_read_closed(),
            writable: ev.is_writable(),
            error: ev.is_error() || ev.is_write_closed(),
        }
    }
}

impl TcpProbe {
    /// Connect, send, read until the conversation can be judged. System calls only where the
    /// event says they can do something: a check costs socket, connect, one epoll_ctl, write,
    /// read(s), SO_LINGER and close.
    fn step(&mut self, ready: Ready, buf: &mut [u8]) -> Option<(bool, String)> {
        if !self.connected {
            if !(ready.writable || ready.error) {
                return None;
            }
            // A failed connect reports an error with the writable event (EPOLLERR): SO_ERROR
            // is read only then, for its reason.
            if ready.error {
                return Some(match self.stream.take_error() {
                    Ok(Some(e)) | Err(e) => (false, format!("connect: {e}")),
                    Ok(None) => (false, "connect: refused".into()),
                });
            }
            self.connected = true;
            if matches!(self.talk, Talk::Connect) {
                return Some((true, "connected".into()));
            }
        }
        match self.pump(ready, buf) {
            Err(e) => Some((false, e)),
            Ok(Some(v)) => Some(v),
            Ok(None) if self.eof => Some((false, "connection closed early".into())),
            Ok(None) => None,
        }
    }

    fn sent_all(&self) -> bool {
        self.sent >= self.out.len()
            && self
                .tls
                .as_ref()
                .is_none_or(|t| !t.wants_write() && !t.is_handshaking())
    }

    /// Moves bytes both ways until the socket would block or the answer can be judged.
    fn pump(&mut self, ready: Ready, buf: &mut [u8]) -> Result<Option<(bool, String)>, String> {
        if self.tls.is_none() {
            while self.sent < self.out.len() {
                match self.stream.write(&self.out[self.sent..]) {
                    Ok(0) => return Err("write: closed".into()),
                    Ok(n) => self.sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            // Nothing to read yet unless the event says so, or nothing was to be sent (a
            // greeting, or a connect-and-send check judged once sent).
            if !ready.readable {
                return Ok(self
                    .talk
                    .judge(&self.got, false, self.sent_all())
                    .filter(|_| !self.talk.needs_answer()));
            }
            for _ in 0..64 {
                match self.stream.read(buf) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(self.talk.judge(&self.got, false, self.sent_all()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("read: {e}")),
                }
                let v = self.talk.judge(&self.got, self.eof, self.sent_all());
                if v.is_some() || self.eof {
                    return Ok(v);
                }
            }
            return Ok(self.talk.judge(&self.got, self.eof, self.sent_all()));
        }
        for _ in 0..64 {
            let mut progress = false;
            let Some(conn) = self.tls.as_mut() else {
                break;
            };
            if self.sent < self.out.len() && !conn.is_handshaking() {
                conn.writer()
                    .write_all(&self.out[self.sent..])
                    .map_err(|e| format!("tls: {e}"))?;
                self.sent = self.out.len();
                progress = true;
            }
            while conn.wants_write() {
                match conn.write_tls(&mut self.stream) {
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("tls write: {e}")),
                }
            }
            if !self.eof && conn.wants_read() {
                match conn.read_tls(&mut self.stream) {
                    Ok(0) => {
                        self.eof = true;
                        progress = true;
                    }
                    Ok(_) => {
                        conn.process_new_packets()
                            .map_err(|e| format!("tls: {e}"))?;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(format!("tls read: {e}")),
                }
            }
            loop {
                match conn.reader().read(buf) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => {
                        self.got.extend_from_slice(&buf[..n]);
                        progress = true;
                        if self.got.len() >= MAX_ANSWER {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // A server that closes without close_notify: what came is judged.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        self.eof = true;
                        break;
                    }
                    Err(e) => return Err(format!("tls: {e}")),
                }
            }
            let v = self.talk.judge(&self.got, self.eof, self.sent_all());
            if v.is_some() || !progress || self.eof {
                return Ok(v);
            }
        }
        Ok(self.talk.judge(&self.got, self.eof, self.sent_all()))
    }
}

/// A file descriptor that becomes readable when the process ends (Linux ≥ 5.3).
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid as nix::libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The ICMP socket all ping checks of a family share, opened and registered at the first.
fn shared_socket<'a, S: AsRawFd>(
    slot: &'a mut Option<S>,
    registry: &Registry,
    token: Token,
    open: fn() -> io::Result<S>,
) -> io::Result<&'a S> {
    if slot.is_none() {
        let s = open()?;
        registry.register(&mut SourceFd(&s.as_raw_fd()), token, Interest::READABLE)?;
        *slot = Some(s);
    }
    slot.as_ref()
        .ok_or_else(|| io::Error::other("no ICMP socket"))
}
