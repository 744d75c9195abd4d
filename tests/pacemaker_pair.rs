//! The way out, for real (issue 20): a Corosync 3 + Pacemaker 2.1 pair built from
//! `heartbeat --export corosync` and `heartbeat --export cib` of a heartbeat-rs configuration,
//! each node in its own network namespace and `unshare --mount --uts --pid --fork` (private
//! /dev/shm, /run, /etc/corosync, /var/lib/corosync, /var/lib/pacemaker, logs). Node A runs the
//! VIP; A is powered off (every process killed); B takes the VIP. Skips cleanly without root or
//! without the corosync / pacemaker packages.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{Netns, TempDir, can_use_netns, run, veth, wait_until};

const HEARTBEAT: &str = env!("CARGO_BIN_EXE_heartbeat");
const VIP: &str = "192.0.2.10";

struct Node {
    name: &'static str,
    ns: Netns,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn boot(&mut self) {
        let d = self.dir.display();
        let script = format!(
            "set -e\nhostname {name}\n\
             mount -t tmpfs tmpfs /dev/shm\nmount -t tmpfs tmpfs /run\n\
             mount --bind {d}/etc-corosync /etc/corosync\n\
             mount --bind {d}/lib-corosync /var/lib/corosync\n\
             mount --bind {d}/lib-pacemaker /var/lib/pacemaker\n\
             mkdir -p /var/log/pacemaker /var/log/corosync\n\
             mount --bind {d}/log /var/log/pacemaker\nmount --bind {d}/log /var/log/corosync\n\
             corosync -f > {d}/corosync.out 2>&1 &\n\
             sleep 1\nexec pacemakerd > {d}/pacemakerd.out 2>&1\n",
            name = self.name
        );
        std::fs::write(self.dir.join("boot.sh"), script).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns.name])
            .args([
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--mount-proc",
            ])
            .args(["--propagation", "private", "sh"])
            .arg(self.dir.join("boot.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare");
        self.child = Some(child);
    }

    /// A command inside the node's namespaces (those of its corosync).
    fn exec(&self, cmd: &str) -> (bool, String) {
        let pid = run(&format!(
            "for p in $(ip netns pids {}); do [ \"$(cat /proc/$p/comm)\" = corosync ] && echo $p && break; done",
            self.ns.name
        ));
        let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
        if pid.is_empty() {
            return (false, "no corosync".into());
        }
        let out = Command::new("nsenter")
            .args(["-t", &pid, "-m", "-u", "-p", "-n", "sh", "-c", cmd])
            .output()
            .expect("nsenter");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn has_vip(&self) -> bool {
        let out = run(&format!("ip -n {} -4 addr show dev eth0", self.ns.name));
        String::from_utf8_lossy(&out.stdout).contains(&format!("{VIP}/"))
    }

    fn power_off(&mut self) {
        let _ = run(&format!(
            "for p in $(ip netns pids {}); do kill -9 $p; done",
            self.ns.name
        ));
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["corosync.out", "pacemakerd.out", "log/pacemaker.log"] {
            let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(25).collect();
            s.push_str(&format!("--- {} {f}\n", self.name));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.power_off();
    }
}

fn tools_missing() -> Option<&'static str> {
    for t in [
        "corosync",
        "pacemakerd",
        "cibadmin",
        "crm_mon",
        "corosync-keygen",
        "nsenter",
    ] {
        if !run(&format!("command -v {t}")).status.success() {
            return Some(t);
        }
    }
    if !Path::new("/usr/lib/ocf/resource.d/heartbeat/IPaddr2").exists() {
        return Some("resource-agents");
    }
    None
}

fn chown_hacluster(p: &Path) {
    let _ = run(&format!("chown -R hacluster:haclient {}", p.display()));
}

