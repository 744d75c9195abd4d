//! Everything the core needs about ping nodes behind one small API, so the core's own files
//! change only at a few call sites: liveness with the original's log lines, the `cl_status`
//! view, the count exchange with the peer, the built-in ipfail and the split-brain guard.
//!
//! The agent is sans-IO like the core: it is given millisecond times and returns log notes and
//! decisions; the core turns them into outputs and resource moves.

use crate::config::model::{HaCf, Millis};
use crate::core::vocab::{NodeStatus, NodeType, NodeView, Severity};
use crate::wire::Message;

use super::policy::{
    Decision, Guard, GuardView, Ipfail, IpfailView, Move, count_postdates_loss, guard,
};
use super::tracker::{Change, PingStatus, PingTracker, specs_from};
use crate::wire::ping_news::{self as exchange, PeerNews};

/// One log line for the core to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub severity: Severity,
    pub text: String,
}

fn note(severity: Severity, text: String) -> Note {
    Note { severity, text }
}

/// Resource ownership as ipfail and the guard need to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    pub we_hold_any: bool,
    pub we_hold_foreign: bool,
    pub peer_holds_any: bool,
    /// No transition or standby exchange in progress.
    pub stable: bool,
}

/// What the agent asks the core to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// A resource move decided by ipfail.
    pub ipfail: Option<Move>,
    /// The guard's view (meaningful while the peer is dead).
    pub guard: Guard,
    pub notes: Vec<Note>,
}

/// Ping node state of one core.
#[derive(Debug, Clone)]
pub struct PingAgent {
    tracker: PingTracker,
    deadtime: Millis,
    keepalive: Millis,
    auto_failback_on: bool,
    ipfail: Option<Ipfail>,
    /// The peer's last reported count (forgotten when it dies).
    theirs: Option<usize>,
    /// Our time since which every ping node of that count has answered the peer (its
    /// `pingage` subtracted from when we received it); `None` when it did not say.
    theirs_answers_since: Option<Millis>,
    /// After a stall of ours, reports read before this time may have waited in the socket:
    /// their receive time says nothing, so their ages prove nothing.
    ages_unreliable_until: Option<Millis>,
    /// A `you_are_dead` from the peer's ipfail: give everything up at this time.
    giveup_at: Option<Millis>,
    /// When ipfail wants to look again.
    ipfail_wake: Option<Millis>,
    /// The count last announced with `num_ping_nodes`.
    announced: Option<usize>,
    /// The last guard or ipfail reason logged, to log each situation once.
    last_reason: Option<String>,
    /// The guard held back (or undid) a takeover: do it once a ping node answers.
    takeover_held: bool,
}

impl PingAgent {
    pub fn new(ha: &HaCf, now: Millis) -> Self {
        PingAgent {
            tracker: PingTracker::new(specs_from(ha), ha.deadping, now),
            deadtime: ha.deadtime,
            keepalive: ha.keepalive,
            auto_failback_on: ha.auto_failback == crate::config::model::AutoFailback::On,
            ipfail: ha
                .ipfail
                .then(|| Ipfail::for_keepalive(ha.ipfail_holddown, ha.keepalive)),
            theirs: None,
            theirs_answers_since: None,
            ages_unreliable_until: None,
            giveup_at: None,
            ipfail_wake: None,
            announced: None,
            last_reason: None,
            takeover_held: false,
        }
    }

    /// The guard's verdict now, without logging (for the takeover paths of the core).
    pub fn guard_now(&self, peer_alive: bool, we_hold_any: bool) -> Guard {
        guard(GuardView {
            configured: self.tracker.configured(),
            reachable: self.tracker.reachable(),
            all_dead: self.tracker.all_dead(),
            peer_alive,
            we_hold_any,
        })
    }

    /// A resource move happened (any standby exchange, whoever started it): the hold-down
    /// counts from here on both nodes.
    pub fn note_move(&mut self, now: Millis) {
        if let Some(ip) = self.ipfail.as_mut() {
            ip.note_move(now);
        }
    }

    /// Remembers that the guard held a takeover back.
    pub fn hold_takeover(&mut self) {
        self.takeover_held = true;
    }

    /// True once (then forgotten) if a takeover was held back.
    pub fn take_held_takeover(&mut self) -> bool {
        std::mem::take(&mut self.takeover_held)
    }

    /// The peer is alive again: a held-back takeover no longer applies.
    pub fn forget_held_takeover(&mut self) {
        self.takeover_held = false;
    }

    /// True when at least one ping node or group is configured.
    pub fn configured(&self) -> bool {
        self.tracker.configured() > 0
    }

