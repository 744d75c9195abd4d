//! Pure decisions drawn from ping reachability: the built-in ipfail (spec §8.2, done inside the
//! daemon) and the split-brain guard.
//!
//! ipfail compares how many ping nodes each node reaches (`mine`, `theirs`, a group counting
//! once) while both are alive:
//! - fewer than the peer and holding resources: hand them all to the peer (`hb_standby all`),
//!   as soon as the peer's count is proven newer than our loss (see below), or else once the
//!   difference has lasted `confirm` (a keepalive and [`CONFIRM_MARGIN`]);
//! - more than the peer and the peer holds resources: take them (`hb_takeover all`), but only
//!   after `take_grace` (longer than `confirm`), so that normally the weaker node moves first
//!   and the two never start the standby protocol against each other; the grace also covers a
//!   peer without ipfail;
//! - equal: nothing, except that with `auto_failback on` a node holding foreign resources gives
//!   them back (the original ipfail does the same once connectivity is even again);
//! - after any move, nothing for `holddown`, so an upstream that flaps cannot bounce the
//!   resources back and forth faster than that.
//!
//! ## Why a hand-over waits, and when it need not
//!
//! When an upstream both nodes share fails, each notices `deadping` after its own last answer,
//! so one may notice up to a keepalive before the other. Meanwhile the slower node still reports
//! the old, higher count, and moving the resources to it would only move them to a node about to
//! lose too. Without more information the weaker node therefore waits `confirm` (a keepalive
//! plus [`CONFIRM_MARGIN`]): by then the other's count has dropped too if the failure is shared.
//!
//! The peer tells more: with its count, the age `a` of the stalest answer among the ping nodes it
//! counts (`pingage`). A heartbeat received at our time `R` thus says every counted node
//! answered the peer at or after `R - a` (transit only makes `R` later than the sending). We
//! know `S`, when we sent the first echo that went unanswered (the latest such time over our
//! dead nodes): the failure happened before that echo's round trip ended. If
//! `R - a > S + PROOF_MARGIN`, the peer's answers crossed the network after our loss, so the
//! element we lost still carried the peer's traffic: the failure is ours alone, and we hand over
//! at once. [`PROOF_MARGIN`] covers what would make `R - a` look later than the truth or the
//! failure later than `S`: the heartbeat's transit, one echo round trip each side, and the time
//! a busy event loop takes to read a packet it has received (all well under a millisecond on a
//! LAN, tens of ms on a loaded machine). In a shared failure the peer's last answer came before
//! our first unanswered echo's round trip ended, so `R - a` stays below `S + PROOF_MARGIN` and
//! only the fixed wait applies, as before. Two separate failures further apart than the margin
//! (our uplink, then the peer's) look like ours alone: the resources go to the peer, and stay
//! there once its count drops too (equal counts move nothing; `auto_failback on` returns them
//! after the hold-down).
//!
//! How fast the proof comes, with pings every keepalive `K` (they leave with each heartbeat) and
//! `deadping ≥ 2K + PROOF_MARGIN`: our last answer came at `L`, our first unanswered echo left
//! at `S ≈ L + K`, we declare the loss at `D = L + deadping`. The peer's heartbeats leave every
//! `K`, each with an age of about `K` (its own echo leaves just after the heartbeat and is
//! answered before the next one), so the heartbeat sent at `t` gives `R - a ≈ t - K`. The proof
//! needs `t > S + K + PROOF_MARGIN ≈ L + 2K + PROOF_MARGIN`, and one of the peer's heartbeats
//! leaves within `K` after that: by `L + 3K + PROOF_MARGIN ≤ D + K`. The hand-over thus starts at
//! most one keepalive after our detection, and since `L` precedes the cut, the resources move
//! within `deadping + K + transit + script time` of it. With a shorter `deadping`, a peer that
//! sends no age (Heartbeat 3.0.6 and its ipfail, older versions) or stale ages, the fixed wait
//! still bounds the hand-over at `deadping + K + CONFIRM_MARGIN + scripts`.
//!
//! The stronger node's `take_grace` (three keepalives and 500 ms after it sees our lower count)
//! is unchanged: our count goes out the moment we detect the loss, and our hand-over starts at
//! most `K + CONFIRM_MARGIN` later, early proof or not, so the weaker node still moves first.
//!
//! The guard: when the peer is dead, a node that reaches none of its configured ping nodes is
//! cut off from everyone. Such a node must not take over (the peer may well be alive and
//! serving), and if it holds resources it releases them (it serves nobody anyway). As soon as one
//! ping node answers, it behaves as the original again. With no ping node configured the guard
//! never acts.

