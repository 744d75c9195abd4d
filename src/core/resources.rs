//! Resource ownership in v1 mode (spec §6.7 for `auto_failback on|off`): start-up negotiation,
//! takeover on death or `shutdone`, auto failback, audits, start-failure hand-over (§13.16) and
//! partition reconciliation without restarts (§13.9).

use super::Core;
use super::groups::{Finished, Op, Purpose};
use super::halves::Halves;
use super::membership::Comm;
use super::vocab::{Output, Severity};
use crate::config::{AutoFailback, Millis};
use crate::wire::builders;
use crate::wire::builders::AskPhase;

/// `T_local`: how long a starting node waits for the peer to become stable (spec §6.7 rule 5).
const T_LOCAL: Millis = 10_000;
/// Longest wait between two attempts to start what failed while the peer is dead (unless
/// the deadtime is longer still).
pub const RETRY_CAP: Millis = 120_000;
/// Retry period of auto failback and of a pending hand-over (spec §6.7 rule 7).
const RETRY: Millis = 1000;
/// `info` of the claim sent to a peer that comes back from the dead: asks for its claim.
const RETURNED: &str = "returned";
/// How long nobody may hold our own groups before the audit takes them back.
const ORPHAN_GRACE: Millis = 2000;

/// `R` of spec §6.7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RState {
    Init,
    Starting,
    BothStarting,
    RscRcvd,
    Stable,
    Shutdown,
}

/// Resource-protocol state of one node.
#[derive(Debug)]
pub struct Resources {
    pub r: RState,
    /// `I`: the halves we claim (our terms).
    pub held: Halves,
    /// `O`: the halves the peer claims, converted to our terms.
    pub peer_held: Halves,
    /// `OS`: the peer says its transition is finished.
    pub peer_stable: bool,
    /// `RNF`: a failback may be needed.
    pub failback_needed: bool,
    pub t_local: Option<Millis>,
    pub failback_at: Option<Millis>,
    /// Halves whose start failed here and that should go to the peer.
    pub give_away: Halves,
    pub give_away_at: Option<Millis>,
    /// Why, for the log line of the hand-over (empty: a start failure).
    pub give_away_reason: String,
    /// Retry a failed acquisition while the peer is dead.
    pub retry_at: Option<Millis>,
    /// The delay before that retry: doubles with each failure while alone, from the deadtime
    /// to [`RETRY_CAP`]; forgotten on a successful start or a membership change.
    pub retry_delay: Option<Millis>,
    /// We heard a `resource` message from this incarnation of the peer.
    pub heard_peer: bool,
    /// Seq of the last `resource` message applied (older ones are stale).
    pub last_peer_seq: Option<u64>,
    pub orphan_since: Option<Millis>,
    pub initial_done_logged: bool,
    pub shutting_down: bool,
    /// A takeover (mach_down) is running.
    pub taking_over: bool,
    /// The peer's incarnation announced `shutdone`: nothing can be handed to it until it
    /// comes back as a new incarnation.
    pub peer_shut_down: bool,
}

impl Resources {
    pub fn new() -> Self {
        Resources {
            r: RState::Init,
            held: Halves::NONE,
            peer_held: Halves::NONE,
            peer_stable: false,
            failback_needed: false,
            t_local: None,
            failback_at: None,
            give_away: Halves::NONE,
            give_away_at: None,
            give_away_reason: String::new(),
            retry_at: None,
            retry_delay: None,
            heard_peer: false,
            last_peer_seq: None,
            orphan_since: None,
            initial_done_logged: false,
            shutting_down: false,
            peer_shut_down: false,
            taking_over: false,
        }
    }
}

impl Core {
    pub(super) fn legacy(&self) -> bool {
        self.config.ha.auto_failback == AutoFailback::Legacy
    }

