//! A table of broken configurations: each must fail with the right file, line and message.
//! Every case starts from a valid pair (alpha/bravo) and breaks one file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use heartbeat::config;

const HACF: &str = "keepalive 1
deadtime 5
warntime 3
initdead 10
udpport 694
bcast hb0
auto_failback on
node alpha
node bravo
";
const KEYS: &str = "auth 1\n1 sha1 secret\n";
const RES: &str = "alpha 192.0.2.100/24/pub0 httpd\n";

/// Which file a case replaces or expects the error in.
#[derive(Clone, Copy, Debug)]
enum F {
    HaCf,
    Keys,
    Res,
}

impl F {
    fn name(self) -> &'static str {
        match self {
            F::HaCf => "ha.cf",
            F::Keys => "authkeys",
            F::Res => "haresources",
        }
    }
}

struct Case {
    what: &'static str,
    file: F,
    /// New content of `file`; None: the file is missing.
    text: Option<&'static str>,
    keys_mode: u32,
    line: usize,
    fragment: &'static str,
}

const fn case(
    what: &'static str,
    file: F,
    text: &'static str,
    line: usize,
    fragment: &'static str,
) -> Case {
    Case {
        what,
        file,
        text: Some(text),
        keys_mode: 0o600,
        line,
        fragment,
    }
}

