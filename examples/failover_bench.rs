//! Failover benchmark on the namespace test bed: for each fault (kill -9 of the daemon's main
//! process, killall -9, freeze, SIGTERM, hb_standby), N runs of detection time (fault -> the survivor logs the peer dead / the takeover
//! decision), VIP time (fault -> VIP configured on the survivor, polled every 10 ms) and service time
//! (fault -> first HTTP 200 from the survivor through the VIP, polled every 10 ms); idle RSS and CPU
//! per node and heartbeat packets per second. The same scenarios run with heartbeat-rs (default),
//! Debian's Heartbeat 3.0.6 (`--peer heartbeat`) or keepalived 2.2.7 (`--peer keepalived`).
//!
//! Every run also records the decision-to-service time (the survivor's decision → first HTTP
//! 200) and the time until every address of the group answers a client's ARP request from the
//! survivor's MAC (`--vips N` puts N addresses in the group: the VIP-scale runs).
//!
//! Run as root: `cargo run --release --example failover_bench -- [--peer P] [--runs N]
//! [--idle-secs S] [--timers common|fast|both] [--faults kill9,killall9,freeze,sigterm,standby]
//! [--keepalived-match keepalive|deadtime] [--deadtime-vrrp] [--vips N] [--json FILE|-]
//! [--compare FILE...]`.
//!
//! `--deadtime-vrrp` (Heartbeat kinds): the deadtime is set to keepalived's master-down
//! interval at `advert_int` = keepalive, so that both the sending interval and the dead time
//! are the same as keepalived's in its `keepalive` mapping.
//!
//! keepalived has no dead time: its backup declares the master down after 3 adverts plus a skew.
//! `--keepalived-match keepalive` (default) sets `advert_int` = keepalive; `deadtime` picks the
//! `advert_int` (centiseconds) whose master-down interval is nearest to the profile's deadtime.

// The shared test-bed modules (tests/common/mod.rs also holds test-only helpers).
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "../tests/common/testbed.rs"]
mod testbed;
mod common {
    pub(crate) use super::{netns, testbed};
}

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::testbed::{BedOptions, Kind, NODE_NAMES, Testbed, Timers, VIP, config, probe};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// SIGKILL to the daemon's main process (a crash, the OOM killer, `kill -9 PID`).
    Kill9,
    /// SIGKILL to every process of the daemon at once (`killall -9`).
    KillAll,
    Freeze,
    Sigterm,
    Standby,
}

impl Fault {
    fn all() -> Vec<Fault> {
        vec![
            Fault::Kill9,
            Fault::KillAll,
            Fault::Freeze,
            Fault::Sigterm,
            Fault::Standby,
        ]
    }
    fn parse(s: &str) -> Option<Fault> {
        match s {
            "kill9" | "kill" => Some(Fault::Kill9),
            "killall9" | "killall" => Some(Fault::KillAll),
            "freeze" => Some(Fault::Freeze),
            "sigterm" | "term" => Some(Fault::Sigterm),
            "standby" | "hb_standby" => Some(Fault::Standby),
            _ => None,
        }
    }
    fn key(self) -> &'static str {
        match self {
            Fault::Kill9 => "kill9",
            Fault::KillAll => "killall9",
            Fault::Freeze => "freeze",
            Fault::Sigterm => "sigterm",
            Fault::Standby => "hb_standby",
        }
    }
}

/// How keepalived's advert interval is derived from a profile's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KaMatch {
    /// `advert_int` = keepalive (its dead interval is then ≈ 3.6 × keepalive).
    Keepalive,
    /// `advert_int` such that the backup's master-down interval ≈ deadtime.
    Deadtime,
}

impl KaMatch {
    fn parse(s: &str) -> Option<KaMatch> {
        match s {
            "keepalive" => Some(KaMatch::Keepalive),
            "deadtime" => Some(KaMatch::Deadtime),
            _ => None,
        }
    }
    fn key(self) -> &'static str {
        match self {
            KaMatch::Keepalive => "keepalive",
            KaMatch::Deadtime => "deadtime",
        }
    }
}

/// keepalived's timing in one profile: the mapping, the advert interval and the backup's
/// master-down interval that results.
#[derive(Clone, Copy, Debug)]
struct KaTiming {
    matched: KaMatch,
    advert_cs: u64,
    dead_us: u64,
}

