//! ICMP echo for ping nodes and ping groups (spec §8.1): one raw ICMP socket registered with
//! mio. Requests carry our identifier; replies are matched by identifier and source address and
//! reported per host name as written in ha.cf. Host names are resolved when the set is built
//! (start or reload), never in the loop. Unprivileged ICMP datagram sockets are refused on
//! these machines, so the raw socket is the primary path (we run as root); the datagram socket
//! is the fallback.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
};

use crate::core::Severity;

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
const PAYLOAD: &[u8] = b"heartbeat-rs ping";

/// Every ping host of the running configuration.
pub struct Pinger {
    sock: Option<OwnedFd>,
    /// Raw sockets deliver the IP header; datagram sockets do not.
    raw: bool,
    addr_of: HashMap<String, Ipv4Addr>,
    hosts_at: HashMap<Ipv4Addr, Vec<String>>,
    ident: u16,
    seq: u16,
    token: Token,
    registered: bool,
}

/// Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request packet.
pub fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The identifier of an echo reply (after the IP header when `raw`), if it is one.
pub fn reply_ident(packet: &[u8], raw: bool) -> Option<u16> {
    let icmp = if raw {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    if *icmp.first()? != ECHO_REPLY || icmp.len() < 8 {
        return None;
    }
    Some(u16::from_be_bytes([icmp[4], icmp[5]]))
}

fn resolve(host: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = host.parse() {
        return Some(a);
    }
    (host, 0u16).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(v) => Some(*v.ip()),
        SocketAddr::V6(_) => None,
    })
}

fn open_socket() -> Result<(OwnedFd, bool), String> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    match socket::socket(
        AddressFamily::Inet,
        SockType::Raw,
        flags,
        SockProtocol::Icmp,
    ) {
        Ok(fd) => Ok((fd, true)),
        Err(raw_err) => socket::socket(
            AddressFamily::Inet,
            SockType::Datagram,
            flags,
            SockProtocol::Icmp,
        )
        .map(|fd| (fd, false))
        .map_err(|e| format!("raw: {raw_err}; datagram: {e}")),
    }
}

impl Pinger {
    /// Resolves the hosts and opens the socket (only when there are hosts).
    pub fn new(hosts: &[String], token: Token) -> (Pinger, Vec<(Severity, String)>) {
        let mut notes = Vec::new();
        let mut addr_of = HashMap::new();
        let mut hosts_at: HashMap<Ipv4Addr, Vec<String>> = HashMap::new();
        for h in hosts {
            match resolve(h) {
                Some(a) => {
                    addr_of.insert(h.clone(), a);
                    hosts_at.entry(a).or_default().push(h.clone());
                }
                None => notes.push((Severity::Error, format!("ping: cannot resolve {h}"))),
            }
        }
        let (sock, raw) = if addr_of.is_empty() {
            (None, true)
        } else {
            match open_socket() {
                Ok((fd, raw)) => (Some(fd), raw),
                Err(e) => {
                    notes.push((
                        Severity::Error,
                        format!("ping: cannot open an ICMP socket: {e}"),
                    ));
                    (None, true)
                }
            }
        };
        let ident = (std::process::id() & 0xffff) as u16;
        (
            Pinger {
                sock,
                raw,
                addr_of,
                hosts_at,
                ident,
                seq: 0,
                token,
                registered: false,
            },
            notes,
        )
    }

    pub fn register(&mut self, registry: &Registry) -> std::io::Result<()> {
        if let Some(fd) = &self.sock {
            registry.register(
                &mut SourceFd(&fd.as_raw_fd()),
                self.token,
                Interest::READABLE,
            )?;
            self.registered = true;
        }
        Ok(())
    }

    pub fn deregister(&mut self, registry: &Registry) {
        if self.registered
            && let Some(fd) = &self.sock
        {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
            self.registered = false;
        }
    }

    pub fn token(&self) -> Token {
        self.token
    }

    /// Sends one echo request to `host`; a failure is returned for logging.
    pub fn send(&mut self, host: &str) -> Result<(), String> {
        let Some(fd) = &self.sock else {
            return Err("no ICMP socket".to_string());
        };
        let Some(addr) = self.addr_of.get(host) else {
            return Err(format!("unknown ping host {host}"));
        };
        self.seq = self.seq.wrapping_add(1);
        let packet = echo_request(self.ident, self.seq);
        let dest = SockaddrIn::from(SocketAddrV4::new(*addr, 0));
        match socket::sendto(fd.as_raw_fd(), &packet, &dest, MsgFlags::MSG_DONTWAIT) {
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => Ok(()),
            Err(e) => Err(format!("ping {host}: {e}")),
        }
    }

    /// Drains the socket; returns the hosts that answered.
    pub fn receive(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(fd) = &self.sock else {
            return out;
        };
        let mut buf = [0u8; 1500];
        for _ in 0..256 {
            match socket::recvfrom::<SockaddrIn>(fd.as_raw_fd(), &mut buf) {
                Ok((n, Some(from))) => {
                    let ours = reply_ident(&buf[..n], self.raw)
                        .is_some_and(|id| !self.raw || id == self.ident);
                    if ours && let Some(hosts) = self.hosts_at.get(&from.ip()) {
                        out.extend(hosts.iter().cloned());
                    }
                }
                Ok((_, None)) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_packet() {
        // Echo request id 1 seq 1 without payload: checksum 0xf7fd.
        let p = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(&p), 0xf7fd);
        let r = echo_request(1, 1);
        assert_eq!(checksum(&r), 0, "a packet with its checksum sums to zero");
    }

    #[test]
    fn reply_parsing() {
        let mut reply = echo_request(0x1234, 9);
        reply[0] = ECHO_REPLY;
        assert_eq!(reply_ident(&reply, false), Some(0x1234));
        let mut with_ip = vec![0x45u8];
        with_ip.extend_from_slice(&[0; 19]);
        with_ip.extend_from_slice(&reply);
        assert_eq!(reply_ident(&with_ip, true), Some(0x1234));
        assert_eq!(reply_ident(&echo_request(1, 1), false), None);
        assert_eq!(reply_ident(&[], true), None);
    }

    #[test]
    fn loopback_answers() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: raw ICMP needs root");
            return;
        }
        let mut poll = mio::Poll::new().unwrap();
        let (mut p, notes) = Pinger::new(&["127.0.0.1".to_string()], Token(2));
        assert!(notes.is_empty(), "{notes:?}");
        p.register(poll.registry()).unwrap();
        p.send("127.0.0.1").unwrap();
        let mut events = mio::Events::with_capacity(4);
        let mut got = Vec::new();
        for _ in 0..100 {
            poll.poll(&mut events, Some(std::time::Duration::from_millis(20)))
                .unwrap();
            got.extend(p.receive());
            if !got.is_empty() {
                break;
            }
        }
        assert_eq!(got, vec!["127.0.0.1".to_string()]);
        assert!(p.send("192.0.2.77").is_err(), "not configured");
    }
}
