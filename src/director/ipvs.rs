//! Rules for kernels with IPVS: each change of the table is one request on the kernel's IPVS
//! generic-netlink family (what `ipvsadm` -A/-E/-D, -a/-e/-d send), on one socket kept open:
//! no fork per change, and untouched destinations keep their connections and counters.
//! [`args`] gives the `ipvsadm` words of a change, for the logs.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::config::ldirectord::{Forward, Protocol, VirtualAddr};

use super::genl::{Attrs, Genl, find_attr};
use super::table::{Dest, Op, Service, ServiceKey, Table};

const IPVS_GENL_VERSION: u8 = 1;
const CMD_NEW_SERVICE: u8 = 1;
const CMD_SET_SERVICE: u8 = 2;
const CMD_DEL_SERVICE: u8 = 3;
const CMD_NEW_DEST: u8 = 5;
const CMD_SET_DEST: u8 = 6;
const CMD_DEL_DEST: u8 = 7;
const CMD_GET_DEST: u8 = 8;
const ATTR_SERVICE: u16 = 1;
const ATTR_DEST: u16 = 2;
const SVC_AF: u16 = 1;
const SVC_PROTOCOL: u16 = 2;
const SVC_ADDR: u16 = 3;
const SVC_PORT: u16 = 4;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;
const SVC_NETMASK: u16 = 9;
const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_U_THRESH: u16 = 5;
const DEST_L_THRESH: u16 = 6;
const DEST_ADDR_FAMILY: u16 = 11;
const SVC_F_PERSISTENT: u32 = 0x1;
const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;

fn af_of(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => nix::libc::AF_INET as u16,
        IpAddr::V6(_) => nix::libc::AF_INET6 as u16,
    }
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first four.
fn inet_addr(ip: IpAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a.copy_from_slice(&v6.octets()),
    }
    a
}

/// The attributes naming a service (what every command carries).
fn service_key(key: &ServiceKey, af_hint: u16) -> Attrs {
    let mut a = Attrs::default();
    match key.addr {
        VirtualAddr::Fwmark(m) => {
            a.u16(SVC_AF, af_hint).u32(SVC_FWMARK, m);
        }
        VirtualAddr::Sock(s) => {
            let proto = if key.protocol == Protocol::Udp { 17 } else { 6 };
            a.u16(SVC_AF, af_of(s.ip()))
                .u16(SVC_PROTOCOL, proto)
                .bytes(SVC_ADDR, &inet_addr(s.ip()))
                .bytes(SVC_PORT, &s.port().to_be_bytes());
        }
    }
    a
}

