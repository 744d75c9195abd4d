//! The test bed runs Debian's Heartbeat 3.0.6 as node A or node B next to heartbeat-rs (the
//! interoperability set-up of issue 9): in both orders each side reports the other `active`
//! through its own `cl_status`, A serves, and after kill -9 of A the other kind takes over.
//! Skips cleanly without root, without the `heartbeat` package or without our binaries.
mod common;

use std::path::Path;
use std::time::Duration;

use common::netns::{can_use_netns, wait_until};
use common::testbed::{BedOptions, Kind, Testbed};

#[test]
fn heartbeat_3_0_6_and_heartbeat_rs_run_as_a_pair_in_both_orders() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    for kind in [Kind::Heartbeat, Kind::Ours] {
        if let Some(why) = kind.missing(bin_dir) {
            eprintln!("skipped: {}: {why}", kind.label());
            return;
        }
    }
    for kinds in [[Kind::Heartbeat, Kind::Ours], [Kind::Ours, Kind::Heartbeat]] {
        let mut opts = BedOptions::new(Kind::Ours, bin_dir);
        opts.kinds = kinds;
        let mut bed = Testbed::new(opts).unwrap();
        bed.bring_up()
            .unwrap_or_else(|e| panic!("{kinds:?} did not come up: {e}"));
        assert_eq!(bed.nodes[0].node_status("nodeb").as_deref(), Some("active"));
        assert_eq!(bed.nodes[1].node_status("nodea").as_deref(), Some("active"));
        bed.nodes[0].kill9();
        let limit = Duration::from_millis(bed.opts.timers.deadtime_ms) + Duration::from_secs(25);
        assert!(
            wait_until(limit, Duration::from_millis(50), || bed.nodes[1].has_vip()
                && bed.served_by() == Some("nodeb")),
            "{kinds:?}: B did not take over: {}\n{}",
            bed.describe(),
            bed.logs_tail(20)
        );
    }
}