    /// Group indexes of a set of halves (our terms), in file order.
    pub(super) fn groups_of(&self, set: Halves) -> Vec<usize> {
        self.config
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                let local = g.owner == self.config.local;
                (local && set.contains(Halves::LOCAL)) || (!local && set.contains(Halves::FOREIGN))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Sends `t=resource rsc_hold=<I> rtype=full isstable=<0|1> [info=..]`.
    pub(super) fn send_resource(&mut self, stable: bool, info: Option<&str>) {
        self.transmit(builders::resource(self.rsc.held.hold(), stable, info));
    }

    fn peer_available(&self) -> bool {
        self.mem.comm == Comm::Up && self.mem.peer_alive() && !self.rsc.peer_shut_down
    }

    /// Communication is up: start the resource protocol (rule 1), or legacy acquisition.
    pub(super) fn rsc_comm_up(&mut self) {
        if self.legacy() {
            self.legacy_comm_up();
            return;
        }
        if self.mem.peer_alive() {
            self.rsc.r = RState::Starting;
            self.transmit(builders::starting());
        } else {
            self.rsc.r = RState::Stable;
            self.takeover_everything();
        }
    }

    /// The peer was declared dead (rule 6).
    pub(super) fn rsc_peer_dead(&mut self) {
        self.rsc.forget_peer_seq();
        // A membership change: a start that failed before deserves a prompt new try.
        self.rsc.retry_delay = None;
        if self.mem.comm != Comm::Up || self.rsc.shutting_down {
            return;
        }
        self.standby_cancel("peer is dead");
        if self.legacy() {
            self.legacy_takeover_all();
            return;
        }
        self.rsc.failback_needed = true;
        if self.rsc.r != RState::Shutdown {
            self.rsc.r = RState::Stable;
        }
        let peer = self.config.peer.clone();
        if self.rsc.heard_peer && self.rsc.peer_held.is_empty() {
            self.log(
                Severity::Info,
                format!("Dead node {peer} gave up resources."),
            );
            self.send_stonith("unneeded");
            self.rsc.peer_stable = true;
            if self.rsc.held != Halves::ALL {
                self.acquire_missing();
            }
        } else {
            self.takeover_everything();
        }
    }

    /// Takes whatever is not ours yet: through fencing when a device is configured
    /// (crate::core::fencing), else at once.
    fn takeover_everything(&mut self) {
        self.fence_then(super::fencing::AfterFence::Takeover);
    }

    /// The takeover itself; `unfenced`: warn, as the original does, that nothing fenced the peer.
    pub(super) fn takeover_unconditionally(&mut self, unfenced: bool) {
        if unfenced {
            self.send_stonith("n_stnth");
            self.log(Severity::Warn, "No STONITH device configured.".to_string());
            self.log(
                Severity::Warn,
                "Shared disks are not protected.".to_string(),
            );
        }
        self.rsc.peer_held = Halves::NONE;
        self.rsc.peer_stable = true;
        self.acquire_missing();
    }

    /// Foreign takeover and forced local acquisition of every half we lack.
    pub(super) fn acquire_missing(&mut self) {
        if !self.ping_guard_allows_takeover() {
            return;
        }
        let missing = Halves::ALL.minus(self.rsc.held);
        if missing.contains(Halves::FOREIGN) {
            self.log(
                Severity::Info,
                format!("Resources being acquired from {}.", self.config.peer),
            );
            self.rsc.held = self.rsc.held.union(Halves::FOREIGN);
            self.rsc.taking_over = true;
            let groups = self.groups_of(Halves::FOREIGN);
            self.runner
                .enqueue(Op::Start, groups, Purpose::TakeoverForeign);
        }
        if missing.contains(Halves::LOCAL) {
            self.acquire_local(true);
        }
    }

    pub(super) fn send_stonith_result(&mut self, result: &str) {
        self.send_stonith(result);
    }

    fn send_stonith(&mut self, result: &str) {
        let m = builders::stonith(&self.config.peer, result);
        self.transmit(m);
    }

    /// `req_our_resources` (spec §6.4): skipped unless forced when the half is already held
    /// by someone.
    pub(super) fn acquire_local(&mut self, forced: bool) {
        let someone_holds = self
            .rsc
            .held
            .union(self.rsc.peer_held)
            .contains(Halves::LOCAL);
        if someone_holds && !forced {
            self.log(
                Severity::Info,
                "Local Resource acquisition completed. (none)".to_string(),
            );
            self.check_initial_done("status");
            return;
        }
        if self.runner.has(Purpose::AcquireLocal) {
            return;
        }
        self.rsc.held = self.rsc.held.union(Halves::LOCAL);
        let groups = self.groups_of(Halves::LOCAL);
        if groups.is_empty() {
            self.log(
                Severity::Info,
                format!("No local resources [{}] to acquire.", self.config.local),
            );
        }
        self.runner
            .enqueue(Op::Start, groups, Purpose::AcquireLocal);
    }

    fn check_initial_done(&mut self, reason: &str) {
        if !self.rsc.initial_done_logged && self.rsc.r == RState::Stable && !self.runner.busy() {
            self.rsc.initial_done_logged = true;
            self.log(
                Severity::Info,
                format!("Initial resource acquisition complete ({reason})"),
            );
        }
    }

    /// `starting` from the peer (rule 2).
    pub(super) fn on_peer_starting(&mut self) {
        if self.legacy() || self.rsc.r == RState::Init {
            self.log(
                Severity::Info,
                format!(
                    "Received 'starting' message in state {:?}: ignored",
                    self.rsc.r
                ),
            );
            return;
        }
        let was_stable = self.rsc.r == RState::Stable;
        if self.rsc.r == RState::Starting {
            self.rsc.r = RState::BothStarting;
        }
        // A starting peer holds nothing (it stops everything at start).
        self.rsc.peer_held = Halves::NONE;
        self.rsc.peer_stable = false;
        self.send_resource(was_stable, None);
    }

    /// `resource` from the peer (rule 3), then reconciliation and audits.
    pub(super) fn on_peer_resource(
        &mut self,
        rsc_hold: Option<&str>,
        full: bool,
        isstable: Option<bool>,
        info: Option<&str>,
        seq: u64,
    ) {
        if self.legacy() || self.rsc.r == RState::Init {
            return;
        }
        if self.rsc.last_peer_seq.is_some_and(|s| seq < s) {
            // Retransmitted late: older than what we applied.
            return;
        }
        self.rsc.last_peer_seq = Some(seq);
        self.rsc.heard_peer = true;
        if matches!(self.rsc.r, RState::Starting | RState::BothStarting) {
            self.rsc.r = RState::RscRcvd;
            if self.rsc.t_local.is_none() {
                self.rsc.t_local = Some(self.now.mono + T_LOCAL);
            }
        }
        let word = rsc_hold.unwrap_or("none");
        let theirs = match Halves::from_word(word) {
            Some(h) => h,
            None => {
                self.log(
                    Severity::Error,
                    format!("encode_resources: bad resource type [{word}]"),
                );
                Halves::NONE
            }
        };
        let ours = theirs.mirror();
        if full || ours.is_empty() {
            self.rsc.peer_held = ours;
        } else {
            self.rsc.peer_held = self.rsc.peer_held.union(ours);
        }
        match isstable {
            Some(true) if !self.rsc.peer_stable => {
                self.log(
                    Severity::Info,
                    "remote resource transition completed.".to_string(),
                );
                self.rsc.peer_stable = true;
                let stable = self.rsc.r == RState::Stable;
                self.send_resource(stable, None);
                self.try_failback();
            }
            Some(false) => {
                if self.rsc.peer_stable {
                    let info = info.unwrap_or("");
                    self.log(
                        Severity::Info,
                        format!(
                            "remote resource transition started ({} holds {word}; {info}).",
                            self.config.peer
                        ),
                    );
                }
                self.rsc.peer_stable = false;
            }
            _ => {}
        }
        if !matches!(self.rsc.r, RState::Stable | RState::Shutdown) && self.rsc.peer_stable {
            self.log(
                Severity::Info,
                "remote resource transition completed.".to_string(),
            );
            self.rsc.r = RState::Stable;
            self.acquire_local(false);
            self.send_resource(true, None);
            self.try_failback();
        }
        self.standby_check_report();
        if info == Some(RETURNED) && !self.rsc.shutting_down {
            let stable = self.rsc.r == RState::Stable;
            self.send_resource(stable, None);
        }
        self.reconcile();
    }

    /// Both claim a half: its haresources owner keeps it, the other releases. Evaluated the
    /// same way on both nodes, so exactly one keeps each half; the keeper re-announces.
    fn reconcile(&mut self) {
        if self.rsc.shutting_down || !self.peer_available() {
            return;
        }
        let both = self.rsc.held.inter(self.rsc.peer_held);
        if both.contains(Halves::FOREIGN) && !self.runner.has(Purpose::HealRelease) {
            let peer = self.config.peer.clone();
            self.log(
                Severity::Error,
                "Both machines own foreign resources!".to_string(),
            );
            self.log(
                Severity::Warn,
                format!("Releasing the groups of {peer}: {peer} is their haresources owner and holds them."),
            );
            self.rsc.held = self.rsc.held.minus(Halves::FOREIGN);
            let mut groups = self.groups_of(Halves::FOREIGN);
            groups.reverse();
            self.runner.enqueue(Op::Stop, groups, Purpose::HealRelease);
        }
        if both.contains(Halves::LOCAL) {
            self.log(
                Severity::Error,
                "Both machines own our resources!".to_string(),
            );
            self.log(
                Severity::Info,
                "Keeping our groups (we are their haresources owner) and re-announcing them."
                    .to_string(),
            );
            for g in self.groups_of(Halves::LOCAL) {
                if self.runner.group_up[g] {
                    self.outputs.push_back(Output::Announce { group: g });
                }
            }
            // Answer each conflicting report with our claim so the peer sees it and releases
            // (the peer's release sends no report until done: no ping-pong).
            let stable = self.rsc.r == RState::Stable;
            self.send_resource(stable, None);
        }
    }

    /// The peer we declared dead is back (partition healed, we or it stalled, or it restarted):
    /// tell it what we hold so both sides can reconcile.
    pub(super) fn rsc_peer_returned(&mut self) {
        self.fence_cancel("it is alive again");
        if self.mem.comm != Comm::Up || self.rsc.shutting_down {
            return;
        }
        if self.legacy() {
            self.legacy_heal();
            return;
        }
        // Our status first so the peer heals too, then what we hold with `info=returned`, which
        // our peers answer with their own claim whatever their state (a real 3.0.6 ignores
        // the info word; it restarts itself after a partition anyway). `OS := false` until
        // the peer says it is stable again.
        self.rsc.peer_stable = false;
        self.send_heartbeat();
        let stable = self.rsc.r == RState::Stable;
        self.send_resource(stable, Some(RETURNED));
    }

    /// A new incarnation of the peer: whatever it held is gone with the old one.
    pub(super) fn rsc_peer_restarted(&mut self) {
        self.rsc.peer_held = Halves::NONE;
        self.rsc.peer_stable = false;
        self.rsc.last_peer_seq = None;
        self.rsc.heard_peer = false;
        self.rsc.peer_shut_down = false;
        // Whatever we took from the old incarnation goes back to the new one (the original's
        // mach_down marks this; a failback attempted meanwhile died with the old incarnation).
        if self.config.ha.auto_failback == AutoFailback::On
            && self.rsc.held.contains(Halves::FOREIGN)
        {
            self.rsc.failback_needed = true;
        }
        self.standby_cancel("peer restarted");
        if self.legacy() && self.mem.comm == Comm::Up && !self.rsc.shutting_down {
            self.legacy_peer_restarted();
        }
    }

    /// `shutdone` from the peer (rule 8): it released everything; take over at once.
    pub(super) fn on_peer_shutdone(&mut self) {
        if self.mem.comm != Comm::Up || self.rsc.shutting_down {
            return;
        }
        let peer = self.config.peer.clone();
        self.log(
            Severity::Info,
            format!("Received shutdown notice from '{peer}'."),
        );
        self.standby_cancel("peer is shutting down");
        if self.legacy() {
            self.legacy_takeover_all();
            return;
        }
        self.rsc.peer_stable = true;
        self.rsc.peer_held = Halves::NONE;
        self.rsc.heard_peer = true;
        self.rsc.peer_shut_down = true;
        if self.rsc.r != RState::Shutdown {
            self.rsc.r = RState::Stable;
        }
        self.rsc.failback_needed = true;
        self.acquire_missing();
    }

    /// Auto failback (rule 7): give the peer's groups back once everything is calm.
    pub(super) fn try_failback(&mut self) {
        if self.config.ha.auto_failback != AutoFailback::On
            || !self.rsc.held.contains(Halves::FOREIGN)
            || !self.rsc.failback_needed
            || self.rsc.shutting_down
        {
            self.rsc.failback_at = None;
            return;
        }
        if !self.peer_available() {
            self.rsc.failback_at = None;
            return;
        }
        if !self.standby_idle()
            || !self.rsc.peer_stable
            || self.rsc.r != RState::Stable
            || self.runner.busy()
        {
            self.rsc.failback_at = Some(self.now.mono + RETRY);
            return;
        }
        self.rsc.failback_needed = false;
        self.rsc.failback_at = None;
        self.log(
            Severity::Info,
            format!(
                "auto_failback: giving the groups of {} back",
                self.config.peer
            ),
        );
        self.send_ask_resources(Halves::FOREIGN, AskPhase::Me);
    }

    /// Resource timers: `T_local`, failback retries, hand-over after a start failure, retry
    /// while alone, and the audit for groups nobody holds.
    pub(super) fn resource_timers(&mut self) {
        let now = self.now.mono;
        if self.rsc.r == RState::RscRcvd && self.rsc.t_local.is_some_and(|t| now >= t) {
            self.rsc.r = RState::Stable;
            self.acquire_local(false);
            self.log(
                Severity::Info,
                "local resource transition completed.".to_string(),
            );
            self.send_resource(true, None);
            self.try_failback();
        }
        if self.rsc.failback_at.is_some_and(|t| now >= t) {
            self.try_failback();
        }
        if self.rsc.give_away_at.is_some_and(|t| now >= t) {
            self.try_give_away();
        }
        if self.rsc.retry_at.is_some_and(|t| now >= t) {
            self.rsc.retry_at = None;
            if self.legacy() && self.peer_available() && !self.rsc.shutting_down {
                self.legacy_retry();
            } else if !self.peer_available() && self.mem.comm == Comm::Up && !self.rsc.shutting_down
            {
                self.log(
                    Severity::Info,
                    "Retrying the acquisition of resources nobody holds.".to_string(),
                );
                if self.legacy() {
                    self.legacy_takeover_all();
                } else {
                    self.acquire_missing();
                }
            }
        }
        self.audit(now);
    }

    /// Our own groups held by nobody for a while, everything calm: take them.
    fn audit(&mut self, now: Millis) {
        let calm = !self.legacy()
            && self.peer_available()
            && self.rsc.r == RState::Stable
            && self.rsc.peer_stable
            && self.standby_idle()
            && !self.runner.busy()
            && !self.rsc.shutting_down
            && self.rsc.give_away.is_empty()
            && self.failed_here_in(Halves::LOCAL).is_none()
            && !self.groups_of(Halves::LOCAL).is_empty();
        let orphan = !self
            .rsc
            .held
            .union(self.rsc.peer_held)
            .contains(Halves::LOCAL);
        if !(calm && orphan) {
            self.rsc.orphan_since = None;
            return;
        }
        let since = *self.rsc.orphan_since.get_or_insert(now);
        if now >= since + ORPHAN_GRACE {
            self.rsc.orphan_since = None;
            self.log(
                Severity::Error,
                "No one owns our local resources!".to_string(),
            );
            self.acquire_local(false);
        }
    }

    /// After a failed start: hand the half to the live peer through the standby protocol.
    fn try_give_away(&mut self) {
        let set = self.rsc.give_away;
        self.rsc.give_away_at = None;
        if set.is_empty() || self.rsc.shutting_down {
            self.rsc.give_away = Halves::NONE;
            return;
        }
        if !self.peer_available() {
            self.rsc.give_away = Halves::NONE;
            self.schedule_start_retry();
            return;
        }
        if !self.standby_idle()
            || !self.rsc.peer_stable
            || self.rsc.r != RState::Stable
            || self.runner.busy()
        {
            self.rsc.give_away_at = Some(self.now.mono + RETRY);
            return;
        }
        self.rsc.give_away = Halves::NONE;
        let why = std::mem::take(&mut self.rsc.give_away_reason);
        let why = if why.is_empty() {
            "after a start failure".to_string()
        } else {
            format!("({why})")
        };
        self.log(
            Severity::Warn,
            format!("Handing [{}] to {} {why}.", set.word(), self.config.peer),
        );
        self.send_ask_resources(set, AskPhase::Me);
    }

    /// Hands `set` to the live peer as soon as both sides are calm, saying why.
    pub(super) fn give_away_for(&mut self, set: Halves, why: String) {
        self.rsc.give_away = self.rsc.give_away.union(set);
        self.rsc.give_away_reason = why;
        self.rsc.give_away_at = Some(self.now.mono);
    }

    /// Earliest resource timer.
    pub(super) fn resource_timer_table(&self, t: &mut super::timers::TimerTable) {
        use super::timers::Timer;
        t.arm(Timer::Failback, self.rsc.failback_at);
        t.arm(Timer::GiveAway, self.rsc.give_away_at);
        t.arm(Timer::Retry, self.rsc.retry_at);
        t.arm(
            Timer::Orphan,
            self.rsc.orphan_since.map(|s| s + ORPHAN_GRACE),
        );
        if self.rsc.r == RState::RscRcvd {
            t.arm(Timer::LocalSettle, self.rsc.t_local);
        }
    }

    /// A transfer ended.
    pub(super) fn on_transfer_finished(&mut self, f: Finished) {
        match f {
            Finished::Ok(p) => self.transfer_ok(p),
            Finished::Failed { purpose, group } => self.transfer_failed(purpose, group),
        }
    }

    fn transfer_ok(&mut self, p: Purpose) {
        if matches!(
            p,
            Purpose::AcquireLocal
                | Purpose::TakeoverForeign
                | Purpose::StandbyAcquire(_)
                | Purpose::LegacyTake(_)
        ) {
            self.rsc.retry_delay = None;
        }
        match p {
            Purpose::InitialStop => {
                self.log(
                    Severity::Info,
                    "Start-up stop of every resource group done.".to_string(),
                );
            }
            Purpose::AcquireLocal => {
                self.log(
                    Severity::Info,
                    "Local Resource acquisition completed.".to_string(),
                );
                if !self.legacy() && !self.rsc.shutting_down {
                    let stable = self.rsc.r == RState::Stable;
                    self.send_resource(stable, Some("req_our_resources()"));
                }
                self.check_initial_done("T_RESOURCES(us)");
            }
            Purpose::TakeoverForeign => {
                self.rsc.taking_over = false;
                self.log(
                    Severity::Info,
                    format!("mach_down takeover complete for node {}.", self.config.peer),
                );
                if !self.legacy() && !self.rsc.shutting_down {
                    // The incarnation we took over from is gone for good, hence "stable"; but
                    // a new one that started meanwhile is still in its start-up (a failback
                    // asked of it now is ignored): wait for its own `resource` report.
                    if self.rsc.peer_shut_down || !self.mem.peer_alive() {
                        self.rsc.peer_stable = true;
                    }
                    self.send_resource(true, Some("mach_down"));
                    self.try_failback();
                }
                self.check_initial_done("mach_down");
            }
            Purpose::StandbyRelease(set) => self.standby_release_done(set),
            Purpose::StandbyAcquire(set) => self.standby_acquire_done(set, true),
            Purpose::Shutdown => self.shutdown_release_done(),
            Purpose::HealRelease => {
                if !self.rsc.shutting_down {
                    self.send_resource(true, None);
                }
            }
            Purpose::LegacyTake(_) => {}
            Purpose::LegacyRelease(g) => self.legacy_release_done(g),
            Purpose::RecoverStop(_) | Purpose::RecoverStart(_) | Purpose::MonitorStop(_) => {
                self.monitor_transfer_done(p, true)
            }
        }
    }

    fn transfer_failed(&mut self, p: Purpose, group: usize) {
        let line = self
            .config
            .groups
            .get(group)
            .map(super::groups::group_line)
            .unwrap_or_default();
        self.log(
            Severity::Crit,
            format!("Resource group could not be started: {line}"),
        );
        let half = self.half_of(group);
        if p == Purpose::TakeoverForeign {
            self.rsc.taking_over = false;
        }
        if self.rsc.shutting_down {
            return;
        }
        if let Purpose::RecoverStart(_) = p {
            self.monitor_transfer_done(p, false);
            return;
        }
        if self.legacy() {
            self.legacy_start_failed(group);
            return;
        }
        self.rsc.held = self.rsc.held.minus(half);
        if let Purpose::StandbyAcquire(set) = p {
            self.standby_acquire_done(set, false);
        } else {
            let stable = self.rsc.r == RState::Stable;
            self.send_resource(stable, None);
        }
        self.monitor_start_failed(group);
        if self.peer_available() {
            self.rsc.retry_delay = None;
            self.rsc.give_away = self.rsc.give_away.union(half);
            self.rsc.give_away_at = Some(self.now.mono + RETRY);
        } else {
            self.schedule_start_retry();
        }
    }

    /// A start failed and no peer can take the group: try again later, waiting twice as long
    /// each time (a start that keeps failing must not run its scripts every deadtime forever).
    pub(super) fn schedule_start_retry(&mut self) {
        let first = self.config.ha.deadtime.max(1);
        let delay = match self.rsc.retry_delay {
            None => first,
            Some(d) => d.saturating_mul(2).min(RETRY_CAP.max(first)),
        };
        self.rsc.retry_delay = Some(delay);
        self.rsc.retry_at = Some(self.now.mono + delay);
        self.log(
            Severity::Warn,
            format!(
                "No peer to take over after a start failure: retrying in {}.{:03} s",
                delay / 1000,
                delay % 1000
            ),
        );
    }

    /// `rscstatus` for cl_status (spec §6.7).
    pub(super) fn rscstatus(&self) -> &'static str {
        let stable = self.rsc.peer_stable || !self.mem.peer_alive();
        let calm = matches!(self.rsc.r, RState::Stable | RState::Shutdown | RState::Init)
            && !self.runner.busy()
            && self.standby_idle()
            && !self.rsc.taking_over;
        if self.legacy() {
            if self.runner.busy() {
                return "transition";
            }
        } else if !(stable && calm) {
            return "transition";
        }
        let mut h = Halves::NONE;
        for (i, up) in self.runner.group_up.iter().enumerate() {
            if *up {
                h = h.union(self.half_of(i));
            }
        }
        if self.legacy() {
            h.word()
        } else {
            self.rsc.held.word()
        }
    }
}

impl Resources {
    fn forget_peer_seq(&mut self) {
        self.last_peer_seq = None;
    }
}

impl Default for Resources {
    fn default() -> Self {
        Self::new()
    }
}
