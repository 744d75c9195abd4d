//! Never two holders, end to end, with two real daemons in the namespace test bed
//! (`tests/common/testbed.rs`: nodes A and B on a public bridge with a client, a dedicated
//! heartbeat link, VIP 192.0.2.10 served by an `httpd` resource naming its node).
//!
//! - kill -9 of the holder's daemon (the master process only, as the OOM killer or an abort
//!   would): the crash guard removes the VIP at once; sampled every 10 ms, the VIP is never on
//!   both nodes, and the client is served by the survivor after the deadtime.
//! - Hostile input (examples/flood.rs kinds, generated in-process and sent from the client's
//!   over the heartbeat link): forged, truncated, oversized, garbage, the 14-byte killer, unknown-node,
//!   spoof-self and replays of captured packets, at the standby and at the holder: no false
//!   failover, no late heartbeat, every packet counted as a drop, the log stays small and never
//!   carries the key or a correct digest.
//!
//! Skipped cleanly when not root. Timers: keepalive 250 ms, deadtime 2 s (the bed's `short`).
mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::netns::{can_use_netns, wait_until};
use common::testbed::{BedOptions, Kind, Testbed};
use heartbeat::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::{Message, encode};

const SECRET: &str = "e2e-secret";

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn bed() -> Option<Testbed> {
    bed_with(|_| {})
}

/// A bed whose files `prepare` may change before both daemons start, A holding the VIP.
fn bed_with(prepare: impl FnOnce(&Testbed)) -> Option<Testbed> {
    bed_built(false, prepare)
}

/// Same; `address_scripts`: the VIP is run by the IPaddr script instead of in-process.
fn bed_built(address_scripts: bool, prepare: impl FnOnce(&Testbed)) -> Option<Testbed> {
    if !can_use_netns() {
        eprintln!("skipped: needs root and network namespaces");
        return None;
    }
    let mut opts = BedOptions::new(Kind::Ours, &bin_dir());
    opts.auth = format!("sha1 {SECRET}");
    opts.address_scripts = address_scripts;
    let mut bed = Testbed::new(opts).expect("test bed");
    prepare(&bed);
    bed.start_both().expect("start daemons");
    assert!(
        bed.wait_owner(0, Duration::from_secs(40)),
        "pair did not come up: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert!(bed.wait_peers_active(Duration::from_secs(20)));
    Some(bed)
}

/// The master daemon process of a node (not its crash guard, which shares the executable).
fn master_pid(bed: &Testbed, idx: usize) -> Option<i32> {
    bed.nodes[idx].daemon_pids().into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .map(|c| c.trim() != "hb-crash-guard")
            .unwrap_or(false)
    })
}

