//! The rules a director wants in the kernel: virtual services and their destinations with
//! weights, and the smallest list of changes from one table to the next (what IPVS is told; the
//! nft backend, which has no per-destination edit, rewrites its table from the whole).

use std::fmt;
use std::net::SocketAddr;

use crate::config::ldirectord::{Forward, Protocol, VirtualAddr};

/// Identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    pub protocol: Protocol,
    pub addr: VirtualAddr,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            VirtualAddr::Sock(a) => write!(f, "{} {a}", self.protocol.name()),
            VirtualAddr::Fwmark(m) => write!(f, "fwmark {m}"),
        }
    }
}

/// A destination of a virtual service (a real server or the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    pub addr: SocketAddr,
    pub forward: Forward,
    pub weight: u32,
}

/// A virtual service with its destinations, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    pub scheduler: String,
    pub persistent: Option<u32>,
    pub netmask: Option<String>,
    pub dests: Vec<Dest>,
}

/// Everything the director keeps in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: Vec<Service>,
}

impl Table {
    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.services.iter().find(|s| s.key == *key)
    }

    /// Destinations that receive new connections (weight above 0).
    pub fn live(&self, key: &ServiceKey) -> Vec<SocketAddr> {
        self.service(key)
            .map(|s| {
                s.dests
                    .iter()
                    .filter(|d| d.weight > 0)
                    .map(|d| d.addr)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One change, in the words of `ipvsadm`: -A/-E/-D for services, -a/-e/-d for destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, SocketAddr),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "add service {} ({})", s.key, s.scheduler),
            Op::EditService(s) => write!(f, "edit service {} ({})", s.key, s.scheduler),
            Op::DelService(k) => write!(f, "delete service {k}"),
            Op::AddDest(k, d) => write!(f, "add {} to {k} weight {}", d.addr, d.weight),
            Op::EditDest(k, d) => write!(f, "set {} of {k} to weight {}", d.addr, d.weight),
            Op::DelDest(k, a) => write!(f, "delete {a} from {k}"),
        }
    }
}

/// The changes that turn `old` into `new`: a service's own settings changed → edit, a
/// destination's weight or method changed → edit; nothing is deleted and re-added, so the
/// connections of untouched destinations are never disturbed.
pub fn diff(old: &Table, new: &Table) -> Vec<Op> {
    let mut ops = Vec::new();
    for o in &old.services {
        if new.service(&o.key).is_none() {
            ops.push(Op::DelService(o.key));
        }
    }
    for n in &new.services {
        let Some(o) = old.service(&n.key) else {
            let mut bare = n.clone();
            bare.dests.clear();
            ops.push(Op::AddService(bare));
            ops.extend(n.dests.iter().map(|d| Op::AddDest(n.key, *d)));
            continue;
        };
        if (&o.scheduler, o.persistent, &o.netmask) != (&n.scheduler, n.persistent, &n.netmask) {
            let mut bare = n.clone();
            bare.dests.clear();
            ops.push(Op::EditService(bare));
        }
        for d in &o.dests {
            if !n.dests.iter().any(|x| x.addr == d.addr) {
                ops.push(Op::DelDest(n.key, d.addr));
            }
        }
        for d in &n.dests {
            match o.dests.iter().find(|x| x.addr == d.addr) {
                None => ops.push(Op::AddDest(n.key, *d)),
                Some(x) if x != d => ops.push(Op::EditDest(n.key, *d)),
                Some(_) => {}
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ServiceKey {
        ServiceKey {
            protocol: Protocol::Tcp,
            addr: VirtualAddr::Sock("192.0.2.10:80".parse().unwrap()),
        }
    }

    fn dest(a: &str, w: u32) -> Dest {
        Dest {
            addr: a.parse().unwrap(),
            forward: Forward::Masq,
            weight: w,
        }
    }

    fn table(dests: Vec<Dest>) -> Table {
        Table {
            services: vec![Service {
                key: key(),
                scheduler: "wrr".into(),
                persistent: None,
                netmask: None,
                dests,
            }],
        }
    }

    #[test]
    fn a_new_table_is_built_service_first() {
        let ops = diff(&Table::default(), &table(vec![dest("198.51.100.2:80", 1)]));
        assert!(matches!(ops[0], Op::AddService(ref s) if s.dests.is_empty()));
        assert_eq!(ops[1], Op::AddDest(key(), dest("198.51.100.2:80", 1)));
        assert_eq!(ops.len(), 2);
    }

    #[test]
    fn a_quiesced_server_is_one_weight_edit_and_a_removed_one_one_delete() {
        let a = table(vec![dest("198.51.100.2:80", 1), dest("198.51.100.3:80", 2)]);
        let quiet = table(vec![dest("198.51.100.2:80", 0), dest("198.51.100.3:80", 2)]);
        assert_eq!(
            diff(&a, &quiet),
            vec![Op::EditDest(key(), dest("198.51.100.2:80", 0))]
        );
        let gone = table(vec![dest("198.51.100.3:80", 2)]);
        assert_eq!(
            diff(&a, &gone),
            vec![Op::DelDest(key(), "198.51.100.2:80".parse().unwrap())]
        );
        assert!(diff(&a, &a).is_empty());
        assert_eq!(diff(&a, &Table::default()), vec![Op::DelService(key())]);
    }
}
