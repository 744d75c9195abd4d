//! Ping nodes, built-in ipfail and the split-brain guard, in simulation (issue 7). Each rule of
//! the issue is one named test. The simulator answers a node's echo to a host 2 ms later when
//! that host is in the node's `ping_reach` (its uplink works).

mod sim;

use heartbeat::config::{AutoFailback, Config, Millis};
use heartbeat::core::ping::policy::{CONFIRM_MARGIN, PROOF_MARGIN};
use heartbeat::core::{NodeStatus, NodeType};
use heartbeat::wire::Message;
use sim::{Params, Sim};

const GW: &str = "192.0.2.254";
const KEEPALIVE: Millis = 1000;
const DEADPING: Millis = 4000;
const HOLDDOWN: Millis = 60_000;
/// Start and stop of a two-resource group in the simulator (200 + 100 ms each) plus margin.
const SCRIPTS: Millis = 2 * (200 + 100) + 500;
/// The simulator's worst heartbeat transit, echo round trip, and the tracker's 1 ms past
/// deadping.
const TRANSIT: Millis = 5;
const ECHO_RTT: Millis = 2;
const PAST_DEADPING: Millis = 1;
/// The shortest `deadping` for which the early proof comes within a keepalive of detection.
const TIGHT_DEADPING: Millis = 2 * KEEPALIVE + PROOF_MARGIN;
/// The log line of ipfail's hand-over decision.
const HANDING_OVER: &str = "giving our resources to the peer";

fn params(ipfail: bool) -> Params {
    Params {
        ping_nodes: vec![GW.to_string()],
        ipfail,
        ipfail_holddown: HOLDDOWN,
        deadping: Some(DEADPING),
        ..Params::default()
    }
}

fn reach(s: &mut Sim, i: usize, up: bool) {
    if up {
        s.ping_reach[i].insert(GW.to_string());
    } else {
        s.ping_reach[i].remove(GW);
    }
}

/// Both nodes up, both reaching the gateway, each holding its own group.
fn steady(p: Params, seed: u64) -> Sim {
    let mut s = Sim::new(p, seed);
    reach(&mut s, 0, true);
    reach(&mut s, 1, true);
    s.start(0);
    s.start(1);
    s.run_for(40_000);
    assert_eq!(s.holders(0), [0], "{}", s.logs(0));
    assert_eq!(s.holders(1), [1], "{}", s.logs(1));
    s
}

fn ping_view(s: &Sim, i: usize) -> heartbeat::core::NodeView {
    s.nodes[i]
        .core()
        .status_view()
        .nodes
        .into_iter()
        .find(|n| n.name == GW)
        .expect("ping node in the view")
}

fn no_violations(s: &Sim) {
    assert!(
        s.violations.is_empty(),
        "{:?}\n--- alpha\n{}\n--- beta\n{}",
        s.violations,
        s.logs(0),
        s.logs(1)
    );
}

#[test]
fn ping_node_is_ping_while_answering_and_dead_after_deadping() {
    let mut s = steady(params(false), 1);
    let v = ping_view(&s, 0);
    assert_eq!(v.node_type, NodeType::Ping);
    assert_eq!(v.status, NodeStatus::Ping);
    assert_eq!(v.links, [(GW.to_string(), true)]);
    reach(&mut s, 0, false);
    let cut = s.now;
    let dead = s
        .run_until_pred(DEADPING + 2 * KEEPALIVE, |s| {
            ping_view(s, 0).status == NodeStatus::Dead
        })
        .expect("declared dead");
    // Dead after deadping without an answer (the last answer came up to a keepalive earlier).
    assert!(
        dead - cut > DEADPING - KEEPALIVE,
        "dead after {} ms",
        dead - cut
    );
    assert!(s.nodes[0].log_contains(&format!("node {GW}: is dead")));
    assert!(s.nodes[0].log_contains(&format!("Link {GW}:{GW} dead.")));
    assert_eq!(ping_view(&s, 0).links, [(GW.to_string(), false)]);
    assert_eq!(
        ping_view(&s, 1).status,
        NodeStatus::Ping,
        "beta still reaches it"
    );
    reach(&mut s, 0, true);
    s.run_for(2 * KEEPALIVE);
    assert_eq!(ping_view(&s, 0).status, NodeStatus::Ping);
    assert!(s.nodes[0].log_contains(&format!("Link {GW}:{GW} up.")));
    assert!(s.nodes[0].log_contains(&format!("Status update for node {GW}: status ping")));
    // No ipfail: nothing moved.
    assert_eq!(s.holders(0), [0]);
    no_violations(&s);
}