use crate::config::model::Millis;

/// Beyond one keepalive, what a hand-over without proof waits for the peer's count: the two
/// nodes notice a shared failure less than a keepalive apart and each says so at once (a
/// heartbeat on every count change), so this only covers transit and processing.
pub const CONFIRM_MARGIN: Millis = 100;

/// How much later than our first unanswered echo the peer's stalest counted answer must be to
/// prove its count newer than our loss: heartbeat transit + an echo round trip on each side +
/// event-loop latency on a loaded machine (see the module documentation). Small against a
/// keepalive, so it rarely delays the proof by a heartbeat.
pub const PROOF_MARGIN: Millis = 50;

/// True when the peer's count, whose stalest answer dates from `peer_answers_since` (our
/// clock), is proven newer than our loss, which began with the echo sent at `loss_began`.
pub fn count_postdates_loss(
    peer_answers_since: Option<Millis>,
    loss_began: Option<Millis>,
) -> bool {
    match (peer_answers_since, loss_began) {
        (Some(answers), Some(loss)) => answers > loss.saturating_add(PROOF_MARGIN),
        _ => false,
    }
}

/// What ipfail sees at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpfailView {
    pub now: Millis,
    /// Ping nodes we reach; `None` until every ping node has answered or been declared dead.
    pub mine: Option<usize>,
    /// Ping nodes the live peer reports; `None` if the peer is dead or has not told us.
    pub theirs: Option<usize>,
    /// The peer's count is proven newer than our loss ([`count_postdates_loss`]): a hand-over
    /// need not wait `confirm`.
    pub theirs_postdates_loss: bool,
    /// We hold at least one resource group.
    pub we_hold_any: bool,
    /// We hold at least one group whose preferred owner is the peer.
    pub we_hold_foreign: bool,
    /// The peer holds at least one resource group.
    pub peer_holds_any: bool,
    /// No resource transition or standby exchange is in progress on either side.
    pub stable: bool,
    /// `auto_failback on`.
    pub auto_failback: bool,
}

/// A move ipfail asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Give every group to the peer (`hb_standby all`).
    HandOver,
    /// Ask the peer for every group (`hb_takeover all`).
    TakeOver,
    /// Give the peer's own groups back (`hb_standby foreign`).
    ReturnForeign,
}

/// The outcome of one evaluation, with the words to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    Stay,
    /// Something would be done, but not yet (`until` is when to look again, if known).
    Wait { until: Option<Millis>, why: String },
    /// Do this move now; `why` is logged.
    Act { action: Move, why: String },
}

/// The built-in ipfail with its memory of past moves.
#[derive(Debug, Clone)]
pub struct Ipfail {
    holddown: Millis,
    confirm: Millis,
    take_grace: Millis,
    last_move: Option<Millis>,
    /// The move wanted and since when (reset when the wish changes).
    wanted_since: Option<(Move, Millis)>,
}

impl Ipfail {
    /// `holddown` is `ipfail_holddown`; `confirm` how long a difference must last before a
    /// hand-over; `take_grace` how long the stronger node leaves the weaker one to hand over by
    /// itself (see [`Ipfail::for_keepalive`]).
    pub fn new(holddown: Millis, confirm: Millis, take_grace: Millis) -> Self {
        Ipfail {
            holddown,
            confirm,
            take_grace,
            last_move: None,
            wanted_since: None,
        }
    }

    /// The delays for a keepalive: confirm after one keepalive plus [`CONFIRM_MARGIN`] (the
    /// counts of both nodes have crossed by then), take over after three keepalives plus 500 ms.
    pub fn for_keepalive(holddown: Millis, keepalive: Millis) -> Self {
        Self::new(holddown, keepalive + CONFIRM_MARGIN, 3 * keepalive + 500)
    }

    /// When the last move was decided, if any.
    pub fn last_move(&self) -> Option<Millis> {
        self.last_move
    }