    /// Hosts to send an echo to now (with every heartbeat); the sending is remembered, to know
    /// when a loss began.
    pub fn echo_round(&mut self, now: Millis) -> Vec<String> {
        let hosts = self.tracker.hosts();
        if !hosts.is_empty() {
            self.tracker.on_sent(now);
        }
        hosts
    }

    /// Our count, once every ping node has answered or been declared dead.
    pub fn mine(&self) -> Option<usize> {
        self.tracker.settled().then(|| self.tracker.reachable())
    }

    /// The peer's last reported count.
    pub fn theirs(&self) -> Option<usize> {
        self.theirs
    }

    pub fn tracker(&self) -> &PingTracker {
        &self.tracker
    }

    /// A genuine echo reply from `host`.
    pub fn on_reply(&mut self, host: &str, now: Millis) -> Vec<Note> {
        let changes = self.tracker.on_reply(host, now);
        changes.iter().flat_map(|c| self.change_notes(c)).collect()
    }

    /// Timers: ping node deaths.
    pub fn on_tick(&mut self, now: Millis) -> Vec<Note> {
        let changes = self.tracker.on_tick(now);
        changes.iter().flat_map(|c| self.change_notes(c)).collect()
    }

    /// The original's words for a ping node status change (spec §8.1, §5.6).
    fn change_notes(&self, c: &Change) -> Vec<Note> {
        let n = &c.node;
        match c.to {
            PingStatus::Dead => vec![
                note(Severity::Warn, format!("node {n}: is dead")),
                note(Severity::Info, format!("Link {n}:{n} dead.")),
            ],
            PingStatus::Ping => {
                let mut v = Vec::new();
                if let Some(ms) = c.silent_for.filter(|ms| *ms > self.deadtime) {
                    v.push(note(
                        Severity::Crit,
                        format!("Late heartbeat: Node {n}: interval {ms} ms (> deadtime)"),
                    ));
                }
                v.push(note(Severity::Info, format!("Link {n}:{n} up.")));
                v.push(note(
                    Severity::Info,
                    format!("Status update for node {n}: status ping"),
                ));
                v
            }
            PingStatus::Init => Vec::new(),
        }
    }

    /// Our process was stalled: do not blame the ping nodes for our silence, and do not date
    /// the peer's reports by when we read them until the backlog is surely read (a keepalive).
    pub fn forgive_stall(&mut self, now: Millis) {
        self.tracker.forgive_stall(now);
        self.ages_unreliable_until = Some(now + self.keepalive);
    }

