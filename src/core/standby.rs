//! `hb_standby` / `hb_takeover` (spec §7): the three-phase `ask_resources` protocol, its
//! timers, and the replies to the admin client (refusal with a reason, or success once the
//! transfer completed, fixing §13.21). `hb_takeover failback` asks the peer for our own groups
//! (fix of §13.22).

use super::Core;
use super::groups::{Op, Purpose};
use super::halves::Halves;
use super::membership::Comm;
use super::resources::RState;
use super::vocab::{AdminCommand, AdminReply, ClientId, NodeStatus, Output, RscSet, Severity};
use crate::config::Millis;
use crate::wire::builders;
use crate::wire::builders::AskPhase;

/// `SR` for our own request (spec §7.2).
const OWN_REQUEST_TIMEOUT: Millis = 10_000;
/// `SR` once the transfer runs, at most (the original's hour).
const TRANSFER_TIMEOUT: Millis = 3_600_000;
/// How long `hb_takeover` waits for the peer to start its standby.
const TAKEOVER_ANSWER_TIMEOUT: Millis = 10_000;

/// `GS` of spec §7.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gs {
    Not,
    Me,
    Other,
    Done,
}

impl Gs {
    fn number(self) -> u8 {
        match self {
            Gs::Not => 0,
            Gs::Me => 1,
            Gs::Other => 2,
            Gs::Done => 3,
        }
    }
}

/// Standby state of one node.
#[derive(Debug)]
pub struct Standby {
    pub gs: Gs,
    /// `SR`: the running standby operation expires then.
    pub deadline: Option<Millis>,
    /// The admin client waiting for our own standby to finish.
    pub standby_client: Option<ClientId>,
    /// The admin client waiting for the peer's standby (our takeover), and until when it
    /// waits for the peer to begin.
    pub takeover_client: Option<(ClientId, Millis)>,
    /// Our standby acquisition succeeded.
    pub acquired_ok: bool,
    /// The set of our own running request (our terms), while we are the requester.
    pub own_set: Option<Halves>,
    /// Our standby was completed by the peer's resource report before its `done` arrived: that
    /// `done` is still on its way. Heartbeat 3.0.6 sends the acquirer's `ask_resources done` and
    /// its `resource isstable=1` back to back and often in the reverse order (seq n+1 before n).
    pub late_peer_done: bool,
}

impl Standby {
    pub fn new() -> Self {
        Standby {
            gs: Gs::Not,
            deadline: None,
            standby_client: None,
            takeover_client: None,
            acquired_ok: true,
            own_set: None,
            late_peer_done: false,
        }
    }
}

impl Default for Standby {
    fn default() -> Self {
        Self::new()
    }
}

fn set_word(set: Halves) -> &'static str {
    set.word()
}

impl Core {
    /// How long a standby transfer may take: every script of every group started and stopped
    /// again, each killed at `resource_timeout` (§13.14), plus a deadtime. The original waits
    /// an hour because its scripts had no timeout; a peer that silently abandoned the transfer
    /// (it lost sight of us meanwhile) must not block us that long.
    fn transfer_timeout(&self) -> Millis {
        let scripts: u64 = self
            .config
            .groups
            .iter()
            .map(|g| g.resources.len() as u64)
            .sum();
        let bound = scripts
            .saturating_mul(2)
            .saturating_mul(self.config.ha.resource_timeout)
            .saturating_add(self.config.ha.deadtime);
        bound.min(TRANSFER_TIMEOUT)
    }

    pub(super) fn standby_idle(&self) -> bool {
        self.sb.gs == Gs::Not
    }

    /// Sends `ask_resources` and processes our own copy, as the original does.
    pub(super) fn send_ask_resources(&mut self, set: Halves, phase: AskPhase) {
        self.transmit(builders::ask_resources(set.hold(), phase));
        self.self_msgs.push_back((set, phase));
    }

    pub(super) fn reply(&mut self, client: ClientId, ok: bool, text: String) {
        self.outputs.push_back(Output::Reply {
            client,
            reply: AdminReply { ok, text },
        });
    }