#[test]
fn kill_9_of_the_holder_never_leaves_the_vip_on_both_nodes() {
    let Some(bed) = bed() else { return };
    let guard_running = bed.nodes[0].daemon_pids().len() >= 2;
    assert!(guard_running, "node A has no crash guard process");
    let master = master_pid(&bed, 0).expect("node A's master process");
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut both = 0u32;
    let mut samples = 0u32;
    let mut a_gone: Option<Duration> = None;
    let mut b_has: Option<Duration> = None;
    // Sample every 10 ms for deadtime + 4 s.
    while t0.elapsed() < Duration::from_secs(6) {
        let (a, b) = (bed.nodes[0].has_vip(), bed.nodes[1].has_vip());
        samples += 1;
        if a && b {
            both += 1;
        }
        if !a && a_gone.is_none() {
            a_gone = Some(t0.elapsed());
        }
        if b && b_has.is_none() {
            b_has = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "kill -9: {samples} samples, {both} with the VIP on both; VIP left A after {:?}, on B after {:?}",
        a_gone, b_has
    );
    assert_eq!(
        both,
        0,
        "VIP on both nodes in {both} samples\n{}",
        bed.logs_tail(30)
    );
    let a_gone = a_gone.expect("the VIP never left A");
    assert!(
        a_gone < Duration::from_millis(1000),
        "left A after {a_gone:?}"
    );
    let b_has = b_has.unwrap_or_else(|| panic!("B never took the VIP\n{}", bed.logs_tail(30)));
    // The guard's shutdone in A's name: B takes over without waiting out its 2 s deadtime.
    assert!(
        b_has < Duration::from_millis(1000),
        "VIP on B only {b_has:?} after the kill (deadtime 2 s)\n{}",
        bed.logs_tail(30)
    );
    assert!(
        bed.nodes[1]
            .log_text()
            .contains("Received shutdown notice from 'nodea'"),
        "{}",
        bed.logs_tail(30)
    );
    assert!(
        bed.wait_owner(1, Duration::from_secs(10)),
        "client not served by B: {}",
        bed.describe()
    );
    let log = bed.nodes[0].log_text();
    assert!(log.contains("CRIT: crash guard: daemon ["), "{log}");
    assert!(log.contains("removed 192.0.2.10/24 from eth0"), "{log}");
}

fn keys(secret: &str) -> AuthKeys {
    let mut k = BTreeMap::new();
    k.insert(
        1,
        AuthKey {
            method: AuthMethod::Sha1,
            secret: secret.as_bytes().to_vec(),
        },
    );
    AuthKeys {
        send_index: 1,
        keys: k,
    }
}

fn status(src: &str, seq: u64, generation: u64, uuid: [u8; 16]) -> Message {
    let mut m = Message::new("status");
    m.push("st", "active");
    m.push("dt", "7d0");
    m.push("protocol", "1");
    m.push("src", src);
    m.push_bin("srcuuid", uuid);
    m.push("seq", format!("{seq:x}"));
    m.push("hg", format!("{generation:x}"));
    m.push("ts", "6b03cf0b");
    m.push("ld", "0.00 0.00 0.00 1/100 1000");
    m.push("ttl", "3");
    m
}

/// One pool of hostile datagrams per kind (the kinds of examples/flood.rs).
#[allow(clippy::type_complexity)]
fn hostile_pool() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let wrong = keys("not-the-key");
    let right = keys(SECRET);
    let signed = |src: &str, k: &AuthKeys, fmt: MsgFmt| -> Vec<Vec<u8>> {
        (1..=64)
            .map(|i| encode(&status(src, i, 0x1234, [9; 16]), k, fmt).unwrap())
            .collect()
    };
    let mut forged = signed("nodea", &wrong, MsgFmt::Classic);
    forged.extend(signed("nodeb", &wrong, MsgFmt::Netstring));
    let truncated = signed("nodea", &right, MsgFmt::Netstring)
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            p.truncate(4 + i % (p.len() - 10));
            p
        })
        .collect();
    let mut oversized = b"###\n999999999:(0)t=".to_vec();
    oversized.resize(65_000, b'x');
    let garbage = (0..64u32)
        .map(|i| {
            let mut p = if i % 2 == 0 {
                b">>>\n".to_vec()
            } else {
                Vec::new()
            };
            p.extend((0..(i * 7 + 1)).map(|j| (j * 31 + i) as u8));
            p
        })
        .collect();
    vec![
        ("forged", forged),
        ("truncated", truncated),
        ("oversized", vec![oversized]),
        ("garbage", garbage),
        ("killer14", vec![b"###\n3:abc,%%%\n".to_vec()]),
        ("unknown-node", signed("mallory", &right, MsgFmt::Classic)),
        ("spoof-self-a", signed("nodea", &right, MsgFmt::Classic)),
        ("spoof-self-b", signed("nodeb", &right, MsgFmt::Classic)),
    ]
}

