//! The I/O half of ping nodes for the daemon: sends the echo requests the core asks for
//! (`Output::SendPing`) and turns genuine replies into `Input::PingReply`.
//!
//! A reply counts only if it carries our identifier, a sequence number we sent to that very
//! address and have not seen answered yet (so duplicates and replays are dropped), and a payload
//! that authenticates with our keys and names a ping node the host belongs to.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, ToSocketAddrs};

use crate::config::model::{AuthKeys, Millis, MsgFmt};

use super::socket::{IcmpSocket, Received};
use crate::core::ping::tracker::PingNodeSpec;
use crate::wire::icmp::{ping_payload, verify_ping_payload};

/// How many unanswered echoes are remembered; older ones are forgotten (their replies dropped).
const OUTSTANDING_MAX: usize = 1024;
/// Datagrams read per readiness event, so a flood cannot starve the loop.
const READS_PER_WAKE: usize = 256;

/// One host to ping.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    addr: Option<Ipv4Addr>,
    /// The ping node names this host answers for (a `ping` and/or `ping_group`s).
    nodes: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    seq: u16,
    target: usize,
    sent: Millis,
}

/// Why an echo could not be sent.
#[derive(Debug)]
pub enum SendError {
    /// The host is not a configured ping host.
    UnknownHost,
    /// The host name did not resolve to an IPv4 address at start-up.
    Unresolved,
    /// The payload could not be signed (no send key).
    Encode(crate::wire::EncodeError),
    Io(io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::UnknownHost => f.write_str("not a configured ping host"),
            SendError::Unresolved => f.write_str("host name did not resolve to IPv4"),
            SendError::Encode(e) => write!(f, "cannot sign ping payload: {e}"),
            SendError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Counters of dropped ICMP traffic, for the status command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingDrops {
    pub malformed: u64,
    pub unexpected: u64,
    pub bad_payload: u64,
}

/// Sends echo requests and matches replies.
#[derive(Debug)]
pub struct Pinger {
    socket: IcmpSocket,
    targets: Vec<Target>,
    keys: AuthKeys,
    fmt: MsgFmt,
    next_seq: u16,
    outstanding: VecDeque<Outstanding>,
    max_age: Millis,
    drops: PingDrops,
    buf: Vec<u8>,
}

/// Resolves a ping host as written in ha.cf: a dotted quad, or a name (blocking lookup, done
/// once at start-up).
pub fn resolve(host: &str) -> Option<Ipv4Addr> {
    if let Ok(addr) = host.parse() {
        return Some(addr);
    }
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
        std::net::SocketAddr::V6(_) => None,
    })
}

impl Pinger {
    /// Builds the targets of `specs` on an open socket. Replies older than `max_age` (use
    /// `deadping`) are no longer accepted.
    pub fn new(
        socket: IcmpSocket,
        specs: &[PingNodeSpec],
        keys: AuthKeys,
        fmt: MsgFmt,
        max_age: Millis,
    ) -> Self {
        let mut targets: Vec<Target> = Vec::new();
        for spec in specs {
            for host in &spec.hosts {
                match targets.iter_mut().find(|t| &t.host == host) {
                    Some(t) => t.nodes.push(spec.name.clone()),
                    None => targets.push(Target {
                        host: host.clone(),
                        addr: resolve(host),
                        nodes: vec![spec.name.clone()],
                    }),
                }
            }
        }
        Pinger {
            socket,
            targets,
            keys,
            fmt,
            next_seq: 0,
            outstanding: VecDeque::new(),
            max_age,
            drops: PingDrops::default(),
            buf: vec![0; 65_536],
        }
    }

    /// Hosts that did not resolve (the caller logs them once).
    pub fn unresolved(&self) -> impl Iterator<Item = &str> {
        self.targets
            .iter()
            .filter(|t| t.addr.is_none())
            .map(|t| t.host.as_str())
    }

    pub fn socket(&self) -> &IcmpSocket {
        &self.socket
    }

    /// The socket, to register with mio.
    pub fn socket_mut(&mut self) -> &mut IcmpSocket {
        &mut self.socket
    }

    pub fn drops(&self) -> PingDrops {
        self.drops
    }

