//! The LVS director (issue 19) with real processes in network namespaces: a client asking a
//! virtual service, three busybox web servers behind it and a sorry server, the director
//! forwarding by NAT (this kernel has no IPVS; the nft backend).
//!
//! * alone: a stopped real server leaves within interval × failurecount + timeout and no client
//!   request fails after that; all down → the sorry server answers; one back → it leaves;
//!   stop → the rules are gone;
//! * a director pair under heartbeat-rs (`IPaddr` outside, `IPaddr` inside, `ldirectord`):
//!   the standby starts checking at takeover and the client is served again.
//!
//! Skips cleanly without root, iproute2, nft or busybox.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::director::{
    Alone, Load, REALS, REMOVAL_BOUND, VIP, answers_between, cf, client_sees, ldirectord_bin,
    usable, wait_state,
};
use common::netns::{Netns, TempDir, run, veth, wait_until};
use common::testbed::probe::{enter_netns, http_get_here};
use common::testbed::{BedOptions, Kind, Testbed};

#[test]
fn a_director_alone_follows_its_real_servers_and_the_sorry_server() {
    let test = "director alone";
    if !usable(test) {
        return;
    }
    let mut lab = Alone::new();
    let state = lab.state();

    let t = Instant::now();
    let out = lab.ld("", "start");
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{test}: start returned after {:?} (first checks done)",
        t.elapsed()
    );
    let status = lab.ld("", "status");
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{text}");
    assert_eq!(text.matches(" up").count(), 3, "{text}");

    // Round robin over the three.
    let load = Load::start(&lab.client.name);
    std::thread::sleep(Duration::from_millis(500));
    let killed_at = Instant::now();
    lab.back.stop(REALS[1]);
    let removed = wait_state(&state, REALS[1], "down", Duration::from_secs(10)).expect("removed");
    let took = removed - killed_at;
    eprintln!("{test}: real server stopped → removed after {took:?} (bound {REMOVAL_BOUND:?})");
    assert!(
        took <= REMOVAL_BOUND + Duration::from_millis(200),
        "{took:?}"
    );
    // The state file tells health at once; the table follows when nft has written it.
    let dead = REALS[1];
    let gone = wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
        !lab.director.sh("nft list tables").contains("hbrs_ld")
            || !lab
                .director
                .sh("nft list table inet hbrs_ld_ldirectord")
                .contains(dead)
    });
    assert!(gone, "the dead server stayed in the rules");
    let rules_out = Instant::now();
    eprintln!(
        "{test}: out of the rules {:?} after the state said so",
        rules_out - removed
    );
    std::thread::sleep(Duration::from_secs(2));
    let after = Instant::now();
    let log = load.finish();
    let (ok0, failed0, seen0) = answers_between(&log, log[0].0, killed_at);
    assert_eq!(failed0, 0, "errors before the fault");
    assert_eq!(
        seen0.len(),
        3,
        "round robin over all three: {seen0:?} ({ok0} answers)"
    );
    let (ok1, failed1, seen1) = answers_between(&log, rules_out, after);
    eprintln!("{test}: after the removal: {ok1} answers, {failed1} errors, from {seen1:?}");
    assert_eq!(failed1, 0, "client errors after the removal");
    assert!(!seen1.contains(&format!("real {}", REALS[1])));
    assert!(ok1 > 20);

    // All down: the sorry server answers; one back: it leaves.
    lab.back.stop(REALS[0]);
    lab.back.stop(REALS[2]);
    assert!(
        client_sees(
            &lab.client.name,
            "sorry",
            REMOVAL_BOUND + Duration::from_secs(2)
        ),
        "no sorry server"
    );
    lab.back.start(REALS[2]);
    let back_at = Instant::now();
    assert!(client_sees(
        &lab.client.name,
        &format!("real {}", REALS[2]),
        Duration::from_secs(5)
    ));
    eprintln!(
        "{test}: a real server back → served by it after {:?}",
        back_at.elapsed()
    );
    let stat = std::fs::read_to_string(&state).unwrap_or_default();
    assert!(stat.contains(&format!("{}:80 up", REALS[2])), "{stat}");

    let out = lab.ld("", "stop");
    assert!(out.status.success());
    assert!(!lab.ld("", "status").status.success(), "status after stop");
    assert!(!lab.has_rules(), "rules left after a clean stop");
}

