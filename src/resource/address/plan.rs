//! Deciding where an address goes, from a snapshot of the kernel's links, addresses and routes:
//! the interface and prefix as the original's `findif` finds them (the route containing the
//! address with the longest prefix; a match on the default route only with a netmask given),
//! the `IFACE:N` label of the IPaddr flavour, the broadcast. Pure: the snapshot is an input.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::spec::{Flavour, MAX_LABEL, VipSpec, broadcast_of};

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Hardware address (6 bytes on Ethernet); empty when the link has none.
    pub mac: Vec<u8>,
    /// Administratively up (IFF_UP).
    pub up: bool,
}

/// One configured address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    /// IPv6 duplicate address detection still running.
    pub tentative: bool,
    /// IPv6 duplicate address detection found another holder.
    pub dad_failed: bool,
}

/// One unicast route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix: u8,
    pub oif: u32,
}

/// What the kernel has, as far as the plan needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
}

impl Snapshot {
    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_named(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Every configured copy of `addr` (not on `lo`, unless a loopback address is asked for).
    pub fn holders(&self, addr: IpAddr) -> Vec<&Address> {
        self.addresses
            .iter()
            .filter(|a| a.addr == addr)
            .filter(|a| addr.is_loopback() || self.link(a.index).is_none_or(|l| l.name != "lo"))
            .collect()
    }
}

/// Where and how to add the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPlan {
    pub index: u32,
    pub ifname: String,
    pub addr: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    /// The interface is down and must be brought up first (as the scripts do).
    pub bring_up: bool,
    /// A warning for the log (a label too long for the kernel, dropped).
    pub note: Option<String>,
}

/// Why the address cannot be placed (the scripts' exit 6, "not configured").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// Where `spec` goes, given `snap`. Call only when the address is not held yet.
pub fn plan(spec: &VipSpec, snap: &Snapshot) -> Result<AddPlan, PlanError> {
    let (link, route_bits) = find_interface(spec, snap)?;
    let prefix = match spec.prefix {
        Some(p) => p,
        None if route_bits > 0 => route_bits,
        None => {
            return Err(PlanError(format!(
                "Cannot use default route w/o netmask [{}]: give one, e.g. {}/24",
                spec.addr, spec.addr
            )));
        }
    };
    let mut note = None;
    let label = match (&spec.label, spec.flavour, spec.addr) {
        (Some(l), _, _) => Some(l.clone()),
        (None, Flavour::IPaddr, IpAddr::V4(_)) => Some(free_label(&link.name, snap)),
        _ => None,
    };
    let label = match label {
        Some(l) if l.len() > MAX_LABEL => {
            note = Some(format!(
                "label {l} longer than {MAX_LABEL} characters, address added without a label"
            ));
            None
        }
        l => l,
    };
    let broadcast = match spec.addr {
        IpAddr::V4(a) => spec.broadcast.or_else(|| broadcast_of(a, prefix)),
        IpAddr::V6(_) => None,
    };
    Ok(AddPlan {
        index: link.index,
        ifname: link.name.clone(),
        addr: spec.addr,
        prefix,
        label,
        broadcast,
        bring_up: !link.up,
        note,
    })
}

/// The interface (and the matching route's prefix length) for `spec`.
fn find_interface<'a>(spec: &VipSpec, snap: &'a Snapshot) -> Result<(&'a Link, u8), PlanError> {
    let named = match &spec.iface {
        Some(name) => Some(
            snap.link_named(name)
                .ok_or_else(|| PlanError(format!("no such interface [{name}]")))?,
        ),
        None => None,
    };
    if spec.addr.is_loopback()
        && let Some(lo) = named.or_else(|| snap.link_named("lo"))
    {
        return Ok((lo, if spec.addr.is_ipv4() { 8 } else { 128 }));
    }
    if let (Some(link), Some(p)) = (named, spec.prefix) {
        // Both given: nothing to look up.
        return Ok((link, p));
    }
    let best = snap
        .routes
        .iter()
        .filter(|r| named.is_none_or(|l| l.index == r.oif))
        .filter(|r| contains(r.dst, r.prefix, spec.addr))
        .max_by_key(|r| r.prefix);
    match (best, named) {
        (Some(r), Some(link)) => Ok((link, r.prefix)),
        (Some(r), None) => snap
            .link(r.oif)
            .map(|l| (l, r.prefix))
            .ok_or_else(|| PlanError(format!("route to {} has no interface", spec.addr))),
        (None, _) => Err(PlanError(format!(
            "no route to {}{}: cannot find an interface/netmask; give both, e.g. {}/24/eth0",
            spec.addr,
            spec.iface
                .as_ref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default(),
            spec.addr
        ))),
    }
}

/// The first `IFACE:N` label not in use.
fn free_label(ifname: &str, snap: &Snapshot) -> String {
    (0..)
        .map(|n| format!("{ifname}:{n}"))
        .find(|l| !snap.addresses.iter().any(|a| a.label.as_ref() == Some(l)))
        .unwrap_or_else(|| ifname.to_string())
}

