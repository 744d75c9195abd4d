//! Monitoring benchmark on the namespace test bed (issue 18): time from `kill -9` of the web
//! server on the active node A to the first HTTP 200 through the VIP again (polled every 10 ms
//! from the client), N runs per scenario:
//!
//! * `ours-inplace`: heartbeat-rs `monitor httpd interval=1s` with restarts left: A restarts it;
//! * `ours-handover`: the same with `max_restarts=0`: B takes the group (ask_resources);
//! * `keepalived-fall1` / `keepalived-fall2`: keepalived 2.2.7 with `vrrp_script` on the web
//!   server (interval 1 s, fall 1 or 2, rise 1, weight -100): B becomes master and starts it.
//!
//! Each run starts at a random phase of the 1 s check interval (stratified over the runs) so a
//! median is not decided by where the kill fell relative to the next check.
//!
//! Run as root: `cargo run --release --example monitor_bench -- [--runs N] [--keepalived-advert-cs N]
//! [--scenarios ours-inplace,ours-handover,keepalived-fall1,keepalived-fall2] [--json FILE|-]`.

#[path = "../tests/common/netns.rs"]
#[allow(unused_imports)]
mod netns;
#[path = "../tests/common/testbed.rs"]
mod testbed;
mod common {
    #[allow(unused_imports)]
    pub(crate) use super::{netns, testbed};
}

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::testbed::{BedOptions, Kind, NODE_NAMES, Testbed, Timers};

/// The check interval of every scenario.
const INTERVAL_MS: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    OursInPlace,
    OursHandOver,
    KeepalivedFall1,
    KeepalivedFall2,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::OursInPlace,
        Scenario::OursHandOver,
        Scenario::KeepalivedFall1,
        Scenario::KeepalivedFall2,
    ];

    fn key(self) -> &'static str {
        match self {
            Scenario::OursInPlace => "ours-inplace",
            Scenario::OursHandOver => "ours-handover",
            Scenario::KeepalivedFall1 => "keepalived-fall1",
            Scenario::KeepalivedFall2 => "keepalived-fall2",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.key() == s)
    }

    fn kind(self) -> Kind {
        match self {
            Scenario::OursInPlace | Scenario::OursHandOver => Kind::Ours,
            _ => Kind::Keepalived,
        }
    }

    /// The node that serves after the kill.
    fn server_after(self) -> usize {
        if self == Scenario::OursInPlace { 0 } else { 1 }
    }
}

struct Args {
    /// keepalived's `advert_int` in centiseconds (default: the keepalive, 1 s).
    advert_cs: Option<u64>,
    runs: usize,
    scenarios: Vec<Scenario>,
    json: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        advert_cs: None,
        runs: 10,
        scenarios: Scenario::ALL.to_vec(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().ok_or(format!("{x} needs a value"));
        match x.as_str() {
            "--runs" => a.runs = val()?.parse().map_err(|_| "--runs N".to_string())?,
            "--scenarios" => {
                a.scenarios = val()?
                    .split(',')
                    .map(|s| Scenario::parse(s).ok_or(format!("unknown scenario {s}")))
                    .collect::<Result<_, _>>()?
            }
            "--json" => a.json = Some(val()?),
            "--keepalived-advert-cs" => {
                a.advert_cs = Some(val()?.parse().map_err(|_| "--keepalived-advert-cs N")?)
            }
            _ => return Err(format!("unknown argument {x}")),
        }
    }
    Ok(a)
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.parent()).map(|d| d.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn bring_up(s: Scenario, advert_cs: Option<u64>) -> Result<Testbed, String> {
    let mut opts = BedOptions::new(s.kind(), &bin_dir());
    opts.timers = Timers::common();
    opts.keepalived_advert_cs = advert_cs;
    opts.auto_failback = true;
    match s {
        Scenario::OursInPlace => {
            opts.ours_ha_cf =
                "monitor httpd interval=1s timeout=2s max_restarts=1000 window=1min\n".into()
        }
        Scenario::OursHandOver => {
            opts.ours_ha_cf = "monitor httpd interval=1s timeout=2s max_restarts=0\n".into()
        }
        Scenario::KeepalivedFall1 => opts.keepalived_check = Some((1, 1, 1)),
        Scenario::KeepalivedFall2 => opts.keepalived_check = Some((1, 2, 1)),
    }
    let mut bed = Testbed::new(opts)?;
    bed.start_both()?;
    if !bed.wait_owner(0, Duration::from_secs(60)) {
        return Err(format!("pair did not come up: {}", bed.describe()));
    }
    if !bed.wait_peers_active(Duration::from_secs(20)) {
        return Err("peers not active".into());
    }
    std::thread::sleep(Duration::from_secs(6));
    Ok(bed)
}

/// Puts the group back on A after a run.
fn recover(bed: &Testbed, s: Scenario) -> Result<(), String> {
    match s {
        Scenario::OursInPlace => {}
        Scenario::OursHandOver => {
            let _ = bed.nodes[0].cl_status("rscfail --clear");
            std::thread::sleep(Duration::from_millis(500));
            let _ = bed.nodes[1].standby();
        }
        Scenario::KeepalivedFall1 | Scenario::KeepalivedFall2 => {
            let start = format!("{}/ha.d/resource.d/httpd start", bed.nodes[0].dir.display());
            let _ = bed.nodes[0].exec(&start);
        }
    }
    if !bed.wait_owner(0, Duration::from_secs(40)) {
        return Err(format!(
            "A did not serve again: {}\n{}",
            bed.describe(),
            bed.logs_tail(20)
        ));
    }
    // Healthy again (rise), both sides calm before the next kill.
    std::thread::sleep(Duration::from_secs(4));
    Ok(())
}

/// One run: kill -9 httpd on A, time to the first 200 from the expected server (ms).
fn one_run(bed: &Testbed, s: Scenario, (run, runs): (usize, usize)) -> Result<f64, String> {
    let width = INTERVAL_MS * 1000 / runs.max(1) as u64;
    let phase = (run as u64 % runs.max(1) as u64) * width + jitter() % width.max(1);
    std::thread::sleep(Duration::from_micros(phase));
    if !bed.nodes[0].kill9_httpd() {
        return Err("no web server on A".into());
    }
    let t0 = Instant::now();
    let want = NODE_NAMES[s.server_after()];
    let limit = Duration::from_secs(40);
    while t0.elapsed() < limit {
        if bed.served_by() == Some(want) {
            return Ok(t0.elapsed().as_secs_f64() * 1000.0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!(
        "not served by {want} within {limit:?}: {}\n{}",
        bed.describe(),
        bed.logs_tail(20)
    ))
}

fn jitter() -> u64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20
}

fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return None;
    }
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((s[0], med, s[n - 1]))
}