    /// The earliest time the core must call back (`on_tick`, `evaluate`).
    pub fn deadline(&self) -> Option<Millis> {
        [
            self.tracker.next_deadline(),
            self.giveup_at,
            self.ipfail_wake,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// `cl_status` entries: status `ping` or `dead` (`init` before any news), one link named
    /// after the node.
    pub fn node_views(&self) -> Vec<NodeView> {
        self.tracker
            .nodes()
            .map(|(spec, status)| NodeView {
                name: spec.name.clone(),
                node_type: NodeType::Ping,
                status: match status {
                    PingStatus::Init => NodeStatus::Init,
                    PingStatus::Ping => NodeStatus::Ping,
                    PingStatus::Dead => NodeStatus::Dead,
                },
                links: vec![(spec.name.clone(), status == PingStatus::Ping)],
            })
            .collect()
    }

    /// Adds `pingcount` and `pingage` to an outgoing status message sent at `now`.
    pub fn decorate_status(&self, status: &mut Message, now: Millis) {
        if self.configured() {
            let age = self.tracker.stalest_answer_age(now);
            exchange::add_count(status, self.mine(), age);
        }
    }

    /// A `num_ping_nodes` for the peer's ipfail when our count changed (ipfail on only).
    pub fn announcement(&mut self, peer: &str, client_gen: u64) -> Option<Message> {
        self.ipfail.as_ref()?;
        let mine = self.mine()?;
        if self.announced == Some(mine) {
            return None;
        }
        self.announced = Some(mine);
        Some(exchange::num_ping_nodes(peer, mine, client_gen))
    }

    /// Reads ping news from an accepted peer message.
    pub fn on_peer_message(&mut self, msg: &Message, now: Millis) {
        match exchange::read(msg) {
            Some(PeerNews::Count { reachable, age }) => {
                self.theirs = Some(reachable);
                // Each report replaces the last: a proof belongs to the count it came with.
                let trusted = self.ages_unreliable_until.is_none_or(|until| now >= until);
                self.theirs_answers_since =
                    age.filter(|_| trusted).and_then(|a| now.checked_sub(a));
            }
            Some(PeerNews::YouAreDead) if self.ipfail.is_some() => {
                // The original ipfail gives up after 2 x keepalive.
                self.giveup_at = Some(now + 2 * self.keepalive);
            }
            Some(PeerNews::AbortGiveup) => self.giveup_at = None,
            _ => {}
        }
    }

    /// The peer was declared dead or restarted: its count is unknown again.
    pub fn on_peer_dead(&mut self) {
        self.theirs = None;
        self.theirs_answers_since = None;
        self.giveup_at = None;
        // A new peer incarnation must learn our count again.
        self.announced = None;
    }

    /// Runs ipfail and the guard. Call after every ping change, peer news, ownership change and
    /// at `deadline()`.
    pub fn evaluate(&mut self, now: Millis, peer_alive: bool, h: Holdings) -> Verdict {
        let mut notes = Vec::new();
        let g = self.guard_now(peer_alive, h.we_hold_any);
        let mut action = None;
        self.ipfail_wake = None;
        if let Some(ip) = self.ipfail.as_mut().filter(|_| peer_alive) {
            if self.giveup_at.is_some_and(|at| now >= at) {
                self.giveup_at = None;
                if h.we_hold_any {
                    ip.note_move(now);
                    action = Some(Move::HandOver);
                    notes.push(note(
                        Severity::Info,
                        "ipfail: the peer's ipfail reaches more ping nodes (you_are_dead): \
                         giving our resources to the peer"
                            .to_string(),
                    ));
                }
            } else {
                let d = ip.decide(IpfailView {
                    now,
                    mine: self.tracker.settled().then(|| self.tracker.reachable()),
                    theirs: self.theirs,
                    theirs_postdates_loss: count_postdates_loss(
                        self.theirs_answers_since,
                        self.tracker.loss_began(),
                    ),
                    we_hold_any: h.we_hold_any,
                    we_hold_foreign: h.we_hold_foreign,
                    peer_holds_any: h.peer_holds_any,
                    stable: h.stable,
                    auto_failback: self.auto_failback_on,
                });
                match d {
                    Decision::Stay => self.last_reason = None,
                    Decision::Wait { until, why } => {
                        self.ipfail_wake = until;
                        if self.last_reason.as_deref() != Some(why.as_str()) {
                            notes.push(note(Severity::Info, why.clone()));
                            self.last_reason = Some(why);
                        }
                    }
                    Decision::Act { action: a, why } => {
                        action = Some(a);
                        notes.push(note(Severity::Warn, why));
                        self.last_reason = None;
                    }
                }
            }
        }
        if !peer_alive {
            let why = match &g {
                Guard::Allow => None,
                Guard::RefuseTakeover { why } | Guard::Release { why } => Some(why),
            };
            match why {
                Some(why) if self.last_reason.as_deref() != Some(why.as_str()) => {
                    notes.push(note(Severity::Warn, why.clone()));
                    self.last_reason = Some(why.clone());
                }
                Some(_) => {}
                None => self.last_reason = None,
            }
        }
        Verdict {
            ipfail: action,
            guard: g,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Diagnostics;
    use crate::wire::builders;

    fn ha(extra: &str) -> HaCf {
        let mut diags = Diagnostics::default();
        let text = format!("keepalive 1\ndeadtime 10\nnode alpha bravo\n{extra}");
        crate::config::hacf::parse_with_port(
            &text,
            std::path::Path::new("ha.cf"),
            "alpha",
            694,
            &mut diags,
        )
    }

    const HOLD_ALL: Holdings = Holdings {
        we_hold_any: true,
        we_hold_foreign: false,
        peer_holds_any: false,
        stable: true,
    };

    #[test]
    fn logs_like_the_original() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\n"), 0);
        let up = a.on_reply("192.0.2.254", 500);
        assert_eq!(
            up.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(),
            [
                "Link 192.0.2.254:192.0.2.254 up.",
                "Status update for node 192.0.2.254: status ping"
            ]
        );
        let dead = a.on_tick(500 + 10_001);
        assert_eq!(dead[0].severity, Severity::Warn);
        assert_eq!(dead[0].text, "node 192.0.2.254: is dead");
        assert_eq!(dead[1].text, "Link 192.0.2.254:192.0.2.254 dead.");
        let back = a.on_reply("192.0.2.254", 30_000);
        assert_eq!(back[0].severity, Severity::Crit);
        assert!(back[0].text.contains("interval 29500 ms (> deadtime)"));
    }

    #[test]
    fn node_views_carry_type_status_and_link() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\nping_group gw 192.0.2.1\n"), 0);
        a.on_reply("192.0.2.1", 1);
        let v = a.node_views();
        assert_eq!(v[0].name, "192.0.2.254");
        assert_eq!(v[0].status, NodeStatus::Init);
        assert_eq!(v[1].name, "gw");
        assert_eq!(v[1].node_type, NodeType::Ping);
        assert_eq!(v[1].status, NodeStatus::Ping);
        assert_eq!(v[1].links, [("gw".to_string(), true)]);
    }

    #[test]
    fn status_carries_count_once_settled() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254 192.0.2.253\n"), 0);
        let mut s = builders::status("active", 1, true);
        a.decorate_status(&mut s, 0);
        assert_eq!(s.get("pingcount"), None);
        a.on_reply("192.0.2.254", 5000);
        a.on_tick(10_001);
        a.decorate_status(&mut s, 10_001);
        assert_eq!(s.get("pingcount"), Some("1"));
        assert_eq!(s.get("pingage"), Some("5001"));
        let none = PingAgent::new(&ha(""), 0);
        let mut s = builders::status("active", 1, true);
        none.decorate_status(&mut s, 0);
        assert_eq!(s.get("pingcount"), None);
        assert_eq!(s.get("pingage"), None);
    }

    #[test]
    fn peer_counts_and_death() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\nipfail on\n"), 0);
        let mut s = builders::status("active", 1, true);
        s.push("pingcount", "1");
        a.on_peer_message(&s, 0);
        assert_eq!(a.theirs(), Some(1));
        a.on_peer_dead();
        assert_eq!(a.theirs(), None);
    }

