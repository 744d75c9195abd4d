//! Ping nodes in the core (spec §8), delegating to [`crate::core::ping::agent::PingAgent`]:
//! echo requests with every heartbeat, liveness with the original's log lines, our count in
//! heartbeats (`pingcount`, `pingage`), the built-in ipfail acting through the standby protocol (§7), and
//! the split-brain guard on every takeover made while the peer is dead.

use super::Core;
use super::groups::{Op, Purpose};
use super::halves::Halves;
use super::membership::Comm;
use super::vocab::{Output, Severity};
use crate::core::ping::agent::{Holdings, Note};
use crate::core::ping::policy::{Guard, Move};
use crate::wire::Message;
use crate::wire::builders;
use crate::wire::builders::AskPhase;

impl Core {
    /// One echo request per ping host; called with every heartbeat.
    pub(super) fn send_pings(&mut self) {
        for host in self.ping.echo_round(self.now.mono) {
            self.outputs.push_back(Output::SendPing { host });
        }
    }

    /// A reloaded configuration with other ping settings starts ping tracking afresh.
    pub(super) fn ping_reload(&mut self, new: &crate::config::HaCf) {
        let old = &self.config.ha;
        let same = old.ping_nodes == new.ping_nodes
            && old.ping_groups == new.ping_groups
            && old.deadping == new.deadping
            && old.ipfail == new.ipfail
            && old.ipfail_holddown == new.ipfail_holddown
            && old.keepalive == new.keepalive
            && old.auto_failback == new.auto_failback;
        if !same {
            self.ping = crate::core::ping::agent::PingAgent::new(new, self.now.mono);
        }
    }

    /// Declares silent ping nodes dead.
    pub(super) fn ping_timers(&mut self) {
        let before = self.ping.mine();
        let notes = self.ping.on_tick(self.now.mono);
        self.ping_log(notes);
        self.ping_count_changed(before);
    }

    /// Our count changed: tell the peer at once (a heartbeat) instead of at the next keepalive,
    /// so that both counts cross quickly when a shared upstream fails.
    fn ping_count_changed(&mut self, before: Option<usize>) {
        if self.ping.mine() != before && self.mem.comm == Comm::Up && !self.stopped {
            self.send_heartbeat();
        }
    }

    pub(super) fn ping_deadline(&self) -> Option<crate::config::Millis> {
        self.ping.deadline()
    }

    /// A genuine echo reply (matched and authenticated by the shell).
    pub(super) fn on_ping_reply(&mut self, host: &str) {
        let before = self.ping.mine();
        let notes = self.ping.on_reply(host, self.now.mono);
        self.ping_log(notes);
        self.ping_count_changed(before);
    }

    /// Adds `pingcount` and `pingage` to an outgoing status message.
    pub(super) fn ping_decorate_status(&self, status: &mut Message) {
        self.ping.decorate_status(status, self.now.mono);
    }

    /// Any accepted peer message: `pingcount`, or the original ipfail's messages.
    pub(super) fn ping_peer_message(&mut self, msg: &Message) {
        self.ping.on_peer_message(msg, self.now.mono);
    }

    /// The peer died or restarted: its count is unknown until it tells again.
    pub(super) fn ping_peer_dead(&mut self) {
        self.ping.on_peer_dead();
    }

    fn ping_log(&mut self, notes: Vec<Note>) {
        for n in notes {
            self.log(n.severity, n.text);
        }
    }

    fn ping_holdings(&self) -> Holdings {
        let any = |set: Halves| !self.groups_of(set).is_empty();
        Holdings {
            we_hold_any: any(self.rsc.held),
            we_hold_foreign: any(self.rsc.held.inter(Halves::FOREIGN)),
            peer_holds_any: any(self.rsc.peer_held),
            stable: self.rscstatus() != "transition" && self.standby_refusal().is_none(),
        }
    }

    /// The guard, asked by every takeover path while the peer is dead: false when we reach none
    /// of our ping nodes (the takeover is remembered and done once one answers).
    pub(super) fn ping_guard_allows_takeover(&mut self) -> bool {
        let we_hold_any = !self.groups_of(self.rsc.held).is_empty();
        match self.ping.guard_now(self.mem.peer_alive(), we_hold_any) {
            Guard::Allow => true,
            // The reason is logged once by `ping_evaluate`, after this event.
            Guard::RefuseTakeover { .. } | Guard::Release { .. } => {
                self.ping.hold_takeover();
                false
            }
        }
    }

    /// Runs ipfail and the guard after every event.
    pub(super) fn ping_evaluate(&mut self) {
        if !self.ping.configured()
            || self.mem.comm != Comm::Up
            || self.rsc.shutting_down
            || self.legacy()
        {
            return;
        }
        let peer_alive = self.mem.peer_alive();
        if !self.standby_idle() {
            // Any standby exchange, ours or the peer's: the hold-down starts when it ends.
            self.ping.note_move(self.now.mono);
        }
        if peer_alive {
            self.ping.forget_held_takeover();
            if let Some(m) = self
                .ping
                .announcement(&self.config.peer, self.identity.generation)
            {
                self.transmit(m);
            }
        }
        let holdings = self.ping_holdings();
        let verdict = self.ping.evaluate(self.now.mono, peer_alive, holdings);
        for n in verdict.notes {
            let text = if n.text.starts_with("ipfail") {
                n.text
            } else {
                format!("Split-brain guard: {}", n.text)
            };
            self.log(n.severity, text);
        }
        if let Some(m) = verdict.ipfail {
            self.ipfail_move(m);
        }
        if peer_alive {
            return;
        }
        match verdict.guard {
            Guard::Release { .. } if !self.runner.busy() => self.ping_release_all(),
            Guard::Allow if self.ping.take_held_takeover() => {
                self.log(
                    Severity::Info,
                    "Split-brain guard: a ping node answers again: taking over.".to_string(),
                );
                self.acquire_missing();
            }
            _ => {}
        }
    }

    /// ipfail's move, through the same standby protocol as `hb_standby` / `hb_takeover`.
    fn ipfail_move(&mut self, m: Move) {
        if let Some(why) = self.standby_refusal() {
            self.log(Severity::Warn, format!("ipfail: move refused: {why}"));
            return;
        }
        match m {
            Move::HandOver => {
                let set = self.rsc.held;
                self.log(Severity::Info, format!("Going standby [{}].", set.word()));
                self.send_ask_resources(set, AskPhase::Me);
            }
            Move::ReturnForeign => {
                self.log(Severity::Info, "Going standby [foreign].".to_string());
                self.send_ask_resources(Halves::FOREIGN, AskPhase::Me);
            }
            Move::TakeOver => {
                let set = self.rsc.peer_held;
                self.log(
                    Severity::Info,
                    format!(
                        "Asking {} to go standby: takeover [{}].",
                        self.config.peer,
                        set.word()
                    ),
                );
                let msg = builders::hb_takeover(set.hold());
                self.transmit(msg);
            }
        }
    }

    /// Cut off from the peer and from every ping node: we serve nobody, so stop everything
    /// (the peer, if alive, takes over) and take over again once a ping node answers.
    fn ping_release_all(&mut self) {
        let mut groups: Vec<usize> = self
            .runner
            .group_up
            .iter()
            .enumerate()
            .filter(|(_, up)| **up)
            .map(|(i, _)| i)
            .collect();
        if groups.is_empty() && self.rsc.held.is_empty() {
            return;
        }
        groups.reverse();
        self.rsc.held = Halves::NONE;
        self.ping.hold_takeover();
        self.runner.enqueue(Op::Stop, groups, Purpose::HealRelease);
    }
}