#[test]
fn ping_group_is_up_while_any_member_answers() {
    let p = Params {
        ping_groups: vec![(
            "uplinks".to_string(),
            vec!["198.51.100.1".to_string(), "198.51.100.2".to_string()],
        )],
        deadping: Some(DEADPING),
        ..Params::default()
    };
    let mut s = Sim::new(p, 2);
    s.ping_reach[0].insert("198.51.100.1".to_string());
    s.ping_reach[0].insert("198.51.100.2".to_string());
    s.start(0);
    s.start(1);
    s.run_for(30_000);
    let group = |s: &Sim| {
        s.nodes[0]
            .core()
            .status_view()
            .nodes
            .into_iter()
            .find(|n| n.name == "uplinks")
            .expect("group in view")
    };
    assert_eq!(group(&s).status, NodeStatus::Ping);
    s.ping_reach[0].remove("198.51.100.1");
    s.run_for(3 * DEADPING);
    assert_eq!(
        group(&s).status,
        NodeStatus::Ping,
        "one member still answers"
    );
    s.ping_reach[0].remove("198.51.100.2");
    s.run_for(DEADPING + 2 * KEEPALIVE);
    assert_eq!(group(&s).status, NodeStatus::Dead);
    assert!(s.nodes[0].log_contains("node uplinks: is dead"));
}

#[test]
fn ipfail_node_reaching_fewer_hands_its_groups_to_the_peer() {
    let mut s = steady(params(true), 3);
    reach(&mut s, 0, false);
    let cut = s.now;
    let moved = s
        .run_until_pred(DEADPING + KEEPALIVE + SCRIPTS + 5_000, |s| {
            s.holders(0) == [1] && s.holders(1) == [1]
        })
        .unwrap_or_else(|| panic!("not moved\n{}\n---\n{}", s.logs(0), s.logs(1)));
    // deadping + at most one keepalive (the peer's count proven newer than our loss) + the
    // standby exchange and scripts.
    assert!(
        moved - cut <= DEADPING + KEEPALIVE + TRANSIT + ECHO_RTT + PAST_DEADPING + SCRIPTS,
        "moved after {} ms",
        moved - cut
    );
    assert!(s.nodes[0].log_contains("ipfail: we reach 0 ping node(s), the peer reaches 1"));
    no_violations(&s);
}

#[test]
fn ipfail_node_reaching_more_takes_over_from_a_peer_that_does_not_move() {
    // Only beta runs ipfail: alpha (no ipfail, like a peer without it) never hands over, so
    // beta, reaching more, asks for everything with hb_takeover.
    let mut s = Sim::new(params(true), 4);
    s.config_hook = Some(|i: usize, c: &mut Config| c.ha.ipfail = i == 1);
    reach(&mut s, 0, true);
    reach(&mut s, 1, true);
    s.start(0);
    s.start(1);
    s.run_for(40_000);
    assert_eq!(s.holders(0), [0]);
    reach(&mut s, 0, false);
    let moved = s.run_until_pred(
        DEADPING + 3 * KEEPALIVE + 3 * KEEPALIVE + SCRIPTS + 5000,
        |s| s.holders(0) == [1] && s.holders(1) == [1],
    );
    assert!(moved.is_some(), "{}\n---\n{}", s.logs(0), s.logs(1));
    assert!(s.nodes[1].log_contains("ipfail: we reach 1 ping node(s), the peer reaches 0"));
    assert!(s.nodes[1].log_contains("Asking alpha to go standby: takeover ["));
    no_violations(&s);
}