    /// Why a standby cannot start now, if it cannot.
    pub(super) fn standby_refusal(&self) -> Option<String> {
        let peer = &self.config.peer;
        if self.legacy() {
            return Some(
                "Standby mode only implemented when nice_failback on (auto_failback is legacy)"
                    .to_string(),
            );
        }
        if self.rsc.shutting_down {
            return Some("heartbeat is shutting down".to_string());
        }
        if self.mem.comm != Comm::Up {
            return Some("communication is not up yet".to_string());
        }
        if self.mem.peer.status == NodeStatus::Dead || !self.mem.peer_alive() {
            return Some(format!(
                "peer {peer} is dead: nobody could take the resources"
            ));
        }
        if self.sb.gs != Gs::Not {
            return Some("a standby operation is already in progress".to_string());
        }
        if !self.rsc.peer_stable {
            return Some(format!("other side ({peer}) is in flux"));
        }
        if self.rsc.r != RState::Stable || self.runner.busy() {
            return Some("local resources in flux".to_string());
        }
        None
    }

    /// `hb_standby SET` / `hb_takeover SET` from an admin client.
    pub(super) fn on_admin(&mut self, client: ClientId, command: AdminCommand) {
        let (set, takeover) = match command {
            AdminCommand::Standby(s) => (s, false),
            AdminCommand::Takeover(s) => (s, true),
            AdminCommand::ConfirmFenced(node) => {
                let answer = self.confirm_fenced(&node);
                let (ok, text) = match answer {
                    Ok(t) => (true, t),
                    Err(t) => (false, t),
                };
                self.reply(client, ok, text);
                return;
            }
            AdminCommand::ClearFailures(target) => {
                let (ok, text) = match self.clear_failures(target.as_deref()) {
                    Ok(t) => (true, t),
                    Err(t) => (false, t),
                };
                self.reply(client, ok, text);
                return;
            }
        };
        if set == RscSet::None {
            self.reply(client, false, "nothing to move (none)".to_string());
            return;
        }
        if let Some(why) = self.standby_refusal() {
            let what = if takeover { "takeover" } else { "standby" };
            self.log(Severity::Warn, format!("{what} request refused: {why}"));
            self.reply(client, false, why);
            return;
        }
        let set = Halves::from(set);
        if takeover {
            if self.sb.takeover_client.is_some() {
                self.reply(
                    client,
                    false,
                    "a takeover request is already pending".to_string(),
                );
                return;
            }
            self.log(
                Severity::Info,
                format!(
                    "Asking {} to go standby: takeover [{}].",
                    self.config.peer,
                    set.word()
                ),
            );
            self.transmit(builders::hb_takeover(set.hold()));
            self.sb.takeover_client = Some((client, self.now.mono + TAKEOVER_ANSWER_TIMEOUT));
        } else {
            self.log(Severity::Info, format!("Going standby [{}].", set.word()));
            self.sb.standby_client = Some(client);
            self.send_ask_resources(set, AskPhase::Me);
        }
    }

    /// `hb_takeover` from the peer: run the mirrored standby here (local<->foreign).
    pub(super) fn on_peer_hb_takeover(&mut self, rsc_hold: Option<&str>) {
        let word = rsc_hold.unwrap_or("all");
        // The peer's set in its own terms; `failback` means "my own groups back" there.
        let theirs = match word {
            "failback" => Halves::LOCAL,
            w => Halves::from_word(w).unwrap_or(Halves::ALL),
        };
        let ours = theirs.mirror();
        if let Some(why) = self.standby_refusal() {
            self.log(
                Severity::Warn,
                format!(
                    "hb_takeover [{word}] from {} refused: {why}",
                    self.config.peer
                ),
            );
            return;
        }
        self.log(
            Severity::Info,
            format!(
                "{} asks for takeover [{word}]: going standby [{}].",
                self.config.peer,
                ours.word()
            ),
        );
        self.send_ask_resources(ours, AskPhase::Me);
    }

