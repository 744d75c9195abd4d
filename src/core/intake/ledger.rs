//! The receive path's book of drops: counts every dropped datagram per kind and per medium and
//! decides, per kind, whether this one may be logged (a flood costs a few lines per window).

use super::drops::{DropCounters, DropReason};
use super::ratelimit::{KeyedRateLimiter, Permit};
use crate::config::Millis;

/// Log lines per kind and window.
const BURST: u32 = 5;
/// The window, in milliseconds.
const WINDOW: Millis = 10_000;
/// Distinct kinds tracked for rate limiting (kinds are a small fixed set; this is a bound).
const MAX_KINDS: usize = 64;

/// Drop counters plus per-kind log rate limiting.
#[derive(Debug, Clone)]
pub struct DropLedger {
    counters: DropCounters,
    limiter: KeyedRateLimiter<DropReason>,
}

impl Default for DropLedger {
    fn default() -> Self {
        DropLedger::new()
    }
}

impl DropLedger {
    pub fn new() -> Self {
        DropLedger {
            counters: DropCounters::new(),
            limiter: KeyedRateLimiter::new(BURST, WINDOW, MAX_KINDS),
        }
    }

    /// Counts one drop of `kind` on the medium named `link`; says whether to log it.
    pub fn record(&mut self, kind: DropReason, link: &str, now: Millis) -> Permit {
        self.counters.record(kind, link);
        self.limiter.check(&kind, now)
    }

    /// Counts `n` drops of `kind` reported at once (one event for the log limit).
    pub fn record_many(&mut self, kind: DropReason, link: &str, n: u64, now: Millis) -> Permit {
        self.counters.record_many(kind, link, n);
        self.limiter.check(&kind, now)
    }

    /// `kind@link` labels with counts, for `StatusView::drops` and `cl_status drops`.
    pub fn view(&self) -> Vec<(String, u64)> {
        self.counters.labelled()
    }

    pub fn counters(&self) -> &DropCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_everything_logs_a_little() {
        let mut l = DropLedger::new();
        let mut logged = 0;
        for i in 0..100_000u64 {
            if l.record(
                DropReason::Decode(crate::wire::DecodeError::BadAuth),
                "hb0",
                i / 50,
            )
            .allowed()
            {
                logged += 1;
            }
        }
        assert_eq!(l.counters().total(), 100_000);
        // 2 s of flood: one window.
        assert_eq!(logged, BURST);
        assert!(
            l.record(DropReason::Replay, "hb0", 2000).allowed(),
            "kinds are independent"
        );
        assert_eq!(
            l.view(),
            vec![("bad_auth@hb0".into(), 100_000), ("replay@hb0".into(), 1)]
        );
    }

    #[test]
    fn kernel_overflow_batches_count_in_full_and_log_per_report() {
        let mut l = DropLedger::new();
        let mut logged = 0;
        for i in 0..20u64 {
            if l.record_many(DropReason::KernelOverflow, "hb0", 1000, i)
                .allowed()
            {
                logged += 1;
            }
        }
        assert_eq!(logged, BURST);
        l.record_many(DropReason::KernelOverflow, "hb1", 7, 30);
        assert_eq!(
            l.view(),
            vec![
                ("kernel_overflow@hb0".into(), 20_000),
                ("kernel_overflow@hb1".into(), 7)
            ]
        );
    }
}
