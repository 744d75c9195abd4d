//! In-process virtual addresses (crate::daemon::vip) against a real kernel, in network namespaces: a
//! node with `eth0` on a veth link to a client. The address worker runs inside the node's
//! namespace; the client's neighbour table shows what the announcements did.
mod common;

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::netns::{Netns, can_use_netns, veth, wait_until};
use heartbeat::config::VipSettings;
use heartbeat::core::{ActionId, ScriptOutcome};
use heartbeat::daemon::vip::{Flavour, Job, VipSpec, VipWorker};
use heartbeat::resource::address::spec::parse;
use mio::{Events, Poll, Token, Waker};

const FAKE_MAC: &str = "02:00:00:00:00:99";

struct Bed {
    node: Netns,
    client: Netns,
}

fn bed(tag: &str) -> Option<Bed> {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return None;
    }
    let node = Netns::new(&format!("vn{tag}"));
    let client = Netns::new(&format!("vc{tag}"));
    veth(&node, "eth0", &client, "c0");
    node.sh(
        "ip addr add 192.0.2.1/24 brd + dev eth0 && ip addr add 2001:db8:5::1/64 dev eth0 nodad",
    );
    client.sh(
        "ip addr add 192.0.2.100/24 brd + dev c0 && ip addr add 2001:db8:5::100/64 dev c0 nodad",
    );
    Some(Bed { node, client })
}

/// A worker living in `ns` (threads inherit the namespace of the thread that creates them).
struct InNs {
    worker: VipWorker,
    poll: Poll,
    next: u64,
}

impl InNs {
    fn new(ns: &Netns, settings: VipSettings) -> InNs {
        let name = ns.name.clone();
        let (worker, poll) = std::thread::spawn(move || {
            let f = File::open(format!("/run/netns/{name}")).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let poll = Poll::new().unwrap();
            let waker = Arc::new(Waker::new(poll.registry(), Token(7)).unwrap());
            (VipWorker::spawn(settings, waker).unwrap(), poll)
        })
        .join()
        .unwrap();
        InNs {
            worker,
            poll,
            next: 1,
        }
    }

    fn run(&mut self, make: impl FnOnce(ActionId) -> Job) -> ScriptOutcome {
        let id = ActionId(self.next);
        self.next += 1;
        self.worker.submit(make(id));
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = Events::with_capacity(4);
        while Instant::now() < deadline {
            if let Some(d) = self.worker.results().into_iter().find(|d| d.id == id) {
                return d.outcome;
            }
            let _ = self
                .poll
                .poll(&mut events, Some(Duration::from_millis(100)));
        }
        panic!("job {id:?} got no answer in 20 s");
    }
}

fn spec(flavour: Flavour, s: &str) -> VipSpec {
    parse(flavour, s).unwrap()
}

fn neighbour(client: &Netns, ip: &str) -> String {
    let out = client.sh(&format!("ip neigh show {ip} dev c0"));
    let mut w = out.split_whitespace();
    w.find(|x| *x == "lladdr");
    w.next().unwrap_or("none").to_string()
}

fn addrs(ns: &Netns) -> String {
    ns.sh("ip -o addr show dev eth0")
}