#[test]
fn ipfail_equal_counts_change_nothing() {
    // Both lose the shared gateway: 0 against 0, even when one notices up to almost a
    // keepalive before the other.
    for (seed, lag) in [(5, 0), (51, 300), (52, 900), (53, 990)] {
        let mut s = steady(params(true), seed);
        reach(&mut s, 0, false);
        s.run_for(lag);
        reach(&mut s, 1, false);
        s.run_for(DEADPING + 30_000);
        assert_eq!(s.holders(0), [0], "lag {lag}\n{}", s.logs(0));
        assert_eq!(s.holders(1), [1], "lag {lag}\n{}", s.logs(1));
        assert!(!s.nodes[0].log_contains("Going standby"));
        assert!(!s.nodes[1].log_contains("Going standby"));
        no_violations(&s);
    }
}

#[test]
fn ipfail_off_never_moves_resources() {
    let mut s = steady(params(false), 6);
    reach(&mut s, 0, false);
    s.run_for(DEADPING + 30_000);
    assert_eq!(s.holders(0), [0]);
    assert!(!s.nodes[0].log_contains("ipfail"));
    no_violations(&s);
}

#[test]
fn ipfail_even_again_returns_foreign_groups_after_holddown_with_auto_failback_on() {
    let mut s = steady(params(true), 7);
    reach(&mut s, 0, false);
    s.run_for(DEADPING + 10_000);
    assert_eq!(s.holders(0), [1]);
    let moved_at = s.nodes[0]
        .first_log("ipfail: we reach 0")
        .expect("first move logged");
    reach(&mut s, 0, true);
    let back = s
        .run_until_pred(HOLDDOWN + 20_000, |s| s.holders(0) == [0])
        .unwrap_or_else(|| panic!("not returned\n{}", s.logs(1)));
    assert!(
        back >= moved_at + HOLDDOWN,
        "returned {} ms after the first move",
        back - moved_at
    );
    assert!(s.nodes[1].log_contains("giving the peer's resources back"));
    no_violations(&s);
}

#[test]
fn ipfail_even_again_keeps_groups_where_they_are_with_auto_failback_off() {
    let p = Params {
        auto_failback: AutoFailback::Off,
        ..params(true)
    };
    let mut s = steady(p, 8);
    reach(&mut s, 0, false);
    s.run_for(DEADPING + 10_000);
    assert_eq!(s.holders(0), [1]);
    reach(&mut s, 0, true);
    s.run_for(HOLDDOWN + 30_000);
    assert_eq!(s.holders(0), [1]);
    no_violations(&s);
}

/// Who holds group 0 every 250 ms for `ms`, while `flap` sets alpha's uplink from the time.
fn moves_while_flapping(s: &mut Sim, ms: Millis, flap: impl Fn(Millis) -> bool) -> Vec<Millis> {
    let start = s.now;
    let mut holder = s.holders(0);
    let mut moves = Vec::new();
    while s.now < start + ms {
        let up = flap(s.now - start);
        reach(s, 0, up);
        s.run_for(250);
        let h = s.holders(0);
        if h != holder && !h.is_empty() {
            moves.push(s.now);
            holder = h;
        }
    }
    moves
}

#[test]
fn ipfail_flapping_upstream_moves_once_without_ping_pong() {
    let p = Params {
        auto_failback: AutoFailback::Off,
        ..params(true)
    };
    let mut s = steady(p, 9);
    // Alpha's uplink flaps: 6 s down, 6 s up, for five minutes.
    let moves = moves_while_flapping(&mut s, 300_000, |t| (t / 6000) % 2 == 1);
    assert_eq!(moves.len(), 1, "moves at {moves:?}\n{}", s.logs(0));
    assert_eq!(s.holders(0), [1]);
    no_violations(&s);
}

