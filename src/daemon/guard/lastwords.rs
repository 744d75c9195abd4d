//! The crash guard's last words: once it has released everything a dead daemon held, it tells
//! the peer so, in the daemon's name, with the same `shutdone` a graceful stop ends with. The
//! peer then takes over at once instead of waiting out its deadtime (a kill -9 or an OOM kill
//! costs a failover of a few tens of milliseconds, like `service heartbeat stop`).
//!
//! The packets are stamped as the daemon's own: its node name, UUID and generation, and seqs
//! right after the highest one it reported (`sent`), signed with the `auth` key of the
//! configuration the daemon started with. A peer that never heard that seq treats the gap as
//! lost packets; one that already saw it drops ours as a duplicate and falls back to deadtime.
//! A key changed by a later SIGHUP makes the peer count ours as `bad_auth`: same fallback.

use std::time::Duration;

use super::protocol::WireIdentity;
use crate::config::model::{AuthKeys, MsgFmt};
use crate::config::{Config, Medium};
use crate::wire::builders;
use crate::wire::sender::Sender;

/// Everything needed to speak for the daemon, copied from its configuration at fork time.
#[derive(Debug, Clone)]
pub struct LastWords {
    node: String,
    keys: AuthKeys,
    fmt: MsgFmt,
    ttl: u32,
    media: Vec<Medium>,
    udpport: u16,
}

impl LastWords {
    pub fn from_config(config: &Config) -> Self {
        LastWords {
            node: config.local.clone(),
            keys: config.keys.clone(),
            fmt: config.ha.msgfmt,
            ttl: crate::core::machine::ttl(config),
            media: config.ha.media.clone(),
            udpport: config.ha.udpport,
        }
    }

    /// The daemon's goodbye: `shutdone` (the peer takes over) and a last `status` with
    /// `st=dead`, numbered after `ident.last_seq`. A status of `dead` is what the original
    /// sends last too; peers ignore it but it keeps the numbering contiguous for them.
    pub fn packets(&self, ident: &WireIdentity, unix_secs: u64) -> Result<Vec<Vec<u8>>, String> {
        let mut sender = Sender::new(&self.node, ident.uuid, ident.generation, self.ttl, self.fmt);
        sender.continue_after(ident.last_seq);
        let mut out = Vec::new();
        for msg in [builders::shutdone(), builders::dead_status()] {
            let bytes = sender
                .stamp_and_encode(msg, unix_secs.max(1), "n/a", &self.keys)
                .map_err(|e| format!("cannot encode: {e}"))?;
            out.push(bytes);
        }
        Ok(out)
    }

    /// Sends every packet on every medium, each on a socket of its own; returns one line per
    /// medium (what was sent, or why not). Sending to a peer that is gone costs nothing.
    pub fn send(&self, packets: &[Vec<u8>]) -> Vec<String> {
        let mut report = Vec::new();
        for m in &self.media {
            let name = crate::daemon::media::describe(m);
            match crate::daemon::media::open_sender(m, self.udpport) {
                Ok((sock, dest)) => {
                    let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
                    let sent = packets
                        .iter()
                        .filter(|p| sock.send_to(p, dest).is_ok())
                        .count();
                    report.push(format!(
                        "{name}: {sent}/{} packet(s) to {dest}",
                        packets.len()
                    ));
                }
                Err(e) => report.push(format!("{name}: not sent ({e})")),
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::AuthMethod;
    use crate::wire::codec::decode_verified;

    fn words() -> LastWords {
        LastWords {
            node: "nodea".into(),
            keys: AuthKeys::single(AuthMethod::Sha1, b"secret"),
            fmt: MsgFmt::Classic,
            ttl: 4,
            media: vec![],
            udpport: 694,
        }
    }

    #[test]
    fn last_words_continue_the_daemons_numbering_and_verify_with_its_key() {
        let w = words();
        let ident = WireIdentity {
            uuid: [7; 16],
            generation: 0x1234,
            last_seq: 0x41,
        };
        let packets = w.packets(&ident, 1_700_000_000).unwrap();
        assert_eq!(packets.len(), 2);
        let want = [("shutdone", "42"), ("status", "43")];
        for (bytes, (t, seq)) in packets.iter().zip(want) {
            let msg = decode_verified(bytes, &w.keys).expect("signed with the daemon's key");
            assert_eq!(msg.get("t"), Some(t));
            assert_eq!(msg.get("st"), Some("dead"));
            assert_eq!(msg.get("src"), Some("nodea"));
            assert_eq!(msg.get("seq"), Some(seq));
            assert_eq!(msg.get("hg"), Some("1234"));
        }
    }

    #[test]
    fn a_different_key_rejects_them() {
        let w = words();
        let ident = WireIdentity {
            uuid: [7; 16],
            generation: 1,
            last_seq: 0,
        };
        let packets = w.packets(&ident, 1).unwrap();
        let other = AuthKeys::single(AuthMethod::Sha1, b"other");
        assert!(decode_verified(&packets[0], &other).is_err());
    }
}
