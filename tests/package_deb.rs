//! The Debian package (pkg/build-deb.sh): its control fields, its files, and a failover run by
//! the files it installs (extracted with `dpkg -x`, so the machine's own packages are left
//! alone: Debian's `heartbeat`, which the package replaces, serves the interoperability tests).
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
