//! Rules for kernels with IPVS: each change of the table is one `ipvsadm` operation (-A/-E/-D,
//! -a/-e/-d), so untouched destinations keep their connections and counters.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::ldirectord::{Forward, Protocol, VirtualAddr};

use super::table::{Dest, Op, Service, ServiceKey};

/// Whether the running kernel has IPVS loaded.
pub fn present() -> bool {
    Path::new("/proc/net/ip_vs").exists()
}

fn service_args(key: &ServiceKey) -> Vec<String> {
    match key.addr {
        VirtualAddr::Fwmark(m) => vec!["-f".into(), m.to_string()],
        VirtualAddr::Sock(a) => vec![
            if key.protocol == Protocol::Udp {
                "-u"
            } else {
                "-t"
            }
            .into(),
            a.to_string(),
        ],
    }
}

fn service_opts(s: &Service) -> Vec<String> {
    let mut v = vec!["-s".to_string(), s.scheduler.clone()];
    if let Some(p) = s.persistent {
        v.extend(["-p".to_string(), p.to_string()]);
        if let Some(m) = &s.netmask {
            v.extend(["-M".to_string(), m.clone()]);
        }
    }
    v
}

fn dest_args(d: &Dest) -> Vec<String> {
    let method = match d.forward {
        Forward::Gate => "-g",
        Forward::Masq => "-m",
        Forward::Ipip => "-i",
    };
    vec![
        "-r".into(),
        d.addr.to_string(),
        method.into(),
        "-w".into(),
        d.weight.to_string(),
    ]
}

/// The `ipvsadm` arguments of one change.
pub fn args(op: &Op) -> Vec<String> {
    let mut a = Vec::new();
    match op {
        Op::AddService(s) | Op::EditService(s) => {
            a.push(
                if matches!(op, Op::AddService(_)) {
                    "-A"
                } else {
                    "-E"
                }
                .to_string(),
            );
            a.extend(service_args(&s.key));
            a.extend(service_opts(s));
        }
        Op::DelService(k) => {
            a.push("-D".into());
            a.extend(service_args(k));
        }
        Op::AddDest(k, d) | Op::EditDest(k, d) => {
            a.push(
                if matches!(op, Op::AddDest(..)) {
                    "-a"
                } else {
                    "-e"
                }
                .to_string(),
            );
            a.extend(service_args(k));
            a.extend(dest_args(d));
        }
        Op::DelDest(k, addr) => {
            a.push("-d".into());
            a.extend(service_args(k));
            a.extend(["-r".to_string(), SocketAddr::to_string(addr)]);
        }
    }
    a
}

/// Applies changes in order; stops at the first refused one.
pub fn apply(ops: &[Op]) -> Result<(), String> {
    for op in ops {
        let out = Command::new("ipvsadm")
            .args(args(op))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ipvsadm: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ipvsadm refused '{op}': {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiescing_is_one_edit_with_weight_zero() {
        let key = ServiceKey {
            protocol: Protocol::Tcp,
            addr: VirtualAddr::Sock("192.0.2.10:80".parse().unwrap()),
        };
        let d = Dest {
            addr: "198.51.100.2:80".parse().unwrap(),
            forward: Forward::Gate,
            weight: 0,
        };
        assert_eq!(
            args(&Op::EditDest(key, d)).join(" "),
            "-e -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 0"
        );
        assert_eq!(
            args(&Op::DelDest(key, d.addr)).join(" "),
            "-d -t 192.0.2.10:80 -r 198.51.100.2:80"
        );
    }
}
