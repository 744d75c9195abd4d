//! Telling the loop-back of our own packets from packets that only claim our name.
//!
//! A node receives its own broadcasts (and its own copy of a shared `ucast` line): the
//! original treats them as duplicates that refresh its own link. A packet with our name that we
//! did not just send is something else: a second machine configured with our node name, a
//! replay of an older incarnation, or a replay of a packet we sent earlier. The receiver cannot
//! see where a packet came from in a useful way (bcast loop-backs arrive from our own address,
//! forged ones can claim it too), so the decision rests on what only we know: our UUID, our
//! generation, the highest seq we sent, and which seqs each medium already looped back.

use std::collections::BTreeSet;

use crate::wire::repr::{Header, Hg};

/// Retransmitted seqs remembered for their loop-back (bounded like the send history).
const MAX_PENDING_REXMIT: usize = 500;

/// Why a packet carrying our name is not our own loop-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoofReason {
    /// `srcuuid` differs from ours: another machine uses our node name.
    OtherUuid,
    /// Generation absent or not ours: an older incarnation (replay) or another machine.
    OtherGeneration,
    /// A seq we have not sent yet.
    FutureSeq,
    /// A seq this medium already looped back: a replay of our own packet.
    ReplayedSeq,
    /// A sequenced type without a valid seq.
    NoSeq,
}

impl SpoofReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SpoofReason::OtherUuid => "other uuid",
            SpoofReason::OtherGeneration => "other generation",
            SpoofReason::FutureSeq => "seq not sent yet",
            SpoofReason::ReplayedSeq => "seq already looped back",
            SpoofReason::NoSeq => "no seq",
        }
    }
}

/// The verdict on one packet whose `src` is our node name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfVerdict {
    /// Our own packet looping back: refresh our own link, nothing else.
    Loopback,
    /// Drop and count as `spoofed_self`.
    Spoofed(SpoofReason),
}

/// Per-medium loop-back tracking.
#[derive(Debug, Clone)]
pub struct SelfEcho {
    last_looped: Vec<u64>,
    pending_rexmit: BTreeSet<(usize, u64)>,
}

impl SelfEcho {
    pub fn new(media: usize) -> Self {
        SelfEcho {
            last_looped: vec![0; media],
            pending_rexmit: BTreeSet::new(),
        }
    }

    /// We retransmitted `seq` on every medium: each may loop it back once more.
    pub fn note_retransmit(&mut self, seq: u64) {
        for m in 0..self.last_looped.len() {
            if self.pending_rexmit.len() >= MAX_PENDING_REXMIT {
                self.pending_rexmit.pop_first();
            }
            self.pending_rexmit.insert((m, seq));
        }
    }

