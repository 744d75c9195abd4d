//! The `ldirectord.cf` grammar, as ldirectord 4.x reads it: global `key=value` lines, and
//! `virtual=` sections whose lines are indented (a tab or at least four spaces). Every problem
//! is reported with its line; a directive we accept but do not act on is a warning, never a
//! silent surprise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use regex::bytes::{Regex, RegexBuilder};

use super::model::*;
use crate::config::Millis;
use crate::config::error::Diagnostics;
use crate::config::suggest::closest;
use crate::config::time::parse_time;

const GLOBAL_KEYS: &[&str] = &[
    "checktimeout",
    "negotiatetimeout",
    "checkinterval",
    "failurecount",
    "fallback",
    "fallback6",
    "fallbackcommand",
    "autoreload",
    "callback",
    "logfile",
    "quiescent",
    "cleanstop",
    "readdquiescent",
    "fork",
    "supervised",
    "execute",
    "emailalert",
    "emailalertfreq",
    "emailalertstatus",
    "emailalertfrom",
    "smtp",
    "maintenancedir",
    "checkcount",
    "virtual",
    "virtual6",
];

const SECTION_KEYS: &[&str] = &[
    "real",
    "real6",
    "request",
    "receive",
    "checktype",
    "checkcommand",
    "checktimeout",
    "negotiatetimeout",
    "checkcount",
    "failurecount",
    "checkinterval",
    "checkport",
    "login",
    "passwd",
    "database",
    "secret",
    "load",
    "scheduler",
    "persistent",
    "schedflags",
    "netmask",
    "protocol",
    "ops",
    "service",
    "httpmethod",
    "virtualhost",
    "fallback",
    "fallback6",
    "fallbackcommand",
    "quiescent",
    "emailalert",
    "emailalertfreq",
    "emailalertstatus",
    "monitorfile",
    "cleanstop",
    "smtp",
    "servicename",
    "comment",
];

/// Directives of ldirectord that this director reads but does not act on.
const IGNORED: &[&str] = &[
    "readdquiescent",
    "fork",
    "supervised",
    "execute",
    "emailalert",
    "emailalertfreq",
    "emailalertstatus",
    "emailalertfrom",
    "smtp",
    "maintenancedir",
    "checkcount",
    "login",
    "passwd",
    "database",
    "secret",
    "load",
    "schedflags",
    "ops",
    "monitorfile",
    "servicename",
    "comment",
];

/// Services of ldirectord whose negotiate check this director does not speak.
const UNSUPPORTED_SERVICES: &[&str] = &[
    "ftp",
    "http_proxy",
    "imap",
    "imaps",
    "ldap",
    "ldaps",
    "mysql",
    "nntp",
    "oracle",
    "pgsql",
    "pop",
    "pops",
    "radius",
    "sip",
    "submission",
];

/// Settings that may be global and per section; `None` is "not given here".
#[derive(Debug, Default, Clone)]
struct Shared {
    checktimeout: Option<Millis>,
    negotiatetimeout: Option<Millis>,
    checkinterval: Option<Millis>,
    failurecount: Option<u32>,
    quiescent: Option<bool>,
    fallback: Option<(usize, String, bool)>,
    fallbackcommand: Option<String>,
}

/// A section while it is read.
struct Section {
    line: usize,
    v6: bool,
    addr: VirtualAddr,
    shared: Shared,
    reals: Vec<(usize, String)>,
    request: Option<String>,
    receive: Option<Regex>,
    checktype: Option<CheckType>,
    service: Option<(usize, String)>,
    httpmethod: HttpMethod,
    virtualhost: Option<String>,
    checkcommand: Option<String>,
    checkport: Option<u16>,
    scheduler: String,
    persistent: Option<u32>,
    netmask: Option<String>,
    protocol: Option<(usize, Protocol)>,
}

