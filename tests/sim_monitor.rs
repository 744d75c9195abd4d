//! Resource monitoring in the simulator (issue 18): every branch of the decisions of
//! `core::monitor` — restart in place, the restart budget, hand-over, the "failed here" mark
//! against ping-pong, hard and fatal results, a hung check, no peer (backoff), both nodes
//! failing, and the administrator's clear.

mod sim;

use heartbeat::config::Millis;
use heartbeat::core::{AdminCommand, RscSet, ScriptOp, ScriptOutcome};
use sim::{Params, Sim};

/// alpha owns group 0 (VIP, httpd), beta group 1 (VIP, mysql); httpd is monitored.
fn params(settings: &str) -> Params {
    Params {
        monitors: vec![("httpd".to_string(), settings.to_string())],
        ..Params::default()
    }
}

fn stable(p: Params, seed: u64) -> Sim {
    let mut s = Sim::new(p, seed);
    s.start(0);
    s.start(1);
    s.run_for(30_000);
    assert_eq!(
        (s.holders(0), s.holders(1)),
        (vec![0], vec![1]),
        "{}",
        s.logs(0)
    );
    s
}

fn starts(s: &Sim, i: usize, g: usize, r: usize) -> Vec<Millis> {
    s.nodes[i]
        .script_runs
        .iter()
        .filter(|(_, gg, rr, o)| *gg == g && *rr == r && *o == ScriptOp::Start)
        .map(|(t, ..)| *t)
        .collect()
}

fn stops(s: &Sim, i: usize, g: usize, r: usize) -> usize {
    s.nodes[i]
        .script_runs
        .iter()
        .filter(|(_, gg, rr, o)| *gg == g && *rr == r && *o == ScriptOp::Stop)
        .count()
}

/// httpd dies on alpha; returns when it runs again there (or panics after `ms`).
fn kill_and_wait_restart(s: &mut Sim, ms: Millis) -> Millis {
    s.nodes[0].running[0][1] = false;
    let died = s.now;
    let back = s
        .run_until_pred(ms, |s| s.nodes[0].running[0][1])
        .unwrap_or_else(|| panic!("httpd not restarted\n{}", s.logs(0)));
    back - died
}

