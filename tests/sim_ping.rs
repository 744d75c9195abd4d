//! Ping nodes, built-in ipfail and the split-brain guard, in simulation (issue 7). Each rule of
//! the issue is one named test. The simulator answers a node's echo to a host 2 ms later when
//! that host is in the node's `ping_reach` (its uplink works).

mod sim;

use heartbeat::config::{AutoFailback, Config, Millis};
use heartbeat::core::{NodeStatus, NodeType};
use sim::{Params, Sim};

const GW: &str = "192.0.2.254";
const KEEPALIVE: Millis = 1000;
const DEADPING: Millis = 4000;
const HOLDDOWN: Millis = 60_000;
/// Start and stop of a two-resource group in the simulator (200 + 100 ms each) plus margin.
const SCRIPTS: Millis = 2 * (200 + 100) + 500;

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
    // deadping + the confirmation (one keepalive + 100 ms) + the standby exchange and scripts.
    assert!(
        moved - cut <= DEADPING + KEEPALIVE + 100 + SCRIPTS,
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
