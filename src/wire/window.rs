//! Per-peer receive tracking (spec §4.3, §4.4, §4.6): generation replay drop, restart and healed
//! partition detection on `status`, duplicates, gaps with the list of missing seqs, late fills
//! and the ACK trigger. Pure logic: the caller logs, sends requests and ACKs.

use std::collections::BTreeSet;

use super::message::Message;

/// Missing seqs remembered per peer.
pub const MAX_MISSING: usize = 500;
/// A larger gap is given up (`lost a lot of packets!`) and the window resynchronises.
pub const MAX_GAP: u64 = 250;

/// What happened to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Send `NS_ackmsg` with this `ackseq`.
    pub ack: Option<u64>,
    /// A higher generation on a status: the peer restarted (only if a generation was known).
    pub restarted: bool,
    /// Same generation from a peer marked dead: a healed partition (spec §4.3 step 4).
    pub healed_partition: bool,
    /// Seqs that just became missing: request each (`NS_rexmit`).
    pub missing: Vec<u64>,
    /// The gap exceeded 250 and was given up (`lost a lot of packets!`).
    pub gave_up_gap: bool,
    /// This message filled the last missing seq (`No pkts missing from <x>!`).
    pub all_filled: bool,
}

/// The receive verdict for one authenticated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept(Accepted),
    /// Same seq again (normal with several media): refresh the link only.
    Duplicate,
    /// Lower generation: `attempted replay attack [node]? [gen = x, curgen = y]`.
    Replay {
        generation: u64,
        curgen: u64,
    },
    /// Below the window and not missing: an old duplicate.
    Old,
    /// A status older than the last accepted one (by seq, and by ts or while dead).
    Stale,
    /// `seq` absent, not hex or zero (`bad sequence number`).
    BadSeq,
    /// `hg` not hex (`bad generation number`).
    BadGeneration,
    /// An `NS_*` message: no sequence processing applies.
    Unsequenced,
}

/// Receive state for one peer.
#[derive(Debug, Clone)]
pub struct ReceiveWindow {
    ack_trigger: u64,
    generation: Option<u64>,
    last_seq: Option<u64>,
    missing: BTreeSet<u64>,
    last_ack: u64,
    last_status: Option<(u64, u64)>,
    resync_pending: bool,
}

impl ReceiveWindow {
    /// `ack_trigger` is the per-peer random digit 0..9 the original draws at start.
    pub fn new(ack_trigger: u8) -> Self {
        ReceiveWindow {
            ack_trigger: u64::from(ack_trigger % 10),
            generation: None,
            last_seq: None,
            missing: BTreeSet::new(),
            last_ack: 0,
            last_status: None,
            resync_pending: false,
        }
    }

    /// The peer's current generation, if known.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// The highest seq accepted.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Seqs still missing, ascending.
    pub fn missing(&self) -> impl Iterator<Item = u64> + '_ {
        self.missing.iter().copied()
    }

    /// Whether `seq` is still awaited (keep requesting it).
    pub fn is_missing(&self, seq: u64) -> bool {
        self.missing.contains(&seq)
    }

    /// Forgets one missing seq after an `NS_nak_rexmit` (`Irretrievably lost packet`).
    pub fn forget_missing(&mut self, seq: u64) {
        self.missing.remove(&seq);
    }

    /// Processes one authenticated message from this peer. `peer_dead`: whether we currently
    /// consider the peer dead (for healed-partition detection).
    pub fn observe(&mut self, msg: &Message, peer_dead: bool) -> Verdict {
        let t = msg.msg_type().unwrap_or("");
        if t.starts_with("NS_") {
            return Verdict::Unsequenced;
        }
        let seq = match msg.get_hex("seq") {
            Some(s) if s > 0 => s,
            _ => return Verdict::BadSeq,
        };
        let generation = match msg.get_value("hg") {
            None => 0,
            Some(_) => match msg.get_hex("hg") {
                Some(g) => g,
                None => return Verdict::BadGeneration,
            },
        };
        let ts = msg.get_hex("ts").unwrap_or(0);
        let is_status = t == "status";
        let mut acc = Accepted::default();

        let curgen = self.generation.unwrap_or(0);
        if generation < curgen {
            return Verdict::Replay { generation, curgen };
        }
        if is_status {
            if generation == curgen && generation > 0 && peer_dead {
                if self.last_status.is_some_and(|(s, _)| seq <= s) {
                    return Verdict::Stale;
                }
                acc.healed_partition = true;
                self.resync_pending = true;
            } else if generation > curgen {
                acc.restarted = self.generation.is_some();
                self.reset();
                self.resync_pending = true;
            }
            self.generation = Some(generation);
            if let Some((last_seq, last_ts)) = self.last_status
                && ts < last_ts
                && seq < last_seq
            {
                return Verdict::Stale;
            }
        }

        match self.last_seq {
            None => self.accept_in_order(seq, &mut acc),
            Some(last) if last.checked_add(1) == Some(seq) => self.accept_in_order(seq, &mut acc),
            Some(last) if seq == last => return Verdict::Duplicate,
            Some(last) if seq > last => {
                let gap = seq - last - 1;
                if gap > MAX_GAP {
                    acc.gave_up_gap = true;
                    self.missing.clear();
                    self.last_seq = Some(seq);
                } else {
                    for s in last + 1..seq {
                        if self.missing.len() >= MAX_MISSING {
                            break;
                        }
                        self.missing.insert(s);
                        acc.missing.push(s);
                    }
                    self.last_seq = Some(seq);
                }
            }
            Some(_) => {
                if self.missing.remove(&seq) {
                    acc.all_filled = self.missing.is_empty();
                    acc.ack = self.ack_after_fill();
                } else if is_status && self.resync_pending {
                    self.missing.clear();
                    self.last_seq = Some(seq);
                } else {
                    return Verdict::Old;
                }
            }
        }
        if is_status {
            self.resync_pending = false;
            self.last_status = Some((seq, ts));
        }
        Verdict::Accept(acc)
    }

    fn accept_in_order(&mut self, seq: u64, acc: &mut Accepted) {
        self.last_seq = Some(seq);
        if self.missing.is_empty() && seq % 10 == self.ack_trigger && seq > self.last_ack {
            self.last_ack = seq;
            acc.ack = Some(seq);
        }
    }

    /// After a fill: the highest seq up to the contiguous point that matches the trigger.
    fn ack_after_fill(&mut self) -> Option<u64> {
        let contiguous = match self.missing.first() {
            Some(&m) => m - 1,
            None => self.last_seq?,
        };
        let back = (contiguous % 10 + 10 - self.ack_trigger) % 10;
        let candidate = contiguous.checked_sub(back).filter(|&s| s > 0)?;
        if candidate > self.last_ack {
            self.last_ack = candidate;
            Some(candidate)
        } else {
            None
        }
    }

    fn reset(&mut self) {
        self.last_seq = None;
        self.missing.clear();
        self.last_ack = 0;
        self.last_status = None;
    }
}
