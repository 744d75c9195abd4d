//! `heartbeat --export pcs|crm|cib|corosync`: the way out to Pacemaker + Corosync for users who
//! outgrow the pair (issue 20). ha.cf and haresources become groups in haresources order
//! (members in order), a location preference for the haresources node, stickiness from
//! auto_failback, monitors from the `monitor` lines, ping nodes as an `ocf:pacemaker:ping`
//! clone and rule, fence devices as stonith resources, and a corosync.conf with one link per
//! heartbeat medium and `two_node`. What has no equivalent is said, in the output as comments
//! and on stderr.

pub mod plan;
pub mod render;

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use crate::config::{Config, Medium};
use crate::resource::{Resolver, resolve::DEFAULT_BUILTIN_DIR};

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcs,
    Crm,
    Cib,
    Corosync,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "pcs" => Some(Format::Pcs),
            "crm" => Some(Format::Crm),
            "cib" => Some(Format::Cib),
            "corosync" => Some(Format::Corosync),
            _ => None,
        }
    }
}

/// Prints the export; returns the exit code.
pub fn run(format: Format, ha_dir: &Path, node: Option<&str>) -> i32 {
    let loaded = match crate::config::load(ha_dir, node) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return 1;
        }
    };
    let resolver = Resolver::new(ha_dir, Some(DEFAULT_BUILTIN_DIR.into()));
    let (text, notes) = export(format, &loaded.config, &resolver);
    print!("{text}");
    for n in notes {
        eprintln!("heartbeat --export: note: {n}");
    }
    0
}

/// The text of one format and the notes.
pub fn export(format: Format, config: &Config, resolver: &Resolver) -> (String, Vec<String>) {
    let plan = plan::build(config, resolver);
    match format {
        Format::Pcs => (render::pcs(&plan), plan.notes.clone()),
        Format::Crm => (render::crm(&plan), plan.notes.clone()),
        Format::Cib => (render::cib(&plan), plan.notes.clone()),
        Format::Corosync => {
            let (links, notes) = corosync_links(config);
            (render::corosync(&plan, &links, &notes), notes)
        }
    }
}

/// Each node's address on each medium, as far as this node can know it: its own from the
/// interface, the peer's from `ucast` or its name.
fn corosync_links(config: &Config) -> (Vec<Vec<Option<String>>>, Vec<String>) {
    let mut notes = Vec::new();
    let mut links = Vec::new();
    for m in &config.ha.media {
        let (iface, peer_addr) = match m {
            Medium::Ucast { iface, peer } => (iface, Some(peer.clone())),
            Medium::Ucast6 { iface, peer } => (iface, Some(peer.to_string())),
            Medium::Mcast6 { iface, .. } => (iface, None),
            Medium::Bcast { iface } | Medium::Mcast { iface, .. } => (iface, None),
            Medium::Serial { device } => {
                notes.push(format!(
                    "serial {device}: Corosync has no serial links; it is left out (use a second network link)"
                ));
                continue;
            }
        };
        let own = iface_addr(iface);
        let peer_addr = peer_addr.or_else(|| name_addr(&config.peer));
        if own.is_none() || peer_addr.is_none() {
            notes.push(format!(
                "link {iface}: fill in the addresses marked ADDRESS-OF-… (corosync links are unicast between node addresses)"
            ));
        }
        let row = config
            .ha
            .nodes
            .iter()
            .map(|n| {
                if *n == config.local {
                    own.clone()
                } else {
                    peer_addr.clone()
                }
            })
            .collect();
        links.push(row);
    }
    if config.ha.media.iter().any(|m| {
        matches!(
            m,
            Medium::Bcast { .. } | Medium::Mcast { .. } | Medium::Mcast6 { .. }
        )
    }) {
        notes.push(String::from("bcast/mcast media become knet unicast links"));
    }
    notes.push(String::from(
        "generate the key with corosync-keygen and copy it and this file to both nodes",
    ));
    (links, notes)
}

fn iface_addr(iface: &str) -> Option<String> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        if a.interface_name != iface {
            continue;
        }
        if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
            return Some(IpAddr::V4(sin.ip()).to_string());
        }
    }
    None
}

fn name_addr(name: &str) -> Option<String> {
    (name, 0)
        .to_socket_addrs()
        .ok()?
        .find(|a| a.is_ipv4() && !a.ip().is_loopback())
        .map(|a| a.ip().to_string())
}