    /// `ask_resources` from the peer or ourselves (spec §7.2).
    pub(super) fn on_ask_resources(
        &mut self,
        rsc_hold: Option<&str>,
        info: Option<&str>,
        src: Option<&str>,
        from_self: bool,
    ) {
        if self.legacy() {
            self.log(
                Severity::Info,
                "Standby mode only implemented when nice_failback on".to_string(),
            );
            return;
        }
        if self.rsc.shutting_down {
            return;
        }
        let (Some(info), Some(src)) = (info, src) else {
            self.log(
                Severity::Error,
                "Received standby message without info/from".to_string(),
            );
            return;
        };
        let info = info.to_string();
        let src = src.to_string();
        let set = rsc_hold.and_then(Halves::from_word).unwrap_or(Halves::ALL);
        self.standby_check_timeout();
        if self.sb.gs == Gs::Done && self.sb.own_set.is_some() && info == "me" && !from_self {
            // We gave up our set and wait for the peer's `done`; a new request from it means it
            // abandoned ours (it lost sight of us meanwhile). Do not wait an hour.
            self.log(
                Severity::Warn,
                format!(
                    "standby: {src} abandoned our standby request (new request from it); cancelled"
                ),
            );
            self.standby_reset("the peer abandoned the transfer");
        }
        let now = self.now.mono;
        if let Some(sr) = self.sb.deadline
            && sr > now
            && info == "me"
            && self.sb.gs != Gs::Not
        {
            self.log(
                Severity::Warn,
                format!(
                    "Standby in progress- new request from {src} ignored [{} seconds left]",
                    (sr - now) / 1000
                ),
            );
            if from_self {
                self.refuse_standby_client("a standby operation is already in progress");
            }
            return;
        }
        match (self.sb.gs, info.as_str(), from_self) {
            (Gs::Not, "me", _) => {
                self.standby_begin(set, &info, &src, from_self, now);
            }
            (Gs::Me, "other", false) => {
                self.standby_give_up(set, now);
            }
            (Gs::Me, "done", true) => {
                self.log(
                    Severity::Info,
                    format!("Local standby process completed [{}].", set.word()),
                );
                self.sb.gs = Gs::Done;
            }
            (Gs::Other, "done", false) => {
                self.standby_acquire(set);
            }
            (Gs::Other, "other", true) => {}
            (Gs::Done, "done", _) => {
                self.standby_finished(set, from_self);
            }
            (Gs::Not, "done", false) if self.sb.late_peer_done => {
                // The peer's `done` overtaken by its own resource report (see `late_peer_done`):
                // the transfer is already complete, nothing is wrong.
                self.sb.late_peer_done = false;
                self.log(
                    Severity::Debug,
                    format!("standby: late 'done' from {src}: already complete"),
                );
            }
            (gs, _, _) => {
                self.log(
                    Severity::Error,
                    format!(
                        "Ignored standby message '{info}' from {src} in state {}",
                        gs.number()
                    ),
                );
            }
        }
    }

    /// `me` while idle: a standby begins, ours (`from_self`) or the peer's, unless either side
    /// is in flux.
    fn standby_begin(&mut self, set: Halves, info: &str, src: &str, from_self: bool, now: Millis) {
        self.sb.late_peer_done = false;
        if !self.rsc.peer_stable {
            self.log(
                Severity::Warn,
                format!("standby message [{info}] from {src} ignored.  Other side is in flux."),
            );
            if from_self {
                self.refuse_standby_client("other side is in flux");
            }
            return;
        }
        if self.rsc.r != RState::Stable {
            self.log(
                Severity::Warn,
                format!("standby message [{info}] from {src} ignored.  local resources in flux."),
            );
            if from_self {
                self.refuse_standby_client("local resources in flux");
            }
            return;
        }
        if !from_self && let Some(line) = self.failed_here_in(set.mirror()) {
            self.log(
                Severity::Warn,
                format!(
                    "standby message [{info}] from {src} refused: a group failed here ({line}); see cl_status rscfail"
                ),
            );
            return;
        }
        self.log(
            Severity::Info,
            format!("{src} wants to go standby [{}]", set_word(set)),
        );
        self.rsc.peer_stable = false;
        if from_self {
            self.sb.gs = Gs::Me;
            self.sb.own_set = Some(set);
            self.sb.deadline = Some(now + OWN_REQUEST_TIMEOUT);
        } else {
            self.sb.gs = Gs::Other;
            self.sb.deadline = Some(now + self.transfer_timeout());
            // The peer began: our takeover request (if any) was heard.
            if let Some((c, _)) = self.sb.takeover_client {
                self.sb.takeover_client = Some((c, Millis::MAX));
            }
            self.send_ask_resources(set, AskPhase::Other);
        }
    }