#[test]
fn a_dead_service_is_restarted_in_place_within_interval_plus_start() {
    let mut s = stable(params("interval=2s timeout=1s"), 1);
    let vip_starts = starts(&s, 0, 0, 0).len();
    let took = kill_and_wait_restart(&mut s, 10_000);
    // Detected at the next check (≤ interval + check time), then stop + start.
    assert!(took <= 2000 + 10 + s.stop_ms + s.start_ms + 50, "{took} ms");
    assert_eq!(s.holders(0), vec![0]);
    // Only httpd moved: the VIP to its left was neither stopped nor started again.
    assert_eq!(starts(&s, 0, 0, 0).len(), vip_starts);
    assert!(
        s.nodes[0].log_contains("restarting it and what follows it in its group (restart 1 of 3")
    );
    let v = s.nodes[0].core().status_view();
    assert_eq!(v.monitors.len(), 1);
    assert_eq!(v.monitors[0].failures, 1);
    assert_eq!(v.monitors[0].restarts, (1, 3));
    assert!(!v.monitors[0].failed_here);
    s.run_for(10_000);
    assert_eq!(s.nodes[0].core().status_view().monitors[0].state, "ok");
    assert!(s.nodes[0].log_contains("monitor: httpd is healthy again"));
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[test]
fn what_follows_the_failed_resource_is_restarted_too_in_order() {
    let mut p = params("interval=2s");
    p.groups[0].1 = vec!["192.0.2.10".into(), "httpd".into(), "tomcat".into()];
    p.groups[1].1 = vec!["192.0.2.20".into(), "mysql".into(), "cache".into()];
    let mut s = stable(p, 2);
    let before = s.nodes[0].script_runs.len();
    kill_and_wait_restart(&mut s, 10_000);
    s.run_for(1000);
    let seq: Vec<(usize, ScriptOp)> = s.nodes[0].script_runs[before..]
        .iter()
        .filter(|(_, g, ..)| *g == 0)
        .map(|(_, _, r, o)| (*r, *o))
        .collect();
    assert_eq!(
        seq,
        vec![
            (2, ScriptOp::Stop),
            (1, ScriptOp::Stop),
            (1, ScriptOp::Start),
            (2, ScriptOp::Start)
        ],
        "{}",
        s.logs(0)
    );
}

#[test]
fn fall_two_ignores_one_bad_check() {
    let mut s = stable(params("interval=1s fall=2"), 3);
    // One failed check, then the service is fine again on its own.
    s.nodes[0]
        .status_says
        .insert((0, 1), ScriptOutcome::Failed(4));
    let first_bad = s
        .run_until_pred(5000, |s| s.nodes[0].log_contains("failed check 1 of 2"))
        .expect("a failed check is logged");
    s.nodes[0].status_says.clear();
    s.run_for(10_000);
    assert!(first_bad > 0);
    assert!(!s.nodes[0].log_contains("restarting"), "{}", s.logs(0));
    // Two in a row do count.
    s.nodes[0]
        .status_says
        .insert((0, 1), ScriptOutcome::Failed(4));
    s.run_for(2500);
    assert!(s.nodes[0].log_contains("restarting"), "{}", s.logs(0));
}

#[test]
fn a_hung_check_is_timed_out_and_counts_as_a_failure() {
    let mut s = stable(params("interval=2s timeout=1500ms"), 4);
    s.nodes[0].hang_status.insert((0, 1));
    s.run_for(4000);
    assert!(s.nodes[0].log_contains("check timed out"), "{}", s.logs(0));
    assert!(s.nodes[0].log_contains("restarting"), "{}", s.logs(0));
}

/// Past `max_restarts` within the window the group goes to the peer, and alpha — marked —
/// does not take it back: not by auto_failback, not when beta asks it to.
#[test]
fn past_max_restarts_the_peer_serves_and_the_failed_node_does_not_take_it_back() {
    let mut s = stable(params("interval=1s max_restarts=2 window=1min"), 5);
    for _ in 0..2 {
        kill_and_wait_restart(&mut s, 10_000);
    }
    s.nodes[0].running[0][1] = false;
    let moved = s
        .run_until_pred(30_000, |s| s.holders(0) == vec![1])
        .unwrap_or_else(|| panic!("no hand-over\n{}\n{}", s.logs(0), s.logs(1)));
    assert!(moved > 0);
    assert!(
        s.nodes[0].log_contains("failed again after 2 restarts"),
        "{}",
        s.logs(0)
    );
    assert!(
        s.nodes[0].log_contains("monitor: handing [local] to beta"),
        "{}",
        s.logs(0)
    );
    assert!(!s.nodes[0].touches(0));
    let v = s.nodes[0].core().status_view();
    assert!(v.monitors[0].failed_here);
    // beta's standby would give alpha's groups back: refused while the mark is set.
    let c = s.admin(1, AdminCommand::Standby(RscSet::Foreign));
    s.run_for(30_000);
    assert_eq!(s.holders(0), vec![1], "{}", s.logs(0));
    assert!(
        s.nodes[0].log_contains("refused: a group failed here"),
        "{}",
        s.logs(0)
    );
    assert!(s.reply(1, c).is_some_and(|r| !r.ok), "{:?}", s.reply(1, c));
    // Minutes later, still on beta: no ping-pong.
    s.run_for(300_000);
    assert_eq!(s.holders(0), vec![1]);
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[test]
fn the_administrator_clears_the_mark_and_the_group_may_come_back() {
    let mut s = stable(params("interval=1s max_restarts=0"), 6);
    s.nodes[0].running[0][1] = false;
    s.run_until_pred(30_000, |s| s.holders(0) == vec![1])
        .unwrap_or_else(|| panic!("no hand-over\n{}", s.logs(0)));
    let c = s.admin(0, AdminCommand::ClearFailures(Some("httpd".into())));
    s.run_for(100);
    assert!(s.reply(0, c).is_some_and(|r| r.ok), "{:?}", s.reply(0, c));
    assert!(!s.nodes[0].core().status_view().monitors[0].failed_here);
    s.admin(1, AdminCommand::Standby(RscSet::Foreign));
    s.run_until_pred(30_000, |s| s.holders(0) == vec![0])
        .unwrap_or_else(|| panic!("not given back\n{}\n{}", s.logs(0), s.logs(1)));
    // Unknown names are refused with a reason.
    let c = s.admin(0, AdminCommand::ClearFailures(Some("htpd".into())));
    s.run_for(100);
    assert!(s.reply(0, c).is_some_and(|r| !r.ok));
}

#[test]
fn failure_timeout_lifts_the_mark() {
    let mut s = stable(params("interval=1s max_restarts=0 failure_timeout=1min"), 7);
    s.nodes[0].running[0][1] = false;
    s.run_until_pred(30_000, |s| s.holders(0) == vec![1])
        .expect("hand-over");
    assert!(s.nodes[0].core().status_view().monitors[0].failed_here);
    s.run_for(61_000);
    assert!(!s.nodes[0].core().status_view().monitors[0].failed_here);
    assert!(s.nodes[0].log_contains("failure_timeout passed"));
}

#[test]
fn a_hard_failure_hands_over_without_restarting() {
    let mut s = stable(params("interval=1s"), 8);
    let before = starts(&s, 0, 0, 1).len();
    s.nodes[0]
        .status_says
        .insert((0, 1), ScriptOutcome::Hard(5));
    s.run_until_pred(30_000, |s| s.holders(0) == vec![1])
        .unwrap_or_else(|| panic!("no hand-over\n{}", s.logs(0)));
    assert_eq!(starts(&s, 0, 0, 1).len(), before, "no restart here");
    assert!(s.nodes[0].log_contains("no restart here"));
}

#[test]
fn a_fatal_failure_stops_the_group_and_nobody_runs_it() {
    let mut s = stable(params("interval=1s"), 9);
    s.nodes[0]
        .status_says
        .insert((0, 1), ScriptOutcome::Fatal(6));
    s.run_for(20_000);
    assert!(!s.nodes[0].touches(0), "{}", s.logs(0));
    assert!(!s.nodes[1].touches(0), "{}", s.logs(1));
    assert!(s.nodes[0].log_contains("cannot run anywhere as configured"));
    assert!(s.nodes[0].log_contains("monitor: resource group stopped (fatal check result)"));
    assert_eq!(s.nodes[0].core().status_view().monitors[0].state, "stopped");
    // The other group is untouched.
    assert_eq!(s.holders(1), vec![1]);
    // A clear starts it again here (alpha still holds its set).
    s.nodes[0].status_says.clear();
    s.admin(0, AdminCommand::ClearFailures(None));
    s.run_until_pred(5000, |s| s.nodes[0].holds(0))
        .unwrap_or_else(|| panic!("not restarted after clear\n{}", s.logs(0)));
}

/// With the peer dead nothing can take the group: restart again, waiting longer each time.
#[test]
fn alone_the_node_keeps_restarting_with_backoff() {
    let mut s = stable(params("interval=1s max_restarts=1 window=10min"), 10);
    s.kill(1);
    s.run_for(30_000);
    assert_eq!((s.holders(0), s.holders(1)), (vec![0], vec![0]));
    s.nodes[0].always_fail_start.insert((0, 1));
    s.nodes[0].running[0][1] = false;
    s.run_for(120_000);
    let tries = starts(&s, 0, 0, 1);
    let recent: Vec<Millis> = tries.iter().rev().take(4).rev().copied().collect();
    let gaps: Vec<Millis> = recent.windows(2).map(|w| (w[1] - w[0]) / 1000).collect();
    assert!(gaps.len() >= 3, "{gaps:?}\n{}", s.logs(0));
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
    assert!(gaps.last().copied().unwrap_or(0) >= 8, "{gaps:?}");
    assert!(
        s.nodes[0].log_contains("cannot take it: restarting in"),
        "{}",
        s.logs(0)
    );
    // Fixed: the next try succeeds and the group is watched again.
    s.nodes[0].always_fail_start.clear();
    s.run_until_pred(400_000, |s| s.nodes[0].holds(0))
        .unwrap_or_else(|| panic!("never recovered\n{}", s.logs(0)));
    s.run_for(5000);
    assert_eq!(s.nodes[0].core().status_view().monitors[0].state, "ok");
}

/// httpd cannot run on either node: the group ends stopped with one CRIT line, no flapping.
#[test]
fn broken_everywhere_ends_stopped_without_flapping() {
    let mut s = stable(params("interval=1s max_restarts=1"), 11);
    for i in 0..2 {
        s.nodes[i].always_fail_start.insert((0, 1));
    }
    s.nodes[0].running[0][1] = false;
    s.run_for(120_000);
    let (a, b) = (starts(&s, 0, 0, 1).len(), starts(&s, 1, 0, 1).len());
    s.run_for(600_000);
    assert_eq!(
        (starts(&s, 0, 0, 1).len(), starts(&s, 1, 0, 1).len()),
        (a, b),
        "still flapping\n{}\n{}",
        s.logs(0),
        s.logs(1)
    );
    assert!(!s.nodes[0].holds(0) && !s.nodes[1].holds(0));
    let crit = |i: usize| {
        s.nodes[i]
            .logs
            .iter()
            .filter(|(_, _, l)| l.contains("resource group stopped") || l.contains("either node"))
            .count()
    };
    assert_eq!(crit(0) + crit(1), 1, "{}\n{}", s.logs(0), s.logs(1));
    assert_eq!(s.holders(1), vec![1], "the other group keeps running");
    assert!(stops(&s, 0, 0, 1) > 0);
}

/// A monitored group whose first start fails is marked too: beta takes it and alpha does
/// not ask for it back.
#[test]
fn a_failed_start_marks_the_group_too() {
    let mut s = Sim::new(params("interval=1s"), 12);
    s.nodes[0].fail_start.insert((0, 1));
    s.start(0);
    s.start(1);
    s.run_for(60_000);
    assert_eq!(s.holders(0), vec![1], "{}\n{}", s.logs(0), s.logs(1));
    assert!(s.nodes[0].core().status_view().monitors[0].failed_here);
}
