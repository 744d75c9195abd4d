//! End-to-end: two real daemons in two network namespaces on a veth link.
//! Timers are short (keepalive 200 ms, deadtime 2 s, initdead 4 s); every wait is bounded
//! generously so a loaded machine slows the tests down instead of failing them.
mod common;

use std::time::{Duration, Instant};

use common::daemon::*;
use common::netns::{can_use_netns, wait_until};
use nix::sys::signal::Signal;

fn skip() -> bool {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return true;
    }
    false
}

/// Both see each other active within initdead (plus slack), then dead after the link is cut.
fn see_each_other_then_lose_each_other(tag: &str, medium: MediumKind) {
    let settings = Settings {
        medium,
        ..Settings::default()
    };
    let mut pair = Pair::new(tag, &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{medium:?}: peers never saw each other active\n{}",
        pair.logs()
    );
    // Links: both ends up, by the medium's interface name.
    let (code, out, _) = pair.a.dirs.cl_status(&["hblinkstatus", "nodeb", "hb0"]);
    assert_eq!((code, out.trim()), (0, "up"));
    pair.cut();
    let cut_at = Instant::now();
    let dead = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        pair.a.dirs.status_of("nodeb") == "dead" && pair.b.dirs.status_of("nodea") == "dead"
    });
    assert!(dead, "{medium:?}: cut link not noticed\n{}", pair.logs());
    // Not before deadtime (2 s) minus one keepalive of slack.
    assert!(
        cut_at.elapsed() >= Duration::from_millis(1500),
        "declared dead too early"
    );
    assert!(pair.a.dirs.log_text().contains("node nodeb: is dead"));
    let (code, out, _) = pair.a.dirs.cl_status(&["nodestatus", "nodeb"]);
    assert_eq!((code, out.trim()), (1, "dead"));
    assert!(pair.a.alive() && pair.b.alive());
}

#[test]
fn bcast_peers_active_then_dead_after_cut() {
    if skip() {
        return;
    }
    see_each_other_then_lose_each_other("hdb", MediumKind::Bcast);
}

#[test]
fn mcast_peers_active_then_dead_after_cut() {
    if skip() {
        return;
    }
    see_each_other_then_lose_each_other("hdm", MediumKind::Mcast);
}

#[test]
fn ucast_peers_active_then_dead_after_cut() {
    if skip() {
        return;
    }
    see_each_other_then_lose_each_other("hdu", MediumKind::Ucast);
}

#[test]
fn ucast6_peers_active_then_dead_after_cut() {
    if skip() {
        return;
    }
    see_each_other_then_lose_each_other("hd6u", MediumKind::Ucast6);
}

#[test]
fn mcast6_peers_active_then_dead_after_cut() {
    if skip() {
        return;
    }
    see_each_other_then_lose_each_other("hd6m", MediumKind::Mcast6);
}

/// SIGTERM on the holder: the peer holds the resource well before deadtime would expire, and
/// the holder exits 0 after releasing it.
#[test]
fn sigterm_on_holder_moves_the_resource_quickly() {
    if skip() {
        return;
    }
    // A long deadtime makes "well under deadtime" unambiguous: the move must come from the
    // shutdown notice, not from the silence.
    let settings = Settings {
        timers: "keepalive 500ms\ndeadtime 10\nwarntime 5\ninitdead 10\n".to_string(),
        ..Settings::default()
    };
    let mut pair = Pair::new("hds", &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(25)),
        "{}",
        pair.logs()
    );
    let held = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        pair.a.dirs.holds_resource() && !pair.b.dirs.holds_resource()
    });
    assert!(held, "nodea never held its resource\n{}", pair.logs());
    let (_, rsc, _) = pair.a.dirs.cl_status(&["rscstatus"]);
    assert_eq!(rsc.trim(), "local", "{}", pair.logs());

    pair.a.signal(Signal::SIGTERM);
    let t0 = Instant::now();
    let moved = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        pair.b.dirs.holds_resource()
    });
    let took = t0.elapsed();
    assert!(moved, "resource never moved\n{}", pair.logs());
    assert!(
        took < Duration::from_secs(6),
        "took {took:?}, not well under deadtime 10 s"
    );
    assert_eq!(
        pair.a.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        pair.logs()
    );
    assert!(!pair.a.dirs.holds_resource());
    let log = pair.a.dirs.log_text();
    assert!(log.contains("nodea Heartbeat shutdown complete."), "{log}");
    assert!(pair.b.alive());
}