    /// Classifies a message (already authenticated, `src` == our name) that arrived on `medium`.
    pub fn classify(
        &mut self,
        medium: usize,
        msg: &Header,
        our_uuid: &[u8; 16],
        our_generation: u64,
        our_last_seq: u64,
    ) -> SelfVerdict {
        if let Some(uuid) = msg.srcuuid
            && uuid.iter().any(|b| *b != 0)
            && uuid != our_uuid.as_slice()
        {
            return SelfVerdict::Spoofed(SpoofReason::OtherUuid);
        }
        if msg.hg != Hg::Value(our_generation) {
            return SelfVerdict::Spoofed(SpoofReason::OtherGeneration);
        }
        if msg.t.starts_with("NS_") {
            return SelfVerdict::Loopback;
        }
        let Some(seq) = msg.seq.filter(|s| *s > 0) else {
            return SelfVerdict::Spoofed(SpoofReason::NoSeq);
        };
        if seq > our_last_seq {
            return SelfVerdict::Spoofed(SpoofReason::FutureSeq);
        }
        if medium >= self.last_looped.len() {
            self.last_looped.resize(medium + 1, 0);
        }
        if seq > self.last_looped[medium] {
            self.last_looped[medium] = seq;
            return SelfVerdict::Loopback;
        }
        if self.pending_rexmit.remove(&(medium, seq)) {
            return SelfVerdict::Loopback;
        }
        SelfVerdict::Spoofed(SpoofReason::ReplayedSeq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    /// Classifies a whole message, as the receive path does.
    fn classify(
        e: &mut SelfEcho,
        m: usize,
        msg: &Message,
        u: &[u8; 16],
        g: u64,
        last: u64,
    ) -> SelfVerdict {
        e.classify(m, &Header::parse(msg).unwrap(), u, g, last)
    }

    const UUID: [u8; 16] = [7; 16];

    fn own(seq: Option<u64>, hg: u64, uuid: [u8; 16]) -> Message {
        let mut m = Message::new("status");
        m.push("src", "alpha");
        m.push_bin("srcuuid", uuid);
        if let Some(s) = seq {
            m.push("seq", format!("{s:x}"));
        }
        m.push("hg", format!("{hg:x}"));
        m
    }

    #[test]
    fn loopbacks_in_order_per_medium() {
        let mut e = SelfEcho::new(2);
        for seq in 1..=5 {
            assert_eq!(
                classify(&mut e, 0, &own(Some(seq), 9, UUID), &UUID, 9, 5),
                SelfVerdict::Loopback
            );
            assert_eq!(
                classify(&mut e, 1, &own(Some(seq), 9, UUID), &UUID, 9, 5),
                SelfVerdict::Loopback
            );
        }
        // A lost loop-back does not matter.
        assert_eq!(
            classify(&mut e, 0, &own(Some(7), 9, UUID), &UUID, 9, 7),
            SelfVerdict::Loopback
        );
    }

    #[test]
    fn replays_and_impostors_are_spoofed() {
        let mut e = SelfEcho::new(1);
        assert_eq!(
            classify(&mut e, 0, &own(Some(3), 9, UUID), &UUID, 9, 3),
            SelfVerdict::Loopback
        );
        let cases = [
            (own(Some(3), 9, UUID), SpoofReason::ReplayedSeq),
            (own(Some(2), 9, UUID), SpoofReason::ReplayedSeq),
            (own(Some(4), 9, UUID), SpoofReason::FutureSeq),
            (own(Some(3), 8, UUID), SpoofReason::OtherGeneration),
            (own(Some(3), 9, [1; 16]), SpoofReason::OtherUuid),
            (own(None, 9, UUID), SpoofReason::NoSeq),
        ];
        for (msg, reason) in cases {
            assert_eq!(
                classify(&mut e, 0, &msg, &UUID, 9, 3),
                SelfVerdict::Spoofed(reason),
                "{msg:?}"
            );
        }
    }

    #[test]
    fn a_retransmission_loops_back_once_per_medium() {
        let mut e = SelfEcho::new(2);
        for m in 0..2 {
            assert_eq!(
                classify(&mut e, m, &own(Some(10), 9, UUID), &UUID, 9, 10),
                SelfVerdict::Loopback
            );
        }
        e.note_retransmit(4);
        for m in 0..2 {
            assert_eq!(
                classify(&mut e, m, &own(Some(4), 9, UUID), &UUID, 9, 10),
                SelfVerdict::Loopback
            );
            assert_eq!(
                classify(&mut e, m, &own(Some(4), 9, UUID), &UUID, 9, 10),
                SelfVerdict::Spoofed(SpoofReason::ReplayedSeq)
            );
        }
    }

    #[test]
    fn unsequenced_own_messages_need_our_generation() {
        let mut e = SelfEcho::new(1);
        let mut ack = Message::new("NS_ackmsg");
        ack.push("src", "alpha");
        ack.push("hg", "9");
        assert_eq!(
            classify(&mut e, 0, &ack, &UUID, 9, 0),
            SelfVerdict::Loopback
        );
        assert_eq!(
            classify(&mut e, 0, &ack, &UUID, 10, 0),
            SelfVerdict::Spoofed(SpoofReason::OtherGeneration)
        );
    }
}