fn median(v: &[f64]) -> Option<f64> {
    stats(v).map(|(_, m, _)| m)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("monitor_bench: {e}");
            std::process::exit(2);
        }
    };
    common::testbed::cleanup_on_signals();
    let started = Instant::now();
    let mut results: Vec<(Scenario, Vec<f64>)> = Vec::new();
    for &s in &args.scenarios {
        if let Some(why) = s.kind().missing(&bin_dir()) {
            eprintln!("{}: skipped: {why}", s.key());
            continue;
        }
        let bed = match bring_up(s, args.advert_cs) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", s.key());
                std::process::exit(1);
            }
        };
        let mut samples = Vec::new();
        for run in 0..args.runs {
            match one_run(&bed, s, (run, args.runs)).and_then(|ms| {
                recover(&bed, s)?;
                Ok(ms)
            }) {
                Ok(ms) => {
                    eprintln!("{} run {}: {ms:.1} ms", s.key(), run + 1);
                    samples.push(ms);
                }
                Err(e) => {
                    eprintln!("{} run {}: {e}", s.key(), run + 1);
                    // Tear the bed down first: exit skips destructors.
                    drop(bed);
                    std::process::exit(1);
                }
            }
        }
        results.push((s, samples));
        drop(bed);
    }
    let mut out = String::new();
    let advert = args.advert_cs.unwrap_or(100);
    let _ = writeln!(
        out,
        "kill -9 httpd -> first HTTP 200 (ms), check interval 1 s, {} runs, keepalive / advert_int 1 s (keepalived {}.{:02} s)",
        args.runs,
        advert / 100,
        advert % 100
    );
    for (s, v) in &results {
        if let Some((a, m, b)) = stats(v) {
            let _ = writeln!(
                out,
                "{:<17} median {m:>7.1}  min {a:>7.1}  max {b:>7.1}",
                s.key()
            );
        }
    }
    let med = |k: Scenario| {
        results
            .iter()
            .find(|(s, _)| *s == k)
            .and_then(|(_, v)| median(v))
    };
    let mut ratios = Vec::new();
    for ours in [Scenario::OursInPlace, Scenario::OursHandOver] {
        for ka in [Scenario::KeepalivedFall1, Scenario::KeepalivedFall2] {
            if let (Some(a), Some(b)) = (med(ours), med(ka)) {
                let _ = writeln!(out, "ratio {} / {}: {:.2}", ours.key(), ka.key(), a / b);
                ratios.push(format!("\"{}/{}\": {:.3}", ours.key(), ka.key(), a / b));
            }
        }
    }
    print!("{out}");
    if let Some(path) = &args.json {
        let mut j = String::from("{\n  \"benchmark\": \"monitor\",\n  \"interval_ms\": 1000,\n");
        let _ = writeln!(j, "  \"keepalived_advert_cs\": {advert},");
        let _ = writeln!(j, "  \"runs\": {},", args.runs);
        let _ = writeln!(
            j,
            "  \"elapsed_s\": {:.0},",
            started.elapsed().as_secs_f64()
        );
        j.push_str("  \"scenarios\": {\n");
        let body: Vec<String> = results
            .iter()
            .map(|(s, v)| {
                let samples: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
                let (a, m, b) = stats(v).unwrap_or((0.0, 0.0, 0.0));
                format!(
                    "    \"{}\": {{\"min\": {a:.1}, \"median\": {m:.1}, \"max\": {b:.1}, \"samples\": [{}]}}",
                    s.key(),
                    samples.join(", ")
                )
            })
            .collect();
        j.push_str(&body.join(",\n"));
        j.push_str("\n  },\n  \"ratios\": {");
        j.push_str(&ratios.join(", "));
        j.push_str("}\n}\n");
        if path == "-" {
            print!("{j}");
        } else if let Err(e) = std::fs::write(path, j) {
            eprintln!("monitor_bench: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}
