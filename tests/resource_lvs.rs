//! resource.d/LVS: the nft backend for real (client → director → two real servers, round
//! robin, ruleset restored on stop) and the ipvsadm backend through the command lines it runs.
mod common;
use common::netns::*;
use std::time::Duration;

const LVS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d/LVS");
const IPADDR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d/IPaddr");

fn write_rules(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

const WEB_RULES: &str = "# web farm\n\
    -A -t 192.0.2.10:80 -s rr\n\
    -a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 1\n\
    -a -t 192.0.2.10:80 -r 198.51.100.18:80 -m -w 1\n";

#[test]
fn nft_backend_balances_round_robin_and_restores_the_ruleset() {
    if !can_use_netns()
        || !run("command -v nft && command -v curl && command -v python3")
            .status
            .success()
    {
        eprintln!("skipped: needs root, nft, curl and python3");
        return;
    }
    let client = Netns::new("hlc");
    let director = Netns::new("hld");
    let rs1 = Netns::new("hl1");
    let rs2 = Netns::new("hl2");
    veth(&client, "c0", &director, "d0");
    veth(&director, "d1", &rs1, "r0");
    veth(&director, "d2", &rs2, "r0");
    client.sh("ip addr add 192.0.2.2/24 dev c0");
    director.sh("ip addr add 192.0.2.1/24 dev d0");
    director.sh("ip addr add 198.51.100.1/28 dev d1 && ip addr add 198.51.100.17/28 dev d2");
    director.sh("sysctl -qw net.ipv4.ip_forward=1");
    rs1.sh("ip addr add 198.51.100.2/28 dev r0 && ip route add default via 198.51.100.1");
    rs2.sh("ip addr add 198.51.100.18/28 dev r0 && ip route add default via 198.51.100.17");

    let tmp = TempDir::new("hlt");
    let mut servers = Vec::new();
    for (ns, rip, name) in [
        (&rs1, "198.51.100.2", "rs1"),
        (&rs2, "198.51.100.18", "rs2"),
    ] {
        let root = tmp.path.join(name);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("index.html"), format!("served by {name}\n")).unwrap();
        let root = root.display().to_string();
        servers.push(ns.spawn(
            "python3",
            &[
                "-m",
                "http.server",
                "80",
                "--bind",
                rip,
                "--directory",
                &root,
            ],
        ));
        let up = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            director
                .run(&format!("curl -sf --max-time 2 http://{rip}/"))
                .status
                .success()
        });
        assert!(up, "real server {name} never answered");
    }

    // An unrelated table the resource must leave alone.
    director.sh("nft add table inet keepme && nft add chain inet keepme c");
    let before = director.sh("nft list ruleset");
    let rules = write_rules(&tmp, "web.rules", WEB_RULES);

    // The chain as in haresources: IPaddr::192.0.2.10/24/d0 LVS::rules.
    let env = format!("HA_RSCTMP={}", tmp.s());
    assert_eq!(
        code(&director.run(&format!("{env} {IPADDR} 192.0.2.10/24/d0 start"))),
        0
    );
    assert_eq!(code(&director.run(&format!("{LVS} {rules} status"))), 3);
    let out = director.run(&format!("{LVS} {rules} start"));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backend: nft"));
    let status = director.run(&format!("{LVS} {rules} status"));
    assert_eq!(code(&status), 0);
    assert!(String::from_utf8_lossy(&status.stdout).contains("running"));

    let mut seen = Vec::new();
    for _ in 0..6 {
        let body = client.sh("curl -sf --max-time 5 http://192.0.2.10/");
        seen.push(body.trim().to_string());
    }
    assert!(seen.iter().any(|b| b == "served by rs1"), "{seen:?}");
    assert!(seen.iter().any(|b| b == "served by rs2"), "{seen:?}");
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "not round robin: {seen:?}");
    }

    // Start again (a stale copy is replaced, not duplicated), then stop twice.
    assert_eq!(code(&director.run(&format!("{LVS} {rules} start"))), 0);
    let listing = director.sh("nft list ruleset");
    assert_eq!(
        listing
            .matches("ip daddr 192.0.2.10 tcp dport 80 dnat")
            .count(),
        2,
        "{listing}"
    );
    assert_eq!(code(&director.run(&format!("{LVS} {rules} stop"))), 0);
    assert_eq!(code(&director.run(&format!("{LVS} {rules} stop"))), 0);
    assert_eq!(director.sh("nft list ruleset"), before);
    let status = director.run(&format!("{LVS} {rules} status"));
    assert_eq!(code(&status), 3);
    assert!(String::from_utf8_lossy(&status.stdout).contains("stopped"));
    let refused = client.run("curl -sf --max-time 3 http://192.0.2.10/");
    assert!(!refused.status.success(), "VIP still balanced after stop");
    assert_eq!(
        code(&director.run(&format!("{env} {IPADDR} 192.0.2.10/24/d0 stop"))),
        0
    );
    drop(servers);
}