    #[test]
    fn ipfail_hands_over_when_weaker() {
        // No echo sent yet, so no loss time: only the fixed wait applies.
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\nipfail on\n"), 0);
        a.on_tick(10_001); // our ping node is dead: we reach 0
        let mut s = builders::status("active", 1, true);
        s.push("pingcount", "1");
        a.on_peer_message(&s, 10_001);
        let v = a.evaluate(10_001, true, HOLD_ALL);
        assert_eq!(v.ipfail, None, "confirming first");
        assert_eq!(v.guard, Guard::Allow);
        assert_eq!(a.deadline(), Some(11_101));
        assert_eq!(
            a.evaluate(11_101, true, HOLD_ALL).ipfail,
            Some(Move::HandOver)
        );
        // A standby seen on either side restarts the hold-down.
        a.note_move(20_000);
        assert_eq!(a.evaluate(25_000, true, HOLD_ALL).ipfail, None);
    }

    /// Alpha pings every second; its gateway answered last at 3002 (echo of 3000), so the loss
    /// began with the echo of 4000 and is declared at 7003 (deadping 4 s).
    fn lost_at_7003() -> PingAgent {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\ndeadping 4\nipfail on\n"), 0);
        for t in (0..=6000).step_by(1000) {
            assert_eq!(a.echo_round(t), ["192.0.2.254"]);
            if t <= 3000 {
                a.on_reply("192.0.2.254", t + 2);
            }
        }
        a.on_tick(7003);
        assert_eq!(a.mine(), Some(0));
        a
    }

    fn peer_status(count: &str, age: Option<&str>) -> Message {
        let mut s = builders::status("active", 1, true);
        s.push("pingcount", count);
        if let Some(age) = age {
            s.push("pingage", age);
        }
        s
    }

    #[test]
    fn ipfail_hands_over_at_once_when_the_peers_count_postdates_our_loss() {
        let mut a = lost_at_7003();
        // Stalest answer 950 ms old at 7010: answered at 6060 > 4000 + margin.
        a.on_peer_message(&peer_status("1", Some("950")), 7010);
        let v = a.evaluate(7010, true, HOLD_ALL);
        assert_eq!(v.ipfail, Some(Move::HandOver));
        assert!(v.notes[0].text.contains("newer than our loss"), "{v:?}");
    }

    #[test]
    fn ipfail_stale_or_missing_age_waits_the_fixed_delay() {
        // Answered at 4040: not later than 4000 + the margin, as in a shared failure.
        for age in [
            Some("2970"),
            None,
            Some("-1"),
            Some("garbage"),
            Some("99999999999"),
        ] {
            let mut a = lost_at_7003();
            a.on_peer_message(&peer_status("1", age), 7010);
            assert_eq!(a.evaluate(7010, true, HOLD_ALL).ipfail, None, "{age:?}");
            assert_eq!(a.deadline(), Some(7010 + 1100), "{age:?}");
            assert_eq!(
                a.evaluate(8110, true, HOLD_ALL).ipfail,
                Some(Move::HandOver),
                "{age:?}"
            );
        }
        // An age larger than our clock reads proves nothing either.
        let mut a = lost_at_7003();
        a.on_peer_message(&peer_status("1", Some("8000")), 7010);
        assert_eq!(a.evaluate(7010, true, HOLD_ALL).ipfail, None);
    }

