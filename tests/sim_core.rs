//! Acceptance tests of the cluster core, all in simulation (issue 4).

mod sim;

use heartbeat::config::AutoFailback;
use heartbeat::core::{NodeStatus, RscSet, Severity};
use sim::{Params, Sim};

fn both_started(p: Params, seed: u64) -> Sim {
    let mut s = Sim::new(p, seed);
    s.start(0);
    s.start(1);
    s
}

#[test]
fn heartbeats_make_both_active_and_death_is_detected() {
    let mut s = both_started(Params::default(), 1);
    s.run_for(3000);
    for i in 0..2 {
        let v = s.nodes[i].core().status_view();
        assert_eq!(v.nodes[0].status, NodeStatus::Active, "{}", s.logs(i));
        assert_eq!(v.nodes[1].status, NodeStatus::Active, "{}", s.logs(i));
        assert!(s.nodes[i].ready_at.is_some());
        assert!(s.nodes[i].log_contains("Local status now set to: 'active'"));
    }
    s.run_for(20_000);
    s.kill(1);
    s.run_for(15_000);
    let v = s.nodes[0].core().status_view();
    assert_eq!(v.nodes[1].status, NodeStatus::Dead);
    assert!(
        s.nodes[0].log_contains("node beta: is dead"),
        "{}",
        s.logs(0)
    );
    assert!(s.nodes[0].log_contains("Link beta:eth0 dead."));
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    let _ = Severity::Info;
    let _ = AutoFailback::On;
    let _ = RscSet::All;
}

#[test]
#[ignore]
fn trace_both_start() {
    let mut s = both_started(Params::default(), 1);
    s.trace = true;
    s.run_for(40_000);
    s.kill(1);
    s.run_for(20_000);
    s.start(1);
    s.run_for(30_000);
    eprintln!("{:?} {:?}", s.holders(0), s.holders(1));
}
