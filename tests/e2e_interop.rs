//! Interoperability (issue 9): a mixed pair of one heartbeat-rs node and one real Heartbeat 3.0.6
//! node (Debian's package, v1 mode) on the namespace test bed.
//!
//! - steady pair, both start orders, each of crc / md5 / sha1: both `cl_status` show the other
//!   `active`, and neither log shows an authentication failure, a bad packet, lost packets, a
//!   filling history queue or a late heartbeat during a steady window;
//! - the real node owns the group: kill -9 / freeze / SIGTERM it, ours takes over and serves
//!   (on the shutdown notice for SIGTERM), it comes back and gets the group back (auto_failback on);
//! - our node owns the group: SIGTERM ours, the real node takes over on the shutdown notice;
//!   `hb_standby` on either side moves the group;
//! - our node restarted mid-run (new generation): the real node accepts it without restarting.
//!
//! The steady window is 60 s for the first combination and 10 s for the others;
//! `HB_INTEROP_STEADY_SECS` overrides the long one (for quick local runs).
//! `HB_INTEROP_CAPTURE=DIR` writes the message types seen on the heartbeat link (tcpdump) per run.
//! Skips cleanly without root or without `/usr/libexec/heartbeat/heartbeat`.
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::netns::{ChildGuard, can_use_netns, run, wait_until};
use common::testbed::{BedOptions, Kind, NODE_NAMES, Testbed, Timers};

/// Timers the real node accepts (deadtime > 2 x keepalive, initdead >= deadtime).
fn interop_timers() -> Timers {
    Timers {
        keepalive_ms: 500,
        deadtime_ms: 3000,
        warntime_ms: 2000,
        initdead_ms: 6000,
    }
}

/// Lines either side must never log while the pair is steady.
const BAD_ALWAYS: &[&str] = &[
    "failed authentication",
    "authtoken does not match",
    "authentication failed",
    "bad node",
    "replay attack",
    "Message hist queue is filling up",
    "Heartbeat restart triggered",
    "returning after partition",
    "ignoring message type",
    "Ignored standby message",
];

/// Lines that must not appear in a steady window (they may around a fault).
const BAD_STEADY: &[&str] = &[
    "Late heartbeat",
    "lost packet",
    "is dead",
    "Link nodea:hb0 dead",
    "Link nodeb:hb0 dead",
];

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

/// A mixed bed (not started), or None when the test must be skipped.
fn mixed_bed(kinds: [Kind; 2], auth: &str, test: &str) -> Option<Testbed> {
    if !can_use_netns() {
        eprintln!("{test}: skipped: needs root and iproute2");
        return None;
    }
    let bin = bin_dir();
    for kind in [Kind::Heartbeat, Kind::Ours] {
        if let Some(why) = kind.missing(&bin) {
            eprintln!("{test}: skipped: {}: {why}", kind.label());
            return None;
        }
    }
    let mut opts = BedOptions::new(Kind::Ours, &bin);
    opts.kinds = kinds;
    opts.timers = interop_timers();
    opts.auth = auth.to_string();
    let bed = Testbed::new(opts).unwrap_or_else(|e| panic!("{test}: test bed: {e}"));
    // `debug 1` on both sides: the real node then logs what it drops, ours what it ignores.
    for n in &bed.nodes {
        let cf = n.ha_dir().join("ha.cf");
        let mut text = std::fs::read_to_string(&cf).unwrap();
        text.push_str("debug 1\n");
        std::fs::write(&cf, text).unwrap();
    }
    Some(bed)
}

/// Everything a node has logged (log file and debug file).
fn all_logs(bed: &Testbed, idx: usize) -> String {
    let n = &bed.nodes[idx];
    let mut s = n.log_text();
    s.push_str(&std::fs::read_to_string(n.log_dir().join("ha-debug")).unwrap_or_default());
    s
}

/// Log lengths now, to look only at what comes after.
fn marks(bed: &Testbed) -> [(usize, usize); 2] {
    [0, 1].map(|i| {
        let n = &bed.nodes[i];
        (
            n.log_text().len(),
            std::fs::read_to_string(n.log_dir().join("ha-debug"))
                .map(|s| s.len())
                .unwrap_or(0),
        )
    })
}

/// What node `idx` logged since `m`.
fn since(bed: &Testbed, m: &[(usize, usize); 2], idx: usize) -> String {
    let n = &bed.nodes[idx];
    let log = n.log_text();
    let dbg = std::fs::read_to_string(n.log_dir().join("ha-debug")).unwrap_or_default();
    let mut s = log.get(m[idx].0..).unwrap_or("").to_string();
    s.push_str(dbg.get(m[idx].1..).unwrap_or(""));
    s
}

