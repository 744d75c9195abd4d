//! End-to-end faults on the namespace test bed: kill -9, a frozen node, a cut heartbeat link, a
//! node cut off the public segment, and packet loss. Each test checks that the client is served by
//! the right node and that the VIP is never on both nodes outside the fault window (sampled every
//! 20 ms on both). Runs as root with `HB_E2E_KIND` = ours (default) | heartbeat | keepalived;
//! skips cleanly otherwise.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::netns::wait_until;
use common::testbed::probe::LogTail;
use common::testbed::{Kind, Testbed, inside_windows, suite_bed};

fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir")
}

/// What node B logs when it decides node A is gone.
fn dead_line(bed: &Testbed) -> &'static str {
    match bed.nodes[1].kind {
        Kind::Keepalived => "Entering MASTER STATE",
        _ => "node nodea: is dead",
    }
}

/// What node B logs when node A's daemon is killed: our crash guard's shutdown notice in A's
/// name, or deadtime for the others.
fn crash_line(bed: &Testbed) -> &'static str {
    match bed.nodes[0].kind {
        Kind::Ours if bed.nodes[1].kind != Kind::Keepalived => {
            "Received shutdown notice from 'nodea'"
        }
        _ => dead_line(bed),
    }
}

/// Bound for a takeover: deadtime plus generous room for scripts on a busy machine.
fn takeover_limit(bed: &Testbed) -> Duration {
    Duration::from_millis(bed.opts.timers.deadtime_ms) + Duration::from_secs(25)
}

/// Waits until B holds the VIP and the client is served by B (A may still hold a stale copy).
fn wait_b_serves(bed: &Testbed, limit: Duration) -> bool {
    wait_until(limit, Duration::from_millis(50), || {
        bed.nodes[1].has_vip() && bed.served_by() == Some("nodeb")
    })
}

/// The node that alone holds the VIP and serves the client right now, if any.
fn single_owner(bed: &Testbed) -> Option<usize> {
    let a = bed.nodes[0].has_vip();
    let b = bed.nodes[1].has_vip();
    match (a, b, bed.served_by()) {
        (true, false, Some("nodea")) => Some(0),
        (false, true, Some("nodeb")) => Some(1),
        _ => None,
    }
}

/// Waits until one node has alone held the VIP and served for `hold` without interruption
/// (the original Heartbeat releases everything and restarts a few seconds after a partition
/// heals, so a first owner is not yet the final one); returns it.
fn wait_stable_owner(bed: &Testbed, hold: Duration, limit: Duration) -> Option<usize> {
    let start = Instant::now();
    let mut since: Option<(usize, Instant)> = None;
    while start.elapsed() < limit {
        match (single_owner(bed), since) {
            (Some(o), Some((prev, t))) if o == prev => {
                if t.elapsed() >= hold {
                    return Some(o);
                }
            }
            (Some(o), _) => since = Some((o, Instant::now())),
            (None, _) => since = None,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn kill9_of_a_moves_the_service_to_b_and_failback_returns_it() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "kill9") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(180));
    let tail_b = LogTail::from_end(&bed.nodes[1].log_path());
    let fault = Instant::now();
    bed.nodes[0].kill9_main();
    assert!(
        wait_b_serves(&bed, takeover_limit(&bed)),
        "B did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    assert!(
        tail_b.new_text().contains(crash_line(&bed)),
        "{}",
        bed.logs_tail(20)
    );
    // A's machine restarts (its leftover VIP goes with the reboot) and gets the group back.
    bed.nodes[0].reboot().unwrap();
    let rebooted = Instant::now();
    assert!(
        bed.wait_owner(0, Duration::from_secs(60)),
        "no failback to A: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    let failed_back = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let both = watch.both_intervals();
    let mut windows = vec![(fault, rebooted)];
    if bed.nodes[0].kind == Kind::Keepalived {
        // keepalived's failback is a preemption: the new master configures the VIP while the old
        // one may hold it for a few ms more (make-before-break, see e2e_admin): reported only.
        let ms: Vec<u128> = both
            .iter()
            .filter(|(s, _)| *s >= rebooted)
            .map(|(s, e)| (*e - *s).as_millis())
            .collect();
        eprintln!("keepalived: VIP on both nodes during the failback for {ms:?} ms");
        windows.push((rebooted, failed_back));
    }
    assert!(
        inside_windows(&both, &windows),
        "VIP on both nodes outside the fault window: {both:?} (fault at {fault:?})"
    );
}

#[test]
fn frozen_a_is_replaced_by_b_and_one_owner_remains_after_thaw() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "freeze") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(240));
    let tail_b = LogTail::from_end(&bed.nodes[1].log_path());
    let fault = Instant::now();
    bed.nodes[0].freeze();
    let took_over = wait_b_serves(&bed, takeover_limit(&bed));
    bed.nodes[0].thaw();
    assert!(
        took_over,
        "B did not take over from a frozen A: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    );
    assert!(tail_b.new_text().contains(dead_line(&bed)));
    // The hung machine resumes: the pair must converge on one owner that serves.
    let owner = wait_stable_owner(&bed, Duration::from_secs(8), Duration::from_secs(150));
    assert!(
        owner.is_some(),
        "no single owner after thaw: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    // The pair settled when the owner's uninterrupted hold began.
    let settled = Instant::now() - Duration::from_secs(8);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(single_owner(&bed), owner);
    let both = watch.both_intervals();
    assert!(
        inside_windows(&both, &[(fault, settled)]),
        "VIP on both nodes after the pair settled: {both:?}"
    );
}

#[test]
fn cut_heartbeat_link_heals_to_one_owner() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "cut_hb_link") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(240));
    let tail_b = LogTail::from_end(&bed.nodes[1].log_path());
    let fault = Instant::now();
    bed.nodes[0].cut_hb_link().unwrap();
    let limit = takeover_limit(&bed);
    let b_saw = wait_until(limit, Duration::from_millis(100), || {
        tail_b.new_text().contains(dead_line(&bed))
    });
    bed.nodes[0].heal().unwrap();
    assert!(b_saw, "B never noticed the cut link\n{}", bed.logs_tail(20));
    let owner = wait_stable_owner(&bed, Duration::from_secs(8), Duration::from_secs(150));
    assert!(
        owner.is_some(),
        "no single owner after the link healed: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    // The pair settled when the owner's uninterrupted hold began.
    let settled = Instant::now() - Duration::from_secs(8);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(single_owner(&bed), owner);
    let both = watch.both_intervals();
    assert!(
        inside_windows(&both, &[(fault, settled)]),
        "VIP on both nodes after the link healed: {both:?}"
    );
}

