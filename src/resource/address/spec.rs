//! What an address resource asks for: `IPaddr::ADDR[/NBITS[/IFACE[/BROADCAST]]]`,
//! `IPaddr2::ADDR[/NBITS[/IFACE[:LABEL][/BROADCAST]]]` or a bare address (haresources maps it to
//! `IPaddr`), with the grammar of the resource scripts: NBITS a prefix length or a dotted
//! netmask, a third part starting with a digit is the broadcast address, `IFACE:LABEL` names the
//! label. Pure parsing, no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Which script's behaviour to follow for labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Labels every address `IFACE:N` (first free N), as the original IPaddr's ifconfig aliases.
    IPaddr,
    /// Labels only when `IFACE:LABEL` is given, as `ip` does.
    IPaddr2,
}

/// One virtual address, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    pub flavour: Flavour,
    pub addr: IpAddr,
    /// Prefix length; `None`: taken from the route that contains the address.
    pub prefix: Option<u8>,
    /// Interface; `None`: found from the routes (findif).
    pub iface: Option<String>,
    /// Full label (`eth0:web`) when given.
    pub label: Option<String>,
    /// Broadcast (IPv4); `None`: computed from the prefix (`brd +`).
    pub broadcast: Option<Ipv4Addr>,
}

/// Why an address resource's argument is invalid (the scripts' exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// Longest interface label the kernel keeps (IFNAMSIZ - 1).
pub const MAX_LABEL: usize = 15;

impl VipSpec {
    /// The spec of an address resource (`name` and its `::` arguments), `None` for any other
    /// resource. An address resource takes one argument; haresources splits words at `::`,
    /// which also cuts an IPv6 address (`IPaddr2::2001:db8::10/64`), so the arguments are
    /// joined back before parsing.
    pub fn of_resource(name: &str, args: &[String]) -> Option<Result<VipSpec, SpecError>> {
        let flavour = match name {
            "IPaddr" => Flavour::IPaddr,
            "IPaddr2" => Flavour::IPaddr2,
            _ => return None,
        };
        Some(if args.is_empty() {
            Err(SpecError(format!(
                "{name} takes one argument ADDR[/NBITS[/IFACE[/BROADCAST]]], got none"
            )))
        } else {
            parse(flavour, &args.join("::"))
        })
    }

    /// The prefix's maximum for the family (32 or 128).
    pub fn max_prefix(&self) -> u8 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for VipSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(p) = self.prefix {
            write!(f, "/{p}")?;
        }
        if let Some(l) = self.label.as_ref().or(self.iface.as_ref()) {
            write!(f, " on {l}")?;
        }
        Ok(())
    }
}

/// Parses `ADDR[/NBITS[/IFACE[/BROADCAST]]]` as the scripts do.
pub fn parse(flavour: Flavour, spec: &str) -> Result<VipSpec, SpecError> {
    let bad = |why: &str| SpecError(format!("bad address specification [{spec}]: {why}"));
    let parts: Vec<&str> = spec.split('/').collect();
    if parts.is_empty() || parts.len() > 4 || parts[0].is_empty() {
        return Err(bad("expected ADDR[/NBITS[/IFACE[/BROADCAST]]]"));
    }
    let addr: IpAddr = parts[0]
        .parse()
        .map_err(|_| SpecError(format!("invalid IP address [{}]", parts[0])))?;
    let nbits = parts.get(1).copied().filter(|s| !s.is_empty());
    let mut iface = parts.get(2).copied().filter(|s| !s.is_empty());
    let mut bcast = parts.get(3).copied().filter(|s| !s.is_empty());
    if let Some(i) = iface
        && i.starts_with(|c: char| c.is_ascii_digit())
    {
        if bcast.is_some() {
            return Err(bad("two broadcast addresses"));
        }
        bcast = Some(i);
        iface = None;
    }
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match nbits {
        None => None,
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => match n.parse::<u8>() {
            Ok(p) if p <= max => Some(p),
            _ => return Err(SpecError(format!("invalid prefix length [{n}]"))),
        },
        Some(n) if addr.is_ipv4() => {
            Some(mask_to_prefix(n).ok_or_else(|| SpecError(format!("invalid netmask [{n}]")))?)
        }
        Some(n) => return Err(SpecError(format!("invalid prefix length [{n}]"))),
    };
    let broadcast = match bcast {
        None => None,
        Some(_) if addr.is_ipv6() => {
            return Err(SpecError(format!(
                "IPv6 addresses have no broadcast [{}]",
                bcast.unwrap_or_default()
            )));
        }
        Some(b) => Some(
            b.parse::<Ipv4Addr>()
                .map_err(|_| SpecError(format!("invalid broadcast address [{b}]")))?,
        ),
    };
    let (iface, label) = match iface {
        None => (None, None),
        Some(i) => match i.split_once(':') {
            Some((dev, _)) => (Some(dev.to_string()), Some(i.to_string())),
            None => (Some(i.to_string()), None),
        },
    };
    if let Some(dev) = &iface
        && !valid_ifname(dev)
    {
        return Err(SpecError(format!("invalid interface name [{dev}]")));
    }
    Ok(VipSpec {
        flavour,
        addr,
        prefix,
        iface,
        label,
        broadcast,
    })
}

