//! Fencing with real daemons (issue 21): the heartbeat link between two namespaces is cut with
//! both nodes alive. Each wants to take over; a fence device "powers off" its target (kills its
//! daemon and service and takes its link down, as a power switch would). With `fence_delay nodea`,
//! nodea shoots first: exactly one node runs the service, and the other never starts it. The
//! device is a fence agent (options on stdin) in one test and a cluster-glue `external/`
//! plugin run through `stonith(8)` in the other; a failing device blocks the takeover.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::*;
use common::netns::{TempDir, can_use_netns, wait_until};

fn executable(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The shell that "powers off" `$node` as a power switch would: its daemon killed, its
/// service gone (the flag file), its heartbeat link down, and a line in `fenced.log`.
/// `nodes.env` maps node names to namespaces, pid files and flag files.
fn power_off_body(dir: &Path) -> String {
    format!(
        ". {dir}/nodes.env\n\
         eval ns=\\$NS_$node pidfile=\\$PID_$node flag=\\$FLAG_$node\n\
         [ -n \"$ns\" ] || exit 1\n\
         kill -KILL \"$(cat \"$pidfile\")\" || exit 1\n\
         rm -f \"$flag\"\n\
         ip netns exec \"$ns\" ip link set hb0 down\n\
         ip -n \"$ns\" addr flush dev pub0 2>/dev/null; ip -n \"$ns\" link set pub0 down 2>/dev/null\n\
         echo \"$node by $HA_CURHOST\" >> {dir}/fenced.log\n",
        dir = dir.display()
    )
}

fn write_nodes_env(dir: &Path, pair: &Pair) {
    let mut env = String::new();
    for n in [&pair.a, &pair.b] {
        env.push_str(&format!(
            "NS_{name}={ns}\nPID_{name}={pid}\nFLAG_{name}={flag}\n",
            name = n.dirs.name,
            ns = n.ns.name,
            pid = n.dirs.run_dir().join("heartbeat.pid").display(),
            flag = n.dirs.flag().display()
        ));
    }
    std::fs::write(dir.join("nodes.env"), env).unwrap();
}

/// Cuts the heartbeat link (both alive), then checks for `secs` that the service never runs
/// on both nodes; returns the fenced log.
fn cut_and_watch(pair: &mut Pair, dir: &Path, secs: u64) -> String {
    pair.cut();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        let both = pair.a.dirs.holds_resource() && pair.b.dirs.holds_resource();
        assert!(!both, "the service runs on both nodes\n{}", pair.logs());
        let vip_twice = has_vip(&pair.a) && has_vip(&pair.b);
        assert!(!vip_twice, "the VIP is on both nodes\n{}", pair.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(dir.join("fenced.log")).unwrap_or_default()
}

/// The service address on the public link (`pub0`), besides the heartbeat link `hb0`.
const VIP: &str = "203.0.113.10";

/// A second veth pair `pub0` between the nodes: the public network that carries the VIP.
fn add_public_link(pair: &Pair) {
    common::netns::veth(&pair.a.ns, "pub0", &pair.b.ns, "pub0");
    pair.a.ns.sh("ip addr add 203.0.113.1/24 dev pub0");
    pair.b.ns.sh("ip addr add 203.0.113.2/24 dev pub0");
}

fn has_vip(node: &Node) -> bool {
    String::from_utf8_lossy(&node.ns.run("ip -o addr show dev pub0").stdout)
        .contains(&format!("{VIP}/"))
}

fn start_pair(tag: &str, fence_lines: &str, dir: &Path) -> Pair {
    let settings = Settings {
        extra: format!("{fence_lines}fence_delay nodea 3\nfence_timeout 10\n"),
        // The service prefers nodeb here, so that nodeb holds it and nodea (the one that
        // shoots first) must fence before it may take it.
        haresources: format!("nodeb IPaddr2::{VIP}/24/pub0 testrsc\n"),
        ..Settings::default()
    };
    let mut pair = Pair::new(tag, &settings);
    add_public_link(&pair);
    write_nodes_env(dir, &pair);
    pair.start_until_served_by("nodeb");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            has_vip(&pair.b)
        }),
        "{}",
        pair.logs()
    );
    pair
}

