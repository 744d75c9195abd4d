//! `ucast6` and `mcast6` against Debian's Heartbeat 3.0.6 (issue 21): next to the test bed's
//! `bcast hb0`, each pair has an IPv6 medium on hb0; IPv4 on hb0 is then dropped (nft) and both
//! nodes keep seeing each other `active` over IPv6 alone for twice the deadtime; dropping IPv6
//! too makes 3.0.6 declare us dead. Skips without root or without the heartbeat package.
mod common;

use std::path::Path;
use std::time::Duration;

use common::netns::{run, wait_until};
use common::testbed::{BedOptions, Kind, Testbed};

fn pair_over(lines: [String; 2], test: &str) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !common::testbed::mixed_pair_possible(bin_dir, test) {
        return;
    }
    let mut opts = BedOptions::new(Kind::Ours, bin_dir);
    opts.kinds = [Kind::Ours, Kind::Heartbeat];
    opts.node_ha_cf = lines;
    let mut bed = Testbed::new(opts).expect("test bed");
    // The test bed turns IPv6 off; this test wants it on the heartbeat link.
    for (i, n) in bed.nodes.iter().enumerate() {
        let ns = &n.ns.name;
        let out = run(&format!(
            "ip netns exec {ns} sysctl -qw net.ipv6.conf.hb0.disable_ipv6=0 && \
             ip -n {ns} addr add 2001:db8:6::{}/64 dev hb0 nodad",
            i + 1
        ));
        assert!(out.status.success(), "{out:?}");
    }
    bed.bring_up()
        .unwrap_or_else(|e| panic!("{test}: pair did not come up: {e}"));
    assert!(
        bed.wait_owner(0, Duration::from_secs(20)),
        "{}",
        bed.describe()
    );
    // IPv4 on hb0 dropped at A: only the IPv6 medium carries heartbeats.
    bed.nodes[0]
        .set_nft(&[
            "add rule inet tbfault in iifname \"hb0\" meta nfproto ipv4 drop",
            "add rule inet tbfault out oifname \"hb0\" meta nfproto ipv4 drop",
        ])
        .unwrap();
    let deadtime = Duration::from_millis(bed.opts.timers.deadtime_ms);
    std::thread::sleep(deadtime * 2 + Duration::from_secs(1));
    assert_eq!(
        bed.nodes[1].node_status("nodea").as_deref(),
        Some("active"),
        "{test}: 3.0.6 lost us with IPv4 dropped\n{}",
        bed.logs_tail(40)
    );
    assert_eq!(bed.nodes[0].node_status("nodeb").as_deref(), Some("active"));
    assert!(
        bed.wait_owner(0, Duration::from_secs(2)),
        "{}",
        bed.describe()
    );
    // Everything on hb0 dropped: now 3.0.6 declares us dead.
    bed.nodes[0].cut_hb_link().unwrap();
    assert!(
        wait_until(
            deadtime + Duration::from_secs(15),
            Duration::from_millis(100),
            || { bed.nodes[1].node_status("nodea").as_deref() == Some("dead") }
        ),
        "{test}: 3.0.6 never declared us dead\n{}",
        bed.logs_tail(40)
    );
}

#[test]
fn ucast6_with_heartbeat_3_0_6() {
    pair_over(
        [
            "ucast6 hb0 2001:db8:6::2\n".to_string(),
            "ucast6 hb0 2001:db8:6::1\n".to_string(),
        ],
        "ucast6",
    );
}

#[test]
fn mcast6_with_heartbeat_3_0_6() {
    let line = "mcast6 hb0 ff02::694 694 1 0\n".to_string();
    pair_over([line.clone(), line], "mcast6");
}