/// Sends `pool` round-robin over the heartbeat link (from the other node's namespace, where an
/// attacker on that network would be) to `target` at `rate`/s for `secs`.
fn flood(bed: &Testbed, from: usize, target: &str, pool: &[Vec<u8>], rate: u64, secs: u64) -> u64 {
    let target = target.to_string();
    let pool = pool.to_vec();
    common::testbed::probe::in_netns(&bed.nodes[from].ns.name, move || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        let t0 = Instant::now();
        let mut sent = 0u64;
        while t0.elapsed() < Duration::from_secs(secs) {
            let due = t0.elapsed().as_micros() as u64 * rate / 1_000_000;
            while sent < due {
                let _ = sock.send_to(&pool[sent as usize % pool.len()], &target);
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        sent
    })
    .unwrap_or(0)
}

/// Total drops a node reports (`cl_status drops`-style lines from the status command).
fn drops_total(bed: &Testbed, idx: usize) -> u64 {
    let Some(out) = bed.nodes[idx].cl_status("drops") else {
        return 0;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn late_or_dead(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Late heartbeat") || l.contains("is dead"))
        .count()
}

/// Floods one node with every kind for a bounded time; the pair must not notice.
fn flood_node(target_idx: usize) {
    let Some(bed) = bed() else { return };
    let rate: u64 = std::env::var("FLOOD_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let secs: u64 = std::env::var("FLOOD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let target = format!("198.51.100.{}:694", target_idx + 1);
    let before = [drops_total(&bed, 0), drops_total(&bed, 1)];
    let late_before = [
        late_or_dead(&bed.nodes[0].log_text()),
        late_or_dead(&bed.nodes[1].log_text()),
    ];
    let log_len_before = bed.nodes[target_idx].log_text().len();
    let pools = hostile_pool();
    let per_kind = (secs / pools.len() as u64).max(1);
    let mut sent = 0;
    for (kind, pool) in &pools {
        let n = flood(&bed, 1 - target_idx, &target, pool, rate, per_kind);
        eprintln!("{kind}: {n} datagrams at {rate}/s");
        sent += n;
        assert_eq!(
            bed.served_by(),
            Some("nodea"),
            "service moved during {kind}"
        );
    }
    // Let the receive queue drain before counting.
    let counted = |b: &Testbed| drops_total(b, target_idx) - before[target_idx];
    wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        counted(&bed) >= sent
    });
    let dropped = counted(&bed);
    eprintln!("sent {sent}, counted {dropped} drops on node {target_idx}");
    if let Some(out) = bed.nodes[target_idx].cl_status("drops") {
        eprintln!("cl_status drops:\n{}", String::from_utf8_lossy(&out.stdout));
    }
    assert!(
        bed.nodes[0].has_vip() && !bed.nodes[1].has_vip(),
        "{}",
        bed.describe()
    );
    for (i, before) in late_before.iter().enumerate() {
        let log = bed.nodes[i].log_text();
        assert_eq!(
            late_or_dead(&log),
            *before,
            "node {i} logged late heartbeats or a death\n{}",
            bed.logs_tail(30)
        );
        assert!(!log.contains(SECRET), "the key is in node {i}'s log");
    }
    let log = bed.nodes[target_idx].log_text();
    let grown = log.len() - log_len_before;
    eprintln!("log grew by {grown} bytes");
    assert!(grown < 1_000_000, "log grew by {grown} bytes");
    // Every datagram is counted: by kind, or as `kernel_overflow` when the receive queue was
    // full (the kernel's own count, SO_RXQ_OVFL).
    assert_eq!(
        dropped,
        sent,
        "not every datagram counted\n{}",
        bed.logs_tail(20)
    );
}

#[test]
fn hostile_flood_at_the_standby_changes_nothing() {
    flood_node(1);
}

#[test]
fn hostile_flood_at_the_holder_changes_nothing() {
    flood_node(0);
}

/// Samples both nodes every 10 ms for `secs`; returns (samples, samples with the VIP on both).
fn sample_vip(bed: &Testbed, secs: u64, mut until: impl FnMut(bool, bool) -> bool) -> (u32, u32) {
    let t0 = Instant::now();
    let (mut samples, mut both) = (0, 0);
    while t0.elapsed() < Duration::from_secs(secs) {
        let (a, b) = (bed.nodes[0].has_vip(), bed.nodes[1].has_vip());
        samples += 1;
        if a && b {
            both += 1;
        }
        if until(a, b) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (samples, both)
}

/// Replaces node `idx`'s address script by a wrapper whose `stop` misbehaves as `mode` says
/// (`hang`, `fail`), or removes it (`missing`).
fn break_address_stop(bed: &Testbed, idx: usize, mode: &str) {
    let dir = bed.nodes[idx].ha_dir().join("resource.d");
    let script = dir.join("IPaddr");
    let real = dir.join("IPaddr.real");
    std::fs::rename(&script, &real).unwrap();
    if mode == "missing" {
        return;
    }
    let action = match mode {
        "hang" => "sleep 600",
        _ => "exit 1",
    };
    let text = format!(
        "#!/bin/sh\n# test wrapper: stop {mode}s\nfor a in \"$@\"; do [ \"$a\" = stop ] && {{ {action}; }}; done\nexec {} \"$@\"\n",
        real.display()
    );
    std::fs::write(&script, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// hb_standby on the holder whose address stop hangs, fails or has no script: the address is
/// removed directly, the hand-over completes, and the VIP is never on both nodes.
fn stop_fault(mode: &str) {
    // The script path: an in-process address has no script to hang or fail.
    let Some(bed) = bed_built(true, |b| {
        let cf = b.nodes[0].ha_dir().join("ha.cf");
        let mut text = std::fs::read_to_string(&cf).unwrap();
        text.push_str("resource_timeout 2\n");
        if mode == "missing" {
            // In-process addresses need no script: only with them off can the script be missing.
            text.push_str("native_addresses off\n");
        }
        std::fs::write(&cf, text).unwrap();
        // Only A's stop misbehaves: B takes the address in-process (and announces it without
        // arping, which the fresh-machine check stubs out).
        for name in ["IPaddr", "IPaddr2"] {
            let _ = std::fs::remove_file(b.nodes[1].ha_dir().join("resource.d").join(name));
        }
    }) else {
        return;
    };
    break_address_stop(&bed, 0, mode);
    // hb_standby waits for the hand-over: sample both nodes while it runs.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (samples, both) = std::thread::scope(|s| {
        s.spawn(|| {
            let out = bed.nodes[0].standby();
            eprintln!(
                "hb_standby: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        sample_vip(&bed, 20, |a, b| {
            done.load(std::sync::atomic::Ordering::SeqCst) && !a && b
        })
    });
    eprintln!("stop {mode}: {samples} samples, {both} with the VIP on both");
    assert_eq!(both, 0, "{}", bed.logs_tail(30));
    assert!(
        bed.wait_owner(1, Duration::from_secs(15)),
        "B does not serve after the failed stop: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    let log = bed.nodes[0].log_text();
    assert!(log.contains("removed 192.0.2.10 directly"), "{log}");
}

#[test]
fn a_hung_address_stop_is_forced() {
    stop_fault("hang");
}

#[test]
fn a_failed_address_stop_is_forced() {
    stop_fault("fail");
}

#[test]
fn a_missing_address_script_at_failover_time_is_forced() {
    stop_fault("missing");
}

/// The survivor's start fails after the holder's kill -9: it gives the group up again; the VIP
/// is never on both nodes (nobody serves: a failed start cannot be helped).
#[test]
fn a_failed_start_on_the_survivor_never_makes_two_holders() {
    let Some(bed) = bed() else { return };
    let dir = bed.nodes[1].ha_dir().join("resource.d");
    std::fs::write(
        dir.join("httpd"),
        "#!/bin/sh\ncase \"$1\" in start) exit 1;; status) exit 3;; esac\nexit 0\n",
    )
    .unwrap();
    let master = master_pid(&bed, 0).expect("node A's master process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (samples, both) = sample_vip(&bed, 8, |_, _| false);
    eprintln!("failed start: {samples} samples, {both} with the VIP on both");
    assert_eq!(both, 0);
    let log = bed.nodes[1].log_text();
    assert!(
        log.contains("Giving up resources due to failure of httpd"),
        "{}",
        bed.logs_tail(30)
    );
    // While the peer is dead the survivor retries the failed start (after the deadtime, then
    // with a doubling backoff), so the VIP may be up for a moment mid-retry; it must not stay.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut released = false;
    while std::time::Instant::now() < deadline {
        if !bed.nodes[1].has_vip() {
            released = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(released, "B kept the VIP of a group it failed to start");
}

/// Without the crash guard (`crash_guard off`), a kill -9 leaves the VIP on the dead daemon's
/// node and the survivor takes it too: the double holding the guard exists for. Restarting the
/// daemon clears it (the start-up stop of every group), before it takes anything.
#[test]
fn without_the_guard_a_crash_doubles_the_vip_until_the_restart_clears_it() {
    let Some(mut bed) = bed_with(|b| {
        let cf = b.nodes[0].ha_dir().join("ha.cf");
        let mut text = std::fs::read_to_string(&cf).unwrap();
        text.push_str("crash_guard off\n");
        std::fs::write(&cf, text).unwrap();
    }) else {
        return;
    };
    assert_eq!(
        bed.nodes[0].daemon_pids().len(),
        1,
        "crash_guard off: no guard process"
    );
    let master = master_pid(&bed, 0).expect("node A's master process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = bed.nodes[0].wait_exit(Duration::from_secs(5));
    let doubled = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
        bed.nodes[0].has_vip() && bed.nodes[1].has_vip()
    });
    assert!(
        doubled,
        "expected the unguarded crash to leave the VIP on A while B takes it"
    );
    bed.nodes[0].start().unwrap();
    let cleared = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
        !(bed.nodes[0].has_vip() && bed.nodes[1].has_vip())
    });
    assert!(
        cleared,
        "restart did not clear the VIP left by the crash\n{}",
        bed.logs_tail(30)
    );
    let log = bed.nodes[0].log_text();
    assert!(
        log.contains("Stopping every resource group before taking any"),
        "{log}"
    );
    // Then exactly one holder serves (A again: auto_failback on).
    assert!(
        bed.wait_owner(0, Duration::from_secs(30)),
        "{}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
}

/// UDP payloads of a pcap file written by tcpdump (Ethernet or Linux cooked captures).
fn pcap_payloads(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if data.len() < 24 {
        return out;
    }
    let le = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32_at = |i: usize| {
        let w = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        (if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }) as usize
    };
    let link_header = match u32_at(20) {
        1 => 14,
        113 => 16,
        276 => 20,
        _ => return out,
    };
    let mut at = 24;
    while at + 16 <= data.len() {
        let end = at + 16 + u32_at(at + 8);
        if end > data.len() {
            break;
        }
        let frame = &data[at + 16..end];
        at = end;
        let Some(ip) = frame.get(link_header..) else {
            continue;
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if let Some(payload) = ip.get(ihl + 8..)
            && (payload.starts_with(b"###\n") || payload.starts_with(b">>>\n"))
        {
            out.push(payload.to_vec());
        }
    }
    out
}

/// Packets captured on the heartbeat link and replayed later, many times over: every
/// sequenced one is rejected and counted as `old`, nothing moves, nothing is logged per packet.
#[test]
fn replays_of_a_captured_sequence_are_all_rejected() {
    if !common::netns::run("command -v tcpdump").status.success() {
        eprintln!("skipped: needs tcpdump");
        return;
    }
    let Some(bed) = bed() else { return };
    let pcap = bed.dir.join("hb0.pcap");
    let capture = bed.nodes[0].ns.spawn(
        "timeout",
        &[
            "3",
            "tcpdump",
            "-i",
            "hb0",
            "-U",
            "-w",
            &pcap.display().to_string(),
            "udp port 694",
        ],
    );
    std::thread::sleep(Duration::from_secs(4));
    drop(capture);
    let captured = pcap_payloads(&std::fs::read(&pcap).unwrap_or_default());
    // What B sent (and A received): B's own sequenced packets, replayed at A.
    let from_b: Vec<Vec<u8>> = captured
        .into_iter()
        .filter(|p| {
            heartbeat::wire::decode_unverified(p)
                .is_ok_and(|(m, _)| m.get("src") == Some("nodeb") && m.get("seq").is_some())
        })
        .collect();
    assert!(
        from_b.len() >= 5,
        "captured only {} packets of B",
        from_b.len()
    );
    std::thread::sleep(Duration::from_secs(1));
    let old_before = drops_of(&bed, 0, "old");
    let rounds = 50u64;
    let pool = from_b.clone();
    common::testbed::probe::in_netns(&bed.nodes[1].ns.name, move || {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..rounds {
            for p in &pool {
                let _ = sock.send_to(p, "198.51.100.1:694");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .unwrap();
    let expected = rounds * from_b.len() as u64;
    wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        drops_of(&bed, 0, "old") - old_before >= expected
    });
    let counted = drops_of(&bed, 0, "old") - old_before;
    eprintln!("replayed {expected} captured packets of B, {counted} counted as old");
    assert_eq!(counted, expected);
    assert_eq!(bed.served_by(), Some("nodea"));
    assert_eq!(bed.nodes[0].node_status("nodeb").as_deref(), Some("active"));
    let replay_lines = bed.nodes[0]
        .log_text()
        .lines()
        .filter(|l| l.contains("Dropped an old packet"))
        .count();
    assert!(
        replay_lines <= 10,
        "{replay_lines} log lines for the replays"
    );
}

/// One kind's count on one node, all media together.
fn drops_of(bed: &Testbed, idx: usize, kind: &str) -> u64 {
    let Some(out) = bed.nodes[idx].cl_status("drops") else {
        return 0;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split('\t').next() == Some(kind))
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse::<u64>().ok())
        .sum()
}

/// Malformed requests on the control socket are refused one by one (`ERR`, counted in
/// `bad_requests`) and change nothing: the daemon keeps answering and serving.
#[test]
fn the_control_socket_refuses_malformed_requests() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let Some(bed) = bed() else { return };
    let sock = bed.nodes[0].run_dir().join("control.sock");
    let ask = |req: &[u8]| -> String {
        let Ok(mut s) = UnixStream::connect(&sock) else {
            return "connect failed".into();
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(req);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let bad_requests = || -> u64 {
        ask(b"status\n")
            .lines()
            .find_map(|l| l.strip_prefix("bad_requests\t")?.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let before = bad_requests();
    let long = vec![b'x'; 4096];
    let cases: [&[u8]; 8] = [
        b"\n",
        b"bogus\n",
        b"status extra words\n",
        b"standby nothing\n",
        b"takeover\n",
        b"param\n",
        b"\0\xff\xfe binary\n",
        &long,
    ];
    for req in cases {
        let answer = ask(req);
        assert!(
            answer.starts_with("ERR") || answer.is_empty(),
            "{:?} got {answer:?}",
            String::from_utf8_lossy(&req[..req.len().min(20)])
        );
    }
    let after = bad_requests();
    eprintln!("bad_requests {before} -> {after}");
    assert!(after >= before + 7, "bad_requests {before} -> {after}");
    assert!(ask(b"ping\n").starts_with("OK"));
    assert_eq!(bed.served_by(), Some("nodea"));
    assert_eq!(bed.nodes[1].node_status("nodea").as_deref(), Some("active"));
}
