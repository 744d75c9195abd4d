//! State changes, seen from outside: the difference between two [`StatusView`]s as a list of
//! [`Change`]s (what `notify` scripts, `rc.d/ifstat` and the metrics report), and the
//! [`History`] of resource transitions (the last failover and its timeline). Pure: the shell
//! takes a view after each input and passes the clock in.

use super::vocab::{NodeStatus, StatusView};
use crate::config::Millis;

/// One observable change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A cluster or ping node changed status.
    Node {
        node: String,
        from: NodeStatus,
        to: NodeStatus,
    },
    /// A heartbeat link to a node went up or dead.
    Link {
        node: String,
        link: String,
        up: bool,
    },
    /// This node's resource state (`rscstatus`) changed.
    Resources { from: String, to: String },
    /// A resource group (index into `Config::groups`) came up or went down here.
    Group { group: usize, up: bool },
}

impl Change {
    /// `(TYPE, NAME, STATE)` as notify scripts receive them; `group_key` names a group.
    pub fn words(&self, local: &str, group_key: impl Fn(usize) -> String) -> [String; 3] {
        match self {
            Change::Node { node, to, .. } => ["node".into(), node.clone(), to.as_str().into()],
            Change::Link { node, link, up } => [
                "link".into(),
                format!("{node}/{link}"),
                if *up { "up" } else { "dead" }.into(),
            ],
            Change::Resources { to, .. } => ["resources".into(), local.to_string(), to.clone()],
            Change::Group { group, up } => [
                "group".into(),
                group_key(*group),
                if *up { "up" } else { "down" }.into(),
            ],
        }
    }
}

/// Everything that differs from `prev` to `next`, nodes first, then links, resources, groups.
pub fn diff(prev: &StatusView, next: &StatusView) -> Vec<Change> {
    let mut out = Vec::new();
    for n in &next.nodes {
        let Some(p) = prev.nodes.iter().find(|p| p.name == n.name) else {
            continue;
        };
        if p.status != n.status {
            out.push(Change::Node {
                node: n.name.clone(),
                from: p.status,
                to: n.status,
            });
        }
        for (link, up) in &n.links {
            let was = p.links.iter().find(|(l, _)| l == link).map(|(_, u)| *u);
            if was.is_some_and(|w| w != *up) {
                out.push(Change::Link {
                    node: n.name.clone(),
                    link: link.clone(),
                    up: *up,
                });
            }
        }
    }
    if prev.rscstatus != next.rscstatus {
        out.push(Change::Resources {
            from: prev.rscstatus.clone(),
            to: next.rscstatus.clone(),
        });
    }
    for g in &prev.held_groups {
        if !next.held_groups.contains(g) {
            out.push(Change::Group {
                group: *g,
                up: false,
            });
        }
    }
    for g in &next.held_groups {
        if !prev.held_groups.contains(g) {
            out.push(Change::Group {
                group: *g,
                up: true,
            });
        }
    }
    out
}

/// One resource transition: from `rscstatus` becoming `transition` until it settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Wall clock at the start, milliseconds since the epoch.
    pub started_unix_ms: u64,
    /// Monotonic start, for the offsets.
    pub started_mono: Millis,
    /// The log line that explains it (e.g. `node b: is dead`, `Going standby [all].`).
    pub reason: String,
    /// What happened, with milliseconds since the start.
    pub events: Vec<(Millis, String)>,
    /// Milliseconds from start to settled (`None` while running).
    pub duration: Option<Millis>,
    /// `rscstatus` before and after.
    pub from: String,
    pub to: Option<String>,
}

/// Counters and the last transitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Transitions that ended with more groups held here than before (takeovers).
    pub takeovers: u64,
    /// Transitions that ended with fewer (releases: standby, shutdown, failback).
    pub releases: u64,
    /// Changes seen, by type word (`node`, `link`, `resources`, `group`).
    pub changes: Vec<(String, u64)>,
    /// The transition running now, if any.
    pub current: Option<Transition>,
    /// The last finished transition.
    pub last: Option<Transition>,
    held_at_start: usize,
}

