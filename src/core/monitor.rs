//! Resource monitoring (issue 18): the decisions, all of them here and none in the shell.
//!
//! Every monitored resource of a group that is up here is checked every `interval`
//! (`Output::Check`, answered by `Input::ScriptDone`). `fall` failed checks in a row make a
//! failure; then, by severity:
//!
//! * soft (stopped, error, timed out): restart it and everything to its right in the group, at
//!   most `max_restarts` times within `window`; one failure more hands the group's set (v1
//!   moves halves, not single groups) to the peer through the standby protocol, if the peer is
//!   available; with no peer, restart again with a backoff (interval doubling to 5 min);
//! * hard (cannot run on this node): hand over at once;
//! * fatal (cannot run anywhere as configured): stop the group and leave it stopped.
//!
//! A group that exhausted its budget here is marked "failed here" until `failure_timeout`
//! (or `cl_status rscfail --clear`): while marked, this node refuses to take that set from a
//! live peer (failback, hand-over), so two nodes never pass a broken group to and fro. A
//! peer that does not take the group within [`HANDOVER_WAIT`] (it refused or cannot) leaves
//! it stopped here, with one CRIT line saying so.

use std::collections::VecDeque;

use super::Core;
use super::groups::{Op, Purpose, group_line};
use super::halves::Halves;
use super::vocab::{ActionId, Output, ScriptOutcome, Severity};
use crate::config::{Millis, MonitorSpec};

/// Check actions are numbered from here, apart from scripts and fences.
pub const MONITOR_IDS: u64 = 1 << 56;
/// How long a hand-over may take before we conclude the peer will not take the group: the
/// standby request's own timeout plus a margin.
pub const HANDOVER_WAIT: Millis = 15_000;
/// Longest wait between two restarts while no peer can take the group.
pub const BACKOFF_CAP: Millis = 300_000;

/// How bad a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gravity {
    Soft,
    Hard,
    Fatal,
}

/// A check's verdict: `None` when the resource runs.
pub fn verdict(outcome: ScriptOutcome) -> Option<(Gravity, String)> {
    match outcome {
        ScriptOutcome::Ok => None,
        ScriptOutcome::NotRunning => Some((Gravity::Soft, "not running".to_string())),
        ScriptOutcome::Failed(c) => Some((Gravity::Soft, format!("status error, code {c}"))),
        ScriptOutcome::TimedOut => Some((Gravity::Soft, "check timed out".to_string())),
        ScriptOutcome::Hard(c) => {
            Some((Gravity::Hard, format!("cannot run on this node, code {c}")))
        }
        ScriptOutcome::Fatal(c) => Some((
            Gravity::Fatal,
            format!("not configured correctly, code {c}"),
        )),
    }
}

/// What monitoring is doing with a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Checked every interval while it is up here.
    Watching,
    /// A restart in place is queued or running.
    Restarting,
    /// No peer could take it: restart again at this time.
    RestartAt(Millis, usize),
    /// Offered to the peer; if we still hold it at this time, stop it.
    HandingOver(Millis),
    /// Stopped by monitoring (fatal, or nobody would take it); stays stopped until cleared.
    Stopped,
}

/// One monitored resource.
#[derive(Debug, Clone)]
pub struct Check {
    pub spec: MonitorSpec,
    next_at: Option<Millis>,
    inflight: Option<ActionId>,
    /// Failed checks in a row.
    bad: u32,
    /// Good checks in a row since the last recovery.
    good: u32,
    /// After a recovery, until `rise` good checks: one failed check is a failure.
    probation: bool,
    /// Failures (decisions) since start or the last clear.
    pub failures: u64,
    /// (unix seconds, why) of the last failure.
    pub last_failure: Option<(u64, String)>,
}

/// Monitoring state of one group.
#[derive(Debug, Clone)]
pub struct GroupHealth {
    pub health: Health,
    /// Times of the restarts in place within the window.
    restarts: VecDeque<Millis>,
    /// "Failed here" until then (`Millis::MAX`: until cleared).
    pub failed_until: Option<Millis>,
    /// Delay of the next restart while alone.
    backoff: Option<Millis>,
}

