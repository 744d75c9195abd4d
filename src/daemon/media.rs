//! Heartbeat media (spec §1.1): `bcast IFACE`, `mcast IFACE GROUP PORT TTL LOOP`, `ucast IFACE
//! PEER`. Each medium owns a receive socket (bound to its port and device, registered with mio)
//! and a non-blocking send socket bound to the device.
//!
//! A medium whose interface is missing, down or address-less is reported and retried every
//! [`RETRY_MS`]; a send that finds the device gone closes the medium for a retry. Nothing here
//! blocks: ucast peer names are resolved once, when the set is built (start or reload).

use std::net::{
    Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs, UdpSocket,
};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use mio::{Interest, Registry, Token};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, sockopt};

use super::rxqueue::{self, OverflowCounter};
use super::serial::SerialPort;
use crate::config::{Medium, Millis};

/// How long a failed medium waits before the next attempt.
pub const RETRY_MS: Millis = 5_000;
/// Largest datagram accepted (spec §1.1: 256 KiB minus one byte).
pub const MAX_DATAGRAM: usize = 262_143;
/// `IPTOS_LOWDELAY`, as the original sets on its send sockets.
const TOS_LOWDELAY: u8 = 0x10;

/// Where this medium sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Broadcast,
    Group(Ipv4Addr),
    Peer(Ipv4Addr),
    /// ucast peer name that did not resolve at start/reload.
    Unresolved,
    /// A serial line: no address at all.
    Serial,
    /// `ucast6` peer.
    Peer6(Ipv6Addr),
    /// `mcast6` group.
    Group6(Ipv6Addr),
}

struct OpenMedium {
    rx: mio::net::UdpSocket,
    /// The kernel's drop counter as last reported on `rx`.
    overflow: OverflowCounter,
    /// The receive queue the kernel granted (logged at debug level).
    rcvbuf: usize,
    tx: UdpSocket,
    dest: SocketAddr,
    /// Last send error reported (to log a change once, not every keepalive).
    send_error: Option<String>,
}

struct Slot {
    spec: Medium,
    port: u16,
    target: Target,
    open: Option<OpenMedium>,
    retry_at: Millis,
    /// Last open error reported (logged again only when it changes).
    last_error: Option<String>,
    /// The open port of a serial medium (`open` stays None for those).
    serial: Option<SerialPort>,
}

/// Every configured medium of the running configuration.
pub struct Media {
    slots: Vec<Slot>,
    /// `baud` of the serial media.
    baud: u32,
    token_base: usize,
    buf: Vec<u8>,
    /// Room for the kernel's drop counter, reused by every read.
    cmsg: Vec<u8>,
}

/// A log line produced by media handling, with its severity.
pub type Note = (crate::core::Severity, String);

impl Media {
    /// Builds the set (resolving ucast peers now, the only name lookups); nothing is opened yet.
    pub fn new(media: &[Medium], udpport: u16, baud: u32, token_base: usize) -> (Media, Vec<Note>) {
        let mut notes = Vec::new();
        let slots = media
            .iter()
            .map(|m| {
                let (target, port) = target_of(m, udpport);
                if let (Target::Unresolved, Medium::Ucast { peer, .. }) = (target, m) {
                    notes.push((
                        crate::core::Severity::Error,
                        format!("ucast: cannot resolve peer address {peer}"),
                    ));
                }
                Slot {
                    spec: m.clone(),
                    port,
                    target,
                    open: None,
                    retry_at: 0,
                    last_error: None,
                    serial: None,
                }
            })
            .collect();
        (
            Media {
                slots,
                baud,
                token_base,
                buf: vec![0u8; MAX_DATAGRAM + 1],
                cmsg: rxqueue::control_buffer(),
            },
            notes,
        )
    }

    /// The token of medium `i`'s receive socket.
    pub fn token(&self, i: usize) -> Token {
        Token(self.token_base + i)
    }