impl History {
    /// Records the changes of one step. `mono`/`unix_ms`: now; `reason`: the step's log line;
    /// `view`: the state after the step.
    pub fn record(
        &mut self,
        changes: &[Change],
        view: &StatusView,
        mono: Millis,
        unix_ms: u64,
        reason: &str,
        describe: impl Fn(&Change) -> String,
    ) {
        if self.current.is_none()
            && let Some(from) = changes.iter().find_map(|c| match c {
                Change::Resources { from, to } if to == "transition" => Some(from.clone()),
                _ => None,
            })
        {
            // The whole step belongs to the transition: what caused it comes first.
            let (ups, downs) = changes.iter().fold((0, 0), |(u, d), c| match c {
                Change::Group { up: true, .. } => (u + 1, d),
                Change::Group { up: false, .. } => (u, d + 1),
                _ => (u, d),
            });
            self.held_at_start = (view.held_groups.len() + downs).saturating_sub(ups);
            self.current = Some(Transition {
                started_unix_ms: unix_ms,
                started_mono: mono,
                reason: reason.to_string(),
                events: Vec::new(),
                duration: None,
                from,
                to: None,
            });
        }
        for c in changes {
            let word = match c {
                Change::Node { .. } => "node",
                Change::Link { .. } => "link",
                Change::Resources { .. } => "resources",
                Change::Group { .. } => "group",
            };
            match self.changes.iter_mut().find(|(w, _)| w == word) {
                Some(e) => e.1 += 1,
                None => self.changes.push((word.to_string(), 1)),
            }
            if let Some(t) = self.current.as_mut() {
                t.events
                    .push((mono.saturating_sub(t.started_mono), describe(c)));
            }
        }
        if view.rscstatus != "transition"
            && let Some(mut t) = self.current.take()
        {
            t.duration = Some(mono.saturating_sub(t.started_mono));
            t.to = Some(view.rscstatus.clone());
            let held = view.held_groups.len();
            if held > self.held_at_start {
                self.takeovers += 1;
            } else if held < self.held_at_start {
                self.releases += 1;
            }
            self.last = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::vocab::{NodeType, NodeView};

    fn view(peer: NodeStatus, link_up: bool, rsc: &str, held: &[usize]) -> StatusView {
        StatusView {
            nodes: vec![NodeView {
                name: "b".into(),
                node_type: NodeType::Normal,
                status: peer,
                links: vec![("eth1".into(), link_up)],
            }],
            rscstatus: rsc.into(),
            held_groups: held.to_vec(),
            drops: vec![],
            drops_by_medium: vec![],
            failures: vec![],
            monitors: vec![],
        }
    }

    #[test]
    fn a_failover_seen_as_changes_and_one_timeline() {
        let before = view(NodeStatus::Active, true, "local", &[0]);
        let dead = view(NodeStatus::Dead, false, "transition", &[0]);
        let done = view(NodeStatus::Dead, false, "all", &[0, 1]);
        let c1 = diff(&before, &dead);
        assert_eq!(
            c1,
            vec![
                Change::Node {
                    node: "b".into(),
                    from: NodeStatus::Active,
                    to: NodeStatus::Dead
                },
                Change::Link {
                    node: "b".into(),
                    link: "eth1".into(),
                    up: false
                },
                Change::Resources {
                    from: "local".into(),
                    to: "transition".into()
                },
            ]
        );
        let c2 = diff(&dead, &done);
        assert_eq!(c2.len(), 2);
        let mut h = History::default();
        let d = |c: &Change| format!("{c:?}");
        h.record(&c1, &dead, 1_000, 5_000, "node b: is dead", d);
        assert!(h.current.is_some());
        h.record(&c2, &done, 1_450, 5_450, "x", d);
        let t = h.last.clone().unwrap();
        assert_eq!(t.reason, "node b: is dead");
        assert_eq!(t.duration, Some(450));
        assert_eq!(t.events.len(), 5, "{:?}", t.events);
        assert_eq!(t.events[0].0, 0);
        assert_eq!(t.events[4].0, 450);
        assert_eq!((h.takeovers, h.releases), (1, 0));
        assert_eq!(t.to.as_deref(), Some("all"));
        let words = c2[1].words("a", |g| format!("g{g}"));
        assert_eq!(words, ["group".to_string(), "g1".into(), "up".into()]);
    }

    #[test]
    fn a_release_is_counted_and_no_change_means_nothing() {
        let held = view(NodeStatus::Active, true, "all", &[0, 1]);
        assert!(diff(&held, &held).is_empty());
        let moving = view(NodeStatus::Active, true, "transition", &[0, 1]);
        let released = view(NodeStatus::Active, true, "none", &[]);
        let mut h = History::default();
        let d = |c: &Change| format!("{c:?}");
        h.record(
            &diff(&held, &moving),
            &moving,
            0,
            0,
            "Going standby [all].",
            d,
        );
        h.record(&diff(&moving, &released), &released, 300, 300, "", d);
        assert_eq!((h.takeovers, h.releases), (0, 1));
        assert!(h.current.is_none());
    }
}