/// Whether `net/prefix` contains `addr` (same family only).
pub fn contains(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse;
    use super::*;

    fn snap() -> Snapshot {
        let link = |index, name: &str, up| Link {
            index,
            name: name.into(),
            mac: vec![2, 0, 0, 0, 0, index as u8],
            up,
        };
        let addr = |index, a: &str, prefix, label: Option<&str>| Address {
            index,
            addr: a.parse().unwrap(),
            prefix,
            label: label.map(String::from),
            tentative: false,
            dad_failed: false,
        };
        let route = |d: &str, prefix, oif| Route {
            dst: d.parse().unwrap(),
            prefix,
            oif,
        };
        Snapshot {
            links: vec![
                link(1, "lo", true),
                link(2, "eth0", true),
                link(3, "eth1", false),
            ],
            addresses: vec![
                addr(1, "127.0.0.1", 8, Some("lo")),
                addr(2, "192.0.2.1", 24, Some("eth0")),
                addr(2, "192.0.2.20", 24, Some("eth0:0")),
                addr(3, "198.51.100.1", 24, Some("eth1")),
                addr(2, "2001:db8::1", 64, None),
            ],
            routes: vec![
                route("0.0.0.0", 0, 2),
                route("192.0.2.0", 24, 2),
                route("192.0.2.128", 25, 3),
                route("198.51.100.0", 24, 3),
                route("2001:db8::", 64, 2),
            ],
        }
    }

    fn plan_of(flavour: Flavour, s: &str) -> Result<AddPlan, PlanError> {
        plan(&parse(flavour, s).unwrap(), &snap())
    }

    #[test]
    fn findif_takes_the_longest_matching_route() {
        let p = plan_of(Flavour::IPaddr, "192.0.2.10").unwrap();
        assert_eq!((p.ifname.as_str(), p.prefix), ("eth0", 24));
        assert_eq!(p.label.as_deref(), Some("eth0:1"), "eth0:0 is taken");
        assert_eq!(p.broadcast, Some("192.0.2.255".parse().unwrap()));
        let p = plan_of(Flavour::IPaddr, "192.0.2.200").unwrap();
        assert_eq!(
            (p.ifname.as_str(), p.prefix, p.bring_up),
            ("eth1", 25, true)
        );
        // Restricted to the named interface.
        let p = plan_of(Flavour::IPaddr2, "192.0.2.200//eth0").unwrap();
        assert_eq!((p.ifname.as_str(), p.prefix, p.label), ("eth0", 24, None));
    }

    #[test]
    fn the_default_route_needs_a_netmask() {
        let e = plan_of(Flavour::IPaddr, "203.0.113.5").unwrap_err();
        assert!(e.0.contains("default route w/o netmask"), "{e}");
        let p = plan_of(Flavour::IPaddr, "203.0.113.5/24").unwrap();
        assert_eq!((p.ifname.as_str(), p.prefix), ("eth0", 24));
    }

    #[test]
    fn given_interface_and_prefix_need_no_route() {
        let p = plan_of(Flavour::IPaddr2, "203.0.113.5/28/eth1/203.0.113.15").unwrap();
        assert_eq!((p.ifname.as_str(), p.prefix), ("eth1", 28));
        assert_eq!(p.broadcast, Some("203.0.113.15".parse().unwrap()));
        let e = plan_of(Flavour::IPaddr2, "203.0.113.5/28/eth9").unwrap_err();
        assert!(e.0.contains("no such interface [eth9]"), "{e}");
    }

    #[test]
    fn ipv6_and_labels() {
        let p = plan_of(Flavour::IPaddr, "2001:db8::10").unwrap();
        assert_eq!(
            (p.ifname.as_str(), p.prefix, p.label, p.broadcast),
            ("eth0", 64, None, None)
        );
        let p = plan_of(Flavour::IPaddr2, "192.0.2.10/24/eth0:averyverylonglabel").unwrap();
        assert_eq!(p.label, None);
        assert!(p.note.unwrap().contains("longer than 15"));
        let e = plan_of(Flavour::IPaddr, "2001:db9::1").unwrap_err();
        assert!(e.0.contains("no route"), "{e}");
    }

    #[test]
    fn holders_ignore_lo_except_for_loopback_addresses() {
        let mut s = snap();
        s.addresses.push(Address {
            index: 1,
            addr: "192.0.2.10".parse().unwrap(),
            prefix: 32,
            label: None,
            tentative: false,
            dad_failed: false,
        });
        assert!(s.holders("192.0.2.10".parse().unwrap()).is_empty());
        assert_eq!(s.holders("192.0.2.20".parse().unwrap()).len(), 1);
        assert_eq!(s.holders("127.0.0.1".parse().unwrap()).len(), 1);
    }

    #[test]
    fn prefix_containment() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(contains(a("0.0.0.0"), 0, a("203.0.113.1")));
        assert!(contains(a("192.0.2.128"), 25, a("192.0.2.200")));
        assert!(!contains(a("192.0.2.128"), 25, a("192.0.2.10")));
        assert!(contains(a("2001:db8::"), 32, a("2001:db8:1::5")));
        assert!(!contains(a("2001:db8::"), 32, a("192.0.2.1")));
    }
}
