//! Acceptance: the published CentOS orasrv files and our samples pass, through the library and
//! through the real `heartbeat --check` binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use heartbeat::config::{self, AutoFailback, Medium};

/// A scratch `ha.d` directory removed on drop.
struct TempHaDir(PathBuf);

impl TempHaDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hbrs-cfg-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempHaDir(dir)
    }

    fn write(&self, hacf: &str, authkeys: &str, haresources: &str, keys_mode: u32) {
        fs::write(self.0.join("ha.cf"), hacf).unwrap();
        let keys = self.0.join("authkeys");
        fs::write(&keys, authkeys).unwrap();
        fs::set_permissions(&keys, fs::Permissions::from_mode(keys_mode)).unwrap();
        fs::write(self.0.join("haresources"), haresources).unwrap();
    }

    /// An executable `resource.d/NAME` in this ha.d.
    fn script(&self, name: &str) {
        self.script_with(name, "#!/bin/sh\nexit 0\n");
    }

    fn script_with(&self, name: &str, text: &str) {
        let dir = self.0.join("resource.d");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), text).unwrap();
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

impl Drop for TempHaDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const ORA_HACF: &str = "logfile /var/log/ha-log
keepalive 2
deadtime 15
warntime 10
initdead 60
udpport 694
bcast eth1
auto_failback off
node orasrv1.xlk.com
node orasrv2.xlk.com
ping 192.168.21.254
#respawn hacluster /usr/lib64/heartbeat/ipfail
";
const ORA_KEYS: &str = "auth 1\n1 md5 74a6a503b5bec9373b22bb630608df41\n";
const ORA_RES: &str = "orasrv1.xlk.com IPaddr::192.168.21.1/24/eth0 httpd\n";

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("etc/ha.d")
        .join(name);
    fs::read_to_string(path).unwrap()
}

#[test]
fn orasrv_files_load_with_the_expected_values() {
    let dir = TempHaDir::new("ora-lib");
    dir.write(ORA_HACF, ORA_KEYS, ORA_RES, 0o600);
    let loaded = config::load(&dir.0, Some("orasrv1.xlk.com")).unwrap();
    let c = &loaded.config;
    assert_eq!(c.local, "orasrv1.xlk.com");
    assert_eq!(c.peer, "orasrv2.xlk.com");
    assert_eq!(
        (c.ha.keepalive, c.ha.deadtime, c.ha.warntime, c.ha.initdead),
        (2000, 15000, 10000, 60000)
    );
    assert_eq!(c.ha.udpport, 694);
    assert_eq!(
        c.ha.media,
        vec![Medium::Bcast {
            iface: "eth1".into()
        }]
    );
    assert_eq!(c.ha.auto_failback, AutoFailback::Off);
    assert_eq!(c.ha.ping_nodes, vec!["192.168.21.254".to_string()]);
    assert!(!c.ha.ipfail, "the respawn line is commented out");
    assert_eq!(c.ha.logfile.as_deref(), Some(Path::new("/var/log/ha-log")));
    assert_eq!(c.keys.send_index, 1);
    assert_eq!(
        c.keys.send_key().unwrap().secret,
        b"74a6a503b5bec9373b22bb630608df41".to_vec()
    );
    assert_eq!(c.groups.len(), 1);
    let g = &c.groups[0];
    assert_eq!(g.owner, "orasrv1.xlk.com");
    assert_eq!(g.key(), "IPaddr::192.168.21.1/24/eth0");
    let texts: Vec<&str> = g.resources.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["IPaddr::192.168.21.1/24/eth0", "httpd"]);
    assert_eq!(g.resources[0].name, "IPaddr");
    assert_eq!(g.resources[0].args, ["192.168.21.1/24/eth0"]);

    let summary = config::check::summary(c);
    for want in [
        "this node: orasrv1.xlk.com",
        "peer: orasrv2.xlk.com",
        "bcast eth1 port 694",
        "keepalive 2 s",
        "deadtime 15 s",
        "warntime 10 s",
        "initdead 60 s",
        "auto_failback: off",
        "ping nodes: 192.168.21.254",
        "(owner orasrv1.xlk.com): IPaddr::192.168.21.1/24/eth0 httpd",
    ] {
        assert!(summary.contains(want), "missing {want:?} in\n{summary}");
    }
}

