//! The kernel's address table over rtnetlink, blocking and without a runtime: a snapshot of
//! links, addresses and routes; adding and removing addresses in one pipelined batch (every
//! request sent, then every acknowledgement read: 256 addresses cost one round of system calls,
//! not 256 forks of `ip`); and a listening socket for address events (`RTM_DELADDR` of a VIP
//! removed behind our back). Messages are typed by `netlink-packet-route`.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::resource::address::plan::{AddPlan, Address, Link, Route, Snapshot};

/// Multicast groups of address events (`1 << (RTNLGRP_IPV4_IFADDR - 1)`, `... IPV6_IFADDR`).
const GROUP_IPV4_IFADDR: u32 = 1 << (5 - 1);
const GROUP_IPV6_IFADDR: u32 = 1 << (9 - 1);
/// The main routing table.
const RT_TABLE_MAIN: u32 = 254;
/// Receive buffer: one datagram of a dump holds at most a page or two of messages.
const RECV_BUF: usize = 64 * 1024;
/// Requests in flight at once in a batch: each acknowledgement costs the socket's queue about
/// a kilobyte of accounting, and an overflowing queue loses them (ENOBUFS) — 1000 addresses
/// sent blindly did.
const WINDOW: usize = 64;

/// One address to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
}

/// An address event from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrEvent {
    Added(Address),
    Removed(Address),
}

/// A request/response rtnetlink socket.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Errors of our own requests are reported in the acknowledgement; a full queue of
        // events is not ours to care about on this socket.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_rx_buf_sz(1024 * 1024);
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Links, addresses and main-table unicast routes.
    pub fn snapshot(&mut self) -> io::Result<Snapshot> {
        let mut snap = Snapshot::default();
        for m in self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))? {
            if let RouteNetlinkMessage::NewLink(l) = m {
                snap.links.push(link_of(&l));
            }
        }
        snap.addresses = self.addresses()?;
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            for m in self.dump(RouteNetlinkMessage::GetRoute(req))? {
                if let RouteNetlinkMessage::NewRoute(r) = m
                    && let Some(r) = route_of(&r)
                {
                    snap.routes.push(r);
                }
            }
        }
        Ok(snap)
    }

    /// Every configured address.
    pub fn addresses(&mut self) -> io::Result<Vec<Address>> {
        let mut out = Vec::new();
        for m in self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))? {
            if let RouteNetlinkMessage::NewAddress(a) = m
                && let Some(a) = address_of(&a)
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Adds every planned address; one result per plan, in order.
    pub fn add(&mut self, plans: &[AddPlan]) -> Vec<io::Result<()>> {
        let requests = plans
            .iter()
            .map(|p| {
                let mut m = address_message(p.index, p.addr, p.prefix);
                if let Some(l) = &p.label {
                    m.attributes.push(AddressAttribute::Label(l.clone()));
                }
                if let Some(b) = p.broadcast {
                    m.attributes.push(AddressAttribute::Broadcast(b));
                }
                (
                    RouteNetlinkMessage::NewAddress(m),
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                )
            })
            .collect();
        self.batch(requests)
    }

    /// Removes every listed address; one result per removal, in order.
    pub fn remove(&mut self, removals: &[Removal]) -> Vec<io::Result<()>> {
        let requests = removals
            .iter()
            .map(|r| {
                (
                    RouteNetlinkMessage::DelAddress(address_message(r.index, r.addr, r.prefix)),
                    NLM_F_REQUEST | NLM_F_ACK,
                )
            })
            .collect();
        self.batch(requests)
    }

    /// Sets a link administratively up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.batch(vec![(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_REQUEST | NLM_F_ACK,
        )])
        .pop()
        .unwrap_or_else(|| Err(io::Error::other("no answer")))
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<u32> {
        let seq = self.next_seq();
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        packet.header.flags = flags;
        packet.header.sequence_number = seq;
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;
        Ok(seq)
    }

    /// Sends the requests in windows of [`WINDOW`], reading each window's acknowledgements
    /// before the next: pipelined, without overflowing the socket's queue.
    fn batch(&mut self, requests: Vec<(RouteNetlinkMessage, u16)>) -> Vec<io::Result<()>> {
        let mut out = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let window: Vec<_> = requests.by_ref().take(WINDOW).collect();
            out.extend(self.window(window));
        }
        out
    }

    /// Sends every request, then reads acknowledgements until each has its answer.
    fn window(&mut self, requests: Vec<(RouteNetlinkMessage, u16)>) -> Vec<io::Result<()>> {
        let mut results: Vec<Option<io::Result<()>>> = Vec::with_capacity(requests.len());
        let mut seqs = Vec::with_capacity(requests.len());
        for (msg, flags) in requests {
            match self.send(msg, flags) {
                Ok(seq) => {
                    seqs.push(Some(seq));
                    results.push(None);
                }
                Err(e) => {
                    seqs.push(None);
                    results.push(Some(Err(e)));
                }
            }
        }
        let mut open = results.iter().filter(|r| r.is_none()).count();
        while open > 0 {
            let n = match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let text = e.to_string();
                    for r in results.iter_mut().filter(|r| r.is_none()) {
                        *r = Some(Err(io::Error::other(text.clone())));
                    }
                    break;
                }
            };
            for (seq, payload) in parse(&self.buf[..n]) {
                let NetlinkPayload::Error(e) = payload else {
                    continue;
                };
                let Some(i) = seqs.iter().position(|s| *s == Some(seq)) else {
                    continue;
                };
                if results[i].is_none() {
                    results[i] = Some(match e.code {
                        None => Ok(()),
                        Some(_) => Err(e.to_io()),
                    });
                    open -= 1;
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(io::Error::other("no answer"))))
            .collect()
    }

    /// A dump request and every message of its answer.
    fn dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send(msg, NLM_F_REQUEST | NLM_F_DUMP)?;
        let mut out = Vec::new();
        // Bounded: a dump of a few thousand entries fits in far fewer datagrams.
        for _ in 0..100_000 {
            let n = match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for (s, payload) in parse(&self.buf[..n]) {
                if s != seq {
                    continue;
                }
                match payload {
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    _ => {}
                }
            }
        }
        Err(io::Error::other("netlink dump without end"))
    }
}