fn cases() -> Vec<Case> {
    use F::*;
    vec![
        case(
            "monitor of a resource haresources does not have",
            HaCf,
            "bcast hb0\nnode alpha bravo\nmonitor htpd interval=5s\n",
            3,
            "monitor: no resource 'htpd' in haresources",
        ),
        case(
            "monitor setting misspelt",
            HaCf,
            "bcast hb0\nnode alpha bravo\nmonitor httpd intervall=5s\n",
            3,
            "unknown monitor setting 'intervall' (did you mean 'interval'?)",
        ),
        case(
            "monitor without a resource",
            HaCf,
            "bcast hb0\nnode alpha bravo\nmonitor fall=2\n",
            3,
            "monitor needs a haresources resource first",
        ),
        case(
            "monitor_default with a bad time",
            HaCf,
            "bcast hb0\nnode alpha bravo\nmonitor_default timeout=soon\n",
            3,
            "monitor timeout: invalid time",
        ),
        case(
            "unknown directive",
            HaCf,
            "keepalive 1\nkeepalve 2\nbcast hb0\nnode alpha bravo\n",
            2,
            "unknown directive 'keepalve' (did you mean 'keepalive'?)",
        ),
        case(
            "unknown directive far from any",
            HaCf,
            "frobnicate yes\nbcast hb0\nnode alpha bravo\n",
            1,
            "unknown directive 'frobnicate'",
        ),
        case(
            "bad time",
            HaCf,
            "deadtime five\nbcast hb0\nnode alpha bravo\n",
            1,
            "deadtime: invalid time 'five'",
        ),
        case(
            "ms typo",
            HaCf,
            "keepalive 500mss\nbcast hb0\nnode alpha bravo\n",
            1,
            "invalid time unit 'mss'",
        ),
        case(
            "unit not glued",
            HaCf,
            "bcast hb0\nnode alpha bravo\nkeepalive 500 ms\n",
            3,
            "glue the unit",
        ),
        case(
            "deadtime equals keepalive",
            HaCf,
            "keepalive 5\ndeadtime 5\nwarntime 5\ninitdead 10\nbcast hb0\nnode alpha bravo\n",
            2,
            "deadtime (5000 ms) must be greater than keepalive (5000 ms)",
        ),
        case(
            "deadtime under keepalive",
            HaCf,
            "bcast hb0\nnode alpha bravo\nkeepalive 2\ndeadtime 1500ms\n",
            4,
            "must be greater than keepalive",
        ),
        case(
            "keepalive zero",
            HaCf,
            "keepalive 0\nbcast hb0\nnode alpha bravo\n",
            1,
            "keepalive must be above 0",
        ),
        case(
            "warntime above deadtime",
            HaCf,
            "keepalive 1\ndeadtime 5\nwarntime 6\nbcast hb0\nnode alpha bravo\n",
            3,
            "warntime (6000 ms) must lie between",
        ),
        case(
            "warntime under keepalive",
            HaCf,
            "keepalive 2\ndeadtime 10\nwarntime 1\nbcast hb0\nnode alpha bravo\n",
            3,
            "must lie between",
        ),
        case(
            "initdead under deadtime",
            HaCf,
            "deadtime 20\ninitdead 10\nbcast hb0\nnode alpha bravo\n",
            2,
            "initdead (10000 ms) is smaller than deadtime (20000 ms)",
        ),
        case(
            "deadping too small",
            HaCf,
            "keepalive 1\ndeadping 1\nbcast hb0\nnode alpha bravo\n",
            2,
            "deadping (1000 ms) must be greater than keepalive",
        ),
        case(
            "missing medium",
            HaCf,
            "keepalive 1\nnode alpha bravo\n",
            0,
            "no heartbeat medium",
        ),
        case(
            "udpport after bcast",
            HaCf,
            "bcast hb0\nudpport 695\nnode alpha bravo\n",
            2,
            "move the udpport line above line 1",
        ),
        case(
            "udpport after ucast",
            HaCf,
            "node alpha bravo\nucast hb0 192.0.2.2\n\nudpport 695\n",
            4,
            "after the medium on line 2",
        ),
        case(
            "bad udpport",
            HaCf,
            "udpport 70000\nbcast hb0\nnode alpha bravo\n",
            1,
            "invalid udpport '70000'",
        ),
        case(
            "local node not listed",
            HaCf,
            "bcast hb0\nnode charlie\nnode bravo\n",
            2,
            "this node 'alpha' is not among the node lines",
        ),
        case(
            "three nodes",
            HaCf,
            "bcast hb0\nnode alpha\nnode bravo\nnode charlie\n",
            4,
            "Pacemaker with Corosync",
        ),
        case(
            "three nodes on one line",
            HaCf,
            "bcast hb0\nnode alpha bravo charlie\n",
            2,
            "3 nodes configured",
        ),
        case(
            "one node",
            HaCf,
            "bcast hb0\nnode alpha\n",
            2,
            "exactly two",
        ),
        case(
            "crm on",
            HaCf,
            "bcast hb0\nnode alpha bravo\ncrm on\n",
            3,
            "heartbeat-rs is v1 (haresources) only",
        ),
        case(
            "pacemaker respawn",
            HaCf,
            "bcast hb0\npacemaker respawn\nnode alpha bravo\n",
            2,
            "Pacemaker (CRM) mode",
        ),
        case(
            "autojoin any",
            HaCf,
            "bcast hb0\nautojoin any\nnode alpha bravo\n",
            2,
            "autojoin any conflicts",
        ),
        case(
            "bad auto_failback",
            HaCf,
            "bcast hb0\nauto_failback maybe\nnode alpha bravo\n",
            2,
            "auto_failback 'maybe' is not on, off or legacy",
        ),
        case(
            "mcast not multicast",
            HaCf,
            "mcast hb0 192.0.2.1 694 1 0\nnode alpha bravo\n",
            1,
            "not an IPv4 multicast address",
        ),
        case(
            "mcast too short",
            HaCf,
            "mcast hb0 239.0.0.1 694\nnode alpha bravo\n",
            1,
            "mcast needs five values",
        ),
        case(
            "mcast bad loop",
            HaCf,
            "mcast hb0 239.0.0.1 694 1 2\nnode alpha bravo\n",
            1,
            "invalid mcast loop '2'",
        ),
        case(
            "ucast without peer",
            HaCf,
            "ucast hb0\nnode alpha bravo\n",
            1,
            "ucast needs an interface and a peer",
        ),
        case(
            "debug out of range",
            HaCf,
            "bcast hb0\ndebug 300\nnode alpha bravo\n",
            2,
            "debug: '300' is not a number 0-255",
        ),
        case(
            "bad msgfmt",
            HaCf,
            "bcast hb0\nmsgfmt xml\nnode alpha bravo\n",
            2,
            "unknown msgfmt 'xml'",
        ),
        case(
            "bad logfacility",
            HaCf,
            "bcast hb0\nlogfacility local9\nnode alpha bravo\n",
            2,
            "unknown syslog facility 'local9'",
        ),
        case(
            "relative respawn",
            HaCf,
            "bcast hb0\nrespawn hacluster ipfail\nnode alpha bravo\n",
            2,
            "not an absolute path",
        ),
        case(
            "bad boolean",
            HaCf,
            "bcast hb0\nrealtime perhaps\nnode alpha bravo\n",
            2,
            "realtime: 'perhaps' is not on or off",
        ),
        case(
            "empty ping_group",
            HaCf,
            "bcast hb0\nping_group gw\nnode alpha bravo\n",
            2,
            "ping_group needs a name and at least one host",
        ),
        case(
            "directive without value",
            HaCf,
            "bcast hb0\nnode alpha bravo\nlogfile\n",
            3,
            "directive 'logfile' needs a value",
        ),
        case(
            "zero resource_timeout",
            HaCf,
            "bcast hb0\nnode alpha bravo\nresource_timeout 0\n",
            3,
            "resource_timeout must be above 0",
        ),
        Case {
            keys_mode: 0o644,
            ..case("authkeys mode 644", Keys, KEYS, 0, "chmod 600")
        },
        Case {
            keys_mode: 0o620,
            ..case(
                "authkeys group-writable",
                Keys,
                KEYS,
                0,
                "readable or writable by group or others",
            )
        },
        Case {
            keys_mode: 0o604,
            ..case("authkeys world-readable", Keys, KEYS, 0, "mode 604")
        },
        case(
            "auth names no key",
            Keys,
            "auth 2\n1 sha1 secret\n",
            1,
            "auth 2 names no key",
        ),
        case(
            "unknown method",
            Keys,
            "auth 1\n1 sha256 secret\n",
            2,
            "unknown authentication method 'sha256'",
        ),
        case(
            "sha1 without key",
            Keys,
            "auth 1\n1 sha1\n",
            2,
            "method sha1 needs a key",
        ),
        case(
            "md5 without key",
            Keys,
            "# keys\nauth 1\n\n1 md5\n",
            4,
            "method md5 needs a key",
        ),
        case(
            "crc with comment",
            Keys,
            "auth 1\n1 crc # the test key\n",
            2,
            "'#' after 'crc' is read as a key",
        ),
        case(
            "index out of range",
            Keys,
            "auth 1\n1 sha1 a\n16 sha1 b\n",
            3,
            "invalid key index '16'",
        ),
        case(
            "auth out of range",
            Keys,
            "auth 16\n1 sha1 a\n",
            1,
            "invalid auth index '16'",
        ),
        case(
            "missing auth",
            Keys,
            "1 sha1 secret\n",
            0,
            "missing 'auth N' line",
        ),
        case(
            "bad auth line",
            Keys,
            "authenticate 1\n1 sha1 secret\n",
            1,
            "invalid auth line",
        ),
        case(
            "duplicate key",
            Keys,
            "auth 1\n1 sha1 a\n1 md5 b\n",
            3,
            "key 1 defined twice (first on line 2)",
        ),
        case(
            "two auth lines",
            Keys,
            "auth 1\nauth 1\n1 sha1 a\n",
            2,
            "second auth line",
        ),
        case(
            "owner not a node",
            Res,
            "charlie 192.0.2.100 httpd\n",
            1,
            "owner 'charlie' is not a cluster node",
        ),
        case(
            "empty resource name",
            Res,
            "alpha ::192.0.2.100\n",
            1,
            "has an empty name",
        ),
        case(
            "empty argument",
            Res,
            "alpha IPaddr::\n",
            1,
            "has an empty argument",
        ),
        case(
            "doubled separator",
            Res,
            "alpha Filesystem::/dev/sda1::::ext3\n",
            1,
            "empty argument",
        ),
        case(
            "single colon",
            Res,
            "alpha IPaddr:192.0.2.100\n",
            1,
            "separate the name and its arguments with '::'",
        ),
        case(
            "bad address",
            Res,
            "alpha 192.0.2.300/24\n",
            1,
            "looks like an IPv4 address but is not one",
        ),
        case("no resources", Res, "alpha\n", 1, "lists no resource"),
        case(
            "duplicate key",
            Res,
            "alpha 192.0.2.100 httpd\nbravo 192.0.2.100 squid\n",
            2,
            "group key 'IPaddr::192.0.2.100' already used on line 1",
        ),
        case(
            "error after continuation",
            Res,
            "# web\nalpha 192.0.2.100 \\\n  httpd\ncharlie squid\n",
            4,
            "owner 'charlie'",
        ),
        case(
            "error inside continued group",
            Res,
            "alpha 192.0.2.100 \\\n  ::x\n",
            1,
            "empty name",
        ),
        Case {
            text: None,
            ..case("missing haresources", Res, "", 0, "cannot read")
        },
        Case {
            text: None,
            ..case("missing ha.cf", HaCf, "", 0, "cannot read")
        },
    ]
}