    /// The medium index behind a token, if it is one of ours.
    pub fn index_of(&self, token: Token) -> Option<usize> {
        token
            .0
            .checked_sub(self.token_base)
            .filter(|i| *i < self.slots.len())
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Opens every closed medium whose retry time has come.
    pub fn open_due(&mut self, registry: &Registry, now: Millis) -> Vec<Note> {
        let mut notes = Vec::new();
        for i in 0..self.slots.len() {
            let token = self.token(i);
            let slot = &mut self.slots[i];
            if slot.open.is_some() || slot.serial.is_some() || now < slot.retry_at {
                continue;
            }
            if let Medium::Serial { device } = &slot.spec {
                match SerialPort::open(device, self.baud) {
                    Ok(port) => {
                        let fd = port.raw_fd();
                        match registry.register(
                            &mut mio::unix::SourceFd(&fd),
                            token,
                            Interest::READABLE,
                        ) {
                            Ok(()) => {
                                notes.push((
                                    crate::core::Severity::Info,
                                    format!(
                                        "Starting serial heartbeat on tty {device} ({} baud)",
                                        self.baud
                                    ),
                                ));
                                slot.last_error = None;
                                slot.serial = Some(port);
                            }
                            Err(e) => {
                                slot.fail(format!("cannot register tty: {e}"), now, &mut notes)
                            }
                        }
                    }
                    Err(e) => slot.fail(e, now, &mut notes),
                }
                continue;
            }
            match open_medium(&slot.spec, slot.port, slot.target) {
                Ok(mut m) => match registry.register(&mut m.rx, token, Interest::READABLE) {
                    Ok(()) => {
                        notes.push((
                            crate::core::Severity::Info,
                            format!(
                                "{}: bound receive socket to device: {}",
                                kind(&slot.spec),
                                slot.spec.link_name()
                            ),
                        ));
                        notes.push((
                            crate::core::Severity::Debug,
                            format!(
                                "{}: receive queue of {} bytes",
                                describe(&slot.spec),
                                m.rcvbuf
                            ),
                        ));
                        if slot.last_error.take().is_some() {
                            notes.push((
                                crate::core::Severity::Info,
                                format!("{}: medium is usable again", describe(&slot.spec)),
                            ));
                        }
                        slot.open = Some(m);
                    }
                    Err(e) => slot.fail(format!("cannot register socket: {e}"), now, &mut notes),
                },
                Err(e) => slot.fail(e, now, &mut notes),
            }
        }
        notes
    }

    /// Earliest retry among closed media.
    pub fn next_retry(&self) -> Option<Millis> {
        self.slots
            .iter()
            .filter(|s| s.open.is_none() && s.serial.is_none())
            .map(|s| s.retry_at)
            .min()
    }

    /// Reads every pending datagram of medium `i` (until the socket would block); returns how
    /// many datagrams the kernel dropped on it since the last report (queue full).
    pub fn receive(&mut self, i: usize, mut deliver: impl FnMut(Vec<u8>)) -> u64 {
        let Some(slot) = self.slots.get_mut(i) else {
            return 0;
        };
        if let Some(port) = slot.serial.as_mut() {
            if let Ok(frames) = port.receive() {
                for f in frames {
                    deliver(f);
                }
            }
            return 0;
        }
        let Some(m) = slot.open.as_mut() else {
            return 0;
        };
        let mut kernel_drops = 0;
        // Bounded: at most a few hundred datagrams per wake-up, the rest on the next poll.
        for _ in 0..256 {
            match rxqueue::read_one(&m.rx, &mut self.buf, &mut self.cmsg, &mut m.overflow) {
                Ok(r) => {
                    kernel_drops += r.kernel_drops;
                    // A truncated datagram (longer than the buffer of MAX_DATAGRAM + 1 bytes)
                    // is delivered too: the decoder counts it as `too_large`.
                    deliver(self.buf[..r.len].to_vec());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        kernel_drops
    }

    /// Sends on one medium or all; failures are reported once per change.
    pub fn transmit(
        &mut self,
        medium: Option<usize>,
        bytes: &[u8],
        registry: &Registry,
        now: Millis,
    ) -> Vec<Note> {
        let mut notes = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if medium.is_some_and(|m| m != i) {
                continue;
            }
            if let Some(port) = slot.serial.as_mut() {
                // Serial lines carry the classic text form only (ha.cf refuses netstring).
                if !bytes.starts_with(b">>>\n") {
                    continue;
                }
                if let Err(e) = port.send(bytes) {
                    if let Some(old) = slot.serial.take() {
                        let fd = old.raw_fd();
                        let _ = registry.deregister(&mut mio::unix::SourceFd(&fd));
                    }
                    slot.fail(format!("TTY write failure: {e}"), now, &mut notes);
                }
                continue;
            }
            let Some(m) = slot.open.as_mut() else {
                continue;
            };
            match m.tx.send_to(bytes, m.dest) {
                Ok(_) => {
                    if m.send_error.take().is_some() {
                        notes.push((
                            crate::core::Severity::Info,
                            format!("{}: sending works again", describe(&slot.spec)),
                        ));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    let gone =
                        matches!(e.raw_os_error(), Some(nix::libc::ENODEV | nix::libc::ENXIO));
                    if gone {
                        if let Some(mut old) = slot.open.take() {
                            let _ = registry.deregister(&mut old.rx);
                        }
                        slot.fail(format!("send failed: {e}"), now, &mut notes);
                    } else {
                        let text = e.to_string();
                        if m.send_error.as_deref() != Some(text.as_str()) {
                            notes.push((
                                crate::core::Severity::Error,
                                format!("{}: send failed: {text}", describe(&slot.spec)),
                            ));
                            m.send_error = Some(text);
                        }
                    }
                }
            }
        }
        notes
    }

    /// Closes every medium (reload with a different media list, shutdown).
    pub fn close_all(&mut self, registry: &Registry) {
        for slot in &mut self.slots {
            if let Some(mut m) = slot.open.take() {
                let _ = registry.deregister(&mut m.rx);
            }
            if let Some(port) = slot.serial.take() {
                let fd = port.raw_fd();
                let _ = registry.deregister(&mut mio::unix::SourceFd(&fd));
            }
        }
    }

    /// Shrinks medium `i`'s receive queue (tests: make the kernel overflow).
    #[cfg(test)]
    fn shrink_receive_queue(&self, i: usize) {
        if let Some(m) = self.slots.get(i).and_then(|s| s.open.as_ref()) {
            let _ = socket::setsockopt(&m.rx, sockopt::RcvBuf, &1usize);
        }
    }

    /// Whether medium `i` is open now.
    pub fn is_open(&self, i: usize) -> bool {
        self.slots
            .get(i)
            .is_some_and(|s| s.open.is_some() || s.serial.is_some())
    }
}

impl Slot {
    fn fail(&mut self, error: String, now: Millis, notes: &mut Vec<Note>) {
        if self.last_error.as_deref() != Some(error.as_str()) {
            notes.push((
                crate::core::Severity::Error,
                format!(
                    "{}: {error}; retrying every {} s",
                    describe(&self.spec),
                    RETRY_MS / 1000
                ),
            ));
            self.last_error = Some(error);
        }
        self.retry_at = now + RETRY_MS;
    }
}

fn kind(m: &Medium) -> &'static str {
    match m {
        Medium::Bcast { .. } => "bcast",
        Medium::Mcast { .. } => "mcast",
        Medium::Ucast { .. } => "ucast",
        Medium::Serial { .. } => "serial",
        Medium::Ucast6 { .. } => "ucast6",
        Medium::Mcast6 { .. } => "mcast6",
    }
}

/// `bcast eth1`, `mcast eth1 239.0.0.1`, `ucast eth1 peer`: how logs name a medium.
pub fn describe(m: &Medium) -> String {
    match m {
        Medium::Bcast { iface } => format!("bcast {iface}"),
        Medium::Mcast { iface, group, .. } => format!("mcast {iface} {group}"),
        Medium::Ucast { iface, peer } => format!("ucast {iface} {peer}"),
        Medium::Serial { device } => format!("serial {device}"),
        Medium::Ucast6 { iface, peer } => format!("ucast6 {iface} {peer}"),
        Medium::Mcast6 { iface, group, .. } => format!("mcast6 {iface} {group}"),
    }
}

fn resolve_v4(peer: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = peer.parse::<Ipv4Addr>() {
        return Some(a);
    }
    (peer, 0u16).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    })
}

/// The IPv4 facts of one interface.
struct IfaceInfo {
    up: bool,
    addr: Option<Ipv4Addr>,
    broadcast: Option<Ipv4Addr>,
}

fn iface_info(name: &str) -> Result<IfaceInfo, String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("getifaddrs: {e}"))?;
    let mut found = false;
    let mut info = IfaceInfo {
        up: false,
        addr: None,
        broadcast: None,
    };
    for a in addrs.filter(|a| a.interface_name == name) {
        found = true;
        info.up |= a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
        let v4 = |s: &Option<socket::SockaddrStorage>| {
            s.as_ref().and_then(|s| s.as_sockaddr_in()).map(|s| s.ip())
        };
        if info.addr.is_none()
            && let Some(ip) = v4(&a.address)
        {
            info.addr = Some(ip);
            info.broadcast = broadcast_of(ip, v4(&a.netmask), v4(&a.broadcast));
        }
    }
    if !found {
        return Err(format!("interface {name} not found"));
    }
    if !info.up {
        return Err(format!("interface {name} is down"));
    }
    Ok(info)
}