impl KaTiming {
    fn for_timers(matched: KaMatch, timers: &Timers) -> KaTiming {
        let backup = config::KEEPALIVED_PRIORITY[1];
        let advert_cs = match matched {
            KaMatch::Keepalive => config::keepalived_advert_cs(timers),
            KaMatch::Deadtime => config::keepalived_advert_cs_for_dead(timers.deadtime_ms, backup),
        };
        KaTiming {
            matched,
            advert_cs,
            dead_us: config::keepalived_dead_us(advert_cs, backup),
        }
    }
    fn describe(&self) -> String {
        format!(
            "keepalived advert_int {} s ({} mapping), backup dead interval {:.1} ms",
            config::advert_text(self.advert_cs),
            self.matched.key(),
            self.dead_us as f64 / 1000.0
        )
    }
}

struct Args {
    kind: Kind,
    /// keepalived only: how `advert_int` follows the timers.
    keepalived_match: KaMatch,
    runs: usize,
    idle_secs: u64,
    profiles: Vec<String>,
    faults: Vec<Fault>,
    json: Option<String>,
    compare: Vec<PathBuf>,
    /// `--report FILE`: print the ratios of an earlier result against `--compare` files, no run.
    report: Option<PathBuf>,
    /// Overrides of the "fast" profile: keepalive and deadtime in ms.
    fast_override: Option<(u64, u64)>,
    /// Deadtime = keepalived's master-down interval at advert_int = keepalive.
    deadtime_vrrp: bool,
    /// Addresses in the group.
    vips: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        kind: Kind::Ours,
        keepalived_match: KaMatch::Keepalive,
        runs: 10,
        idle_secs: 60,
        profiles: vec!["fast".into(), "common".into()],
        faults: Fault::all(),
        json: None,
        compare: Vec::new(),
        fast_override: None,
        report: None,
        deadtime_vrrp: false,
        vips: 1,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].as_str();
        let val = argv.get(i + 1).cloned();
        let need = || val.clone().ok_or(format!("{flag} needs a value"));
        match flag {
            "--peer" => {
                a.kind = Kind::parse(&need()?).ok_or("--peer: ours|heartbeat|keepalived")?
            }
            "--keepalived-match" => {
                a.keepalived_match =
                    KaMatch::parse(&need()?).ok_or("--keepalived-match keepalive|deadtime")?
            }
            "--runs" => a.runs = need()?.parse().map_err(|_| "--runs N")?,
            "--idle-secs" => a.idle_secs = need()?.parse().map_err(|_| "--idle-secs S")?,
            "--timers" => {
                a.profiles = match need()?.as_str() {
                    "both" => vec!["fast".into(), "common".into()],
                    p @ ("fast" | "common") => vec![p.to_string()],
                    _ => return Err("--timers common|fast|both".into()),
                }
            }
            "--faults" => {
                a.faults = need()?
                    .split(',')
                    .map(|f| Fault::parse(f).ok_or(format!("unknown fault {f}")))
                    .collect::<Result<_, _>>()?
            }
            "--json" => a.json = Some(need()?),
            "--fast" => {
                let v = need()?;
                let (k, d) = v.split_once('/').ok_or("--fast KEEPALIVE_MS/DEADTIME_MS")?;
                let k = k.parse().map_err(|_| "--fast: keepalive ms")?;
                let d = d.parse().map_err(|_| "--fast: deadtime ms")?;
                a.fast_override = Some((k, d));
            }
            "--report" => a.report = Some(PathBuf::from(need()?)),
            "--deadtime-vrrp" => {
                a.deadtime_vrrp = true;
                i += 1;
                continue;
            }
            "--vips" => {
                a.vips = need()?.parse().map_err(|_| "--vips N (1-256)")?;
                if !(1..=256).contains(&a.vips) {
                    return Err("--vips N (1-256)".into());
                }
            }
            "--compare" => {
                a.compare.push(PathBuf::from(need()?));
            }
            "-h" | "--help" => {
                return Err("see the doc comment of examples/failover_bench.rs".into());
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
        i += 2;
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if a.keepalived_match != KaMatch::Keepalive && a.kind != Kind::Keepalived {
        return Err("--keepalived-match needs --peer keepalived".into());
    }
    if a.deadtime_vrrp && a.kind == Kind::Keepalived {
        return Err("--deadtime-vrrp is for the Heartbeat kinds".into());
    }
    Ok(a)
}

/// The timers of a profile for a daemon: "common" is the same for all; "fast" is the smallest
/// setting each daemon accepts that stays quiet on this machine (documented in docs/benchmark.md).
fn timers_for(kind: Kind, profile: &str) -> Timers {
    match (profile, kind) {
        ("common", _) => Timers::common(),
        (_, Kind::Keepalived) => Timers {
            keepalive_ms: 100,
            deadtime_ms: 300,
            warntime_ms: 200,
            initdead_ms: 1000,
        },
        (_, Kind::Heartbeat) => Timers {
            keepalive_ms: 100,
            deadtime_ms: 300,
            warntime_ms: 200,
            initdead_ms: 1000,
        },
        (_, Kind::Ours) => Timers {
            keepalive_ms: 100,
            deadtime_ms: 300,
            warntime_ms: 200,
            initdead_ms: 1000,
        },
    }
}

/// What the survivor logs when it decides to take over, per daemon and fault.
fn detection_needles(kind: Kind, fault: Fault) -> Vec<String> {
    match (kind, fault) {
        (Kind::Keepalived, _) => vec!["Entering MASTER STATE".into()],
        // kill9 of ours: the crash guard's shutdown notice in A's name usually comes first.
        (_, Fault::Kill9) => vec![
            "node nodea: is dead".into(),
            "Received shutdown notice from 'nodea'".into(),
        ],
        (_, Fault::KillAll | Fault::Freeze) => vec!["node nodea: is dead".into()],
        (_, Fault::Sigterm) => vec!["Received shutdown notice from 'nodea'".into()],
        (_, Fault::Standby) => vec!["nodea wants to go standby".into()],
    }
}

#[derive(Default, Clone)]
struct Samples {
    detection: Vec<f64>,
    vip: Vec<f64>,
    service: Vec<f64>,
    /// Service minus detection: what the survivor needs once it has decided.
    decision_to_service: Vec<f64>,
    /// Fault → every address of the group answers ARP from the survivor's MAC.
    all_vips: Vec<f64>,
    failures: usize,
}

/// One run's figures (ms after the fault).
struct RunFigures {
    detection: f64,
    vip: f64,
    service: f64,
    all_vips: f64,
}

struct Idle {
    rss_kb: [u64; 2],
    cpu_pct: [f64; 2],
    hb_pps: [f64; 2],
    secs: u64,
}

struct ProfileResult {
    profile: String,
    /// Wall time of the profile (bring-up, idle, all runs), for planning long runs.
    elapsed_s: u64,
    timers: Timers,
    /// keepalived runs only.
    keepalived: Option<KaTiming>,
    faults: Vec<(Fault, Samples)>,
    idle: Option<Idle>,
}

fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

fn bin_dir() -> PathBuf {
    // target/<profile>/examples/failover_bench -> target/<profile>
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.parent()).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn bring_up(
    kind: Kind,
    timers: Timers,
    ka: Option<KaTiming>,
    vips: usize,
) -> Result<Testbed, String> {
    let mut opts = BedOptions::new(kind, &bin_dir());
    opts.timers = timers;
    opts.vips = vips;
    opts.keepalived_advert_cs = ka.map(|k| k.advert_cs);
    opts.auto_failback = true;
    let mut bed = Testbed::new(opts)?;
    bed.start_both()?;
    let limit = Duration::from_millis(timers.initdead_ms) + Duration::from_secs(40);
    if !bed.wait_owner(0, limit) {
        return Err(format!(
            "pair did not come up: {}\n{}",
            bed.describe(),
            bed.logs_tail(15)
        ));
    }
    Ok(bed)
}

/// Waits for the steady state before a run: A holds and serves, both daemons see each other.
fn steady(bed: &Testbed, timers: Timers) -> bool {
    let limit =
        Duration::from_millis(timers.initdead_ms + timers.deadtime_ms) + Duration::from_secs(40);
    if !(bed.wait_owner(0, limit) && bed.wait_peers_active(Duration::from_secs(20))) {
        return false;
    }
    // Heartbeat advertises `deadtime + 2 s` for 5 s after a start, and refuses a standby while
    // either side is "in flux": measure from a settled pair only.
    for n in &bed.nodes {
        if let Some(t) = n.started_at {
            let settle = Duration::from_secs(6);
            if t.elapsed() < settle {
                std::thread::sleep(settle - t.elapsed());
            }
        }
    }
    let settled =
        common::netns::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            let a = bed.nodes[0].rscstatus();
            let b = bed.nodes[1].rscstatus();
            match (a.as_deref(), b.as_deref()) {
                (None, None) => true,
                (Some(a), Some(b)) => a != "transition" && b != "transition",
                _ => false,
            }
        });
    std::thread::sleep(Duration::from_millis(500));
    settled && bed.wait_owner(0, Duration::from_secs(5))
}

