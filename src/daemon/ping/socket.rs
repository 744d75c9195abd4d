//! A non-blocking ICMP socket for echo requests and replies, usable with mio.
//!
//! The kernel offers two kinds: an unprivileged datagram ICMP socket (allowed only when our group
//! is inside `net.ipv4.ping_group_range`; the kernel then picks the identifier and delivers only
//! our own replies, without IP header) and a raw ICMP socket (needs CAP_NET_RAW; delivers every
//! ICMP datagram with its IP header, so replies are matched by identifier here). `open` tries the
//! first and falls back to the second, as the issue asks.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, bind, getsockname,
    recvfrom, sendto, socket,
};

use crate::wire::icmp::{Echo, PacketError, parse_icmp_reply, parse_ipv4_reply};

/// Which kind of ICMP socket the kernel granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP` (unprivileged "ping socket").
    Datagram,
    /// `SOCK_RAW` + `IPPROTO_ICMP`.
    Raw,
}

/// What one read from the socket gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An echo reply carrying our identifier, from `from`.
    Reply { from: Ipv4Addr, echo: Echo },
    /// Some other ICMP traffic (another program's echo, our own request, an error): ignore it.
    Other,
    /// A datagram that does not parse (counted, ignored).
    Malformed(PacketError),
}

/// A non-blocking ICMP socket bound to one echo identifier.
#[derive(Debug)]
pub struct IcmpSocket {
    fd: OwnedFd,
    kind: SocketKind,
    ident: u16,
}

impl IcmpSocket {
    /// A datagram ICMP socket if the kernel allows it, else a raw one; the error is the raw
    /// socket's when both are refused.
    pub fn open() -> io::Result<Self> {
        Self::open_datagram().or_else(|_| Self::open_raw())
    }

    /// An unprivileged datagram ICMP socket; the kernel assigns the identifier.
    pub fn open_datagram() -> io::Result<Self> {
        let fd = new_socket(SockType::Datagram)?;
        let any = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        bind(fd.as_raw_fd(), &any).map_err(io::Error::from)?;
        let bound: SockaddrIn = getsockname(fd.as_raw_fd()).map_err(io::Error::from)?;
        Ok(IcmpSocket {
            fd,
            kind: SocketKind::Datagram,
            ident: bound.port(),
        })
    }

    /// A raw ICMP socket; the identifier is the low 16 bits of our PID, as the original uses.
    pub fn open_raw() -> io::Result<Self> {
        let fd = new_socket(SockType::Raw)?;
        Ok(IcmpSocket {
            fd,
            kind: SocketKind::Raw,
            ident: (std::process::id() & 0xffff) as u16,
        })
    }

    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The echo identifier our requests carry and our replies must carry.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Sends one echo request; `WouldBlock` means the send buffer is full (the echo is lost,
    /// as a lost packet would be).
    pub fn send_echo(&self, to: Ipv4Addr, seq: u16, payload: &[u8]) -> io::Result<()> {
        let bytes = Echo::request(self.ident, seq, payload.to_vec()).to_bytes();
        let dest = SockaddrIn::from(SocketAddrV4::new(to, 0));
        let sent = sendto(self.fd.as_raw_fd(), &bytes, &dest, MsgFlags::empty())
            .map_err(io::Error::from)?;
        if sent != bytes.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short ICMP send"));
        }
        Ok(())
    }

    /// Reads one datagram; `Err(WouldBlock)` when nothing is waiting. `buf` should hold 64 KiB.
    pub fn receive(&self, buf: &mut [u8]) -> io::Result<Received> {
        let (len, from) = loop {
            match recvfrom::<SockaddrIn>(self.fd.as_raw_fd(), buf) {
                Err(Errno::EINTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        let data = buf.get(..len).unwrap_or(buf);
        let parsed = match self.kind {
            SocketKind::Raw => parse_ipv4_reply(data),
            SocketKind::Datagram => match from {
                Some(addr) => parse_icmp_reply(data).map(|echo| (addr.ip(), echo)),
                None => return Ok(Received::Other),
            },
        };
        Ok(match parsed {
            Ok((from, echo)) if echo.ident == self.ident => Received::Reply { from, echo },
            Ok(_) | Err(PacketError::NotEchoReply) => Received::Other,
            Err(e) => Received::Malformed(e),
        })
    }
}

fn new_socket(ty: SockType) -> io::Result<OwnedFd> {
    socket(
        AddressFamily::Inet,
        ty,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(io::Error::from)
}

impl AsRawFd for IcmpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl mio::event::Source for IcmpSocket {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits (bounded) for an echo reply from 127.0.0.1 carrying `seq`.
    fn reply_on_loopback(sock: &IcmpSocket, seq: u16) -> Option<Echo> {
        let mut buf = vec![0u8; 65_536];
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            match sock.receive(&mut buf) {
                Ok(Received::Reply { from, echo }) if echo.seq == seq => {
                    assert_eq!(from, Ipv4Addr::LOCALHOST);
                    return Some(echo);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("receive: {e}"),
            }
        }
        None
    }

    #[test]
    fn echo_to_loopback_comes_back_matched() {
        // The tests run as root here; elsewhere the raw socket may be refused: say so and stop.
        let sock = match IcmpSocket::open() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("no ICMP socket available ({e}); skipping");
                return;
            }
        };
        let seq = 0xbeef;
        sock.send_echo(Ipv4Addr::LOCALHOST, seq, b"heartbeat-rs test")
            .unwrap();
        let echo = reply_on_loopback(&sock, seq).expect("no echo reply within 3 s");
        assert_eq!(echo.ident, sock.ident());
        assert_eq!(echo.payload, b"heartbeat-rs test");
    }

    #[test]
    fn raw_fallback_when_datagram_refused() {
        // On this machine ping_group_range refuses datagram sockets, so `open` must yield raw.
        let range =
            std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
        if range.split_whitespace().collect::<Vec<_>>() == ["1", "0"]
            && nix::unistd::geteuid().is_root()
        {
            assert!(IcmpSocket::open_datagram().is_err());
            assert_eq!(IcmpSocket::open().unwrap().kind(), SocketKind::Raw);
        }
    }
}