struct TempHaDir(PathBuf);

impl Drop for TempHaDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run_case(i: usize, c: &Case) -> Result<(), String> {
    let dir =
        TempHaDir(std::env::temp_dir().join(format!("hbrs-cfgerr-{}-{i}", std::process::id())));
    let _ = fs::remove_dir_all(&dir.0);
    fs::create_dir_all(&dir.0).unwrap();
    for (f, base) in [(F::HaCf, HACF), (F::Keys, KEYS), (F::Res, RES)] {
        let text = if f.name() == c.file.name() {
            c.text
        } else {
            Some(base)
        };
        if let Some(t) = text {
            fs::write(dir.0.join(f.name()), t).unwrap();
        }
    }
    let keys = dir.0.join("authkeys");
    if keys.exists() {
        fs::set_permissions(&keys, fs::Permissions::from_mode(c.keys_mode)).unwrap();
    }
    let errors = match config::load(&dir.0, Some("alpha")) {
        Ok(_) => return Err(format!("{}: accepted", c.what)),
        Err(e) => e,
    };
    let path = dir.0.join(c.file.name());
    let found = errors
        .iter()
        .any(|e| e.file == path && e.line == c.line && e.to_string().contains(c.fragment));
    if found {
        // The displayed form is FILE:LINE: message.
        let shown = errors[0].to_string();
        let prefix = format!("{}:{}: ", errors[0].file.display(), errors[0].line);
        if !shown.starts_with(&prefix) {
            return Err(format!("{}: bad display {shown:?}", c.what));
        }
        Ok(())
    } else {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        Err(format!(
            "{}: wanted {}:{} containing {:?}, got:\n  {}",
            c.what,
            c.file.name(),
            c.line,
            c.fragment,
            all.join("\n  ")
        ))
    }
}

