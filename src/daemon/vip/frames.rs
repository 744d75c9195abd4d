//! The announcements of a moved address, built byte for byte: gratuitous ARP (request and
//! reply, as `send_arp` sends both: some switches only learn from one) and the IPv6 unsolicited
//! Neighbor Advertisement with the Override flag and a target link-layer option (RFC 4861
//! §4.4, §7.2.6), so that neighbours switch to the new holder's MAC at once instead of after
//! their cache times out. Payloads only: the link header is the packet socket's (`SOCK_DGRAM`).

use std::net::{Ipv4Addr, Ipv6Addr};

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Ethernet broadcast, the destination of gratuitous ARP.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// All-nodes multicast `ff02::1` and its Ethernet mapping `33:33:00:00:00:01`.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// Which gratuitous ARP form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request = 1,
    Reply = 2,
}

/// A gratuitous ARP for `ip` at `mac`: sender and target protocol address are both `ip`.
pub fn gratuitous_arp(op: ArpOp, mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&(op as u16).to_be_bytes());
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    // Target hardware address: zero in a request (RFC 5227 announcement), broadcast in a reply.
    if op == ArpOp::Reply {
        p[18..24].copy_from_slice(&BROADCAST_MAC);
    }
    p[24..28].copy_from_slice(&ip.octets());
    p
}

/// Length of the unsolicited NA: IPv6 header, ICMPv6 NA, one target link-layer option.
pub const NA_LEN: usize = 40 + 24 + 8;

/// An unsolicited Neighbor Advertisement of `target` at `mac`, from `target` to all nodes,
/// Override set, Router as given (the interface's forwarding setting), Solicited clear.
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr, router: bool) -> [u8; NA_LEN] {
    let mut p = [0u8; NA_LEN];
    let icmp_len = (NA_LEN - 40) as u16;
    p[0] = 0x60;
    p[4..6].copy_from_slice(&icmp_len.to_be_bytes());
    p[6] = 58; // ICMPv6
    p[7] = 255; // hop limit: receivers drop NAs that crossed a router
    p[8..24].copy_from_slice(&target.octets());
    p[24..40].copy_from_slice(&ALL_NODES.octets());
    let icmp = &mut p[40..];
    icmp[0] = 136;
    icmp[4] = 0x20 | if router { 0x80 } else { 0 };
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = 2; // target link-layer address
    icmp[25] = 1; // in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);
    let sum = icmpv6_checksum(target, ALL_NODES, &p[40..]);
    p[42..44].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The ICMPv6 checksum over the pseudo-header and `msg` (its checksum field zero).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];

    #[test]
    fn gratuitous_arp_layout() {
        let ip: Ipv4Addr = "192.0.2.10".parse().unwrap();
        let r = gratuitous_arp(ArpOp::Request, MAC, ip);
        assert_eq!(&r[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&r[8..14], &MAC);
        assert_eq!(&r[14..18], &[192, 0, 2, 10]);
        assert_eq!(&r[18..24], &[0; 6]);
        assert_eq!(&r[24..28], &[192, 0, 2, 10]);
        let a = gratuitous_arp(ArpOp::Reply, MAC, ip);
        assert_eq!(a[7], 2);
        assert_eq!(&a[18..24], &BROADCAST_MAC);
    }

    #[test]
    fn neighbour_advertisement_layout_and_checksum() {
        let t: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let p = unsolicited_na(MAC, t, false);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 32);
        assert_eq!((p[6], p[7]), (58, 255));
        assert_eq!(&p[8..24], &t.octets());
        assert_eq!(&p[24..40], &ALL_NODES.octets());
        assert_eq!(p[40], 136);
        assert_eq!(p[44], 0x20, "Override only");
        assert_eq!(&p[48..64], &t.octets());
        assert_eq!(&p[64..66], &[2, 1]);
        assert_eq!(&p[66..72], &MAC);
        // A receiver's check: the sum over the whole message, checksum included, is zero.
        assert_eq!(icmpv6_checksum(t, ALL_NODES, &p[40..]), 0);
        assert_eq!(unsolicited_na(MAC, t, true)[44], 0xa0);
    }

    #[test]
    fn checksum_known_answer() {
        // RFC 1071 example words folded the same way: a zero message of length 0 from :: to ::
        // sums only the next header (58).
        assert_eq!(
            icmpv6_checksum(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, &[]),
            !58u16
        );
    }
}