    /// Records a move that happened outside ipfail's decision (e.g. the peer's ipfail asked us
    /// to give up), so the hold-down covers it too.
    pub fn note_move(&mut self, now: Millis) {
        self.last_move = Some(now);
        self.wanted_since = None;
    }

    /// Evaluates the rules; call on every count or ownership change and at `Wait::until`.
    pub fn decide(&mut self, v: IpfailView) -> Decision {
        let (Some(mine), Some(theirs)) = (v.mine, v.theirs) else {
            self.wanted_since = None;
            return Decision::Stay;
        };
        let wanted = if mine < theirs && v.we_hold_any {
            Some(Move::HandOver)
        } else if mine > theirs && v.peer_holds_any {
            Some(Move::TakeOver)
        } else if mine == theirs && v.auto_failback && v.we_hold_foreign {
            Some(Move::ReturnForeign)
        } else {
            None
        };
        let Some(action) = wanted else {
            self.wanted_since = None;
            return Decision::Stay;
        };
        let counts = format!("we reach {mine} ping node(s), the peer reaches {theirs}");
        if !v.stable {
            self.wanted_since = None;
            return Decision::Wait {
                until: None,
                why: format!("ipfail: {counts}; waiting for resources to settle"),
            };
        }
        if let Some(last) = self.last_move {
            let until = last + self.holddown;
            if v.now < until {
                // The delays below count from the end of the hold-down, so the weaker node
                // still moves first when both hold-downs end together.
                self.wanted_since = None;
                return Decision::Wait {
                    until: Some(until),
                    why: format!(
                        "ipfail: {counts}; holding still for {} ms after the last move",
                        until - v.now
                    ),
                };
            }
        }
        if self.wanted_since.map(|(m, _)| m) != Some(action) {
            self.wanted_since = Some((action, v.now));
        }
        let since = self.wanted_since.map_or(v.now, |(_, t)| t);
        let (grace, waiting) = match action {
            Move::HandOver if v.theirs_postdates_loss => (0, ""),
            Move::HandOver => (self.confirm, "making sure the difference lasts"),
            Move::TakeOver => (self.take_grace, "giving the peer time to hand over"),
            Move::ReturnForeign => (0, ""),
        };
        if v.now < since + grace {
            return Decision::Wait {
                until: Some(since + grace),
                why: format!("ipfail: {counts}; {waiting}"),
            };
        }
        self.note_move(v.now);
        let why = match action {
            Move::HandOver if v.theirs_postdates_loss => format!(
                "ipfail: {counts} (its count is newer than our loss): giving our resources to the peer"
            ),
            Move::HandOver => format!("ipfail: {counts}: giving our resources to the peer"),
            Move::TakeOver => format!("ipfail: {counts}: taking the resources over"),
            Move::ReturnForeign => {
                format!("ipfail: {counts}: giving the peer's resources back (auto_failback on)")
            }
        };
        Decision::Act { action, why }
    }
}

/// What the split-brain guard says about the current situation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Behave as the original.
    Allow,
    /// Do not take over the peer's resources; `why` is logged.
    RefuseTakeover { why: String },
    /// Release the resources we hold; `why` is logged.
    Release { why: String },
}

/// The guard's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardView {
    /// Configured ping nodes (a group counts once).
    pub configured: usize,
    /// Ping nodes answering now.
    pub reachable: usize,
    /// Every configured ping node has been declared dead (not merely unheard since start).
    pub all_dead: bool,
    /// The peer is alive.
    pub peer_alive: bool,
    /// We hold at least one resource group.
    pub we_hold_any: bool,
}