#[test]
fn an_exported_configuration_runs_on_corosync_and_pacemaker_and_fails_over() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    if let Some(t) = tools_missing() {
        eprintln!("skipped: {t} not installed (Debian corosync, pacemaker, resource-agents)");
        return;
    }
    let tmp = TempDir::new("hbpcmk");
    let public = Netns::new("pcpub");
    public.sh("ip link add br0 type bridge && ip link set br0 up");
    let mut nodes: Vec<Node> = Vec::new();
    for (i, name) in ["nodea", "nodeb"].into_iter().enumerate() {
        let ns = Netns::new(&format!("pc{}", &name[4..]));
        veth(&ns, "eth0", &public, &format!("p{i}"));
        public.sh(&format!("ip link set p{i} master br0"));
        ns.sh(&format!("ip addr add 192.0.2.{}/24 dev eth0", i + 1));
        let dir = tmp.path.join(name);
        for sub in [
            "etc-corosync",
            "lib-corosync",
            "lib-pacemaker/cib",
            "lib-pacemaker/pengine",
            "lib-pacemaker/blackbox",
            "lib-pacemaker/cores",
            "log",
            "ha.d",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        nodes.push(Node {
            name,
            ns,
            dir,
            child: None,
        });
    }
    veth(&nodes[0].ns, "hb0", &nodes[1].ns, "hb0");
    for (i, n) in nodes.iter().enumerate() {
        n.ns.sh(&format!("ip addr add 198.51.100.{}/24 dev hb0", i + 1));
    }
    // The heartbeat-rs configuration of node A, exported inside A's namespace (its hb0
    // address is its corosync address).
    let ha = nodes[0].dir.join("ha.d");
    std::fs::write(
        ha.join("ha.cf"),
        "keepalive 1\ndeadtime 5\nucast hb0 198.51.100.2\nnode nodea\nnode nodeb\nauto_failback on\n",
    )
    .unwrap();
    std::fs::write(ha.join("authkeys"), "auth 1\n1 sha1 secret\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ha.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        ha.join("haresources"),
        format!("nodea IPaddr2::{VIP}/24/eth0\n"),
    )
    .unwrap();
    let export = |fmt: &str| {
        let out = nodes[0].ns.run(&format!(
            "{HEARTBEAT} --export {fmt} --node nodea --ha-dir {}",
            ha.display()
        ));
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let corosync_conf = export("corosync");
    assert!(
        corosync_conf.contains("ring0_addr: 198.51.100.1"),
        "{corosync_conf}"
    );
    assert!(
        corosync_conf.contains("ring0_addr: 198.51.100.2"),
        "{corosync_conf}"
    );
    let cib = export("cib");
    let cib_file = tmp.path.join("cib.xml");
    std::fs::write(&cib_file, &cib).unwrap();
    let key = tmp.path.join("authkey");
    assert!(
        run(&format!("corosync-keygen -l -k {}", key.display()))
            .status
            .success()
            || run(&format!("corosync-keygen -k {}", key.display()))
                .status
                .success()
    );
    for n in &mut nodes {
        std::fs::write(n.dir.join("etc-corosync/corosync.conf"), &corosync_conf).unwrap();
        std::fs::copy(&key, n.dir.join("etc-corosync/authkey")).unwrap();
        std::fs::set_permissions(
            n.dir.join("etc-corosync/authkey"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        chown_hacluster(&n.dir.join("lib-pacemaker"));
        chown_hacluster(&n.dir.join("log"));
        n.boot();
    }
    let t0 = Instant::now();
    let both_online = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
        let (ok, out) = nodes[0].exec("crm_mon -1 -r 2>&1");
        ok && out.contains("Online: [ nodea nodeb ]")
    });
    assert!(
        both_online,
        "cluster did not form: {}\n{}{}",
        nodes[0].exec("crm_mon -1 2>&1").1,
        nodes[0].logs(),
        nodes[1].logs()
    );
    eprintln!("corosync + pacemaker pair online after {:?}", t0.elapsed());
    let (ok, said) = nodes[0].exec(&format!(
        "cibadmin --replace --xml-file {}",
        cib_file.display()
    ));
    assert!(ok, "{said}");
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            nodes[0].has_vip()
        }),
        "VIP not on A: {}\n{}",
        nodes[0].exec("crm_mon -1 -r 2>&1").1,
        nodes[0].logs()
    );
    assert!(!nodes[1].has_vip());
    // Power off A: B takes the VIP.
    nodes[0].power_off();
    let t1 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(90), Duration::from_millis(200), || {
            nodes[1].has_vip()
        }),
        "VIP not on B: {}\n{}",
        nodes[1].exec("crm_mon -1 -r 2>&1").1,
        nodes[1].logs()
    );
    eprintln!("VIP on B {:?} after A was powered off", t1.elapsed());
}