/// A delay over one sending interval of node A's daemon (keepalive, or keepalived's
/// `advert_int`) so that the fault's phase relative to A's last packet is uniform. Stratified:
/// run `i` of `n` draws from the `i`-th `1/n` of the interval, so the N phases of a fault cover
/// the interval evenly and a median is not decided by where ten independent draws happened to
/// cluster (with plain draws the median's spread is about a tenth of the interval).
fn random_phase(bed: &Testbed, (run, runs): (usize, usize)) -> Duration {
    let interval_us = match (bed.opts.kinds[0], bed.opts.keepalived_advert_cs) {
        (Kind::Keepalived, Some(cs)) => cs * 10_000,
        _ => bed.opts.timers.keepalive_ms * 1000,
    }
    .max(1);
    let runs = runs.max(1) as u64;
    let width = (interval_us / runs).max(1);
    Duration::from_micros((run as u64 % runs) * width + next_random() % width)
}

/// xorshift64*, seeded from the clock and the pid: no crate needed for a benchmark's jitter.
fn next_random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        x = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    STATE.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn one_run(
    bed: &mut Testbed,
    fault: Fault,
    timers: Timers,
    stratum: (usize, usize),
) -> Result<RunFigures, String> {
    let kind = bed.opts.kinds[1];
    let limit = Duration::from_millis(timers.deadtime_ms) + Duration::from_secs(30);
    let b_log = bed.nodes[1].log_path();
    let det = probe::watch_log(
        &b_log,
        detection_needles(kind, fault),
        Duration::from_millis(5),
        limit,
    );
    let b_ns = bed.nodes[1].ns.name.clone();
    let vip =
        std::thread::spawn(move || probe::wait_addr(&b_ns, VIP, Duration::from_millis(10), limit));
    let c_ns = bed.client.name.clone();
    let want = format!("served by {}", NODE_NAMES[1]);
    let svc = std::thread::spawn(move || {
        probe::wait_http(
            &c_ns,
            VIP,
            &want,
            Duration::from_millis(10),
            Duration::from_millis(1000),
            limit,
        )
    });
    let arp = {
        let parse = |m: Option<String>| -> [u8; 6] {
            let mut mac = [0u8; 6];
            for (i, b) in m.unwrap_or_default().split(':').take(6).enumerate() {
                mac[i] = u8::from_str_radix(b, 16).unwrap_or(0);
            }
            mac
        };
        let want = parse(bed.node_mac(1));
        let own = parse(bed.client_mac());
        let mut targets = vec![VIP];
        targets.extend(config::extra_vips(bed.opts.vips));
        let senders: Vec<std::net::Ipv4Addr> = [common::testbed::CLIENT_IP, config::CLIENT_IP2]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let c_ns = bed.client.name.clone();
        std::thread::spawn(move || {
            probe::in_netns(&c_ns, move || {
                probe::wait_arp_all_here(
                    "eth0",
                    own,
                    &senders,
                    &targets,
                    want,
                    Duration::from_millis(10),
                    limit,
                )
            })
            .ok()
            .flatten()
        })
    };
    // Let the watchers enter their namespaces before the fault, then strike at a random phase
    // of A's sending interval: a crash does not wait for the next heartbeat, and a fixed phase
    // (set by the polls above) would add or take up to one interval from every daemon alike.
    std::thread::sleep(Duration::from_millis(50) + random_phase(bed, stratum));
    let t0 = Instant::now();
    match fault {
        Fault::Kill9 => bed.nodes[0].kill9_main(),
        Fault::KillAll => bed.nodes[0].kill9(),
        Fault::Freeze => bed.nodes[0].freeze(),
        Fault::Sigterm => bed.nodes[0].sigterm(),
        Fault::Standby => {
            let out = bed.nodes[0].standby();
            if !out.status.success() {
                return Err(format!(
                    "hb_standby failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    let det = det.join().ok().flatten();
    let vip = vip.join().ok().flatten();
    let svc = svc.join().ok().flatten();
    let all = arp.join().ok().flatten();
    let result = match (det, vip, svc, all) {
        (Some((d, _)), Some(v), Some(s), Some(a)) => Ok(RunFigures {
            detection: ms_since(t0, d),
            vip: ms_since(t0, v),
            service: ms_since(t0, s),
            all_vips: ms_since(t0, a),
        }),
        (d, v, s, a) => Err(format!(
            "run incomplete: detection {:?} vip {:?} service {:?} all VIPs {:?}\n{}",
            d.map(|x| ms_since(t0, x.0)),
            v.map(|x| ms_since(t0, x)),
            s.map(|x| ms_since(t0, x)),
            a.map(|x| ms_since(t0, x)),
            bed.logs_tail(12)
        )),
    };
    if std::env::var_os("HB_BENCH_LOGS").is_some() {
        eprintln!("{}", bed.logs_tail(40));
    }
    recover(bed, fault)?;
    result
}

/// Brings node A back so that it owns the service again.
fn recover(bed: &mut Testbed, fault: Fault) -> Result<(), String> {
    match fault {
        Fault::Standby => {
            let kind = bed.nodes[0].kind;
            if kind == Kind::Keepalived {
                bed.nodes[0].takeover();
            } else {
                bed.nodes[1].standby();
            }
            Ok(())
        }
        Fault::Sigterm => {
            bed.nodes[0].wait_exit(Duration::from_secs(30));
            bed.nodes[0].reboot()
        }
        Fault::Kill9 | Fault::KillAll | Fault::Freeze => bed.nodes[0].reboot(),
    }
}

fn measure_idle(bed: &Testbed, secs: u64) -> Idle {
    let t = common::testbed::clock_ticks() as f64;
    let u0 = [bed.nodes[0].daemon_usage(), bed.nodes[1].daemon_usage()];
    let p0 = [bed.nodes[0].hb_tx_packets(), bed.nodes[1].hb_tx_packets()];
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let el = start.elapsed().as_secs_f64();
    let u1 = [bed.nodes[0].daemon_usage(), bed.nodes[1].daemon_usage()];
    let p1 = [bed.nodes[0].hb_tx_packets(), bed.nodes[1].hb_tx_packets()];
    let mut idle = Idle {
        rss_kb: [u1[0].0, u1[1].0],
        cpu_pct: [0.0; 2],
        hb_pps: [0.0; 2],
        secs,
    };
    for i in 0..2 {
        idle.cpu_pct[i] = (u1[i].1.saturating_sub(u0[i].1)) as f64 / t / el * 100.0;
        idle.hb_pps[i] = (p1[i].saturating_sub(p0[i])) as f64 / el;
    }
    idle
}

fn run_profile(args: &Args, profile: &str) -> Result<ProfileResult, String> {
    let mut timers = timers_for(args.kind, profile);
    if let (Some((k, d)), "fast") = (args.fast_override, profile) {
        timers.keepalive_ms = k;
        timers.deadtime_ms = d;
        timers.warntime_ms = d.saturating_sub(k).max(k);
        timers.initdead_ms = timers.initdead_ms.max(d);
    }
    if args.deadtime_vrrp {
        // keepalived at advert_int = keepalive declares the master down after this long.
        let advert = config::keepalived_advert_cs(&timers);
        let d = config::keepalived_dead_us(advert, config::KEEPALIVED_PRIORITY[1]).div_ceil(1000);
        timers.deadtime_ms = d;
        timers.warntime_ms = d
            .saturating_sub(timers.keepalive_ms)
            .max(timers.keepalive_ms);
        timers.initdead_ms = timers.initdead_ms.max(d);
    }
    let ka = (args.kind == Kind::Keepalived)
        .then(|| KaTiming::for_timers(args.keepalived_match, &timers));
    let started = Instant::now();
    eprintln!("== {} / {profile}: {:?}", args.kind.label(), timers);
    if let Some(k) = &ka {
        eprintln!("   {}", k.describe());
    }
    let mut bed = bring_up(args.kind, timers, ka, args.vips)?;
    let mut name = match (args.fast_override, profile) {
        (Some((k, d)), "fast") => format!("keepalive{k}-deadtime{d}"),
        _ => profile.to_string(),
    };
    if args.deadtime_vrrp {
        name.push_str("-deadtime-vrrp");
    }
    if args.vips > 1 {
        name.push_str(&format!("-vips{}", args.vips));
    }
    let mut res = ProfileResult {
        profile: name,
        elapsed_s: 0,
        timers,
        keepalived: ka,
        faults: Vec::new(),
        idle: None,
    };
    if args.idle_secs > 0 && bed.wait_peers_active(Duration::from_secs(30)) {
        res.idle = Some(measure_idle(&bed, args.idle_secs));
    }
    for &fault in &args.faults {
        let mut s = Samples::default();
        for run in 0..args.runs {
            if !steady(&bed, timers) {
                // Start from a fresh bed rather than measure a half-broken one.
                eprintln!(
                    "   not steady before run {run}, rebuilding: {}; rscstatus {:?}/{:?}; A sees B {:?}, B sees A {:?}",
                    bed.describe(),
                    bed.nodes[0].rscstatus(),
                    bed.nodes[1].rscstatus(),
                    bed.nodes[0].node_status("nodeb"),
                    bed.nodes[1].node_status("nodea")
                );
                drop(bed);
                bed = bring_up(args.kind, timers, ka, args.vips)?;
            }
            match one_run(&mut bed, fault, timers, (run, args.runs)) {
                Ok(f) => {
                    eprintln!(
                        "   {} run {run}: detection {:.0} ms, VIP {:.0} ms, service {:.0} ms, all {} VIPs by ARP {:.0} ms",
                        fault.key(),
                        f.detection,
                        f.vip,
                        f.service,
                        args.vips,
                        f.all_vips
                    );
                    s.detection.push(f.detection);
                    s.vip.push(f.vip);
                    s.service.push(f.service);
                    s.decision_to_service.push(f.service - f.detection);
                    s.all_vips.push(f.all_vips);
                }
                Err(e) => {
                    eprintln!("   {} run {run}: FAILED: {e}", fault.key());
                    s.failures += 1;
                }
            }
        }
        res.faults.push((fault, s));
    }
    res.elapsed_s = started.elapsed().as_secs();
    eprintln!(
        "== {} / {profile}: done in {} s",
        args.kind.label(),
        res.elapsed_s
    );
    Ok(res)
}

fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((s[0], med, s[n - 1]))
}

fn fmt_stats(v: &[f64]) -> String {
    match stats(v) {
        Some((a, m, b)) => format!("{a:>6.0} {m:>6.0} {b:>6.0}"),
        None => format!("{:>6} {:>6} {:>6}", "-", "-", "-"),
    }
}

fn table(kind: Kind, results: &[ProfileResult]) -> String {
    let mut t = String::new();
    for r in results {
        let _ = writeln!(
            t,
            "\n{} — timers {} (keepalive {} ms, deadtime {} ms)",
            kind.label(),
            r.profile,
            r.timers.keepalive_ms,
            r.timers.deadtime_ms
        );
        if let Some(k) = &r.keepalived {
            let _ = writeln!(t, "{}", k.describe());
        }
        let _ = writeln!(
            t,
            "{:<11} {:>5} | {:^20} | {:^20} | {:^20} | {:^20} | {:^20}",
            "fault",
            "ok",
            "detection ms",
            "VIP ms",
            "service ms",
            "decision→service",
            "all VIPs (ARP)"
        );
        let _ = writeln!(
            t,
            "{:<11} {:>5} | {:^20} | {:^20} | {:^20} | {:^20} | {:^20}",
            "",
            "",
            "min    med    max",
            "min    med    max",
            "min    med    max",
            "min    med    max",
            "min    med    max"
        );
        for (f, s) in &r.faults {
            let _ = writeln!(
                t,
                "{:<11} {:>5} | {} | {} | {} | {} | {}",
                f.key(),
                format!("{}/{}", s.service.len(), s.service.len() + s.failures),
                fmt_stats(&s.detection),
                fmt_stats(&s.vip),
                fmt_stats(&s.service),
                fmt_stats(&s.decision_to_service),
                fmt_stats(&s.all_vips)
            );
        }
        if let Some(i) = &r.idle {
            let _ = writeln!(
                t,
                "idle {} s: RSS A {} kB, B {} kB; CPU A {:.2} %, B {:.2} %; hb packets/s sent A {:.1}, B {:.1}",
                i.secs,
                i.rss_kb[0],
                i.rss_kb[1],
                i.cpu_pct[0],
                i.cpu_pct[1],
                i.hb_pps[0],
                i.hb_pps[1]
            );
        }
    }
    t
}

fn json_stats(v: &[f64]) -> String {
    let samples: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
    match stats(v) {
        Some((a, m, b)) => format!(
            "{{\"min\": {a:.1}, \"median\": {m:.1}, \"max\": {b:.1}, \"samples\": [{}]}}",
            samples.join(", ")
        ),
        None => "null".to_string(),
    }
}

fn machine() -> String {
    let uname = common::netns::run("uname -srm");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|x| x.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{}, {cpu}, {cores} cores",
        String::from_utf8_lossy(&uname.stdout).trim()
    )
    .replace('"', "'")
}

fn to_json(kind: Kind, args: &Args, results: &[ProfileResult]) -> String {
    let date = common::netns::run("date -u +%Y-%m-%dT%H:%M:%SZ");
    let mut j = String::new();
    let _ = writeln!(j, "{{");
    let _ = writeln!(j, "  \"daemon\": \"{}\",", kind.label());
    let _ = writeln!(
        j,
        "  \"date\": \"{}\",",
        String::from_utf8_lossy(&date.stdout).trim()
    );
    let _ = writeln!(j, "  \"machine\": \"{}\",", machine());
    let _ = writeln!(j, "  \"runs\": {},", args.runs);
    let _ = writeln!(j, "  \"vips\": {},", args.vips);
    if kind == Kind::Keepalived {
        let _ = writeln!(
            j,
            "  \"keepalived_match\": \"{}\",",
            args.keepalived_match.key()
        );
    }
    let _ = writeln!(j, "  \"profiles\": [");
    for (pi, r) in results.iter().enumerate() {
        let _ = writeln!(j, "    {{");
        let _ = writeln!(j, "      \"profile\": \"{}\",", r.profile);
        let _ = writeln!(j, "      \"elapsed_s\": {},", r.elapsed_s);
        let _ = writeln!(
            j,
            "      \"timers\": {{\"keepalive_ms\": {}, \"deadtime_ms\": {}, \"warntime_ms\": {}, \"initdead_ms\": {}}},",
            r.timers.keepalive_ms, r.timers.deadtime_ms, r.timers.warntime_ms, r.timers.initdead_ms
        );
        if let Some(k) = &r.keepalived {
            let _ = writeln!(
                j,
                "      \"keepalived\": {{\"match\": \"{}\", \"advert_int_s\": {}, \"dead_interval_ms\": {:.1}}},",
                k.matched.key(),
                config::advert_text(k.advert_cs),
                k.dead_us as f64 / 1000.0
            );
        }
        match &r.idle {
            Some(i) => {
                let _ = writeln!(
                    j,
                    "      \"idle\": {{\"secs\": {}, \"rss_kb\": [{}, {}], \"cpu_pct\": [{:.3}, {:.3}], \"hb_pps_sent\": [{:.2}, {:.2}]}},",
                    i.secs,
                    i.rss_kb[0],
                    i.rss_kb[1],
                    i.cpu_pct[0],
                    i.cpu_pct[1],
                    i.hb_pps[0],
                    i.hb_pps[1]
                );
            }
            None => {
                let _ = writeln!(j, "      \"idle\": null,");
            }
        }
        let _ = writeln!(j, "      \"faults\": {{");
        for (fi, (f, s)) in r.faults.iter().enumerate() {
            let _ = writeln!(
                j,
                "        \"{}\": {{\"ok\": {}, \"failures\": {}, \"detection_ms\": {}, \"vip_ms\": {}, \"service_ms\": {}, \"decision_to_service_ms\": {}, \"all_vips_arp_ms\": {}}}{}",
                f.key(),
                s.service.len(),
                s.failures,
                json_stats(&s.detection),
                json_stats(&s.vip),
                json_stats(&s.service),
                json_stats(&s.decision_to_service),
                json_stats(&s.all_vips),
                if fi + 1 < r.faults.len() { "," } else { "" }
            );
        }
        let _ = writeln!(j, "      }}");
        let _ = writeln!(j, "    }}{}", if pi + 1 < results.len() { "," } else { "" });
    }
    let _ = writeln!(j, "  ]");
    let _ = writeln!(j, "}}");
    j
}

/// Median service times per (profile, fault) from a JSON file written by this program.
fn medians_from_json(text: &str) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    let mut profile = String::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(p) = l.strip_prefix("\"profile\": \"") {
            // A --deadtime-vrrp run compares with the keepalived run of the same base profile.
            profile = p
                .trim_end_matches("\",")
                .trim_end_matches("-deadtime-vrrp")
                .to_string();
        }
        for f in Fault::all() {
            let key = format!("\"{}\": {{", f.key());
            if l.starts_with(&key)
                && let Some(rest) = l.split("\"service_ms\": {").nth(1)
                && let Some(m) = rest.split("\"median\": ").nth(1)
                && let Ok(v) = m.split(',').next().unwrap_or("").trim().parse::<f64>()
            {
                out.push((profile.clone(), f.key().to_string(), v));
            }
        }
    }
    out
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("failover_bench: {e}");
            std::process::exit(2);
        }
    };
    if !common::netns::can_use_netns() {
        eprintln!("failover_bench: needs root and iproute2");
        std::process::exit(2);
    }
    if let Some(why) = args.kind.missing(&bin_dir()) {
        eprintln!("failover_bench: {}: {why}", args.kind.label());
        std::process::exit(2);
    }
    if let Some(path) = &args.report {
        match std::fs::read_to_string(path) {
            Ok(json) => {
                println!("{}", path.display());
                print_ratios(&json, &args.compare);
                return;
            }
            Err(e) => {
                eprintln!("failover_bench: {}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    common::testbed::cleanup_on_signals();
    let mut results = Vec::new();
    for p in &args.profiles {
        match run_profile(&args, p) {
            Ok(r) => {
                results.push(r);
                // Keep what was measured so far should a later profile fail.
                if let Some(path) = args.json.as_deref().filter(|p| *p != "-") {
                    let _ = std::fs::write(path, to_json(args.kind, &args, &results));
                }
            }
            Err(e) => {
                eprintln!("failover_bench: profile {p}: {e}");
                std::process::exit(1);
            }
        }
    }
    let t = table(args.kind, &results);
    println!("{t}");
    let json = to_json(args.kind, &args, &results);
    match args.json.as_deref() {
        Some("-") => println!("{json}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, &json) {
                eprintln!("failover_bench: {path}: {e}");
                std::process::exit(1);
            }
        }
        None => {}
    }
    print_ratios(&json, &args.compare);
    let failures: usize = results
        .iter()
        .flat_map(|r| r.faults.iter().map(|(_, s)| s.failures))
        .sum();
    if failures > 0 {
        std::process::exit(1);
    }
}

/// Prints, per profile and fault, our median service time over each compared file's. A keepalived
/// file is labelled with its mapping (advert_int from the keepalive or matched to the deadtime),
/// so both mappings can be compared in one report.
fn print_ratios(json: &str, compare: &[PathBuf]) {
    let ours = medians_from_json(json);
    for other in compare {
        let Ok(text) = std::fs::read_to_string(other) else {
            eprintln!("failover_bench: cannot read {}", other.display());
            continue;
        };
        let label = match keepalived_match_of(&text).as_deref() {
            Some("deadtime") => " (keepalived, advert_int matched to the deadtime)",
            Some(_) => " (keepalived, advert_int = keepalive)",
            None => "",
        };
        println!(
            "\nratio of median service time, this run / {}{label}:",
            other.display()
        );
        let timings = keepalived_timings_of(&text);
        let mut last_profile = String::new();
        for (p, f, theirs) in medians_from_json(&text) {
            if p != last_profile && ours.iter().any(|(pp, _, _)| *pp == p) {
                if let Some((_, t)) = timings.iter().find(|(pp, _)| *pp == p) {
                    println!("  {p:<7} {t}");
                }
                last_profile = p.clone();
            }
            if let Some((_, _, mine)) = ours.iter().find(|(pp, ff, _)| *pp == p && *ff == f) {
                println!(
                    "  {p:<7} {f:<11} {mine:>7.0} / {theirs:>7.0} ms = {:.2}",
                    mine / theirs
                );
            }
        }
    }
}

/// The keepalived mapping of a result file: its `keepalived_match`, or `keepalive` for a
/// keepalived file written before the option existed; None for the other daemons.
fn keepalived_match_of(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim_end_matches(',').trim_matches('"').to_string())
    };
    let daemon = field("\"daemon\": ")?;
    if !daemon.starts_with("keepalived") {
        return None;
    }
    Some(field("\"keepalived_match\": ").unwrap_or_else(|| "keepalive".to_string()))
}