/// Whether a name could be a Linux interface name (1-15 bytes, no `/`, `:` or whitespace).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LABEL
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// A contiguous dotted netmask to its prefix length.
pub fn mask_to_prefix(mask: &str) -> Option<u8> {
    let m: Ipv4Addr = mask.parse().ok()?;
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The broadcast address of `addr/prefix` (`brd +`); none for /31 and /32.
pub fn broadcast_of(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix >= 31 {
        return None;
    }
    let host = u32::MAX >> prefix;
    Some(Ipv4Addr::from(u32::from(addr) | host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<VipSpec, SpecError> {
        parse(Flavour::IPaddr, s)
    }

    #[test]
    fn the_scripts_grammar() {
        let v = p("192.0.2.10").unwrap();
        assert_eq!((v.prefix, v.iface.as_deref()), (None, None));
        let v = p("192.0.2.10/24/eth0").unwrap();
        assert_eq!((v.prefix, v.iface.as_deref()), (Some(24), Some("eth0")));
        let v = p("192.0.2.10/255.255.255.0/eth0/192.0.2.255").unwrap();
        assert_eq!(v.prefix, Some(24));
        assert_eq!(v.broadcast, Some("192.0.2.255".parse().unwrap()));
        // A third part starting with a digit is the broadcast.
        let v = p("192.0.2.10/24/192.0.2.255").unwrap();
        assert_eq!((v.iface, v.broadcast.is_some()), (None, true));
        let v = parse(Flavour::IPaddr2, "192.0.2.10/24/eth0:web").unwrap();
        assert_eq!(v.iface.as_deref(), Some("eth0"));
        assert_eq!(v.label.as_deref(), Some("eth0:web"));
        let v = p("2001:db8::10/64/eth0").unwrap();
        assert_eq!((v.max_prefix(), v.prefix), (128, Some(64)));
    }

    #[test]
    fn bad_specs_say_why() {
        for (s, want) in [
            ("999.1.1.1", "invalid IP address"),
            ("192.0.2.10/33", "invalid prefix length"),
            ("192.0.2.10/255.0.255.0", "invalid netmask"),
            ("192.0.2.10/24/eth0/1.2.3.400", "invalid broadcast"),
            ("192.0.2.10/24/1.2.3.4/1.2.3.5", "two broadcast"),
            ("2001:db8::1/64/eth0/1.2.3.4", "no broadcast"),
            ("2001:db8::1/ffff::", "invalid prefix length"),
            ("192.0.2.10/24/eth 0", "invalid interface name"),
            (
                "192.0.2.10/24/averyveryverylongname",
                "invalid interface name",
            ),
            ("1/2/3/4/5", "bad address specification"),
            ("", "bad address specification"),
        ] {
            let e = p(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
        let none: Vec<String> = vec![];
        assert!(VipSpec::of_resource("IPaddr", &none).unwrap().is_err());
        assert!(VipSpec::of_resource("httpd", &none).is_none());
        let cut: Vec<String> = vec!["2001:db8".into(), "10/64/eth0".into()];
        let v = VipSpec::of_resource("IPaddr2", &cut).unwrap().unwrap();
        assert_eq!(v.addr, "2001:db8::10".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn masks_and_broadcasts() {
        assert_eq!(mask_to_prefix("255.255.255.0"), Some(24));
        assert_eq!(mask_to_prefix("255.255.255.255"), Some(32));
        assert_eq!(mask_to_prefix("0.0.0.0"), Some(0));
        assert_eq!(mask_to_prefix("255.0.255.0"), None);
        let a: Ipv4Addr = "192.0.2.10".parse().unwrap();
        assert_eq!(broadcast_of(a, 24), Some("192.0.2.255".parse().unwrap()));
        assert_eq!(broadcast_of(a, 0), Some(Ipv4Addr::BROADCAST));
        assert_eq!(broadcast_of(a, 31), None);
    }
}
