//! The two-node failover demo (the README's main command runs it through `tests/demo.sh`).
//!
//! Brings up node A and node B in network namespaces with the sample configuration shape (bcast on
//! a dedicated heartbeat link, an IPaddr VIP, an `httpd` resource), shows `cl_status` of both and a
//! client fetching the page from A, kills A with `kill -9`, prints the failover timeline, brings A
//! back (failback per `auto_failback on`), runs `hb_standby` on A, and tears everything down.
//! Exits 0 only if every step happened as expected.
//!
//! `demo [--peer ours|heartbeat|keepalived]` (default: ours, i.e. heartbeat-rs).

// The shared test-bed modules (tests/common/mod.rs also holds test-only helpers).
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "../tests/common/testbed.rs"]
mod testbed;
mod common {
    pub(crate) use super::{netns, testbed};
}

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::testbed::{BedOptions, Kind, Testbed, Timers, VIP, probe};

/// Demo timers: short enough to watch, long enough to be stable on a busy machine.
fn demo_timers() -> Timers {
    Timers {
        keepalive_ms: 500,
        deadtime_ms: 3000,
        warntime_ms: 2000,
        initdead_ms: 6000,
    }
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.parent()).map(|d| d.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn step(n: usize, text: &str) {
    println!("\n[{n}] {text}");
}

fn show_cl_status(bed: &Testbed) {
    for node in &bed.nodes {
        for args in [
            "hbstatus",
            "listnodes",
            "nodestatus nodea",
            "nodestatus nodeb",
            "rscstatus",
        ] {
            match node.cl_status(args) {
                Some(out) => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    println!(
                        "    {}$ cl_status {args:<17} -> {}",
                        node.name,
                        text.trim().replace('\n', " | ")
                    );
                }
                None => {
                    println!("    {}: keepalived has no cl_status", node.name);
                    break;
                }
            }
        }
    }
}

fn ms(t0: Instant, t: Option<Instant>) -> String {
    match t {
        Some(t) => format!(
            "{:>6.0} ms",
            t.saturating_duration_since(t0).as_secs_f64() * 1000.0
        ),
        None => "   never".to_string(),
    }
}

