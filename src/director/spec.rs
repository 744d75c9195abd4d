//! What one check of one real server does, decided from the configuration alone: the probe
//! engine carries it out, the health state machine only sees its verdict.

use std::net::{IpAddr, SocketAddr};

use regex::bytes::Regex;

use crate::config::Millis;
use crate::config::ldirectord::{
    CheckType, HttpMethod, Protocol, Real, Service, Virtual, VirtualAddr,
};

/// A check, ready to run.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// A TCP connection is accepted.
    Connect { addr: SocketAddr },
    /// An ICMP echo is answered (IPv4).
    Ping { addr: IpAddr },
    /// An HTTP(S) request gets a 2xx answer whose body matches `receive`.
    Http {
        addr: SocketAddr,
        tls: bool,
        method: HttpMethod,
        path: String,
        /// The Host header; for TLS also the server name sent (SNI) when it is a name.
        host: String,
        receive: Option<Regex>,
    },
    /// `simpletcp`: send the request (if any), the answer matches `receive`.
    Tcp {
        addr: SocketAddr,
        send: Option<String>,
        receive: Option<Regex>,
    },
    /// The server greets with `220`.
    Smtp { addr: SocketAddr },
    /// A DNS query for `name` is answered with an A record (matching `receive` if given).
    Dns {
        addr: SocketAddr,
        tcp: bool,
        name: String,
        receive: Option<Regex>,
    },
    /// `checkcommand VIP VPORT RIP RPORT` exits 0.
    External { command: String, args: Vec<String> },
}

/// Connect-level checks use `checktimeout`; conversations and commands `negotiatetimeout`.
pub fn timeout_of(v: &Virtual, spec: &ProbeSpec) -> Millis {
    match spec {
        ProbeSpec::Connect { .. } | ProbeSpec::Ping { .. } => v.checktimeout,
        _ => v.negotiatetimeout,
    }
}

/// The probe for check number `round` (0 first) of `real`, or `None` for `on`/`off`, which
/// are never run.
pub fn spec_for(v: &Virtual, real: &Real, round: u64) -> Option<ProbeSpec> {
    let addr = v.check_addr(real);
    let negotiate = match v.checktype {
        CheckType::On | CheckType::Off => return None,
        CheckType::Connect => false,
        CheckType::Negotiate => true,
        CheckType::Combined(n) => round % (u64::from(n) + 1) == u64::from(n),
        CheckType::Ping => return Some(ProbeSpec::Ping { addr: addr.ip() }),
        CheckType::External => {
            let (vip, vport) = match v.addr {
                VirtualAddr::Sock(a) => (a.ip().to_string(), a.port().to_string()),
                VirtualAddr::Fwmark(m) => (m.to_string(), "0".to_string()),
            };
            return Some(ProbeSpec::External {
                command: v.checkcommand.clone(),
                args: vec![vip, vport, addr.ip().to_string(), addr.port().to_string()],
            });
        }
    };
    // A UDP service has no connection to open: its connect check is a ping, as in ldirectord.
    let connect = if v.protocol == Protocol::Udp {
        ProbeSpec::Ping { addr: addr.ip() }
    } else {
        ProbeSpec::Connect { addr }
    };
    if !negotiate {
        return Some(connect);
    }
    let request = real.request.clone().unwrap_or_else(|| v.request.clone());
    let receive = real.receive.clone().or_else(|| v.receive.clone());
    Some(match v.service {
        Service::Http | Service::Https => ProbeSpec::Http {
            addr,
            tls: v.service == Service::Https,
            method: v.httpmethod,
            path: request,
            host: v.virtualhost.clone().unwrap_or_else(|| host_header(addr)),
            receive,
        },
        Service::SimpleTcp => ProbeSpec::Tcp {
            addr,
            send: (request != "/").then_some(request),
            receive,
        },
        Service::Smtp => ProbeSpec::Smtp { addr },
        Service::Dns => ProbeSpec::Dns {
            addr,
            tcp: v.protocol == Protocol::Tcp,
            name: request.trim_start_matches('/').to_string(),
            receive,
        },
        Service::None => connect,
    })
}

/// `Host:` for a server addressed by IP: the address (bracketed for IPv6) and a non-default port.
fn host_header(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    if addr.port() == 80 || addr.port() == 443 {
        ip
    } else {
        format!("{ip}:{}", addr.port())
    }
}