#[test]
fn a_cut_off_the_public_segment_keeps_the_group_and_serves_again() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "cut_public") else {
        return;
    };
    if bed.nodes[0].kind == Kind::Keepalived {
        // keepalived tracks the VIP's interface and faults; the v1 behaviour tested here is
        // "without ping nodes, a public-side failure moves nothing".
        eprintln!("cut_public: skipped for keepalived");
        return;
    }
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(120));
    let tail_b = LogTail::from_end(&bed.nodes[1].log_path());
    bed.cut_public(0, true).unwrap();
    let t = bed.opts.timers;
    std::thread::sleep(Duration::from_millis(2 * t.deadtime_ms));
    assert_eq!(
        bed.served_by(),
        None,
        "the client still reaches A through a cut port"
    );
    assert!(bed.nodes[0].has_vip() && !bed.nodes[1].has_vip());
    bed.cut_public(0, false).unwrap();
    assert!(
        bed.wait_owner(0, Duration::from_secs(20)),
        "A does not serve after reconnection: {}",
        bed.describe()
    );
    assert!(!tail_b.new_text().contains(dead_line(&bed)));
    assert!(watch.both_intervals().is_empty(), "VIP was on both nodes");
}

#[test]
fn thirty_percent_heartbeat_loss_causes_no_failover() {
    let Some(mut bed) = suite_bed(bin_dir(), true, "loss") else {
        return;
    };
    bed.bring_up().unwrap();
    let watch = bed.watch_vip(Duration::from_secs(120));
    let tails = [
        LogTail::from_end(&bed.nodes[0].log_path()),
        LogTail::from_end(&bed.nodes[1].log_path()),
    ];
    bed.nodes[1].drop_hb_percent(30).unwrap();
    bed.nodes[0].drop_hb_percent(30).unwrap();
    let t = bed.opts.timers;
    let until = Instant::now() + Duration::from_millis(3 * t.deadtime_ms);
    let mut served = 0;
    let mut by_b = 0;
    while Instant::now() < until {
        match bed.served_by() {
            Some("nodea") => served += 1,
            Some(_) => by_b += 1,
            None => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bed.nodes[0].heal().unwrap();
    bed.nodes[1].heal().unwrap();
    assert!(served > 0 && by_b == 0, "served by A {served}, by B {by_b}");
    let logs = tails[0].new_text() + &tails[1].new_text();
    assert!(
        !logs.contains(dead_line(&bed)) && !logs.contains("node nodeb: is dead"),
        "a node was declared dead under 30 % loss\n{}",
        bed.logs_tail(20)
    );
    assert!(bed.wait_owner(0, Duration::from_secs(10)));
    assert!(watch.both_intervals().is_empty(), "VIP was on both nodes");
}