/// The kernel's broadcast address when it has a real one; otherwise (an address added without
/// `brd`) the one the netmask implies.
fn broadcast_of(
    addr: Ipv4Addr,
    mask: Option<Ipv4Addr>,
    kernel: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    if let Some(b) = kernel
        && b != addr
        && !b.is_unspecified()
    {
        return Some(b);
    }
    let m = u32::from(mask?);
    if m == u32::MAX {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(addr) | !m))
}

/// Where a medium sends, and to which port (ucast peers are resolved here).
fn target_of(m: &Medium, udpport: u16) -> (Target, u16) {
    match m {
        Medium::Bcast { .. } => (Target::Broadcast, udpport),
        Medium::Mcast { group, port, .. } => (Target::Group(*group), *port),
        Medium::Ucast { peer, .. } => match resolve_v4(peer) {
            Some(a) => (Target::Peer(a), udpport),
            None => (Target::Unresolved, udpport),
        },
        Medium::Serial { .. } => (Target::Serial, 0),
        Medium::Ucast6 { peer, .. } => (Target::Peer6(*peer), udpport),
        Medium::Mcast6 { group, port, .. } => (Target::Group6(*group), *port),
    }
}

/// The destination address of `target` on `iface`.
fn destination(target: Target, iface: &str, info: &IfaceInfo) -> Result<Ipv4Addr, String> {
    match target {
        Target::Broadcast => info
            .broadcast
            .ok_or_else(|| format!("interface {iface} has no IPv4 broadcast address")),
        Target::Group(g) => Ok(g),
        Target::Peer(p) => Ok(p),
        Target::Unresolved => Err("peer address unresolved".to_string()),
        Target::Serial => Err("a serial line has no address".to_string()),
        Target::Peer6(_) | Target::Group6(_) => Err("an IPv6 medium".to_string()),
    }
}

