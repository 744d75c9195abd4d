//! `ha.cf` parser and validator (spec §5.1, §5.2, §9).
//!
//! One directive per line, `#` starts a comment anywhere, values are separated by blanks or
//! commas. Every problem is collected with its line so `--check` can show them all at once.

use std::path::{Path, PathBuf};

use super::error::Diagnostics;
use super::model::{
    AutoFailback, FenceDevice, FenceLine, HaCf, Medium, Millis, MsgFmt, PingGroup, Respawn,
};
use super::suggest::closest;
use super::time::parse_time;

/// Directives we implement.
const SUPPORTED: &[&str] = &[
    "node",
    "keepalive",
    "deadtime",
    "warntime",
    "initdead",
    "deadping",
    "udpport",
    "bcast",
    "serial",
    "baud",
    "ucast6",
    "mcast6",
    "udp",
    "ucast",
    "mcast",
    "auto_failback",
    "nice_failback",
    "ping",
    "ping_group",
    "respawn",
    "logfile",
    "debugfile",
    "logfacility",
    "realtime",
    "debug",
    "msgfmt",
    "hopfudge",
    "max_rexmit_delay",
    "crm",
    "pacemaker",
    "autojoin",
    "ipfail",
    "ipfail_holddown",
    "resource_timeout",
    "crash_guard",
    "native_addresses",
    "garp_count",
    "garp_interval",
    "garp_repeat_delay",
    "notify",
    "metrics",
    "stonith",
    "stonith_host",
    "fence_agent",
    "fence_delay",
    "fence_timeout",
    "fence_check",
    "monitor",
    "monitor_default",
];

/// Directives the original accepts that mean nothing here: accepted with a warning.
const IGNORED: &[&str] = &[
    "watchdog",
    "apiauth",
    "compression",
    "compression_threshold",
    "traditional_compression",
    "coredumps",
    "coreroot",
    "use_logd",
    "conn_logd_time",
    "syslogmsgfmt",
    "log_badpack",
    "rtprio",
    "memreserve",
    "hbgenmethod",
    "uuidfrom",
    "cluster",
    "quorum_server",
    "env",
    "hbaping",
    "failfast",
    "crm_daemon_dir",
    "crmd_spawns_pengine",
    "record_config_changes",
    "record_pengine_inputs",
    "enable_config_writes",
    "use_apphbd",
    "normalpoll",
];

/// Directives whose value is the whole rest of the line rather than a list.
const WHOLE_LINE: &[&str] = &[
    "ucast",
    "mcast",
    "mcast6",
    "ucast6",
    "ping_group",
    "stonith",
    "stonith_host",
    "fence_agent",
    "monitor",
    "monitor_default",
    "apiauth",
    "respawn",
    "failfast",
];

const FACILITIES: &[&str] = &[
    "none", "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog",
    "user", "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// A timer as read, with the line it came from (None: defaulted).
#[derive(Clone, Copy)]
struct Timer {
    value: Millis,
    line: Option<usize>,
}

impl Timer {
    fn at(&self) -> usize {
        self.line.unwrap_or(0)
    }
}

/// Where things were set, for validation messages that point at the right line.
#[derive(Default)]
struct Lines {
    first_node: Option<usize>,
    udpport: Option<usize>,
    first_port_medium: Option<usize>,
    /// First `serial` line.
    serial: Option<usize>,
    /// The `msgfmt netstring` line.
    netstring: Option<usize>,
}

/// What the parse of one line feeds into.
struct State<'a> {
    file: &'a Path,
    source: &'a str,
    diags: &'a mut Diagnostics,
    ha: HaCf,
    keepalive: Option<Timer>,
    deadtime: Option<Timer>,
    warntime: Option<Timer>,
    initdead: Option<Timer>,
    deadping: Option<Timer>,
    ipfail_holddown: Option<Timer>,
    auto_failback_set: bool,
    node_lines: Vec<usize>,
    media_lines: Vec<usize>,
    lines: Lines,
}

/// Default port: `ha-cluster` in /etc/services, else 694 (read once per process).
pub fn default_udpport() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(|| {
        std::fs::read_to_string("/etc/services")
            .ok()
            .and_then(|text| services_port(&text, "ha-cluster"))
            .unwrap_or(694)
    })
}

/// Finds `NAME PORT/udp` in /etc/services text.
fn services_port(text: &str, name: &str) -> Option<u16> {
    text.lines().find_map(|l| {
        let l = l.split('#').next().unwrap_or("");
        let mut words = l.split_whitespace();
        let service = words.next()?;
        let port_proto = words.next()?;
        let aliases: Vec<&str> = words.collect();
        if service != name && !aliases.contains(&name) {
            return None;
        }
        let (port, proto) = port_proto.split_once('/')?;
        if proto != "udp" {
            return None;
        }
        port.parse().ok()
    })
}

fn empty_hacf(udpport: u16) -> HaCf {
    HaCf {
        keepalive: 1000,
        deadtime: 30000,
        warntime: 15000,
        initdead: 30000,
        deadping: 30000,
        udpport,
        media: Vec::new(),
        nodes: Vec::new(),
        ping_nodes: Vec::new(),
        ping_groups: Vec::new(),
        auto_failback: AutoFailback::Legacy,
        logfile: None,
        debugfile: None,
        logfacility: None,
        realtime: true,
        debug: 0,
        msgfmt: MsgFmt::Classic,
        baud: 19200,
        max_rexmit_delay: 250,
        hopfudge: 1,
        respawn: Vec::new(),
        notify: Vec::new(),
        metrics: None,
        fencing: Default::default(),
        monitoring: Default::default(),
        ipfail: false,
        ipfail_holddown: 90000,
        resource_timeout: 60000,
        crash_guard: true,
        vip: Default::default(),
        directives: Vec::new(),
    }
}

