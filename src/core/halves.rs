//! The two halves of the resources as the v1 protocol speaks of them (spec §6.6): a node's
//! `local` groups (haresources owner = that node) and its `foreign` groups (all others).
//! `rsc_hold` words are always relative to the node that sends them.

use super::vocab::RscSet;

/// A set of halves: none, local, foreign or all. Encoded like the original (none=0, local=1,
/// foreign=2, all=3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Halves(u8);

impl Halves {
    pub const NONE: Halves = Halves(0);
    pub const LOCAL: Halves = Halves(1);
    pub const FOREIGN: Halves = Halves(2);
    pub const ALL: Halves = Halves(3);

    /// Parses an `rsc_hold` word; `failback` reads as `foreign` (what `hb_standby failback`
    /// means). Unknown words are `None` so the caller can log them.
    pub fn from_word(word: &str) -> Option<Halves> {
        match word {
            "none" => Some(Halves::NONE),
            "local" => Some(Halves::LOCAL),
            "foreign" | "failback" => Some(Halves::FOREIGN),
            "all" => Some(Halves::ALL),
            _ => None,
        }
    }

    /// The `rsc_hold` word.
    pub fn word(self) -> &'static str {
        match self.0 & 3 {
            0 => "none",
            1 => "local",
            2 => "foreign",
            _ => "all",
        }
    }

    /// The set as the wire's typed `rsc_hold`.
    pub fn hold(self) -> crate::wire::builders::RscHold {
        use crate::wire::builders::RscHold;
        match self.0 & 3 {
            0 => RscHold::None,
            1 => RscHold::Local,
            2 => RscHold::Foreign,
            _ => RscHold::All,
        }
    }

    /// The same set seen from the other node: its local is our foreign and vice versa.
    pub fn mirror(self) -> Halves {
        Halves(((self.0 & 1) << 1) | ((self.0 & 2) >> 1))
    }

    pub fn contains(self, other: Halves) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Halves) -> Halves {
        Halves(self.0 | other.0)
    }

    pub fn minus(self, other: Halves) -> Halves {
        Halves(self.0 & !other.0)
    }

    pub fn inter(self, other: Halves) -> Halves {
        Halves(self.0 & other.0)
    }
}

impl From<RscSet> for Halves {
    fn from(set: RscSet) -> Halves {
        match set {
            RscSet::None => Halves::NONE,
            RscSet::Local => Halves::LOCAL,
            RscSet::Foreign => Halves::FOREIGN,
            RscSet::All => Halves::ALL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_swaps_local_and_foreign() {
        assert_eq!(Halves::LOCAL.mirror(), Halves::FOREIGN);
        assert_eq!(Halves::FOREIGN.mirror(), Halves::LOCAL);
        assert_eq!(Halves::ALL.mirror(), Halves::ALL);
        assert_eq!(Halves::NONE.mirror(), Halves::NONE);
    }

    #[test]
    fn words_round_trip() {
        for h in [Halves::NONE, Halves::LOCAL, Halves::FOREIGN, Halves::ALL] {
            assert_eq!(Halves::from_word(h.word()), Some(h));
        }
        assert_eq!(Halves::from_word("failback"), Some(Halves::FOREIGN));
        assert_eq!(Halves::from_word("bogus"), None);
    }
}
