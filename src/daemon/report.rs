//! The daemon's state for machines: one [`Snapshot`] rendered as JSON (`cl_status json`) or as
//! Prometheus text (`metrics IP:PORT`). Hand-written: a few dozen lines of escaping do not
//! justify a serialisation crate.

use super::control::DaemonFacts;
use super::respawn::ClientView;
use crate::core::observe::{History, Transition};
use crate::core::{NodeType, StatusView};

/// Everything reported, borrowed from the shell.
pub struct Snapshot<'a> {
    pub facts: &'a DaemonFacts,
    pub local: &'a str,
    pub view: &'a StatusView,
    /// Each resource group: its key (first resource) and whether it is up here.
    pub groups: Vec<(String, bool)>,
    pub history: &'a History,
    pub respawn: Vec<ClientView>,
    /// Hook runs started and dropped (queue full).
    pub hooks: (u64, u64),
    pub uptime_ms: u64,
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Prometheus label value.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn node_type(t: NodeType) -> &'static str {
    match t {
        NodeType::Normal => "normal",
        NodeType::Ping => "ping",
    }
}

fn transition_json(t: &Transition) -> String {
    let events: Vec<String> = t
        .events
        .iter()
        .map(|(ms, what)| format!("{{\"at_ms\":{ms},\"event\":{}}}", json_str(what)))
        .collect();
    format!(
        "{{\"started_unix_ms\":{},\"reason\":{},\"from\":{},\"to\":{},\"duration_ms\":{},\"timeline\":[{}]}}",
        t.started_unix_ms,
        json_str(&t.reason),
        json_str(&t.from),
        t.to.as_deref().map_or("null".to_string(), json_str),
        t.duration.map_or("null".to_string(), |d| d.to_string()),
        events.join(",")
    )
}

