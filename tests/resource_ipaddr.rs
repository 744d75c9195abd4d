//! resource.d/IPaddr and IPaddr2 for real, in network namespaces: the address lands on the
//! right interface with its label, neighbours learn the MAC from the gratuitous ARP alone,
//! stop removes it, both directions are idempotent, and findif picks the right interface.
mod common;
use common::netns::*;
use std::time::Duration;

const IPADDR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d/IPaddr");
const IPADDR2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource.d/IPaddr2");

fn skip() -> bool {
    // The scripts announce with arping (the daemon itself needs none): a missing or stubbed
    // arping (as in the fresh-machine check, bound to /bin/false) skips these tests.
    if !can_use_netns() || !run("arping -V && command -v nft").status.success() {
        eprintln!("skipped: needs root, iproute2, a working arping and nft");
        return true;
    }
    false
}

/// Runs a resource script in `ns` with its pid files in `tmp`; returns (exit code, stdout).
fn script(ns: &Netns, tmp: &TempDir, program: &str, args: &str) -> (i32, String) {
    let out = ns.run(&format!("HA_RSCTMP={} {program} {args}", tmp.s()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A node and a client namespace on one segment (192.0.2.0/24), the client counting every ARP
/// request it sends.
struct Segment {
    node: Netns,
    client: Netns,
    tmp: TempDir,
}

fn segment(client_arp_accept: bool) -> Segment {
    let node = Netns::new("hrn");
    let client = Netns::new("hrc");
    veth(&node, "e0", &client, "c0");
    node.sh("ip addr add 192.0.2.1/24 dev e0");
    client.sh("ip addr add 192.0.2.2/24 dev c0");
    if client_arp_accept {
        client.sh("sysctl -qw net.ipv4.conf.c0.arp_accept=1");
    }
    client.sh(
        "nft add table arp hbrs_watch && \
         nft add chain arp hbrs_watch out '{ type filter hook output priority 0; policy accept; }' && \
         nft add rule arp hbrs_watch out arp operation request counter",
    );
    Segment {
        node,
        client,
        tmp: TempDir::new("hrt"),
    }
}

fn arp_requests_sent(client: &Netns) -> u64 {
    let listing = client.sh("nft list chain arp hbrs_watch out");
    let words: Vec<&str> = listing.split_whitespace().collect();
    let pos = words.iter().position(|w| *w == "packets").expect("counter");
    words[pos + 1].parse().expect("packet count")
}

/// Command lines of the processes inside `ns` (the pid namespace is shared, so `ps` would
/// show other tests' processes too).
fn ns_commands(ns: &Netns) -> String {
    sh(&format!(
        "for p in $(ip netns pids {}); do tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null; echo; done",
        ns.name
    ))
}

fn neigh(client: &Netns, addr: &str) -> String {
    client
        .sh(&format!("ip neigh show {addr} dev c0"))
        .to_lowercase()
}

#[test]
fn start_adds_labelled_address_and_neighbour_learns_mac_without_asking() {
    if skip() {
        return;
    }
    let s = segment(true);
    let mac = s.node.mac("e0");
    assert_eq!(
        neigh(&s.client, "192.0.2.10").trim(),
        "",
        "client starts with no entry"
    );
    assert_eq!(
        script(&s.node, &s.tmp, IPADDR, "192.0.2.10/24/e0 status").0,
        3
    );

    let (rc, _) = script(&s.node, &s.tmp, IPADDR, "192.0.2.10/24/e0 start");
    assert_eq!(rc, 0);
    assert!(
        ns_commands(&s.node).contains("arping -q -A"),
        "no ARP sender running"
    );
    let addrs = s.node.sh("ip -o -4 addr show dev e0 label e0:0");
    assert!(addrs.contains("inet 192.0.2.10/24"), "{addrs}");
    let (rc, out) = script(&s.node, &s.tmp, IPADDR, "192.0.2.10/24/e0 status");
    assert_eq!(rc, 0);
    assert!(out.contains("running"), "{out}");

    let learned = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        neigh(&s.client, "192.0.2.10").contains(&mac)
    });
    assert!(
        learned,
        "client never learned {mac}: {}",
        neigh(&s.client, "192.0.2.10")
    );
    assert_eq!(
        arp_requests_sent(&s.client),
        0,
        "the client asked instead of being told"
    );

    let (rc, _) = script(&s.node, &s.tmp, IPADDR, "192.0.2.10/24/e0 stop");
    assert_eq!(rc, 0);
    assert!(!s.node.sh("ip -o -4 addr show").contains("192.0.2.10/"));
    let (rc, out) = script(&s.node, &s.tmp, IPADDR, "192.0.2.10/24/e0 status");
    assert_eq!(rc, 3);
    assert!(out.contains("stopped") && !out.contains("running"), "{out}");
    // The background ARP sender was stopped with the address.
    let arping_left = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        !ns_commands(&s.node).contains("arping")
    });
    assert!(arping_left, "arping still running after stop");
}