/// Per profile, keepalived's advert interval and dead interval as recorded in a result file (for
/// a file written before they were recorded: computed from the keepalive).
fn keepalived_timings_of(text: &str) -> Vec<(String, String)> {
    if keepalived_match_of(text).is_none() {
        return Vec::new();
    }
    let field = |l: &str, key: &str| {
        l.split(key)
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .map(|v| v.trim().to_string())
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut profile = String::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(p) = l.strip_prefix("\"profile\": \"") {
            // A --deadtime-vrrp run compares with the keepalived run of the same base profile.
            profile = p
                .trim_end_matches("\",")
                .trim_end_matches("-deadtime-vrrp")
                .to_string();
        }
        let text = if l.starts_with("\"keepalived\": {") {
            match (
                field(l, "\"advert_int_s\": "),
                field(l, "\"dead_interval_ms\": "),
            ) {
                (Some(adv), Some(dead)) => Some((adv, dead)),
                _ => None,
            }
        } else if l.starts_with("\"timers\": {") {
            field(l, "\"keepalive_ms\": ")
                .and_then(|k| k.parse::<u64>().ok())
                .map(|k| {
                    let cs = (k / 10).max(1);
                    let dead = config::keepalived_dead_us(cs, config::KEEPALIVED_PRIORITY[1]);
                    (
                        config::advert_text(cs),
                        format!("{:.1}", dead as f64 / 1000.0),
                    )
                })
        } else {
            None
        };
        if let Some((adv, dead)) = text {
            let entry = format!("advert_int {adv} s, backup dead interval {dead} ms");
            // A recorded "keepalived" line comes after "timers" and wins.
            match out.iter_mut().find(|(p, _)| *p == profile) {
                Some(e) => e.1 = entry,
                None => out.push((profile.clone(), entry)),
            }
        }
    }
    out
}
