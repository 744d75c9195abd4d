//! The full haresources chain on a running daemon: `nodea IPaddr::VIP/24/d0 LVS::RULES
//! httpd::CONF`. A lone node takes the group after initdead, starting it left to right (the VIP
//! on the interface, an nft DNAT table balancing VIP:8000 over two real servers, Apache on
//! VIP:80), and a SIGTERM stops it right to left, leaving the namespace as it was; the order is
//! read from the daemon's own `Running ...` log lines.
mod common;
use common::daemon::*;
use common::netns::*;
use nix::sys::signal::Signal;
use std::time::Duration;

const MODULES: &str = "/usr/lib/apache2/modules";
const VIP: &str = "192.0.2.10";

/// Every `Running <path> <args> start|stop` line of the daemon's log as (script name, op), in
/// log order (status probes are debug lines, absent from the log file).
fn script_runs(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| l.split_once("info: Running ").map(|(_, cmd)| cmd))
        .filter_map(|cmd| {
            let prog = cmd.split(' ').next()?.rsplit('/').next()?;
            let op = cmd.rsplit(' ').next()?;
            Some((prog.to_string(), op.to_string()))
        })
        .collect()
}

/// The runs as `name op` words, for comparing with a literal list.
fn words(runs: &[(String, String)]) -> Vec<String> {
    runs.iter().map(|(n, o)| format!("{n} {o}")).collect()
}

fn apache_config(tmp: &TempDir) -> String {
    let root = tmp.s();
    std::fs::create_dir_all(tmp.path.join("htdocs")).unwrap();
    std::fs::write(tmp.path.join("htdocs/index.html"), "chain on daemon\n").unwrap();
    sh(&format!(
        "chmod 755 {root} {root}/htdocs && chmod 644 {root}/htdocs/index.html"
    ));
    let conf = format!(
        "ServerRoot {root}\nPidFile {root}/httpd.pid\nDefaultRuntimeDir {root}\n\
         ErrorLog {root}/error.log\nListen {VIP}:80\nServerName vip.test\n\
         LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n\
         LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
         LoadModule dir_module {MODULES}/mod_dir.so\n\
         User www-data\nGroup www-data\nDocumentRoot {root}/htdocs\nDirectoryIndex index.html\n\
         <Directory {root}/htdocs>\n  Require all granted\n</Directory>\n"
    );
    let path = tmp.path.join("httpd.conf");
    std::fs::write(&path, conf).unwrap();
    path.display().to_string()
}

fn pid_alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => !s
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => false,
    }
}