/// A service with its settings (add and edit need all four).
fn service_full(s: &Service) -> Attrs {
    let v6 = matches!(s.key.addr, VirtualAddr::Sock(SocketAddr::V6(_)));
    let mut a = service_key(&s.key, nix::libc::AF_INET as u16);
    let mut flags = [0u8; 8];
    let f = if s.persistent.is_some() {
        SVC_F_PERSISTENT
    } else {
        0
    };
    flags[..4].copy_from_slice(&f.to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    // IPv4: a netmask in network order; IPv6: a prefix length.
    let netmask: [u8; 4] = if v6 {
        128u32.to_ne_bytes()
    } else {
        s.netmask
            .as_deref()
            .and_then(|m| m.parse::<std::net::Ipv4Addr>().ok())
            .map_or([255; 4], |m| m.octets())
    };
    a.string(SVC_SCHED_NAME, &s.scheduler)
        .bytes(SVC_FLAGS, &flags)
        .u32(SVC_TIMEOUT, s.persistent.unwrap_or(0))
        .bytes(SVC_NETMASK, &netmask);
    a
}

fn dest_attrs(d: &Dest, full: bool) -> Attrs {
    let mut a = Attrs::default();
    a.bytes(DEST_ADDR, &inet_addr(d.addr.ip()))
        .bytes(DEST_PORT, &d.addr.port().to_be_bytes())
        .u16(DEST_ADDR_FAMILY, af_of(d.addr.ip()));
    if full {
        let method = match d.forward {
            Forward::Masq => 0,
            Forward::Ipip => 2,
            Forward::Gate => 3,
        };
        a.u32(DEST_FWD_METHOD, method)
            .u32(DEST_WEIGHT, d.weight)
            .u32(DEST_U_THRESH, 0)
            .u32(DEST_L_THRESH, 0);
    }
    a
}

/// The command and attributes of one change.
pub fn message(op: &Op) -> (u8, Attrs) {
    let mut a = Attrs::default();
    let af = |k: &ServiceKey, d: Option<&Dest>| match (k.addr, d) {
        (VirtualAddr::Sock(s), _) => af_of(s.ip()),
        (VirtualAddr::Fwmark(_), Some(d)) => af_of(d.addr.ip()),
        (VirtualAddr::Fwmark(_), None) => nix::libc::AF_INET as u16,
    };
    let cmd = match op {
        Op::AddService(s) | Op::EditService(s) => {
            a.nested(ATTR_SERVICE, &service_full(s));
            if matches!(op, Op::AddService(_)) {
                CMD_NEW_SERVICE
            } else {
                CMD_SET_SERVICE
            }
        }
        Op::DelService(k) => {
            a.nested(ATTR_SERVICE, &service_key(k, af(k, None)));
            CMD_DEL_SERVICE
        }
        Op::AddDest(k, d) | Op::EditDest(k, d) => {
            a.nested(ATTR_SERVICE, &service_key(k, af(k, Some(d))))
                .nested(ATTR_DEST, &dest_attrs(d, true));
            if matches!(op, Op::AddDest(..)) {
                CMD_NEW_DEST
            } else {
                CMD_SET_DEST
            }
        }
        Op::DelDest(k, addr) => {
            let d = Dest {
                addr: *addr,
                forward: Forward::Masq,
                weight: 0,
            };
            a.nested(ATTR_SERVICE, &service_key(k, af(k, Some(&d))))
                .nested(ATTR_DEST, &dest_attrs(&d, false));
            CMD_DEL_DEST
        }
    };
    (cmd, a)
}

/// The kernel's IPVS, through one generic-netlink socket.
pub struct Ipvs {
    genl: Genl,
}

impl Ipvs {
    pub fn open() -> io::Result<Ipvs> {
        Genl::open("IPVS").map(|genl| Ipvs { genl })
    }

    /// Applies changes in order. An add of what exists becomes an edit (rules left by an
    /// earlier run), a delete of what is gone is done; any other refusal stops here.
    pub fn apply(&mut self, ops: &[Op]) -> Result<(), String> {
        for op in ops {
            let (cmd, attrs) = message(op);
            let result = match self.genl.call(cmd, IPVS_GENL_VERSION, &attrs) {
                Err(e) if e.raw_os_error() == Some(EEXIST) => {
                    let edit = match op {
                        Op::AddService(s) => Some(Op::EditService(s.clone())),
                        Op::AddDest(k, d) => Some(Op::EditDest(*k, *d)),
                        _ => None,
                    };
                    match edit {
                        Some(e) => {
                            let (c, a) = message(&e);
                            self.genl.call(c, IPVS_GENL_VERSION, &a).map(|_| ())
                        }
                        None => Ok(()),
                    }
                }
                Err(e)
                    if matches!(op, Op::DelDest(..) | Op::DelService(_))
                        && matches!(e.raw_os_error(), Some(ENOENT | ESRCH)) =>
                {
                    Ok(())
                }
                other => other.map(|_| ()),
            };
            result.map_err(|e| format!("IPVS refused 'ipvsadm {}': {e}", args(op).join(" ")))?;
        }
        Ok(())
    }
}

impl Ipvs {
    /// Removes what an earlier run left in our services: destinations the table does not have,
    /// as ldirectord purges untracked real servers at start. One log line per removal.
    pub fn purge_untracked(&mut self, table: &Table) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        for s in &table.services {
            let af = service_af(s);
            let mut a = Attrs::default();
            a.nested(ATTR_SERVICE, &service_key(&s.key, af));
            let answers = match self.genl.dump(CMD_GET_DEST, IPVS_GENL_VERSION, &a) {
                Ok(answers) => answers,
                Err(e) if matches!(e.raw_os_error(), Some(ENOENT | ESRCH)) => continue,
                Err(e) => return Err(format!("IPVS: listing {}: {e}", s.key)),
            };
            for addr in dests_in(&answers, af) {
                if s.dests.iter().any(|d| d.addr == addr) {
                    continue;
                }
                self.apply(&[Op::DelDest(s.key, addr)])?;
                lines.push(format!(
                    "removed real server {addr} of {}: not in the configuration (left by an earlier run)",
                    s.key
                ));
            }
        }
        Ok(lines)
    }
}

/// A service's address family (a firewall-mark service takes its destinations').
fn service_af(s: &Service) -> u16 {
    match (s.key.addr, s.dests.first()) {
        (VirtualAddr::Sock(a), _) => af_of(a.ip()),
        (VirtualAddr::Fwmark(_), Some(d)) => af_of(d.addr.ip()),
        (VirtualAddr::Fwmark(_), None) => nix::libc::AF_INET as u16,
    }
}

