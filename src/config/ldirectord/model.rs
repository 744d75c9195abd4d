//! The typed form of an `ldirectord.cf`: what the director checks and which rules it keeps.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use regex::bytes::Regex;

use crate::config::Millis;

/// A whole file: the global settings and the virtual services in file order.
#[derive(Debug, Clone)]
pub struct DirectorConfig {
    pub path: PathBuf,
    pub globals: Globals,
    pub virtuals: Vec<Virtual>,
}

/// Directives outside any `virtual=` section (most are defaults for every section).
#[derive(Debug, Clone)]
pub struct Globals {
    /// `autoreload=yes`: the file is watched and re-read when it changes.
    pub autoreload: bool,
    /// `cleanstop=no` leaves the rules in place when the director stops.
    pub cleanstop: bool,
    /// `logfile=`: a path, or a syslog facility such as `local0`.
    pub logfile: Option<String>,
    /// `callback=`: run with the file's path after every reload.
    pub callback: Option<String>,
}

/// How a virtual service is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VirtualAddr {
    Sock(SocketAddr),
    Fwmark(u32),
}

/// `protocol=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Fwm,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Fwm => "fwm",
        }
    }
}

/// The forwarding method of a real server: direct routing, NAT, tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    Gate,
    Masq,
    Ipip,
}

impl Forward {
    pub fn name(self) -> &'static str {
        match self {
            Forward::Gate => "gate",
            Forward::Masq => "masq",
            Forward::Ipip => "ipip",
        }
    }
}

/// `checktype=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckType {
    Connect,
    Negotiate,
    Ping,
    External,
    /// Never up: the real servers stay out (or at weight 0).
    Off,
    /// Always up, never checked.
    On,
    /// `checktype=N`: N connect checks, then one negotiate check, over and over.
    Combined(u32),
}

/// `service=`: the protocol spoken by a negotiate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Http,
    Https,
    /// `simpletcp` (also accepted as `tcp`): send `request`, match `receive`.
    SimpleTcp,
    Dns,
    Smtp,
    /// No protocol: a negotiate check is a connect check.
    None,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Http => "http",
            Service::Https => "https",
            Service::SimpleTcp => "simpletcp",
            Service::Dns => "dns",
            Service::Smtp => "smtp",
            Service::None => "none",
        }
    }
}

/// `httpmethod=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Head,
}

/// A server traffic is forwarded to: a real server, or the fallback (sorry) server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: IpAddr,
    /// 0: the virtual service's port.
    pub port: u16,
    pub forward: Forward,
    pub weight: u32,
}

/// One `real=` (one address of a range).
#[derive(Debug, Clone)]
pub struct Real {
    pub line: usize,
    pub target: Target,
    /// A per-server `"request", "receive"` pair overriding the section's.
    pub request: Option<String>,
    pub receive: Option<Regex>,
}

/// A `virtual=` / `virtual6=` section with the globals folded in.
#[derive(Debug, Clone)]
pub struct Virtual {
    pub line: usize,
    pub addr: VirtualAddr,
    pub protocol: Protocol,
    pub reals: Vec<Real>,
    pub checktype: CheckType,
    pub service: Service,
    /// The request path (HTTP) or string (simpletcp) or name (DNS); `/` by default.
    pub request: String,
    /// What the answer must match; none: any success.
    pub receive: Option<Regex>,
    pub httpmethod: HttpMethod,
    /// The Host header and, for https, the TLS server name (real servers are addressed by IP).
    pub virtualhost: Option<String>,
    pub checkcommand: String,
    pub checkport: Option<u16>,
    pub checkinterval: Millis,
    /// Timeout of connect and ping checks.
    pub checktimeout: Millis,
    /// Timeout of negotiate and external checks.
    pub negotiatetimeout: Millis,
    pub failurecount: u32,
    pub quiescent: bool,
    pub fallback: Option<Target>,
    pub fallbackcommand: Option<String>,
    pub scheduler: String,
    /// Persistence timeout in seconds.
    pub persistent: Option<u32>,
    pub netmask: Option<String>,
}

impl Virtual {
    /// `192.0.2.10:80`, `[2001:db8::10]:80` or `fwmark 7`, as the logs name the service.
    pub fn name(&self) -> String {
        match self.addr {
            VirtualAddr::Sock(a) => a.to_string(),
            VirtualAddr::Fwmark(m) => format!("fwmark {m}"),
        }
    }

    /// The port a target answers on: its own, or the virtual service's.
    pub fn target_port(&self, target: &Target) -> u16 {
        if target.port != 0 {
            return target.port;
        }
        match self.addr {
            VirtualAddr::Sock(a) => a.port(),
            VirtualAddr::Fwmark(_) => 0,
        }
    }

    /// Where a real server is checked: its address and `checkport` or its port.
    pub fn check_addr(&self, real: &Real) -> SocketAddr {
        let port = self
            .checkport
            .unwrap_or_else(|| self.target_port(&real.target));
        SocketAddr::new(real.target.addr, port)
    }
}
