//! The crash guard for real, in a network namespace: a stand-in daemon (a forked child of the
//! test) starts the guard, says it holds a group with a virtual address, and then dies by
//! kill -9, freezes (SIGSTOP), releases its group or exits cleanly. Proves that the address is
//! removed within a bound far below any deadtime when (and only when) it must be, that the
//! stop chain runs, and that the guard logs what it did in the daemon's line shape.
//!
//! Skipped cleanly when not root (no network namespaces).
mod common;
use common::netns::*;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use heartbeat::daemon::guard::{self, GuardSettings};
use heartbeat::resource::Resolver;
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, pipe};

const VIP: &str = "192.0.2.10";
const RESOURCE_D: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d");

/// How the stand-in daemon behaves after announcing its group.
#[derive(Clone, Copy, PartialEq)]
enum Plan {
    /// Tick forever (until killed).
    Live,
    /// Release the group, then keep living.
    ReleaseThenLive,
    /// Say bye and exit 0.
    CleanExit,
    /// Arm a 400 ms watchdog and tick (the test freezes it with SIGSTOP).
    Watched,
}

struct Setup {
    ns: Netns,
    tmp: TempDir,
    log: PathBuf,
}

fn setup() -> Option<Setup> {
    if !can_use_netns() {
        eprintln!("skipped: needs root and network namespaces");
        return None;
    }
    let ns = Netns::new("hgc");
    ns.sh("ip link add d0 type veth peer name d1 && ip link set d0 up && ip link set d1 up && ip addr add 192.0.2.1/24 dev d0");
    ns.sh(&format!("ip addr add {VIP}/24 dev d0"));
    let tmp = TempDir::new("hgt");
    let log = PathBuf::from(format!("{}/ha-log", tmp.s()));
    Some(Setup { ns, tmp, log })
}

fn vip_present(ns: &Netns) -> bool {
    ns.sh("ip -o -4 addr show").contains(&format!(" {VIP}/"))
}

fn settings(s: &Setup) -> GuardSettings {
    GuardSettings {
        node: "alpha".into(),
        logfiles: vec![s.log.clone()],
        stderr: false,
        resolver: Resolver::new(Path::new(&s.tmp.s()), Some(PathBuf::from(RESOURCE_D))),
        // The script path: the stop chains run the address scripts after the removal.
        native_addresses: false,
        env: vec![("HA_RSCTMP".into(), s.tmp.s())],
        ip_timeout: Duration::from_secs(2),
        script_timeout: Duration::from_secs(5),
        last_words: None,
    }
}

/// Forks the stand-in daemon inside the namespace; returns (daemon pid, guard pid).
fn start_daemon(s: &Setup, plan: Plan) -> (Pid, u32) {
    let (report_r, report_w): (OwnedFd, OwnedFd) = pipe().unwrap();
    let netns_path = format!("/run/netns/{}", s.ns.name);
    let settings = settings(s);
    // SAFETY: the child only uses async-signal-tolerant work under glibc's fork handling and
    // leaves with _exit; it never returns into the test harness.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(report_r);
            stand_in(&netns_path, settings, File::from(report_w), plan);
            // SAFETY: leave without running the harness's handlers.
            unsafe { nix::libc::_exit(1) }
        }
        ForkResult::Parent { child } => {
            drop(report_w);
            let mut r = File::from(report_r);
            let mut text = String::new();
            let mut buf = [0u8; 64];
            while !text.contains('\n') {
                let n = r.read(&mut buf).unwrap();
                assert!(n > 0, "stand-in daemon failed to start its guard");
                text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
            }
            let guard_pid = text.trim().parse().unwrap();
            if plan == Plan::CleanExit {
                let _ = waitpid(child, None);
            }
            (child, guard_pid)
        }
    }
}

fn stand_in(netns_path: &str, settings: GuardSettings, mut report: File, plan: Plan) {
    let Ok(ns) = File::open(netns_path) else {
        return;
    };
    if setns(ns, CloneFlags::CLONE_NEWNET).is_err() {
        return;
    }
    let Ok(mut h) = guard::spawn(settings) else {
        return;
    };
    let words = vec![
        format!("IPaddr2::{VIP}/24/d0"),
        "IPaddr::192.0.2.11/24/d0".to_string(),
    ];
    if h.hold(0, &words).is_err() {
        return;
    }
    match plan {
        Plan::ReleaseThenLive => {
            let _ = h.release(0);
        }
        Plan::Watched => {
            let _ = h.watch(400);
        }
        _ => {}
    }
    let _ = writeln!(report, "{}", h.pid());
    drop(report);
    if plan == Plan::CleanExit {
        let _ = h.bye();
        // SAFETY: a clean exit without the harness's handlers.
        unsafe { nix::libc::_exit(0) }
    }
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let _ = h.tick();
    }
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => s
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => true,
    }
}

