//! ICMP echo for ping nodes and ping groups (spec §8.1) in the mio loop: a thin adapter over
//! [`crate::daemon::ping::pinger::Pinger`], which builds authenticated echo payloads, matches replies by
//! identifier, sequence, source address and payload, and uses a datagram ICMP socket where the
//! kernel allows it and a raw one otherwise. Host names are resolved when the set is built
//! (start or reload), never in the loop.

pub mod pinger;
pub mod socket;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mio::{Interest, Registry, Token};

use crate::config::{Config, Millis};
use crate::core::Severity;
use crate::core::ping::tracker::specs_from;
use crate::daemon::ping::socket::{IcmpSocket, SocketKind};

/// Every ping host of the running configuration.
pub struct Pinger {
    inner: Option<pinger::Pinger>,
    token: Token,
    registered: bool,
    origin: Instant,
}

impl Pinger {
    /// Resolves the hosts and opens the socket (only when there are ping nodes).
    pub fn new(config: &Config, token: Token) -> (Pinger, Vec<(Severity, String)>) {
        let mut notes = Vec::new();
        let specs = specs_from(&config.ha);
        let inner = if specs.is_empty() {
            None
        } else {
            match IcmpSocket::open() {
                Ok(socket) => {
                    let kind = match socket.kind() {
                        SocketKind::Datagram => "datagram",
                        SocketKind::Raw => "raw",
                    };
                    notes.push((
                        Severity::Debug,
                        format!("ping: {kind} ICMP socket, identifier {}", socket.ident()),
                    ));
                    let p = pinger::Pinger::new(
                        socket,
                        &specs,
                        config.keys.clone(),
                        config.ha.msgfmt,
                        config.ha.deadping,
                    );
                    for h in p.unresolved() {
                        notes.push((Severity::Error, format!("ping: cannot resolve {h}")));
                    }
                    Some(p)
                }
                Err(e) => {
                    notes.push((
                        Severity::Error,
                        format!("ping: cannot open an ICMP socket: {e}"),
                    ));
                    None
                }
            }
        };
        (
            Pinger {
                inner,
                token,
                registered: false,
                origin: Instant::now(),
            },
            notes,
        )
    }

    pub fn register(&mut self, registry: &Registry) -> std::io::Result<()> {
        if let Some(p) = &mut self.inner {
            registry.register(p.socket_mut(), self.token, Interest::READABLE)?;
            self.registered = true;
        }
        Ok(())
    }

    pub fn deregister(&mut self, registry: &Registry) {
        if self.registered
            && let Some(p) = &mut self.inner
        {
            let _ = registry.deregister(p.socket_mut());
            self.registered = false;
        }
    }

    pub fn token(&self) -> Token {
        self.token
    }

    fn now_ms(&self) -> Millis {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(Millis::MAX)
    }

    /// Sends one echo request to `host`; a failure is returned for logging.
    pub fn send(&mut self, host: &str) -> Result<(), String> {
        let now = self.now_ms();
        let Some(p) = &mut self.inner else {
            return Err("no ICMP socket".to_string());
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1);
        p.send(host, ts, now)
            .map_err(|e| format!("ping {host}: {e}"))
    }

    /// Drains the socket; returns the hosts that genuinely answered.
    pub fn receive(&mut self) -> Vec<String> {
        let now = self.now_ms();
        match &mut self.inner {
            Some(p) => p.receive(now),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_answers_through_the_adapter() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: raw ICMP needs root");
            return;
        }
        let mut diags = crate::config::Diagnostics::default();
        let ha = crate::config::hacf::parse_with_port(
            "node a b\nping 127.0.0.1\n",
            std::path::Path::new("ha.cf"),
            "a",
            694,
            &mut diags,
        );
        let mut keys = std::collections::BTreeMap::new();
        keys.insert(
            1,
            crate::config::model::AuthKey {
                method: crate::config::model::AuthMethod::Sha1,
                secret: b"adapter".to_vec(),
            },
        );
        let config = Config {
            ha_dir: "/etc/ha.d".into(),
            ha,
            keys: crate::config::model::AuthKeys {
                send_index: 1,
                keys,
            },
            groups: Vec::new(),
            local: "a".into(),
            peer: "b".into(),
        };
        let mut poll = mio::Poll::new().unwrap();
        let (mut p, notes) = Pinger::new(&config, Token(2));
        assert!(
            notes.iter().all(|(s, _)| *s == Severity::Debug),
            "{notes:?}"
        );
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