#[test]
fn a_director_pair_fails_over_and_the_standby_checks_at_takeover() {
    let test = "director pair";
    if !usable(test) {
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    let opts = BedOptions::new(Kind::Ours, bin_dir);
    let mut bed = Testbed::new(opts).expect("test bed");
    let mut back = common::director::Backend::new();
    for (i, node) in bed.nodes.iter().enumerate() {
        let port = format!("d{i}");
        veth(&node.ns, "eth1", &back.ns, &port);
        back.attach(&port);
        run(&node.ns.wrap(&format!(
            "ip addr add 203.0.113.{}/24 dev eth1 && sysctl -qw net.ipv4.ip_forward=1",
            i + 1
        )));
        let ha = node.dir.join("ha.d");
        std::fs::write(
            ha.join("haresources"),
            "nodea 192.0.2.10/24/eth0 203.0.113.254/24/eth1 ldirectord::ldirectord.cf\n",
        )
        .expect("haresources");
        std::fs::write(
            ha.join("ldirectord.cf"),
            cf(&node.dir.join("ld.log"), false),
        )
        .expect("cf");
        // Each node keeps its director's pid file apart (both share this machine's /run).
        let wrapper = format!(
            "#!/bin/sh\nexport HB_LDIRECTORD_RUN_DIR={}\nexec {}/resource.d/ldirectord \"$@\"\n",
            node.dir.join("ldrun").display(),
            env!("CARGO_MANIFEST_DIR")
        );
        let script = ha.join("resource.d/ldirectord");
        std::fs::write(&script, wrapper).expect("wrapper");
        run(&format!("chmod 755 {}", script.display()));
    }
    back.route_via("203.0.113.254");
    bed.start_both().expect("daemons");
    assert!(
        client_sees(&bed.client.name, "real ", Duration::from_secs(40)),
        "the pair never served\n{}",
        bed.logs_tail(30)
    );
    let state_a = bed.nodes[0].dir.join("ldrun/ldirectord.ldirectord.state");
    assert!(wait_state(&state_a, REALS[0], "up", Duration::from_secs(5)).is_some());
    // A real server dies: A's director takes it out.
    back.stop(REALS[1]);
    let killed_at = Instant::now();
    let removed =
        wait_state(&state_a, REALS[1], "down", Duration::from_secs(10)).expect("removed on A");
    let took = removed - killed_at;
    eprintln!("{test}: removed on A after {took:?}");
    assert!(
        took <= REMOVAL_BOUND + Duration::from_millis(200),
        "{took:?}\n{}",
        std::fs::read_to_string(bed.nodes[0].dir.join("ld.log")).unwrap_or_default()
    );

    // The active director dies (power off: processes and links gone).
    let load = Load::start(&bed.client.name);
    std::thread::sleep(Duration::from_millis(300));
    let fault = Instant::now();
    bed.nodes[0].power_off();
    run(&bed.nodes[0]
        .ns
        .wrap("ip link set eth0 down; ip link set eth1 down; ip link set hb0 down"));
    let state_b = bed.nodes[1].dir.join("ldrun/ldirectord.ldirectord.state");
    let checked = wait_state(&state_b, REALS[1], "down", Duration::from_secs(30));
    assert!(checked.is_some(), "B never checked\n{}", bed.logs_tail(30));
    assert!(
        client_sees(&bed.client.name, "real ", Duration::from_secs(20)),
        "B does not serve\n{}",
        bed.logs_tail(30)
    );
    std::thread::sleep(Duration::from_secs(2));
    let end = Instant::now();
    let log = load.finish();
    let first_ok = log
        .iter()
        .find(|(t, a)| {
            *t > fault && a.is_some() && log.iter().any(|(u, b)| u > &fault && u < t && b.is_none())
        })
        .map(|(t, _)| *t - fault);
    let served_again = log
        .iter()
        .filter(|(t, _)| *t > fault)
        .rev()
        .take_while(|(_, a)| a.is_some())
        .last()
        .map(|(t, _)| *t - fault)
        .expect("served again");
    eprintln!(
        "{test}: A off → B serves without errors from {served_again:?} (first answer {first_ok:?}); B's director found the dead server {:?} after the fault",
        checked.map(|c| c - fault)
    );
    let (_, failed, seen) = answers_between(&log, fault + served_again, end);
    assert_eq!(failed, 0);
    assert!(!seen.contains(&format!("real {}", REALS[1])), "{seen:?}");
}

#[test]
fn a_warm_standby_takes_over_with_the_health_it_already_knows() {
    let test = "warm standby";
    if !usable(test) {
        return;
    }
    let mut lab = Alone::new();
    lab.back.stop(REALS[1]);
    // The standby's own instance (systemd on both directors): checks, no rules.
    let out = lab.ld("--warm", "start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = lab.ld("", "status");
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert_eq!(
        status.status.code(),
        Some(3),
        "a warm standby is not the active resource: {text}"
    );
    assert!(text.contains("warm standby"), "{text}");
    assert!(!lab.has_rules(), "a warm standby keeps no rules");
    let known = std::fs::read_to_string(lab.state()).unwrap_or_default();
    assert!(known.contains(&format!("{}:80 down", REALS[1])), "{known}");

    // Takeover: haresources' start activates it; the rules come from what it already knows.
    let t = Instant::now();
    let out = lab.ld("", "start");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{test}: takeover start → rules in place after {took:?} (checktimeout 500 ms)");
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert!(lab.has_rules());
    assert!(lab.ld("", "status").status.success());
    for _ in 0..6 {
        let c = lab.client.name.clone();
        let got =
            common::testbed::probe::in_netns(&c, || http_get_here(VIP, Duration::from_millis(500)))
                .ok()
                .flatten();
        let body = got.map(|(_, b)| b).unwrap_or_default();
        assert!(
            body.starts_with("real ") && !body.contains(REALS[1]),
            "{body:?}"
        );
    }

    // Release: rules gone, checks go on; the warm instance's own stop ends it.
    assert!(lab.ld("", "stop").status.success());
    assert!(!lab.has_rules(), "rules left after the resource stop");
    assert_eq!(lab.ld("", "status").status.code(), Some(3));
    assert!(String::from_utf8_lossy(&lab.ld("", "status").stdout).contains("warm standby"));
    assert!(lab.ld("--warm", "stop").status.success());
    let text = String::from_utf8_lossy(&lab.ld("", "status").stdout).to_string();
    assert!(text.contains("is stopped"), "{text}");
}

/// An IPv6 real server: a thread in the servers' namespace answering `200 real ADDR` to any
/// request, until stopped (then its port refuses).
struct Http6 {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Http6 {
    fn start(ns: &str, addr: std::net::SocketAddr) -> Http6 {
        use std::io::{Read, Write};
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let ns = ns.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let listener = enter_netns(&ns).and_then(|()| std::net::TcpListener::bind(addr));
            let listener = match listener {
                Ok(l) if l.set_nonblocking(true).is_ok() => l,
                other => {
                    let _ = ready_tx.send(Err(format!("{other:?}")));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let limit = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < limit {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let body = format!("real {}\n", addr.ip());
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        let ready = ready_rx.recv_timeout(Duration::from_secs(5));
        assert!(matches!(ready, Ok(Ok(()))), "server {addr}: {ready:?}");
        Http6 {
            stop,
            handle: Some(handle),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Http6 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /` to an IPv6 address from inside `ns`: the body's first line on a 200.
fn get6(ns: &str, addr: std::net::SocketAddr) -> Option<String> {
    common::testbed::probe::in_netns(ns, move || {
        use std::io::{Read, Write};
        let t = Duration::from_millis(500);
        let mut s = std::net::TcpStream::connect_timeout(&addr, t).ok()?;
        s.set_read_timeout(Some(t)).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let body = text.split("\r\n\r\n").nth(1)?.trim().to_string();
        text.starts_with("HTTP/1.0 200").then_some(body)
    })
    .ok()
    .flatten()
}

/// `virtual6=` without IPVS: the nft backend serves an IPv6 service by NAT in its `inet` table,
/// and a stopped IPv6 real server leaves within the bound.
#[test]
fn an_ipv6_virtual_service_is_served_and_follows_its_real_servers() {
    let test = "director IPv6";
    if !usable(test) {
        return;
    }
    let client = Netns::new("l6c");
    let director = Netns::new("l6d");
    let back = Netns::new("l6b");
    veth(&client, "eth0", &director, "eth0");
    veth(&director, "eth1", &back, "eth0");
    client.sh("ip addr add 2001:db8:1::100/64 dev eth0 nodad");
    director.sh(
        "ip addr add 2001:db8:1::1/64 dev eth0 nodad && ip addr add 2001:db8:1::10/64 dev eth0 nodad \
         && ip addr add 2001:db8:2::1/64 dev eth1 nodad && sysctl -qw net.ipv6.conf.all.forwarding=1",
    );
    back.sh(
        "ip addr add 2001:db8:2::11/64 dev eth0 nodad && ip addr add 2001:db8:2::12/64 dev eth0 nodad \
         && ip -6 route add default via 2001:db8:2::1",
    );
    for ns in [&client, &director, &back] {
        let settled = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            ns.sh("ip -6 addr show tentative").trim().is_empty()
        });
        assert!(settled, "{}: addresses still tentative", ns.name);
    }
    let reals: [std::net::SocketAddr; 2] = [
        "[2001:db8:2::11]:80".parse().expect("addr"),
        "[2001:db8:2::12]:80".parse().expect("addr"),
    ];
    let mut servers: Vec<Http6> = reals.iter().map(|a| Http6::start(&back.name, *a)).collect();
    let vip: std::net::SocketAddr = "[2001:db8:1::10]:80".parse().expect("vip");

    let dir = TempDir::new("l6cf");
    let cf_path = dir.path.join("ldirectord.cf");
    let mut cf = format!(
        "checkinterval=1\nchecktimeout=500ms\nfailurecount=2\nquiescent=no\nautoreload=no\nlogfile=\"{}\"\n\nvirtual6=[2001:db8:1::10]:80\n",
        dir.path.join("ld.log").display()
    );
    for r in &reals {
        cf.push_str(&format!("\treal6={r} masq\n"));
    }
    cf.push_str("\tservice=http\n\trequest=\"index.html\"\n\treceive=\"^real \"\n\tscheduler=rr\n");
    std::fs::write(&cf_path, cf).expect("cf");
    let ld = |cmd: &str| {
        run(&director.wrap(&format!(
            "HB_LDIRECTORD_RUN_DIR={d} {bin} {cf} {cmd}",
            d = dir.s(),
            bin = ldirectord_bin().display(),
            cf = cf_path.display()
        )))
    };
    let out = ld("start");
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = director.sh("nft list table inet hbrs_ld_ldirectord");
    assert!(rules.contains("ip6 daddr 2001:db8:1::10"), "{rules}");

    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        seen.insert(get6(&client.name, vip).expect("an answer through the IPv6 VIP"));
    }
    assert_eq!(seen.len(), 2, "round robin over both: {seen:?}");

    let state = dir.path.join("ldirectord.ldirectord.state");
    // The second of two servers is checked half an interval after the first: stopping it
    // 0.7 s after start leaves its next check 0.8 s away, not a whole interval.
    std::thread::sleep(Duration::from_millis(700));
    servers[1].stop(); // returns once its port is closed
    let killed_at = Instant::now();
    let needle = format!("{} down", reals[1]);
    let removed = wait_until(Duration::from_secs(10), Duration::from_millis(5), || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains(&needle))
    });
    let took = killed_at.elapsed();
    assert!(removed, "{needle} never in the state file");
    eprintln!("{test}: IPv6 real server stopped → removed after {took:?}");
    assert!(
        took <= REMOVAL_BOUND + Duration::from_millis(200),
        "{took:?}"
    );
    // The state file tells health at once; the table follows when nft has written it.
    let out_of_rules = wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
        !director
            .sh("nft list table inet hbrs_ld_ldirectord")
            .contains("2001:db8:2::12")
    });
    assert!(out_of_rules, "the dead server stayed in the rules");
    for _ in 0..10 {
        let got = get6(&client.name, vip);
        assert_eq!(
            got.as_deref(),
            Some("real 2001:db8:2::11"),
            "after the removal"
        );
    }

    assert!(ld("stop").status.success());
    assert!(
        !director.sh("nft list tables").contains("hbrs_ld"),
        "rules left after a clean stop"
    );
    servers.clear();
}