fn open_medium(spec: &Medium, port: u16, target: Target) -> Result<OpenMedium, String> {
    if let Target::Peer6(ip) | Target::Group6(ip) = target {
        return open_medium6(spec, port, ip);
    }
    let iface = spec.link_name();
    let info = iface_info(iface)?;
    let dest_ip = destination(target, iface, &info)?;
    let rx = receive_socket(iface, port, false).map_err(|e| format!("receive socket: {e}"))?;
    if let (Medium::Mcast { group, .. }, Some(local)) = (spec, info.addr) {
        rx.join_multicast_v4(group, &local)
            .map_err(|e| format!("cannot join {group}: {e}"))?;
    } else if let Medium::Mcast { group, .. } = spec {
        return Err(format!(
            "interface {iface} has no IPv4 address to join {group}"
        ));
    }
    let tx = send_socket(spec, iface, info.addr).map_err(|e| format!("send socket: {e}"))?;
    with_receive_queue(rx, tx, SocketAddr::V4(SocketAddrV4::new(dest_ip, port)))
}

/// The last steps of opening either family: the large receive queue, the kernel's overflow
/// counter, registration-ready sockets.
fn with_receive_queue(
    rx: UdpSocket,
    tx: UdpSocket,
    dest: SocketAddr,
) -> Result<OpenMedium, String> {
    let rcvbuf = rxqueue::enlarge_receive_buffer(&rx, rxqueue::RECEIVE_BUFFER)
        .map_err(|e| format!("receive queue: {e}"))?;
    rxqueue::enable_overflow_counter(&rx).map_err(|e| format!("SO_RXQ_OVFL: {e}"))?;
    Ok(OpenMedium {
        rx: mio::net::UdpSocket::from_std(rx),
        overflow: OverflowCounter::default(),
        rcvbuf,
        tx,
        dest,
        send_error: None,
    })
}