fn log_text(s: &Setup) -> String {
    std::fs::read_to_string(&s.log).unwrap_or_default()
}

/// Polls every 2 ms until the VIP is gone; returns how long it took.
fn time_until_vip_gone(s: &Setup, since: Instant, limit: Duration) -> Option<Duration> {
    while since.elapsed() < limit {
        if !vip_present(&s.ns) {
            return Some(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

#[test]
fn kill_9_of_the_daemon_removes_its_addresses_at_once() {
    let Some(s) = setup() else { return };
    let (daemon, guard_pid) = start_daemon(&s, Plan::Live);
    std::thread::sleep(Duration::from_millis(100));
    assert!(vip_present(&s.ns));
    let t0 = Instant::now();
    kill(daemon, Signal::SIGKILL).unwrap();
    let _ = waitpid(daemon, None);
    let took = time_until_vip_gone(&s, t0, Duration::from_secs(5)).expect("VIP still there");
    eprintln!("VIP removed {} ms after kill -9", took.as_millis());
    // Far below the smallest deadtime the original accepts with keepalive 200 ms (> 400 ms).
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || gone(guard_pid)
    ));
    let log = log_text(&s);
    assert!(log.contains("heartbeat: ["), "{log}");
    assert!(log.contains("]: CRIT: crash guard: daemon ["), "{log}");
    assert!(
        log.contains(&format!("removed {VIP}/24 from d0: ok")),
        "{log}"
    );
    assert!(
        log.contains("resource.d/IPaddr2 192.0.2.10/24/d0 stop: exit 0"),
        "{log}"
    );
    assert!(
        log.contains("resource.d/IPaddr 192.0.2.11/24/d0 stop: exit 0"),
        "{log}"
    );
    assert!(
        log.contains("1 address(es) removed, 0 stop failure(s)"),
        "{log}"
    );
    // Only the guard's own words: the address list of another interface is untouched.
    assert!(s.ns.sh("ip -o -4 addr show").contains("192.0.2.1/24"));
}

#[test]
fn clean_exit_leaves_everything_alone() {
    let Some(s) = setup() else { return };
    let (_daemon, guard_pid) = start_daemon(&s, Plan::CleanExit);
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || gone(guard_pid)
    ));
    assert!(vip_present(&s.ns));
    assert_eq!(log_text(&s), "");
}

#[test]
fn released_groups_are_not_touched() {
    let Some(s) = setup() else { return };
    let (daemon, guard_pid) = start_daemon(&s, Plan::ReleaseThenLive);
    std::thread::sleep(Duration::from_millis(100));
    kill(daemon, Signal::SIGKILL).unwrap();
    let _ = waitpid(daemon, None);
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || gone(guard_pid)
    ));
    assert!(vip_present(&s.ns));
    assert!(log_text(&s).contains("it held no resources: nothing to release"));
}

#[test]
fn a_frozen_daemon_is_killed_and_its_addresses_removed() {
    let Some(s) = setup() else { return };
    let (daemon, guard_pid) = start_daemon(&s, Plan::Watched);
    // Ticking keeps it alive well past the watch period.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        vip_present(&s.ns),
        "a live daemon must not be judged frozen"
    );
    let t0 = Instant::now();
    kill(daemon, Signal::SIGSTOP).unwrap();
    let took = time_until_vip_gone(&s, t0, Duration::from_secs(5)).expect("VIP still there");
    eprintln!(
        "VIP removed {} ms after the freeze (watch 400 ms)",
        took.as_millis()
    );
    assert!(
        took >= Duration::from_millis(250),
        "acted before the watch period: {took:?}"
    );
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    let _ = waitpid(daemon, None);
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || gone(guard_pid)
    ));
    let log = log_text(&s);
    assert!(log.contains("gave no sign of life for 400 ms while holding resources: killing it"));
    assert!(log.contains(&format!("removed {VIP}/24 from d0")));
}
