//! Liveness of ping nodes and ping groups (spec §8.1), as pure logic over millisecond times.
//!
//! A ping node is `ping` while it answers and `dead` once `deadping` has passed without an
//! answer; a ping group is one pseudo-node that is `ping` while any member answers. Until its
//! first answer (or its first death) a node is `init`, like a cluster node never heard from.
//!
//! It also keeps the two times ipfail's early hand-over compares (see [`super::policy`]): when
//! each node's answers stopped (our first echo sent after its last answer) and how old the
//! stalest answer among the nodes we count is.

use std::collections::BTreeSet;

use crate::config::model::{HaCf, Millis};

/// One pseudo-node: a `ping` host, or a `ping_group` and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingNodeSpec {
    /// The node name shown by `cl_status` (the host as written, or the group name).
    pub name: String,
    /// Hosts whose echo replies keep this node alive.
    pub hosts: Vec<String>,
    /// True for a `ping_group`.
    pub group: bool,
}

/// Ping nodes of a configuration: `ping` hosts first, in file order, then `ping_group`s.
pub fn specs_from(ha: &HaCf) -> Vec<PingNodeSpec> {
    let singles = ha.ping_nodes.iter().map(|host| PingNodeSpec {
        name: host.clone(),
        hosts: vec![host.clone()],
        group: false,
    });
    let groups = ha.ping_groups.iter().map(|g| PingNodeSpec {
        name: g.name.clone(),
        hosts: g.hosts.clone(),
        group: true,
    });
    singles.chain(groups).collect()
}

/// Status of a ping node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingStatus {
    /// Never answered and not yet declared dead.
    Init,
    /// Answering (`cl_status` prints `ping`).
    Ping,
    /// No answer for longer than `deadping`.
    Dead,
}

/// A status change the caller logs and acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub node: String,
    pub from: PingStatus,
    pub to: PingStatus,
    /// When a dead node answers again: milliseconds since its previous answer, if it ever
    /// answered (the original logs it as a late heartbeat).
    pub silent_for: Option<Millis>,
}

#[derive(Debug, Clone)]
struct Entry {
    spec: PingNodeSpec,
    status: PingStatus,
    last_reply: Option<Millis>,
    /// When the first echo after the last answer (or since start) was sent: if no answer
    /// follows, the path failed before this echo's round trip ended.
    first_unanswered: Option<Millis>,
    /// End of a stall of ours: the deadline counts from here, but `last_reply` stays the real
    /// last answer (its age goes to the peer).
    forgiven_at: Option<Millis>,
}

impl Entry {
    /// What the `deadping` deadline counts from.
    fn heard(&self, started: Millis) -> Millis {
        self.last_reply
            .unwrap_or(started)
            .max(self.forgiven_at.unwrap_or(0))
    }
}

/// Tracks every ping node of the configuration.
#[derive(Debug, Clone)]
pub struct PingTracker {
    deadping: Millis,
    started: Millis,
    entries: Vec<Entry>,
}

impl PingTracker {
    /// Starts tracking at `now`: a node that never answers is declared dead `deadping` later.
    pub fn new(specs: Vec<PingNodeSpec>, deadping: Millis, now: Millis) -> Self {
        PingTracker {
            deadping,
            started: now,
            entries: specs
                .into_iter()
                .map(|spec| Entry {
                    spec,
                    status: PingStatus::Init,
                    last_reply: None,
                    first_unanswered: None,
                    forgiven_at: None,
                })
                .collect(),
        }
    }

    /// Every distinct host to send an echo request to, in configuration order.
    pub fn hosts(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.entries
            .iter()
            .flat_map(|e| e.spec.hosts.iter())
            .filter(|h| seen.insert(h.as_str()))
            .cloned()
            .collect()
    }

