//! Per-peer receive tracking (spec §4.3, §4.4, §4.6): generation replay drop, restart and healed
//! partition detection on `status`, duplicates, gaps with the list of missing seqs, late fills
//! and the ACK trigger. Pure logic: the caller logs, sends requests and ACKs.
//!
//! Two ways to drive it: [`ReceiveWindow::observe`] takes a whole message and applies every step
//! of §4.3 at once; the step API ([`ReceiveWindow::check_generation`],
//! [`ReceiveWindow::check_seq`], [`ReceiveWindow::ack_for`], [`ReceiveWindow::forget_sequence`])
//! lets a caller that keeps liveness and status state itself (the core) run the steps in its own
//! order. Neither knows about time: when to ask for a missing seq again is the caller's business.

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

/// What a message's generation (`hg`) says about its sender (step API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationCheck {
    /// The incarnation we know.
    Same,
    /// A new incarnation, now adopted (sequence tracking reset); `known_before` tells whether an
    /// older one had been seen (`Heartbeat restart on node <x>`).
    Newer { known_before: bool },
    /// An older incarnation: a replay, not adopted.
    Older { current: u64 },
}

/// What a message's sequence number says (step API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// In order, or the first one since the window was (re)started.
    InOrder,
    /// Ahead: the `lost` seqs `last+1 ..= seq-1` are now missing.
    Gap { last: u64, lost: u64 },
    /// Ahead by more than [`MAX_GAP`]: the gap was given up and the window resynchronised.
    Resync { last: u64 },
    /// One of the missing seqs; `filled` when none remains.
    Recovered { filled: bool },
    /// The last seq again (another medium carried it too).
    Duplicate,
    /// Below the window and not missing.
    Old,
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

    /// Forgets the sequence state (last seq, missing seqs) but keeps the generation, the last
    /// status and the last ACK: a peer declared dead (spec §5.4) has its next packet taken as
    /// fresh, while a return with the same generation is still recognised as a healed partition.
    pub fn forget_sequence(&mut self) {
        self.last_seq = None;
        self.missing.clear();
    }

    /// Step API, §4.3 step 4 for any message type: classifies `hg` and adopts it when newer,
    /// which resets the sequence state. Dead-peer and status rules are left to the caller.
    pub fn check_generation(&mut self, hg: u64) -> GenerationCheck {
        match self.generation {
            Some(current) if hg < current => GenerationCheck::Older { current },
            Some(current) if hg == current => GenerationCheck::Same,
            known => {
                self.generation = Some(hg);
                self.forget_sequence();
                GenerationCheck::Newer {
                    known_before: known.is_some(),
                }
            }
        }
    }

    /// Step API, §4.3 step 5: classifies `seq` and updates the window. Past [`MAX_MISSING`]
    /// missing seqs the lowest ones are given up to make room for the new.
    pub fn check_seq(&mut self, seq: u64) -> SeqCheck {
        let Some(last) = self.last_seq else {
            self.last_seq = Some(seq);
            return SeqCheck::InOrder;
        };
        if last.checked_add(1) == Some(seq) {
            self.last_seq = Some(seq);
            SeqCheck::InOrder
        } else if seq == last {
            SeqCheck::Duplicate
        } else if seq > last {
            self.last_seq = Some(seq);
            let lost = seq - last - 1;
            if lost > MAX_GAP {
                self.missing.clear();
                return SeqCheck::Resync { last };
            }
            self.missing.extend(last + 1..seq);
            while self.missing.len() > MAX_MISSING {
                self.missing.pop_first();
            }
            SeqCheck::Gap { last, lost }
        } else if self.missing.remove(&seq) {
            SeqCheck::Recovered {
                filled: self.missing.is_empty(),
            }
        } else {
            SeqCheck::Old
        }
    }

    /// Step API, §4.6: the seq to acknowledge after `check_seq(seq)` returned `check`: an
    /// in-order seq matching the trigger, or the last seq once the final gap is filled; nothing
    /// while seqs are missing.
    pub fn ack_for(&self, seq: u64, check: SeqCheck) -> Option<u64> {
        if !self.missing.is_empty() {
            return None;
        }
        match check {
            SeqCheck::InOrder if seq % 10 == self.ack_trigger => Some(seq),
            SeqCheck::Recovered { filled: true } => self.last_seq,
            _ => None,
        }
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
        self.forget_sequence();
        self.last_ack = 0;
        self.last_status = None;
    }
}
