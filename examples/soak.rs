//! Soak and fault campaign on the namespace test bed (issue 10), not part of CI: two
//! heartbeat-rs nodes, the client polling the VIP all the while, and faults applied one after
//! the other until `--minutes` have passed:
//!
//! - `loss`: random packet loss 0-40 % (`--loss-max`) per direction on the heartbeat link (nft numgen);
//! - `flap`: the heartbeat link cut and restored at random, each cut shorter than the deadtime;
//! - `partition`: the link cut for deadtime + 2 s, then healed (both nodes hold meanwhile: no
//!   quorum without a ping node; measured: time to exactly one holder after the heal);
//! - `freeze-daemon`: the holder's daemon stopped (SIGSTOP) past the deadtime (its crash
//!   guard kills it and removes the VIP first); `freeze-node`: every process of the holder;
//! - `kill9`: kill -9 of the holder's daemon (master only, as an OOM kill);
//! - `restart`: SIGTERM of the holder, then a start;
//! - `hog`: CPU hogs on both cores in both nodes for 30 s;
//! - `flood`: examples/flood at `--flood-rate` per second at the standby then the holder.
//!
//! The VIP is sampled on both nodes every 10 ms and the client fetches the page every 100 ms.
//! Daemons that died (crash guard, kill -9) are started again. Prints a JSON summary: per fault,
//! samples with the VIP on both nodes, holder changes, the longest client outage, and whether
//! that fault was allowed to move the service.
//!
//! Run as root: `cargo run --release --example soak -- --minutes 10 [--faults a,b,...]
//! [--flood-rate 50000] [--flood-secs 60] [--seed N] [--phase-secs 30] [--loss-max 40]`.
//! The acceptance runs: `--faults loss --loss-max 30 --phase-secs 600 --minutes 10`,
//! `--faults hog --phase-secs 600 --minutes 10`, `--faults flood --flood-secs 60`,
//! `--faults partition --minutes 3` (20 partitions and heals).

// The shared test-bed modules (tests/common/mod.rs also holds test-only helpers).
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "../tests/common/testbed.rs"]
mod testbed;
mod common {
    pub(crate) use super::{netns, testbed};
}

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::testbed::{BedOptions, Kind, NODE_NAMES, Testbed, Timers, VIP, probe};

#[derive(Clone, Copy)]
struct Sample {
    t: f64,
    a: bool,
    b: bool,
}

#[derive(Clone)]
struct Served {
    t: f64,
    by: Option<&'static str>,
}

struct Record {
    fault: String,
    start: f64,
    end: f64,
    /// Whether the service may legitimately move (or be doubled) during this fault.
    may_move: bool,
    note: String,
}

struct Args {
    minutes: f64,
    faults: Vec<String>,
    flood_rate: u64,
    flood_secs: u64,
    seed: u64,
    /// Length of the `loss` and `hog` phases.
    phase_secs: u64,
    /// Highest loss percentage drawn for `loss`.
    loss_max: u64,
}

const ALL: [&str; 9] = [
    "loss",
    "flap",
    "partition",
    "freeze-daemon",
    "freeze-node",
    "kill9",
    "restart",
    "hog",
    "flood",
];

fn parse_args() -> Args {
    let mut a = Args {
        minutes: 10.0,
        faults: ALL.iter().map(|s| s.to_string()).collect(),
        flood_rate: 50_000,
        flood_secs: 20,
        seed: 0x5eed,
        phase_secs: 30,
        loss_max: 40,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--minutes" => a.minutes = v.parse().unwrap_or(a.minutes),
            "--faults" => a.faults = v.split(',').map(str::to_string).collect(),
            "--flood-rate" => a.flood_rate = v.parse().unwrap_or(a.flood_rate),
            "--flood-secs" => a.flood_secs = v.parse().unwrap_or(a.flood_secs),
            "--seed" => a.seed = v.parse().unwrap_or(a.seed),
            "--phase-secs" => a.phase_secs = v.parse().unwrap_or(a.phase_secs),
            "--loss-max" => a.loss_max = v.parse::<u64>().unwrap_or(a.loss_max).min(100),
            _ => {
                eprintln!(
                    "usage: soak --minutes N [--faults {}] [--flood-rate R] [--flood-secs S] [--seed N] [--phase-secs S] [--loss-max PCT]",
                    ALL.join(",")
                );
                std::process::exit(2);
            }
        }
    }
    a.minutes = a.minutes.clamp(0.5, 240.0);
    a
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.parent()).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn master_pid(bed: &Testbed, idx: usize) -> Option<i32> {
    bed.nodes[idx].daemon_pids().into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .map(|c| c.trim() != "hb-crash-guard")
            .unwrap_or(false)
    })
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

