//! Micro-benchmark: how many status packets per second one core decodes and verifies with sha1,
//! and how fast forged packets are rejected. `cargo run --release --example wire_bench`.
//! Prints one JSON object with the median of several runs, per CPU second of this thread (what
//! one core can do, robust to a shared machine) and per wall second. `KeyRing` (pre-keyed HMAC,
//! what the daemon uses) is the headline; `rekeying` is the plain `decode_verified(bytes, keys)`.
//! `target_met`: the CPU-second medians reach the targets below, every genuine packet was
//! accepted and every forgery rejected.

use std::hint::black_box;
use std::time::Instant;

use heartbeat::config::model::{AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::builders;
use heartbeat::wire::sender::Sender;
use heartbeat::wire::{KeyRing, decode_verified};

const RUNS: usize = 7;
/// What one core must verify per CPU second: classic (what heartbeat-rs nodes send by default)
/// with headroom, and the floor for netstring (what a real 3.0.6 peer sends).
const CLASSIC_TARGET_PER_CPU_SEC: f64 = 600_000.0;
const NETSTRING_TARGET_PER_CPU_SEC: f64 = 500_000.0;
const PACKETS_PER_RUN: usize = 200_000;

fn keys() -> AuthKeys {
    AuthKeys::single(AuthMethod::Sha1, b"somesecret")
}

/// The captured status vectors if present, else equivalent status packets of our own.
fn status_packets(keys: &AuthKeys, fmt: MsgFmt) -> Vec<Vec<u8>> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/heartbeat-3.0.6-sha1"
    );
    let captured: Vec<Vec<u8>> = (1..=5)
        .filter_map(|i| std::fs::read(format!("{dir}/status-{i:02}.bin")).ok())
        .collect();
    if fmt == MsgFmt::Netstring && !captured.is_empty() {
        return captured;
    }
    let mut s = Sender::new("nodea", [0x66; 16], 0x6b03cfb7, 3, fmt);
    (0..5)
        .map(|i| {
            s.stamp_and_encode(
                builders::status("active", 2000, true),
                0x6b03d24a + i,
                "0.04 0.16 0.15 2/103 19751",
                keys,
            )
            .unwrap_or_default()
        })
        .collect()
}

/// CPU time consumed by this thread: the machine is shared, so wall time understates what one
/// core can do; both are reported.
fn thread_cpu_secs() -> f64 {
    use nix::libc;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// One run: (packets per wall second, packets per CPU second, accepted count).
fn run(packets: &[Vec<u8>], decode: &impl Fn(&[u8]) -> bool) -> (f64, f64, usize) {
    let start = Instant::now();
    let cpu_start = thread_cpu_secs();
    let mut accepted = 0usize;
    for i in 0..PACKETS_PER_RUN {
        let p = &packets[i % packets.len()];
        if black_box(decode(black_box(p))) {
            accepted += 1;
        }
    }
    let cpu = thread_cpu_secs() - cpu_start;
    let secs = start.elapsed().as_secs_f64();
    let n = PACKETS_PER_RUN as f64;
    (n / secs, n / cpu, accepted)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Medians of (wall rate, CPU rate) and the accepted count of the last run.
fn measure(packets: &[Vec<u8>], decode: impl Fn(&[u8]) -> bool) -> (f64, f64, usize) {
    let _ = run(packets, &decode); // warm-up
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut accepted = 0;
    for _ in 0..RUNS {
        let (w, c, ok) = run(packets, &decode);
        wall.push(w);
        cpu.push(c);
        accepted = ok;
    }
    (median(wall), median(cpu), accepted)
}

fn main() {
    let keys = keys();
    let netstring = status_packets(&keys, MsgFmt::Netstring);
    let classic = status_packets(&keys, MsgFmt::Classic);
    // Forgeries: one byte changed in the middle of the fields (full parse of framing, then a
    // failed HMAC) — the cost a flood of forged packets imposes.
    let forged: Vec<Vec<u8>> = netstring
        .iter()
        .map(|p| {
            let mut f = p.clone();
            let mid = f.len() / 2;
            f[mid] ^= 0x20;
            f
        })
        .collect();
    let ring = KeyRing::new(&keys);
    let with_ring = |p: &[u8]| ring.decode_verified(p).is_ok();
    let with_keys = |p: &[u8]| decode_verified(p, &keys).is_ok();
    let forged_classic: Vec<Vec<u8>> = classic
        .iter()
        .map(|p| {
            let mut f = p.clone();
            let mid = f.len() / 2;
            f[mid] ^= 0x20;
            f
        })
        .collect();
    let (fc_wall, fc_cpu, fc_ok) = measure(&forged_classic, with_ring);
    let (ns_wall, ns_cpu, ns_ok) = measure(&netstring, with_ring);
    let (nk_wall, nk_cpu, _) = measure(&netstring, with_keys);
    let (cl_wall, cl_cpu, cl_ok) = measure(&classic, with_ring);
    let (fg_wall, fg_cpu, fg_ok) = measure(&forged, with_ring);
    let target_met = cl_cpu >= CLASSIC_TARGET_PER_CPU_SEC
        && ns_cpu >= NETSTRING_TARGET_PER_CPU_SEC
        && cl_ok == PACKETS_PER_RUN
        && ns_ok == PACKETS_PER_RUN
        && fg_ok == 0
        && fc_ok == 0;
    println!(
        "{{\"runs\":{RUNS},\"packets_per_run\":{PACKETS_PER_RUN},\"packet_bytes\":{},\
         \"netstring_sha1_verified_per_cpu_sec\":{ns_cpu:.0},\"netstring_sha1_verified_per_wall_sec\":{ns_wall:.0},\"netstring_accepted\":{ns_ok},\
         \"netstring_rekeying_per_cpu_sec\":{nk_cpu:.0},\"netstring_rekeying_per_wall_sec\":{nk_wall:.0},\
         \"classic_sha1_verified_per_cpu_sec\":{cl_cpu:.0},\"classic_sha1_verified_per_wall_sec\":{cl_wall:.0},\"classic_accepted\":{cl_ok},\
         \"forged_rejected_per_cpu_sec\":{fg_cpu:.0},\"forged_rejected_per_wall_sec\":{fg_wall:.0},\"forged_accepted\":{fg_ok},\
         \"forged_classic_rejected_per_cpu_sec\":{fc_cpu:.0},\"forged_classic_rejected_per_wall_sec\":{fc_wall:.0},\"forged_classic_accepted\":{fc_ok},\
         \"classic_target_per_cpu_sec\":{CLASSIC_TARGET_PER_CPU_SEC:.0},\"netstring_target_per_cpu_sec\":{NETSTRING_TARGET_PER_CPU_SEC:.0},\"target_met\":{target_met}}}",
        netstring[0].len()
    );
}