/// A socket that receives the kernel's address events (non-blocking; read when readable).
pub struct AddrMonitor {
    socket: Socket,
    buf: Vec<u8>,
}

impl AddrMonitor {
    pub fn open() -> io::Result<AddrMonitor> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, GROUP_IPV4_IFADDR | GROUP_IPV6_IFADDR))?;
        socket.set_non_blocking(true)?;
        // Under a storm the kernel drops events rather than failing our reads.
        let _ = socket.set_no_enobufs(true);
        Ok(AddrMonitor {
            socket,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Every event queued now.
    pub fn events(&mut self) -> Vec<AddrEvent> {
        let mut out = Vec::new();
        for _ in 0..1024 {
            let n = match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for (_, payload) in parse(&self.buf[..n]) {
                match payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => {
                        out.extend(address_of(&a).map(AddrEvent::Added))
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a)) => {
                        out.extend(address_of(&a).map(AddrEvent::Removed))
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

impl AsRawFd for AddrMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// The messages of one datagram with their sequence numbers; undecodable ones are skipped.
fn parse(mut bytes: &[u8]) -> Vec<(u32, NetlinkPayload<RouteNetlinkMessage>)> {
    let mut out = Vec::new();
    while bytes.len() >= 16 {
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len < 16 || len > bytes.len() {
            break;
        }
        if let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[..len]) {
            out.push((m.header.sequence_number, m.payload));
        }
        // Messages are 4-byte aligned.
        let step = (len + 3) & !3;
        bytes = &bytes[step.min(bytes.len())..];
    }
    out
}

fn address_message(index: u32, addr: IpAddr, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    m
}

fn link_of(l: &LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        mac: Vec::new(),
        up: l.header.flags.contains(LinkFlags::Up),
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Address(m) => link.mac = m.clone(),
            _ => {}
        }
    }
    link
}

fn address_of(m: &AddressMessage) -> Option<Address> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    Some(Address {
        index: m.header.index,
        addr: local.or(address)?,
        prefix: m.header.prefix_len,
        label,
        tentative: flags.contains(AddressFlags::Tentative),
        dad_failed: flags.contains(AddressFlags::Dadfailed),
    })
}

fn route_of(r: &RouteMessage) -> Option<Route> {
    if r.header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(r.header.table);
    let mut dst = None;
    let mut oif = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(v4)) => dst = Some(IpAddr::V4(*v4)),
            RouteAttribute::Destination(RouteAddress::Inet6(v6)) => dst = Some(IpAddr::V6(*v6)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    if table != RT_TABLE_MAIN {
        return None;
    }
    let dst = dst.unwrap_or(match r.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    });
    Some(Route {
        dst,
        prefix: r.header.destination_prefix_length,
        oif: oif?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_datagrams_parse_to_nothing() {
        assert!(parse(&[]).is_empty());
        assert!(parse(&[0xff; 15]).is_empty());
        // A length field past the end, or below a header.
        let mut b = vec![0u8; 32];
        b[0] = 200;
        assert!(parse(&b).is_empty());
        b[0] = 3;
        assert!(parse(&b).is_empty());
    }

    #[test]
    fn a_snapshot_of_this_namespace_has_loopback() {
        // Any Linux process can dump its own namespace (no privilege needed).
        let Ok(mut r) = Rtnl::open() else {
            return;
        };
        let s = r.snapshot().unwrap();
        let lo = s.link_named("lo").expect("lo");
        assert!(s.addresses.iter().any(|a| a.index == lo.index));
    }
}