fn cpu_ticks(pid: i32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// The node holding the VIP alone, if one does.
fn holder(bed: &Testbed) -> Option<usize> {
    match (bed.nodes[0].has_vip(), bed.nodes[1].has_vip()) {
        (true, false) => Some(0),
        (false, true) => Some(1),
        _ => None,
    }
}

/// Restarts daemons that are not running and waits for a single serving holder.
fn recover(bed: &mut Testbed, timers: Timers) -> bool {
    for idx in 0..2 {
        // `ip netns pids` can fail under load: a daemon counts as gone only if three looks,
        // 300 ms apart, do not find it (power_off waits for the process it started).
        let gone = (0..3).all(|k| {
            if k > 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            master_pid(bed, idx).is_none() && !bed.nodes[idx].pids().is_empty()
                || master_pid(bed, idx).is_none() && bed.nodes[idx].daemon_pids().is_empty()
        });
        if gone {
            bed.nodes[idx].power_off();
            let _ = bed.nodes[idx].start();
        }
    }
    let limit = Duration::from_millis(timers.initdead_ms + timers.deadtime_ms * 3);
    let t0 = Instant::now();
    // With auto_failback on, the service goes back to its owner (node 0) once both run: wait
    // for that too (for a while), or the failback would land in the next fault's window.
    let failback_by = limit + Duration::from_secs(15);
    while t0.elapsed() < limit + Duration::from_secs(50) {
        if let Some(h) = holder(bed)
            && (h == 0 || t0.elapsed() >= failback_by)
            && bed.served_by() == Some(NODE_NAMES[h])
            && bed.wait_peers_active(Duration::from_millis(200))
        {
            std::thread::sleep(Duration::from_millis(500));
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "soak: no recovery: {}; peers: {:?} {:?}; masters: {:?} {:?}",
        bed.describe(),
        bed.nodes[0].node_status(NODE_NAMES[1]),
        bed.nodes[1].node_status(NODE_NAMES[0]),
        master_pid(bed, 0),
        master_pid(bed, 1)
    );
    false
}

fn main() {
    let args = parse_args();
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("soak: needs root (network namespaces)");
        std::process::exit(2);
    }
    common::testbed::cleanup_on_signals();
    let timers = Timers::short();
    let mut opts = BedOptions::new(Kind::Ours, &bin_dir());
    opts.timers = timers;
    let mut bed = match Testbed::new(opts) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("soak: test bed: {e}");
            std::process::exit(1);
        }
    };
    if bed.start_both().is_err() || !bed.wait_owner(0, Duration::from_secs(40)) {
        eprintln!("soak: pair did not come up\n{}", bed.logs_tail(30));
        std::process::exit(1);
    }
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let served = Arc::new(Mutex::new(Vec::<Served>::new()));
    let sampler = {
        let (stop, samples) = (stop.clone(), samples.clone());
        let names = [bed.nodes[0].ns.name.clone(), bed.nodes[1].ns.name.clone()];
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let has =
                    |n: &str| probe::in_netns(n, || probe::has_addr_here(VIP)).unwrap_or(false);
                let s = Sample {
                    t: t0.elapsed().as_secs_f64(),
                    a: has(&names[0]),
                    b: has(&names[1]),
                };
                if let Ok(mut v) = samples.lock() {
                    v.push(s);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let client = {
        let (stop, served) = (stop.clone(), served.clone());
        let name = bed.client.name.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let got = probe::in_netns(&name, || {
                    probe::http_get_here(VIP, Duration::from_millis(300))
                })
                .ok()
                .flatten();
                let by = got.and_then(|(code, body)| {
                    (code == 200)
                        .then(|| {
                            NODE_NAMES
                                .iter()
                                .find(|n| body.contains(&format!("served by {n}")))
                                .copied()
                        })
                        .flatten()
                });
                if let Ok(mut v) = served.lock() {
                    v.push(Served {
                        t: t0.elapsed().as_secs_f64(),
                        by,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let mut rng = Rng(args.seed | 1);
    let mut records: Vec<Record> = Vec::new();
    let deadline = Duration::from_secs_f64(args.minutes * 60.0);
    let dt = Duration::from_millis(timers.deadtime_ms);
    let mut i = 0usize;
    while t0.elapsed() < deadline {
        let fault = args.faults[i % args.faults.len()].clone();
        i += 1;
        let h = holder(&bed).unwrap_or(0);
        let other = 1 - h;
        let start = t0.elapsed().as_secs_f64();
        eprintln!("[{start:7.1}s] {fault} begins (holder: node {h})");
        let note: String;
        let may_move = match fault.as_str() {
            "loss" => {
                let (pa, pb) = (
                    rng.below(args.loss_max + 1) as u32,
                    rng.below(args.loss_max + 1) as u32,
                );
                let _ = bed.nodes[0].drop_hb_percent(pa);
                let _ = bed.nodes[1].drop_hb_percent(pb);
                std::thread::sleep(Duration::from_secs(args.phase_secs));
                let _ = bed.nodes[0].heal();
                let _ = bed.nodes[1].heal();
                note = format!("loss into A {pa}%, into B {pb}%");
                // At 8 keepalives per deadtime, up to 30 % loss must not move anything.
                pa > 30 || pb > 30
            }
            "flap" => {
                let until = Instant::now() + Duration::from_secs(20);
                let mut cuts = 0;
                while Instant::now() < until {
                    let _ = bed.nodes[0].cut_hb_link();
                    std::thread::sleep(Duration::from_millis(200 + rng.below(1000)));
                    let _ = bed.nodes[0].heal();
                    std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
                    cuts += 1;
                }
                note = format!("{cuts} cuts of 0.2-1.2 s (deadtime 2 s)");
                false
            }
            "partition" => {
                let _ = bed.nodes[0].cut_hb_link();
                std::thread::sleep(dt + Duration::from_secs(2));
                let _ = bed.nodes[0].heal();
                let healed = Instant::now();
                let one = common::netns::wait_until(
                    dt + Duration::from_secs(10),
                    Duration::from_millis(10),
                    || holder(&bed).is_some(),
                );
                note = format!(
                    "one holder {} ms after the heal",
                    if one {
                        healed.elapsed().as_millis().to_string()
                    } else {
                        "never".into()
                    }
                );
                true
            }
            "freeze-daemon" => {
                if let Some(p) = master_pid(&bed, h) {
                    signal(p, nix::sys::signal::Signal::SIGSTOP);
                    std::thread::sleep(dt + Duration::from_secs(2));
                    signal(p, nix::sys::signal::Signal::SIGCONT);
                }
                note = format!("daemon of node {h} stopped for deadtime + 2 s");
                true
            }
            "freeze-node" => {
                bed.nodes[h].freeze();
                std::thread::sleep(dt + Duration::from_secs(2));
                bed.nodes[h].thaw();
                note = format!("every process of node {h} stopped for deadtime + 2 s");
                true
            }
            "kill9" => {
                if let Some(p) = master_pid(&bed, h) {
                    signal(p, nix::sys::signal::Signal::SIGKILL);
                }
                std::thread::sleep(dt + Duration::from_secs(2));
                note = format!("kill -9 of node {h}'s daemon");
                true
            }
            "restart" => {
                bed.nodes[h].sigterm();
                if !bed.nodes[h].wait_exit(Duration::from_secs(30)) {
                    eprintln!("soak: node {h} did not stop within 30 s of SIGTERM");
                    bed.nodes[h].kill9();
                }
                let _ = bed.nodes[h].start();
                note = format!("SIGTERM and start of node {h}");
                true
            }
            "hog" => {
                let mut hogs = Vec::new();
                for n in &bed.nodes {
                    for _ in 0..2 {
                        let secs = args.phase_secs.to_string();
                        hogs.push(
                            n.ns.spawn("timeout", &[&secs, "sh", "-c", "while :; do :; done"]),
                        );
                    }
                }
                std::thread::sleep(Duration::from_secs(args.phase_secs));
                drop(hogs);
                note = format!(
                    "2 hogs per node (2 cores) for {} s, realtime on",
                    args.phase_secs
                );
                false
            }
            "flood" => {
                let flood = bin_dir().join("examples").join("flood");
                let mut parts = Vec::new();
                let late = |bed: &Testbed| {
                    bed.nodes
                        .iter()
                        .map(|n| {
                            n.log_text()
                                .lines()
                                .filter(|l| l.contains("Late heartbeat") || l.contains("is dead"))
                                .count()
                        })
                        .sum::<usize>()
                };
                for target in [other, h] {
                    let late0 = late(&bed);
                    let log0 = bed.nodes[target].log_text().len();
                    let ticks0 = master_pid(&bed, target).map(cpu_ticks).unwrap_or(0);
                    let t = Instant::now();
                    let out = bed.nodes[1 - target].ns.run(&format!(
                        "{} --target 198.51.100.{}:694 --rate {} --secs {} --kind forged",
                        flood.display(),
                        target + 1,
                        args.flood_rate,
                        args.flood_secs
                    ));
                    let ticks1 = master_pid(&bed, target).map(cpu_ticks).unwrap_or(0);
                    let cpu = (ticks1.saturating_sub(ticks0)) as f64
                        / common::testbed::clock_ticks() as f64
                        / t.elapsed().as_secs_f64()
                        * 100.0;
                    let drops = bed.nodes[target]
                        .cl_status("drops")
                        .map(|o| String::from_utf8_lossy(&o.stdout).replace(['\t', '\n'], " "))
                        .unwrap_or_default();
                    parts.push(format!(
                        "node {target}: {} cpu {cpu:.0}%, late/dead lines {}, log +{} bytes, drops: {}",
                        String::from_utf8_lossy(&out.stdout).trim(),
                        late(&bed) - late0,
                        bed.nodes[target].log_text().len().saturating_sub(log0),
                        drops.trim()
                    ));
                }
                note = parts.join("; ");
                false
            }
            other => {
                eprintln!("soak: unknown fault {other}");
                continue;
            }
        };
        let end = t0.elapsed().as_secs_f64();
        eprintln!("[{start:7.1}s] {fault}: {note}");
        records.push(Record {
            fault,
            start,
            end,
            may_move,
            note,
        });
        if !recover(&mut bed, timers) {
            eprintln!("soak: the pair did not recover\n{}", bed.logs_tail(30));
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let _ = client.join();
    let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
    let served = served.lock().map(|v| v.clone()).unwrap_or_default();
    print_summary(&records, &samples, &served, t0.elapsed().as_secs_f64());
}

fn print_summary(records: &[Record], samples: &[Sample], served: &[Served], total: f64) {
    let mut out = String::from("{\"faults\":[");
    let (mut all_double, mut false_failovers) = (0usize, 0usize);
    for (k, r) in records.iter().enumerate() {
        // The fault window plus the recovery that follows it, up to the next fault.
        let until = records.get(k + 1).map(|n| n.start).unwrap_or(total);
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.t >= r.start && s.t < until)
            .collect();
        let double = window.iter().filter(|s| s.a && s.b).count();
        let mut changes = 0;
        let mut last: Option<bool> = None;
        for s in &window {
            let h = match (s.a, s.b) {
                (true, false) => Some(true),
                (false, true) => Some(false),
                _ => None,
            };
            if let Some(h) = h {
                if last.is_some_and(|l| l != h) {
                    changes += 1;
                }
                last = Some(h);
            }
        }
        let mut outage = 0.0f64;
        let mut down_since: Option<f64> = None;
        for s in served.iter().filter(|s| s.t >= r.start && s.t < until) {
            match (s.by, down_since) {
                (None, None) => down_since = Some(s.t),
                (Some(_), Some(d)) => {
                    outage = outage.max(s.t - d);
                    down_since = None;
                }
                _ => {}
            }
        }
        if let Some(d) = down_since {
            outage = outage.max(until - d);
        }
        all_double += double;
        if !r.may_move && changes > 0 {
            false_failovers += changes;
        }
        if k > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"fault\":\"{}\",\"at_s\":{:.1},\"secs\":{:.1},\"note\":\"{}\",\"may_move\":{},\"holder_changes\":{changes},\"double_holder_samples\":{double},\"max_outage_ms\":{:.0}}}",
            r.fault,
            r.start,
            r.end - r.start,
            r.note.replace('"', "'"),
            r.may_move,
            outage * 1000.0
        ));
    }
    let mut per_kind: Vec<(&str, usize)> = Vec::new();
    for r in records {
        match per_kind.iter_mut().find(|(k, _)| *k == r.fault) {
            Some(e) => e.1 += 1,
            None => per_kind.push((&r.fault, 1)),
        }
    }
    let kinds: Vec<String> = per_kind
        .iter()
        .map(|(k, n)| format!("\"{k}\":{n}"))
        .collect();
    // Samples are taken back to back, at least 10 ms apart: their mean spacing turns a count
    // of samples into seconds.
    let spacing = if samples.is_empty() {
        0.0
    } else {
        total / samples.len() as f64
    };
    let ok = served.iter().filter(|s| s.by.is_some()).count();
    out.push_str(&format!(
        "],\"per_kind\":{{{}}},\"minutes\":{:.1},\"samples\":{},\"sample_spacing_ms\":{:.1},\"double_holder_secs\":{:.2},\"client_polls\":{},\"client_served\":{ok},\"client_success_pct\":{:.2},\"double_holder_samples\":{all_double},\"false_failovers\":{false_failovers}}}",
        kinds.join(","),
        total / 60.0,
        samples.len(),
        spacing * 1000.0,
        all_double as f64 * spacing,
        served.len(),
        if served.is_empty() { 0.0 } else { ok as f64 * 100.0 / served.len() as f64 }
    ));
    println!("{out}");
}