/// `ucast6` / `mcast6`: the same shape over AF_INET6 (3.0.6's ucast6 and mcast6 plugins).
fn open_medium6(spec: &Medium, port: u16, ip: Ipv6Addr) -> Result<OpenMedium, String> {
    let iface = spec.link_name();
    iface_info(iface)?;
    let index =
        nix::net::if_::if_nametoindex(iface).map_err(|e| format!("interface {iface}: {e}"))?;
    let rx = receive_socket(iface, port, true).map_err(|e| format!("receive socket: {e}"))?;
    if let Medium::Mcast6 { group, .. } = spec {
        rx.join_multicast_v6(group, index)
            .map_err(|e| format!("cannot join {group}: {e}"))?;
    }
    let (tx, dest) = sender6(spec, port, ip, index).map_err(|e| format!("send socket: {e}"))?;
    with_receive_queue(rx, tx, dest)
}

/// A link-local unicast or link-scope multicast address needs the interface as its scope.
fn scope_of(ip: Ipv6Addr, index: u32) -> u32 {
    let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
    let link_multicast = ip.is_multicast() && (ip.segments()[0] & 0x000f) == 0x0002;
    if link_local || link_multicast {
        index
    } else {
        0
    }
}

fn sender6(
    spec: &Medium,
    port: u16,
    ip: Ipv6Addr,
    index: u32,
) -> std::io::Result<(UdpSocket, SocketAddr)> {
    let iface = spec.link_name();
    let tx = UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0))?;
    tx.set_nonblocking(true)?;
    socket::setsockopt(
        &tx.as_fd(),
        sockopt::BindToDevice,
        &std::ffi::OsString::from(iface),
    )
    .map_err(nix_io)?;
    if let Medium::Mcast6 { hops, loopback, .. } = spec {
        tx.set_multicast_loop_v6(*loopback)?;
        socket::setsockopt(&tx.as_fd(), sockopt::Ipv6MulticastHops, &i32::from(*hops))
            .map_err(nix_io)?;
        set_multicast_if6(&tx, index)?;
    }
    let dest = SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_of(ip, index)));
    Ok((tx, dest))
}