#[test]
fn ipfail_flapping_with_auto_failback_moves_at_most_once_per_holddown() {
    let mut s = steady(params(true), 10);
    let moves = moves_while_flapping(&mut s, 300_000, |t| (t / 6000) % 2 == 1);
    assert!(!moves.is_empty());
    for w in moves.windows(2) {
        assert!(
            w[1] - w[0] >= HOLDDOWN - SCRIPTS,
            "moves too close: {moves:?}\n{}\n---\n{}",
            s.logs(0),
            s.logs(1)
        );
    }
    // Without the hold-down a 12 s flap period would move the group ~50 times.
    assert!(moves.len() <= 300_000 / HOLDDOWN as usize + 1, "{moves:?}");
    no_violations(&s);
}

#[test]
fn guard_node_cut_off_from_peer_and_ping_nodes_does_not_take_over_and_releases() {
    let mut s = steady(params(false), 11);
    // Heartbeat link and alpha's uplink cut together.
    s.partition(true);
    reach(&mut s, 0, false);
    let cut = s.now;
    s.run_for(30_000);
    // Beta reaches the gateway: it takes alpha's group.
    assert_eq!(s.holders(0), [1], "{}", s.logs(1));
    assert_eq!(s.holders(1), [1]);
    // Alpha reaches nothing: it does not take beta's group and gave up its own.
    assert!(!s.nodes[0].touches(1), "{}", s.logs(0));
    assert!(!s.nodes[0].touches(0), "{}", s.logs(0));
    assert!(
        s.nodes[0].log_contains("Split-brain guard"),
        "{}",
        s.logs(0)
    );
    assert!(s.nodes[0].log_contains("not taking over"));
    // Alpha never started beta's group at any time after the cut.
    assert!(
        !s.nodes[0]
            .script_runs
            .iter()
            .any(|(t, g, _, op)| *t > cut && *g == 1 && *op == heartbeat::core::ScriptOp::Start),
        "{}",
        s.logs(0)
    );
}

#[test]
fn guard_takes_over_as_soon_as_a_ping_node_answers_again() {
    let mut s = steady(params(false), 12);
    reach(&mut s, 0, false);
    s.kill(1);
    s.run_for(30_000);
    assert!(!s.nodes[0].touches(1), "{}", s.logs(0));
    assert!(s.nodes[0].log_contains("not taking over"));
    reach(&mut s, 0, true);
    let back = s.now;
    let took = s
        .run_until_pred(2 * KEEPALIVE + SCRIPTS + 1000, |s| {
            s.nodes[0].holds(0) && s.nodes[0].holds(1)
        })
        .unwrap_or_else(|| panic!("{}", s.logs(0)));
    assert!(took - back <= KEEPALIVE + 10 + SCRIPTS + 1000);
    assert!(s.nodes[0].log_contains("a ping node answers again: taking over"));
}

#[test]
fn guard_is_inactive_without_ping_nodes() {
    // The original's behaviour: both sides of a partition take everything.
    let mut s = Sim::new(Params::default(), 13);
    s.start(0);
    s.start(1);
    s.run_for(40_000);
    s.partition(true);
    s.run_for(30_000);
    assert!(s.nodes[0].holds(0) && s.nodes[0].holds(1), "{}", s.logs(0));
    assert!(s.nodes[1].holds(0) && s.nodes[1].holds(1), "{}", s.logs(1));
    assert!(!s.nodes[0].log_contains("Split-brain guard"));
}

