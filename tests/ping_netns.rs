//! Ping nodes end to end in network namespaces (issue 7), on the shared test bed: two nodes of
//! ours, a public segment whose namespace also answers as the router 192.0.2.254 (the ping node),
//! a client, and the dedicated heartbeat link.
//!
//! - Cutting A's public link moves the VIP to B within deadping + one keepalive + script time
//!   (measured: the scripts from the daemons' logs, the VIP by polling B), and the client
//!   reaches http://VIP/ through B.
//! - Cutting the heartbeat link and A's public link together: B takes over, A (reaching neither
//!   its peer nor a ping node) does not, and releases what it held; after that, never both.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::netns::{can_use_netns, wait_until};
use common::testbed::{BedOptions, Kind, NODE_NAMES, Testbed, Timers, VIP, probe};

const ROUTER: &str = "192.0.2.254";
const DEADPING_MS: u64 = 1500;

fn skip() -> bool {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return true;
    }
    false
}

fn bed(extra: &str) -> Testbed {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let mut opts = BedOptions::new(Kind::Ours, &bin_dir);
    opts.timers = Timers::short();
    opts.extra_ha_cf = format!("ping {ROUTER}\ndeadping {DEADPING_MS}ms\n{extra}");
    let bed = Testbed::new(opts).expect("test bed");
    bed.add_router(ROUTER).expect("router address");
    bed
}

/// Both daemons up, A serving, both seeing the router as a live ping node.
fn started(extra: &str) -> Testbed {
    let mut bed = bed(extra);
    bed.start_both().expect("daemons start");
    assert!(
        bed.wait_peers_active(Duration::from_secs(20)),
        "{}",
        bed.logs_tail(40)
    );
    assert!(
        bed.wait_owner(0, Duration::from_secs(30)),
        "{}\n{}",
        bed.describe(),
        bed.logs_tail(40)
    );
    let pinging = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        (0..2).all(|i| bed.nodes[i].node_status(ROUTER).as_deref() == Some("ping"))
    });
    assert!(pinging, "{}", bed.logs_tail(40));
    bed
}

#[test]
fn ping_node_listed_like_the_original() {
    if skip() {
        return;
    }
    let bed = started("");
    let a = &bed.nodes[0];
    let out = a
        .cl_status(&format!("nodetype {ROUTER}"))
        .expect("cl_status");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ping");
    let out = a.cl_status("listnodes").expect("cl_status");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.lines().any(|l| l == ROUTER), "{listed}");
    let out = a.cl_status("listnodes -v").expect("cl_status");
    let verbose = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        verbose.contains(&format!(
            "\n{ROUTER}\tping\t(nodetype: ping)\n\t{ROUTER}\tup\n"
        )),
        "{verbose}"
    );
    let out = a
        .cl_status(&format!("hblinkstatus {ROUTER} {ROUTER}"))
        .expect("cl_status");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "up");
    let out = a
        .cl_status(&format!("listhblinks {ROUTER}"))
        .expect("cl_status");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(ROUTER),
        "the ping node's link is named after it"
    );
}

/// When lines first appeared in a log after a point, stamped by polling (every few ms): the
/// daemons log with one-second resolution, too coarse for the figures we want.
struct LogStamps {
    path: std::path::PathBuf,
    from: usize,
    /// (what must be in the line, all of it) -> first seen
    wanted: Vec<(&'static [&'static str], Option<Instant>)>,
}

impl LogStamps {
    fn new(path: std::path::PathBuf, wanted: &[&'static [&'static str]]) -> LogStamps {
        let from = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
        LogStamps {
            path,
            from,
            wanted: wanted.iter().map(|w| (*w, None)).collect(),
        }
    }

    fn poll(&mut self) {
        let Ok(text) = std::fs::read(&self.path) else {
            return;
        };
        let new = String::from_utf8_lossy(text.get(self.from..).unwrap_or_default());
        let now = Instant::now();
        for (parts, seen) in self.wanted.iter_mut().filter(|(_, s)| s.is_none()) {
            if new.lines().any(|l| parts.iter().all(|p| l.contains(p))) {
                *seen = Some(now);
            }
        }
    }

    fn done(&self) -> bool {
        self.wanted.iter().all(|(_, s)| s.is_some())
    }

    fn at(&self, i: usize) -> Option<Instant> {
        self.wanted.get(i).and_then(|(_, s)| *s)
    }
}

/// Milliseconds from `a` to `b` (negative if `b` came first).
fn ms(a: Instant, b: Instant) -> i64 {
    if b >= a {
        (b - a).as_millis() as i64
    } else {
        -((a - b).as_millis() as i64)
    }
}