/// `IPV6_MULTICAST_IF` by interface index.
fn set_multicast_if6(sock: &UdpSocket, index: u32) -> std::io::Result<()> {
    let v = index as nix::libc::c_int;
    set_raw_option(
        sock,
        nix::libc::IPPROTO_IPV6,
        nix::libc::IPV6_MULTICAST_IF,
        &v,
    )
}

/// `setsockopt` for the options nix has no wrapper for.
fn set_raw_option<T>(
    sock: &UdpSocket,
    level: nix::libc::c_int,
    name: nix::libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    // SAFETY: valid fd, pointer to a live T of the size passed.
    let rc = unsafe {
        nix::libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as nix::libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A send socket and destination for one medium, opened on its own: the crash guard's last
/// words go out this way after the daemon (and its sockets) are gone.
pub fn open_sender(spec: &Medium, udpport: u16) -> Result<(UdpSocket, SocketAddr), String> {
    let iface = spec.link_name();
    let info = iface_info(iface)?;
    let (target, port) = target_of(spec, udpport);
    if let Target::Peer6(ip) | Target::Group6(ip) = target {
        let index =
            nix::net::if_::if_nametoindex(iface).map_err(|e| format!("interface {iface}: {e}"))?;
        return sender6(spec, port, ip, index).map_err(|e| format!("send socket: {e}"));
    }
    let dest_ip = destination(target, iface, &info)?;
    let tx = send_socket(spec, iface, info.addr).map_err(|e| format!("send socket: {e}"))?;
    Ok((tx, SocketAddr::V4(SocketAddrV4::new(dest_ip, port))))
}

fn nix_io(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// The receive socket of a medium: bound to the port on every address of `family`
/// (IPv4 or IPv6 only), and to the device.
fn receive_socket(iface: &str, port: u16, v6: bool) -> std::io::Result<UdpSocket> {
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd: OwnedFd = socket::socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(nix_io)?;
    if v6 {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(nix_io)?;
    }
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(nix_io)?;
    socket::setsockopt(&fd, sockopt::ReusePort, &true).map_err(nix_io)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(iface))
        .map_err(nix_io)?;
    if v6 {
        let addr = SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0));
        socket::bind(fd.as_raw_fd(), &addr).map_err(nix_io)?;
    } else {
        let addr = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        socket::bind(fd.as_raw_fd(), &addr).map_err(nix_io)?;
    }
    Ok(UdpSocket::from(fd))
}

fn send_socket(spec: &Medium, iface: &str, local: Option<Ipv4Addr>) -> std::io::Result<UdpSocket> {
    let tx = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
    tx.set_nonblocking(true)?;
    socket::setsockopt(
        &tx.as_fd(),
        sockopt::BindToDevice,
        &std::ffi::OsString::from(iface),
    )
    .map_err(nix_io)?;
    socket::setsockopt(&tx.as_fd(), sockopt::Ipv4Tos, &i32::from(TOS_LOWDELAY)).map_err(nix_io)?;
    match spec {
        Medium::Bcast { .. } => {
            tx.set_broadcast(true)?;
            socket::setsockopt(&tx.as_fd(), sockopt::DontRoute, &true).map_err(nix_io)?;
        }
        Medium::Mcast { ttl, loopback, .. } => {
            tx.set_multicast_ttl_v4(u32::from(*ttl))?;
            tx.set_multicast_loop_v4(*loopback)?;
            if let Some(a) = local {
                set_multicast_if(&tx, a)?;
            }
        }
        Medium::Ucast { .. }
        | Medium::Serial { .. }
        | Medium::Ucast6 { .. }
        | Medium::Mcast6 { .. } => {}
    }
    Ok(tx)
}