#[test]
fn guard_peer_dead_while_we_reach_a_ping_node_takes_over_normally() {
    let mut s = steady(params(false), 14);
    s.kill(1);
    s.run_for(20_000);
    assert!(s.nodes[0].holds(0) && s.nodes[0].holds(1), "{}", s.logs(0));
    assert!(!s.nodes[0].log_contains("Split-brain guard"));
}

#[test]
fn guard_at_start_alone_and_cut_off_waits_for_a_ping_node() {
    let mut s = Sim::new(params(false), 15);
    s.start(0);
    s.run_for(40_000);
    assert!(
        !s.nodes[0].touches(0) && !s.nodes[0].touches(1),
        "{}",
        s.logs(0)
    );
    reach(&mut s, 0, true);
    s.run_for(3 * KEEPALIVE + SCRIPTS);
    assert!(s.nodes[0].holds(0) && s.nodes[0].holds(1), "{}", s.logs(0));
}

#[test]
fn guard_at_start_alone_reaching_a_ping_node_takes_over_at_initdead() {
    // The first echo leaves with the first heartbeat and is answered long before initdead, so
    // the guard, which applies from the first moment, costs a lone node nothing at start.
    let p = params(false);
    let initdead = p.initdead;
    let mut s = Sim::new(p, 17);
    reach(&mut s, 0, true);
    s.start(0);
    let took = s
        .run_until_pred(initdead + KEEPALIVE + SCRIPTS, |s| {
            s.nodes[0].holds(0) && s.nodes[0].holds(1)
        })
        .unwrap_or_else(|| panic!("{}", s.logs(0)));
    assert!(took >= initdead, "took over at {took}");
    assert!(
        !s.nodes[0].log_contains("Split-brain guard"),
        "{}",
        s.logs(0)
    );
    assert_eq!(ping_view(&s, 0).status, NodeStatus::Ping);
}

mod random_uplinks {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any schedule of uplink failures on either node (heartbeat link intact), with ipfail:
        /// never a group on both nodes for longer than a keepalive, and once the uplinks are
        /// back and the hold-down has passed, every group has exactly one holder.
        #[test]
        fn uplink_flaps_keep_single_ownership(
            seed in 0u64..1000,
            failback in any::<bool>(),
            events in proptest::collection::vec((0usize..2, any::<bool>(), 500u64..20_000), 1..12),
        ) {
            let p = Params {
                auto_failback: if failback { AutoFailback::On } else { AutoFailback::Off },
                ..params(true)
            };
            let mut s = steady(p, seed);
            for (node, up, wait) in events {
                reach(&mut s, node, up);
                s.run_for(wait);
            }
            reach(&mut s, 0, true);
            reach(&mut s, 1, true);
            s.run_for(HOLDDOWN + 30_000);
            prop_assert!(s.violations.is_empty(), "{:?}", s.violations);
            prop_assert!(s.settled_ownership().is_ok(), "{:?}\n{}\n---\n{}",
                s.settled_ownership(), s.logs(0), s.logs(1));
        }
    }
}

// --- Early hand-over on positive evidence (`pingage`) ---------------------------------------

/// Both nodes up and holding their own group, beta's timers shifted by `phase` ms (a short
/// freeze: the two schedules start aligned), then `offset` ms more before the caller cuts
/// anything. Returns the ping phase between the two nodes at that moment (beta's echoes after
/// alpha's, modulo a keepalive).
fn steady_at_phase(p: Params, seed: u64, phase: Millis, offset: Millis) -> (Sim, Millis) {
    let mut s = steady(p, seed);
    s.freeze(1, phase);
    s.run_for(3 * KEEPALIVE + offset);
    let sent = |i: usize| s.last_ping_sent[i].expect("echoes sent");
    let ping_phase = (sent(1) + KEEPALIVE - sent(0) % KEEPALIVE) % KEEPALIVE;
    (s, ping_phase)
}

