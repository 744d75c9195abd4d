//! End-to-end administration on the namespace test bed: hb_standby / hb_takeover, graceful stop
//! (SIGTERM), auto_failback off, and a reload (SIGHUP) while a client keeps fetching. Graceful
//! moves must never put the VIP on both nodes. Runs as root with `HB_E2E_KIND` = ours (default) |
//! heartbeat | keepalived; skips cleanly otherwise.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::netns::wait_until;
use common::testbed::probe::LogTail;
use common::testbed::{Kind, inside_windows, suite_bed};

fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir")
}

/// Heartbeat releases on one node before acquiring on the other, so a graceful move never shows
/// the VIP on both nodes. keepalived does not promise that (the new master configures the VIP
/// while the old one may still hold it): only reported.
fn assert_break_before_make(kind: Kind, both: &[(Instant, Instant)]) {
    if kind == Kind::Keepalived {
        let ms: Vec<u128> = both.iter().map(|(s, e)| (*e - *s).as_millis()).collect();
        eprintln!("keepalived: VIP on both nodes during a graceful move for {ms:?} ms");
        return;
    }
    assert!(
        both.is_empty(),
        "VIP on both nodes during a graceful move: {both:?}"
    );
}

#[test]
fn hb_standby_moves_the_group_to_b_and_hb_takeover_brings_it_back() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "standby") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(180));
    let out = bed.nodes[0].standby();
    assert!(out.status.success(), "hb_standby: {out:?}");
    assert!(
        bed.wait_owner(1, Duration::from_secs(30)),
        "standby did not move the group: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    bed.settle();
    let out = bed.nodes[0].takeover();
    assert!(out.status.success(), "hb_takeover: {out:?}");
    assert!(
        bed.wait_owner(0, Duration::from_secs(30)),
        "takeover did not bring the group back: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    let both = watch.both_intervals();
    assert_break_before_make(bed.nodes[0].kind, &both);
}

#[test]
fn sigterm_hands_the_group_over_without_waiting_for_deadtime() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "sigterm") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(180));
    let tail_b = LogTail::from_end(&bed.nodes[1].log_path());
    bed.nodes[0].sigterm();
    assert!(
        bed.wait_owner(1, Duration::from_secs(30)),
        "B did not take over after SIGTERM: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    // The handover is driven by the stop notice, not by the dead-time expiry.
    let notice = match bed.nodes[1].kind {
        Kind::Keepalived => "Entering MASTER STATE",
        _ => "Received shutdown notice from 'nodea'",
    };
    assert!(
        tail_b.new_text().contains(notice),
        "no shutdown notice on B\n{}",
        bed.logs_tail(20)
    );
    assert!(
        bed.nodes[0].wait_exit(Duration::from_secs(40)),
        "A's daemon did not exit after SIGTERM"
    );
    assert!(
        !bed.nodes[0].has_vip(),
        "A kept the VIP after a graceful stop"
    );
    // Restarted at once (before B's dead time ran out): the original still fails back, because
    // its takeover after the shutdown notice goes through mach_down, whose `resource
    // info=mach_down` marks a failback as needed (spec 6.7 rules 4 and 8).
    bed.nodes[0].start().unwrap();
    assert!(
        bed.wait_owner(0, Duration::from_secs(60)),
        "no failback after restart: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    let both = watch.both_intervals();
    assert_break_before_make(bed.nodes[0].kind, &both);
}

#[test]
fn auto_failback_off_leaves_the_group_on_b_when_a_returns() {
    let Some(mut bed) = suite_bed(bin_dir(), false, "auto_failback_off") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(180));
    let fault = Instant::now();
    bed.nodes[0].kill9();
    let limit = Duration::from_millis(bed.opts.timers.deadtime_ms) + Duration::from_secs(25);
    assert!(
        wait_until(limit, Duration::from_millis(50), || bed.nodes[1].has_vip()
            && bed.served_by() == Some("nodeb")),
        "B did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    bed.nodes[0].reboot().unwrap();
    let rebooted = Instant::now();
    assert!(
        bed.wait_peers_active(Duration::from_secs(40)),
        "A did not rejoin"
    );
    bed.settle();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        bed.wait_owner(1, Duration::from_secs(5)),
        "the group moved back although auto_failback is off: {}",
        bed.describe()
    );
    let both = watch.both_intervals();
    assert!(
        inside_windows(&both, &[(fault, rebooted)]),
        "VIP on both nodes outside the fault window: {both:?}"
    );
}

#[test]
fn reload_under_load_keeps_serving_from_a() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "reload") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(180));
    // A changed configuration file (same content, new mtime) makes the reload a real one.
    let conf = match bed.nodes[0].kind {
        Kind::Keepalived => bed.nodes[0].dir.join("keepalived.conf"),
        _ => bed.nodes[0].ha_dir().join("ha.cf"),
    };
    let text = std::fs::read_to_string(&conf).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&conf, text).unwrap();
    let t = bed.opts.timers;
    let until = Instant::now() + Duration::from_millis(3 * t.deadtime_ms);
    let (mut ok_a, mut other, mut failed) = (0, 0, 0);
    let mut hupped = false;
    while Instant::now() < until {
        if !hupped && ok_a >= 5 {
            bed.nodes[0].sighup();
            hupped = true;
        }
        match bed.served_by() {
            Some("nodea") => ok_a += 1,
            Some(_) => other += 1,
            None => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hupped);
    assert_eq!(
        other,
        0,
        "served by B during a reload\n{}",
        bed.logs_tail(20)
    );
    // A fetch may time out on a starved machine; losing the service would fail most of them.
    assert!(
        failed * 20 <= ok_a,
        "{failed} failed fetches against {ok_a} good ones during the reload"
    );
    assert!(
        bed.nodes[0].daemon_running(),
        "A's daemon is gone after SIGHUP"
    );
    assert!(bed.wait_owner(0, Duration::from_secs(10)));
    assert!(watch.both_intervals().is_empty(), "VIP was on both nodes");
}