#[test]
fn ipv4_vip_is_added_announced_and_removed() {
    let Some(b) = bed("4") else { return };
    // The client still believes an old holder has the VIP.
    b.client.sh(&format!(
        "ip neigh replace 192.0.2.10 lladdr {FAKE_MAC} dev c0 nud stale"
    ));
    let mut w = InNs::new(&b.node, VipSettings::default());
    let v = spec(Flavour::IPaddr, "192.0.2.10");
    assert_eq!(
        w.run(|id| Job::Status {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::NotRunning
    );
    assert_eq!(
        w.run(|id| Job::Start {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    let a = addrs(&b.node);
    assert!(
        a.contains("inet 192.0.2.10/24 brd 192.0.2.255") && a.contains("eth0:0"),
        "findif prefix, broadcast and IPaddr's label: {a}"
    );
    let mac = b.node.mac("eth0");
    assert!(
        wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
            neighbour(&b.client, "192.0.2.10") == mac
        }),
        "the client's entry stayed {}",
        neighbour(&b.client, "192.0.2.10")
    );
    // A second start finds it in place (and announces again).
    assert_eq!(
        w.run(|id| Job::Start {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    assert_eq!(
        w.run(|id| Job::Status {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    assert_eq!(
        w.run(|id| Job::Stop {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    assert!(!addrs(&b.node).contains("192.0.2.10/"));
    assert_eq!(
        w.run(|id| Job::Status {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::NotRunning
    );
    // Errors are the scripts' exit codes: 6 for an interface that does not exist.
    let bad = spec(Flavour::IPaddr2, "192.0.2.11/24/eth9");
    assert_eq!(
        w.run(|id| Job::Start { id, spec: bad }),
        ScriptOutcome::Failed(6)
    );
}

#[test]
fn ipv6_vip_waits_for_dad_then_advertises() {
    let Some(b) = bed("6") else { return };
    b.client.sh(&format!(
        "ip neigh replace 2001:db8:5::10 lladdr {FAKE_MAC} dev c0 nud stale"
    ));
    let mut w = InNs::new(&b.node, VipSettings::default());
    let v = spec(Flavour::IPaddr2, "2001:db8:5::10/64/eth0");
    let t0 = Instant::now();
    assert_eq!(
        w.run(|id| Job::Start {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    let took = t0.elapsed();
    let a = addrs(&b.node);
    let vip_line = a
        .lines()
        .find(|l| l.contains("inet6 2001:db8:5::10/64"))
        .unwrap_or_else(|| panic!("VIP missing: {a}"));
    assert!(
        !vip_line.contains("tentative"),
        "started before DAD ended: {vip_line}"
    );
    eprintln!("IPv6 start with DAD: {} ms", took.as_millis());
    let mac = b.node.mac("eth0");
    assert!(
        wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
            neighbour(&b.client, "2001:db8:5::10") == mac
        }),
        "the unsolicited NA did not override the client's entry: {}",
        neighbour(&b.client, "2001:db8:5::10")
    );
    assert_eq!(
        w.run(|id| Job::Stop {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    assert!(!addrs(&b.node).contains("2001:db8:5::10/"));
}

#[test]
fn ipv6_dad_failure_fails_the_start() {
    let Some(b) = bed("d") else { return };
    // The client already holds the address: our DAD probe gets its answer.
    b.client.sh("ip addr add 2001:db8:5::20/64 dev c0 nodad");
    let mut w = InNs::new(&b.node, VipSettings::default());
    let v = spec(Flavour::IPaddr2, "2001:db8:5::20/64/eth0");
    assert_eq!(
        w.run(|id| Job::Start {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Failed(1)
    );
    assert!(
        !addrs(&b.node).contains("2001:db8:5::20/"),
        "a duplicate must not stay configured: {}",
        addrs(&b.node)
    );
}

#[test]
fn a_vip_deleted_by_hand_is_restored() {
    let Some(b) = bed("r") else { return };
    let mut w = InNs::new(&b.node, VipSettings::default());
    let v = spec(Flavour::IPaddr2, "192.0.2.30/24/eth0");
    assert_eq!(
        w.run(|id| Job::Start {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    b.node.sh("ip addr del 192.0.2.30/24 dev eth0");
    assert!(
        wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
            addrs(&b.node).contains("192.0.2.30/24")
        }),
        "not restored: {}",
        addrs(&b.node)
    );
    // After a stop it is ours no more: a later removal is left alone.
    assert_eq!(
        w.run(|id| Job::Stop {
            id,
            spec: v.clone()
        }),
        ScriptOutcome::Ok
    );
    b.node
        .sh("ip addr add 192.0.2.30/24 dev eth0 && ip addr del 192.0.2.30/24 dev eth0");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!addrs(&b.node).contains("192.0.2.30/24"));
}

#[test]
fn forced_removal_after_a_failed_stop_script() {
    let Some(b) = bed("f") else { return };
    b.node
        .sh("ip addr add 192.0.2.40/24 dev eth0 && ip addr add 192.0.2.40/32 dev lo");
    let mut w = InNs::new(&b.node, VipSettings::default());
    let out = w.run(|id| Job::ForceRemove {
        id,
        resource: "IPaddr::192.0.2.40/24/eth0".into(),
        addr: "192.0.2.40".parse().unwrap(),
        failed: ScriptOutcome::TimedOut,
    });
    assert_eq!(out, ScriptOutcome::Ok);
    assert!(!addrs(&b.node).contains("192.0.2.40"));
    // A copy on lo is not a VIP (as the scripts and the crash guard see it).
    assert!(b.node.sh("ip -o addr show dev lo").contains("192.0.2.40"));
}

#[test]
fn two_hundred_fifty_six_vips_start_and_stop_as_one_group() {
    let Some(b) = bed("m") else { return };
    b.node.sh("ip addr add 198.51.100.1/24 dev eth0");
    let mut w = InNs::new(
        &b.node,
        VipSettings {
            garp_repeat_delay: 0,
            ..VipSettings::default()
        },
    );
    // As the core runs a group: one resource after the other, each after the previous result.
    let specs: Vec<VipSpec> = (0..256)
        .map(|i| spec(Flavour::IPaddr2, &format!("198.51.100.{i}/24/eth0")))
        .filter(|s| s.addr.to_string() != "198.51.100.1")
        .chain(std::iter::once(spec(
            Flavour::IPaddr2,
            "192.0.2.99/24/eth0",
        )))
        .collect();
    let t0 = Instant::now();
    for s in &specs {
        assert_eq!(
            w.run(|id| Job::Start {
                id,
                spec: s.clone()
            }),
            ScriptOutcome::Ok,
            "{s}"
        );
    }
    let started = t0.elapsed();
    let count = addrs(&b.node)
        .lines()
        .filter(|l| l.contains("inet "))
        .count();
    assert_eq!(count, 2 + specs.len(), "every VIP configured");
    let t1 = Instant::now();
    for s in specs.iter().rev() {
        assert_eq!(
            w.run(|id| Job::Stop {
                id,
                spec: s.clone()
            }),
            ScriptOutcome::Ok,
            "{s}"
        );
    }
    let stopped = t1.elapsed();
    let left = addrs(&b.node)
        .lines()
        .filter(|l| l.contains("inet "))
        .count();
    assert_eq!(left, 2);
    eprintln!(
        "{} VIPs: started in {} ms, stopped in {} ms (figures only; the benchmark measures)",
        specs.len(),
        started.as_millis(),
        stopped.as_millis()
    );
}

#[test]
fn a_thousand_vips_over_four_interfaces_in_one_batch() {
    // The worker's errors on stderr, should a start fail.
    let _ = simplelog::SimpleLogger::init(log::LevelFilter::Warn, simplelog::Config::default());
    let Some(b) = bed("k") else { return };
    // Three more links to the client: eth1..eth3.
    for i in 1..4 {
        veth(&b.node, &format!("eth{i}"), &b.client, &format!("c{i}"));
    }
    let mut w = InNs::new(
        &b.node,
        VipSettings {
            garp_repeat_delay: 0,
            ..VipSettings::default()
        },
    );
    // 250 addresses per interface: three IPv4 documentation /24s and one IPv6 /64 (with DAD).
    let specs: Vec<VipSpec> = (0..1000)
        .map(|i| {
            let host = i / 4 + 2;
            let text = match i % 4 {
                0 => format!("192.0.2.{host}/24/eth0"),
                1 => format!("198.51.100.{host}/24/eth1"),
                2 => format!("203.0.113.{host}/24/eth2"),
                _ => format!("2001:db8:3::{host:x}/64/eth3"),
            };
            spec(Flavour::IPaddr2, &text)
        })
        .filter(|s| s.addr.to_string() != "192.0.2.1")
        .collect();
    // Submitted together, as the daemon does for a run of addresses in one group.
    let first = w.next;
    let t0 = Instant::now();
    for (i, s) in specs.iter().enumerate() {
        w.worker.submit(Job::Start {
            id: ActionId(first + i as u64),
            spec: s.clone(),
        });
    }
    w.next += specs.len() as u64;
    let mut done = 0;
    let mut events = Events::with_capacity(4);
    let deadline = Instant::now() + Duration::from_secs(30);
    while done < specs.len() && Instant::now() < deadline {
        for d in w.worker.results() {
            assert_eq!(d.outcome, ScriptOutcome::Ok, "{d:?}");
            done += 1;
        }
        let _ = w.poll.poll(&mut events, Some(Duration::from_millis(50)));
    }
    assert_eq!(done, specs.len());
    let took = t0.elapsed();
    let v4: usize = (0..3)
        .map(|i| {
            b.node
                .sh(&format!("ip -o -4 addr show dev eth{i}"))
                .lines()
                .count()
        })
        .sum();
    let v6 = b
        .node
        .sh("ip -o -6 addr show dev eth3 scope global")
        .lines()
        .count();
    assert_eq!(
        v4 + v6,
        specs.len() + 1,
        "every VIP plus eth0's own address"
    );
    eprintln!(
        "{} VIPs over 4 interfaces (250 IPv6 after DAD): {} ms",
        specs.len(),
        took.as_millis()
    );
}
