//! The director's IPVS backend against a kernel that has IPVS (issue 19). This machine's kernel
//! has no `ip_vs`, so the test boots Debian's stock kernel in a small virtual machine
//! (tests/vm/run.sh: software emulation, this machine's root read-only) and runs the lab of
//! `director_netns` there, checked through `ipvsadm -Ln`:
//!
//! * start: the service and its three real servers stand in IPVS (masq, weight 1) and the
//!   client is balanced over them through the kernel's IPVS;
//! * a stopped real server is quiesced (weight 0, one edit) within the removal bound, and no
//!   client request fails after that; all down → the sorry server enters; one back → it leaves;
//! * a destination left in our service by an earlier run is purged at the next start, and an
//!   existing service is taken over (add → edit); stop removes the service;
//! * a firewall-mark service (`virtual=1`) stands as `FWM 1` and serves the marked traffic.
//!
//! Skips without root, iproute2, nft, busybox, ipvsadm or qemu-system-x86_64.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::director::{Alone, Load, REALS, REMOVAL_BOUND, SORRY, answers_between, client_sees};
use common::director::{usable, wait_state};
use common::netns::{TempDir, run, wait_until};

/// The line of `ipvsadm -Ln` for the real server `ip`, split in words
/// (`->`, address, forward, weight, active, inactive).
fn dest_line(table: &str, ip: &str) -> Option<Vec<String>> {
    let addr = format!("{ip}:80");
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|w| w.len() >= 4 && w[0] == "->" && w[1] == addr)
}

fn weight(table: &str, ip: &str) -> Option<String> {
    dest_line(table, ip).map(|w| w[3].clone())
}

