//! The test bed runs Debian's Heartbeat 3.0.6 as node A or node B next to heartbeat-rs (the
//! interoperability set-up of issue 9): in both orders each side reports the other `active`
//! through its own `cl_status`, A serves, and after kill -9 of A the other kind takes over.
//! Skips cleanly without root, without the `heartbeat` package or without our binaries.
mod common;

use std::path::Path;
use std::time::Duration;

use common::netns::wait_until;
use common::testbed::{BedOptions, Kind, Testbed};

#[test]
fn heartbeat_3_0_6_and_heartbeat_rs_run_as_a_pair_in_both_orders() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !common::testbed::mixed_pair_possible(bin_dir, "mixed pair") {
        return;
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

/// Fencing in a mixed pair (issue 21): heartbeat-rs B fences with an agent, Heartbeat 3.0.6 A
/// has no device. A's machine dies: B resets it first (the agent is called for nodea), then
/// serves; A comes back as a new incarnation, the pair is whole again and A gets its group
/// back (auto_failback on) — the fencing messages B sends do not upset 3.0.6.
#[test]
fn heartbeat_rs_fences_a_dead_heartbeat_3_0_6_and_the_pair_heals() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !common::testbed::mixed_pair_possible(bin_dir, "mixed pair") {
        return;
    }
    let tools = common::netns::TempDir::new("hbmixf");
    let agent = tools.path.join("fence_log");
    let log = tools.path.join("fenced.log");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nwhile IFS='=' read -r k v; do case $k in action) a=$v;; plug) p=$v;; esac; done\n\
             echo \"$a $p\" >> {}\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut opts = BedOptions::new(Kind::Ours, bin_dir);
    opts.kinds = [Kind::Heartbeat, Kind::Ours];
    opts.ours_ha_cf = format!("fence_agent {}\n", agent.display());
    let mut bed = Testbed::new(opts).unwrap();
    bed.bring_up()
        .unwrap_or_else(|e| panic!("did not come up: {e}"));
    assert!(
        bed.wait_owner(0, Duration::from_secs(20)),
        "{}",
        bed.describe()
    );
    bed.nodes[0].power_off();
    let limit = Duration::from_millis(bed.opts.timers.deadtime_ms) + Duration::from_secs(25);
    assert!(
        bed.wait_owner(1, limit),
        "B did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    let fenced = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(fenced.lines().any(|l| l == "reboot nodea"), "{fenced}");
    let b_log = bed.nodes[1].log_text();
    assert!(b_log.contains("node nodea now reset."), "{b_log}");
    // A comes back: the pair is whole and A serves again.
    bed.nodes[0].start().unwrap();
    assert!(
        bed.wait_owner(0, Duration::from_secs(60)),
        "A did not get its group back: {}\n{}",
        bed.describe(),
        bed.logs_tail(40)
    );
    assert_eq!(bed.nodes[0].node_status("nodeb").as_deref(), Some("active"));
    assert_eq!(bed.nodes[1].node_status("nodea").as_deref(), Some("active"));
}