#[test]
fn samples_pass_as_alpha_and_bravo() {
    for node in ["alpha", "bravo"] {
        let loaded = config::parse_texts(
            &sample("ha.cf"),
            &sample("authkeys"),
            &sample("haresources"),
            Path::new("/etc/ha.d"),
            node,
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.local, node);
        assert_eq!(
            (c.ha.keepalive, c.ha.deadtime, c.ha.warntime, c.ha.initdead),
            (1000, 5000, 3000, 10000)
        );
        assert_eq!(c.ha.auto_failback, AutoFailback::On);
        assert_eq!(
            c.ha.media,
            vec![Medium::Bcast {
                iface: "hb0".into()
            }]
        );
        let texts: Vec<&str> = c.groups[0]
            .resources
            .iter()
            .map(|r| r.text.as_str())
            .collect();
        assert_eq!(
            texts,
            [
                "IPaddr::192.0.2.100/24/pub0",
                "LVS::/etc/ha.d/lvs.rules",
                "httpd"
            ]
        );
        assert_eq!(c.groups[0].owner, "alpha");
        // Only the "interface missing" warning may appear (hb0 rarely exists where tests run).
        for w in &loaded.warnings {
            assert!(w.message.contains("interface 'hb0'"), "unexpected {w}");
        }
    }
}

#[test]
fn lvs_rules_sample_is_ipvsadm_save_syntax() {
    let rules = sample("lvs.rules");
    let lines: Vec<&str> = rules.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines[0], "-A -t 192.0.2.100:80 -s rr");
    assert!(lines[1].contains("-r 192.0.2.11:80 -m"));
    assert!(lines[2].contains("-r 192.0.2.12:80 -m"));
}

#[test]
fn node_comes_from_nodeinfo_when_not_given() {
    let dir = TempHaDir::new("nodeinfo");
    dir.write(ORA_HACF, ORA_KEYS, ORA_RES, 0o600);
    fs::write(dir.0.join("nodeinfo"), "ORASRV2.xlk.com\n").unwrap();
    let loaded = config::load(&dir.0, None).unwrap();
    assert_eq!(loaded.config.local, "orasrv2.xlk.com");
    assert_eq!(loaded.config.peer, "orasrv1.xlk.com");
}

#[test]
fn directives_record_written_and_defaulted_values() {
    let dir = TempHaDir::new("directives");
    dir.write(ORA_HACF, ORA_KEYS, ORA_RES, 0o600);
    let c = config::load(&dir.0, Some("orasrv1.xlk.com"))
        .unwrap()
        .config;
    let get = |n: &str| {
        c.ha.directives
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("deadtime").as_deref(), Some("15"));
    assert_eq!(get("deadping").as_deref(), Some("15000ms"));
    assert_eq!(get("hopfudge").as_deref(), Some("1"));
    assert_eq!(c.ha.deadping, 15000);
    assert_eq!(c.ha.ipfail_holddown, 45000);
    assert_eq!(c.ha.resource_timeout, 60000);
    assert!(c.ha.crash_guard && c.ha.realtime);
}

#[test]
fn meaningless_directives_warn_by_name() {
    let hacf = format!(
        "{ORA_HACF}hbaping fc-card-name\nwatchdog /dev/watchdog\ncrm off\ncompression bz2\nuse_logd yes\n"
    );
    let loaded = config::parse_texts(
        &hacf,
        "auth 1\n1 crc\n",
        ORA_RES,
        Path::new("/etc/ha.d"),
        "orasrv1.xlk.com",
    )
    .unwrap();
    let all: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let text = all.join("\n");
    for name in [
        "'hbaping'",
        "'watchdog'",
        "crm off",
        "'compression'",
        "'use_logd'",
        "crc",
    ] {
        assert!(text.contains(name), "no warning naming {name}:\n{text}");
    }
    assert!(text.contains("/etc/ha.d/ha.cf:13:"), "{text}");
}