/// All monitors of a node.
#[derive(Debug, Clone)]
pub struct Monitors {
    pub checks: Vec<Check>,
    pub groups: Vec<GroupHealth>,
    next_id: u64,
}

impl Monitors {
    pub fn new(specs: &[MonitorSpec], groups: usize) -> Self {
        Monitors {
            checks: specs
                .iter()
                .map(|s| Check {
                    spec: *s,
                    next_at: None,
                    inflight: None,
                    bad: 0,
                    good: 0,
                    probation: false,
                    failures: 0,
                    last_failure: None,
                })
                .collect(),
            groups: vec![
                GroupHealth {
                    health: Health::Watching,
                    restarts: VecDeque::new(),
                    failed_until: None,
                    backoff: None,
                };
                groups
            ],
            next_id: MONITOR_IDS,
        }
    }

    /// Is this group marked "failed here" at `now`?
    pub fn failed_here(&self, group: usize, now: Millis) -> bool {
        self.groups
            .get(group)
            .and_then(|g| g.failed_until)
            .is_some_and(|t| now < t)
    }

    /// Restarts within the window ending at `now`.
    pub fn restarts_in_window(&self, group: usize, window: Millis, now: Millis) -> usize {
        self.groups.get(group).map_or(0, |g| {
            g.restarts
                .iter()
                .filter(|t| now < t.saturating_add(window))
                .count()
        })
    }

    /// New monitor lines after a reload: checks of resources still monitored keep their
    /// counts; group states and marks stay.
    pub fn reconfigure(&mut self, specs: &[MonitorSpec], groups: usize) {
        let mut fresh = Monitors::new(specs, groups);
        for c in &mut fresh.checks {
            if let Some(old) = self
                .checks
                .iter()
                .find(|o| o.spec.group == c.spec.group && o.spec.resource == c.spec.resource)
            {
                c.failures = old.failures;
                c.last_failure = old.last_failure.clone();
            }
        }
        self.checks = fresh.checks;
    }

    fn forget_check(c: &mut Check) {
        c.next_at = None;
        c.inflight = None;
        c.bad = 0;
    }
}

impl Core {
    /// A monitor check result, if the id is one of ours.
    pub(super) fn on_check_done(&mut self, id: ActionId, outcome: ScriptOutcome) -> bool {
        let Some(ci) = self
            .monitors
            .checks
            .iter()
            .position(|c| c.inflight == Some(id))
        else {
            return id.0 >= MONITOR_IDS;
        };
        let now = self.now.mono;
        let spec = self.monitors.checks[ci].spec;
        let text = self.resource_text(spec.group, spec.resource);
        let check = &mut self.monitors.checks[ci];
        check.inflight = None;
        check.next_at = Some(now + spec.params.interval);
        match verdict(outcome) {
            None => {
                check.bad = 0;
                check.good += 1;
                if check.probation && check.good >= spec.params.rise {
                    check.probation = false;
                    self.log(Severity::Info, format!("monitor: {text} is healthy again"));
                }
            }
            Some((gravity, why)) => {
                check.good = 0;
                check.bad += 1;
                let bad = check.bad;
                let failure = gravity > Gravity::Soft || check.probation || bad >= spec.params.fall;
                if failure {
                    check.bad = 0;
                    self.monitor_failure(ci, gravity, why);
                } else {
                    self.log(
                        Severity::Warn,
                        format!(
                            "monitor: {text}: {why} (failed check {bad} of {})",
                            spec.params.fall
                        ),
                    );
                }
            }
        }
        true
    }

    fn resource_text(&self, group: usize, resource: usize) -> String {
        self.config
            .groups
            .get(group)
            .and_then(|g| g.resources.get(resource))
            .map(|r| r.text.clone())
            .unwrap_or_default()
    }

    /// The half (our terms) a group belongs to (an unknown index counts as foreign).
    pub(super) fn half_of(&self, group: usize) -> Halves {
        if self
            .config
            .groups
            .get(group)
            .is_some_and(|g| g.owner == self.config.local)
        {
            Halves::LOCAL
        } else {
            Halves::FOREIGN
        }
    }