    /// The peer answered our `me` with `other`: give our set up, then say `done`.
    fn standby_give_up(&mut self, set: Halves, now: Millis) {
        self.log(
            Severity::Info,
            format!(
                "standby: {} can take our {} resources",
                self.config.peer,
                set.word()
            ),
        );
        self.sb.deadline = Some(now + self.transfer_timeout());
        self.monitor_handover_accepted(set);
        self.rsc.held = self.rsc.held.minus(set);
        self.send_resource(false, Some("standby"));
        self.log(
            Severity::Info,
            format!("give up {} HA resources (standby).", set.word()),
        );
        let mut groups = self.groups_of(set);
        groups.reverse();
        self.runner
            .enqueue(Op::Stop, groups, Purpose::StandbyRelease(set));
    }

    /// The peer gave its set up (`done`): acquire it.
    fn standby_acquire(&mut self, set: Halves) {
        self.log(
            Severity::Info,
            format!(
                "standby: acquire [{}] resources from {}",
                set.word(),
                self.config.peer
            ),
        );
        self.sb.gs = Gs::Done;
        let mine = set.mirror();
        self.log(
            Severity::Info,
            format!("acquire {} HA resources (standby).", mine.word()),
        );
        let groups = self.groups_of(mine);
        self.runner
            .enqueue(Op::Start, groups, Purpose::StandbyAcquire(set));
    }

    /// The final `done` (ours after acquiring, or the peer's after it acquired): back to idle,
    /// and the admin client that asked learns the outcome.
    fn standby_finished(&mut self, set: Halves, from_self: bool) {
        self.sb.deadline = None;
        self.sb.gs = Gs::Not;
        self.sb.own_set = None;
        if from_self {
            self.log(
                Severity::Info,
                format!("Standby resource acquisition done [{}].", set.word()),
            );
            if self.sb.acquired_ok {
                if let Some((c, _)) = self.sb.takeover_client.take() {
                    self.reply(
                        c,
                        true,
                        format!(
                            "takeover [{}] complete: this node holds {}",
                            set.mirror().word(),
                            self.rsc.held.word()
                        ),
                    );
                }
            } else if let Some((c, _)) = self.sb.takeover_client.take() {
                self.reply(
                    c,
                    false,
                    "takeover failed: a resource could not be started here".to_string(),
                );
            }
        } else {
            self.log(
                Severity::Info,
                format!(
                    "Other node completed standby takeover of {} resources.",
                    set.word()
                ),
            );
            if let Some(c) = self.sb.standby_client.take() {
                let peer = self.config.peer.clone();
                self.reply(
                    c,
                    true,
                    format!("standby [{}] complete: {peer} took over", set.word()),
                );
            }
        }
        self.rsc.peer_stable = true;
        self.send_resource(true, None);
    }

    fn refuse_standby_client(&mut self, why: &str) {
        if let Some(c) = self.sb.standby_client.take() {
            self.reply(c, false, why.to_string());
        }
    }

    /// Our give-up finished: tell the peer it may acquire.
    pub(super) fn standby_release_done(&mut self, set: Halves) {
        if self.sb.gs == Gs::Me {
            self.log(
                Severity::Info,
                format!("{} HA resource release completed (standby).", set.word()),
            );
            self.send_ask_resources(set, AskPhase::Done);
        }
    }