#[test]
fn nft_status_notices_a_changed_rules_file_and_weights_expand() {
    if !can_use_netns() || !run("command -v nft").status.success() {
        eprintln!("skipped: needs root and nft");
        return;
    }
    let ns = Netns::new("hls");
    let tmp = TempDir::new("hls");
    let rules = write_rules(
        &tmp,
        "w.rules",
        "-A -t 192.0.2.10:443 -s wrr\n\
         -a -t 192.0.2.10:443 -r 198.51.100.2:8443 -m -w 2\n\
         -a -t 192.0.2.10:443 -r 198.51.100.3:8443 -m -w 4\n\
         -a -t 192.0.2.10:443 -r 198.51.100.4:8443 -m -w 0\n",
    );
    assert_eq!(code(&ns.run(&format!("{LVS} {rules} start"))), 0);
    let listing = ns.sh("nft list ruleset");
    assert!(
        listing.contains(
            "numgen inc mod 3 map { 0 : 198.51.100.2 . 8443, 1 : 198.51.100.3 . 8443, 2 : 198.51.100.3 . 8443 }"
        ),
        "{listing}"
    );
    assert!(
        !listing.contains("198.51.100.4"),
        "weight 0 gets no connections"
    );
    assert_eq!(code(&ns.run(&format!("{LVS} {rules} status"))), 0);
    std::fs::write(
        &rules,
        "-A -t 192.0.2.10:443 -s wrr\n-a -t 192.0.2.10:443 -r 198.51.100.2:8443 -m -w 1\n",
    )
    .unwrap();
    assert_eq!(code(&ns.run(&format!("{LVS} {rules} status"))), 3);
    assert_eq!(code(&ns.run(&format!("{LVS} {rules} start"))), 0);
    assert_eq!(code(&ns.run(&format!("{LVS} {rules} status"))), 0);
    assert_eq!(code(&ns.run(&format!("{LVS} {rules} stop"))), 0);
    assert_eq!(ns.sh("nft list ruleset").trim(), "");
}

#[test]
fn nft_backend_refuses_what_needs_ipvs() {
    let tmp = TempDir::new("hlr");
    let dr = write_rules(
        &tmp,
        "dr.rules",
        "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 1\n",
    );
    let out = run(&format!("LVS_BACKEND=nft LVS_DRYRUN=1 {LVS} {dr} start"));
    assert_eq!(code(&out), 6);
    assert!(String::from_utf8_lossy(&out.stderr).contains("direct routing (-g)"));
    let bad = write_rules(
        &tmp,
        "bad.rules",
        "-A -t 192.0.2.10:80 -s rr\n-x nonsense\n",
    );
    assert_eq!(code(&run(&format!("LVS_DRYRUN=1 {LVS} {bad} start"))), 2);
    let orphan = write_rules(&tmp, "o.rules", "-a -t 192.0.2.10:80 -r 198.51.100.2 -m\n");
    assert_eq!(code(&run(&format!("LVS_DRYRUN=1 {LVS} {orphan} start"))), 2);
    assert_eq!(code(&run(&format!("{LVS} {bad}"))), 1, "usage");
}

#[test]
fn ipvsadm_backend_runs_exactly_the_rules_lines() {
    let tmp = TempDir::new("hli");
    let rules = write_rules(
        &tmp,
        "ipvs.rules",
        "# comment\n\
         -A -t 192.0.2.10:80 -s rr\n\
         -a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 1   # inline comment\n\
         -a -t 192.0.2.10:80 -r 198.51.100.3:80 -g -w 2\n\
         -A -u 192.0.2.10:53 -s wlc -p 300\n\
         -a -u 192.0.2.10:53 -r 198.51.100.2:53 -m -w 1\n",
    );
    let dry = |action: &str| {
        let out = run(&format!(
            "LVS_BACKEND=ipvsadm LVS_DRYRUN=1 {LVS} {rules} {action}"
        ));
        (
            code(&out),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (rc, start) = dry("start");
    assert_eq!(rc, 0);
    assert_eq!(
        start,
        "ipvsadm -D -t 192.0.2.10:80\n\
         ipvsadm -A -t 192.0.2.10:80 -s rr\n\
         ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 1\n\
         ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.3:80 -g -w 2\n\
         ipvsadm -D -u 192.0.2.10:53\n\
         ipvsadm -A -u 192.0.2.10:53 -s wlc -p 300\n\
         ipvsadm -a -u 192.0.2.10:53 -r 198.51.100.2:53 -m -w 1\n"
    );
    let (rc, stop) = dry("stop");
    assert_eq!(rc, 0);
    assert_eq!(
        stop,
        "ipvsadm -D -t 192.0.2.10:80\nipvsadm -D -u 192.0.2.10:53\n"
    );
    assert_eq!(dry("status"), (3, "ipvsadm -S -n\n".to_string()));
}
