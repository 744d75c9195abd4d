//! Address resources as the crash guard sees them: which addresses a held group put on the
//! interfaces, and where they are now (from `ip -o -4 addr show`), so they can be removed
//! directly and fast, without depending on the resource script.

use std::net::IpAddr;

/// Resource scripts whose first argument is an address the group adds to an interface.
pub use crate::config::model::ADDRESS_RESOURCES as ADDRESS_SCRIPTS;

/// The address of an `IPaddr`/`IPaddr2` haresources word (`IPaddr::192.0.2.10/24/eth0`, or the
/// bare `192.0.2.10` that haresources maps to `IPaddr`), or `None` for other resources.
pub fn address_of(resource: &str) -> Option<IpAddr> {
    // The argument is everything after the name: an IPv6 address holds `::` itself.
    let arg = match resource.split_once("::") {
        Some((name, arg)) if ADDRESS_SCRIPTS.contains(&name) => arg,
        Some(_) => return None,
        None => resource,
    };
    arg.split('/').next()?.parse().ok()
}

/// One configured address: the device to delete it from and `ADDR/PLEN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub device: String,
    pub cidr: String,
}

/// Every place `wanted` is configured, from the output of `ip -o addr show`.
pub fn find_in_ip_output(output: &str, wanted: IpAddr) -> Vec<Configured> {
    let mut found = Vec::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        let (Some(_index), Some(ifname), Some(family), Some(cidr)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        if family != "inet" && family != "inet6" {
            continue;
        }
        let Some(addr) = cidr
            .split('/')
            .next()
            .and_then(|a| a.parse::<IpAddr>().ok())
        else {
            continue;
        };
        if addr != wanted {
            continue;
        }
        // `veth0@if12` names the device `veth0`.
        let device = ifname.split('@').next().unwrap_or(ifname);
        found.push(Configured {
            device: device.to_string(),
            cidr: cidr.to_string(),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_resources() {
        let a = |s: &str| address_of(s).map(|a| a.to_string());
        assert_eq!(
            a("IPaddr::192.0.2.10/24/eth0").as_deref(),
            Some("192.0.2.10")
        );
        assert_eq!(a("IPaddr2::192.0.2.11").as_deref(), Some("192.0.2.11"));
        assert_eq!(a("192.0.2.12").as_deref(), Some("192.0.2.12"));
        assert_eq!(
            a("IPaddr::192.0.2.13/24/eth0/192.0.2.255").as_deref(),
            Some("192.0.2.13")
        );
        assert_eq!(a("httpd"), None);
        assert_eq!(a("Filesystem::/dev/sda1::/data"), None);
        assert_eq!(a("IPaddr::notanaddress"), None);
        assert_eq!(
            a("IPaddr2::2001:db8::10/64").as_deref(),
            Some("2001:db8::10")
        );
    }

    #[test]
    fn finds_addresses_in_ip_output() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                   5: hb0@if4    inet 198.51.100.1/24 brd 198.51.100.255 scope global hb0\\       valid_lft forever\n\
                   7: pub0@if6    inet 203.0.113.1/24 brd 203.0.113.255 scope global pub0\\       valid_lft forever\n\
                   7: pub0@if6    inet 203.0.113.10/24 brd 203.0.113.255 scope global secondary pub0:0\\       valid_lft forever\n\
                   8: other    inet 203.0.113.10/32 scope global other\\       valid_lft forever\n";
        let wanted: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(
            find_in_ip_output(out, wanted),
            vec![
                Configured {
                    device: "pub0".into(),
                    cidr: "203.0.113.10/24".into()
                },
                Configured {
                    device: "other".into(),
                    cidr: "203.0.113.10/32".into()
                },
            ]
        );
        assert!(find_in_ip_output(out, "192.0.2.1".parse().unwrap()).is_empty());
        assert!(find_in_ip_output("garbage\n\n1: x inet6 ::1/128\n", wanted).is_empty());
        let v6 = "3: pub0    inet6 2001:db8::10/64 scope global \\       valid_lft forever\n";
        assert_eq!(
            find_in_ip_output(v6, "2001:db8::10".parse().unwrap()),
            vec![Configured {
                device: "pub0".into(),
                cidr: "2001:db8::10/64".into()
            }]
        );
    }
}