    #[test]
    fn ipfail_ignores_ages_read_just_after_a_stall_of_ours() {
        let mut a = lost_at_7003();
        // We were stalled until 7005: this report may have waited in the socket for long.
        a.forgive_stall(7005);
        a.on_peer_message(&peer_status("1", Some("100")), 7010);
        assert_eq!(a.evaluate(7010, true, HOLD_ALL).ipfail, None);
        // A keepalive later, reports are dated by their arrival again.
        a.on_peer_message(&peer_status("1", Some("100")), 8005);
        assert_eq!(
            a.evaluate(8005, true, HOLD_ALL).ipfail,
            Some(Move::HandOver)
        );
    }

    #[test]
    fn ipfail_proof_belongs_to_the_latest_report() {
        let mut a = lost_at_7003();
        a.on_peer_message(&peer_status("1", Some("100")), 7010);
        // A later report without an age (e.g. the original ipfail's num_ping_nodes) replaces it.
        let mut n = Message::new("num_ping_nodes");
        n.push("num_ping", "1");
        a.on_peer_message(&n, 7011);
        assert_eq!(a.evaluate(7011, true, HOLD_ALL).ipfail, None);
        // The peer's death forgets it.
        a.on_peer_message(&peer_status("1", Some("100")), 7020);
        a.on_peer_dead();
        a.on_peer_message(&peer_status("1", None), 7030);
        assert_eq!(a.evaluate(7030, true, HOLD_ALL).ipfail, None);
    }

    #[test]
    fn ipfail_off_never_moves() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\n"), 0);
        a.on_tick(10_001);
        let mut s = builders::status("active", 1, true);
        s.push("pingcount", "1");
        a.on_peer_message(&s, 10_001);
        assert_eq!(a.evaluate(10_001, true, HOLD_ALL).ipfail, None);
        assert!(a.announcement("bravo", 1).is_none());
    }

    #[test]
    fn you_are_dead_gives_up_after_two_keepalives_unless_aborted() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\nipfail on\n"), 0);
        a.on_reply("192.0.2.254", 1);
        let mut yad = Message::new("you_are_dead");
        yad.push("to_id", "ipfail");
        a.on_peer_message(&yad, 100);
        assert_eq!(a.deadline(), Some(2100));
        assert_eq!(a.evaluate(2099, true, HOLD_ALL).ipfail, None);
        assert_eq!(
            a.evaluate(2100, true, HOLD_ALL).ipfail,
            Some(Move::HandOver)
        );
        a.on_peer_message(&yad, 5000);
        a.on_peer_message(&Message::new("abort_giveup"), 5500);
        assert_eq!(a.evaluate(8000, true, HOLD_ALL).ipfail, None);
    }

    #[test]
    fn announcement_only_on_change() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\nipfail on\n"), 0);
        assert!(a.announcement("bravo", 1).is_none(), "unsettled");
        a.on_reply("192.0.2.254", 1);
        let m = a.announcement("bravo", 1).unwrap();
        assert_eq!(m.get("num_ping"), Some("1"));
        assert!(a.announcement("bravo", 1).is_none());
        a.on_tick(20_000);
        assert_eq!(
            a.announcement("bravo", 1).unwrap().get("num_ping"),
            Some("0")
        );
    }

    #[test]
    fn guard_logged_once_per_situation() {
        let mut a = PingAgent::new(&ha("ping 192.0.2.254\n"), 0);
        a.on_tick(10_001);
        let nothing = Holdings {
            we_hold_any: false,
            ..HOLD_ALL
        };
        let v = a.evaluate(10_001, false, nothing);
        assert!(matches!(v.guard, Guard::RefuseTakeover { .. }));
        assert_eq!(v.notes.len(), 1);
        assert!(a.evaluate(10_500, false, nothing).notes.is_empty());
        let v = a.evaluate(10_600, false, HOLD_ALL);
        assert!(matches!(v.guard, Guard::Release { .. }));
        assert_eq!(v.notes.len(), 1);
        a.on_reply("192.0.2.254", 11_000);
        assert_eq!(a.evaluate(11_000, false, nothing).guard, Guard::Allow);
    }
}