/// SIGHUP: a valid timer change takes effect with no resource action; a broken file is refused,
/// logged, and the daemon keeps running with the old values.
#[test]
fn sighup_reloads_valid_and_refuses_broken_configuration() {
    if skip() {
        return;
    }
    let settings = Settings::default();
    let mut pair = Pair::new("hdh", &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{}",
        pair.logs()
    );
    // Let start-up resource activity settle: nodea holds its group.
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            pair.a.dirs.holds_resource()
                && pair.a.dirs.cl_status(&["rscstatus"]).1.trim() == "local"
        }),
        "{}",
        pair.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let runs_before = pair.a.dirs.log_text().matches("Running ").count();

    let changed = Settings {
        timers: "keepalive 200ms\ndeadtime 3\nwarntime 1\ninitdead 4\n".to_string(),
        ..settings.clone()
    };
    pair.a.dirs.write_hacf(&changed);
    pair.a.signal(Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            pair.a.dirs.log_text().contains("Configuration reloaded.")
        }),
        "{}",
        pair.logs()
    );
    let (code, value, _) = pair.a.dirs.cl_status(&["hbparameter", "-p", "deadtime"]);
    assert_eq!((code, value.trim()), (0, "3"));
    std::thread::sleep(Duration::from_secs(1));
    let log = pair.a.dirs.log_text();
    assert_eq!(
        log.matches("Running ").count(),
        runs_before,
        "resource action on reload\n{log}"
    );
    assert!(pair.a.dirs.holds_resource());
    assert_eq!(pair.b.dirs.status_of("nodea"), "active");

    std::fs::write(
        pair.a.dirs.ha_dir().join("ha.cf"),
        "keepalive banana\nnode nodea\n",
    )
    .unwrap();
    pair.a.signal(Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            pair.a
                .dirs
                .log_text()
                .contains("Configuration reload REFUSED")
        }),
        "{}",
        pair.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(pair.a.alive(), "daemon died on a broken reload");
    let (code, value, _) = pair.a.dirs.cl_status(&["hbparameter", "-p", "deadtime"]);
    assert_eq!((code, value.trim()), (0, "3"));
    assert_eq!(pair.b.dirs.status_of("nodea"), "active");
    assert!(pair.a.dirs.holds_resource());
}

/// A start script that hangs is killed at resource_timeout while heartbeats keep flowing:
/// the peer logs no late heartbeat and never declares the node dead.
#[test]
fn hanging_script_is_killed_at_its_timeout_while_heartbeats_flow() {
    if skip() {
        return;
    }
    let settings = Settings {
        extra: "resource_timeout 3\n".to_string(),
        start_body: "echo hanging; sleep 60".to_string(),
        ..Settings::default()
    };
    let mut pair = Pair::new("hdt", &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{}",
        pair.logs()
    );
    let killed = wait_until(Duration::from_secs(40), Duration::from_millis(100), || {
        pair.a.dirs.log_text().contains("Resource script timed out")
            || pair.b.dirs.log_text().contains("Resource script timed out")
    });
    assert!(killed, "no timeout kill\n{}", pair.logs());
    // Heartbeats kept flowing through (and after) the kill.
    std::thread::sleep(Duration::from_secs(1));
    let a_log = pair.a.dirs.log_text();
    let b_log = pair.b.dirs.log_text();
    assert!(!b_log.contains("Late heartbeat"), "{}", pair.logs());
    assert!(!a_log.contains("Late heartbeat"), "{}", pair.logs());
    assert!(!b_log.contains("node nodea: is dead"), "{}", pair.logs());
    assert!(!a_log.contains("node nodeb: is dead"), "{}", pair.logs());
    assert_eq!(pair.b.dirs.status_of("nodea"), "active");
}

