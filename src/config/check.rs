//! `heartbeat --check`: validate the three files and print a summary.

use std::fmt::Write as _;

use super::model::{AutoFailback, Config, Medium};
use super::time::format_millis;
use std::path::Path;

/// Runs the check; returns the exit code (0 valid, 1 errors).
pub fn run(ha_dir: &Path, node: Option<&str>) -> i32 {
    match super::load(ha_dir, node) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            print!("{}", summary(&loaded.config));
            0
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("heartbeat --check: {} error(s)", errors.len());
            1
        }
    }
}

fn medium_text(m: &Medium, udpport: u16) -> String {
    match m {
        Medium::Bcast { iface } => format!("bcast {iface} port {udpport}"),
        Medium::Ucast { iface, peer } => format!("ucast {iface} to {peer} port {udpport}"),
        Medium::Serial { device } => format!("serial {device}"),
        Medium::Ucast6 { iface, peer } => format!("ucast6 {iface} to [{peer}] port {udpport}"),
        Medium::Mcast6 {
            iface,
            group,
            port,
            hops,
            loopback,
        } => format!(
            "mcast6 {iface} group {group} port {port} hops {hops} loop {}",
            u8::from(*loopback)
        ),
        Medium::Mcast {
            iface,
            group,
            port,
            ttl,
            loopback,
        } => format!(
            "mcast {iface} group {group} port {port} ttl {ttl} loop {}",
            u8::from(*loopback)
        ),
    }
}

/// What fences the peer, and the split-brain warning in plain words when nothing does and a
/// single medium carries the heartbeats.
pub fn fencing_line(c: &Config) -> String {
    let f = &c.ha.fencing;
    match c.fence_device() {
        Some(d) => {
            let delay = f.delay_for(&c.peer);
            let mut line = format!(
                "fencing: {} before taking over from {} (timeout {}",
                d.name(),
                c.peer,
                format_millis(f.timeout)
            );
            if delay > 0 {
                line.push_str(&format!(", waits {} first", format_millis(delay)));
            }
            line.push(')');
            line
        }
        None if c.ha.media.len() < 2 => "fencing: none. WARNING: split brain: one heartbeat \
             medium and no fencing; if that link is cut while both nodes run, both take every \
             resource. Add a second medium (e.g. ucast on the public network) or a stonith / \
             fence_agent line (man ha.cf)."
            .to_string(),
        None => "fencing: none (two or more media: a single cut link is not a failover)".into(),
    }
}

/// The human summary printed on success.
pub fn summary(c: &Config) -> String {
    let ha = &c.ha;
    let mut s = String::new();
    let _ = writeln!(s, "configuration in {}: OK", c.ha_dir.display());
    let _ = writeln!(s, "this node: {}", c.local);
    let _ = writeln!(s, "peer: {}", c.peer);
    for m in &ha.media {
        let mut line = medium_text(m, ha.udpport);
        if matches!(m, Medium::Serial { .. }) {
            line.push_str(&format!(" at {} baud", ha.baud));
        }
        let _ = writeln!(s, "medium: {line}");
    }
    let _ = writeln!(
        s,
        "timers: keepalive {}, deadtime {}, warntime {}, initdead {}, deadping {}",
        format_millis(ha.keepalive),
        format_millis(ha.deadtime),
        format_millis(ha.warntime),
        format_millis(ha.initdead),
        format_millis(ha.deadping)
    );
    let af = match ha.auto_failback {
        AutoFailback::On => "on",
        AutoFailback::Off => "off",
        AutoFailback::Legacy => "legacy",
    };
    let _ = writeln!(s, "auto_failback: {af}");
    if ha.ping_nodes.is_empty() {
        let _ = writeln!(s, "ping nodes: none");
    } else {
        let _ = writeln!(s, "ping nodes: {}", ha.ping_nodes.join(" "));
    }
    for g in &ha.ping_groups {
        let _ = writeln!(s, "ping group {}: {}", g.name, g.hosts.join(" "));
    }
    let _ = writeln!(s, "ipfail: {}", if ha.ipfail { "on" } else { "off" });
    let _ = writeln!(s, "{}", fencing_line(c));
    let method = c
        .keys
        .send_key()
        .map(|k| super::authkeys::method_name(k.method))
        .unwrap_or("?");
    let _ = writeln!(s, "auth: sending with key {} ({method})", c.keys.send_index);
    if c.groups.is_empty() {
        let _ = writeln!(s, "resource groups: none");
    }
    for g in &c.groups {
        let texts: Vec<&str> = g.resources.iter().map(|r| r.text.as_str()).collect();
        let _ = writeln!(
            s,
            "group {} (owner {}): {}",
            g.key(),
            g.owner,
            texts.join(" ")
        );
    }
    s.push_str(&monitor_lines(c));
    s
}

/// One line per monitored resource, or `monitoring: off`.
fn monitor_lines(c: &Config) -> String {
    let mut s = String::new();
    if c.ha.monitoring.monitors.is_empty() {
        s.push_str("monitoring: off (v1 behaviour: a dead service is not noticed)\n");
    }
    for m in &c.ha.monitoring.monitors {
        let Some(r) = c
            .groups
            .get(m.group)
            .and_then(|g| g.resources.get(m.resource))
        else {
            continue;
        };
        let p = &m.params;
        let expiry = if p.failure_timeout == 0 {
            "until cleared".to_string()
        } else {
            format!("for {}", format_millis(p.failure_timeout))
        };
        let _ = writeln!(
            s,
            "monitor {}: every {}, timeout {}, fall {}, rise {}; up to {} restarts within {}, then to the peer (kept away {expiry})",
            r.text,
            format_millis(p.interval),
            format_millis(p.timeout),
            p.fall,
            p.rise,
            p.max_restarts,
            format_millis(p.window)
        );
    }
    s
}