impl Snapshot<'_> {
    pub fn to_json(&self) -> String {
        let v = self.view;
        let nodes: Vec<String> = v
            .nodes
            .iter()
            .map(|n| {
                let links: Vec<String> = n
                    .links
                    .iter()
                    .map(|(l, up)| {
                        format!(
                            "{{\"name\":{},\"status\":\"{}\"}}",
                            json_str(l),
                            if *up { "up" } else { "dead" }
                        )
                    })
                    .collect();
                format!(
                    "{{\"name\":{},\"type\":\"{}\",\"status\":\"{}\",\"links\":[{}]}}",
                    json_str(&n.name),
                    node_type(n.node_type),
                    n.status.as_str(),
                    links.join(",")
                )
            })
            .collect();
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|(k, up)| format!("{{\"key\":{},\"held\":{up}}}", json_str(k)))
            .collect();
        let failures: Vec<String> = v
            .failures
            .iter()
            .map(|(r, op, n)| {
                format!(
                    "{{\"resource\":{},\"op\":{},\"count\":{n}}}",
                    json_str(r),
                    json_str(op)
                )
            })
            .collect();
        let drops: Vec<String> = v
            .drops
            .iter()
            .map(|(k, n)| format!("{}:{n}", json_str(k)))
            .collect();
        let monitors: Vec<String> = v
            .monitors
            .iter()
            .map(|m| {
                let last = m.last_failure.as_ref().map_or("null".to_string(), |(t, w)| {
                    format!("{{\"unix\":{t},\"why\":{}}}", json_str(w))
                });
                format!(
                    "{{\"resource\":{},\"state\":{},\"failures\":{},\"restarts\":{},\"max_restarts\":{},\"failed_here\":{},\"last_failure\":{last}}}",
                    json_str(&m.resource),
                    json_str(&m.state),
                    m.failures,
                    m.restarts.0,
                    m.restarts.1,
                    m.failed_here
                )
            })
            .collect();
        let respawn: Vec<String> = self
            .respawn
            .iter()
            .map(|c| {
                format!(
                    "{{\"command\":{},\"user\":{},\"state\":\"{}\",\"pid\":{},\"restarts\":{}}}",
                    json_str(&c.command),
                    json_str(&c.user),
                    c.state,
                    c.pid.map_or("null".to_string(), |p| p.to_string()),
                    c.restarts
                )
            })
            .collect();
        let h = self.history;
        format!(
            "{{\"version\":{},\"node\":{},\"uuid\":{},\"generation\":{},\"uptime_ms\":{},\
             \"rscstatus\":{},\"nodes\":[{}],\"groups\":[{}],\"failures\":[{}],\"monitors\":[{}],\"drops\":{{{}}},\
             \"bad_requests\":{},\"takeovers\":{},\"releases\":{},\"last_transition\":{},\
             \"current_transition\":{},\"respawn\":[{}],\"hooks\":{{\"started\":{},\"dropped\":{}}}}}\n",
            json_str(&self.facts.version),
            json_str(self.local),
            json_str(&self.facts.uuid),
            self.facts.generation,
            self.uptime_ms,
            json_str(&v.rscstatus),
            nodes.join(","),
            groups.join(","),
            failures.join(","),
            monitors.join(","),
            drops.join(","),
            self.facts.bad_requests,
            h.takeovers,
            h.releases,
            h.last.as_ref().map_or("null".to_string(), transition_json),
            h.current
                .as_ref()
                .map_or("null".to_string(), transition_json),
            respawn.join(","),
            self.hooks.0,
            self.hooks.1,
        )
    }

    pub fn to_prometheus(&self) -> String {
        let mut s = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
            s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in rows {
                if labels.is_empty() {
                    s.push_str(&format!("{name} {value}\n"));
                } else {
                    s.push_str(&format!("{name}{{{labels}}} {value}\n"));
                }
            }
        };
        let v = self.view;
        let me = label(self.local);
        family(
            "heartbeat_info",
            "gauge",
            "Version, node name and generation of this daemon.",
            vec![(
                format!(
                    "version=\"{}\",node=\"{me}\",generation=\"{}\"",
                    label(&self.facts.version),
                    self.facts.generation
                ),
                "1".into(),
            )],
        );
        family(
            "heartbeat_uptime_seconds",
            "gauge",
            "Seconds since the daemon started.",
            vec![(
                String::new(),
                format!("{:.3}", self.uptime_ms as f64 / 1000.0),
            )],
        );
        let statuses = ["init", "up", "active", "dead", "ping"];
        let mut rows = Vec::new();
        for n in &v.nodes {
            for st in statuses {
                rows.push((
                    format!(
                        "node=\"{}\",type=\"{}\",status=\"{st}\"",
                        label(&n.name),
                        node_type(n.node_type)
                    ),
                    u8::from(n.status.as_str() == st).to_string(),
                ));
            }
        }
        family(
            "heartbeat_node_status",
            "gauge",
            "1 for the current status of each node (cl_status nodestatus).",
            rows,
        );
        let mut rows = Vec::new();
        for n in &v.nodes {
            for (l, up) in &n.links {
                rows.push((
                    format!("node=\"{}\",link=\"{}\"", label(&n.name), label(l)),
                    u8::from(*up).to_string(),
                ));
            }
        }
        family(
            "heartbeat_link_up",
            "gauge",
            "1 when the heartbeat link to the node is up.",
            rows,
        );
        let rows = ["none", "local", "foreign", "all", "transition"]
            .iter()
            .map(|st| {
                (
                    format!("status=\"{st}\""),
                    u8::from(v.rscstatus == *st).to_string(),
                )
            })
            .collect();
        family(
            "heartbeat_resources",
            "gauge",
            "1 for this node's resource state (cl_status rscstatus).",
            rows,
        );
        let rows = self
            .groups
            .iter()
            .map(|(k, up)| (format!("group=\"{}\"", label(k)), u8::from(*up).to_string()))
            .collect();
        family(
            "heartbeat_group_held",
            "gauge",
            "1 when this node holds the resource group.",
            rows,
        );
        let rows = v
            .failures
            .iter()
            .map(|(r, op, n)| {
                (
                    format!("resource=\"{}\",op=\"{}\"", label(r), label(op)),
                    n.to_string(),
                )
            })
            .collect();
        family(
            "heartbeat_resource_failures_total",
            "counter",
            "Failed resource starts and stops since the daemon started.",
            rows,
        );
        let rows = v
            .monitors
            .iter()
            .map(|m| {
                (
                    format!("resource=\"{}\"", label(&m.resource)),
                    m.failures.to_string(),
                )
            })
            .collect();
        family(
            "heartbeat_monitor_failures_total",
            "counter",
            "Failures found by resource monitoring since start or the last clear.",
            rows,
        );
        let rows = v
            .monitors
            .iter()
            .map(|m| {
                (
                    format!("resource=\"{}\"", label(&m.resource)),
                    u8::from(m.failed_here).to_string(),
                )
            })
            .collect();
        family(
            "heartbeat_monitor_failed_here",
            "gauge",
            "1 while the resource's group failed here and is kept away from this node.",
            rows,
        );
        let rows = v
            .drops
            .iter()
            .map(|(k, n)| (format!("reason=\"{}\"", label(k)), n.to_string()))
            .collect();
        family(
            "heartbeat_dropped_packets_total",
            "counter",
            "Packets dropped, by reason.",
            rows,
        );
        let h = self.history;
        family(
            "heartbeat_transitions_total",
            "counter",
            "Finished resource transitions that took resources over or released them.",
            vec![
                ("kind=\"takeover\"".into(), h.takeovers.to_string()),
                ("kind=\"release\"".into(), h.releases.to_string()),
            ],
        );
        if let Some(t) = &h.last {
            family(
                "heartbeat_last_transition_timestamp_seconds",
                "gauge",
                "Wall-clock start of the last resource transition.",
                vec![(
                    String::new(),
                    format!("{:.3}", t.started_unix_ms as f64 / 1000.0),
                )],
            );
            family(
                "heartbeat_last_transition_duration_seconds",
                "gauge",
                "How long the last resource transition took.",
                vec![(
                    String::new(),
                    format!("{:.3}", t.duration.unwrap_or(0) as f64 / 1000.0),
                )],
            );
        }
        let rows = self
            .respawn
            .iter()
            .map(|c| {
                (
                    format!("command=\"{}\",state=\"{}\"", label(&c.command), c.state),
                    c.restarts.to_string(),
                )
            })
            .collect();
        family(
            "heartbeat_respawn_restarts_total",
            "counter",
            "Restarts of each respawn client.",
            rows,
        );
        family(
            "heartbeat_bad_requests_total",
            "counter",
            "Malformed requests on the control socket.",
            vec![(String::new(), self.facts.bad_requests.to_string())],
        );
        family(
            "heartbeat_hook_runs_total",
            "counter",
            "notify and rc.d hook runs, started and dropped (queue full).",
            vec![
                ("result=\"started\"".into(), self.hooks.0.to_string()),
                ("result=\"dropped\"".into(), self.hooks.1.to_string()),
            ],
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::observe::History;
    use crate::core::{NodeStatus, NodeView};

    fn snapshot_parts() -> (DaemonFacts, StatusView, History) {
        let facts = DaemonFacts {
            version: "1.0".into(),
            uuid: "u".into(),
            generation: 7,
            bad_requests: 2,
        };
        let view = StatusView {
            nodes: vec![NodeView {
                name: "b\"x".into(),
                node_type: NodeType::Normal,
                status: NodeStatus::Dead,
                links: vec![("eth1".into(), false)],
            }],
            rscstatus: "all".into(),
            held_groups: vec![0],
            drops: vec![("bad_auth".into(), 3)],
            drops_by_medium: vec![],
            failures: vec![("httpd".into(), "start".into(), 1)],
            monitors: vec![],
        };
        (facts, view, History::default())
    }

    #[test]
    fn json_escapes_and_carries_every_section() {
        let (facts, view, history) = snapshot_parts();
        let s = Snapshot {
            facts: &facts,
            local: "a",
            view: &view,
            groups: vec![("IPaddr::192.0.2.10".into(), true)],
            history: &history,
            respawn: vec![],
            hooks: (1, 0),
            uptime_ms: 1500,
        };
        let j = s.to_json();
        assert!(j.contains(r#""name":"b\"x""#), "{j}");
        assert!(j.contains(r#""status":"dead""#));
        assert!(j.contains(r#""failures":[{"resource":"httpd","op":"start","count":1}]"#));
        assert!(j.contains(r#""drops":{"bad_auth":3}"#));
        assert!(j.contains(r#""last_transition":null"#));
        assert_eq!(json_str("a\u{1}\n"), r#""a\u0001\n""#);
        let depth = j.chars().fold(0i32, |d, c| match c {
            '{' | '[' => d + 1,
            '}' | ']' => d - 1,
            _ => d,
        });
        assert_eq!(depth, 0);
    }

    #[test]
    fn prometheus_families_are_well_formed() {
        let (facts, view, history) = snapshot_parts();
        let s = Snapshot {
            facts: &facts,
            local: "a",
            view: &view,
            groups: vec![("IPaddr::192.0.2.10".into(), true)],
            history: &history,
            respawn: vec![],
            hooks: (0, 0),
            uptime_ms: 0,
        };
        let p = s.to_prometheus();
        assert!(
            p.contains("heartbeat_node_status{node=\"b\\\"x\",type=\"normal\",status=\"dead\"} 1")
        );
        assert!(p.contains("heartbeat_resources{status=\"all\"} 1"));
        assert!(p.contains("heartbeat_dropped_packets_total{reason=\"bad_auth\"} 3"));
        assert!(p.contains("heartbeat_group_held{group=\"IPaddr::192.0.2.10\"} 1"));
        for line in p.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