/// Parses the text of an `ldirectord.cf`. Errors and warnings go to `diag`; the result is
/// usable only when `diag.errors` is empty.
pub fn parse(path: &Path, text: &str, diag: &mut Diagnostics) -> DirectorConfig {
    let mut p = Parser {
        path,
        diag,
        globals: Globals {
            autoreload: false,
            cleanstop: true,
            logfile: None,
            callback: None,
        },
        shared: Shared::default(),
        sections: Vec::new(),
    };
    let mut in_section = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue; // blank lines do not end a section (ldirectord's trap, not kept)
        }
        let indented = raw.starts_with('\t') || raw.starts_with("    ");
        let (key, value) = match split_directive(line.trim()) {
            Some(kv) => kv,
            None => {
                p.error(
                    n,
                    raw,
                    format!("'{}' is not a directive", line.trim()),
                    "write key=value",
                );
                continue;
            }
        };
        if indented {
            if !in_section {
                p.error(
                    n,
                    raw,
                    format!("'{key}' is indented but no virtual= section is open"),
                    "only the lines of a virtual= section are indented",
                );
                continue;
            }
            p.section_line(n, raw, &key, value);
        } else if key == "virtual" || key == "virtual6" {
            in_section = p.open_section(n, raw, key == "virtual6", value);
        } else {
            in_section = false;
            p.global_line(n, raw, &key, value);
        }
    }
    let virtuals = p.finish();
    DirectorConfig {
        path: path.to_path_buf(),
        globals: p.globals,
        virtuals,
    }
}

/// The line without a `#` comment outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key = value` → (lower-case key, value without surrounding blanks).
fn split_directive(line: &str) -> Option<(String, &str)> {
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim()))
}

/// The value without one pair of surrounding double quotes.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

fn yes_no(v: &str) -> Option<bool> {
    match unquote(v).to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" | "true" | "1" => Some(true),
        "no" | "n" | "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// A port number or a service name ldirectord configurations use.
pub fn port_of(text: &str) -> Option<u16> {
    if let Ok(p) = text.parse::<u16>() {
        return (p > 0).then_some(p);
    }
    let known = [
        ("ftp", 21),
        ("ssh", 22),
        ("smtp", 25),
        ("domain", 53),
        ("dns", 53),
        ("http", 80),
        ("www", 80),
        ("pop3", 110),
        ("nntp", 119),
        ("imap", 143),
        ("imap2", 143),
        ("ldap", 389),
        ("https", 443),
        ("submission", 587),
        ("ldaps", 636),
        ("imaps", 993),
        ("pop3s", 995),
        ("mysql", 3306),
        ("postgresql", 5432),
    ];
    known
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(text))
        .map(|(_, p)| *p)
}

/// ldirectord's service for a port (its `ld_port_to_service`).
fn service_of_port(port: u16) -> &'static str {
    match port {
        21 => "ftp",
        25 => "smtp",
        53 => "dns",
        80 => "http",
        110 => "pop",
        119 => "nntp",
        143 => "imap",
        389 => "ldap",
        443 => "https",
        587 => "submission",
        636 => "ldaps",
        993 => "imaps",
        995 => "pops",
        1521 => "oracle",
        1812 => "radius",
        3128 => "http_proxy",
        3306 => "mysql",
        5060 => "sip",
        5432 => "pgsql",
        _ => "none",
    }
}

/// A host: a literal address of the family, or a name resolved once now.
fn host_of(text: &str, v6: bool) -> Option<IpAddr> {
    let t = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return (ip.is_ipv6() == v6).then_some(ip);
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    (t, 0u16)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(|ip| ip.is_ipv6() == v6)
}

/// `host[:port]` or `[v6][:port]` → (host text, port text).
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
        return (text, None);
    }
    match text.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (text, None),
    }
}

fn parse_forward(word: &str) -> Option<Forward> {
    match word {
        "gate" => Some(Forward::Gate),
        "masq" => Some(Forward::Masq),
        "ipip" => Some(Forward::Ipip),
        _ => None,
    }
}

struct Parser<'a> {
    path: &'a Path,
    diag: &'a mut Diagnostics,
    globals: Globals,
    shared: Shared,
    sections: Vec<Section>,
}