#[test]
fn the_base_configuration_is_valid() {
    let loaded = config::parse_texts(HACF, KEYS, RES, std::path::Path::new("/etc/ha.d"), "alpha");
    assert!(loaded.is_ok(), "{:?}", loaded.err());
}

#[test]
fn every_broken_configuration_is_reported_at_its_line() {
    let all = cases();
    assert!(all.len() >= 30);
    let failures: Vec<String> = all
        .iter()
        .enumerate()
        .filter_map(|(i, c)| run_case(i, c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// (ha.cf, authkeys, haresources overrides, file, line, fragment): accepted, with a warning.
type WarningCase = (
    Option<&'static str>,
    Option<&'static str>,
    F,
    usize,
    &'static str,
);

fn warning_cases() -> Vec<WarningCase> {
    use F::*;
    vec![
        (
            Some(
                "keepalive 2\ndeadtime 3\nwarntime 2500ms\ninitdead 30\nbcast hb0\nnode alpha bravo\nauto_failback on\n",
            ),
            None,
            HaCf,
            2,
            "not more than twice keepalive",
        ),
        (
            Some("deadtime 10\ninitdead 15\nbcast hb0\nnode alpha bravo\nauto_failback on\n"),
            None,
            HaCf,
            2,
            "initdead (15000 ms) is under twice deadtime",
        ),
        (
            Some("bcast hb0\nnode alpha bravo\n"),
            None,
            HaCf,
            0,
            "defaulting to legacy",
        ),
        (
            Some("bcast hb0\nnode alpha bravo\nauto_failback legacy\n"),
            None,
            HaCf,
            3,
            "legacy is deprecated",
        ),
        (
            Some("bcast hb0\nnode alpha bravo\nnice_failback on\n"),
            None,
            HaCf,
            3,
            "write auto_failback off instead",
        ),
        (
            Some("udp hb0\nnode alpha bravo\nauto_failback on\n"),
            None,
            HaCf,
            1,
            "old alias of 'bcast'",
        ),
        (
            Some("bcast no-such-if0\nnode alpha bravo\nauto_failback on\n"),
            None,
            HaCf,
            1,
            "interface 'no-such-if0' does not exist",
        ),
        (
            Some("bcast hb0\nnode alpha bravo\nauto_failback on\nwatchdog /dev/watchdog\n"),
            None,
            HaCf,
            4,
            "'watchdog' is accepted but has no effect",
        ),
        (
            Some("bcast hb0\nnode alpha bravo alpha\nauto_failback on\n"),
            None,
            HaCf,
            2,
            "listed twice",
        ),
        (
            None,
            Some("auth 1\n1 crc\n"),
            Keys,
            2,
            "crc authenticates nothing",
        ),
        (
            None,
            Some("1 sha1 k\nauth 1\n"),
            Keys,
            2,
            "comes after its key",
        ),
        (
            None,
            Some("auth 1\n1 sha1 k # comment\n"),
            Keys,
            2,
            "text after the key is ignored",
        ),
        (
            None,
            Some("auth 1\n1 sha1 #k\n"),
            Keys,
            2,
            "the key starts with '#'",
        ),
    ]
}

#[test]
fn suspicious_configurations_are_accepted_with_a_warning() {
    for (i, (hacf, keys, file, line, fragment)) in warning_cases().into_iter().enumerate() {
        let loaded = config::parse_texts(
            hacf.unwrap_or(HACF),
            keys.unwrap_or(KEYS),
            RES,
            std::path::Path::new("/etc/ha.d"),
            "alpha",
        )
        .unwrap_or_else(|e| panic!("case {i}: rejected: {e:?}"));
        let path = std::path::Path::new("/etc/ha.d").join(file.name());
        let all: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.file == path && w.line == line && w.to_string().contains(fragment)),
            "case {i}: wanted {}:{line} {fragment:?}, got {all:#?}",
            file.name()
        );
        assert!(all.iter().all(|w| w.contains(": warning: ")));
    }
}

#[test]
fn nice_failback_maps_like_the_original() {
    for (value, want) in [
        ("on", config::AutoFailback::Off),
        ("off", config::AutoFailback::Legacy),
    ] {
        let hacf = format!("bcast hb0\nnode alpha bravo\nnice_failback {value}\n");
        let c = config::parse_texts(&hacf, KEYS, RES, std::path::Path::new("/etc/ha.d"), "alpha")
            .unwrap()
            .config;
        assert_eq!(c.ha.auto_failback, want);
    }
}