/// `IP_MULTICAST_IF` by address (nix has no wrapper for it).
fn set_multicast_if(sock: &UdpSocket, addr: Ipv4Addr) -> std::io::Result<()> {
    let v = nix::libc::in_addr {
        s_addr: u32::from(addr).to_be(),
    };
    set_raw_option(sock, nix::libc::IPPROTO_IP, nix::libc::IP_MULTICAST_IF, &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn can_bind_device() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    #[test]
    fn broadcast_address_falls_back_to_the_netmask() {
        let a = Ipv4Addr::new(198, 51, 100, 1);
        let m = Some(Ipv4Addr::new(255, 255, 255, 0));
        let b = Ipv4Addr::new(198, 51, 100, 255);
        assert_eq!(broadcast_of(a, m, Some(a)), Some(b));
        assert_eq!(broadcast_of(a, m, None), Some(b));
        assert_eq!(broadcast_of(a, m, Some(Ipv4Addr::UNSPECIFIED)), Some(b));
        let k = Ipv4Addr::new(198, 51, 100, 127);
        assert_eq!(broadcast_of(a, m, Some(k)), Some(k));
        assert_eq!(broadcast_of(a, Some(Ipv4Addr::BROADCAST), None), None);
    }

    #[test]
    fn ucast_over_loopback_delivers_and_missing_iface_is_retried() {
        if !can_bind_device() {
            eprintln!("skipped: SO_BINDTODEVICE needs root");
            return;
        }
        // An unprivileged port unlikely to clash: derived from the pid.
        let port = 40_000 + (std::process::id() % 20_000) as u16;
        let media = vec![
            Medium::Ucast {
                iface: "lo".into(),
                peer: "127.0.0.1".into(),
            },
            Medium::Bcast {
                iface: "nosuchif0".into(),
            },
        ];
        let (mut set, notes) = Media::new(&media, port, 19200, 10);
        assert!(notes.is_empty());
        let poll = mio::Poll::new().unwrap();
        let notes = set.open_due(poll.registry(), 0);
        assert!(set.is_open(0));
        assert!(!set.is_open(1));
        assert!(
            notes.iter().any(|(_, t)| t.contains("nosuchif0 not found")),
            "{notes:?}"
        );
        assert_eq!(set.next_retry(), Some(RETRY_MS));
        // Not retried (nor re-reported) before its time.
        assert!(set.open_due(poll.registry(), 10).is_empty());
        let notes = set.transmit(None, b"###\nhello", poll.registry(), 0);
        assert!(notes.is_empty(), "{notes:?}");
        let mut got = Vec::new();
        for _ in 0..50 {
            assert_eq!(set.receive(0, |d| got.push(d)), 0);
            if !got.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(got, vec![b"###\nhello".to_vec()]);
        assert_eq!(set.index_of(Token(10)), Some(0));
        assert_eq!(set.index_of(Token(12)), None);
    }

    /// The daemon's read loop reports what the kernel dropped: with a tiny queue left unread
    /// during a burst, every datagram sent is either delivered or counted.
    #[test]
    fn kernel_drops_are_reported_by_receive() {
        if !can_bind_device() {
            eprintln!("skipped: SO_BINDTODEVICE needs root");
            return;
        }
        let port = 20_000 + (std::process::id() % 20_000) as u16;
        let media = vec![Medium::Ucast {
            iface: "lo".into(),
            peer: "127.0.0.1".into(),
        }];
        let (mut set, _) = Media::new(&media, port, 19200, 0);
        let poll = mio::Poll::new().unwrap();
        set.open_due(poll.registry(), 0);
        assert!(set.is_open(0));
        set.shrink_receive_queue(0);
        const BURST: u64 = 200;
        for _ in 0..BURST {
            set.transmit(None, b"###\nforged", poll.registry(), 0);
        }
        let (mut delivered, mut dropped) = (0u64, 0u64);
        dropped += set.receive(0, |_| delivered += 1);
        set.transmit(None, b"###\nmarker", poll.registry(), 0);
        for _ in 0..100 {
            dropped += set.receive(0, |_| delivered += 1);
            if delivered + dropped == BURST + 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(dropped > 0, "delivered {delivered}");
        assert_eq!(delivered + dropped, BURST + 1, "delivered {delivered}");
    }
}