impl Parser<'_> {
    fn error(&mut self, line: usize, text: &str, message: String, hint: &str) {
        self.diag.error(self.path, line, text, message, hint);
    }

    fn warn(&mut self, line: usize, text: &str, message: String, hint: &str) {
        self.diag.warn(self.path, line, text, message, hint);
    }

    fn unknown(&mut self, line: usize, raw: &str, key: &str, known: &[&str], where_: &str) {
        let hint = match closest(key, known) {
            Some(k) => format!("did you mean '{k}'?"),
            None => "see ldirectord.cf(5) for the directives".to_string(),
        };
        self.error(
            line,
            raw,
            format!("unknown directive '{key}' {where_}"),
            &hint,
        );
    }

    fn time(&mut self, line: usize, raw: &str, key: &str, value: &str) -> Option<Millis> {
        match parse_time(unquote(value)) {
            Ok(0) | Err(_) => {
                self.error(
                    line,
                    raw,
                    format!("{key}: '{value}' is not a positive time"),
                    "seconds, e.g. 5, or with a unit: 500ms",
                );
                None
            }
            Ok(ms) => Some(ms),
        }
    }

    fn count(&mut self, line: usize, raw: &str, key: &str, value: &str) -> Option<u32> {
        match unquote(value).parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.error(
                    line,
                    raw,
                    format!("{key}: '{value}' is not a positive number"),
                    "",
                );
                None
            }
        }
    }

    fn flag(&mut self, line: usize, raw: &str, key: &str, value: &str) -> Option<bool> {
        let b = yes_no(value);
        if b.is_none() {
            self.error(
                line,
                raw,
                format!("{key} must be yes or no, not '{value}'"),
                "",
            );
        }
        b
    }

    /// A directive both levels know; returns false when `key` is not one of them.
    fn shared_line(
        &mut self,
        shared_in_section: bool,
        n: usize,
        raw: &str,
        key: &str,
        value: &str,
    ) -> bool {
        let mut s = if shared_in_section {
            match self.sections.last() {
                Some(sec) => sec.shared.clone(),
                None => return false,
            }
        } else {
            self.shared.clone()
        };
        match key {
            "checktimeout" => s.checktimeout = self.time(n, raw, key, value).or(s.checktimeout),
            "negotiatetimeout" => {
                s.negotiatetimeout = self.time(n, raw, key, value).or(s.negotiatetimeout)
            }
            "checkinterval" => s.checkinterval = self.time(n, raw, key, value).or(s.checkinterval),
            "failurecount" => s.failurecount = self.count(n, raw, key, value).or(s.failurecount),
            "quiescent" => s.quiescent = self.flag(n, raw, key, value).or(s.quiescent),
            "fallback" | "fallback6" => {
                s.fallback = Some((n, unquote(value).to_string(), key == "fallback6"))
            }
            "fallbackcommand" => {
                let cmd = unquote(value);
                if cmd.is_empty() {
                    self.error(
                        n,
                        raw,
                        "fallbackcommand is empty".into(),
                        "give the script's path",
                    );
                } else {
                    s.fallbackcommand = Some(cmd.to_string());
                }
            }
            _ => return false,
        }
        if shared_in_section {
            if let Some(sec) = self.sections.last_mut() {
                sec.shared = s;
            }
        } else {
            self.shared = s;
        }
        true
    }

    fn global_line(&mut self, n: usize, raw: &str, key: &str, value: &str) {
        if self.shared_line(false, n, raw, key, value) {
            return;
        }
        match key {
            "autoreload" => {
                if let Some(b) = self.flag(n, raw, key, value) {
                    self.globals.autoreload = b;
                }
            }
            "cleanstop" => {
                if let Some(b) = self.flag(n, raw, key, value) {
                    self.globals.cleanstop = b;
                }
            }
            "logfile" => self.globals.logfile = Some(unquote(value).to_string()),
            "callback" => self.globals.callback = Some(unquote(value).to_string()),
            "timeout" | "connecttimeout" => self.error(
                n,
                raw,
                format!("{key} is no longer a directive"),
                "use checktimeout and negotiatetimeout",
            ),
            k if IGNORED.contains(&k) => self.ignored(n, raw, k),
            _ => self.unknown(n, raw, key, GLOBAL_KEYS, "outside a virtual= section"),
        }
    }

    fn ignored(&mut self, n: usize, raw: &str, key: &str) {
        self.warn(
            n,
            raw,
            format!("{key} is read and ignored by this director"),
            "remove it to silence this warning",
        );
    }

    /// Opens a section; false when its address is unusable (its lines are then skipped quietly
    /// as part of a broken section is reported once).
    fn open_section(&mut self, n: usize, raw: &str, v6: bool, value: &str) -> bool {
        let value = unquote(value);
        let addr = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            match value.parse::<u32>() {
                Ok(m) if m > 0 => Some(VirtualAddr::Fwmark(m)),
                _ => None,
            }
        } else {
            let (h, p) = split_host_port(value);
            match (host_of(h, v6), p.and_then(port_of)) {
                (Some(ip), Some(port)) => Some(VirtualAddr::Sock(SocketAddr::new(ip, port))),
                _ => None,
            }
        };
        let Some(addr) = addr else {
            let hint = if v6 {
                "virtual6=[2001:db8::10]:80, or a firewall mark"
            } else if value.starts_with('[') {
                "an IPv6 service is written virtual6=[ADDRESS]:PORT"
            } else {
                "virtual=ADDRESS:PORT (e.g. 192.0.2.10:80) or a firewall mark (a number)"
            };
            self.error(n, raw, format!("invalid virtual service '{value}'"), hint);
            // Still open a section so that its indented lines are not reported as orphans.
            self.sections
                .push(Section::new(n, v6, VirtualAddr::Fwmark(0)));
            return true;
        };
        self.sections.push(Section::new(n, v6, addr));
        true
    }

    fn section_line(&mut self, n: usize, raw: &str, key: &str, value: &str) {
        if self.shared_line(true, n, raw, key, value) {
            return;
        }
        let v6 = self.sections.last().is_some_and(|s| s.v6);
        let mut problem: Option<(String, &str)> = None;
        let Some(sec) = self.sections.last_mut() else {
            return;
        };
        match key {
            "real" | "real6" => {
                if (key == "real6") != v6 {
                    problem = Some((
                        format!(
                            "{key} in a {} section",
                            if v6 { "virtual6" } else { "virtual" }
                        ),
                        if v6 { "use real6=" } else { "use real=" },
                    ));
                } else {
                    sec.reals.push((n, value.to_string()));
                }
            }
            "request" => {
                let r = unquote(value);
                if r.is_empty() {
                    problem = Some(("request is empty".into(), "e.g. request=\"/health\""));
                } else {
                    sec.request = Some(r.to_string());
                }
            }
            "receive" => match compile(unquote(value)) {
                Ok(re) => sec.receive = Some(re),
                Err(e) => problem = Some((format!("receive: {e}"), "a regular expression")),
            },
            "checktype" => match checktype_of(unquote(value)) {
                Some(c) => sec.checktype = Some(c),
                None => {
                    problem = Some((
                        format!("checktype '{value}' unknown"),
                        "connect, negotiate, ping, external, off, on or a number",
                    ))
                }
            },
            "checkcommand" => sec.checkcommand = Some(unquote(value).to_string()),
            "checkport" => match unquote(value).parse::<u16>() {
                Ok(p) if p > 0 => sec.checkport = Some(p),
                _ => problem = Some(("checkport must be in 1..65535".into(), "")),
            },
            "scheduler" => {
                let s = unquote(value);
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase()) {
                    problem = Some((
                        format!("invalid scheduler '{value}'"),
                        "lower-case letters: rr, wrr, lc, wlc, sh, ...",
                    ));
                } else {
                    sec.scheduler = s.to_string();
                }
            }
            "persistent" => match unquote(value).parse::<u32>() {
                Ok(t) => sec.persistent = Some(t),
                Err(_) => {
                    problem = Some(("persistent wants seconds".into(), "e.g. persistent=300"))
                }
            },
            "netmask" => sec.netmask = Some(unquote(value).to_string()),
            "protocol" => match unquote(value) {
                "tcp" => sec.protocol = Some((n, Protocol::Tcp)),
                "udp" => sec.protocol = Some((n, Protocol::Udp)),
                "fwm" => sec.protocol = Some((n, Protocol::Fwm)),
                _ => problem = Some((format!("invalid protocol '{value}'"), "tcp, udp or fwm")),
            },
            "service" => sec.service = Some((n, unquote(value).to_ascii_lowercase())),
            "httpmethod" => match unquote(value).to_ascii_uppercase().as_str() {
                "GET" => sec.httpmethod = HttpMethod::Get,
                "HEAD" => sec.httpmethod = HttpMethod::Head,
                _ => problem = Some(("httpmethod must be GET or HEAD".into(), "")),
            },
            "virtualhost" => {
                let h = unquote(value);
                if h.is_empty() {
                    problem = Some(("virtualhost is empty".into(), ""));
                } else {
                    sec.virtualhost = Some(h.to_string());
                }
            }
            "cleanstop" => {
                // Per service in ldirectord; the whole director follows the global here.
                problem = None;
            }
            k if IGNORED.contains(&k) => {
                self.ignored(n, raw, k);
                return;
            }
            _ => {
                self.unknown(n, raw, key, SECTION_KEYS, "in a virtual= section");
                return;
            }
        }
        if let Some((message, hint)) = problem {
            self.error(n, raw, message, hint);
        }
    }

    /// Resolves every section against the globals.
    fn finish(&mut self) -> Vec<Virtual> {
        let sections = std::mem::take(&mut self.sections);
        let mut out: Vec<Virtual> = Vec::new();
        for sec in sections {
            if sec.addr == VirtualAddr::Fwmark(0) {
                continue; // already reported
            }
            if let Some(v) = self.resolve(sec) {
                if let Some(prev) = out
                    .iter()
                    .find(|o| o.addr == v.addr && o.protocol == v.protocol)
                {
                    let message = format!(
                        "virtual service {} {} is also defined at line {}",
                        v.protocol.name(),
                        v.name(),
                        prev.line
                    );
                    self.error(v.line, "", message, "merge the two sections");
                    continue;
                }
                out.push(v);
            }
        }
        out
    }

    fn resolve(&mut self, sec: Section) -> Option<Virtual> {
        let g = &self.shared;
        let s = &sec.shared;
        let ct = s.checktimeout.or(g.checktimeout);
        let nt = s.negotiatetimeout.or(g.negotiatetimeout);
        let checktimeout = ct.or(nt).unwrap_or(5_000);
        let negotiatetimeout = nt.or(ct).unwrap_or(30_000);
        let checkinterval = s.checkinterval.or(g.checkinterval).unwrap_or(10_000);
        let failurecount = s.failurecount.or(g.failurecount).unwrap_or(1);
        let quiescent = s.quiescent.or(g.quiescent).unwrap_or(true);
        let fallback_text = s.fallback.clone().or_else(|| g.fallback.clone());
        let fallbackcommand = s
            .fallbackcommand
            .clone()
            .or_else(|| g.fallbackcommand.clone());
        let raw = "";
        let default_protocol = match sec.addr {
            VirtualAddr::Fwmark(_) => Protocol::Fwm,
            VirtualAddr::Sock(a) if a.port() == 53 => Protocol::Udp,
            VirtualAddr::Sock(_) => Protocol::Tcp,
        };
        let protocol = match sec.protocol {
            Some((n, p)) => {
                let fits = matches!(sec.addr, VirtualAddr::Fwmark(_)) == (p == Protocol::Fwm);
                if !fits {
                    self.error(
                        n,
                        raw,
                        "protocol does not fit the virtual service".into(),
                        "fwm for a firewall mark, tcp or udp for ADDRESS:PORT",
                    );
                    return None;
                }
                p
            }
            None => default_protocol,
        };
        let vport = match sec.addr {
            VirtualAddr::Sock(a) => a.port(),
            VirtualAddr::Fwmark(_) => 0,
        };
        let service = match &sec.service {
            Some((n, name)) => match service_named(name) {
                Some(s) => s,
                None if UNSUPPORTED_SERVICES.contains(&name.as_str()) => {
                    self.error(
                        *n,
                        raw,
                        format!("service={name} is not supported by this director"),
                        "supported: http, https, simpletcp (tcp), dns, smtp, none; or use checktype=connect or checktype=external",
                    );
                    return None;
                }
                None => {
                    self.error(
                        *n,
                        raw,
                        format!("unknown service '{name}'"),
                        "http, https, simpletcp (tcp), dns, smtp or none",
                    );
                    return None;
                }
            },
            None => {
                let port = sec.checkport.unwrap_or(vport);
                let name = service_of_port(port);
                match service_named(name) {
                    Some(s) => s,
                    None => {
                        self.warn(
                            sec.line,
                            raw,
                            format!(
                                "port {port} means service={name} to ldirectord, which this director does not speak: its negotiate check is a connect check"
                            ),
                            "set service= or checktype=connect to silence this",
                        );
                        Service::None
                    }
                }
            }
        };
        let checktype = sec.checktype.unwrap_or(CheckType::Negotiate);
        if checktype == CheckType::External && sec.checkcommand.is_none() {
            self.error(
                sec.line,
                raw,
                "checktype=external without checkcommand".into(),
                "add checkcommand=\"/path/to/script\"",
            );
        }
        if matches!(sec.addr, VirtualAddr::Fwmark(_)) && sec.checkport.is_none() {
            let needs_port = matches!(
                checktype,
                CheckType::Connect | CheckType::Negotiate | CheckType::Combined(_)
            ) && sec
                .reals
                .iter()
                .any(|(_, r)| !r.split_whitespace().next().unwrap_or("").contains(':'));
            if needs_port && service != Service::None {
                self.warn(sec.line, raw, "a firewall-mark service checks its real servers on their own port: give each a port or set checkport".into(), "");
            }
        }
        let mut v = Virtual {
            line: sec.line,
            addr: sec.addr,
            protocol,
            reals: Vec::new(),
            checktype,
            service,
            request: sec.request.unwrap_or_else(|| "/".to_string()),
            receive: sec.receive,
            httpmethod: sec.httpmethod,
            virtualhost: sec.virtualhost,
            checkcommand: sec.checkcommand.unwrap_or_else(|| "/bin/true".to_string()),
            checkport: sec.checkport,
            checkinterval,
            checktimeout,
            negotiatetimeout,
            failurecount,
            quiescent,
            fallback: None,
            fallbackcommand,
            scheduler: sec.scheduler,
            persistent: sec.persistent,
            netmask: sec.netmask,
        };
        if matches!(v.service, Service::Http | Service::Https) && !v.request.starts_with('/') {
            v.request.insert(0, '/');
        }
        if let Some((n, text, v6)) = fallback_text
            && v6 == sec.v6
        {
            v.fallback = self.target(n, &text, sec.v6);
        }
        for (n, text) in &sec.reals {
            self.reals(*n, text, sec.v6, &mut v);
        }
        if v.reals.is_empty() && v.fallback.is_none() {
            self.warn(
                v.line,
                raw,
                format!("virtual service {} has no real server", v.name()),
                "",
            );
        }
        Some(v)
    }

    /// `ADDRESS[->ADDRESS][:PORT] gate|masq|ipip [WEIGHT] ["REQUEST", "RECEIVE"]`.
    fn reals(&mut self, n: usize, text: &str, v6: bool, v: &mut Virtual) {
        let raw = text;
        let (first, rest) = match text.split_once(char::is_whitespace) {
            Some((f, r)) => (f, r.trim_start()),
            None => (text, ""),
        };
        let (hosts, port) = split_host_port(first);
        let port = match port {
            None => 0,
            Some(p) => match port_of(p) {
                Some(p) => p,
                None => {
                    self.error(n, raw, format!("real server: unknown port '{p}'"), "");
                    return;
                }
            },
        };
        let (lo, hi) = match hosts.split_once("->") {
            Some((a, b)) => (a, Some(b)),
            None => (hosts, None),
        };
        let Some(lo_ip) = host_of(lo, v6) else {
            self.error(
                n,
                raw,
                format!("real server: invalid address '{lo}'"),
                "an address of the virtual service's family, or a name that resolves to one",
            );
            return;
        };
        let mut words = rest.splitn(3, char::is_whitespace);
        let Some(forward) = words.next().and_then(parse_forward) else {
            self.error(
                n,
                raw,
                "forward method must be gate, masq or ipip".into(),
                "e.g. real=198.51.100.2:80 masq 1",
            );
            return;
        };
        let mut weight = 1;
        let mut tail = String::new();
        if let Some(w) = words.next() {
            match w.parse::<u32>() {
                Ok(x) => weight = x,
                Err(_) => tail.push_str(w),
            }
        }
        if let Some(t) = words.next() {
            if !tail.is_empty() {
                tail.push(' ');
            }
            tail.push_str(t);
        }
        let (request, receive) = match tail.trim() {
            "" => (None, None),
            t => match request_receive(t) {
                Some((req, rec)) => match compile(&rec) {
                    Ok(re) => (Some(req), Some(re)),
                    Err(e) => {
                        self.error(n, raw, format!("real server: receive: {e}"), "");
                        return;
                    }
                },
                None => {
                    self.error(
                        n,
                        raw,
                        format!("real server: cannot read '{t}'"),
                        "after the weight comes \"request\", \"receive\"",
                    );
                    return;
                }
            },
        };
        let addrs: Vec<IpAddr> = match hi {
            None => vec![lo_ip],
            Some(h) => match (lo_ip, host_of(h, v6)) {
                (IpAddr::V4(a), Some(IpAddr::V4(b)))
                    if u32::from(a) <= u32::from(b) && u32::from(b) - u32::from(a) < 65_536 =>
                {
                    (u32::from(a)..=u32::from(b))
                        .map(|x| IpAddr::V4(Ipv4Addr::from(x)))
                        .collect()
                }
                _ => {
                    self.error(
                        n,
                        raw,
                        format!("real server: invalid range '{hosts}'"),
                        "FIRST->LAST, IPv4, first below last",
                    );
                    return;
                }
            },
        };
        for addr in addrs {
            let target = Target {
                addr,
                port,
                forward,
                weight,
            };
            if v.reals.iter().any(|r| {
                r.target.addr == addr && v.target_port(&r.target) == v.target_port(&target)
            }) {
                self.error(
                    n,
                    raw,
                    format!("real server {addr} is listed twice in {}", v.name()),
                    "",
                );
                return;
            }
            v.reals.push(Real {
                line: n,
                target,
                request: request.clone(),
                receive: receive.clone(),
            });
        }
    }

    /// A fallback: `ADDRESS[:PORT] [gate|masq|ipip]` (gate by default, as in ldirectord).
    fn target(&mut self, n: usize, text: &str, v6: bool) -> Option<Target> {
        let mut words = text.split_whitespace();
        let first = words.next().unwrap_or("");
        let (h, p) = split_host_port(first);
        let addr = host_of(h, v6);
        let port = match p {
            None => Some(0),
            Some(p) => port_of(p),
        };
        let forward = match words.next() {
            None => Some(Forward::Gate),
            Some(w) => parse_forward(w),
        };
        match (addr, port, forward, words.next()) {
            (Some(addr), Some(port), Some(forward), None) => Some(Target {
                addr,
                port,
                forward,
                weight: 1,
            }),
            _ => {
                self.error(
                    n,
                    text,
                    format!("invalid fallback server '{text}'"),
                    "fallback=ADDRESS[:PORT] [gate|masq|ipip]",
                );
                None
            }
        }
    }
}

