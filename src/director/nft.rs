//! Rules for kernels without IPVS (as on many cloud kernels): each virtual service, IPv4 or
//! IPv6, becomes a DNAT rule in an nft table of our own (family `inet`), replaced as a whole in one transaction (`nft -f -`),
//! so a change never leaves a half-written table. Weights become slots of a round-robin map
//! (`numgen`), `sh` and persistent services hash the client address (`jhash`); weight-0
//! destinations get no slot, which is what quiescence means for new connections. Direct routing
//! and tunnelling need IPVS: their destinations are reached by NAT here, with a warning.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::config::ldirectord::{Forward, Protocol, VirtualAddr};

use super::table::{Service, Table};

/// Most map slots one service may take (weights are reduced by their common divisor first).
const MAX_SLOTS: u32 = 65_536;

/// The nft script that makes table `name` exactly `table`: an `inet` table, so IPv4 and IPv6
/// services (`virtual6=`) are served side by side (the unservable ones are named in the returned
/// warnings). `snat`: masquerade forwarded connections, for real servers that do not route their
/// replies through the director. A table of the `ip` family of earlier versions is removed.
pub fn render(name: &str, table: &Table, snat: bool) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let mut rules = String::new();
    let mut post = String::new();
    for s in &table.services {
        let VirtualAddr::Sock(vaddr) = s.key.addr else {
            warnings.push(format!(
                "{}: firewall-mark services need IPVS, which this kernel lacks",
                s.key
            ));
            continue;
        };
        let family = Family::of(vaddr.ip());
        if s.dests
            .iter()
            .any(|d| d.weight > 0 && d.forward != Forward::Masq)
        {
            warnings.push(format!(
                "{}: gate/ipip need IPVS, which this kernel lacks: forwarded by NAT instead",
                s.key
            ));
        }
        if s.dests
            .iter()
            .any(|d| d.weight > 0 && Family::of(d.addr.ip()) != family)
        {
            warnings.push(format!(
                "{}: real servers of the other address family cannot be reached by NAT: left out",
                s.key
            ));
        }
        let l4 = match s.key.protocol {
            Protocol::Udp => "udp",
            _ => "tcp",
        };
        let Some(target) = target_expr(s, family) else {
            continue; // nothing is up: no rule (and no fallback), connections are refused
        };
        let (ip, fam) = (vaddr.ip(), family.word());
        let port = vaddr.port();
        let _ = writeln!(rules, "\t\t{fam} daddr {ip} {l4} dport {port} {target}");
        if snat {
            let _ = writeln!(
                post,
                "\t\tct status dnat ct original {fam} daddr {ip} {l4} dport {port} masquerade"
            );
        }
    }
    let mut out = format!(
        "table ip {name}\ndelete table ip {name}\ntable inet {name}\ndelete table inet {name}\ntable inet {name} {{\n"
    );
    out.push_str(
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
    );
    out.push_str(&rules);
    out.push_str("\t}\n\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
    out.push_str(&rules);
    out.push_str("\t}\n");
    if !post.is_empty() {
        out.push_str("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        out.push_str(&post);
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    (out, warnings)
}

/// A service's address family, as nft words it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    fn word(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

/// The DNAT statement: one destination, or `numgen inc mod N map {…}` (`jhash` for `sh` and
/// persistence) over the weighted ones of the service's family; `None` when none has a weight.
fn target_expr(s: &Service, family: Family) -> Option<String> {
    let live: Vec<(SocketAddr, u32)> = s
        .dests
        .iter()
        .filter(|d| d.weight > 0 && Family::of(d.addr.ip()) == family)
        .map(|d| {
            let w = if s.scheduler == "rr" { 1 } else { d.weight };
            (d.addr, w)
        })
        .collect();
    let g = live.iter().fold(0, |g, (_, w)| gcd(g, *w));
    if g == 0 {
        return None;
    }
    let fam = family.word();
    if let [only] = live.as_slice() {
        return Some(format!("dnat {fam} to {}", only.0));
    }
    let mut slots = Vec::new();
    for (addr, w) in &live {
        for _ in 0..(w / g).min(MAX_SLOTS) {
            if slots.len() as u32 >= MAX_SLOTS {
                break;
            }
            slots.push(format!("{} . {}", addr.ip(), addr.port()));
        }
    }
    let selector = if s.scheduler == "sh" || s.persistent.is_some() {
        format!("jhash {fam} saddr mod {}", slots.len())
    } else {
        format!("numgen inc mod {}", slots.len())
    };
    let map: Vec<String> = slots
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{i} : {t}"))
        .collect();
    Some(format!(
        "dnat {fam} addr . port to {selector} map {{ {} }}",
        map.join(", ")
    ))
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Runs an nft script; the error is nft's own message.
pub fn apply(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("nft: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft refused the rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Writes tables without blocking the event loop: each table goes to a file and `nft -f FILE`
/// runs as a child whose end is a pidfd event on the loop. A table handed in while one is being
/// written waits; only the newest waiting one is written (it supersedes the others).
pub struct NftRunner {
    name: String,
    snat: bool,
    dir: PathBuf,
    token: Token,
    /// `nft`, or a stand-in in tests.
    program: PathBuf,
    running: Option<(Child, OwnedFd)>,
    pending: Option<Table>,
    /// Warnings already logged (a warning per change would flood the log).
    warned: HashSet<String>,
}

impl NftRunner {
    pub fn new(name: &str, snat: bool, dir: PathBuf, token: Token) -> NftRunner {
        NftRunner {
            name: name.to_string(),
            snat,
            dir,
            token,
            program: PathBuf::from("nft"),
            running: None,
            pending: None,
            warned: HashSet::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `program` instead of `nft` (tests).
    #[cfg(test)]
    fn with_program(mut self, program: PathBuf) -> NftRunner {
        self.program = program;
        self
    }

    /// A table is being written or waits to be.
    pub fn busy(&self) -> bool {
        self.running.is_some() || self.pending.is_some()
    }

    fn script_path(&self) -> PathBuf {
        self.dir.join(format!("{}.nft", self.name))
    }

    fn err_path(&self) -> PathBuf {
        self.dir.join(format!("{}.nft.err", self.name))
    }

    /// Writes `table`, now or after the one being written.
    pub fn submit(&mut self, registry: &Registry, table: &Table) -> Result<(), String> {
        if self.running.is_some() {
            self.pending = Some(table.clone());
            return Ok(());
        }
        let (script, warnings) = render(&self.name, table, self.snat);
        for w in warnings {
            if self.warned.insert(w.clone()) {
                log::warn!("{w}");
            }
        }
        std::fs::write(self.script_path(), script)
            .map_err(|e| format!("{}: {e}", self.script_path().display()))?;
        let err = std::fs::File::create(self.err_path())
            .map_err(|e| format!("{}: {e}", self.err_path().display()))?;
        let child = Command::new(&self.program)
            .arg("-f")
            .arg(self.script_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run nft: {e}"))?;
        let pidfd = match super::probe::engine::pidfd_open(child.id()) {
            Ok(fd) => fd,
            Err(e) => {
                let mut child = child;
                let _ = child.wait();
                return Err(format!("nft: pidfd: {e}"));
            }
        };
        registry
            .register(
                &mut SourceFd(&pidfd.as_raw_fd()),
                self.token,
                Interest::READABLE,
            )
            .map_err(|e| format!("nft: {e}"))?;
        self.running = Some((child, pidfd));
        Ok(())
    }

    /// The child's end (its token fired): nft's verdict, and the waiting table started.
    pub fn on_exit(&mut self, registry: &Registry) -> Result<(), String> {
        let Some((child, _)) = self.running.as_mut() else {
            return Ok(());
        };
        if let Ok(None) = child.try_wait() {
            return Ok(());
        }
        let verdict = self.reap(registry);
        if let Some(next) = self.pending.take() {
            self.submit(registry, &next)?;
        }
        verdict
    }

    /// Waits for the table being written and the one waiting (stop, back to warm).
    pub fn settle(&mut self, registry: &Registry) -> Result<(), String> {
        let mut verdict = Ok(());
        while let Some((child, _)) = self.running.as_mut() {
            let _ = child.wait();
            verdict = self.reap(registry);
            if let Some(next) = self.pending.take() {
                self.submit(registry, &next)?;
            }
        }
        verdict
    }

    fn reap(&mut self, registry: &Registry) -> Result<(), String> {
        let Some((mut child, pidfd)) = self.running.take() else {
            return Ok(());
        };
        let _ = registry.deregister(&mut SourceFd(&pidfd.as_raw_fd()));
        let status = child.wait().map_err(|e| format!("nft: {e}"))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(self.err_path()).unwrap_or_default();
        Err(format!("nft refused the rules: {}", text.trim()))
    }

    /// Deletes the table (after what is being written).
    pub fn remove(&mut self, registry: &Registry) -> Result<(), String> {
        self.pending = None;
        let _ = self.settle(registry);
        let _ = std::fs::remove_file(self.script_path());
        let _ = std::fs::remove_file(self.err_path());
        remove(&self.name)
    }
}

/// Deletes the table (director stopped with `cleanstop=yes`).
pub fn remove(name: &str) -> Result<(), String> {
    apply(&format!(
        "table ip {name}\ndelete table ip {name}\ntable inet {name}\ndelete table inet {name}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::director::table::{Dest, ServiceKey};

    fn service(scheduler: &str, dests: &[(&str, u32)]) -> Table {
        Table {
            services: vec![Service {
                key: ServiceKey {
                    protocol: Protocol::Tcp,
                    addr: VirtualAddr::Sock("192.0.2.10:80".parse().unwrap()),
                },
                scheduler: scheduler.into(),
                persistent: None,
                netmask: None,
                dests: dests
                    .iter()
                    .map(|(a, w)| Dest {
                        addr: a.parse().unwrap(),
                        forward: Forward::Masq,
                        weight: *w,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn weights_become_slots_and_weight_zero_none() {
        let t = service(
            "wrr",
            &[
                ("198.51.100.2:80", 2),
                ("198.51.100.3:80", 4),
                ("198.51.100.4:80", 0),
            ],
        );
        let (script, warnings) = render("t", &t, false);
        assert!(warnings.is_empty());
        assert!(script.contains(
            "ip daddr 192.0.2.10 tcp dport 80 dnat ip addr . port to numgen inc mod 3 map { 0 : 198.51.100.2 . 80, 1 : 198.51.100.3 . 80, 2 : 198.51.100.3 . 80 }"
        ), "{script}");
        assert!(!script.contains("198.51.100.4"));
        let (one, _) = render("t", &service("rr", &[("198.51.100.2:8080", 5)]), true);
        assert!(
            one.contains("tcp dport 80 dnat ip to 198.51.100.2:8080"),
            "{one}"
        );
        assert!(one.contains("masquerade"));
        let (none, _) = render("t", &service("rr", &[("198.51.100.2:80", 0)]), false);
        assert!(!none.contains("dnat"), "{none}");
    }

    #[test]
    fn ipv6_services_share_the_inet_table_with_ipv4_ones() {
        let mut t = service("wrr", &[("198.51.100.2:80", 1), ("198.51.100.3:80", 1)]);
        let mut six = service(
            "sh",
            &[("[2001:db8:2::11]:80", 1), ("[2001:db8:2::12]:8080", 2)],
        );
        six.services[0].key.addr = VirtualAddr::Sock("[2001:db8:1::10]:80".parse().unwrap());
        six.services[0].dests.push(Dest {
            addr: "198.51.100.9:80".parse().unwrap(),
            forward: Forward::Masq,
            weight: 1,
        });
        t.services.extend(six.services);
        let (script, warnings) = render("t", &t, true);
        assert!(script.contains("table inet t {"), "{script}");
        assert!(
            script.contains(
                "ip daddr 192.0.2.10 tcp dport 80 dnat ip addr . port to numgen inc mod 2"
            ),
            "{script}"
        );
        assert!(script.contains(
            "ip6 daddr 2001:db8:1::10 tcp dport 80 dnat ip6 addr . port to jhash ip6 saddr mod 3 map { 0 : 2001:db8:2::11 . 80, 1 : 2001:db8:2::12 . 8080, 2 : 2001:db8:2::12 . 8080 }"
        ), "{script}");
        assert!(
            script.contains("ct original ip6 daddr 2001:db8:1::10 tcp dport 80 masquerade"),
            "{script}"
        );
        assert!(
            !script.contains("198.51.100.9"),
            "an IPv4 server in an IPv6 service: {script}"
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let mut single = service("rr", &[("[2001:db8:2::11]:80", 1)]);
        single.services[0].key.addr = VirtualAddr::Sock("[2001:db8:1::10]:80".parse().unwrap());
        let (one, _) = render("t", &single, false);
        assert!(
            one.contains("ip6 daddr 2001:db8:1::10 tcp dport 80 dnat ip6 to [2001:db8:2::11]:80"),
            "{one}"
        );
    }

    /// Tables handed in while one is written are coalesced: the newest is written next, the ones
    /// in between never; the loop learns of each end through the pidfd.
    #[test]
    fn tables_submitted_while_one_is_written_are_coalesced() {
        let dir = std::env::temp_dir().join(format!("hbrs-nft-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("runs");
        let fake = dir.join("fake-nft");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nsleep 0.2\ncat \"$2\" >> {}\necho --- >> {}\n",
                log.display(),
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut poll = mio::Poll::new().unwrap();
        let mut runner =
            NftRunner::new("t", false, dir.clone(), Token(3)).with_program(fake.clone());
        let first = service("rr", &[("198.51.100.2:80", 1)]);
        let second = service("rr", &[("198.51.100.3:80", 1)]);
        let third = service("rr", &[("198.51.100.4:80", 1)]);
        runner.submit(poll.registry(), &first).unwrap();
        runner.submit(poll.registry(), &second).unwrap();
        runner.submit(poll.registry(), &third).unwrap();
        assert!(runner.busy());
        let mut events = mio::Events::with_capacity(4);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while runner.busy() && std::time::Instant::now() < deadline {
            poll.poll(&mut events, Some(std::time::Duration::from_millis(100)))
                .unwrap();
            if events.iter().any(|e| e.token() == Token(3)) {
                runner.on_exit(poll.registry()).unwrap();
            }
        }
        assert!(!runner.busy(), "the loop never saw nft end");
        let runs = std::fs::read_to_string(&log).unwrap();
        assert_eq!(runs.matches("---").count(), 2, "{runs}");
        assert!(runs.contains("198.51.100.2") && runs.contains("198.51.100.4"));
        assert!(
            !runs.contains("198.51.100.3"),
            "a superseded table was written: {runs}"
        );
        std::fs::write(&fake, "#!/bin/sh\necho 'syntax error' >&2\nexit 1\n").unwrap();
        runner.submit(poll.registry(), &first).unwrap();
        let verdict = runner.settle(poll.registry());
        assert!(
            matches!(&verdict, Err(e) if e.contains("syntax error")),
            "{verdict:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