/// Parses a boolean the way the original does (true/on/yes/y/1, false/off/no/n/0, any case).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Whether a network interface exists on this machine.
fn interface_exists(iface: &str) -> bool {
    !iface.is_empty()
        && !iface.contains('/')
        && iface != "."
        && iface != ".."
        && Path::new("/sys/class/net").join(iface).exists()
}

/// Every directive that has a default, with it (`heartbeat -D`), as `ha.cf` would write it.
pub fn default_directives() -> Vec<(String, String)> {
    let mut diags = Diagnostics::default();
    parse_with_port("", Path::new("ha.cf"), "", default_udpport(), &mut diags).directives
}

/// Parses and validates `ha.cf` text. `local` is this node's (lower-cased) name.
/// Always returns a configuration (defaults where unreadable); problems go to `diags`.
pub fn parse(text: &str, file: &Path, local: &str, diags: &mut Diagnostics) -> HaCf {
    parse_with_port(text, file, local, default_udpport(), diags)
}

/// As [`parse`], with the default UDP port given (deterministic for tests).
pub fn parse_with_port(
    text: &str,
    file: &Path,
    local: &str,
    udpport: u16,
    diags: &mut Diagnostics,
) -> HaCf {
    let mut st = State {
        file,
        source: text,
        diags,
        ha: empty_hacf(udpport),
        keepalive: None,
        deadtime: None,
        warntime: None,
        initdead: None,
        deadping: None,
        ipfail_holddown: None,
        auto_failback_set: false,
        node_lines: Vec::new(),
        media_lines: Vec::new(),
        lines: Lines::default(),
    };
    for (i, raw) in text.lines().enumerate() {
        st.line(i + 1, raw);
    }
    st.finish(local);
    st.ha
}

