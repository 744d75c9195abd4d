//! Our answer to a stop that cannot stop (spec §13 items 14-15), for address resources: the
//! address is removed directly with `ip addr del`, the way the crash guard does it, and the
//! stop counts as done only if the address is really gone. A failed, hung (timed out) or
//! missing `IPaddr`/`IPaddr2` script therefore never leaves the VIP behind for the peer to
//! duplicate. Other resources keep the core's handling (logged, then the hand-over continues:
//! a service left running without its address receives no client traffic).

use std::net::IpAddr;
use std::time::Duration;

use super::addr::{address_of, find_in_ip_output};
use super::run::{ip_binary, run_bounded};

/// What the forced removal found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForcedStop {
    /// Not an address resource: nothing to force.
    NotAnAddress,
    /// The address was not configured anywhere: the stop's goal holds.
    AlreadyGone(IpAddr),
    /// Removed from these `CIDR dev DEVICE` places; verified gone.
    Removed(IpAddr, Vec<String>),
    /// Still configured after the attempt (or the interfaces could not be listed).
    StillPresent(IpAddr, String),
}

impl ForcedStop {
    /// Whether the address is known to be gone.
    pub fn address_gone(&self) -> bool {
        matches!(self, ForcedStop::AlreadyGone(_) | ForcedStop::Removed(..))
    }

    /// A log line (CRIT) for a forced stop, `None` when nothing was forced.
    pub fn describe(&self, resource: &str, why: &str) -> Option<String> {
        match self {
            ForcedStop::NotAnAddress => None,
            ForcedStop::AlreadyGone(a) => Some(format!(
                "Stop of {resource} failed ({why}), but {a} is not configured: treating it as stopped"
            )),
            ForcedStop::Removed(a, places) => Some(format!(
                "Stop of {resource} failed ({why}): removed {a} directly ({}); treating it as stopped",
                places.join(", ")
            )),
            ForcedStop::StillPresent(a, e) => Some(format!(
                "Stop of {resource} failed ({why}) and {a} could not be removed ({e}): THE ADDRESS IS STILL HERE"
            )),
        }
    }
}

/// Removes the address of `resource` (a haresources word) wherever it is configured.
pub fn force_address_stop(resource: &str, limit: Duration) -> ForcedStop {
    let Some(addr) = address_of(resource) else {
        return ForcedStop::NotAnAddress;
    };
    let ip = ip_binary();
    let list = || {
        let args: Vec<String> = ["-o", "addr", "show"].map(String::from).to_vec();
        let (o, out) = run_bounded(&ip, &args, &[], limit, true);
        o.ok().then_some(out)
    };
    let Some(listing) = list() else {
        return ForcedStop::StillPresent(addr, "cannot list addresses".into());
    };
    let found = find_in_ip_output(&listing, addr);
    if found.is_empty() {
        return ForcedStop::AlreadyGone(addr);
    }
    let mut places = Vec::new();
    for c in &found {
        let del = ["addr", "del", &c.cidr, "dev", &c.device]
            .map(String::from)
            .to_vec();
        let (o, _) = run_bounded(&ip, &del, &[], limit, false);
        places.push(format!("{} dev {}: {}", c.cidr, c.device, o.describe()));
    }
    match list() {
        Some(after) if find_in_ip_output(&after, addr).is_empty() => {
            ForcedStop::Removed(addr, places)
        }
        Some(_) => ForcedStop::StillPresent(addr, places.join(", ")),
        None => ForcedStop::StillPresent(addr, "cannot list addresses".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_resources_are_not_forced() {
        assert_eq!(
            force_address_stop("httpd", Duration::from_secs(1)),
            ForcedStop::NotAnAddress
        );
        assert_eq!(ForcedStop::NotAnAddress.describe("httpd", "exit 1"), None);
    }

    #[test]
    fn log_lines() {
        let a: IpAddr = "192.0.2.10".parse().unwrap();
        let line = ForcedStop::Removed(a, vec!["192.0.2.10/24 dev eth0: exit 0".into()])
            .describe("IPaddr::192.0.2.10/24/eth0", "timed out")
            .unwrap();
        assert!(line.contains("removed 192.0.2.10 directly"));
        assert!(ForcedStop::Removed(a, vec![]).address_gone());
        assert!(!ForcedStop::StillPresent(a, String::new()).address_gone());
    }
}
