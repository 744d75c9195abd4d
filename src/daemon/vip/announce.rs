//! Sending the announcements of [`super::frames`] on an `AF_PACKET` socket, paced: a burst of
//! `garp_count` rounds `garp_interval` apart (each round an ARP request and an ARP reply for
//! IPv4, one unsolicited NA for IPv6), the first round at once, then a second burst
//! `garp_repeat_delay` later. Every address has its own schedule, so 256 addresses are
//! announced side by side, not one after the other. The schedule is pure data
//! ([`Schedule`]); [`PacketSocket`] only sends.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::libc;

use super::frames::{
    ALL_NODES_MAC, ArpOp, BROADCAST_MAC, ETH_P_ARP, ETH_P_IPV6, gratuitous_arp, unsolicited_na,
};
use crate::config::VipSettings;

/// Where and as what an address is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: IpAddr,
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// IPv6: the interface forwards (the NA's Router flag).
    pub router: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    target: Target,
    at: Instant,
    /// Rounds left in this burst.
    left: u8,
    /// A second burst is still to come.
    repeat: bool,
}

/// Which announcements are due when.
#[derive(Debug, Clone)]
pub struct Schedule {
    settings: VipSettings,
    pending: Vec<Pending>,
}

impl Schedule {
    pub fn new(settings: VipSettings) -> Schedule {
        Schedule {
            settings,
            pending: Vec::new(),
        }
    }

    /// Starts announcing `target` (replacing a schedule it had): the first round is due now.
    pub fn start(&mut self, target: Target, now: Instant) {
        self.cancel(target.addr);
        if self.settings.garp_count == 0 {
            return;
        }
        self.pending.push(Pending {
            target,
            at: now,
            left: self.settings.garp_count,
            repeat: self.settings.garp_repeat_delay > 0,
        });
    }

    /// Stops announcing `addr` (its address was removed).
    pub fn cancel(&mut self, addr: IpAddr) {
        self.pending.retain(|p| p.target.addr != addr);
    }

    /// The rounds due at `now`, each target once, with their schedules advanced.
    pub fn due(&mut self, now: Instant) -> Vec<Target> {
        let interval = Duration::from_millis(self.settings.garp_interval);
        let repeat_delay = Duration::from_millis(self.settings.garp_repeat_delay);
        let count = self.settings.garp_count;
        let mut out = Vec::new();
        for p in self.pending.iter_mut().filter(|p| p.at <= now) {
            out.push(p.target.clone());
            p.left -= 1;
            if p.left > 0 {
                p.at += interval;
            } else if p.repeat {
                // The second burst starts `repeat_delay` after the first one's start.
                let first_burst = interval * u32::from(count.saturating_sub(1));
                p.at += repeat_delay.saturating_sub(first_burst).max(interval);
                p.left = count;
                p.repeat = false;
            }
        }
        self.pending.retain(|p| p.left > 0);
        out
    }

    /// When the next round is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.at).min()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// An `AF_PACKET` datagram socket bound to no protocol (it receives nothing): the kernel
/// builds the link header from the destination we give.
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    pub fn open() -> io::Result<PacketSocket> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// One round for `t`: ARP request and reply, or one NA. Returns the frames sent.
    pub fn announce(&self, t: &Target) -> io::Result<usize> {
        match t.addr {
            IpAddr::V4(a) => {
                for op in [ArpOp::Request, ArpOp::Reply] {
                    let p = gratuitous_arp(op, t.mac, a);
                    self.send(t.ifindex, BROADCAST_MAC, ETH_P_ARP, &p)?;
                }
                Ok(2)
            }
            IpAddr::V6(a) => {
                let p = unsolicited_na(t.mac, a, t.router);
                self.send(t.ifindex, ALL_NODES_MAC, ETH_P_IPV6, &p)?;
                Ok(1)
            }
        }
    }

    fn send(&self, ifindex: u32, dst: [u8; 6], proto: u16, payload: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = proto.to_be();
        sa.sll_ifindex = ifindex as i32;
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&dst);
        // SAFETY: payload and sa are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Whether IPv6 forwarding is on for `ifname` (the NA's Router flag, as keepalived sets it).
pub fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(a: &str) -> Target {
        Target {
            addr: a.parse().unwrap(),
            ifindex: 2,
            mac: [2, 0, 0, 0, 0, 1],
            router: false,
        }
    }

    #[test]
    fn two_bursts_at_the_configured_pace() {
        let mut s = Schedule::new(VipSettings::default());
        let t0 = Instant::now();
        s.start(target("192.0.2.10"), t0);
        let mut sent = Vec::new();
        let mut now = t0;
        while let Some(at) = s.next_due() {
            now = at;
            for _ in s.due(now) {
                sent.push(now.duration_since(t0).as_millis());
            }
        }
        assert_eq!(
            sent,
            vec![0, 200, 400, 600, 800, 5000, 5200, 5400, 5600, 5800]
        );
        assert!(s.is_empty());
        let _ = now;
    }

    #[test]
    fn addresses_are_announced_side_by_side_and_cancelled() {
        let mut s = Schedule::new(VipSettings {
            garp_repeat_delay: 0,
            ..VipSettings::default()
        });
        let t0 = Instant::now();
        for i in 0..256 {
            s.start(target(&format!("198.51.100.{}", i % 256)), t0);
        }
        s.start(target("2001:db8::1"), t0);
        assert_eq!(s.due(t0).len(), 257, "every address's first round at once");
        s.cancel("2001:db8::1".parse().unwrap());
        let next = s.next_due().unwrap();
        assert_eq!(next.duration_since(t0), Duration::from_millis(200));
        assert_eq!(s.due(next).len(), 256);
        // Restarting an address replaces its schedule.
        s.start(target("198.51.100.1"), next);
        assert_eq!(s.due(next).len(), 1);
    }

    #[test]
    fn zero_count_announces_nothing() {
        let mut s = Schedule::new(VipSettings {
            garp_count: 0,
            ..VipSettings::default()
        });
        s.start(target("192.0.2.10"), Instant::now());
        assert!(s.is_empty());
    }
}