impl State<'_> {
    /// The text of line `n` (1-based), for diagnostics raised after the whole file is read.
    fn raw_at(&self, n: usize) -> String {
        n.checked_sub(1)
            .and_then(|i| self.source.lines().nth(i))
            .unwrap_or("")
            .to_string()
    }

    /// An error found after reading: the line's text is looked up.
    fn late_err(&mut self, line: usize, message: String, hint: &str) {
        let raw = self.raw_at(line);
        self.err(line, &raw, message, hint);
    }

    fn late_warn(&mut self, line: usize, message: String, hint: &str) {
        let raw = self.raw_at(line);
        self.warn(line, &raw, message, hint);
    }

    fn err(&mut self, line: usize, text: &str, message: String, hint: &str) {
        self.diags.error(self.file, line, text, message, hint);
    }

    fn warn(&mut self, line: usize, text: &str, message: String, hint: &str) {
        self.diags.warn(self.file, line, text, message, hint);
    }

    fn line(&mut self, n: usize, raw: &str) {
        let content = raw.split('#').next().unwrap_or("").trim_end_matches('\r');
        let content = content.trim();
        if content.is_empty() {
            return;
        }
        let (name_raw, rest) = match content.find(|c: char| c.is_whitespace()) {
            Some(i) => (&content[..i], content[i..].trim()),
            None => (content, ""),
        };
        let name = name_raw.to_ascii_lowercase();
        if !SUPPORTED.contains(&name.as_str()) && !IGNORED.contains(&name.as_str()) {
            let mut all: Vec<&str> = SUPPORTED.to_vec();
            all.extend_from_slice(IGNORED);
            let hint = match closest(&name, &all) {
                Some(c) => format!("did you mean '{c}'?"),
                None => "see the directives section of the sample ha.cf".to_string(),
            };
            self.err(n, raw, format!("unknown directive '{name_raw}'"), &hint);
            return;
        }
        self.ha.directives.push((name.clone(), rest.to_string()));
        if rest.is_empty() {
            self.err(n, raw, format!("directive '{name}' needs a value"), "");
            return;
        }
        if WHOLE_LINE.contains(&name.as_str()) {
            let words: Vec<&str> = rest.split_whitespace().collect();
            self.whole_line(n, raw, &name, &words);
        } else {
            let values: Vec<&str> = rest
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|v| !v.is_empty())
                .collect();
            self.list(n, raw, &name, &values);
        }
    }

    /// Directives taking the rest of the line.
    fn whole_line(&mut self, n: usize, raw: &str, name: &str, words: &[&str]) {
        match name {
            "ucast" => {
                let [iface, peer] = words else {
                    self.err(
                        n,
                        raw,
                        "ucast needs an interface and a peer address".into(),
                        "ucast IFACE PEER-IP",
                    );
                    return;
                };
                self.port_medium(n, raw, iface);
                self.ha.media.push(Medium::Ucast {
                    iface: iface.to_string(),
                    peer: peer.to_string(),
                });
            }
            "mcast" | "mcast6" => self.multicast(n, raw, name, words),
            "ucast6" => {
                let [iface, peer] = words else {
                    self.err(
                        n,
                        raw,
                        "ucast6 needs an interface and a peer IPv6 address".into(),
                        "ucast6 IFACE PEER-IPv6, e.g. ucast6 eth1 2001:db8::2",
                    );
                    return;
                };
                let Some(peer) = peer
                    .parse::<std::net::Ipv6Addr>()
                    .ok()
                    .filter(|a| !a.is_multicast() && !a.is_unspecified())
                else {
                    self.err(
                        n,
                        raw,
                        format!("ucast6 peer '{peer}' is not an IPv6 unicast address"),
                        "e.g. 2001:db8::2 or fe80::2 (a name is not accepted here)",
                    );
                    return;
                };
                self.port_medium(n, raw, iface);
                self.ha.media.push(Medium::Ucast6 {
                    iface: iface.to_string(),
                    peer,
                });
            }
            "monitor" | "monitor_default" => self.monitor(n, raw, name, words),
            "ping_group" => {
                let Some((group, hosts)) = words.split_first().filter(|(_, h)| !h.is_empty())
                else {
                    self.err(
                        n,
                        raw,
                        "ping_group needs a name and at least one host".into(),
                        "ping_group NAME HOST...",
                    );
                    return;
                };
                self.ha.ping_groups.push(PingGroup {
                    name: group.to_string(),
                    hosts: hosts.iter().map(|h| h.to_string()).collect(),
                });
            }
            "stonith" => {
                let [kind, file] = words else {
                    self.err(
                        n,
                        raw,
                        "stonith needs a device type and its configuration file".into(),
                        "stonith TYPE /PATH/TO/CONFIG, e.g. stonith external/ipmi /etc/ha.d/ipmi.cfg (see stonith -L)",
                    );
                    return;
                };
                self.ha.fencing.lines.push(FenceLine {
                    host: None,
                    device: FenceDevice::StonithFile {
                        kind: kind.to_string(),
                        file: PathBuf::from(file),
                    },
                });
            }
            "stonith_host" => {
                let [host, kind, params @ ..] = words else {
                    self.err(
                        n,
                        raw,
                        "stonith_host needs a host (or *), a device type and its parameters".into(),
                        "stonith_host * external/ipmi nodeb 192.0.2.20 admin secret lan",
                    );
                    return;
                };
                self.ha.fencing.lines.push(FenceLine {
                    host: Some(host.to_string()),
                    device: FenceDevice::StonithParams {
                        kind: kind.to_string(),
                        params: params.join(" "),
                    },
                });
            }
            "fence_agent" => {
                let usage = "fence_agent /usr/sbin/fence_AGENT [NAME=VALUE...], e.g. fence_agent /usr/sbin/fence_ipmilan ip=192.0.2.20 username=admin password=secret";
                let [program, options @ ..] = words else {
                    self.err(n, raw, "fence_agent needs a program".into(), usage);
                    return;
                };
                if !program.starts_with('/') {
                    self.err(
                        n,
                        raw,
                        format!("fence_agent program '{program}' is not an absolute path"),
                        usage,
                    );
                    return;
                }
                let mut parsed = Vec::new();
                for o in options {
                    match o.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            parsed.push((k.to_string(), v.to_string()))
                        }
                        _ => {
                            self.err(
                                n,
                                raw,
                                format!("fence_agent option '{o}' is not NAME=VALUE"),
                                usage,
                            );
                            return;
                        }
                    }
                }
                self.ha.fencing.lines.push(FenceLine {
                    host: None,
                    device: FenceDevice::Agent {
                        program: PathBuf::from(program),
                        options: parsed,
                    },
                });
            }
            "respawn" => {
                let [user, path, ..] = words else {
                    self.err(
                        n,
                        raw,
                        "respawn needs a user and a program".into(),
                        "respawn USER /ABSOLUTE/PATH [ARGS]",
                    );
                    return;
                };
                if !path.starts_with('/') {
                    self.err(
                        n,
                        raw,
                        format!("respawn program '{path}' is not an absolute path"),
                        "respawn USER /ABSOLUTE/PATH [ARGS]",
                    );
                    return;
                }
                if path.rsplit('/').next() == Some("ipfail") {
                    // ipfail is built in: the line turns it on instead of running the C program.
                    self.ha.ipfail = true;
                    return;
                }
                self.ha.respawn.push(Respawn {
                    user: user.to_string(),
                    command: words[1..].join(" "),
                });
            }
            _ => self.ignored(n, raw, name),
        }
    }

    /// `mcast IFACE GROUP PORT TTL LOOP` and 3.0.6's `mcast6 IFACE GROUP PORT HOPS LOOP`.
    fn multicast(&mut self, n: usize, raw: &str, name: &str, words: &[&str]) {
        let v6 = name == "mcast6";
        let (usage, ttl_word, range) = if v6 {
            (
                "mcast6 IFACE GROUP PORT HOPS LOOP, e.g. mcast6 eth1 ff02::694 694 1 0",
                "hops",
                "use ff02::/16 (link) or ff05::/16 (site) addresses",
            )
        } else {
            (
                "mcast IFACE GROUP PORT TTL LOOP, e.g. mcast eth1 239.0.0.1 694 1 0",
                "ttl",
                "use 224.0.0.0-239.255.255.255",
            )
        };
        let [iface, group, port, ttl, loopback] = words else {
            self.err(n, raw, format!("{name} needs five values"), usage);
            return;
        };
        let family = if v6 { "IPv6" } else { "IPv4" };
        let Some(group) = group
            .parse::<std::net::IpAddr>()
            .ok()
            .filter(|g| g.is_multicast() && g.is_ipv6() == v6)
        else {
            self.err(
                n,
                raw,
                format!("{name} group '{group}' is not an {family} multicast address"),
                range,
            );
            return;
        };
        let Some(port) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
            self.err(n, raw, format!("invalid {name} port '{port}'"), usage);
            return;
        };
        let Ok(ttl) = ttl.parse::<u8>() else {
            self.err(
                n,
                raw,
                format!("invalid {name} {ttl_word} '{ttl}'"),
                &format!("{ttl_word} is 0-255"),
            );
            return;
        };
        let loopback = match *loopback {
            "0" => false,
            "1" => true,
            other => {
                self.err(
                    n,
                    raw,
                    format!("invalid {name} loop '{other}'"),
                    "loop is 0 or 1",
                );
                return;
            }
        };
        self.check_iface(n, raw, iface);
        self.media_lines.push(n);
        let iface = iface.to_string();
        self.ha.media.push(match group {
            std::net::IpAddr::V4(group) => Medium::Mcast {
                iface,
                group,
                port,
                ttl,
                loopback,
            },
            std::net::IpAddr::V6(group) => Medium::Mcast6 {
                iface,
                group,
                port,
                hops: ttl,
                loopback,
            },
        });
    }

    /// `serial DEVICE`: an absolute path; a missing or non-character device is a warning, as a
    /// missing interface is (the file may be checked on another host).
    fn serial(&mut self, n: usize, raw: &str, device: &str) {
        if !device.starts_with('/') {
            self.err(
                n,
                raw,
                format!("serial port '{device}' is not a full path"),
                "serial /dev/ttyS0",
            );
            return;
        }
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(device) {
            Ok(m) if m.file_type().is_char_device() => {}
            Ok(_) => self.warn(
                n,
                raw,
                format!("serial port '{device}' is not a character device"),
                "a tty such as /dev/ttyS0 or /dev/ttyUSB0",
            ),
            Err(_) => self.warn(
                n,
                raw,
                format!("serial port '{device}' does not exist on this machine"),
                "fine if this file is checked on another host",
            ),
        }
        self.media_lines.push(n);
        self.lines.serial.get_or_insert(n);
        self.ha.media.push(Medium::Serial {
            device: device.to_string(),
        });
    }

    /// Records a medium that uses `udpport` (bcast, ucast).
    fn port_medium(&mut self, n: usize, raw: &str, iface: &str) {
        self.check_iface(n, raw, iface);
        self.media_lines.push(n);
        self.lines.first_port_medium.get_or_insert(n);
    }

    fn check_iface(&mut self, n: usize, raw: &str, iface: &str) {
        if !interface_exists(iface) {
            self.warn(
                n,
                raw,
                format!("interface '{iface}' does not exist on this machine"),
                "fine if this file is checked on another host",
            );
        }
    }

    fn ignored(&mut self, n: usize, raw: &str, name: &str) {
        self.warn(
            n,
            raw,
            format!("directive '{name}' is accepted but has no effect in heartbeat-rs"),
            "the line can be removed",
        );
    }

    /// `monitor TARGET key=value…` / `monitor_default key=value…` (crate::config::monitoring).
    fn monitor(&mut self, n: usize, raw: &str, name: &str, words: &[&str]) {
        let (target, settings) = if name == "monitor" {
            match words.split_first() {
                Some((t, rest)) if !t.contains('=') => (Some(*t), rest),
                _ => {
                    self.err(
                        n,
                        raw,
                        "monitor needs a haresources resource first".into(),
                        "monitor RESOURCE [interval=10s timeout=20s fall=1 rise=1 max_restarts=3 window=10min failure_timeout=0]",
                    );
                    return;
                }
            }
        } else {
            (None, words)
        };
        match super::monitoring::parse_settings(settings) {
            Ok(settings) => match target {
                Some(t) => self
                    .ha
                    .monitoring
                    .lines
                    .push(super::monitoring::MonitorLine {
                        target: t.to_string(),
                        settings,
                        line: n,
                    }),
                None => self.ha.monitoring.defaults.extend(settings),
            },
            Err((message, hint)) => self.err(n, raw, message, &hint),
        }
    }

    fn one<'v>(&mut self, n: usize, raw: &str, name: &str, values: &[&'v str]) -> Option<&'v str> {
        match values {
            [v] => Some(v),
            [_, second, ..] => {
                let unit = parse_time(&format!("1{second}")).is_ok();
                let hint = if unit {
                    "glue the unit to the number, e.g. 1500ms"
                } else {
                    "give one value"
                };
                self.err(n, raw, format!("'{name}' takes one value"), hint);
                None
            }
            [] => None,
        }
    }

    fn timer(&mut self, n: usize, raw: &str, name: &str, values: &[&str]) -> Option<Timer> {
        let v = self.one(n, raw, name, values)?;
        match parse_time(v) {
            Ok(ms) => Some(Timer {
                value: ms,
                line: Some(n),
            }),
            Err(e) => {
                self.err(
                    n,
                    raw,
                    format!("{name}: {e}"),
                    "seconds (2, 1.5) or milliseconds glued to the number (1500ms)",
                );
                None
            }
        }
    }

    fn boolean(&mut self, n: usize, raw: &str, name: &str, values: &[&str]) -> Option<bool> {
        let v = self.one(n, raw, name, values)?;
        let b = parse_bool(v);
        if b.is_none() {
            self.err(
                n,
                raw,
                format!("{name}: '{v}' is not on or off"),
                "use on or off",
            );
        }
        b
    }

    fn small_number(&mut self, n: usize, raw: &str, name: &str, values: &[&str]) -> Option<u8> {
        let v = self.one(n, raw, name, values)?;
        let r = v.parse::<u8>().ok();
        if r.is_none() {
            self.err(n, raw, format!("{name}: '{v}' is not a number 0-255"), "");
        }
        r
    }

    /// Directives taking a list of values (or one scalar).
    fn list(&mut self, n: usize, raw: &str, name: &str, values: &[&str]) {
        match name {
            "node" => {
                self.lines.first_node.get_or_insert(n);
                for v in values {
                    let node = v.to_lowercase();
                    if self.ha.nodes.contains(&node) {
                        self.warn(n, raw, format!("node '{node}' listed twice"), "");
                    } else {
                        self.ha.nodes.push(node);
                        self.node_lines.push(n);
                    }
                }
            }
            "serial" => {
                for device in values {
                    self.serial(n, raw, device);
                }
            }
            "baud" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    match v.parse::<u32>() {
                        Ok(b) if crate::config::SERIAL_BAUDS.contains(&b) => self.ha.baud = b,
                        _ => self.err(
                            n,
                            raw,
                            format!("unsupported baud rate '{v}'"),
                            "one of 9600, 19200, 38400, 57600, 115200, 230400",
                        ),
                    }
                }
            }
            "bcast" | "udp" => {
                if name == "udp" {
                    self.warn(
                        n,
                        raw,
                        "'udp' is an old alias of 'bcast'".into(),
                        "write bcast",
                    );
                }
                for iface in values {
                    self.port_medium(n, raw, iface);
                    self.ha.media.push(Medium::Bcast {
                        iface: iface.to_string(),
                    });
                }
            }
            "ping" => self
                .ha
                .ping_nodes
                .extend(values.iter().map(|v| v.to_string())),
            "keepalive" => self.keepalive = self.timer(n, raw, name, values).or(self.keepalive),
            "deadtime" => self.deadtime = self.timer(n, raw, name, values).or(self.deadtime),
            "warntime" => self.warntime = self.timer(n, raw, name, values).or(self.warntime),
            "initdead" => self.initdead = self.timer(n, raw, name, values).or(self.initdead),
            "deadping" => self.deadping = self.timer(n, raw, name, values).or(self.deadping),
            "ipfail_holddown" => {
                self.ipfail_holddown = self.timer(n, raw, name, values).or(self.ipfail_holddown)
            }
            "resource_timeout" => {
                if let Some(t) = self.timer(n, raw, name, values) {
                    if t.value == 0 {
                        self.err(n, raw, "resource_timeout must be above 0".into(), "");
                    } else {
                        self.ha.resource_timeout = t.value;
                    }
                }
            }
            "udpport" => self.udpport(n, raw, values),
            "auto_failback" => self.auto_failback(n, raw, values),
            "nice_failback" => {
                if let Some(b) = self.boolean(n, raw, name, values) {
                    self.warn(
                        n,
                        raw,
                        "nice_failback is obsolete".into(),
                        if b {
                            "write auto_failback off instead"
                        } else {
                            "write auto_failback on (or legacy) instead"
                        },
                    );
                    if !self.auto_failback_set {
                        self.ha.auto_failback = if b {
                            AutoFailback::Off
                        } else {
                            AutoFailback::Legacy
                        };
                    }
                }
            }
            "logfile" | "debugfile" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    let p = Some(v.into());
                    if name == "logfile" {
                        self.ha.logfile = p;
                    } else {
                        self.ha.debugfile = p;
                    }
                }
            }
            "logfacility" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    let lower = v.to_ascii_lowercase();
                    if FACILITIES.contains(&lower.as_str()) {
                        self.ha.logfacility = Some(lower);
                    } else {
                        let hint = closest(&lower, FACILITIES)
                            .map(|c| format!("did you mean '{c}'?"))
                            .unwrap_or_else(|| "e.g. daemon, local0 or none".into());
                        self.err(n, raw, format!("unknown syslog facility '{v}'"), &hint);
                    }
                }
            }
            "realtime" => {
                if let Some(b) = self.boolean(n, raw, name, values) {
                    self.ha.realtime = b;
                }
            }
            "crash_guard" => {
                if let Some(b) = self.boolean(n, raw, name, values) {
                    self.ha.crash_guard = b;
                }
            }
            "fence_delay" => {
                let [node, time] = values else {
                    self.err(
                        n,
                        raw,
                        "fence_delay needs a node and a time".into(),
                        "fence_delay NODE TIME, e.g. fence_delay nodea 5 (nodea wins a fence race)",
                    );
                    return;
                };
                match super::time::parse_time(time) {
                    Ok(t) => self.ha.fencing.delays.push((node.to_ascii_lowercase(), t)),
                    Err(e) => self.err(
                        n,
                        raw,
                        format!("fence_delay: {e}"),
                        "seconds (5) or milliseconds (2500ms)",
                    ),
                }
            }
            "fence_check" => {
                if let Some(t) = self.timer(n, raw, name, values) {
                    self.ha.fencing.check_interval = t.value;
                }
            }
            "fence_timeout" => {
                if let Some(t) = self.timer(n, raw, name, values) {
                    if t.value == 0 {
                        self.err(n, raw, "fence_timeout must be above 0".into(), "");
                    } else {
                        self.ha.fencing.timeout = t.value;
                    }
                }
            }
            "notify" => {
                if let Some(p) = self.one(n, raw, name, values) {
                    if p.starts_with('/') {
                        self.ha.notify.push(PathBuf::from(p));
                    } else {
                        self.err(
                            n,
                            raw,
                            format!("notify program '{p}' is not an absolute path"),
                            "notify /ABSOLUTE/PATH (called as PATH TYPE NAME STATE REASON)",
                        );
                    }
                }
            }
            "metrics" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    match v.parse::<std::net::SocketAddr>() {
                        Ok(a) => {
                            if !a.ip().is_loopback() {
                                self.warn(
                                    n,
                                    raw,
                                    format!("metrics on {a} is reachable from the network without authentication"),
                                    "prefer 127.0.0.1:PORT and a scraper on the same host",
                                );
                            }
                            self.ha.metrics = Some(a);
                        }
                        Err(_) => self.err(
                            n,
                            raw,
                            format!("metrics address '{v}' is not IP:PORT"),
                            "metrics 127.0.0.1:9694",
                        ),
                    }
                }
            }
            "native_addresses" => {
                if let Some(b) = self.boolean(n, raw, name, values) {
                    self.ha.vip.native = b;
                }
            }
            "garp_count" => {
                if let Some(c) = self.small_number(n, raw, name, values) {
                    self.ha.vip.garp_count = c;
                }
            }
            "garp_interval" => {
                if let Some(t) = self.timer(n, raw, name, values) {
                    if t.value == 0 || t.value > 60_000 {
                        self.err(
                            n,
                            raw,
                            "garp_interval must be above 0 and at most 60 s".into(),
                            "e.g. garp_interval 200ms",
                        );
                    } else {
                        self.ha.vip.garp_interval = t.value;
                    }
                }
            }
            "garp_repeat_delay" => {
                if let Some(t) = self.timer(n, raw, name, values) {
                    self.ha.vip.garp_repeat_delay = t.value;
                }
            }
            "ipfail" => {
                if let Some(b) = self.boolean(n, raw, name, values) {
                    self.ha.ipfail = b;
                }
            }
            "debug" => {
                if let Some(d) = self.small_number(n, raw, name, values) {
                    self.ha.debug = d;
                }
            }
            "hopfudge" => {
                if let Some(d) = self.small_number(n, raw, name, values) {
                    self.ha.hopfudge = d;
                }
            }
            "max_rexmit_delay" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    match v.parse::<u64>() {
                        Ok(ms) if ms > 0 && ms <= 3_600_000 => self.ha.max_rexmit_delay = ms,
                        _ => self.err(
                            n,
                            raw,
                            format!("max_rexmit_delay '{v}' is not a positive number of ms"),
                            "e.g. 250",
                        ),
                    }
                }
            }
            "msgfmt" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    match v.to_ascii_lowercase().as_str() {
                        "classic" => self.ha.msgfmt = MsgFmt::Classic,
                        "netstring" => {
                            self.ha.msgfmt = MsgFmt::Netstring;
                            self.lines.netstring = Some(n);
                        }
                        _ => self.err(
                            n,
                            raw,
                            format!("unknown msgfmt '{v}'"),
                            "classic or netstring",
                        ),
                    }
                }
            }
            "crm" | "pacemaker" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    if parse_bool(v) == Some(false) {
                        self.warn(
                            n,
                            raw,
                            format!("'{name} {v}' is the only mode heartbeat-rs has"),
                            "the line can be removed",
                        );
                    } else {
                        self.err(
                            n,
                            raw,
                            format!("'{name} {v}' asks for Pacemaker (CRM) mode; heartbeat-rs is v1 (haresources) only"),
                            "remove the line or set it to off",
                        );
                    }
                }
            }
            "autojoin" => {
                if let Some(v) = self.one(n, raw, name, values) {
                    if v.eq_ignore_ascii_case("none") {
                        self.ignored(n, raw, name);
                    } else {
                        self.err(
                            n,
                            raw,
                            format!(
                                "autojoin {v} conflicts with haresources (v1) resource management"
                            ),
                            "use autojoin none and list both nodes",
                        );
                    }
                }
            }
            _ => self.ignored(n, raw, name),
        }
    }

    fn udpport(&mut self, n: usize, raw: &str, values: &[&str]) {
        let Some(v) = self.one(n, raw, "udpport", values) else {
            return;
        };
        let Some(port) = v.parse::<u16>().ok().filter(|p| *p > 0) else {
            self.err(
                n,
                raw,
                format!("invalid udpport '{v}'"),
                "a port 1-65535, e.g. 694",
            );
            return;
        };
        if let Some(m) = self.lines.first_port_medium {
            self.err(
                n,
                raw,
                format!("udpport comes after the medium on line {m} that uses it"),
                &format!("move the udpport line above line {m}"),
            );
            return;
        }
        self.lines.udpport = Some(n);
        self.ha.udpport = port;
    }

    fn auto_failback(&mut self, n: usize, raw: &str, values: &[&str]) {
        let Some(v) = self.one(n, raw, "auto_failback", values) else {
            return;
        };
        let mode = if v.eq_ignore_ascii_case("legacy") {
            Some(AutoFailback::Legacy)
        } else {
            parse_bool(v).map(|b| {
                if b {
                    AutoFailback::On
                } else {
                    AutoFailback::Off
                }
            })
        };
        match mode {
            Some(m) => {
                if m == AutoFailback::Legacy {
                    self.warn(
                        n,
                        raw,
                        "auto_failback legacy is deprecated".into(),
                        "use on or off on both nodes",
                    );
                }
                self.ha.auto_failback = m;
                self.auto_failback_set = true;
            }
            None => self.err(
                n,
                raw,
                format!("auto_failback '{v}' is not on, off or legacy"),
                "auto_failback on|off|legacy",
            ),
        }
    }

    /// Defaults and cross-directive rules, once every line is read.
    fn finish(&mut self, local: &str) {
        let keepalive = self.keepalive.unwrap_or(Timer {
            value: 1000,
            line: None,
        });
        let deadtime = self.deadtime.unwrap_or(Timer {
            value: 30000,
            line: None,
        });
        self.ha.keepalive = keepalive.value;
        self.ha.deadtime = deadtime.value;
        if keepalive.value == 0 {
            self.late_err(keepalive.at(), "keepalive must be above 0".into(), "");
        }
        let (dl, kl) = (deadtime.at(), keepalive.at());
        let at = if deadtime.line.is_some() { dl } else { kl };
        if deadtime.value <= keepalive.value {
            self.late_err(
                at,
                format!(
                    "deadtime ({} ms) must be greater than keepalive ({} ms)",
                    deadtime.value, keepalive.value
                ),
                "deadtime is usually 2-4 times keepalive or more",
            );
        } else if deadtime.value <= 2 * keepalive.value {
            self.late_warn(
                at,
                format!(
                    "deadtime ({} ms) is not more than twice keepalive ({} ms)",
                    deadtime.value, keepalive.value
                ),
                "heartbeat 3.0.6 refuses this; one lost packet is nearly fatal",
            );
        }
        let warntime = self.warntime.unwrap_or(Timer {
            value: deadtime.value / 2,
            line: None,
        });
        self.ha.warntime = warntime.value;
        if warntime.line.is_some()
            && (warntime.value < keepalive.value || warntime.value >= deadtime.value)
        {
            self.late_err(
                warntime.at(),
                format!(
                    "warntime ({} ms) must lie between keepalive ({} ms) and deadtime ({} ms)",
                    warntime.value, keepalive.value, deadtime.value
                ),
                "leave warntime out to use deadtime/2",
            );
        }
        let init_default = if deadtime.value > 10_000 {
            deadtime.value
        } else if deadtime.value < 6000 {
            12_000
        } else {
            2 * deadtime.value
        };
        let initdead = self.initdead.unwrap_or(Timer {
            value: init_default,
            line: None,
        });
        self.ha.initdead = initdead.value;
        if initdead.value < deadtime.value {
            self.late_err(
                initdead.at(),
                format!(
                    "initdead ({} ms) is smaller than deadtime ({} ms)",
                    initdead.value, deadtime.value
                ),
                "initdead covers slow network start-up: at least deadtime, better twice it",
            );
        } else if initdead.line.is_some() && initdead.value < 2 * deadtime.value {
            self.late_warn(
                initdead.at(),
                format!(
                    "initdead ({} ms) is under twice deadtime ({} ms)",
                    initdead.value, deadtime.value
                ),
                "slow network start-up may make the peer look dead",
            );
        }
        let deadping = self.deadping.unwrap_or(Timer {
            value: deadtime.value,
            line: None,
        });
        self.ha.deadping = deadping.value;
        if deadping.line.is_some() {
            if deadping.value <= keepalive.value {
                self.late_err(
                    deadping.at(),
                    format!(
                        "deadping ({} ms) must be greater than keepalive ({} ms)",
                        deadping.value, keepalive.value
                    ),
                    "",
                );
            } else if deadping.value <= 2 * keepalive.value {
                self.late_warn(
                    deadping.at(),
                    "deadping is not more than twice keepalive".into(),
                    "heartbeat 3.0.6 refuses this",
                );
            }
        }
        self.ha.ipfail_holddown = self
            .ipfail_holddown
            .map(|t| t.value)
            .unwrap_or(deadtime.value.saturating_mul(3));
        if let (Some(_), Some(at)) = (self.lines.serial, self.lines.netstring) {
            self.late_err(
                at,
                "msgfmt netstring cannot go over a serial line (its 7-bit line carries the classic text format)".into(),
                "keep msgfmt classic (the default) with serial media",
            );
        }
        if self.ha.media.is_empty() {
            self.late_err(
                0,
                "no heartbeat medium configured".into(),
                "add e.g. 'bcast eth1' or 'ucast eth1 PEER-IP'",
            );
        }
        if !self.auto_failback_set && self.ha.auto_failback == AutoFailback::Legacy {
            self.late_warn(
                0,
                "auto_failback not set: defaulting to legacy, which is deprecated".into(),
                "add 'auto_failback on' or 'auto_failback off' to both nodes",
            );
        }
        if self.ha.ipfail && self.ha.ping_nodes.is_empty() && self.ha.ping_groups.is_empty() {
            self.late_warn(
                0,
                "ipfail is on but no ping node is configured: it will never act".into(),
                "add 'ping ADDRESS' (e.g. the default gateway)",
            );
        }
        self.check_nodes(local);
        self.add_defaults();
    }

    fn check_nodes(&mut self, local: &str) {
        let nodes = self.ha.nodes.clone();
        if nodes.len() > 2 {
            let third = self.node_lines.get(2).copied().unwrap_or(0);
            self.late_err(
                third,
                format!(
                    "{} nodes configured; heartbeat-rs runs exactly two",
                    nodes.len()
                ),
                "for bigger clusters use Pacemaker with Corosync",
            );
        } else if nodes.len() < 2 {
            self.late_err(
                self.lines.first_node.unwrap_or(0),
                format!(
                    "{} node(s) configured; a pair needs exactly two",
                    nodes.len()
                ),
                "add 'node NAME' lines for both machines (uname -n)",
            );
        }
        if local.is_empty() {
            self.late_err(
                0,
                "cannot tell which node this is".into(),
                "pass --node NAME or write the name into nodeinfo",
            );
        } else if !nodes.iter().any(|n| n == local) {
            self.late_err(
                self.lines.first_node.unwrap_or(0),
                format!("this node '{local}' is not among the node lines"),
                "node names must match 'uname -n', or pass --node NAME",
            );
        }
    }

    /// Derived values are recorded as `<n>ms`, like the original's `HA_*` variables.
    fn add_defaults(&mut self) {
        let ha = &self.ha;
        let defaults: Vec<(&str, String)> = vec![
            ("keepalive", format!("{}ms", ha.keepalive)),
            ("deadtime", format!("{}ms", ha.deadtime)),
            ("warntime", format!("{}ms", ha.warntime)),
            ("initdead", format!("{}ms", ha.initdead)),
            ("deadping", format!("{}ms", ha.deadping)),
            ("udpport", ha.udpport.to_string()),
            ("auto_failback", "legacy".into()),
            ("hopfudge", "1".into()),
            ("realtime", "true".into()),
            ("msgfmt", "classic".into()),
            ("max_rexmit_delay", "250".into()),
            ("debug", "0".into()),
            ("cluster", "linux-ha".into()),
            ("ipfail_holddown", format!("{}ms", ha.ipfail_holddown)),
            ("resource_timeout", format!("{}ms", ha.resource_timeout)),
            ("crash_guard", "on".into()),
            ("native_addresses", "on".into()),
            ("garp_count", ha.vip.garp_count.to_string()),
            ("garp_interval", format!("{}ms", ha.vip.garp_interval)),
            (
                "garp_repeat_delay",
                format!("{}ms", ha.vip.garp_repeat_delay),
            ),
        ];
        for (name, value) in defaults {
            if !self.ha.directives.iter().any(|(n, _)| n == name) {
                self.ha.directives.push((name.to_string(), value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn reads_services_port() {
        let t = "ftp 21/tcp\nha-cluster 694/tcp\nha-cluster 694/udp # Heartbeat\n";
        assert_eq!(services_port(t, "ha-cluster"), Some(694));
        assert_eq!(services_port("x 1/udp\n", "ha-cluster"), None);
    }

    #[test]
    fn defaults_follow_the_original() {
        let mut d = Diagnostics::default();
        let ha = parse_with_port(
            "bcast eth9\nnode a b\nauto_failback on\n",
            Path::new("ha.cf"),
            "a",
            694,
            &mut d,
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(
            (ha.keepalive, ha.deadtime, ha.warntime),
            (1000, 30000, 15000)
        );
        assert_eq!((ha.initdead, ha.deadping, ha.udpport), (30000, 30000, 694));
        assert_eq!(ha.ipfail_holddown, 90000);
        assert!(
            ha.directives
                .contains(&("warntime".into(), "15000ms".into()))
        );
    }

    #[test]
    fn initdead_default_rule() {
        for (dead, init) in [("5", 12000), ("8", 16000), ("11", 11000)] {
            let mut d = Diagnostics::default();
            let text = format!("bcast eth9\nnode a b\ndeadtime {dead}\n");
            let ha = parse_with_port(&text, Path::new("ha.cf"), "a", 694, &mut d);
            assert_eq!(ha.initdead, init);
        }
    }

    #[test]
    fn fencing_lines_and_their_errors() {
        let mut d = Diagnostics::default();
        let text = "bcast eth9\nnode a b\nstonith external/ssh /etc/ha.d/ssh.cfg\n\
                    fence_agent /usr/sbin/fence_virsh ip=192.0.2.1 login=root\n\
                    fence_delay A 5\nfence_timeout 30\n";
        let ha = parse_with_port(text, Path::new("ha.cf"), "a", 694, &mut d);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(ha.fencing.lines.len(), 2);
        assert_eq!(ha.fencing.delay_for("a"), 5000);
        assert_eq!(ha.fencing.delay_for("b"), 0);
        assert_eq!(ha.fencing.timeout, 30_000);
        assert!(matches!(
            ha.fencing.device_for("a"),
            Some(FenceDevice::Agent { .. })
        ));
        for (bad, fragment) in [
            ("stonith external/ssh\n", "stonith needs a device type"),
            ("stonith_host *\n", "stonith_host needs a host"),
            ("fence_agent fence_virsh\n", "not an absolute path"),
            (
                "fence_agent /usr/sbin/fence_virsh ip\n",
                "is not NAME=VALUE",
            ),
            ("fence_delay a\n", "fence_delay needs a node and a time"),
            ("fence_delay a soon\n", "fence_delay:"),
            ("fence_timeout 0\n", "fence_timeout must be above 0"),
        ] {
            let mut d = Diagnostics::default();
            let text = format!("bcast eth9\nnode a b\n{bad}");
            parse_with_port(&text, Path::new("ha.cf"), "a", 694, &mut d);
            assert!(
                d.errors.iter().any(|e| e.to_string().contains(fragment)),
                "{bad:?}: {:?}",
                d.errors
            );
        }
    }

    #[test]
    fn respawn_ipfail_enables_builtin() {
        let mut d = Diagnostics::default();
        let text = "bcast eth9\nnode a b\nrespawn hacluster /usr/lib/heartbeat/ipfail\n";
        let ha = parse_with_port(text, Path::new("ha.cf"), "a", 694, &mut d);
        assert!(ha.ipfail);
        assert!(ha.respawn.is_empty());
    }

    #[test]
    fn reads_every_supported_kind_of_line() {
        let text = "udpport 695\nbcast lo, lo\nucast lo 192.0.2.2\nmcast lo 239.0.0.1 694 1 1\n\
                    node Alpha,bravo # the pair\nkeepalive 500ms\ndeadtime 2.5\nwarntime 1\n\
                    initdead 6\ndeadping 4\nping 192.0.2.254 192.0.2.253\nping_group gw 192.0.2.1 192.0.2.2\n\
                    respawn root /usr/bin/logger hello\nmsgfmt netstring\nhopfudge 2\ndebug 3\n\
                    realtime off\nmax_rexmit_delay 100\nlogfacility LOCAL0\nlogfile /tmp/x\n\
                    auto_failback yes\nipfail_holddown 30\nresource_timeout 1500ms\ncrash_guard no\n";
        let mut d = Diagnostics::default();
        let ha = parse_with_port(text, Path::new("ha.cf"), "alpha", 694, &mut d);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(ha.udpport, 695);
        assert_eq!(ha.media.len(), 4);
        assert_eq!(
            ha.media[3],
            Medium::Mcast {
                iface: "lo".into(),
                group: Ipv4Addr::new(239, 0, 0, 1),
                port: 694,
                ttl: 1,
                loopback: true
            }
        );
        assert_eq!(ha.nodes, ["alpha", "bravo"]);
        assert_eq!((ha.keepalive, ha.deadtime, ha.warntime), (500, 2500, 1000));
        assert_eq!((ha.initdead, ha.deadping), (6000, 4000));
        assert_eq!(ha.ping_nodes.len(), 2);
        assert_eq!(ha.ping_groups[0].hosts.len(), 2);
        assert_eq!(ha.respawn[0].command, "/usr/bin/logger hello");
        assert_eq!(ha.msgfmt, MsgFmt::Netstring);
        assert_eq!((ha.hopfudge, ha.debug, ha.realtime), (2, 3, false));
        assert_eq!(ha.max_rexmit_delay, 100);
        assert_eq!(ha.logfacility.as_deref(), Some("local0"));
        assert_eq!(ha.auto_failback, AutoFailback::On);
        assert_eq!((ha.ipfail_holddown, ha.resource_timeout), (30000, 1500));
        assert!(!ha.crash_guard);
        assert!(ha.directives.contains(&("deadtime".into(), "2.5".into())));
    }
}