/// hb_standby on the holder moves its group to the peer and exits 0 once done; hb_takeover
/// brings it back; with the peer gone the command is refused with exit 1 (spec §13.21).
#[test]
fn hb_standby_and_hb_takeover_report_their_outcome() {
    if skip() {
        return;
    }
    let mut pair = Pair::new("hda", &Settings::default());
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{}",
        pair.logs()
    );
    let stable = |pair: &Pair| {
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            pair.a.dirs.cl_status(&["rscstatus"]).1.trim() == "local"
                && pair.a.dirs.holds_resource()
                && !pair.b.dirs.holds_resource()
        })
    };
    assert!(
        stable(&pair),
        "a: {:?} b: {:?}\n{}",
        pair.a.dirs.cl_status(&["rscstatus"]),
        pair.b.dirs.cl_status(&["rscstatus"]),
        pair.logs()
    );

    let (code, out, err) = run_tool(HB_STANDBY, &[], &pair.a.dirs.run_dir(), None);
    assert_eq!(code, 0, "{out}{err}\n{}", pair.logs());
    assert!(out.starts_with("Going standby [all].\n"), "{out}");
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            pair.b.dirs.holds_resource() && !pair.a.dirs.holds_resource()
        }),
        "{}",
        pair.logs()
    );

    let back = wait_until(Duration::from_secs(30), Duration::from_millis(300), || {
        run_tool(HB_TAKEOVER, &["local"], &pair.a.dirs.run_dir(), None).0 == 0
    });
    assert!(back, "{}", pair.logs());
    assert!(stable(&pair), "{}", pair.logs());

    // The original's hb_standby writes into the FIFO instead: same effect, outcome logged.
    std::fs::write(
        pair.a.dirs.state_dir().join("fifo"),
        ">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n",
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            pair.b.dirs.holds_resource() && !pair.a.dirs.holds_resource()
        }),
        "{}",
        pair.logs()
    );
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            pair.a.dirs.log_text().contains("FIFO request done")
        }),
        "{}",
        pair.logs()
    );

    pair.b.signal(Signal::SIGKILL);
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
            pair.a.dirs.status_of("nodeb") == "dead"
        }),
        "{}",
        pair.logs()
    );
    // nodea took everything back when nodeb died.
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            pair.a.dirs.holds_resource()
        }),
        "{}",
        pair.logs()
    );
    let (code, _, err) = run_tool(HB_STANDBY, &["all"], &pair.a.dirs.run_dir(), None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(pair.a.dirs.holds_resource());
}

/// A ping node answers over ICMP: cl_status shows it `ping`; after the link is cut nodea,
/// whose ping node is beyond the link, shows it `dead`.
#[test]
fn ping_node_is_reported_up_then_dead() {
    if skip() {
        return;
    }
    let settings = Settings {
        // nodeb's own address: reachable from both sides while the link is up.
        extra: "ping 198.51.100.2\ndeadping 2\n".to_string(),
        ..Settings::default()
    };
    let mut pair = Pair::new("hdg", &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{}",
        pair.logs()
    );
    let up = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        pair.a.dirs.status_of("198.51.100.2") == "ping"
    });
    assert!(
        up,
        "{:?}\n{}",
        pair.a.dirs.cl_status(&["listnodes", "-v"]),
        pair.logs()
    );
    let (_, t, _) = pair.a.dirs.cl_status(&["nodetype", "198.51.100.2"]);
    assert_eq!(t.trim(), "ping");
    let (_, l, _) = pair.a.dirs.cl_status(&["listnodes", "-p"]);
    assert_eq!(l, "198.51.100.2\n");
    pair.cut();
    let dead = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        pair.a.dirs.status_of("198.51.100.2") == "dead"
    });
    assert!(dead, "{}", pair.logs());
}