/// The split-brain guard (see the module documentation).
pub fn guard(v: GuardView) -> Guard {
    if v.configured == 0 || v.peer_alive || v.reachable > 0 {
        return Guard::Allow;
    }
    if v.we_hold_any && v.all_dead {
        return Guard::Release {
            why: format!(
                "peer is dead and none of our {} ping node(s) answers: we are cut off, \
                 releasing our resources",
                v.configured
            ),
        };
    }
    Guard::RefuseTakeover {
        why: format!(
            "peer is dead but none of our {} ping node(s) answers: not taking over \
             (we may be the one cut off); will take over as soon as one answers",
            v.configured
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Millis = 90_000;
    const CONFIRM: Millis = 1_250;
    const GRACE: Millis = 3_000;

    fn view(now: Millis, mine: usize, theirs: usize) -> IpfailView {
        IpfailView {
            now,
            mine: Some(mine),
            theirs: Some(theirs),
            theirs_postdates_loss: false,
            we_hold_any: true,
            we_hold_foreign: false,
            peer_holds_any: true,
            stable: true,
            auto_failback: false,
        }
    }

    fn acted(d: &Decision) -> Option<Move> {
        match d {
            Decision::Act { action, .. } => Some(*action),
            _ => None,
        }
    }

    #[test]
    fn fewer_than_peer_hands_over_once_confirmed() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        assert!(matches!(
            ip.decide(view(1000, 0, 1)),
            Decision::Wait {
                until: Some(2250),
                ..
            }
        ));
        assert!(matches!(ip.decide(view(2249, 0, 1)), Decision::Wait { .. }));
        assert_eq!(acted(&ip.decide(view(2250, 0, 1))), Some(Move::HandOver));
        assert_eq!(ip.last_move(), Some(2250));
    }

    #[test]
    fn shared_upstream_failure_seen_a_keepalive_apart_moves_nothing() {
        // Both lose the same gateway; we notice first, the peer's count follows within the
        // confirmation delay: nothing moves.
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        assert!(matches!(ip.decide(view(1000, 0, 1)), Decision::Wait { .. }));
        assert_eq!(ip.decide(view(2100, 0, 0)), Decision::Stay);
        assert_eq!(ip.decide(view(5000, 0, 0)), Decision::Stay);
        assert_eq!(ip.last_move(), None);
    }

    #[test]
    fn proven_newer_count_hands_over_at_once() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        // Unproven first: wait.
        assert!(matches!(ip.decide(view(1000, 0, 1)), Decision::Wait { .. }));
        // The proof arrives before the confirmation delay ends.
        let proven = IpfailView {
            theirs_postdates_loss: true,
            ..view(1600, 0, 1)
        };
        match ip.decide(proven) {
            Decision::Act { action, why } => {
                assert_eq!(action, Move::HandOver);
                assert!(why.contains("newer than our loss"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ip.last_move(), Some(1600));
    }

    #[test]
    fn proof_does_not_skip_holddown_or_settling() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        ip.note_move(0);
        let proven = IpfailView {
            theirs_postdates_loss: true,
            ..view(1000, 0, 1)
        };
        assert!(matches!(ip.decide(proven), Decision::Wait { .. }));
        let unsettled = IpfailView {
            stable: false,
            now: HOLD + 1,
            ..proven
        };
        assert!(matches!(ip.decide(unsettled), Decision::Wait { .. }));
        assert_eq!(
            acted(&ip.decide(IpfailView {
                now: HOLD + 2,
                ..proven
            })),
            Some(Move::HandOver)
        );
        // A proof never makes the stronger node take over sooner.
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let stronger = IpfailView {
            theirs_postdates_loss: true,
            ..view(1000, 2, 1)
        };
        assert!(matches!(ip.decide(stronger), Decision::Wait { .. }));
    }

    #[test]
    fn proof_needs_answers_later_than_the_loss_by_the_margin() {
        assert!(!count_postdates_loss(None, Some(1000)));
        assert!(!count_postdates_loss(Some(5000), None));
        assert!(!count_postdates_loss(Some(1000 + PROOF_MARGIN), Some(1000)));
        assert!(count_postdates_loss(Some(1001 + PROOF_MARGIN), Some(1000)));
        assert!(!count_postdates_loss(Some(900), Some(1000)));
        assert!(!count_postdates_loss(Some(Millis::MAX), Some(Millis::MAX)));
    }

    #[test]
    fn for_keepalive_orders_the_delays() {
        let ip = Ipfail::for_keepalive(HOLD, 1000);
        assert!(ip.confirm > 1000 && ip.take_grace > ip.confirm + 1000);
        let fast = Ipfail::for_keepalive(HOLD, 100);
        assert!(fast.take_grace > fast.confirm);
    }

    #[test]
    fn fewer_but_holding_nothing_stays() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let v = IpfailView {
            we_hold_any: false,
            ..view(1000, 0, 2)
        };
        assert_eq!(ip.decide(v), Decision::Stay);
    }

    #[test]
    fn more_than_peer_takes_over_after_grace() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        assert!(matches!(
            ip.decide(view(1000, 2, 1)),
            Decision::Wait {
                until: Some(4000),
                ..
            }
        ));
        assert!(matches!(ip.decide(view(3999, 2, 1)), Decision::Wait { .. }));
        assert_eq!(acted(&ip.decide(view(4000, 2, 1))), Some(Move::TakeOver));
    }

    #[test]
    fn more_but_peer_holds_nothing_stays() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let v = IpfailView {
            peer_holds_any: false,
            ..view(1000, 1, 0)
        };
        assert_eq!(ip.decide(v), Decision::Stay);
    }

    #[test]
    fn advantage_that_vanishes_restarts_the_grace() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        ip.decide(view(1000, 1, 0));
        assert_eq!(ip.decide(view(2000, 1, 1)), Decision::Stay);
        assert!(matches!(
            ip.decide(view(4500, 1, 0)),
            Decision::Wait {
                until: Some(7500),
                ..
            }
        ));
    }

    #[test]
    fn equal_counts_change_nothing() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        for n in 0..3 {
            assert_eq!(ip.decide(view(1000 + n as u64, n, n)), Decision::Stay);
        }
        // Not even with foreign resources when auto_failback is off.
        let v = IpfailView {
            we_hold_foreign: true,
            ..view(5000, 1, 1)
        };
        assert_eq!(ip.decide(v), Decision::Stay);
    }

    #[test]
    fn equal_with_auto_failback_returns_foreign() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let v = IpfailView {
            we_hold_foreign: true,
            auto_failback: true,
            ..view(5000, 1, 1)
        };
        assert_eq!(acted(&ip.decide(v)), Some(Move::ReturnForeign));
    }

    #[test]
    fn unknown_counts_change_nothing() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let unsettled = IpfailView {
            mine: None,
            ..view(1000, 0, 1)
        };
        assert_eq!(ip.decide(unsettled), Decision::Stay);
        let peer_silent = IpfailView {
            theirs: None,
            ..view(1000, 0, 1)
        };
        assert_eq!(ip.decide(peer_silent), Decision::Stay);
    }

    #[test]
    fn transition_in_progress_waits() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let v = IpfailView {
            stable: false,
            ..view(1000, 0, 1)
        };
        assert!(matches!(ip.decide(v), Decision::Wait { until: None, .. }));
        assert_eq!(ip.last_move(), None);
    }

    #[test]
    fn holddown_blocks_a_second_move() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        ip.decide(view(0, 0, 1));
        assert_eq!(acted(&ip.decide(view(1250, 0, 1))), Some(Move::HandOver));
        // The peer's link now fails: it would want everything back at once.
        let back = IpfailView {
            we_hold_any: false,
            peer_holds_any: true,
            ..view(2000, 1, 0)
        };
        assert!(matches!(
            ip.decide(back),
            Decision::Wait {
                until: Some(91_250),
                ..
            }
        ));
        // Hold-down over, then the take-over grace (counted from its end), then the move.
        assert!(matches!(
            ip.decide(IpfailView {
                now: 91_250,
                ..back
            }),
            Decision::Wait {
                until: Some(94_250),
                ..
            }
        ));
        assert_eq!(
            acted(&ip.decide(IpfailView {
                now: 94_250,
                ..back
            })),
            Some(Move::TakeOver)
        );
    }

    #[test]
    fn moves_noted_from_outside_start_the_holddown() {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        ip.note_move(500);
        assert!(matches!(
            ip.decide(view(1000, 0, 1)),
            Decision::Wait {
                until: Some(90_500),
                ..
            }
        ));
    }

    /// Simulates node A's ipfail while A's upstream flaps every `period` ms for ten minutes; the
    /// peer always reaches its single ping node. Resources start on A. Returns the move times.
    fn flapping(period: Millis, auto_failback: bool) -> Vec<(Millis, Move)> {
        let mut ip = Ipfail::new(HOLD, CONFIRM, GRACE);
        let mut a_holds = true;
        let mut moves = Vec::new();
        for now in (0..600_000).step_by(250) {
            let mine = usize::from((now / period) % 2 == 1);
            let v = IpfailView {
                now,
                mine: Some(mine),
                theirs: Some(1),
                theirs_postdates_loss: false,
                we_hold_any: a_holds,
                // A is the preferred owner of everything: after a hand-over A holds nothing
                // foreign, and the peer holds A's groups.
                we_hold_foreign: false,
                peer_holds_any: !a_holds,
                stable: true,
                auto_failback,
            };
            if let Decision::Act { action, .. } = ip.decide(v) {
                moves.push((now, action));
                a_holds = matches!(action, Move::TakeOver);
            }
        }
        moves
    }

    #[test]
    fn flapping_upstream_moves_once_and_never_back() {
        // A counts 0/1 alternately; B always 1: A is never stronger, so after the one hand-over
        // nothing moves back however fast the link flaps.
        for period in [7_000, 45_000, 200_000] {
            let moves = flapping(period, false);
            assert_eq!(moves.len(), 1, "period {period}: {moves:?}");
            assert_eq!(moves[0].1, Move::HandOver);
        }
        // Faster than the confirmation delay: nothing moves at all.
        assert_eq!(flapping(1_000, false), []);
    }

    #[test]
    fn flapping_both_ways_is_bounded_by_holddown() {
        // Both uplinks flap out of phase: A and B alternate being the stronger.
        let mut a = Ipfail::new(HOLD, CONFIRM, GRACE);
        let mut a_holds = true;
        let mut moves = Vec::new();
        for now in (0..1_800_000).step_by(250) {
            let a_up = (now / 5_000) % 2 == 0;
            let (mine, theirs) = if a_up { (1, 0) } else { (0, 1) };
            let v = IpfailView {
                now,
                mine: Some(mine),
                theirs: Some(theirs),
                theirs_postdates_loss: false,
                we_hold_any: a_holds,
                we_hold_foreign: false,
                peer_holds_any: !a_holds,
                stable: true,
                auto_failback: false,
            };
            if let Decision::Act { action, .. } = a.decide(v) {
                moves.push(now);
                a_holds = action == Move::TakeOver;
            }
        }
        assert!(!moves.is_empty());
        for pair in moves.windows(2) {
            assert!(pair[1] - pair[0] >= HOLD, "moves too close: {moves:?}");
        }
        // 30 minutes with a 90 s hold-down: at most 21 moves, versus one per flap without it.
        assert!(moves.len() <= 21, "{} moves", moves.len());
    }

    fn gview(configured: usize, reachable: usize, all_dead: bool) -> GuardView {
        GuardView {
            configured,
            reachable,
            all_dead,
            peer_alive: false,
            we_hold_any: false,
        }
    }

    #[test]
    fn guard_without_ping_nodes_is_the_original() {
        assert_eq!(guard(gview(0, 0, false)), Guard::Allow);
        assert_eq!(
            guard(GuardView {
                we_hold_any: true,
                ..gview(0, 0, false)
            }),
            Guard::Allow
        );
    }

    #[test]
    fn guard_refuses_takeover_when_cut_off() {
        assert!(matches!(
            guard(gview(2, 0, true)),
            Guard::RefuseTakeover { .. }
        ));
        // Not yet heard from any ping node since start counts as unreachable too.
        assert!(matches!(
            guard(gview(1, 0, false)),
            Guard::RefuseTakeover { .. }
        ));
    }

    #[test]
    fn guard_allows_as_soon_as_one_answers() {
        assert_eq!(guard(gview(3, 1, false)), Guard::Allow);
    }

    #[test]
    fn guard_ignores_ping_while_peer_alive() {
        let v = GuardView {
            peer_alive: true,
            we_hold_any: true,
            ..gview(1, 0, true)
        };
        assert_eq!(guard(v), Guard::Allow);
    }

    #[test]
    fn guard_releases_when_holding_and_cut_off() {
        let v = GuardView {
            we_hold_any: true,
            ..gview(1, 0, true)
        };
        assert!(matches!(guard(v), Guard::Release { .. }));
        // Before every ping node has been declared dead, only refuse.
        let early = GuardView {
            we_hold_any: true,
            ..gview(2, 0, false)
        };
        assert!(matches!(guard(early), Guard::RefuseTakeover { .. }));
    }
}