/// What happened after alpha's own uplink was cut: times (ms after the cut) of the loss being
/// declared, of ipfail's hand-over decision and of beta holding alpha's group alone.
struct HandOver {
    detected: Millis,
    decided: Millis,
    moved: Millis,
    proven: bool,
}

fn cut_alpha_uplink(mut s: Sim) -> HandOver {
    reach(&mut s, 0, false);
    let cut = s.now;
    let deadping = s.params.deadping.unwrap_or(s.params.deadtime);
    s.run_until_pred(
        deadping + KEEPALIVE + CONFIRM_MARGIN + SCRIPTS + 5_000,
        |s| s.holders(0) == [1] && !s.nodes[0].touches(0),
    )
    .unwrap_or_else(|| panic!("not moved\n{}\n---\n{}", s.logs(0), s.logs(1)));
    let moved = s.now - cut;
    let detected = s.nodes[0]
        .first_log(&format!("node {GW}: is dead"))
        .expect("loss declared")
        - cut;
    let decided = s.nodes[0]
        .first_log(HANDING_OVER)
        .expect("hand-over logged")
        - cut;
    no_violations(&s);
    HandOver {
        detected,
        decided,
        moved,
        proven: s.nodes[0].log_contains("newer than our loss"),
    }
}

#[test]
fn ipfail_own_uplink_lost_hands_over_within_deadping_and_a_keepalive_at_any_phase() {
    let mut phases = std::collections::BTreeSet::new();
    let mut worst = 0;
    for deadping in [TIGHT_DEADPING, DEADPING] {
        for (k, phase) in (0..KEEPALIVE).step_by(97).enumerate() {
            for offset in (0..KEEPALIVE).step_by(131) {
                let p = Params {
                    deadping: Some(deadping),
                    ..params(true)
                };
                let (s, ping_phase) = steady_at_phase(p, 100 + k as u64, phase, offset);
                phases.insert(ping_phase / 100);
                let h = cut_alpha_uplink(s);
                let what = format!(
                    "deadping {deadping}, start phase {phase}, ping phase {ping_phase}, \
                     offset {offset}: detected {}, decided {}, moved {}",
                    h.detected, h.decided, h.moved
                );
                assert!(h.proven, "{what}: no early proof");
                assert!(
                    h.decided <= deadping + KEEPALIVE + TRANSIT + ECHO_RTT + PAST_DEADPING,
                    "{what}"
                );
                // At most one keepalive (and transit) after our own detection.
                assert!(h.decided <= h.detected + KEEPALIVE + TRANSIT, "{what}");
                assert!(h.moved <= h.decided + SCRIPTS, "{what}");
                worst = worst.max(h.decided as i64 - deadping as i64);
            }
        }
    }
    // The loop did cover the phases between the two nodes' echo schedules.
    assert!(
        phases.len() >= 8,
        "ping phases (100 ms buckets) seen: {phases:?}"
    );
    eprintln!("worst decision: deadping + {worst} ms");
}

#[test]
fn ipfail_shared_upstream_failure_at_any_phase_moves_nothing() {
    // The shared gateway fails for both at once (or, for beta, up to 40 ms later: less than the
    // proof margin minus transit and echo round trip); whatever the phase of the two nodes'
    // echoes, neither hands over, though one notices up to a keepalive before the other.
    let mut phases = std::collections::BTreeSet::new();
    for deadping in [TIGHT_DEADPING, DEADPING] {
        for (k, phase) in (0..KEEPALIVE).step_by(89).enumerate() {
            for (offset, lag) in (0..KEEPALIVE)
                .step_by(167)
                .flat_map(|o| [(o, 0), (o, 20), (o, 40)])
            {
                let p = Params {
                    deadping: Some(deadping),
                    ..params(true)
                };
                let (mut s, ping_phase) = steady_at_phase(p, 200 + k as u64, phase, offset);
                phases.insert(ping_phase / 100);
                reach(&mut s, 0, false);
                s.run_for(lag);
                reach(&mut s, 1, false);
                s.run_for(deadping + 20_000);
                let what = format!("deadping {deadping}, phase {ping_phase}, lag {lag}");
                for i in 0..2 {
                    assert!(
                        !s.nodes[i].log_contains("Going standby")
                            && !s.nodes[i].log_contains("ipfail: move"),
                        "{what}\n{}",
                        s.logs(i)
                    );
                }
                assert_eq!(s.holders(0), [0], "{what}");
                assert_eq!(s.holders(1), [1], "{what}");
                no_violations(&s);
            }
        }
    }
    assert!(phases.len() >= 8, "ping phases seen: {phases:?}");
}

