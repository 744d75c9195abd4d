//! ICMPv6 echo for `checktype=ping` on IPv6 real servers. The kernel offers an unprivileged
//! datagram "ping socket" (when our group is within `net.ipv4.ping_group_range`, which also
//! governs IPv6; the kernel picks the identifier and delivers only our replies) and a raw
//! ICMPv6 socket (CAP_NET_RAW; every ICMPv6 message, so replies are matched by identifier
//! here). For both the kernel computes the checksum (RFC 3542 makes it mandatory for ICMPv6)
//! and hands over the message without its IPv6 header.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6, bind, getsockname,
    recvfrom, sendto, socket,
};

const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;

/// A non-blocking ICMPv6 socket bound to one echo identifier.
pub struct Icmp6Socket {
    fd: OwnedFd,
    /// Raw sockets see everyone's echoes: replies must carry this identifier.
    raw: bool,
    ident: u16,
}

impl Icmp6Socket {
    /// A datagram ping socket if the kernel allows it, else a raw one.
    pub fn open() -> io::Result<Icmp6Socket> {
        Self::open_datagram().or_else(|_| Self::open_raw())
    }

    fn open_datagram() -> io::Result<Icmp6Socket> {
        let fd = new_socket(SockType::Datagram)?;
        let any = SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
        bind(fd.as_raw_fd(), &any)?;
        let bound: SockaddrIn6 = getsockname(fd.as_raw_fd())?;
        Ok(Icmp6Socket {
            fd,
            raw: false,
            ident: bound.port(),
        })
    }

    fn open_raw() -> io::Result<Icmp6Socket> {
        Ok(Icmp6Socket {
            fd: new_socket(SockType::Raw)?,
            raw: true,
            ident: (std::process::id() & 0xffff) as u16,
        })
    }

    /// Sends one echo request (the checksum is the kernel's).
    pub fn send_echo(&self, to: Ipv6Addr, seq: u16, payload: &[u8]) -> io::Result<()> {
        let mut msg = vec![ECHO_REQUEST, 0, 0, 0];
        msg.extend_from_slice(&self.ident.to_be_bytes());
        msg.extend_from_slice(&seq.to_be_bytes());
        msg.extend_from_slice(payload);
        let dest = SockaddrIn6::from(SocketAddrV6::new(to, 0, 0, 0));
        let sent = sendto(self.fd.as_raw_fd(), &msg, &dest, MsgFlags::empty())?;
        if sent != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short ICMPv6 send",
            ));
        }
        Ok(())
    }

    /// Reads one message: `Some((from, seq))` for an echo reply of ours, `None` for anything
    /// else (neighbour discovery, other programs' echoes); `Err(WouldBlock)` when none waits.
    pub fn receive(&self, buf: &mut [u8]) -> io::Result<Option<(Ipv6Addr, u16)>> {
        let (len, from) = loop {
            match recvfrom::<SockaddrIn6>(self.fd.as_raw_fd(), buf) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let (Some(msg), Some(from)) = (buf.get(..len), from) else {
            return Ok(None);
        };
        Ok(parse_reply(msg, self.raw.then_some(self.ident)).map(|seq| (from.ip(), seq)))
    }
}

/// The sequence number of an echo reply (carrying `ident`, when given).
fn parse_reply(msg: &[u8], ident: Option<u16>) -> Option<u16> {
    let [kind, 0, _, _, i0, i1, s0, s1, ..] = *msg else {
        return None;
    };
    let ours = ident.is_none_or(|id| id == u16::from_be_bytes([i0, i1]));
    (kind == ECHO_REPLY && ours).then_some(u16::from_be_bytes([s0, s1]))
}

fn new_socket(ty: SockType) -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Inet6,
        ty,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::IcmpV6,
    )?)
}

impl AsRawFd for Icmp6Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_echo_replies_with_our_identifier_are_taken() {
        let reply = [ECHO_REPLY, 0, 0x12, 0x34, 0xab, 0xcd, 0x00, 0x07, b'x'];
        assert_eq!(parse_reply(&reply, Some(0xabcd)), Some(7));
        assert_eq!(parse_reply(&reply, None), Some(7));
        assert_eq!(parse_reply(&reply, Some(0x1111)), None, "someone else's");
        let request = [ECHO_REQUEST, 0, 0, 0, 0xab, 0xcd, 0, 7];
        assert_eq!(parse_reply(&request, Some(0xabcd)), None);
        let neighbour_advert = [136u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_reply(&neighbour_advert, None), None);
        assert_eq!(parse_reply(&[ECHO_REPLY, 0, 0], None), None, "short");
    }
}