fn thaw(pair: &Pair) {
    // Let the frozen daemon go, so that the pair's teardown can stop it.
    for n in [&pair.a, &pair.b] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(n.pid()),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
}

#[test]
fn a_fence_agent_leaves_exactly_one_holder_after_a_link_cut() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    let tools = TempDir::new("hbfa");
    let dir = tools.path.clone();
    let agent = dir.join("fence_test");
    // An RHCS-style agent: options on stdin, `plug` names the target.
    executable(
        &agent,
        &format!(
            "#!/bin/sh\nnode=\nmon=\nwhile IFS='=' read -r k v; do [ \"$k\" = plug ] && node=$v; \
             [ \"$k\" = action ] && [ \"$v\" = monitor ] && mon=1; \
             [ \"$k\" = secret ] && [ \"$v\" != s3 ] && exit 1; done\n[ -n \"$mon\" ] && exit 0\n{}",
            power_off_body(&dir)
        ),
    );
    let mut pair = start_pair(
        "hbfa",
        &format!("fence_agent {} secret=s3\n", agent.display()),
        &dir,
    );
    let fenced = cut_and_watch(&mut pair, &dir, 15);
    let logs = pair.logs();
    thaw(&pair);
    assert_eq!(fenced.trim(), "nodeb by nodea", "{logs}");
    assert!(pair.a.dirs.holds_resource(), "nodea took over:\n{logs}");
    assert!(has_vip(&pair.a), "nodea holds the VIP:\n{logs}");
    let a_log = pair.a.dirs.log_text();
    assert!(a_log.contains("Resetting node nodeb with"), "{a_log}");
    assert!(a_log.contains("node nodeb now reset."), "{a_log}");
    assert!(!a_log.contains("No STONITH device configured."));
}

#[test]
fn a_failing_fence_blocks_the_takeover() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    let tools = TempDir::new("hbff");
    let dir = tools.path.clone();
    let agent = dir.join("fence_broken");
    executable(
        &agent,
        &format!(
            "#!/bin/sh\nwhile read -r l; do case $l in action=*) act=${{l#action=}};; esac; done\n\
             echo \"$act tried by $HA_CURHOST\" >> {}/tries.log\nexit 1\n",
            dir.display()
        ),
    );
    // The device is checked every 2 s too: a broken one is reported before any failover.
    let settings = Settings {
        extra: format!("fence_agent {}\nfence_check 2\n", agent.display()),
        ..Settings::default()
    };
    let mut pair = Pair::new("hbff", &settings);
    pair.start_until_served_by("nodea");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            pair.b
                .dirs
                .log_text()
                .contains("is not working (status check failed)")
        }),
        "the broken device was not reported\n{}",
        pair.logs()
    );
    // nodea's machine dies without a word: daemon and crash guard killed at once, its service
    // flag left behind (nobody knows whether the disk is still written to). nodeb must not
    // take over unfenced.
    let guard_pid: i32 = pair
        .a
        .dirs
        .log_text()
        .split("crash guard started [pid ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .and_then(|p| p.parse().ok())
        .expect("crash guard pid in the log");
    for pid in [guard_pid, pair.a.pid()] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let tries = dir.join("tries.log");
    assert!(
        wait_until(Duration::from_secs(25), Duration::from_millis(200), || {
            std::fs::read_to_string(&tries)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("reboot"))
                .count()
                >= 2
        }),
        "no retries:\n{}",
        pair.logs()
    );
    let b_log = pair.b.dirs.log_text();
    assert!(
        !pair.b.dirs.holds_resource(),
        "took over unfenced:\n{b_log}"
    );
    assert!(
        b_log.contains("STONITH of nodea failed.  Retrying"),
        "{b_log}"
    );
}