#[test]
fn takeover_updates_a_stale_neighbour_entry_with_default_arp_accept() {
    if skip() {
        return;
    }
    // The real failover case: the client still has the old owner's MAC; by default Linux only
    // updates existing entries from gratuitous ARP, after its 1 s lock time: several spaced
    // announcements are needed.
    let s = segment(false);
    let mac = s.node.mac("e0");
    s.client
        .sh("ip neigh replace 192.0.2.11 lladdr 02:00:00:00:00:99 dev c0 nud stale");
    assert_eq!(
        script(&s.node, &s.tmp, IPADDR2, "192.0.2.11/24/e0:vip start").0,
        0
    );
    assert!(
        s.node
            .sh("ip -o -4 addr show dev e0 label e0:vip")
            .contains("192.0.2.11/24")
    );
    let updated = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        neigh(&s.client, "192.0.2.11").contains(&mac)
    });
    assert!(
        updated,
        "stale entry not updated: {}",
        neigh(&s.client, "192.0.2.11")
    );
    assert_eq!(arp_requests_sent(&s.client), 0);
    assert_eq!(
        script(&s.node, &s.tmp, IPADDR2, "192.0.2.11/24/e0:vip stop").0,
        0
    );
}

#[test]
fn start_twice_and_stop_twice_are_harmless() {
    if skip() {
        return;
    }
    let s = segment(false);
    for _ in 0..2 {
        assert_eq!(script(&s.node, &s.tmp, IPADDR, "192.0.2.12/24 start").0, 0);
    }
    let listing = s.node.sh("ip -o -4 addr show");
    assert_eq!(listing.matches("192.0.2.12/").count(), 1, "{listing}");
    for _ in 0..2 {
        assert_eq!(script(&s.node, &s.tmp, IPADDR, "192.0.2.12/24 stop").0, 0);
    }
    let listing = s.node.sh("ip -o -4 addr show");
    assert!(!listing.contains("192.0.2.12/"), "{listing}");
    assert!(
        listing.contains("192.0.2.1/24"),
        "primary address untouched: {listing}"
    );
}

#[test]
fn findif_picks_the_interface_whose_route_contains_the_address() {
    if skip() {
        return;
    }
    let node = Netns::new("hrf");
    let peer = Netns::new("hrp");
    veth(&node, "e0", &peer, "p0");
    veth(&node, "e1", &peer, "p1");
    node.sh("ip addr add 192.0.2.1/24 dev e0 && ip addr add 198.51.100.1/24 dev e1");
    node.sh("ip route add 203.0.113.0/24 dev e0 && ip route add 203.0.113.128/25 dev e1");
    node.sh("ip route add default via 192.0.2.254");
    let tmp = TempDir::new("hrf");

    assert_eq!(script(&node, &tmp, IPADDR, "198.51.100.20 start").0, 0);
    let e1 = node.sh("ip -o -4 addr show dev e1 label e1:0");
    assert!(e1.contains("inet 198.51.100.20/24"), "{e1}");

    assert_eq!(script(&node, &tmp, IPADDR, "192.0.2.20 start").0, 0);
    assert!(
        node.sh("ip -o -4 addr show dev e0 label e0:0")
            .contains("inet 192.0.2.20/24")
    );

    // Longest prefix wins: /25 on e1 over /24 on e0.
    assert_eq!(script(&node, &tmp, IPADDR, "203.0.113.200 start").0, 0);
    assert!(
        node.sh("ip -o -4 addr show dev e1")
            .contains("inet 203.0.113.200/25")
    );
    assert_eq!(script(&node, &tmp, IPADDR, "203.0.113.20 start").0, 0);
    assert!(
        node.sh("ip -o -4 addr show dev e0")
            .contains("inet 203.0.113.20/24")
    );

    // Only the default route matches: refused without a netmask (rc 6), fine with one.
    let (rc, _) = script(&node, &tmp, IPADDR, "198.51.100.77/32/e0 status");
    assert_eq!(rc, 3);
    node.sh("ip route del 198.51.100.0/24 dev e1 2>/dev/null || true");
    assert_eq!(script(&node, &tmp, IPADDR, "198.51.100.77 start").0, 6);
    assert_eq!(script(&node, &tmp, IPADDR, "198.51.100.77/32 start").0, 0);
    assert!(
        node.sh("ip -o -4 addr show dev e0")
            .contains("inet 198.51.100.77/32")
    );
}

