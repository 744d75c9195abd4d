//! Per-peer receive tracking (spec §4.3): generation, in-order sequence numbers, gaps to ask
//! for again, and when to acknowledge.

use std::collections::BTreeMap;

use crate::config::Millis;

/// Largest gap we try to fill; beyond it we resynchronise, as the original does.
const MAX_GAP: u64 = 250;

/// What the generation (`hg`) of a message says about its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenVerdict {
    /// The incarnation we know.
    Same,
    /// A new incarnation; `known_before` tells whether we had seen an older one.
    Newer { known_before: bool },
    /// An older incarnation: a replay.
    Older { current: u64 },
}

/// What the sequence number of a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order, or the first one.
    InOrder,
    /// Ahead of what we expected: `lost` seqs (last+1 ..= seq-1) are now missing.
    Gap { last: u64, lost: u64 },
    /// Ahead by more than we try to fill: we resynchronised on it.
    Resync { last: u64 },
    /// One of the missing ones; `filled` when no gap remains.
    Recovered { filled: bool },
    /// Already seen (another medium carried it too).
    Duplicate,
    /// Older than anything we wait for.
    Old,
}

/// Receive state for one peer.
#[derive(Debug, Clone)]
pub struct RxWindow {
    generation: Option<u64>,
    last_seq: Option<u64>,
    /// Missing seqs and when to ask for each next.
    missing: BTreeMap<u64, Millis>,
    /// We acknowledge in-order seqs with `seq % 10 == ack_trigger` (spec §4.6).
    ack_trigger: u64,
}

impl RxWindow {
    pub fn new(ack_trigger: u64) -> Self {
        RxWindow {
            generation: None,
            last_seq: None,
            missing: BTreeMap::new(),
            ack_trigger: ack_trigger % 10,
        }
    }

    /// Classifies `hg` and adopts it when newer (resetting sequence tracking).
    pub fn check_generation(&mut self, hg: u64) -> GenVerdict {
        match self.generation {
            Some(g) if hg < g => GenVerdict::Older { current: g },
            Some(g) if hg == g => GenVerdict::Same,
            known => {
                self.generation = Some(hg);
                self.forget_sequence();
                GenVerdict::Newer {
                    known_before: known.is_some(),
                }
            }
        }
    }

    /// Forgets sequence tracking (peer declared dead or restarted); the generation is kept so
    /// a return with the same generation is recognised as a healed partition.
    pub fn forget_sequence(&mut self) {
        self.last_seq = None;
        self.missing.clear();
    }

    /// Classifies a sequence number and updates the window. `first_request` is when to first
    /// ask for newly missing seqs.
    pub fn check_seq(&mut self, seq: u64, first_request: Millis) -> SeqVerdict {
        let Some(last) = self.last_seq else {
            self.last_seq = Some(seq);
            return SeqVerdict::InOrder;
        };
        if last.checked_add(1) == Some(seq) {
            self.last_seq = Some(seq);
            SeqVerdict::InOrder
        } else if seq == last {
            SeqVerdict::Duplicate
        } else if seq > last {
            self.last_seq = Some(seq);
            let lost = seq - last - 1;
            if lost > MAX_GAP {
                self.missing.clear();
                return SeqVerdict::Resync { last };
            }
            for s in last + 1..seq {
                self.missing.insert(s, first_request);
            }
            while self.missing.len() > 500 {
                self.missing.pop_first();
            }
            SeqVerdict::Gap { last, lost }
        } else if self.missing.remove(&seq).is_some() {
            SeqVerdict::Recovered {
                filled: self.missing.is_empty(),
            }
        } else {
            SeqVerdict::Old
        }
    }

    /// The seq to acknowledge after accepting `seq`, if any.
    pub fn ack_for(&self, seq: u64, verdict: &SeqVerdict) -> Option<u64> {
        if !self.missing.is_empty() {
            return None;
        }
        match verdict {
            SeqVerdict::InOrder if seq % 10 == self.ack_trigger => Some(seq),
            SeqVerdict::Recovered { filled: true } => self.last_seq,
            _ => None,
        }
    }

    /// Gives up on one missing seq (the sender answered with a NAK).
    pub fn forget_missing(&mut self, seq: u64) -> bool {
        self.missing.remove(&seq).is_some()
    }

    /// Missing seqs whose request is due at `now`; reschedules them `every` ms later.
    pub fn due_requests(&mut self, now: Millis, every: Millis) -> Vec<u64> {
        let mut due = Vec::new();
        for (seq, at) in self.missing.iter_mut() {
            if *at <= now {
                due.push(*seq);
                *at = now + every.max(1);
            }
        }
        due
    }

    /// When the next retransmission request is due.
    pub fn next_request(&self) -> Option<Millis> {
        self.missing.values().copied().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_then_recovery() {
        let mut w = RxWindow::new(3);
        assert_eq!(w.check_seq(1, 0), SeqVerdict::InOrder);
        assert_eq!(w.check_seq(4, 10), SeqVerdict::Gap { last: 1, lost: 2 });
        assert_eq!(w.due_requests(9, 250), Vec::<u64>::new());
        assert_eq!(w.due_requests(10, 250), vec![2, 3]);
        assert_eq!(w.check_seq(4, 0), SeqVerdict::Duplicate);
        assert_eq!(w.check_seq(2, 0), SeqVerdict::Recovered { filled: false });
        assert_eq!(w.check_seq(3, 0), SeqVerdict::Recovered { filled: true });
        assert_eq!(
            w.ack_for(3, &SeqVerdict::Recovered { filled: true }),
            Some(4)
        );
        assert_eq!(w.check_seq(2, 0), SeqVerdict::Old);
    }

    #[test]
    fn generation_changes() {
        let mut w = RxWindow::new(0);
        assert_eq!(
            w.check_generation(5),
            GenVerdict::Newer {
                known_before: false
            }
        );
        assert_eq!(w.check_generation(5), GenVerdict::Same);
        assert_eq!(w.check_generation(4), GenVerdict::Older { current: 5 });
        w.check_seq(7, 0);
        assert_eq!(
            w.check_generation(6),
            GenVerdict::Newer { known_before: true }
        );
        assert_eq!(w.check_seq(1, 0), SeqVerdict::InOrder);
    }

    #[test]
    fn huge_gap_resynchronises() {
        let mut w = RxWindow::new(0);
        w.check_seq(1, 0);
        assert_eq!(w.check_seq(1000, 0), SeqVerdict::Resync { last: 1 });
        assert_eq!(w.next_request(), None);
    }
}