    /// The ping node(s) a host belongs to and their names, for building echo payloads.
    pub fn nodes_of_host<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.spec.hosts.iter().any(|h| h == host))
            .map(|e| e.spec.name.as_str())
    }

    /// An echo request went to every host at `now` (they are always sent together).
    pub fn on_sent(&mut self, now: Millis) {
        for e in &mut self.entries {
            e.first_unanswered.get_or_insert(now);
        }
    }

    /// An echo reply from `host` (already matched and authenticated) arrived at `now`.
    pub fn on_reply(&mut self, host: &str, now: Millis) -> Vec<Change> {
        let mut changes = Vec::new();
        for e in self
            .entries
            .iter_mut()
            .filter(|e| e.spec.hosts.iter().any(|h| h == host))
        {
            let previous = e.last_reply.replace(now);
            e.first_unanswered = None;
            if e.status != PingStatus::Ping {
                changes.push(Change {
                    node: e.spec.name.clone(),
                    from: e.status,
                    to: PingStatus::Ping,
                    silent_for: previous.map(|p| now.saturating_sub(p)),
                });
                e.status = PingStatus::Ping;
            }
        }
        changes
    }

    /// Declares dead every node silent for longer than `deadping` at `now`.
    pub fn on_tick(&mut self, now: Millis) -> Vec<Change> {
        let mut changes = Vec::new();
        for e in &mut self.entries {
            let heard = e.heard(self.started);
            if e.status != PingStatus::Dead && now.saturating_sub(heard) > self.deadping {
                changes.push(Change {
                    node: e.spec.name.clone(),
                    from: e.status,
                    to: PingStatus::Dead,
                    silent_for: None,
                });
                e.status = PingStatus::Dead;
            }
        }
        changes
    }

    /// Our process was stalled until `now`: the silence was ours, not the ping nodes'. Nodes
    /// that were answering get a fresh deadline instead of being declared dead; their answers
    /// do not look any fresher for it, and a loss, if one follows, begins with the next echo.
    pub fn forgive_stall(&mut self, now: Millis) {
        for e in &mut self.entries {
            if e.status == PingStatus::Ping {
                e.forgiven_at = Some(now);
                e.first_unanswered = None;
            }
        }
    }

    /// When our loss began: for every dead node, the first echo it left unanswered; the latest
    /// of these. `None` when no node is dead or a dead one was never sent an echo (no proof of
    /// when it failed).
    pub fn loss_began(&self) -> Option<Millis> {
        let dead = self.entries.iter().filter(|e| e.status == PingStatus::Dead);
        let mut latest = None;
        for e in dead {
            let sent = e.first_unanswered?;
            latest = Some(latest.map_or(sent, |l: Millis| l.max(sent)));
        }
        latest
    }

    /// The age at `now` of the stalest answer among the nodes counted as reachable (a group's
    /// answer is its freshest member's); `None` when none is reachable.
    pub fn stalest_answer_age(&self, now: Millis) -> Option<Millis> {
        self.entries
            .iter()
            .filter(|e| e.status == PingStatus::Ping)
            .filter_map(|e| e.last_reply)
            .min()
            .map(|oldest| now.saturating_sub(oldest))
    }

    /// The earliest time at which `on_tick` may declare a node dead.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.entries
            .iter()
            .filter(|e| e.status != PingStatus::Dead)
            .map(|e| e.heard(self.started) + self.deadping + 1)
            .min()
    }

    /// Status of the ping node named `name`, if it is one.
    pub fn status(&self, name: &str) -> Option<PingStatus> {
        self.entries
            .iter()
            .find(|e| e.spec.name == name)
            .map(|e| e.status)
    }

    /// Every ping node with its status, in configuration order.
    pub fn nodes(&self) -> impl Iterator<Item = (&PingNodeSpec, PingStatus)> {
        self.entries.iter().map(|e| (&e.spec, e.status))
    }

    /// How many ping nodes (a group counts once) are configured.
    pub fn configured(&self) -> usize {
        self.entries.len()
    }

    /// How many ping nodes (a group counts once) answer now.
    pub fn reachable(&self) -> usize {
        self.count(PingStatus::Ping)
    }

    /// True when every configured ping node has been declared dead (false with none configured).
    pub fn all_dead(&self) -> bool {
        !self.entries.is_empty() && self.count(PingStatus::Dead) == self.entries.len()
    }

    /// True once every node has answered or been declared dead: only then is `reachable` a
    /// fair figure to compare with the peer's.
    pub fn settled(&self) -> bool {
        self.count(PingStatus::Init) == 0
    }

    fn count(&self, status: PingStatus) -> usize {
        self.entries.iter().filter(|e| e.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADPING: Millis = 4000;

    fn single(name: &str) -> PingNodeSpec {
        PingNodeSpec {
            name: name.into(),
            hosts: vec![name.into()],
            group: false,
        }
    }

    fn group(name: &str, hosts: &[&str]) -> PingNodeSpec {
        PingNodeSpec {
            name: name.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            group: true,
        }
    }

    fn tracker() -> PingTracker {
        PingTracker::new(
            vec![
                single("192.0.2.254"),
                group("uplinks", &["198.51.100.1", "198.51.100.2"]),
            ],
            DEADPING,
            1000,
        )
    }

    #[test]
    fn specs_follow_the_configuration() {
        let mut diags = crate::config::Diagnostics::default();
        let ha = crate::config::hacf::parse_with_port(
            "node a b\nping_group gw 192.0.2.1 192.0.2.2\nping 192.0.2.254\n",
            std::path::Path::new("ha.cf"),
            "a",
            694,
            &mut diags,
        );
        let specs = specs_from(&ha);
        assert_eq!(specs[0], single("192.0.2.254"));
        assert_eq!(specs[1], group("gw", &["192.0.2.1", "192.0.2.2"]));
    }

    #[test]
    fn starts_init_and_unsettled() {
        let t = tracker();
        assert_eq!(t.status("192.0.2.254"), Some(PingStatus::Init));
        assert_eq!(t.status("uplinks"), Some(PingStatus::Init));
        assert_eq!(t.status("nope"), None);
        assert_eq!((t.configured(), t.reachable()), (2, 0));
        assert!(!t.settled());
        assert!(!t.all_dead());
        assert_eq!(t.hosts(), ["192.0.2.254", "198.51.100.1", "198.51.100.2"]);
    }

    #[test]
    fn answer_makes_ping_once() {
        let mut t = tracker();
        let c = t.on_reply("192.0.2.254", 1500);
        assert_eq!(
            c,
            [Change {
                node: "192.0.2.254".into(),
                from: PingStatus::Init,
                to: PingStatus::Ping,
                silent_for: None,
            }]
        );
        assert!(t.on_reply("192.0.2.254", 2500).is_empty());
        assert_eq!(t.reachable(), 1);
        assert!(t.on_reply("203.0.113.9", 2500).is_empty(), "unknown host");
    }

    #[test]
    fn dead_strictly_after_deadping_of_silence() {
        let mut t = tracker();
        t.on_reply("192.0.2.254", 2000);
        t.on_reply("198.51.100.2", 2000);
        assert_eq!(t.next_deadline(), Some(2000 + DEADPING + 1));
        assert!(t.on_tick(2000 + DEADPING).is_empty());
        let c = t.on_tick(2000 + DEADPING + 1);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.to == PingStatus::Dead));
        assert!(t.all_dead());
        assert!(t.settled());
        assert_eq!(t.next_deadline(), None);
        assert!(t.on_tick(100_000).is_empty(), "dead is reported once");
    }

    #[test]
    fn never_answering_node_dies_deadping_after_start() {
        let mut t = tracker();
        assert_eq!(t.next_deadline(), Some(1000 + DEADPING + 1));
        let c = t.on_tick(1000 + DEADPING + 1);
        assert_eq!(c[0].from, PingStatus::Init);
        assert_eq!(c[0].to, PingStatus::Dead);
        assert!(t.settled());
    }

    #[test]
    fn group_is_up_while_any_member_answers() {
        let mut t = tracker();
        t.on_reply("198.51.100.1", 2000);
        // Member 1 goes quiet, member 2 keeps answering: the group never dies.
        for at in (3000..20_000).step_by(1000) {
            assert!(t.on_reply("198.51.100.2", at).is_empty());
            assert!(
                t.on_tick(at).iter().all(|c| c.node != "uplinks"),
                "group died at {at}"
            );
        }
        assert_eq!(t.status("uplinks"), Some(PingStatus::Ping));
        // Then all members are silent.
        let c = t.on_tick(19_000 + DEADPING + 1);
        assert!(
            c.iter()
                .any(|c| c.node == "uplinks" && c.to == PingStatus::Dead)
        );
    }

    #[test]
    fn return_after_death_reports_the_silence() {
        let mut t = tracker();
        t.on_reply("192.0.2.254", 2000);
        t.on_tick(10_000);
        let c = t.on_reply("192.0.2.254", 12_000);
        assert_eq!(c[0].from, PingStatus::Dead);
        assert_eq!(c[0].silent_for, Some(10_000));
        assert_eq!(t.reachable(), 1);
        assert!(!t.all_dead());
    }

    #[test]
    fn host_in_a_single_and_a_group_feeds_both() {
        let mut t = PingTracker::new(
            vec![
                single("192.0.2.1"),
                group("gw", &["192.0.2.1", "192.0.2.2"]),
            ],
            DEADPING,
            0,
        );
        assert_eq!(t.hosts(), ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(
            t.nodes_of_host("192.0.2.1").collect::<Vec<_>>(),
            ["192.0.2.1", "gw"]
        );
        assert_eq!(t.on_reply("192.0.2.1", 10).len(), 2);
        assert_eq!(t.reachable(), 2);
    }

    #[test]
    fn stall_is_forgiven_for_answering_nodes_only() {
        let mut t = tracker();
        t.on_reply("192.0.2.254", 2000);
        t.forgive_stall(20_000);
        let changes = t.on_tick(20_000 + DEADPING);
        assert!(
            changes.iter().all(|c| c.node != "192.0.2.254"),
            "{changes:?}"
        );
        assert_eq!(t.status("192.0.2.254"), Some(PingStatus::Ping));
        // The group never answered: the stall does not make it look alive.
        assert_eq!(t.status("uplinks"), Some(PingStatus::Dead));
        // Nor does it make the answer we had look fresh to the peer.
        assert_eq!(t.stalest_answer_age(20_500), Some(18_500));
        assert_eq!(t.next_deadline(), Some(20_000 + DEADPING + 1));
    }

    #[test]
    fn loss_began_is_the_first_echo_after_the_last_answer() {
        let mut t = tracker();
        t.on_sent(1000);
        t.on_reply("192.0.2.254", 1002);
        t.on_reply("198.51.100.2", 1003);
        t.on_sent(2000);
        t.on_reply("192.0.2.254", 2002);
        // The group stops answering after its 1003 reply; the single one after 2002.
        t.on_sent(3000);
        t.on_sent(4000);
        assert_eq!(t.loss_began(), None, "nothing dead yet");
        t.on_tick(1003 + DEADPING + 1);
        assert_eq!(t.status("uplinks"), Some(PingStatus::Dead));
        assert_eq!(t.loss_began(), Some(2000));
        t.on_tick(2002 + DEADPING + 1);
        assert_eq!(t.loss_began(), Some(3000), "the latest loss of the two");
        // An answer again: that node's loss is over.
        t.on_reply("192.0.2.254", 9000);
        assert_eq!(t.loss_began(), Some(2000));
    }

    #[test]
    fn loss_without_any_echo_sent_proves_nothing() {
        let mut t = tracker();
        t.on_tick(1000 + DEADPING + 1);
        assert!(t.all_dead());
        assert_eq!(t.loss_began(), None);
    }

    #[test]
    fn stalest_answer_age_over_reachable_nodes_only() {
        let mut t = tracker();
        assert_eq!(t.stalest_answer_age(5000), None);
        t.on_reply("192.0.2.254", 2000);
        assert_eq!(t.stalest_answer_age(2500), Some(500));
        // A group's age is its freshest member's.
        t.on_reply("198.51.100.1", 1500);
        t.on_reply("198.51.100.2", 2400);
        assert_eq!(t.stalest_answer_age(2500), Some(500));
        t.on_reply("192.0.2.254", 2450);
        assert_eq!(t.stalest_answer_age(2500), Some(100));
        // A dead node no longer counts.
        t.on_reply("198.51.100.1", 7000);
        t.on_tick(2450 + DEADPING + 1);
        assert_eq!(t.status("192.0.2.254"), Some(PingStatus::Dead));
        assert_eq!(t.stalest_answer_age(7100), Some(100));
        // Clock never makes an age negative.
        assert_eq!(t.stalest_answer_age(0), Some(0));
    }

    #[test]
    fn no_ping_nodes_is_settled_never_dead() {
        let mut t = PingTracker::new(Vec::new(), DEADPING, 0);
        assert!(t.settled());
        assert!(!t.all_dead());
        assert_eq!(t.next_deadline(), None);
        assert!(t.on_tick(1_000_000).is_empty());
    }
}