/// Node 1 plays a peer that sends `pingcount` but no `pingage` (an older heartbeat-rs).
fn without_pingage(i: usize, m: &mut Message) {
    if i == 1 {
        m.remove("pingage");
    }
}

/// Node 1 reports its answers as `deadping + keepalive` older than they are: answers that
/// predate our loss, as in a shared failure, and stay older than it until the fixed wait ends.
fn stale_pingage(i: usize, m: &mut Message) {
    if i == 1
        && let Some(age) = m.get("pingage").and_then(|a| a.parse::<u64>().ok())
    {
        m.set("pingage", (age + DEADPING + KEEPALIVE).to_string());
    }
}

/// A hand-over without early proof: the fixed wait (a keepalive + the margin) after detection.
fn assert_fixed_wait(h: &HandOver, what: &str) {
    assert!(!h.proven, "{what}: proven early");
    assert!(
        h.decided >= h.detected + KEEPALIVE + CONFIRM_MARGIN,
        "{what}: decided {} ms after detection",
        h.decided - h.detected
    );
    assert!(
        h.decided <= DEADPING + PAST_DEADPING + ECHO_RTT + KEEPALIVE + CONFIRM_MARGIN + TRANSIT,
        "{what}: decided {} ms after the cut",
        h.decided
    );
}

#[test]
fn ipfail_peer_without_pingage_falls_back_to_the_fixed_wait() {
    for (k, phase) in [0, 250, 600, 930].into_iter().enumerate() {
        let (mut s, _) = steady_at_phase(params(true), 300 + k as u64, phase, 0);
        s.rewrite_tx = Some(without_pingage);
        s.run_for(3 * KEEPALIVE);
        let h = cut_alpha_uplink(s);
        assert_fixed_wait(&h, &format!("phase {phase}"));
    }
}

#[test]
fn ipfail_stale_pingage_gives_no_early_move() {
    for (k, phase) in [0, 250, 600, 930].into_iter().enumerate() {
        let (mut s, _) = steady_at_phase(params(true), 400 + k as u64, phase, 0);
        s.rewrite_tx = Some(stale_pingage);
        s.run_for(3 * KEEPALIVE);
        let h = cut_alpha_uplink(s);
        assert_fixed_wait(&h, &format!("phase {phase}"));
    }
}

#[test]
fn ipfail_heartbeats_carry_pingage_only_with_a_reachable_node() {
    let mut s = steady(params(true), 16);
    s.rewrite_tx = Some(|i, m| {
        if m.get("t") == Some("status") {
            assert!(m.get("pingcount").is_some(), "node {i}: {m:?}");
            let age: u64 = m.get("pingage").expect("pingage").parse().expect("decimal");
            assert!(age <= KEEPALIVE, "node {i}: age {age}");
        }
    });
    s.run_for(5 * KEEPALIVE);
    reach(&mut s, 0, false);
    reach(&mut s, 1, false);
    s.rewrite_tx = Some(|_, m| {
        if m.get("t") == Some("status") && m.get("pingcount") == Some("0") {
            assert_eq!(m.get("pingage"), None);
        }
    });
    s.run_for(DEADPING + 5 * KEEPALIVE);
    assert_eq!(ping_view(&s, 0).status, NodeStatus::Dead);
}