/// crash_guard (default on): when the holder is killed outright, its address is removed by the
/// guard so the peer's takeover does not duplicate it.
#[test]
fn crash_guard_removes_the_address_of_a_killed_daemon() {
    if skip() {
        return;
    }
    let settings = Settings {
        haresources: "nodea IPaddr::198.51.100.10/24/hb0 testrsc\n".to_string(),
        copy_scripts: vec!["IPaddr"],
        ..Settings::default()
    };
    let mut pair = Pair::new("hdc", &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{}",
        pair.logs()
    );
    let has_addr = |node: &Node| {
        String::from_utf8_lossy(&node.ns.run("ip -4 addr show dev hb0").stdout)
            .contains("198.51.100.10/")
    };
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            pair.a.dirs.holds_resource() && has_addr(&pair.a)
        }),
        "{}",
        pair.logs()
    );
    // Give the daemon a moment to arm the guard after the group start completed.
    std::thread::sleep(Duration::from_millis(500));
    let killed = std::time::Instant::now();
    pair.a.signal(Signal::SIGKILL);
    let removed = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        !has_addr(&pair.a)
    });
    assert!(removed, "address left behind\n{}", pair.logs());
    // The guard logs the removal once `ip addr del` has returned: a moment after the address
    // is gone.
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            pair.a
                .dirs
                .log_text()
                .contains("crash guard: removed 198.51.100.10/24 from hb0")
        }),
        "{}",
        pair.logs()
    );
    // The guard's last words (shutdone in A's name) make B take over at once, long before
    // its deadtime of 2 s would have.
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(10), || {
            has_addr(&pair.b)
        }),
        "{}",
        pair.logs()
    );
    let took = killed.elapsed();
    eprintln!("kill -9 of the holder: address on B after {took:?}");
    let b_log = pair.b.dirs.log_text();
    assert!(
        b_log.contains("Received shutdown notice from 'nodea'"),
        "B did not hear the guard's notice\n{}",
        pair.logs()
    );
    assert!(
        !b_log.contains("node nodea: is dead"),
        "B waited for deadtime\n{}",
        pair.logs()
    );
    assert!(
        took < Duration::from_millis(1500),
        "address on B {took:?} after the kill (deadtime 2 s)\n{}",
        pair.logs()
    );
    assert!(
        pair.a
            .dirs
            .log_text()
            .contains("crash guard: told the peer everything is released"),
        "{}",
        pair.logs()
    );
}

/// A medium whose interface is missing is reported and retried, not fatal: the node runs on
/// its other medium and picks the missing one up once the interface appears.
#[test]
fn missing_interface_is_retried_not_fatal() {
    if skip() {
        return;
    }
    let settings = Settings {
        extra: "bcast hb1\n".to_string(),
        ..Settings::default()
    };
    let mut pair = Pair::new("hdf", &settings);
    pair.start_both();
    assert!(
        pair.wait_both_active(Duration::from_secs(15)),
        "{}",
        pair.logs()
    );
    let log = pair.a.dirs.log_text();
    assert!(
        log.contains("bcast hb1: interface hb1 not found; retrying every 5 s"),
        "{log}"
    );
    assert!(!log.contains("device: hb1"));
    pair.a.ns.sh(
        "ip link add hb1 type veth peer name hb1p && ip link set hb1p up \
         && ip addr add 203.0.113.1/24 dev hb1 && ip link set hb1 up",
    );
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            pair.a
                .dirs
                .log_text()
                .contains("bcast: bound receive socket to device: hb1")
        }),
        "{}",
        pair.logs()
    );
    assert!(
        pair.a
            .dirs
            .log_text()
            .contains("bcast hb1: medium is usable again")
    );
    assert!(pair.a.alive());
    assert_eq!(pair.b.dirs.status_of("nodea"), "active");
}
