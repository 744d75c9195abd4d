//! Telling a second medium's late copy from a replay. With two media every message of the peer
//! arrives twice, and the copy on the slower medium can come after the next message on the
//! faster one: its seq is then below the window, exactly like a replayed packet. What tells
//! them apart is the medium: a seq already received on *another* medium and not yet on this one
//! is a copy (a duplicate, silently dropped, as spec §4.3 drops it); a seq this medium already
//! carried is a replay (counted as `old`, and reported).

use std::collections::VecDeque;

/// How many recent seqs are remembered: a copy comes within a keepalive or two.
const RECENT: usize = 64;

/// The media each recent seq of the peer arrived on.
#[derive(Debug, Clone, Default)]
pub struct RecentCopies {
    entries: VecDeque<(u64, u64)>,
}

impl RecentCopies {
    pub fn new() -> Self {
        RecentCopies::default()
    }

    fn bit(medium: usize) -> u64 {
        1u64 << (medium % 64)
    }

    /// Seq `seq` arrived on `medium` (accepted or a plain duplicate).
    pub fn note(&mut self, seq: u64, medium: usize) {
        if let Some(e) = self.entries.iter_mut().find(|(s, _)| *s == seq) {
            e.1 |= Self::bit(medium);
            return;
        }
        if self.entries.len() == RECENT {
            self.entries.pop_front();
        }
        self.entries.push_back((seq, Self::bit(medium)));
    }

    /// A recent seq that another medium delivered and this one has not yet.
    pub fn is_copy(&self, seq: u64, medium: usize) -> bool {
        self.entries
            .iter()
            .find(|(s, _)| *s == seq)
            .is_some_and(|(_, media)| media & Self::bit(medium) == 0)
    }

    /// A new incarnation of the peer starts its seqs again.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_a_recent_seq_of_another_medium_only() {
        let mut r = RecentCopies::new();
        r.note(7, 0);
        assert!(r.is_copy(7, 1), "seen on medium 0, arriving on 1: a copy");
        assert!(!r.is_copy(7, 0), "again on medium 0: a replay");
        r.note(7, 1);
        assert!(!r.is_copy(7, 1), "twice on medium 1: a replay");
        assert!(!r.is_copy(8, 1), "never seen: not a copy");
        for s in 100..(100 + RECENT as u64) {
            r.note(s, 0);
        }
        assert!(!r.is_copy(7, 2), "forgotten after {RECENT} newer seqs");
        r.clear();
        assert!(!r.is_copy(120, 1));
    }
}
