//! Counters of dropped datagrams, per kind and per medium, for `cl_status` and the logs.
//!
//! Every drop has a [`DropReason`]; counting never allocates after a key's first use, so a
//! flood costs one short search per packet.

use std::collections::BTreeMap;

use crate::wire::DecodeError;

/// Why a datagram was dropped: the codec's reasons, then the receive path's own. The one type
/// every drop is counted under; [`DropReason::label`] is the stable word of `cl_status drops`,
/// the metrics and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Rejected by the codec (framing, fields, size, authentication).
    Decode(DecodeError),
    /// Authenticated but missing `t`, `src` or a valid `ts`, or a bad `seq` / `hg`.
    Malformed,
    /// Authenticated, from a node that is not in ha.cf.
    UnknownNode,
    /// Lower generation than the peer's current one (`attempted replay attack`).
    Replay,
    /// A seq already seen and not missing (a replay within the current generation), or a
    /// stale message from a node we hold dead.
    Old,
    /// Our own node name that is not the loop-back of what we sent.
    SpoofedSelf,
    /// Dropped by the kernel before we could read it (receive queue full, `SO_RXQ_OVFL`):
    /// never seen, so never classified.
    KernelOverflow,
}

impl DropReason {
    /// Every reason, for documentation and the test that reaches each one.
    pub const ALL: [DropReason; 14] = [
        DropReason::Decode(DecodeError::Truncated),
        DropReason::Decode(DecodeError::BadFraming),
        DropReason::Decode(DecodeError::BadField),
        DropReason::Decode(DecodeError::UnsupportedType),
        DropReason::Decode(DecodeError::TooLarge),
        DropReason::Decode(DecodeError::NoAuth),
        DropReason::Decode(DecodeError::BadAuth),
        DropReason::Decode(DecodeError::UnknownKeyIndex),
        DropReason::Malformed,
        DropReason::UnknownNode,
        DropReason::Replay,
        DropReason::Old,
        DropReason::SpoofedSelf,
        DropReason::KernelOverflow,
    ];

    /// Stable snake_case label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Decode(e) => e.kind_name(),
            DropReason::Malformed => "malformed",
            DropReason::UnknownNode => "unknown_node",
            DropReason::Replay => "replay",
            DropReason::Old => "old",
            DropReason::SpoofedSelf => "spoofed_self",
            DropReason::KernelOverflow => "kernel_overflow",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Drop counts by (kind, medium link name). A short vector searched in place: kinds and media
/// are few, and counting a packet must not allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: Vec<(DropReason, String, u64)>,
}

impl DropCounters {
    pub fn new() -> Self {
        DropCounters::default()
    }

    /// Counts one drop; returns the new count of this (kind, medium).
    pub fn record(&mut self, kind: DropReason, medium: &str) -> u64 {
        self.record_many(kind, medium, 1)
    }

    /// Counts `n` drops at once (the kernel reports its drops in batches).
    pub fn record_many(&mut self, kind: DropReason, medium: &str, n: u64) -> u64 {
        if let Some(e) = self
            .counts
            .iter_mut()
            .find(|(k, m, _)| *k == kind && m == medium)
        {
            e.2 = e.2.saturating_add(n);
            return e.2;
        }
        self.counts.push((kind, medium.to_string(), n));
        n
    }

    /// Every (kind, medium, count), sorted by kind then medium.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &str, u64)> + '_ {
        let mut v: Vec<(&'static str, &str, u64)> = self
            .counts
            .iter()
            .map(|(k, m, c)| (k.label(), m.as_str(), *c))
            .collect();
        v.sort();
        v.into_iter()
    }

    /// Totals per kind, sorted by kind.
    pub fn by_kind(&self) -> Vec<(String, u64)> {
        let mut out: BTreeMap<&str, u64> = BTreeMap::new();
        for (k, _, c) in &self.counts {
            *out.entry(k.label()).or_insert(0) += c;
        }
        out.into_iter().map(|(k, c)| (k.to_string(), c)).collect()
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, _, c)| c).sum()
    }

    /// `kind@medium` labels with counts.
    pub fn labelled(&self) -> Vec<(String, u64)> {
        self.entries()
            .map(|(k, m, c)| (format!("{k}@{m}"), c))
            .collect()
    }
}

/// Renders drop counters as `cl_status drops` prints them: one `KIND MEDIUM COUNT` line each,
/// `none` when nothing was dropped. Accepts both `kind@medium` and bare `kind` labels.
pub fn render(drops: &[(String, u64)]) -> String {
    if drops.is_empty() {
        return "none\n".to_string();
    }
    let mut out = String::new();
    for (label, count) in drops {
        let (kind, medium) = label.split_once('@').unwrap_or((label.as_str(), "-"));
        out.push_str(&format!("{kind}\t{medium}\t{count}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_AUTH: DropReason = DropReason::Decode(DecodeError::BadAuth);

    #[test]
    fn labels_are_distinct_and_stable() {
        let labels: std::collections::BTreeSet<&str> =
            DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DropReason::ALL.len());
        assert_eq!(
            DropReason::Decode(DecodeError::TooLarge).label(),
            "too_large"
        );
        assert_eq!(DropReason::SpoofedSelf.to_string(), "spoofed_self");
    }

    #[test]
    fn counts_per_kind_and_medium() {
        let mut d = DropCounters::new();
        assert_eq!(d.record(BAD_AUTH, "eth1"), 1);
        assert_eq!(d.record(BAD_AUTH, "eth1"), 2);
        d.record(BAD_AUTH, "eth0");
        d.record(DropReason::Replay, "eth0");
        assert_eq!(d.total(), 4);
        assert_eq!(
            d.by_kind(),
            vec![("bad_auth".to_string(), 3), ("replay".to_string(), 1)]
        );
        assert_eq!(
            d.labelled(),
            vec![
                ("bad_auth@eth0".to_string(), 1),
                ("bad_auth@eth1".to_string(), 2),
                ("replay@eth0".to_string(), 1)
            ]
        );
    }

    #[test]
    fn kernel_overflow_batches_are_counted_in_full() {
        let mut d = DropCounters::new();
        d.record(BAD_AUTH, "hb0");
        assert_eq!(d.record_many(DropReason::KernelOverflow, "hb0", 40), 40);
        assert_eq!(d.record_many(DropReason::KernelOverflow, "hb0", 2), 42);
        assert_eq!(d.total(), 43);
        assert_eq!(
            d.by_kind(),
            vec![
                ("bad_auth".to_string(), 1),
                ("kernel_overflow".to_string(), 42)
            ]
        );
        let view = d.labelled();
        assert_eq!(
            render(&view),
            "bad_auth\thb0\t1\nkernel_overflow\thb0\t42\n"
        );
    }

    #[test]
    fn rendering() {
        assert_eq!(render(&[]), "none\n");
        let lines = render(&[("bad_auth@eth1".into(), 7), ("replay".into(), 2)]);
        assert_eq!(lines, "bad_auth\teth1\t7\nreplay\t-\t2\n");
    }
}