#[test]
fn cutting_a_public_link_moves_the_vip_to_b() {
    if skip() {
        return;
    }
    let bed = started("ipfail on\nipfail_holddown 30\n");
    let t = bed.opts.timers;
    const DETECTED: usize = 0;
    const DECIDED: usize = 1;
    const STOP_BEGIN: usize = 2;
    const STOP_END: usize = 3;
    let mut a_log = LogStamps::new(
        bed.nodes[0].log_path(),
        &[
            &["node 192.0.2.254: is dead"],
            &["giving our resources to the peer"],
            &["give up ", "HA resources (standby)."],
            &["HA resource release completed (standby)."],
        ],
    );
    const START_BEGIN: usize = 0;
    const START_END: usize = 1;
    let mut b_log = LogStamps::new(
        bed.nodes[1].log_path(),
        &[
            &["acquire ", "HA resources (standby)."],
            &["Standby resource acquisition done"],
        ],
    );
    let b_ns = bed.nodes[1].ns.name.clone();
    let vip_on_b = std::thread::spawn(move || {
        probe::wait_addr(
            &b_ns,
            VIP,
            Duration::from_millis(5),
            Duration::from_secs(30),
        )
    });
    bed.cut_public(0, true).expect("cut");
    let cut = Instant::now();
    let limit = cut + Duration::from_secs(30);
    while !(a_log.done() && b_log.done()) && Instant::now() < limit {
        a_log.poll();
        b_log.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let vip_at = vip_on_b.join().ok().flatten();
    let (Some(vip_at), true, true) = (vip_at, a_log.done(), b_log.done()) else {
        panic!(
            "VIP on B: {vip_at:?}, A log {:?}, B log {:?}\n{}\n{}",
            a_log.wanted,
            b_log.wanted,
            bed.describe(),
            bed.logs_tail(60)
        );
    };
    let stamp = |l: &LogStamps, i| l.at(i).expect("seen");
    let stop = ms(stamp(&a_log, STOP_BEGIN), stamp(&a_log, STOP_END));
    let start = ms(stamp(&b_log, START_BEGIN), stamp(&b_log, START_END));
    let scripts = (stop + start).max(0) as u64;
    let vip = ms(cut, vip_at);
    let proven = bed.nodes[0].log_text().contains("newer than our loss");
    eprintln!(
        "FIGURES cut->VIP on B {vip} ms; loss declared {} ms, hand-over decided {} ms \
         (early proof: {proven}); scripts {scripts} ms (A stop {stop} + B start {start}); \
         deadping {DEADPING_MS} + keepalive {} ms",
        ms(cut, stamp(&a_log, DETECTED)),
        ms(cut, stamp(&a_log, DECIDED)),
        t.keepalive_ms
    );
    // deadping + one keepalive (the peer's count proven newer than our loss) + the scripts,
    // with 250 ms for the standby messages, log polling and a loaded 2-core machine.
    let bound = DEADPING_MS + t.keepalive_ms + scripts + 250;
    assert!(
        vip >= 0 && vip as u64 <= bound,
        "VIP on B after {vip} ms > {bound} ms\n{}",
        bed.logs_tail(60)
    );
    assert!(proven, "no early proof\n{}", bed.logs_tail(60));
    assert!(
        bed.wait_owner(1, Duration::from_secs(10)),
        "{}\n{}",
        bed.describe(),
        bed.logs_tail(60)
    );
    assert_eq!(bed.served_by(), Some(NODE_NAMES[1]));
    assert!(
        bed.nodes[0]
            .log_text()
            .contains("ipfail: we reach 0 ping node(s), the peer reaches 1"),
        "{}",
        bed.logs_tail(40)
    );
    // It stays there (A still cut off, hold-down or not).
    std::thread::sleep(Duration::from_secs(3));
    assert!(bed.nodes[1].has_vip() && !bed.nodes[0].has_vip());
}

#[test]
fn cutting_heartbeat_and_public_links_b_takes_over_a_does_not() {
    if skip() {
        return;
    }
    let bed = started("");
    let t = bed.opts.timers;
    bed.nodes[0].cut_hb_link().expect("cut heartbeat link");
    bed.cut_public(0, true).expect("cut public link");
    // B declares A dead, still reaches the router: it takes the VIP and serves.
    let served = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        bed.nodes[1].has_vip() && bed.served_by() == Some(NODE_NAMES[1])
    });
    assert!(served, "{}\n{}", bed.describe(), bed.logs_tail(60));
    // A, cut off from both, logs why and gives the VIP up.
    let released = wait_until(
        Duration::from_millis(t.deadtime_ms + DEADPING_MS + 10_000),
        Duration::from_millis(100),
        || !bed.nodes[0].has_vip(),
    );
    assert!(released, "{}", bed.logs_tail(60));
    let log = bed.nodes[0].log_text();
    assert!(log.contains("Split-brain guard"), "{log}");
    assert!(
        log.contains("not taking over") || log.contains("releasing"),
        "{log}"
    );
    // From now on the VIP is never on both nodes.
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        assert!(
            !(bed.nodes[0].has_vip() && bed.nodes[1].has_vip()),
            "duplicate VIP\n{}",
            bed.logs_tail(60)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(bed.nodes[1].has_vip());
}

