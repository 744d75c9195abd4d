//! OCF agents through haresources with real daemons (issue 20), Debian's resource-agents:
//! `nodea VIP Filesystem::/dev/loopN::MNT::ext4 OCF::Dummy::d1 journal httpd` — an ext4 image on
//! a loop device mounted on the active node only (each node's daemon has its own mount
//! namespace), a generic `OCF::` entry with its instance file, and a "database" (`journal`, an
//! LSB script appending to a file on the shared filesystem) whose data survives the moves
//! A → B (hb_standby) and back. Also `heartbeat --check` on OCF entries. Skips cleanly without
//! root, resource-agents, mkfs.ext4 or a free loop device.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::netns::{can_use_netns, run, wait_until};
use common::testbed::{BedOptions, Kind, Testbed};

const AGENTS: &str = "/usr/lib/ocf/resource.d/heartbeat";

/// A loop device over an ext4 image, detached on drop.
struct Loop {
    dev: String,
    image: PathBuf,
}

impl Loop {
    fn new(dir: &Path) -> Option<Loop> {
        let image = dir.join("shared.img");
        let mk = run(&format!(
            "truncate -s 32M {0} && mkfs.ext4 -q -F {0}",
            image.display()
        ));
        if !mk.status.success() {
            eprintln!(
                "cannot make the image: {}",
                String::from_utf8_lossy(&mk.stderr)
            );
            return None;
        }
        let out = run(&format!("losetup -f --show {}", image.display()));
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || !dev.starts_with("/dev/loop") {
            eprintln!("no loop device: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(Loop { dev, image })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = run(&format!("losetup -d {}", self.dev));
        let _ = std::fs::remove_file(&self.image);
    }
}

/// The `journal` resource: appends "started on NODE" to MNT/journal at each start; running
/// while its pid-less marker exists in this node's run directory.
fn journal_script(node_dir: &Path, node: &str, mnt: &Path) -> String {
    let d = node_dir.display();
    let m = mnt.display();
    format!(
        "#!/bin/sh\ncase \"$1\" in\n\
         start) grep -q ' {m} ' /proc/self/mounts || {{ echo 'journal: {m} not mounted' >&2; exit 1; }}\n\
         echo \"started on {node}\" >> {m}/journal && touch {d}/journal.on;;\n\
         stop) rm -f {d}/journal.on;;\n\
         status) if [ -f {d}/journal.on ]; then echo running; else echo stopped; fi;;\n\
         *) exit 1;;\nesac\nexit 0\n"
    )
}

fn mounted_in(bed: &Testbed, i: usize, mnt: &Path) -> bool {
    let Some(pid) = bed.nodes[i].daemon_pids().first().copied() else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/mounts"))
        .map(|m| m.contains(&format!(" {} ", mnt.display())))
        .unwrap_or(false)
}

fn journal(bed: &Testbed, i: usize, mnt: &Path) -> String {
    let Some(pid) = bed.nodes[i].daemon_pids().first().copied() else {
        return String::new();
    };
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "cat"])
        .arg(mnt.join("journal"))
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn filesystem_dummy_and_a_service_fail_over_and_back_keeping_their_data() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    if !Path::new(AGENTS).join("Filesystem").exists()
        || !run("command -v mkfs.ext4").status.success()
    {
        eprintln!("skipped: needs resource-agents and e2fsprogs");
        return;
    }
    let tmp = common::netns::TempDir::new("hbocf");
    let Some(lo) = Loop::new(&tmp.path) else {
        eprintln!("skipped: no loop device");
        return;
    };
    let mnt = tmp.path.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mut opts = BedOptions::new(Kind::Ours, bin_dir);
    opts.timers.deadtime_ms = 3000;
    let mut bed = Testbed::new(opts).expect("test bed");
    let res = format!(
        "nodea 192.0.2.10/24/eth0 Filesystem::{}::{}::ext4 OCF::Dummy::d1 journal httpd\n",
        lo.dev,
        mnt.display()
    );
    for n in &bed.nodes {
        let ha = n.dir.join("ha.d");
        std::fs::write(ha.join("haresources"), &res).unwrap();
        std::fs::create_dir_all(ha.join("conf/OCF/Dummy")).unwrap();
        std::fs::write(
            ha.join("conf/OCF/Dummy/d1"),
            format!(
                "# the Dummy agent's state file\nstate={}/dummy.state\n",
                n.dir.display()
            ),
        )
        .unwrap();
        let j = ha.join("resource.d/journal");
        std::fs::write(&j, journal_script(&n.dir, n.name, &mnt)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // --check resolves every entry to its agent and runs validate-all.
    let check = bed.nodes[0].exec(&format!(
        "{} --check --ha-dir {}/ha.d --node nodea",
        bin_dir.join("heartbeat").display(),
        bed.nodes[0].dir.display()
    ));
    let said = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains(&format!("{AGENTS}/Filesystem start (OCF resource agent)")),
        "{said}"
    );
    assert!(
        said.contains(&format!("{AGENTS}/Dummy start (OCF resource agent)")),
        "{said}"
    );

    bed.bring_up()
        .unwrap_or_else(|e| panic!("did not come up: {e}"));
    assert!(
        bed.wait_owner(0, Duration::from_secs(30)),
        "{}",
        bed.logs_tail(30)
    );
    assert!(mounted_in(&bed, 0, &mnt) && !mounted_in(&bed, 1, &mnt));
    assert!(
        bed.nodes[0].dir.join("dummy.state").exists(),
        "Dummy started on A"
    );

    // A stands by: B mounts the same filesystem and finds A's data.
    let _ = bed.nodes[0].standby();
    assert!(
        bed.wait_owner(1, Duration::from_secs(30)),
        "{}",
        bed.logs_tail(40)
    );
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            mounted_in(&bed, 1, &mnt) && !mounted_in(&bed, 0, &mnt)
        }),
        "mounted on A {} / B {}",
        mounted_in(&bed, 0, &mnt),
        mounted_in(&bed, 1, &mnt)
    );
    assert!(
        !bed.nodes[0].dir.join("dummy.state").exists(),
        "Dummy stopped on A"
    );
    assert_eq!(
        journal(&bed, 1, &mnt),
        "started on nodea\nstarted on nodeb\n",
        "{}",
        bed.logs_tail(40)
    );

    // And back.
    let _ = bed.nodes[1].standby();
    assert!(
        bed.wait_owner(0, Duration::from_secs(30)),
        "{}",
        bed.logs_tail(40)
    );
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(100),
        || { mounted_in(&bed, 0, &mnt) && !mounted_in(&bed, 1, &mnt) }
    ));
    assert_eq!(
        journal(&bed, 0, &mnt),
        "started on nodea\nstarted on nodeb\nstarted on nodea\n"
    );
    drop(bed);
}