/// Installs an `external/` plugin for cluster-glue's `stonith(8)` under a unique name and
/// removes it on drop.
struct Plugin(PathBuf);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_cluster_glue_external_plugin_through_stonith() {
    let plugins = Path::new("/usr/lib/stonith/plugins/external");
    if !can_use_netns() || !Path::new("/usr/sbin/stonith").exists() || !plugins.is_dir() {
        eprintln!("skipped: needs root, iproute2 and cluster-glue");
        return;
    }
    let tools = TempDir::new("hbsg");
    let dir = tools.path.clone();
    let name = format!("hbrs-test-{}", std::process::id());
    let plugin = Plugin(plugins.join(&name));
    // The external plugin protocol: the action in $1, the parameters in the environment.
    executable(
        &plugin.0,
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             gethosts) echo $hostlist ;;\n\
             reset|off) node=$2\n{}\n ;;\n\
             on) exit 1 ;;\n\
             status) exit 0 ;;\n\
             getconfignames) echo hostlist ;;\n\
             getinfo-devid|getinfo-devname) echo hbrs-test ;;\n\
             getinfo-devdescr|getinfo-devurl) echo test device ;;\n\
             getinfo-xml) echo '<parameters><parameter name=\"hostlist\" unique=\"1\" required=\"1\"><content type=\"string\"/><shortdesc lang=\"en\">hosts</shortdesc></parameter></parameters>' ;;\n\
             *) exit 1 ;;\n\
             esac\nexit 0\n",
            power_off_body(&dir)
        ),
    );
    let mut pair = start_pair(
        "hbsg",
        &format!("stonith_host * external/{name} nodea nodeb\n"),
        &dir,
    );
    let fenced = cut_and_watch(&mut pair, &dir, 15);
    let logs = pair.logs();
    thaw(&pair);
    assert_eq!(fenced.trim(), "nodeb by nodea", "{logs}");
    assert!(pair.a.dirs.holds_resource(), "{logs}");
    assert!(pair.a.dirs.log_text().contains("node nodeb now reset."));
}

#[test]
fn check_names_the_fence_device_or_warns_of_split_brain() {
    let tmp = TempDir::new("hbfc");
    let write = |extra: &str| {
        let d = tmp.path.join(format!("ha{}", extra.len()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("ha.cf"),
            format!("bcast lo\nnode nodea\nnode nodeb\n{extra}"),
        )
        .unwrap();
        std::fs::write(d.join("authkeys"), "auth 1\n1 sha1 k\n").unwrap();
        std::fs::set_permissions(d.join("authkeys"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::write(d.join("haresources"), "nodea 192.0.2.10\n").unwrap();
        let out = std::process::Command::new(HEARTBEAT)
            .args(["--check", "--node", "nodea", "--ha-dir"])
            .arg(&d)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let none = write("");
    assert!(none.contains("WARNING: split brain"), "{none}");
    let two = write("ucast lo 192.0.2.2\n");
    assert!(two.contains("fencing: none (two or more media"), "{two}");
    let fenced = write("fence_agent /usr/sbin/fence_virsh ip=192.0.2.1\nfence_delay nodeb 4\n");
    assert!(
        fenced.contains("fencing: /usr/sbin/fence_virsh before taking over from nodeb (timeout 60 s, waits 4 s first)"),
        "{fenced}"
    );
}

#[test]
fn with_two_media_a_cut_link_is_a_warning_not_a_failover() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    // Heartbeats on the dedicated link and on the public network; no fencing needed.
    let settings = Settings {
        extra: "ucast pub0 203.0.113.0\n".to_string(),
        ..Settings::default()
    };
    let mut pair = Pair::new("hbtm", &settings);
    add_public_link(&pair);
    for (n, peer) in [(&pair.a, "203.0.113.2"), (&pair.b, "203.0.113.1")] {
        let hacf = n.dirs.ha_dir().join("ha.cf");
        let text = std::fs::read_to_string(&hacf)
            .unwrap()
            .replace("ucast pub0 203.0.113.0", &format!("ucast pub0 {peer}"));
        std::fs::write(&hacf, text).unwrap();
    }
    pair.start_until_served_by("nodea");
    pair.cut();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        assert!(
            !pair.b.dirs.holds_resource(),
            "failover on one cut link:\n{}",
            pair.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pair.b.dirs.status_of("nodea"), "active");
    let b_log = pair.b.dirs.log_text();
    assert!(b_log.contains("Link nodea:hb0 dead."), "{b_log}");
    assert!(
        b_log.contains("WARN: Heartbeat link hb0 to nodea lost; nodea is still heard"),
        "{b_log}"
    );
    assert!(!b_log.contains("node nodea: is dead"), "{b_log}");
}