/// Ours as A, the real Heartbeat 3.0.6 as B, both with the router as ping node and ipfail (the
/// original program on B, the built-in one on A through the same `respawn` line).
fn mixed_options(bin_dir: &Path) -> BedOptions {
    let mut opts = BedOptions::new(Kind::Ours, bin_dir);
    opts.kinds = [Kind::Ours, Kind::Heartbeat];
    // The original rejects deadtime <= 2 x keepalive and wants initdead >= 10 s to be quiet.
    opts.timers = Timers {
        keepalive_ms: 500,
        deadtime_ms: 3000,
        warntime_ms: 2000,
        initdead_ms: 10_000,
    };
    opts.extra_ha_cf = format!(
        "ping {ROUTER}\ndeadping 2000ms\nrespawn hacluster /usr/libexec/heartbeat/ipfail\n"
    );
    opts
}

fn mixed_bed(opts: BedOptions) -> Testbed {
    let mut bed = Testbed::new(opts).expect("test bed");
    bed.add_router(ROUTER).expect("router address");
    bed.start_both().expect("daemons start");
    assert!(
        bed.wait_peers_active(Duration::from_secs(40)),
        "{}",
        bed.logs_tail(60)
    );
    assert!(
        bed.wait_owner(0, Duration::from_secs(40)),
        "{}\n{}",
        bed.describe(),
        bed.logs_tail(60)
    );
    bed
}

fn real_heartbeat_available(bin_dir: &Path) -> bool {
    match Kind::Heartbeat.missing(bin_dir) {
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
        None => true,
    }
}

/// The same mixed pair: A's public link is cut; our `num_ping_nodes` reaches the original
/// ipfail on B, which answers `you_are_dead`, and A hands the VIP over.
#[test]
fn real_ipfail_peer_takes_the_vip_when_our_uplink_fails() {
    if skip() {
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    if !real_heartbeat_available(&bin_dir) {
        return;
    }
    let bed = mixed_bed(mixed_options(&bin_dir));
    let pinging = wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
        (0..2).all(|i| bed.nodes[i].node_status(ROUTER).as_deref() == Some("ping"))
    });
    assert!(pinging, "{}", bed.logs_tail(60));
    bed.cut_public(0, true).expect("cut");
    let cut = Instant::now();
    let moved = bed.wait_owner(1, Duration::from_secs(40));
    for l in bed.nodes[1]
        .log_text()
        .lines()
        .filter(|l| l.contains("ipfail"))
    {
        eprintln!("real peer: {l}");
    }
    for l in bed.nodes[0]
        .log_text()
        .lines()
        .filter(|l| l.contains("ipfail"))
    {
        eprintln!("ours: {l}");
    }
    assert!(moved, "{}\n{}", bed.describe(), bed.logs_tail(80));
    eprintln!(
        "moved to the real peer after {} ms",
        cut.elapsed().as_millis()
    );
}

/// A real Heartbeat 3.0.6 as B, running the original ipfail, with the same ping node: it sees
/// our node active and keeps accepting our heartbeats (which carry `pingcount` and `pingage`),
/// and it shows the ping node as the original does.
#[test]
fn real_heartbeat_peer_is_not_disturbed_by_our_additions() {
    if skip() {
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    if !real_heartbeat_available(&bin_dir) {
        return;
    }
    let opts = mixed_options(&bin_dir);
    let bed = mixed_bed(opts);
    let both_ping = wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
        (0..2).all(|i| bed.nodes[i].node_status(ROUTER).as_deref() == Some("ping"))
    });
    assert!(both_ping, "{}", bed.logs_tail(60));
    // Ten seconds of traffic: the real node keeps seeing us active, never dead.
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        assert_eq!(
            bed.nodes[1].node_status(NODE_NAMES[0]).as_deref(),
            Some("active"),
            "{}",
            bed.logs_tail(60)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let real_log = bed.nodes[1].log_text();
    for bad in [
        "failed authentication",
        "authentication failed",
        "is dead",
        "bad node",
        "replay",
    ] {
        assert!(
            !real_log
                .lines()
                .any(|l| l.contains(bad) && l.contains(NODE_NAMES[0])),
            "real peer logged '{bad}':\n{real_log}"
        );
    }
}