    /// A failure of check `ci`: decide restart, hand-over or stop.
    fn monitor_failure(&mut self, ci: usize, gravity: Gravity, why: String) {
        let now = self.now.mono;
        let spec = self.monitors.checks[ci].spec;
        let (g, p) = (spec.group, spec.params);
        let text = self.resource_text(g, spec.resource);
        {
            let c = &mut self.monitors.checks[ci];
            c.failures += 1;
            c.last_failure = Some((self.now.unix_secs, why.clone()));
        }
        let gh = &mut self.monitors.groups[g];
        gh.restarts.retain(|t| now < t.saturating_add(p.window));
        let used = gh.restarts.len() as u32;
        match gravity {
            Gravity::Fatal => {
                self.log(
                    Severity::Crit,
                    format!("monitor: {text}: {why}: it cannot run anywhere as configured"),
                );
                self.mark_failed_here(g, p.failure_timeout);
                self.monitor_stop_group(g, "fatal check result");
            }
            Gravity::Hard => {
                self.log(
                    Severity::Error,
                    format!("monitor: {text}: {why}: no restart here"),
                );
                self.monitor_hand_over(g, &format!("{text}: {why}"));
            }
            Gravity::Soft if used < p.max_restarts => {
                self.log(
                    Severity::Warn,
                    format!(
                        "monitor: {text}: {why}: restarting it and what follows it in its group (restart {} of {} within {} s)",
                        used + 1,
                        p.max_restarts,
                        p.window / 1000
                    ),
                );
                self.monitors.groups[g].restarts.push_back(now);
                self.monitor_restart(g, spec.resource);
            }
            Gravity::Soft => {
                self.log(
                    Severity::Error,
                    format!(
                        "monitor: {text}: {why}: failed again after {used} restarts within {} s",
                        p.window / 1000
                    ),
                );
                self.monitor_hand_over(g, &format!("{text} keeps failing ({why})"));
            }
        }
    }

    fn mark_failed_here(&mut self, g: usize, failure_timeout: Millis) {
        let until = if failure_timeout == 0 {
            Millis::MAX
        } else {
            self.now.mono.saturating_add(failure_timeout)
        };
        self.monitors.groups[g].failed_until = Some(until);
    }

    /// Stops resource `from` and what follows it right to left, then starts them again.
    fn monitor_restart(&mut self, g: usize, from: usize) {
        self.monitors.groups[g].health = Health::Restarting;
        self.stop_checks_of(g);
        self.runner
            .enqueue_from(Op::Stop, vec![g], from, Purpose::RecoverStop(g));
        self.runner
            .enqueue_from(Op::Start, vec![g], from, Purpose::RecoverStart(g));
    }

    /// The budget is spent (or the failure is hard): the group's set goes to the peer if it
    /// can take it; else restart later, waiting longer each time.
    fn monitor_hand_over(&mut self, g: usize, why: &str) {
        let p = self.group_params(g);
        self.mark_failed_here(g, p.failure_timeout);
        let half = self.half_of(g);
        let peer = self.config.peer.clone();
        if self.peer_can_take() {
            self.log(
                Severity::Warn,
                format!("monitor: handing [{}] to {peer}: {why}", half.word()),
            );
            self.monitors.groups[g].health = Health::HandingOver(self.now.mono + HANDOVER_WAIT);
            self.stop_checks_of(g);
            self.give_away_for(half, format!("monitor: {why}"));
            return;
        }
        let first = p.interval.max(1000);
        let gh = &mut self.monitors.groups[g];
        let delay = gh
            .backoff
            .map_or(first, |d| d.saturating_mul(2).min(BACKOFF_CAP.max(first)));
        gh.backoff = Some(delay);
        let resource = self
            .monitors
            .checks
            .iter()
            .filter(|c| c.spec.group == g && c.last_failure.is_some())
            .map(|c| c.spec.resource)
            .min()
            .unwrap_or(0);
        self.monitors.groups[g].health = Health::RestartAt(self.now.mono + delay, resource);
        self.stop_checks_of(g);
        self.log(
            Severity::Warn,
            format!(
                "monitor: {why}; {peer} cannot take it: restarting in {}.{:03} s",
                delay / 1000,
                delay % 1000
            ),
        );
    }