#[test]
fn check_names_missing_instances_and_failing_validations() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_heartbeat"))
        .parent()
        .expect("target dir");
    if !Path::new(AGENTS).join("IPsrcaddr").exists() {
        eprintln!("skipped: needs resource-agents");
        return;
    }
    let tmp = common::netns::TempDir::new("hbocfchk");
    let ha = tmp.path.join("ha.d");
    std::fs::create_dir_all(&ha).unwrap();
    std::fs::write(
        ha.join("ha.cf"),
        "udpport 694\nbcast lo\nnode alpha\nnode bravo\nauto_failback on\n",
    )
    .unwrap();
    std::fs::write(ha.join("authkeys"), "auth 1\n1 sha1 s\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ha.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let check = |res: &str| {
        std::fs::write(ha.join("haresources"), res).unwrap();
        let out = Command::new(bin_dir.join("heartbeat"))
            .args(["--check", "--node", "alpha", "--ha-dir"])
            .arg(&ha)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, said) = check("alpha OCF::Dummy::nope\n");
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("haresources:1: resource OCF::Dummy::nope: cannot read OCF instance file"),
        "{said}"
    );
    let (code, said) = check("alpha OCF::NoSuchAgent::x\n");
    assert_eq!(code, 1, "{said}");
    // IPsrcaddr's validate-all refuses an address that is none; --check names the line and
    // keeps the agent's reason.
    let (code, said) = check("alpha OCF::Dummy::nope\nalpha IPsrcaddr::999.1.1.1\n");
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("haresources:2: resource IPsrcaddr::999.1.1.1: /usr/lib/ocf/resource.d/heartbeat/IPsrcaddr validate-all failed (exit 6: not configured)"),
        "{said}"
    );
}