/// `hb_ldirectord start` in the lab, which must succeed; the IPVS table after it, also printed.
fn start_and_show(lab: &Alone, what: &str) -> String {
    let out = lab.ld("", "start");
    assert!(
        out.status.success(),
        "{what}: start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = lab.ipvs();
    eprintln!("{what}:\n{table}");
    table
}

/// Runs on this machine: boots the test machine and runs [`inside_the_machine`] there.
#[test]
fn the_ipvs_backend_drives_a_real_ipvs_kernel() {
    let test = "director IPVS";
    if std::env::var_os("HBRS_IN_VM").is_some() || !usable(test) {
        return;
    }
    for tool in ["/usr/sbin/ipvsadm", "/usr/bin/qemu-system-x86_64"] {
        if !Path::new(tool).exists() {
            eprintln!("{test}: skipped: {tool} missing (tests/deps.sh test installs it)");
            return;
        }
    }
    let work = TempDir::new("ldvm");
    let me = std::env::current_exe().expect("test binary");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/run.sh");
    let t = Instant::now();
    let out = run(&format!(
        "HBRS_VM_TIMEOUT=600 bash {} {} {} --exact inside_the_machine --include-ignored --nocapture --test-threads=1 2>&1",
        script.display(),
        work.s(),
        me.display()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{test}: the machine ran for {:?}\n{text}", t.elapsed());
    assert!(
        out.status.success(),
        "the test inside the machine failed: {:?}",
        out.status
    );
    assert!(
        text.contains("test result: ok. 1 passed"),
        "the inner test did not run"
    );
}

/// Runs inside the test machine only (`HBRS_IN_VM`, set by tests/vm/init).
#[test]
#[ignore = "runs inside the test machine of the_ipvs_backend_drives_a_real_ipvs_kernel"]
fn inside_the_machine() {
    let test = "inside";
    if std::env::var_os("HBRS_IN_VM").is_none() {
        eprintln!("{test}: not inside the test machine; nothing to do");
        return;
    }
    let loaded = run("modprobe ip_vs && modprobe ip_vs_rr");
    assert!(
        loaded.status.success(),
        "modprobe ip_vs: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(usable(test), "the lab's tools are missing in the machine");
    let mut lab = Alone::with(true);
    let state = lab.state();
    let vip = "TCP  192.0.2.10:80 rr";

    let out = lab.ld("", "start");
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = lab.dir.path.join("ld.log");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text().contains("IPVS (generic netlink)"),
        "{}",
        log_text()
    );
    let table = lab.ipvs();
    eprintln!("{test}: after start:\n{table}");
    assert!(table.contains(vip), "{table}");
    for ip in REALS {
        let line = dest_line(&table, ip).unwrap_or_default();
        assert_eq!(
            line.get(2..4),
            Some(&["Masq".to_string(), "1".to_string()][..]),
            "{table}"
        );
    }
    assert!(
        dest_line(&table, SORRY).is_none(),
        "sorry server while all are up: {table}"
    );
    assert!(!lab.has_rules(), "no nft table beside IPVS");

    // Balanced by the kernel over all three.
    let load = Load::start(&lab.client.name);
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = Instant::now();
    lab.back.stop(REALS[1]);
    // Emulated machine: the bound is checked on this machine's own kernel (director_netns);
    // here it only has to hold with room for emulation.
    let removed = wait_state(&state, REALS[1], "down", REMOVAL_BOUND * 4).expect("quiesced");
    let took = removed - killed_at;
    let edited = wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
        weight(&lab.ipvs(), REALS[1]).as_deref() == Some("0")
    });
    let table = lab.ipvs();
    eprintln!("{test}: stopped → down after {took:?}; IPVS:\n{table}");
    assert!(edited, "not quiesced in IPVS: {table}");
    for ip in [REALS[0], REALS[2]] {
        assert_eq!(weight(&table, ip).as_deref(), Some("1"), "{table}");
    }
    let quiesced_at = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let answers = load.finish();
    let first = answers.first().map(|a| a.0).expect("answers");
    let (ok0, failed0, seen0) = answers_between(&answers, first, killed_at);
    assert_eq!(failed0, 0, "errors before the fault");
    assert_eq!(
        seen0.len(),
        3,
        "balanced over all three: {seen0:?} ({ok0} answers)"
    );
    let (ok1, failed1, seen1) = answers_between(&answers, quiesced_at, Instant::now());
    eprintln!("{test}: after the edit: {ok1} answers, {failed1} errors, from {seen1:?}");
    assert_eq!(failed1, 0, "client errors after the edit");
    assert!(!seen1.contains(&format!("real {}", REALS[1])), "{seen1:?}");
    assert!(ok1 > 5, "{ok1} answers");

    // All down: the sorry server enters; one back: it leaves.
    lab.back.stop(REALS[0]);
    lab.back.stop(REALS[2]);
    let limit = REMOVAL_BOUND * 4;
    assert!(
        client_sees(&lab.client.name, "sorry", limit),
        "no sorry server\n{}",
        lab.ipvs()
    );
    let table = lab.ipvs();
    assert_eq!(weight(&table, SORRY).as_deref(), Some("1"), "{table}");
    lab.back.start(REALS[2]);
    let want = format!("real {}", REALS[2]);
    assert!(
        client_sees(&lab.client.name, &want, limit),
        "{}",
        lab.ipvs()
    );
    let gone = wait_until(limit, Duration::from_millis(20), || {
        dest_line(&lab.ipvs(), SORRY).is_none()
    });
    let table = lab.ipvs();
    eprintln!("{test}: one back:\n{table}");
    assert!(gone, "the sorry server stayed: {table}");
    assert_eq!(weight(&table, REALS[2]).as_deref(), Some("1"), "{table}");

    // Stop: the service leaves IPVS.
    assert!(lab.ld("", "stop").status.success());
    let table = lab.ipvs();
    assert!(
        !table.contains("192.0.2.10:80"),
        "service left after stop: {table}"
    );

    // An earlier run's leftovers: the service exists (taken over by edits) with a destination
    // the configuration lacks (purged).
    lab.director.sh(
        "ipvsadm -A -t 192.0.2.10:80 -s wlc && ipvsadm -a -t 192.0.2.10:80 -r 203.0.113.99:80 -m -w 5",
    );
    let table = start_and_show(&lab, &format!("{test}: restart over leftovers"));
    assert!(table.contains(vip), "scheduler not taken over: {table}");
    assert!(
        dest_line(&table, "203.0.113.99").is_none(),
        "not purged: {table}"
    );
    assert_eq!(weight(&table, REALS[2]).as_deref(), Some("1"), "{table}");
    for ip in [REALS[0], REALS[1]] {
        assert_eq!(weight(&table, ip).as_deref(), Some("0"), "{table}");
    }
    assert!(
        log_text().contains("203.0.113.99:80"),
        "the purge is logged"
    );
    assert!(lab.ld("", "stop").status.success());
    assert!(!lab.ipvs().contains("192.0.2.10:80"));

    // A firewall-mark service: the same servers behind mark 1, which the director's own rule
    // sets on the VIP's traffic.
    let text = std::fs::read_to_string(&lab.cf_path).expect("cf");
    std::fs::write(
        &lab.cf_path,
        text.replace("virtual=192.0.2.10:80", "virtual=1"),
    )
    .expect("cf");
    lab.director.sh(
        "nft add table ip fwm_test && nft add chain ip fwm_test pre '{ type filter hook prerouting priority mangle; }' \
         && nft add rule ip fwm_test pre ip daddr 192.0.2.10 tcp dport 80 meta mark set 1",
    );
    let table = start_and_show(&lab, &format!("{test}: firewall-mark service"));
    assert!(table.contains("FWM  1 rr"), "{table}");
    assert_eq!(weight(&table, REALS[2]).as_deref(), Some("1"), "{table}");
    assert!(
        client_sees(&lab.client.name, &want, limit),
        "not served through the mark: {table}"
    );
    assert!(lab.ld("", "stop").status.success());
    assert!(!lab.ipvs().contains("FWM"), "{}", lab.ipvs());
}