impl Section {
    fn new(line: usize, v6: bool, addr: VirtualAddr) -> Section {
        Section {
            line,
            v6,
            addr,
            shared: Shared::default(),
            reals: Vec::new(),
            request: None,
            receive: None,
            checktype: None,
            service: None,
            httpmethod: HttpMethod::Get,
            virtualhost: None,
            checkcommand: None,
            checkport: None,
            scheduler: "wrr".to_string(),
            persistent: None,
            netmask: None,
            protocol: None,
        }
    }
}

fn checktype_of(v: &str) -> Option<CheckType> {
    if let Ok(n) = v.parse::<u32>() {
        return Some(CheckType::Combined(n));
    }
    Some(match v {
        "connect" => CheckType::Connect,
        "negotiate" => CheckType::Negotiate,
        "ping" => CheckType::Ping,
        "external" | "external-perl" => CheckType::External,
        "off" => CheckType::Off,
        "on" => CheckType::On,
        _ => return None,
    })
}

fn service_named(name: &str) -> Option<Service> {
    Some(match name {
        "http" => Service::Http,
        "https" => Service::Https,
        "simpletcp" | "tcp" => Service::SimpleTcp,
        "dns" => Service::Dns,
        "smtp" => Service::Smtp,
        "none" => Service::None,
        _ => return None,
    })
}

/// `"request", "receive"` (a comma or a blank between them).
fn request_receive(t: &str) -> Option<(String, String)> {
    let t = t.strip_prefix('"')?;
    let (req, rest) = t.split_once('"')?;
    let rest = rest.trim_start().trim_start_matches(',').trim_start();
    let rest = rest.strip_prefix('"')?;
    let (rec, tail) = rest.rsplit_once('"')?;
    if !tail.trim().is_empty() {
        return None;
    }
    let mut req = req.to_string();
    if !req.starts_with('/') {
        req.insert(0, '/');
    }
    Some((req, rec.to_string()))
}

/// A `receive` pattern. Bounded in size so a hostile file cannot make the director build a huge
/// automaton; the regex crate matches in linear time, so no answer can stall a check.
fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("the pattern is empty".into());
    }
    RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => {
                format!("invalid pattern: {}", s.lines().last().unwrap_or("").trim())
            }
            other => format!("invalid pattern: {other}"),
        })
}