/// The offending lines of `text` for the given patterns.
fn offending(text: &str, patterns: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| patterns.iter().any(|p| l.contains(p)))
        .map(str::to_string)
        .collect()
}

fn assert_clean(bed: &Testbed, text: &str, idx: usize, patterns: &[&str], what: &str) {
    let bad = offending(text, patterns);
    assert!(
        bad.is_empty(),
        "{what}: {} ({}) logged:\n{}\n{}",
        NODE_NAMES[idx],
        bed.nodes[idx].kind.label(),
        bad.join("\n"),
        bed.logs_tail(30)
    );
}

fn assert_both_active(bed: &Testbed, what: &str) {
    assert!(
        bed.wait_peers_active(Duration::from_secs(20)),
        "{what}: peers not active: A says {:?}, B says {:?}\n{}",
        bed.nodes[0].node_status("nodeb"),
        bed.nodes[1].node_status("nodea"),
        bed.logs_tail(30)
    );
}

/// tcpdump on node A's end of the heartbeat link, when `HB_INTEROP_CAPTURE` names a directory.
struct Capture {
    file: PathBuf,
    guard: Option<ChildGuard>,
    label: String,
}

impl Capture {
    fn start(bed: &Testbed, label: &str) -> Option<Capture> {
        let dir = PathBuf::from(std::env::var_os("HB_INTEROP_CAPTURE")?);
        std::fs::create_dir_all(&dir).ok()?;
        let file = dir.join(format!("{label}.pcap"));
        let f = file.to_string_lossy().into_owned();
        let guard = bed.nodes[0].ns.spawn(
            "tcpdump",
            &["-U", "-s", "0", "-i", "hb0", "-w", &f, "udp", "port", "694"],
        );
        std::thread::sleep(Duration::from_millis(500));
        Some(Capture {
            file,
            guard: Some(guard),
            label: label.to_string(),
        })
    }

    /// Stops the capture and writes `LABEL.types`: one `sender kind type` line per distinct pair.
    fn finish(mut self, bed: &Testbed) {
        std::thread::sleep(Duration::from_millis(300));
        drop(self.guard.take());
        let out = run(&format!(
            "tcpdump -r {} -n -A 2>/dev/null",
            self.file.display()
        ));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut seen = BTreeSet::new();
        for pkt in text.split("IP 198.51.100.") {
            let (Some(t), Some(src)) = (field(pkt, "t="), field(pkt, "src=")) else {
                continue;
            };
            let kind = NODE_NAMES
                .iter()
                .position(|n| *n == src)
                .map(|i| bed.nodes[i].kind.label())
                .unwrap_or("?");
            let info = field(pkt, "info=")
                .map(|i| format!(" info={i}"))
                .unwrap_or_default();
            let rtype = field(pkt, "rtype=")
                .map(|i| format!(" rtype={i}"))
                .unwrap_or_default();
            seen.insert(format!("{src} {kind} {t}{info}{rtype}"));
        }
        let list: Vec<String> = seen.into_iter().collect();
        let path = self.file.with_extension("types");
        let _ = std::fs::write(&path, list.join("\n") + "\n");
        eprintln!("{}: message types on hb0:\n{}", self.label, list.join("\n"));
    }
}