    /// Parameters of a group's first monitor (the group's budget and backoff).
    fn group_params(&self, g: usize) -> crate::config::MonitorParams {
        self.monitors
            .checks
            .iter()
            .find(|c| c.spec.group == g)
            .map(|c| c.spec.params)
            .unwrap_or_default()
    }

    /// The peer is alive, active, stable and not in a standby exchange.
    fn peer_can_take(&self) -> bool {
        use super::membership::Comm;
        use super::vocab::NodeStatus;
        self.mem.comm == Comm::Up
            && self.mem.peer_alive()
            && self.mem.peer.status == NodeStatus::Active
            && !self.rsc.peer_shut_down
            && !self.rsc.shutting_down
    }

    /// Stops the whole group and keeps it stopped (fatal, or nobody would take it).
    fn monitor_stop_group(&mut self, g: usize, why: &str) {
        let line = self
            .config
            .groups
            .get(g)
            .map(group_line)
            .unwrap_or_default();
        self.log(
            Severity::Crit,
            format!(
                "monitor: resource group stopped ({why}): {line}. Fix it, then run cl_status rscfail --clear"
            ),
        );
        self.monitors.groups[g].health = Health::Stopped;
        self.stop_checks_of(g);
        self.runner
            .enqueue(Op::Stop, vec![g], Purpose::MonitorStop(g));
    }

    fn stop_checks_of(&mut self, g: usize) {
        for c in self
            .monitors
            .checks
            .iter_mut()
            .filter(|c| c.spec.group == g)
        {
            Monitors::forget_check(c);
        }
    }

    /// A monitoring transfer ended (`ok`: every script succeeded).
    pub(super) fn monitor_transfer_done(&mut self, p: Purpose, ok: bool) {
        match p {
            Purpose::RecoverStart(g) if ok => {
                self.monitors.groups[g].health = Health::Watching;
                self.monitors.groups[g].backoff = None;
                for c in self
                    .monitors
                    .checks
                    .iter_mut()
                    .filter(|c| c.spec.group == g)
                {
                    c.probation = true;
                    c.good = 0;
                }
                self.log(
                    Severity::Info,
                    format!(
                        "monitor: restarted {}",
                        self.config
                            .groups
                            .get(g)
                            .map(group_line)
                            .unwrap_or_default()
                    ),
                );
            }
            Purpose::RecoverStart(g) => {
                let resource = self
                    .monitors
                    .checks
                    .iter()
                    .find(|c| c.spec.group == g)
                    .map_or(0, |c| c.spec.resource);
                let text = self.resource_text(g, resource);
                self.monitor_hand_over(g, &format!("restart of {text}'s group failed"));
            }
            _ => {}
        }
    }

    /// After every input: forget checks of groups that are not up here, schedule the first
    /// check of groups that came up.
    pub(super) fn monitor_update(&mut self) {
        let now = self.now.mono;
        for g in 0..self.monitors.groups.len() {
            let up = self.runner.group_up.get(g).copied().unwrap_or(false);
            let gh = &mut self.monitors.groups[g];
            if up
                && matches!(gh.health, Health::Stopped | Health::RestartAt(..))
                && !self.runner.busy()
            {
                // Started again by someone else (a takeover, a standby, a clear): watch it.
                gh.health = Health::Watching;
            }
        }
        let busy = self.runner.busy();
        for c in &mut self.monitors.checks {
            let g = c.spec.group;
            let up = self.runner.group_up.get(g).copied().unwrap_or(false);
            let watching = self.monitors.groups[g].health == Health::Watching;
            if !up || !watching {
                Monitors::forget_check(c);
                continue;
            }
            if c.next_at.is_none() && c.inflight.is_none() && !busy {
                c.next_at = Some(now + c.spec.params.interval);
            }
        }
    }

