//! The Debian package (pkg/build-deb.sh): its control fields, its files, a crash failover run
//! by the files it installs (`dpkg -x`), and a real `dpkg -i` on two nodes, each in an overlay
//! of this machine's root, started and stopped by the init script, with `man ha.cf`. The
//! machine's own packages are never touched: Debian's `heartbeat`, which the package replaces,
//! serves the interoperability tests.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::netns::{TempDir, can_use_netns};
use common::testbed::{BedOptions, Kind, Testbed};

fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the package from the test build's binaries; its path.
fn build(out: &Path) -> PathBuf {
    let o = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/pkg/build-deb.sh"))
        .arg(out)
        .env("NO_BUILD", "1")
        .env("DEB_COMPRESS", "gzip")
        .env("BIN", bin_dir())
        .output()
        .expect("run build-deb.sh");
    assert!(
        o.status.success(),
        "build-deb.sh: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

fn sh(cmd: &str) -> (bool, String) {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn the_package_replaces_heartbeat_and_ships_every_file() {
    if !have("dpkg-deb") {
        eprintln!("skipped: needs dpkg-deb");
        return;
    }
    let tmp = TempDir::new("hbdeb");
    let deb = build(&tmp.path);
    let (ok, fields) = sh(&format!(
        "dpkg-deb -f {} Package Conflicts Replaces Provides Depends",
        deb.display()
    ));
    assert!(ok, "{fields}");
    for want in [
        "Package: heartbeat-rs",
        "Conflicts: heartbeat",
        "Replaces: heartbeat",
        "Provides: heartbeat",
    ] {
        assert!(fields.contains(want), "{want} missing:\n{fields}");
    }
    let (ok, files) = sh(&format!("dpkg-deb -c {}", deb.display()));
    assert!(ok, "{files}");
    for want in [
        "./usr/sbin/heartbeat",
        "./usr/bin/cl_status",
        "./usr/bin/hb_standby",
        "./usr/bin/hb_takeover",
        "./usr/lib/heartbeat-rs/resource.d/IPaddr",
        "./usr/lib/heartbeat-rs/resource.d/LVS",
        "./usr/sbin/hb_ldirectord",
        "./usr/lib/heartbeat-rs/resource.d/ldirectord",
        "./lib/systemd/system/hb_ldirectord.service",
        "./etc/init.d/heartbeat",
        "./etc/default/heartbeat",
        "./etc/logrotate.d/heartbeat",
        "./lib/systemd/system/heartbeat.service",
        "./usr/share/man/man8/heartbeat.8.gz",
        "./usr/share/man/man5/ha.cf.5.gz",
        "./usr/share/man/man5/haresources.5.gz",
        "./usr/share/man/man5/authkeys.5.gz",
        "./usr/share/man/man1/hb_standby.1.gz",
        "./usr/share/man/man1/cl_status.1.gz",
        "./usr/share/bash-completion/completions/heartbeat",
        "./usr/share/doc/heartbeat-rs/examples/ha.cf",
    ] {
        assert!(files.contains(want), "{want} not in the package:\n{files}");
    }
    // The administrator's configuration is never a file of the package.
    assert!(!files.contains("./etc/ha.d/ha.cf"), "{files}");
    let (ok, conffiles) = sh(&format!(
        "dpkg-deb --ctrl-tarfile {} | tar -xO ./conffiles",
        deb.display()
    ));
    assert!(
        ok && conffiles.contains("/etc/init.d/heartbeat"),
        "{conffiles}"
    );
    // The man pages render.
    let root = tmp.path.join("root");
    let (ok, out) = sh(&format!("dpkg -x {} {}", deb.display(), root.display()));
    assert!(ok, "{out}");
    if have("man") {
        let (ok, page) = sh(&format!(
            "MANWIDTH=80 man -l {}/usr/share/man/man5/ha.cf.5.gz",
            root.display()
        ));
        assert!(ok && page.contains("native_addresses"), "{page}");
    }
}

#[test]
fn the_installed_files_fail_over() {
    if !have("dpkg-deb") || !can_use_netns() {
        eprintln!("skipped: needs dpkg-deb, root and network namespaces");
        return;
    }
    let tmp = TempDir::new("hbdebfo");
    let deb = build(&tmp.path);
    let root = tmp.path.join("root");
    let (ok, out) = sh(&format!("dpkg -x {} {}", deb.display(), root.display()));
    assert!(ok, "{out}");
    // The test bed wants the four programs side by side.
    let bin = tmp.path.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (dir, tool) in [
        ("usr/sbin", "heartbeat"),
        ("usr/bin", "cl_status"),
        ("usr/bin", "hb_standby"),
        ("usr/bin", "hb_takeover"),
    ] {
        std::os::unix::fs::symlink(root.join(dir).join(tool), bin.join(tool)).unwrap();
    }
    let mut opts = BedOptions::new(Kind::Ours, &bin);
    opts.resource_dir = root.join("usr/lib/heartbeat-rs/resource.d");
    let mut bed = Testbed::new(opts).expect("test bed");
    bed.start_both().expect("start");
    assert!(
        bed.wait_owner(0, Duration::from_secs(40)),
        "{}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
    assert!(bed.wait_peers_active(Duration::from_secs(20)));
    bed.nodes[0].kill9_main();
    assert!(
        bed.wait_owner(1, Duration::from_secs(20)),
        "B does not serve after A's crash: {}\n{}",
        bed.describe(),
        bed.logs_tail(30)
    );
}

/// One node installed with `dpkg -i` in its own root: an overlay of this machine's `/` (so the
/// machine's packages stay as they are), a private mount and UTS namespace, inside a network
/// namespace. A `sleep` holds the namespaces; commands enter them with `nsenter`.
struct InstalledNode {
    name: String,
    ns: common::netns::Netns,
    root: PathBuf,
    holder: common::netns::ChildGuard,
    marker: PathBuf,
}

impl InstalledNode {
    fn new(name: &str, ns: common::netns::Netns, deb: &Path, cfg: &Path, work: &Path) -> Self {
        let base = work.join(format!("{name}-root"));
        std::fs::create_dir_all(&base).unwrap();
        let marker = work.join(format!("{name}.out"));
        let root = base.join("merged");
        let script = format!(
            "exec >{marker} 2>&1; set -e\n\
             mount -t tmpfs tmpfs {base}\n\
             mkdir {base}/upper {base}/work {root}\n\
             mount -t overlay overlay -o lowerdir=/,upperdir={base}/upper,workdir={base}/work {root}\n\
             mount -t proc proc {root}/proc\n\
             mount --rbind /dev {root}/dev\n\
             mount --rbind /sys {root}/sys\n\
             mount -t tmpfs tmpfs {root}/run\n\
             hostname {name}\n\
             chroot {root} sh -c 'dpkg -i {deb} && install -d /etc/ha.d && cp {cfg}/* /etc/ha.d/ && \
             chmod 600 /etc/ha.d/authkeys && /etc/init.d/heartbeat start'\n\
             echo INSTALLED-AND-STARTED\n\
             exec sleep 600\n",
            marker = marker.display(),
            base = base.display(),
            root = root.display(),
            deb = deb.display(),
            cfg = cfg.display(),
        );
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "unshare",
                "-m",
                "-u",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", &script])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn installer");
        InstalledNode {
            name: name.to_string(),
            ns,
            root,
            holder: common::netns::ChildGuard { child: Some(child) },
            marker,
        }
    }

    /// Runs `cmd` inside the node's root and namespaces: (success, output).
    fn inside(&self, cmd: &str) -> (bool, String) {
        sh(&format!(
            "nsenter -t {} -m -u -n chroot {} sh -c '{}' 2>&1",
            self.holder.pid(),
            self.root.display(),
            cmd.replace('\'', "'\\''")
        ))
    }

    fn installer_output(&self) -> String {
        std::fs::read_to_string(&self.marker).unwrap_or_default()
    }

    fn has_vip(&self) -> bool {
        self.ns
            .sh("ip -o addr show dev hb0")
            .contains("198.51.100.10/")
    }

    fn describe(&self) -> String {
        format!(
            "--- {} installer ---\n{}\n--- {} log ---\n{}",
            self.name,
            self.installer_output(),
            self.name,
            self.inside("tail -n 40 /var/log/ha-log").1
        )
    }
}

#[test]
fn installed_with_dpkg_started_by_the_init_script_fails_over() {
    if !have("dpkg-deb") || !have("nsenter") || !can_use_netns() {
        eprintln!("skipped: needs dpkg, nsenter, root and network namespaces");
        return;
    }
    let tmp = TempDir::new("hbdebi");
    let deb = build(&tmp.path);
    let host_before = sh("dpkg-query -W -f='${Status}' heartbeat heartbeat-rs").1;
    let cfg = tmp.path.join("ha.d");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("ha.cf"),
        "logfile /var/log/ha-log\nkeepalive 200ms\ndeadtime 2\nwarntime 1\ninitdead 4\n\
         udpport 694\nbcast hb0\nauto_failback on\nnode nodea\nnode nodeb\n",
    )
    .unwrap();
    std::fs::write(cfg.join("authkeys"), "auth 1\n1 sha1 package-test-secret\n").unwrap();
    std::fs::write(
        cfg.join("haresources"),
        "nodea IPaddr::198.51.100.10/24/hb0\n",
    )
    .unwrap();

    let ns_a = common::netns::Netns::new("hbdia");
    let ns_b = common::netns::Netns::new("hbdib");
    common::netns::veth(&ns_a, "hb0", &ns_b, "hb0");
    ns_a.sh("ip addr add 198.51.100.1/24 dev hb0");
    ns_b.sh("ip addr add 198.51.100.2/24 dev hb0");
    let a = InstalledNode::new("nodea", ns_a, &deb, &cfg, &tmp.path);
    let b = InstalledNode::new("nodeb", ns_b, &deb, &cfg, &tmp.path);
    for n in [&a, &b] {
        assert!(
            common::netns::wait_until(Duration::from_secs(120), Duration::from_millis(200), || {
                let out = n.installer_output();
                out.contains("INSTALLED-AND-STARTED") || out.contains("exit status")
            }),
            "{}",
            n.describe()
        );
        let out = n.installer_output();
        assert!(out.contains("INSTALLED-AND-STARTED"), "{}", n.describe());
        assert!(out.contains("Setting up heartbeat-rs"), "{out}");
        assert!(
            out.contains("Starting High-Availability services: Done."),
            "{out}"
        );
        let (ok, status) = n.inside("dpkg-query -W -f='${Status}' heartbeat-rs");
        assert!(ok && status == "install ok installed", "{status}");
        let (ok, page) = n.inside("MANPAGER=cat man ha.cf");
        assert!(ok && page.contains("notify"), "man ha.cf: {page}");
        let (ok, st) = n.inside("/etc/init.d/heartbeat status");
        assert!(ok, "init status: {st}");
    }
    assert!(
        common::netns::wait_until(Duration::from_secs(40), Duration::from_millis(200), || a
            .has_vip()),
        "A never took its address\n{}\n{}",
        a.describe(),
        b.describe()
    );
    let (ok, out) = a.inside("/etc/init.d/heartbeat stop");
    assert!(ok, "stop: {out}");
    assert!(!a.has_vip(), "A kept the address after stop");
    assert!(
        common::netns::wait_until(Duration::from_secs(20), Duration::from_millis(200), || b
            .has_vip()),
        "B never took the address\n{}\n{}",
        a.describe(),
        b.describe()
    );
    let _ = b.inside("/etc/init.d/heartbeat stop");
    // The machine's own packages are as they were.
    assert_eq!(
        sh("dpkg-query -W -f='${Status}' heartbeat heartbeat-rs").1,
        host_before
    );
}