    /// Our standby acquisition finished (or failed): claim what now runs here, and answer
    /// `done` either way so the peer is not left waiting (a failure is handed back separately).
    /// If the standby was cancelled meanwhile (peer died or restarted), report the claim.
    pub(super) fn standby_acquire_done(&mut self, set: Halves, ok: bool) {
        self.sb.acquired_ok = ok;
        if ok {
            self.rsc.held = self.rsc.held.union(set.mirror());
            self.log(
                Severity::Info,
                format!(
                    "{} HA resource acquisition completed (standby).",
                    set.mirror().word()
                ),
            );
        }
        if self.sb.gs == Gs::Done {
            self.send_ask_resources(set, AskPhase::Done);
        } else if ok && !self.rsc.shutting_down {
            let stable = self.rsc.r == RState::Stable;
            self.send_resource(stable, None);
        }
    }

    /// `SR` passed: give up the standby operation (spec §7.2 timeout).
    pub(super) fn standby_check_timeout(&mut self) {
        if self.sb.gs == Gs::Not {
            return;
        }
        if self.sb.deadline.is_some_and(|t| self.now.mono >= t) {
            self.log(
                Severity::Warn,
                "No reply to standby request.  Standby request cancelled.".to_string(),
            );
            self.sb.gs = Gs::Not;
            self.sb.deadline = None;
            self.sb.own_set = None;
            self.rsc.peer_stable = true;
            self.refuse_standby_client("no reply from the peer: standby cancelled");
            if let Some((c, _)) = self.sb.takeover_client.take() {
                self.reply(
                    c,
                    false,
                    "no reply from the peer: takeover cancelled".to_string(),
                );
            }
        }
    }

    /// Back to no standby, failing whoever waits for ours.
    fn standby_reset(&mut self, why: &str) {
        self.sb.gs = Gs::Not;
        self.sb.deadline = None;
        self.sb.own_set = None;
        self.refuse_standby_client(&format!("standby cancelled: {why}"));
    }

    /// The peer reports holding everything we gave away: our standby is complete even if its
    /// `done` was lost with a cancelled transfer.
    pub(super) fn standby_check_report(&mut self) {
        let Some(set) = self.sb.own_set else {
            return;
        };
        if self.sb.gs == Gs::Done && self.rsc.peer_stable && self.rsc.peer_held.contains(set) {
            self.log(
                Severity::Info,
                format!(
                    "Other node completed standby takeover of {} resources.",
                    set.word()
                ),
            );
            self.sb.gs = Gs::Not;
            self.sb.deadline = None;
            self.sb.own_set = None;
            self.sb.late_peer_done = true;
            if let Some(c) = self.sb.standby_client.take() {
                let peer = self.config.peer.clone();
                self.reply(
                    c,
                    true,
                    format!("standby [{}] complete: {peer} took over", set.word()),
                );
            }
        }
    }

    /// Cancels a pending standby (peer dead, restarted, shutting down).
    pub(super) fn standby_cancel(&mut self, why: &str) {
        if self.sb.gs != Gs::Not {
            self.log(
                Severity::Info,
                "Cancelling pending standby operation".to_string(),
            );
        }
        self.standby_reset(why);
        if let Some((c, _)) = self.sb.takeover_client.take() {
            self.reply(c, false, format!("takeover cancelled: {why}"));
        }
    }

    /// Standby timers.
    pub(super) fn standby_timers(&mut self) {
        self.standby_check_timeout();
        // `until` is MAX once the peer began its standby for us.
        if let Some((c, until)) = self.sb.takeover_client
            && self.now.mono >= until
        {
            self.sb.takeover_client = None;
            self.reply(
                c,
                false,
                format!(
                    "no answer from {}: it refused or is busy (see its log)",
                    self.config.peer
                ),
            );
        }
    }

    pub(super) fn standby_deadline(&self) -> Option<Millis> {
        let a = if self.sb.gs != Gs::Not {
            self.sb.deadline
        } else {
            None
        };
        let b = self
            .sb
            .takeover_client
            .map(|(_, t)| t)
            .filter(|t| *t != Millis::MAX);
        [a, b].into_iter().flatten().min()
    }
}
