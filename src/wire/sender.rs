//! Our side of sequencing (spec §2.1, §4.2, §4.5, §4.6): adds the automatic fields in the
//! original's order, numbers non-`NS_` messages from 1, keeps the last 500 sent packets for
//! retransmission and tracks the peer's acknowledgements.

use std::collections::{BTreeMap, VecDeque};

use super::codec::encode;
use super::error::EncodeError;
use super::message::{Message, Value};
use crate::config::model::{AuthKeys, MsgFmt};

/// Packets kept for retransmission requests (the original keeps 500).
pub const HISTORY: usize = 500;

/// Answer to one requested seq of an `NS_rexmit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RexmitAnswer {
    /// Send these bytes again (same seq, ts and auth as the first time).
    Packet(Vec<u8>),
    /// The requester already acknowledged it: nothing to do.
    AlreadyAcked,
    /// NAK with `info=seqno too low` (left the history).
    TooLow,
    /// NAK with `info=seqno not found`.
    NotFound,
    /// Above our highest sent seq: log `Rexmit of seq <n> requested. <max> is max.`, no NAK.
    AboveMax { max: u64 },
}

/// Outcome of an `NS_ackmsg` addressed to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// A new, higher acknowledgement.
    Advanced,
    /// Not above what we knew: ignored.
    Stale,
    /// Above our highest sent seq (`corrupted ackseq`).
    Corrupted,
}

/// Stamps, signs and remembers what we send.
#[derive(Debug, Clone)]
pub struct Sender {
    node: String,
    uuid: [u8; 16],
    generation: u64,
    next_seq: u64,
    ttl: u32,
    fmt: MsgFmt,
    history: VecDeque<(u64, Vec<u8>)>,
    peer_uuids: BTreeMap<String, [u8; 16]>,
    peer_acked: BTreeMap<String, u64>,
}

/// Whether `t` is a non-sequenced `NS_*` type.
pub fn is_unsequenced(msg: &Message) -> bool {
    msg.msg_type().is_some_and(|t| t.starts_with("NS_"))
}

impl Sender {
    /// `ttl` is `hopfudge` + the number of configured nodes, ping nodes included.
    pub fn new(node: &str, uuid: [u8; 16], generation: u64, ttl: u32, fmt: MsgFmt) -> Self {
        Sender {
            node: node.to_string(),
            uuid,
            generation,
            next_seq: 1,
            ttl,
            fmt,
            history: VecDeque::with_capacity(HISTORY),
            peer_uuids: BTreeMap::new(),
            peer_acked: BTreeMap::new(),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The highest seq sent so far (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Continues a numbering another process began: the next sequenced message gets
    /// `last_seq + 1` (the crash guard speaking for a daemon that died after sending `last_seq`).
    pub fn continue_after(&mut self, last_seq: u64) {
        self.next_seq = last_seq.saturating_add(1).max(1);
    }

    /// Changes the framing (SIGHUP re-read of `msgfmt`).
    pub fn set_format(&mut self, fmt: MsgFmt) {
        self.fmt = fmt;
    }

    /// Remembers a peer's UUID for the `destuuid` of messages addressed to it.
    pub fn learn_peer_uuid(&mut self, name: &str, uuid: [u8; 16]) {
        self.peer_uuids.insert(name.to_string(), uuid);
    }

    /// Adds the automatic fields (spec §1.6: `destuuid` if `dest`, `src`, `srcuuid`, `seq`,
    /// `hg`, `ts`, `ld`, `ttl`). `NS_*` messages get no `seq`/`ld` and keep fields the caller
    /// already set; others have them overwritten. Returns the seq used, if any.
    fn stamp(&self, msg: &mut Message, now_unix_secs: u64, loadavg: &str) -> Option<u64> {
        let ns = is_unsequenced(msg);
        let put = |msg: &mut Message, name: &str, value: Value| {
            if ns && msg.get_value(name).is_some() {
                return;
            }
            match msg.fields.iter_mut().find(|f| f.name == name) {
                Some(f) => f.value = value,
                None => msg.fields.push(super::message::Field {
                    name: name.to_string(),
                    value,
                }),
            }
        };
        if let Some(dest) = msg.get("dest").map(str::to_string) {
            let uuid = self.peer_uuids.get(&dest).copied().unwrap_or([0; 16]);
            put(msg, "destuuid", Value::Bin(uuid.to_vec()));
        }
        put(msg, "src", Value::Str(self.node.clone().into_bytes()));
        put(msg, "srcuuid", Value::Bin(self.uuid.to_vec()));
        let seq = (!ns).then_some(self.next_seq);
        if let Some(seq) = seq {
            put(msg, "seq", Value::Str(format!("{seq:x}").into_bytes()));
        }
        put(
            msg,
            "hg",
            Value::Str(format!("{:x}", self.generation).into_bytes()),
        );
        put(
            msg,
            "ts",
            Value::Str(format!("{now_unix_secs:x}").into_bytes()),
        );
        if !ns {
            let ld = if loadavg.is_empty() { "n/a" } else { loadavg };
            put(msg, "ld", Value::Str(ld.as_bytes().to_vec()));
        }
        put(msg, "ttl", Value::Str(self.ttl.to_string().into_bytes()));
        seq
    }

    /// Stamps, signs with the `auth N` key and frames `msg`; sequenced messages consume a seq
    /// and enter the history only when encoding succeeds.
    pub fn stamp_and_encode(
        &mut self,
        mut msg: Message,
        now_unix_secs: u64,
        loadavg: &str,
        keys: &AuthKeys,
    ) -> Result<Vec<u8>, EncodeError> {
        let seq = self.stamp(&mut msg, now_unix_secs, loadavg);
        let bytes = encode(&msg, keys, self.fmt)?;
        if let Some(seq) = seq {
            self.next_seq += 1;
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back((seq, bytes.clone()));
        }
        Ok(bytes)
    }

    /// What to do about one seq that `peer` asked us to retransmit.
    pub fn retransmit(&self, peer: &str, seq: u64) -> RexmitAnswer {
        if self.peer_acked.get(peer).is_some_and(|&a| seq <= a) {
            return RexmitAnswer::AlreadyAcked;
        }
        if seq > self.last_seq() {
            return RexmitAnswer::AboveMax {
                max: self.last_seq(),
            };
        }
        match self.history.front() {
            Some(&(low, _)) if seq < low => return RexmitAnswer::TooLow,
            None => return RexmitAnswer::TooLow,
            Some(_) => {}
        }
        match self.history.binary_search_by_key(&seq, |(s, _)| *s) {
            Ok(i) => RexmitAnswer::Packet(self.history[i].1.clone()),
            Err(_) => RexmitAnswer::NotFound,
        }
    }

    /// Records an `NS_ackmsg` from `peer` addressed to us.
    pub fn on_ack(&mut self, peer: &str, ackseq: u64) -> AckOutcome {
        if ackseq > self.last_seq() {
            return AckOutcome::Corrupted;
        }
        let known = self.peer_acked.entry(peer.to_string()).or_insert(0);
        if ackseq <= *known {
            return AckOutcome::Stale;
        }
        *known = ackseq;
        AckOutcome::Advanced
    }

    /// Sequenced messages sent and not yet acknowledged by `peer` (the original warns at 375).
    pub fn unacked(&self, peer: &str) -> u64 {
        self.last_seq() - self.peer_acked.get(peer).copied().unwrap_or(0)
    }
}
