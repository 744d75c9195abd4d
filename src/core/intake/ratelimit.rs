//! Log rate limiting for hostile input. A flood of forged packets must cost a few log lines,
//! not one per packet: the first `burst` events of a window are let through, the rest are
//! counted, and the next permitted event reports how many were held back.
//!
//! Pure: time is passed in (monotonic milliseconds), so the core can use it without a clock.

use std::collections::BTreeMap;

use crate::config::Millis;

/// What the caller may do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Log it; `suppressed` events of this kind were held back since the last logged one.
    Log { suppressed: u64 },
    /// Do not log (it is counted).
    Suppress,
}

impl Permit {
    pub fn allowed(self) -> bool {
        matches!(self, Permit::Log { .. })
    }

    /// A suffix for the logged line, e.g. ` (1234 similar messages suppressed)`, or "".
    pub fn suffix(self) -> String {
        match self {
            Permit::Log { suppressed } if suppressed > 0 => {
                format!(" ({suppressed} similar messages suppressed)")
            }
            _ => String::new(),
        }
    }
}

/// At most `burst` events per `window` milliseconds.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    burst: u32,
    window: Millis,
    window_start: Option<Millis>,
    used: u32,
    suppressed: u64,
}

impl RateLimiter {
    /// `burst` 0 is taken as 1: the first event of a window is always logged.
    pub fn new(burst: u32, window: Millis) -> Self {
        RateLimiter {
            burst: burst.max(1),
            window: window.max(1),
            window_start: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// The default for drop logs: 5 lines per 10 s per kind.
    pub fn for_drops() -> Self {
        RateLimiter::new(5, 10_000)
    }

    /// Decides for one event at `now`.
    pub fn check(&mut self, now: Millis) -> Permit {
        let expired = self
            .window_start
            .is_none_or(|start| now < start || now - start >= self.window);
        if expired {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            let suppressed = std::mem::take(&mut self.suppressed);
            Permit::Log { suppressed }
        } else {
            self.suppressed += 1;
            Permit::Suppress
        }
    }

    /// Events held back and not yet reported.
    pub fn pending_suppressed(&self) -> u64 {
        self.suppressed
    }
}

/// One [`RateLimiter`] per key (drop kind, medium, node...), all with the same limits.
#[derive(Debug, Clone)]
pub struct KeyedRateLimiter<K: Ord> {
    burst: u32,
    window: Millis,
    limiters: BTreeMap<K, RateLimiter>,
    /// Keys are bounded: hostile input must not grow this map without limit.
    max_keys: usize,
}

impl<K: Ord + Clone> KeyedRateLimiter<K> {
    pub fn new(burst: u32, window: Millis, max_keys: usize) -> Self {
        KeyedRateLimiter {
            burst,
            window,
            limiters: BTreeMap::new(),
            max_keys: max_keys.max(1),
        }
    }

    /// Decides for one event of `key`. Beyond `max_keys` distinct keys, new keys share the
    /// fate of an exhausted limiter (suppressed) so the map stays bounded.
    pub fn check(&mut self, key: &K, now: Millis) -> Permit {
        if let Some(l) = self.limiters.get_mut(key) {
            return l.check(now);
        }
        if self.limiters.len() >= self.max_keys {
            return Permit::Suppress;
        }
        let mut l = RateLimiter::new(self.burst, self.window);
        let permit = l.check(now);
        self.limiters.insert(key.clone(), l);
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_suppress_then_report() {
        let mut r = RateLimiter::new(3, 1000);
        for t in 0..3 {
            assert_eq!(r.check(t), Permit::Log { suppressed: 0 });
        }
        for t in 3..100 {
            assert_eq!(r.check(t), Permit::Suppress);
        }
        assert_eq!(r.pending_suppressed(), 97);
        let p = r.check(1000);
        assert_eq!(p, Permit::Log { suppressed: 97 });
        assert_eq!(p.suffix(), " (97 similar messages suppressed)");
        assert_eq!(r.check(1001), Permit::Log { suppressed: 0 });
    }

    #[test]
    fn a_flood_logs_a_bounded_number_of_lines() {
        let mut r = RateLimiter::for_drops();
        // 50 000 events per second for 60 s, 1 ms apart in bursts of 50.
        let mut logged = 0;
        for ms in 0..60_000u64 {
            for _ in 0..50 {
                if r.check(ms).allowed() {
                    logged += 1;
                }
            }
        }
        assert_eq!(logged, 5 * 6);
    }

    #[test]
    fn clock_going_back_restarts_the_window() {
        let mut r = RateLimiter::new(1, 1000);
        assert!(r.check(5000).allowed());
        assert!(!r.check(5001).allowed());
        assert!(r.check(10).allowed());
    }

    #[test]
    fn keys_are_independent_and_bounded() {
        let mut k = KeyedRateLimiter::new(1, 1000, 2);
        assert!(k.check(&"a", 0).allowed());
        assert!(!k.check(&"a", 1).allowed());
        assert!(k.check(&"b", 1).allowed());
        assert!(!k.check(&"c", 1).allowed(), "third key over the bound");
        assert!(k.check(&"a", 1000).allowed());
    }
}
