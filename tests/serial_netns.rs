//! Serial heartbeats (issue 21) over a pty null modem (`tests/common/pty.rs`), next to a
//! `bcast` link on a veth pair:
//!
//! * heartbeat-rs × 2: both links up; the veth link cut → a WARN, no failover (the serial
//!   line carries the heartbeats); the cable pulled too → B takes over;
//! * heartbeat-rs A + Debian's Heartbeat 3.0.6 B: the same — 3.0.6's serial plugin and ours
//!   understand each other (with both links cut, 3.0.6 takes over: a partition without
//!   fencing).
//!
//! Skips cleanly without root (namespaces) or without the heartbeat package (second test).
mod common;

use std::path::Path;
use std::time::Duration;

use common::daemon::{Pair, Settings};
use common::netns::{can_use_netns, wait_until};
use common::pty::NullModem;
use common::testbed::{BedOptions, Kind, Testbed};

#[test]
fn heartbeat_rs_pair_keeps_the_peer_over_the_serial_line() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    let modem = NullModem::new();
    let settings = Settings::default();
    let mut pair = Pair::new("hbser", &settings);
    for (node, end) in [(&pair.a, &modem.ends[0]), (&pair.b, &modem.ends[1])] {
        let path = node.dirs.ha_dir().join("ha.cf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("serial {end}\nbaud 115200\n"));
        std::fs::write(&path, text).unwrap();
    }
    pair.start_until_served_by("nodea");
    let end_a = modem.ends[0].as_str();
    let links = pair.a.dirs.cl_status(&["listhblinks", "nodeb"]).1;
    assert!(links.contains(end_a) && links.contains("hb0"), "{links}");
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            pair.a
                .dirs
                .cl_status(&["hblinkstatus", "nodeb", end_a])
                .1
                .trim()
                == "up"
        }),
        "serial link not up\n{}",
        pair.logs()
    );
    assert!(pair.a.dirs.log_text().contains(&format!(
        "Starting serial heartbeat on tty {end_a} (115200 baud)"
    )));

    // The veth link goes: the serial line alone keeps both nodes alive.
    pair.cut();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(pair.b.dirs.status_of("nodea"), "active", "{}", pair.logs());
    assert_eq!(
        pair.a
            .dirs
            .cl_status(&["hblinkstatus", "nodeb", "hb0"])
            .1
            .trim(),
        "dead"
    );
    assert!(pair.a.dirs.holds_resource() && !pair.b.dirs.holds_resource());
    assert!(
        !pair.b.dirs.log_text().contains("is dead"),
        "{}",
        pair.logs()
    );

    // And the cable: B declares A dead and takes the resource.
    modem.plug(false);
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
            pair.b.dirs.holds_resource()
        }),
        "B did not take over\n{}",
        pair.logs()
    );
    assert!(pair.b.dirs.log_text().contains("node nodea: is dead"));
}

#[test]
fn heartbeat_3_0_6_speaks_serial_with_heartbeat_rs() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !common::testbed::mixed_pair_possible(bin_dir, "mixed pair") {
        return;
    }
    let modem = NullModem::new();
    let mut opts = BedOptions::new(Kind::Ours, bin_dir);
    opts.kinds = [Kind::Ours, Kind::Heartbeat];
    opts.node_ha_cf = [
        format!("serial {}\nbaud 19200\n", modem.ends[0]),
        format!("serial {}\nbaud 19200\n", modem.ends[1]),
    ];
    let mut bed = Testbed::new(opts).expect("test bed");
    bed.bring_up()
        .unwrap_or_else(|e| panic!("mixed serial pair did not come up: {e}"));
    assert!(
        bed.wait_owner(0, Duration::from_secs(20)),
        "{}",
        bed.describe()
    );
    let end_b = modem.ends[1].as_str();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            bed.nodes[1]
                .cl_status(&format!("hblinkstatus nodea {end_b}"))
                .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "up")
        }),
        "3.0.6 does not hear us on {end_b}: {}",
        bed.logs_tail(30)
    );
    bed.nodes[0].cut_hb_link().unwrap();
    let deadtime = Duration::from_millis(bed.opts.timers.deadtime_ms);
    std::thread::sleep(deadtime * 2 + Duration::from_secs(1));
    assert_eq!(
        bed.nodes[1].node_status("nodea").as_deref(),
        Some("active"),
        "{}",
        bed.logs_tail(40)
    );
    assert_eq!(bed.nodes[0].node_status("nodeb").as_deref(), Some("active"));
    assert!(
        bed.wait_owner(0, Duration::from_secs(2)),
        "{}",
        bed.describe()
    );
    // Both links cut with both nodes alive: a partition. Without fencing each side takes the
    // resources (as 3.0.6 itself does); what matters here is that 3.0.6 declares us dead only
    // now, when the serial line goes too.
    modem.plug(false);
    assert!(
        wait_until(
            deadtime + Duration::from_secs(20),
            Duration::from_millis(100),
            || { bed.nodes[1].has_vip() }
        ),
        "3.0.6 did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(40)
    );
    assert!(bed.nodes[0].log_text().contains("node nodeb: is dead"));
}