    /// Due checks, restarts and hand-over deadlines.
    pub(super) fn monitor_timers(&mut self) {
        let now = self.now.mono;
        if self.rsc.shutting_down {
            return;
        }
        for g in 0..self.monitors.groups.len() {
            if let Some(t) = self.monitors.groups[g].failed_until
                && now >= t
            {
                self.monitors.groups[g].failed_until = None;
                self.log(
                    Severity::Info,
                    format!(
                        "monitor: failure_timeout passed: {} may run here again",
                        self.config
                            .groups
                            .get(g)
                            .map(group_line)
                            .unwrap_or_default()
                    ),
                );
            }
            match self.monitors.groups[g].health {
                Health::RestartAt(t, from) if now >= t && !self.runner.busy() => {
                    self.monitor_restart(g, from);
                }
                Health::HandingOver(t) if now >= t => {
                    let half = self.half_of(g);
                    let peer = self.config.peer.clone();
                    self.rsc.give_away = self.rsc.give_away.minus(half);
                    if !self.peer_can_take() && self.rsc.held.contains(half) {
                        self.monitor_hand_over(g, "the hand-over was interrupted");
                    } else {
                        self.monitor_stop_group(
                            g,
                            &format!("it failed here and {peer} did not take it"),
                        );
                    }
                }
                _ => {}
            }
        }
        if self.runner.busy() {
            return;
        }
        for ci in 0..self.monitors.checks.len() {
            let c = &self.monitors.checks[ci];
            if c.inflight.is_some() || c.next_at.is_none_or(|t| now < t) {
                continue;
            }
            let id = ActionId(self.monitors.next_id);
            self.monitors.next_id += 1;
            let spec = c.spec;
            let c = &mut self.monitors.checks[ci];
            c.inflight = Some(id);
            c.next_at = None;
            self.outputs.push_back(Output::Check {
                id,
                group: spec.group,
                resource: spec.resource,
                timeout: spec.params.timeout,
            });
        }
    }

    /// The earliest monitoring deadline (only those that can act: a check waits for a calm
    /// runner, and the end of the transfer wakes the core anyway).
    pub(super) fn monitor_timer_table(&self, t: &mut super::timers::TimerTable) {
        use super::timers::Timer;
        let busy = self.runner.busy();
        for c in &self.monitors.checks {
            if !busy && c.inflight.is_none() {
                t.arm(Timer::Monitor, c.next_at);
            }
        }
        for g in &self.monitors.groups {
            match g.health {
                Health::RestartAt(at, _) if !busy => t.arm(Timer::Monitor, Some(at)),
                Health::HandingOver(at) => t.arm(Timer::Monitor, Some(at)),
                _ => {}
            }
            if let Some(until) = g.failed_until
                && until != Millis::MAX
            {
                t.arm(Timer::Monitor, Some(until));
            }
        }
    }

    /// `cl_status rscfail`: every monitored resource.
    pub(super) fn monitor_views(&self) -> Vec<super::vocab::MonitorView> {
        let now = self.now.mono;
        self.monitors
            .checks
            .iter()
            .map(|c| {
                let g = c.spec.group;
                let up = self.runner.group_up.get(g).copied().unwrap_or(false);
                let state = match self.monitors.groups[g].health {
                    Health::Watching if up && c.probation => "recovering",
                    Health::Watching if up => "ok",
                    Health::Watching => "not running here",
                    Health::Restarting => "restarting",
                    Health::RestartAt(..) => "restart pending",
                    Health::HandingOver(_) => "handing over",
                    Health::Stopped => "stopped",
                };
                super::vocab::MonitorView {
                    resource: self.resource_text(g, c.spec.resource),
                    group: g,
                    state: state.to_string(),
                    failures: c.failures,
                    restarts: (
                        self.monitors
                            .restarts_in_window(g, c.spec.params.window, now),
                        c.spec.params.max_restarts,
                    ),
                    last_failure: c.last_failure.clone(),
                    failed_here: self.monitors.failed_here(g, now),
                }
            })
            .collect()
    }