    /// Sends one echo request to `host`; `ts_secs` goes into the payload's `ts`.
    pub fn send(&mut self, host: &str, ts_secs: u64, now: Millis) -> Result<(), SendError> {
        let index = self
            .targets
            .iter()
            .position(|t| t.host == host)
            .ok_or(SendError::UnknownHost)?;
        let target = &self.targets[index];
        let addr = target.addr.ok_or(SendError::Unresolved)?;
        let node = target.nodes.first().ok_or(SendError::UnknownHost)?;
        let payload =
            ping_payload(node, ts_secs, &self.keys, self.fmt).map_err(SendError::Encode)?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.socket
            .send_echo(addr, seq, &payload)
            .map_err(SendError::Io)?;
        if self.outstanding.len() >= OUTSTANDING_MAX {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(Outstanding {
            seq,
            target: index,
            sent: now,
        });
        Ok(())
    }

    /// Reads what is waiting on the socket and returns the hosts that genuinely answered.
    pub fn receive(&mut self, now: Millis) -> Vec<String> {
        self.forget_older_than(now);
        let mut answered = Vec::new();
        for _ in 0..READS_PER_WAKE {
            let got = match self.socket.receive(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            };
            match got {
                Received::Reply { from, echo } => {
                    if let Some(host) = self.match_reply(from, echo.seq, &echo.payload) {
                        answered.push(host);
                    }
                }
                Received::Other => {}
                Received::Malformed(_) => self.drops.malformed += 1,
            }
        }
        answered
    }

    fn forget_older_than(&mut self, now: Millis) {
        while let Some(o) = self.outstanding.front() {
            if now.saturating_sub(o.sent) > self.max_age {
                self.outstanding.pop_front();
            } else {
                break;
            }
        }
    }

    /// The host a reply proves alive, if it is one of ours; consumes the outstanding echo.
    fn match_reply(&mut self, from: Ipv4Addr, seq: u16, payload: &[u8]) -> Option<String> {
        let Some(pos) = self.outstanding.iter().position(|o| {
            o.seq == seq && self.targets.get(o.target).and_then(|t| t.addr) == Some(from)
        }) else {
            self.drops.unexpected += 1;
            return None;
        };
        let target = self.targets.get(self.outstanding.get(pos)?.target)?;
        match verify_ping_payload(payload, &self.keys) {
            Ok(src) if target.nodes.contains(&src) => {
                let host = target.host.clone();
                self.outstanding.remove(pos);
                Some(host)
            }
            _ => {
                self.drops.bad_payload += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{AuthKey, AuthMethod};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn keys() -> AuthKeys {
        let mut keys = BTreeMap::new();
        keys.insert(
            2,
            AuthKey {
                method: AuthMethod::Md5,
                secret: b"pingtest".to_vec(),
            },
        );
        AuthKeys {
            send_index: 2,
            keys,
        }
    }

    fn spec(name: &str, hosts: &[&str], group: bool) -> PingNodeSpec {
        PingNodeSpec {
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            group,
        }
    }

    #[test]
    fn resolves_dotted_quads_without_lookup() {
        assert_eq!(resolve("192.0.2.254"), Some(Ipv4Addr::new(192, 0, 2, 254)));
        assert_eq!(resolve("localhost"), Some(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn loopback_reply_is_matched_once() {
        let Ok(socket) = IcmpSocket::open() else {
            eprintln!("no ICMP socket available; skipping");
            return;
        };
        let mut pinger = Pinger::new(
            socket,
            &[spec("lo-group", &["127.0.0.1"], true)],
            keys(),
            MsgFmt::Netstring,
            10_000,
        );
        assert!(matches!(
            pinger.send("203.0.113.1", 1, 0),
            Err(SendError::UnknownHost)
        ));
        pinger.send("127.0.0.1", 0x6000_0000, 0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut answered = Vec::new();
        while answered.is_empty() && Instant::now() < deadline {
            answered = pinger.receive(1);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(answered, ["127.0.0.1"]);
        // The same sequence number again (a duplicate or a replay) is not accepted.
        // (Other tests' loopback echoes may land on this raw socket too: no exact counters.)
        assert_eq!(pinger.match_reply(Ipv4Addr::LOCALHOST, 0, b"x"), None);
    }

    #[test]
    fn forged_payload_is_refused() {
        let Ok(socket) = IcmpSocket::open() else {
            return;
        };
        let mut pinger = Pinger::new(
            socket,
            &[spec("127.0.0.1", &["127.0.0.1"], false)],
            keys(),
            MsgFmt::Classic,
            10_000,
        );
        pinger.outstanding.push_back(Outstanding {
            seq: 9,
            target: 0,
            sent: 0,
        });
        // Right sequence and address, but a payload not signed with our key.
        let mut other = keys();
        if let Some(k) = other.keys.get_mut(&2) {
            k.secret = b"intruder".to_vec();
        }
        let forged = ping_payload("127.0.0.1", 1, &other, MsgFmt::Classic).unwrap();
        assert_eq!(pinger.match_reply(Ipv4Addr::LOCALHOST, 9, &forged), None);
        assert_eq!(pinger.drops().bad_payload, 1);
        // Signed by us but naming another ping node.
        let wrong = ping_payload("gw", 1, &keys(), MsgFmt::Classic).unwrap();
        assert_eq!(pinger.match_reply(Ipv4Addr::LOCALHOST, 9, &wrong), None);
        // From another address.
        let good = ping_payload("127.0.0.1", 1, &keys(), MsgFmt::Classic).unwrap();
        assert_eq!(
            pinger.match_reply(Ipv4Addr::new(127, 0, 0, 2), 9, &good),
            None
        );
        assert_eq!(pinger.drops().unexpected, 1);
        // The genuine one, once.
        assert_eq!(
            pinger.match_reply(Ipv4Addr::LOCALHOST, 9, &good),
            Some("127.0.0.1".into())
        );
        assert_eq!(pinger.match_reply(Ipv4Addr::LOCALHOST, 9, &good), None);
    }

    #[test]
    fn stale_echoes_are_forgotten() {
        let Ok(socket) = IcmpSocket::open() else {
            return;
        };
        let mut pinger = Pinger::new(
            socket,
            &[spec("127.0.0.1", &["127.0.0.1"], false)],
            keys(),
            MsgFmt::Classic,
            5_000,
        );
        pinger.outstanding.push_back(Outstanding {
            seq: 1,
            target: 0,
            sent: 1_000,
        });
        pinger.forget_older_than(6_001);
        let good = ping_payload("127.0.0.1", 1, &keys(), MsgFmt::Classic).unwrap();
        assert_eq!(pinger.match_reply(Ipv4Addr::LOCALHOST, 1, &good), None);
    }
}