/// The destinations in the answers to a GET_DEST dump (`af`: the service's family, for
/// kernels that do not name each destination's).
fn dests_in(answers: &[Vec<u8>], af: u16) -> Vec<SocketAddr> {
    answers
        .iter()
        .filter_map(|msg| {
            let dest = find_attr(msg, ATTR_DEST)?;
            let raw: [u8; 16] = find_attr(dest, DEST_ADDR)?.get(..16)?.try_into().ok()?;
            let port = find_attr(dest, DEST_PORT)?.get(..2)?;
            let family = find_attr(dest, DEST_ADDR_FAMILY)
                .and_then(|f| f.get(..2))
                .map_or(af, |f| u16::from_ne_bytes([f[0], f[1]]));
            let ip = if family == nix::libc::AF_INET6 as u16 {
                IpAddr::V6(Ipv6Addr::from(raw))
            } else {
                IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
            };
            Some(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]])))
        })
        .collect()
}

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
            a.push(String::from("-D"));
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
            a.push(String::from("-d"));
            a.extend(service_args(k));
            a.extend(["-r".to_string(), SocketAddr::to_string(addr)]);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weight_change_is_one_set_dest_with_the_whole_destination() {
        let key = ServiceKey {
            protocol: Protocol::Tcp,
            addr: VirtualAddr::Sock("192.0.2.10:80".parse().unwrap()),
        };
        let d = Dest {
            addr: "198.51.100.2:8080".parse().unwrap(),
            forward: Forward::Gate,
            weight: 0,
        };
        let (cmd, a) = message(&Op::EditDest(key, d));
        assert_eq!(cmd, CMD_SET_DEST);
        let svc = super::super::genl::find_attr(&a.0, ATTR_SERVICE).unwrap();
        let find = super::super::genl::find_attr;
        assert_eq!(find(svc, SVC_AF), Some(&2u16.to_ne_bytes()[..]));
        assert_eq!(find(svc, SVC_PROTOCOL), Some(&6u16.to_ne_bytes()[..]));
        assert_eq!(&find(svc, SVC_ADDR).unwrap()[..4], &[192, 0, 2, 10]);
        assert_eq!(find(svc, SVC_PORT), Some(&[0, 80][..]), "network order");
        assert_eq!(find(svc, SVC_SCHED_NAME), None, "the key only");
        let dest = find(&a.0, ATTR_DEST).unwrap();
        assert_eq!(find(dest, DEST_PORT), Some(&[0x1f, 0x90][..]));
        assert_eq!(find(dest, DEST_FWD_METHOD), Some(&3u32.to_ne_bytes()[..]));
        assert_eq!(find(dest, DEST_WEIGHT), Some(&0u32.to_ne_bytes()[..]));
        assert!(find(dest, DEST_U_THRESH).is_some() && find(dest, DEST_L_THRESH).is_some());
        // A new service carries everything the kernel requires of a full entry.
        let s = Service {
            key,
            scheduler: "wlc".into(),
            persistent: Some(300),
            netmask: None,
            dests: Vec::new(),
        };
        let (cmd, a) = message(&Op::AddService(s));
        assert_eq!(cmd, CMD_NEW_SERVICE);
        let svc = find(&a.0, ATTR_SERVICE).unwrap();
        assert_eq!(find(svc, SVC_SCHED_NAME), Some(&b"wlc\0"[..]));
        assert_eq!(&find(svc, SVC_FLAGS).unwrap()[..4], &1u32.to_ne_bytes());
        assert_eq!(find(svc, SVC_TIMEOUT), Some(&300u32.to_ne_bytes()[..]));
        assert_eq!(find(svc, SVC_NETMASK), Some(&[255, 255, 255, 255][..]));
        let (cmd, a) = message(&Op::DelDest(key, d.addr));
        assert_eq!(cmd, CMD_DEL_DEST);
        assert_eq!(find(find(&a.0, ATTR_DEST).unwrap(), DEST_WEIGHT), None);
    }

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

    /// The answers to a GET_DEST dump as the kernel writes them (ip_vs_genl_fill_dest):
    /// each a nested ATTR_DEST with the address (16 bytes), the port (network order) and,
    /// on newer kernels, the family.
    #[test]
    fn destinations_are_read_from_a_dump() {
        let answer = |addr: &str, family: bool| {
            let sa: SocketAddr = addr.parse().unwrap();
            let mut d = Attrs::default();
            d.bytes(DEST_ADDR, &inet_addr(sa.ip()))
                .bytes(DEST_PORT, &sa.port().to_be_bytes())
                .u32(DEST_FWD_METHOD, 0)
                .u32(DEST_WEIGHT, 1);
            if family {
                d.u16(DEST_ADDR_FAMILY, af_of(sa.ip()));
            }
            let mut a = Attrs::default();
            a.nested(ATTR_DEST, &d);
            a.0
        };
        let v4 = nix::libc::AF_INET as u16;
        let got = dests_in(
            &[
                answer("198.51.100.2:80", true),
                answer("198.51.100.3:8080", false),
                answer("[2001:db8::5]:80", true),
                vec![1, 2, 3],
            ],
            v4,
        );
        let want: Vec<SocketAddr> = ["198.51.100.2:80", "198.51.100.3:8080", "[2001:db8::5]:80"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(got, want);
    }
}