#[test]
fn bad_arguments_use_the_original_exit_codes() {
    if skip() {
        return;
    }
    let node = Netns::new("hrb");
    let peer = Netns::new("hrq");
    veth(&node, "d0", &peer, "q0");
    let tmp = TempDir::new("hrb");
    assert_eq!(script(&node, &tmp, IPADDR, "192.0.2.30").0, 1, "usage");
    assert_eq!(script(&node, &tmp, IPADDR, "192.0.2.300/24 start").0, 2);
    assert_eq!(script(&node, &tmp, IPADDR, "192.0.2.30/33 start").0, 2);
    assert_eq!(
        script(&node, &tmp, IPADDR, "192.0.2.30/24/nosuch0 start").0,
        6
    );
    // Third part starting with a digit is the broadcast address.
    node.sh("ip addr add 192.0.2.1/24 dev d0");
    assert_eq!(
        script(
            &node,
            &tmp,
            IPADDR,
            "192.0.2.30/255.255.255.0/192.0.2.255 start"
        )
        .0,
        0
    );
    let l = node.sh("ip -o -4 addr show dev d0 label d0:0");
    assert!(l.contains("inet 192.0.2.30/24 brd 192.0.2.255"), "{l}");
}

/// The start path with interface and prefix given looks the addresses up once: it must still
/// pick the first free label (gaps included), see an address held on another interface, and
/// bring a down interface up.
#[test]
fn fast_start_path_keeps_labels_holders_and_link_state_right() {
    if skip() {
        return;
    }
    let s = segment(false);
    s.node
        .sh("ip addr add 192.0.2.30/24 dev e0 label e0:0 && ip addr add 192.0.2.32/24 dev e0 label e0:2");
    assert_eq!(
        script(&s.node, &s.tmp, IPADDR, "192.0.2.31/24/e0 start").0,
        0
    );
    let l = s.node.sh("ip -o -4 addr show dev e0 label e0:1");
    assert!(l.contains("192.0.2.31/24"), "first free label is e0:1: {l}");
    // Held elsewhere (here under another label): start is a no-op, no second copy.
    assert_eq!(
        script(&s.node, &s.tmp, IPADDR, "192.0.2.32/24/e0 start").0,
        0
    );
    let listing = s.node.sh("ip -o -4 addr show");
    assert_eq!(listing.matches("192.0.2.32/").count(), 1, "{listing}");
    // A down interface is brought up with the address.
    s.node.sh("ip link set e0 down");
    assert_eq!(
        script(&s.node, &s.tmp, IPADDR, "192.0.2.33/24/e0 start").0,
        0
    );
    let link = s.node.sh("ip -o link show dev e0");
    assert!(link.contains(",UP"), "e0 brought up: {link}");
    for a in ["31", "32", "33"] {
        assert_eq!(
            script(&s.node, &s.tmp, IPADDR, &format!("192.0.2.{a}/24/e0 stop")).0,
            0
        );
    }
    let listing = s.node.sh("ip -o -4 addr show dev e0");
    for a in ["31", "32", "33"] {
        assert!(!listing.contains(&format!("192.0.2.{a}/")), "{listing}");
    }
    assert!(listing.contains("192.0.2.30/24"), "{listing}");
}