#[test]
fn daemon_starts_the_chain_left_to_right_and_stops_it_right_to_left() {
    if !can_use_netns()
        || !run("command -v nft && command -v apache2ctl && command -v curl && command -v python3")
            .status
            .success()
        || !std::path::Path::new(MODULES)
            .join("mod_mpm_event.so")
            .exists()
    {
        eprintln!("skipped: needs root, nft, Debian apache2, curl and python3");
        return;
    }
    // Files first, so they outlive every process (drop runs in reverse order).
    let tmp = TempDir::new("hdt");
    let conf = apache_config(&tmp);
    let rules = tmp.path.join("web.rules");
    std::fs::write(
        &rules,
        format!(
            "# web farm behind the VIP\n-A -t {VIP}:8000 -s rr\n\
             -a -t {VIP}:8000 -r 203.0.113.2:80 -m -w 1\n\
             -a -t {VIP}:8000 -r 203.0.113.18:80 -m -w 1\n"
        ),
    )
    .unwrap();
    let rules = rules.display().to_string();
    let rsctmp = tmp.path.join("rsctmp");
    std::fs::create_dir_all(&rsctmp).unwrap();
    let rsctmp = rsctmp.display().to_string();

    let client = Netns::new("hdcc");
    let rs1 = Netns::new("hdc1");
    let rs2 = Netns::new("hdc2");
    let settings = Settings {
        haresources: format!("nodea IPaddr::{VIP}/24/d0 LVS::{rules} httpd::{conf}\n"),
        copy_scripts: vec!["IPaddr", "LVS", "httpd"],
        ..Settings::default()
    };
    // nodeb's daemon never starts: nodea is alone and takes the group after initdead.
    let mut pair = Pair::new("hdc", &settings);
    let node = &pair.a.ns;
    veth(&client, "c0", node, "d0");
    veth(node, "d1", &rs1, "r0");
    veth(node, "d2", &rs2, "r0");
    client.sh("ip addr add 192.0.2.2/24 dev c0");
    node.sh("ip addr add 192.0.2.1/24 dev d0");
    node.sh("ip addr add 203.0.113.1/28 dev d1 && ip addr add 203.0.113.17/28 dev d2");
    node.sh("sysctl -qw net.ipv4.ip_forward=1");
    rs1.sh("ip addr add 203.0.113.2/28 dev r0 && ip route add default via 203.0.113.1");
    rs2.sh("ip addr add 203.0.113.18/28 dev r0 && ip route add default via 203.0.113.17");

    let mut servers = Vec::new();
    for (ns, rip, name) in [(&rs1, "203.0.113.2", "rs1"), (&rs2, "203.0.113.18", "rs2")] {
        let dir = tmp.path.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), format!("served by {name}\n")).unwrap();
        let dir = dir.display().to_string();
        servers.push(ns.spawn(
            "python3",
            &[
                "-m",
                "http.server",
                "80",
                "--bind",
                rip,
                "--directory",
                &dir,
            ],
        ));
        let up = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            node.run(&format!("curl -sf --max-time 2 http://{rip}/"))
                .status
                .success()
        });
        assert!(up, "real server {name} never answered");
    }

    // An unrelated table the chain must leave alone; the ruleset is compared after the stop.
    node.sh("nft add table inet keepme && nft add chain inet keepme c");
    let ruleset_before = node.sh("nft list ruleset");
    assert!(!node_has_vip(node));

    pair.a
        .start_with_env(&[("HA_RSCTMP", &rsctmp), ("LVS_BACKEND", "nft")]);
    let get = |url: &str| {
        client
            .sh(&format!(
                "curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 {url} || true"
            ))
            .trim()
            .to_string()
    };
    let started = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        get(&format!("http://{VIP}/")) == "200"
    });
    assert!(started, "Apache never answered on the VIP\n{}", pair.logs());
    let node = &pair.a.ns;

    // Running: VIP on d0, the LVS table present and balancing, Apache answering on the VIP.
    assert!(node_has_vip(node), "{}", pair.logs());
    let listing = node.sh("nft list ruleset");
    assert!(listing.contains("table ip hbrs_lvs_"), "{listing}");
    assert!(
        listing.contains(&format!("ip daddr {VIP} tcp dport 8000 dnat")),
        "{listing}"
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            client
                .sh(&format!("curl -sf --max-time 5 http://{VIP}:8000/"))
                .trim()
                .to_string(),
        );
    }
    assert!(seen.iter().any(|b| b == "served by rs1"), "{seen:?}");
    assert!(seen.iter().any(|b| b == "served by rs2"), "{seen:?}");
    assert_eq!(
        client.sh(&format!("curl -s --max-time 3 http://{VIP}/")),
        "chain on daemon\n"
    );
    let apache_pid = std::fs::read_to_string(tmp.path.join("httpd.pid"))
        .unwrap()
        .trim()
        .to_string();
    assert!(pid_alive(&apache_pid));
    // The daemon first clears the group (stops, right to left) as the original does at
    // start-up, then takes it over after initdead: starts, left to right, nothing else.
    let log = pair.a.dirs.log_text();
    let runs = script_runs(&log);
    let first_start = runs.iter().position(|(_, o)| o == "start").unwrap();
    assert!(
        runs[..first_start].iter().all(|(_, o)| o == "stop"),
        "{log}"
    );
    assert_eq!(
        words(&runs[first_start..]),
        ["IPaddr start", "LVS start", "httpd start"],
        "{log}"
    );
    assert!(
        log.contains(&format!("resource.d/IPaddr {VIP}/24/d0 start")),
        "{log}"
    );

    // Graceful stop: right to left, then exit 0.
    pair.a.signal(Signal::SIGTERM);
    let code = pair.a.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", pair.logs());
    let log = pair.a.dirs.log_text();
    let runs = script_runs(&log);
    assert_eq!(
        words(&runs[first_start..]),
        [
            "IPaddr start",
            "LVS start",
            "httpd start",
            "httpd stop",
            "LVS stop",
            "IPaddr stop"
        ],
        "{log}"
    );
    let node = &pair.a.ns;
    assert!(!node_has_vip(node), "VIP left behind\n{log}");
    assert_eq!(node.sh("nft list ruleset"), ruleset_before);
    assert!(!pid_alive(&apache_pid), "Apache pid {apache_pid} survived");
    let unbound = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        !node.sh("ss -ltn").contains(&format!("{VIP}:80"))
    });
    assert!(unbound, "something still listens on the VIP");
    assert!(
        !client
            .run(&format!("curl -sf --max-time 3 http://{VIP}:8000/"))
            .status
            .success(),
        "VIP still balanced after stop"
    );
    drop(servers);
}

fn node_has_vip(ns: &Netns) -> bool {
    ns.sh("ip -o -4 addr show dev d0")
        .contains(&format!("{VIP}/24"))
}