fn run(kind: Kind) -> Result<(), String> {
    let timers = demo_timers();
    let mut opts = BedOptions::new(kind, &bin_dir());
    opts.timers = timers;
    opts.auto_failback = true;
    let limit =
        Duration::from_millis(timers.initdead_ms + timers.deadtime_ms) + Duration::from_secs(30);

    step(
        1,
        &format!("bringing up nodea and nodeb running {}", kind.label()),
    );
    let mut bed = Testbed::new(opts)?;
    println!(
        "    public segment 192.0.2.0/24 (A .1, B .2, client .100), heartbeat link 198.51.100.0/24 \
         (bcast hb0), VIP {VIP}/24, keepalive {} ms, deadtime {} ms, auto_failback on",
        timers.keepalive_ms, timers.deadtime_ms
    );
    println!(
        "    haresources: {}",
        common::testbed::config::haresources(&[]).trim()
    );
    bed.start_both()?;
    if !bed.wait_owner(0, limit) {
        return Err(format!(
            "A did not take the VIP: {}\n{}",
            bed.describe(),
            bed.logs_tail(20)
        ));
    }
    if !bed.wait_peers_active(Duration::from_secs(20)) {
        return Err(format!(
            "the nodes do not see each other\n{}",
            bed.logs_tail(20)
        ));
    }
    // Heartbeat advertises a longer dead time for 5 s after start: let the pair settle.
    std::thread::sleep(Duration::from_secs(6));
    println!("    up: {}", bed.describe());

    step(2, "cl_status on both nodes");
    show_cl_status(&bed);

    step(3, "the client fetches the page through the VIP");
    match bed.fetch(Duration::from_secs(2)) {
        Some((200, body)) if body.contains("served by nodea") => {
            println!("    HTTP 200: {}", body.trim())
        }
        other => return Err(format!("client did not get A's page: {other:?}")),
    }

    step(
        4,
        "kill -9 of A's daemon (a crash); timeline seen from B and the client",
    );
    let needles = match kind {
        Kind::Keepalived => vec!["Entering MASTER STATE".to_string()],
        // Ours: the crash guard's shutdown notice in A's name; else B's deadtime.
        _ => vec![
            "node nodea: is dead".to_string(),
            "Received shutdown notice from 'nodea'".to_string(),
        ],
    };
    let flimit = Duration::from_millis(timers.deadtime_ms) + Duration::from_secs(20);
    let det = probe::watch_log(
        &bed.nodes[1].log_path(),
        needles,
        Duration::from_millis(5),
        flimit,
    );
    let b_ns = bed.nodes[1].ns.name.clone();
    let vip =
        std::thread::spawn(move || probe::wait_addr(&b_ns, VIP, Duration::from_millis(10), flimit));
    let c_ns = bed.client.name.clone();
    let svc = std::thread::spawn(move || {
        probe::wait_http(
            &c_ns,
            VIP,
            "served by nodeb",
            Duration::from_millis(10),
            Duration::from_secs(1),
            flimit,
        )
    });
    std::thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    bed.nodes[0].kill9_main();
    let det = det.join().ok().flatten().map(|(t, _)| t);
    let vip = vip.join().ok().flatten();
    let svc = svc.join().ok().flatten();
    println!(
        "    {}  fault: kill -9 of A's daemon (its main process, as a crash or the OOM killer)",
        ms(t0, Some(t0))
    );
    println!(
        "    {}  B learns A is gone (B's log: A's crash guard's shutdown notice, else deadtime)",
        ms(t0, det)
    );
    println!("    {}  VIP configured on B", ms(t0, vip));
    println!("    {}  first HTTP 200 from B through the VIP", ms(t0, svc));
    if det.is_none() || vip.is_none() || svc.is_none() {
        return Err(format!("failover incomplete\n{}", bed.logs_tail(20)));
    }
    // The client reached B because B's gratuitous ARP moved its neighbour entry to B's MAC.
    let learnt = bed.client_neighbour(&VIP.to_string());
    let b_mac = bed.node_mac(1);
    println!(
        "    client's neighbour entry for {VIP}: {} (B's eth0: {}, A's eth0: {})",
        learnt.as_deref().unwrap_or("none"),
        b_mac.as_deref().unwrap_or("?"),
        bed.node_mac(0).as_deref().unwrap_or("?")
    );
    if learnt.is_none() || learnt != b_mac {
        return Err("the client did not learn B's MAC for the VIP".to_string());
    }

    step(
        5,
        "A comes back (reboot: its leftovers cleared, daemon started); failback per auto_failback on",
    );
    let t1 = Instant::now();
    bed.nodes[0].reboot()?;
    if !bed.wait_owner(0, limit) {
        return Err(format!(
            "no failback to A: {}\n{}",
            bed.describe(),
            bed.logs_tail(20)
        ));
    }
    println!(
        "    {}  A serves again: {}",
        ms(t1, Some(Instant::now())),
        bed.describe()
    );
    if !bed.wait_peers_active(Duration::from_secs(20)) {
        return Err(format!(
            "the nodes do not see each other again\n{}",
            bed.logs_tail(20)
        ));
    }
    std::thread::sleep(Duration::from_secs(6));
    show_cl_status(&bed);

    step(6, "hb_standby on A: the group moves to B");
    let t2 = Instant::now();
    let out = bed.nodes[0].standby();
    if !out.status.success() {
        return Err(format!(
            "hb_standby failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if !bed.wait_owner(1, Duration::from_secs(30)) {
        return Err(format!(
            "standby did not move the group: {}\n{}",
            bed.describe(),
            bed.logs_tail(20)
        ));
    }
    println!(
        "    {}  B serves: {}",
        ms(t2, Some(Instant::now())),
        bed.describe()
    );

    step(7, "tearing everything down");
    let names: Vec<String> = [&bed.public, &bed.client, &bed.nodes[0].ns, &bed.nodes[1].ns]
        .iter()
        .map(|n| n.name.clone())
        .collect();
    drop(bed);
    let list = common::netns::run("ip netns list");
    let list = String::from_utf8_lossy(&list.stdout);
    let left: Vec<&String> = names.iter().filter(|n| list.contains(n.as_str())).collect();
    if !left.is_empty() {
        return Err(format!("namespaces left behind: {left:?}"));
    }
    println!("    namespaces, processes and addresses removed");
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let kind = match argv.as_slice() {
        [] => Kind::Ours,
        [flag, k] if flag == "--peer" => match Kind::parse(k) {
            Some(k) => k,
            None => {
                eprintln!("demo: --peer ours|heartbeat|keepalived");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("usage: demo [--peer ours|heartbeat|keepalived]");
            std::process::exit(2);
        }
    };
    if !common::netns::can_use_netns() {
        eprintln!("demo: needs root and iproute2");
        std::process::exit(2);
    }
    common::testbed::cleanup_on_signals();
    match run(kind) {
        Ok(()) => println!("\ndemo: every step happened as expected"),
        Err(e) => {
            eprintln!("\ndemo: FAILED: {e}");
            std::process::exit(1);
        }
    }
}