/// The value of `name` in a tcpdump -A dump of one packet (classic `name=value` or netstring).
fn field(pkt: &str, name: &str) -> Option<String> {
    let at = pkt.find(&format!(")({name}")).map(|i| i + 3).or_else(|| {
        pkt.match_indices(name)
            .find(|(i, _)| *i == 0 || !pkt.as_bytes()[i - 1].is_ascii_alphanumeric())
            .map(|(i, _)| i)
    })?;
    let v: String = pkt[at + name.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (!v.is_empty()).then_some(v)
}

fn long_steady() -> Duration {
    let secs = std::env::var("HB_INTEROP_STEADY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Both orders, each authentication method: steady and clean.
#[test]
fn mixed_pair_is_steady_in_both_orders_with_each_auth_method() {
    let test = "mixed_pair_is_steady";
    let mut first = true;
    for kinds in [[Kind::Heartbeat, Kind::Ours], [Kind::Ours, Kind::Heartbeat]] {
        for auth in ["sha1 interop-secret", "md5 interop-secret", "crc"] {
            let Some(mut bed) = mixed_bed(kinds, auth, test) else {
                return;
            };
            let label = format!(
                "steady-{}-{}",
                kinds[0].label(),
                auth.split(' ').next().unwrap_or("")
            );
            let cap = Capture::start(&bed, &label);
            bed.bring_up()
                .unwrap_or_else(|e| panic!("{label}: did not come up: {e}"));
            assert_eq!(bed.nodes[0].node_status("nodeb").as_deref(), Some("active"));
            assert_eq!(bed.nodes[1].node_status("nodea").as_deref(), Some("active"));
            let window = if first {
                long_steady()
            } else {
                Duration::from_secs(10)
            };
            first = false;
            let m = marks(&bed);
            let end = Instant::now() + window;
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(500));
                assert_eq!(bed.served_by(), Some("nodea"), "{label}: A stopped serving");
            }
            assert_both_active(&bed, &label);
            for i in 0..2 {
                assert_clean(&bed, &all_logs(&bed, i), i, BAD_ALWAYS, &label);
                assert_clean(&bed, &since(&bed, &m, i), i, BAD_STEADY, &label);
            }
            if let Some(c) = cap {
                c.finish(&bed);
            }
        }
    }
}

/// The real node (A) owns the group: kill -9, then freeze, then SIGTERM; ours takes over (the
/// last time on the shutdown notice), A comes back and gets the group back (auto_failback on).
#[test]
fn ours_takes_over_from_the_real_node_and_gives_back() {
    let test = "ours_takes_over_from_the_real_node";
    let Some(mut bed) = mixed_bed([Kind::Heartbeat, Kind::Ours], "sha1 interop-secret", test)
    else {
        return;
    };
    let cap = Capture::start(&bed, "takeover-from-real");
    bed.bring_up().unwrap();
    let deadtime = Duration::from_millis(bed.opts.timers.deadtime_ms);
    for fault in ["kill9", "freeze"] {
        let t0 = Instant::now();
        match fault {
            "kill9" => bed.nodes[0].kill9(),
            _ => bed.nodes[0].freeze(),
        }
        // The dead or frozen node keeps its VIP configured: B must hold it and serve the client.
        assert!(
            wait_until(
                deadtime + Duration::from_secs(30),
                Duration::from_millis(100),
                || bed.nodes[1].has_vip() && bed.served_by() == Some("nodeb")
            ),
            "{fault}: ours did not take over: {}\n{}",
            bed.describe(),
            bed.logs_tail(30)
        );
        // The real node's last heartbeat left up to one keepalive before the fault, and ours
        // counts deadtime from that heartbeat.
        let took = t0.elapsed();
        let keepalive = Duration::from_millis(bed.opts.timers.keepalive_ms);
        assert!(
            took + keepalive + Duration::from_millis(100) >= deadtime,
            "{fault}: took over in {took:?}, more than a keepalive before deadtime"
        );
        assert!(bed.nodes[1].log_text().contains("node nodea: is dead"));
        // A comes back (a frozen node is rebooted without a thaw, as a hung machine would be).
        bed.nodes[0].reboot().unwrap();
        assert!(
            bed.wait_owner(0, Duration::from_secs(60)),
            "{fault}: no failback to the real node: {}\n{}",
            bed.describe(),
            bed.logs_tail(30)
        );
        assert_both_active(&bed, fault);
        bed.settle();
    }
    // A graceful stop of the real node: ours takes over on its shutdown notice, not deadtime.
    let m = marks(&bed);
    bed.nodes[0].sigterm();
    assert!(
        bed.wait_owner(1, Duration::from_secs(30)),
        "sigterm: ours did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert!(
        bed.nodes[0].wait_exit(Duration::from_secs(30)),
        "the real node did not exit"
    );
    let b_log = since(&bed, &m, 1);
    assert!(
        b_log.contains("Received shutdown notice from 'nodea'"),
        "no shutdown notice on ours:\n{b_log}"
    );
    assert!(
        !b_log.contains("node nodea: is dead"),
        "ours waited for deadtime:\n{b_log}"
    );
    bed.nodes[0].start().unwrap();
    assert!(
        bed.wait_owner(0, Duration::from_secs(60)),
        "no failback to the restarted real node: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert_both_active(&bed, "after the real node's restart");
    for i in 0..2 {
        assert_clean(&bed, &all_logs(&bed, i), i, BAD_ALWAYS, test);
    }
    if let Some(c) = cap {
        c.finish(&bed);
    }
}

/// Our node (A) owns the group: SIGTERM moves it to the real node on the shutdown notice; ours
/// restarts and gets it back; `hb_standby` on either side moves the group to the other.
#[test]
fn graceful_stop_and_standby_move_the_group_between_ours_and_the_real_node() {
    let test = "graceful_stop_and_standby";
    let Some(mut bed) = mixed_bed([Kind::Ours, Kind::Heartbeat], "md5 interop-secret", test) else {
        return;
    };
    let cap = Capture::start(&bed, "stop-standby");
    bed.bring_up().unwrap();

    // SIGTERM ours: the real node takes over on the shutdown notice, not after deadtime.
    let m = marks(&bed);
    bed.nodes[0].sigterm();
    assert!(
        bed.wait_owner(1, Duration::from_secs(30)),
        "sigterm: the real node did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert!(
        bed.nodes[0].wait_exit(Duration::from_secs(30)),
        "ours did not exit"
    );
    let b_log = since(&bed, &m, 1);
    assert!(
        b_log.contains("Received shutdown notice from 'nodea'"),
        "no shutdown notice on the real node:\n{b_log}"
    );
    assert!(
        !b_log.contains("node nodea: is dead"),
        "the real node waited for deadtime:\n{b_log}"
    );

    // Ours restarts (a new generation) and gets the group back.
    bed.nodes[0].start().unwrap();
    assert!(
        bed.wait_owner(0, Duration::from_secs(60)),
        "restart: no failback to ours: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert_both_active(&bed, "restart after sigterm");
    bed.settle();

    // hb_standby on ours: the real node takes the group.
    let out = bed.nodes[0].standby();
    assert!(out.status.success(), "hb_standby on ours: {out:?}");
    assert!(
        bed.wait_owner(1, Duration::from_secs(40)),
        "standby on ours: the real node did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    bed.settle();
    // hb_standby on the real node: ours takes the group back.
    let out = bed.nodes[1].standby();
    assert!(out.status.success(), "hb_standby on the real node: {out:?}");
    assert!(
        bed.wait_owner(0, Duration::from_secs(40)),
        "standby on the real node: ours did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert_both_active(&bed, "after standby");
    bed.settle();

    // kill -9 of ours: its crash guard releases the group and sends `shutdone` in ours' name;
    // the real node takes over on that notice, not after deadtime.
    let m = marks(&bed);
    let t0 = Instant::now();
    bed.nodes[0].kill9_main();
    assert!(
        bed.wait_owner(1, Duration::from_secs(30)),
        "kill -9: the real node did not take over: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    let took = t0.elapsed();
    let b_log = since(&bed, &m, 1);
    assert!(
        b_log.contains("Received shutdown notice from 'nodea'"),
        "the real node did not accept the guard's notice:\n{b_log}"
    );
    assert!(
        took < Duration::from_millis(bed.opts.timers.deadtime_ms),
        "kill -9: the real node served only after {took:?}\n{b_log}"
    );
    eprintln!("kill -9 of ours: the real node serves after {took:?}");
    for i in 0..2 {
        assert_clean(&bed, &all_logs(&bed, i), i, BAD_ALWAYS, test);
    }
    if let Some(c) = cap {
        c.finish(&bed);
    }
}

/// Our node restarted mid-run (kill -9 and start again before deadtime: a new generation): the
/// real node accepts it back without a restart of its own and keeps serving.
#[test]
fn real_node_accepts_ours_back_after_a_restart_mid_run() {
    let test = "real_node_accepts_ours_back";
    let Some(mut bed) = mixed_bed([Kind::Heartbeat, Kind::Ours], "crc", test) else {
        return;
    };
    let cap = Capture::start(&bed, "restart-mid-run");
    bed.bring_up().unwrap();
    for round in 0..2 {
        let m = marks(&bed);
        bed.nodes[1].kill9();
        bed.nodes[1].start().unwrap();
        assert_both_active(&bed, "after the restart");
        // Past Heartbeat's 5 s start-up grace, then a steady stretch.
        std::thread::sleep(Duration::from_secs(8));
        assert!(
            wait_until(Duration::from_secs(5), Duration::from_millis(100), || bed
                .served_by()
                == Some("nodea")),
            "round {round}: A stopped serving: {}",
            bed.describe()
        );
        assert!(!bed.nodes[1].has_vip(), "round {round}: ours took the VIP");
        assert_both_active(&bed, "after the restart");
        let a_log = since(&bed, &m, 0);
        assert_clean(&bed, &a_log, 0, BAD_ALWAYS, "restart mid-run");
        assert_clean(
            &bed,
            &a_log,
            0,
            &["is dead", "lost packet"],
            "restart mid-run",
        );
        assert!(
            bed.nodes[0].daemon_running(),
            "the real node's daemon is gone"
        );
    }
    for i in 0..2 {
        assert_clean(&bed, &all_logs(&bed, i), i, BAD_ALWAYS, test);
    }
    if let Some(c) = cap {
        c.finish(&bed);
    }
}