    /// The peer answered our hand-over of `set` (our terms): it takes those groups.
    pub(super) fn monitor_handover_accepted(&mut self, set: Halves) {
        for g in self.groups_of(set) {
            if let Health::HandingOver(_) = self.monitors.groups[g].health {
                self.monitors.groups[g].health = Health::Watching;
            }
        }
    }

    /// A start of a monitored group failed (outside a restart): it is marked "failed here",
    /// and if it goes to the peer, the peer's refusal is noticed.
    pub(super) fn monitor_start_failed(&mut self, g: usize) {
        if !self.monitors.checks.iter().any(|c| c.spec.group == g) {
            return;
        }
        let p = self.group_params(g);
        self.mark_failed_here(g, p.failure_timeout);
        if self.peer_can_take() {
            self.monitors.groups[g].health = Health::HandingOver(self.now.mono + HANDOVER_WAIT);
        }
    }

    /// Would taking this set (our terms) put a group that failed here back on this node?
    /// Returns the first such group's line.
    pub(super) fn failed_here_in(&self, set: Halves) -> Option<String> {
        let now = self.now.mono;
        self.groups_of(set)
            .into_iter()
            .find(|&g| self.monitors.failed_here(g, now))
            .and_then(|g| self.config.groups.get(g).map(group_line))
    }

    /// `cl_status rscfail --clear [RESOURCE]`: forget failures and marks; a group monitoring
    /// stopped is started again if this node holds its set. Returns what was cleared.
    pub(super) fn clear_failures(&mut self, target: Option<&str>) -> Result<String, String> {
        let mut cleared = Vec::new();
        let groups: Vec<usize> = (0..self.config.groups.len())
            .filter(|&g| {
                target.is_none_or(|t| {
                    self.config.groups[g]
                        .resources
                        .iter()
                        .any(|r| r.text == t || r.name == t)
                })
            })
            .collect();
        if groups.is_empty() {
            return Err(format!(
                "no resource '{}' in haresources",
                target.unwrap_or("")
            ));
        }
        for &g in &groups {
            let gh = &mut self.monitors.groups[g];
            gh.failed_until = None;
            gh.restarts.clear();
            gh.backoff = None;
            for c in self
                .monitors
                .checks
                .iter_mut()
                .filter(|c| c.spec.group == g)
            {
                c.failures = 0;
                c.last_failure = None;
                c.probation = false;
            }
            self.runner.clear_failures_of(&self.config.groups[g]);
            if self.monitors.groups[g].health == Health::Stopped {
                self.monitors.groups[g].health = Health::Watching;
                if self.rsc.held.contains(self.half_of(g)) && !self.rsc.shutting_down {
                    self.runner
                        .enqueue(Op::Start, vec![g], Purpose::RecoverStart(g));
                }
            }
            cleared.push(
                self.config
                    .groups
                    .get(g)
                    .map(group_line)
                    .unwrap_or_default(),
            );
        }
        let text = format!("failures cleared: {}", cleared.join("; "));
        self.log(Severity::Info, format!("monitor: {text}"));
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_by_gravity() {
        assert_eq!(verdict(ScriptOutcome::Ok), None);
        for o in [
            ScriptOutcome::NotRunning,
            ScriptOutcome::Failed(1),
            ScriptOutcome::TimedOut,
        ] {
            assert_eq!(verdict(o).map(|v| v.0), Some(Gravity::Soft), "{o:?}");
        }
        assert_eq!(
            verdict(ScriptOutcome::Hard(5)).map(|v| v.0),
            Some(Gravity::Hard)
        );
        assert_eq!(
            verdict(ScriptOutcome::Fatal(6)).map(|v| v.0),
            Some(Gravity::Fatal)
        );
    }

    #[test]
    fn failed_here_marks_expire() {
        let mut m = Monitors::new(&[], 2);
        m.groups[1].failed_until = Some(5000);
        assert!(m.failed_here(1, 4999));
        assert!(!m.failed_here(1, 5000));
        assert!(!m.failed_here(0, 0));
        assert!(!m.failed_here(7, 0));
    }
}
