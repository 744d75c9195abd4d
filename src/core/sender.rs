//! Outgoing messages: the automatic fields of spec §2.1 in the original's order, the sequence
//! counter (§4.2), and the 500-message history that answers retransmission requests (§4.5).

use std::collections::VecDeque;

use super::transport;
use crate::config::{Config, Millis};
use crate::wire::Message;

/// How many sent messages are kept for retransmission (the original keeps 500).
pub const HISTORY_LEN: usize = 500;

/// One message kept for retransmission, as the exact bytes first sent.
struct Sent {
    seq: u64,
    bytes: Vec<u8>,
    last_rexmit: Option<Millis>,
}

/// What a retransmission request for one seq leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rexmit {
    /// Send these bytes again.
    Resend(Vec<u8>),
    /// Already resent moments ago.
    TooSoon,
    /// Older than the history: answer with a NAK.
    TooLow,
    /// Never sent (the requester is confused): log only.
    NotYetSent { max: u64 },
}

/// Stamps, numbers, encodes and remembers what we send.
pub struct Sender {
    next_seq: u64,
    generation: u64,
    uuid: [u8; 16],
    history: VecDeque<Sent>,
}

impl Sender {
    pub fn new(generation: u64, uuid: [u8; 16]) -> Self {
        Sender {
            next_seq: 1,
            generation,
            uuid,
            history: VecDeque::new(),
        }
    }

    /// Adds the automatic fields to `msg` (spec §1.6 order), encodes it and, for sequenced
    /// types, keeps it for retransmission. `None` if the message cannot be encoded.
    pub fn stamp_and_encode(
        &mut self,
        mut msg: Message,
        config: &Config,
        peer_uuid: Option<[u8; 16]>,
        unix_secs: u64,
        loadavg: &str,
    ) -> Option<Vec<u8>> {
        let ns = msg.msg_type().is_some_and(|t| t.starts_with("NS_"));
        if msg.get("dest").is_some() {
            msg.push_bin("destuuid", peer_uuid.unwrap_or([0; 16]));
        }
        msg.push("src", &config.local);
        msg.push_bin("srcuuid", self.uuid);
        let seq = self.next_seq;
        if !ns {
            msg.push("seq", format!("{seq:x}"));
        }
        msg.push("hg", format!("{:x}", self.generation));
        msg.push("ts", format!("{:x}", unix_secs.max(1)));
        if !ns {
            let ld = if loadavg.is_empty() { "n/a" } else { loadavg };
            msg.push("ld", ld);
        }
        let nodes =
            config.ha.nodes.len() + config.ha.ping_nodes.len() + config.ha.ping_groups.len();
        msg.push("ttl", (usize::from(config.ha.hopfudge) + nodes).to_string());
        let bytes = transport::encode(&msg, &config.keys, config.ha.msgfmt)?;
        if !ns {
            self.next_seq += 1;
            if self.history.len() >= HISTORY_LEN {
                self.history.pop_front();
            }
            self.history.push_back(Sent {
                seq,
                bytes: bytes.clone(),
                last_rexmit: None,
            });
        }
        Some(bytes)
    }

    /// The highest seq sent so far (0 before the first).
    pub fn max_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Answers a retransmission request for one seq (spec §4.5).
    pub fn rexmit(&mut self, seq: u64, now: Millis, min_gap: Millis) -> Rexmit {
        if seq > self.max_seq() {
            return Rexmit::NotYetSent {
                max: self.max_seq(),
            };
        }
        let Some(entry) = self.history.iter_mut().find(|s| s.seq == seq) else {
            return Rexmit::TooLow;
        };
        if entry
            .last_rexmit
            .is_some_and(|t| now.saturating_sub(t) < min_gap)
        {
            return Rexmit::TooSoon;
        }
        entry.last_rexmit = Some(now);
        Rexmit::Resend(entry.bytes.clone())
    }
}