fn run_check(dir: &Path, node: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_heartbeat"))
        .args(["--check", "--ha-dir"])
        .arg(dir)
        .args(["--node", node])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn binary_check_exit_codes_and_error_shape() {
    let dir = TempHaDir::new("bin");
    dir.write(ORA_HACF, ORA_KEYS, ORA_RES, 0o600);
    dir.script("httpd");
    let (code, stdout, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("deadtime 15 s"), "{stdout}");
    assert!(stdout.contains("bcast eth1 port 694"), "{stdout}");
    // What runs each resource.
    assert!(
        stdout.contains(
            "resource IPaddr::192.168.21.1/24/eth0: in-process address 192.168.21.1/24 on eth0"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("resource.d/httpd start (script of the ha.d resource directory)"),
        "{stdout}"
    );

    let broken = ORA_HACF
        .replace("deadtime 15", "deadtime 1.5")
        .replace("warntime 10", "");
    dir.write(&broken, ORA_KEYS, "orasrv3 httpd\n", 0o644);
    let (code, stdout, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "stdout: {stdout}");
    let hacf = format!("{}:3: ", dir.0.join("ha.cf").display());
    let keys = format!("{}:0: ", dir.0.join("authkeys").display());
    let res = format!("{}:1: ", dir.0.join("haresources").display());
    for want in [&hacf, &keys, &res] {
        assert!(
            stderr.lines().any(|l| l.starts_with(want.as_str())),
            "no line starting {want:?} in\n{stderr}"
        );
    }
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

#[test]
fn special_files_in_place_of_the_configuration_are_refused_at_once() {
    // A FIFO used to hang `--check` forever and /dev/zero to read until memory ran out.
    let dir = TempHaDir::new("special");
    dir.write(ORA_HACF, ORA_KEYS, ORA_RES, 0o600);
    let hacf = dir.0.join("ha.cf");
    std::fs::remove_file(&hacf).unwrap();
    nix::unistd::mkfifo(&hacf, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let started = std::time::Instant::now();
    let (code, _, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a regular file but a FIFO"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    std::fs::remove_file(&hacf).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &hacf).unwrap();
    let (code, _, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("character device"), "{stderr}");

    std::fs::remove_file(&hacf).unwrap();
    let huge = std::fs::File::create(&hacf).unwrap();
    huge.set_len(64 * 1024 * 1024).unwrap();
    let (code, _, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("too large"), "{stderr}");
}

#[test]
fn check_resolves_every_resource_like_the_daemon() {
    let dir = TempHaDir::new("resolve");
    // A script that exists nowhere and an address no script would take: errors at their line.
    dir.write(
        ORA_HACF,
        ORA_KEYS,
        "orasrv1.xlk.com IPaddr::192.0.2.10/24 nosuchscript-xyz\norasrv2.xlk.com IPaddr::999.1.1.1\n",
        0o600,
    );
    let (code, _, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "{stderr}");
    let res = dir.0.join("haresources").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{res}:1: resource nosuchscript-xyz: Cannot locate"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{res}:2: resource IPaddr::999.1.1.1: invalid IP address"
        )),
        "{stderr}"
    );
    // An administrator's own IPaddr wins, and --check says so.
    dir.write(
        ORA_HACF,
        ORA_KEYS,
        "orasrv1.xlk.com IPaddr::192.0.2.10/24\n",
        0o600,
    );
    dir.script("IPaddr");
    let (code, stdout, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("replaces the in-process address handling"),
        "{stdout}"
    );
    // native_addresses off: the scripts run (here the administrator's).
    dir.write(
        &format!("{ORA_HACF}native_addresses off\n"),
        ORA_KEYS,
        "orasrv1.xlk.com IPaddr2::2001:db8::10/64/eth0\n",
        0o600,
    );
    let (code, _, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "no IPaddr2 script anywhere: {stderr}");
}

#[test]
fn check_reads_the_ldirectord_cf_of_an_ldirectord_resource() {
    let dir = TempHaDir::new("ldcf");
    dir.write(
        ORA_HACF,
        ORA_KEYS,
        "orasrv1.xlk.com 192.0.2.10 ldirectord::ldirectord.cf\n",
        0o600,
    );
    // A resource script of our kind (it runs hb_ldirectord), in ha.d.
    dir.script_with("ldirectord", "#!/bin/sh\nexec hb_ldirectord \"$@\"\n");
    // Looked up as ldirectord does: HA_DIR/NAME, then HA_DIR/conf/NAME.
    std::fs::create_dir_all(dir.0.join("conf")).unwrap();
    let cf = dir.0.join("conf/ldirectord.cf");
    std::fs::write(
        &cf,
        "checktimeout=3\nvirtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tchektype=connect\n\treal=198.51.100.3:80 dr\n",
    )
    .unwrap();
    let (code, _, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 1, "{stderr}");
    let shown = cf.display().to_string();
    assert!(
        stderr.contains(&format!("{shown}:4: unknown directive 'chektype' in a virtual= section (did you mean 'checktype'?)")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{shown}:5: forward method must be gate, masq or ipip"
        )),
        "{stderr}"
    );
    std::fs::write(
        &cf,
        "checktimeout=3\nvirtual=192.0.2.10:80\n\treal=198.51.100.2:80 masq\n\tchecktype=connect\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("1 virtual service(s), 1 real server(s)"),
        "{stdout}"
    );
    // The Perl ldirectord's resource script in ha.d (as Debian's ldirectord package installs
    // it) wins: it reads the file with its own grammar (service=ftp is one of its), so the file
    // is not judged by ours, and the script is named.
    dir.script_with("ldirectord", "#!/usr/bin/perl -w\n# ldirectord\nexit 0;\n");
    std::fs::write(
        &cf,
        "virtual=192.0.2.10:21\n\treal=198.51.100.2:21 masq\n\tservice=ftp\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_check(&dir.0, "orasrv1.xlk.com");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("not by hb_ldirectord: not checked here"),
        "{stdout}"
    );
}
