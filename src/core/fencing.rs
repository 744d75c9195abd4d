//! Fencing before takeover (spec §6.10, §13 item 8): when the peer is declared dead while it
//! may still hold resources, and a fence device is configured, the survivor first has the peer
//! reset and takes over only after that succeeded — retrying with a growing delay, never
//! taking over unfenced. An administrator who checked the peer is down can confirm it
//! (`hb_takeover --fenced NODE`), as `meatclient -c` does. A peer that says goodbye
//! (`shutdone`, also the crash guard's) is not fenced: it released everything itself. A peer
//! that comes back before the fence ran cancels it, and nothing is taken.
//!
//! A fence race on a cut link has one winner: `fence_delay NODE TIME` makes the others wait
//! before shooting NODE, so NODE shoots first.

use super::machine::Core;
use super::timers::{Timer, TimerTable};
use super::vocab::{ActionId, Output, Severity};
use crate::config::Millis;

/// First retry after a failed fence; doubled each time up to [`MAX_RETRY`].
const FIRST_RETRY: Millis = 5_000;
const MAX_RETRY: Millis = 60_000;

/// The periodic check of the fence device (3.0.6 checks its STONITH device hourly): a device
/// that stopped working is found before the failover that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceCheck {
    pub next_at: Option<Millis>,
    pub running: Option<ActionId>,
    /// The last answer (None: not checked yet).
    pub ok: Option<bool>,
}

/// The first check, shortly after start.
const FIRST_CHECK: Millis = 10_000;

/// What runs once the peer is fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFence {
    /// The v1 takeover of everything (§6.7 rule 6).
    Takeover,
    /// `auto_failback legacy`: every group.
    LegacyTakeover,
}

/// Where fencing of the current dead peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FenceState {
    /// Nothing pending.
    #[default]
    Idle,
    /// The fence runs at `at` (after the race delay or a failure).
    Waiting {
        at: Millis,
        then: AfterFence,
        attempt: u32,
    },
    /// The fence command runs as `id`.
    Running {
        id: ActionId,
        then: AfterFence,
        attempt: u32,
    },
    /// The peer was reset (or confirmed down) since it was declared dead.
    Fenced,
}

impl Core {
    /// Takes over through fencing when a device is configured; otherwise at once, with the
    /// original's warnings.
    pub(super) fn fence_then(&mut self, then: AfterFence) {
        if self.config.fence_device().is_none() || self.fence == FenceState::Fenced {
            self.after_fence(then, self.fence != FenceState::Fenced);
            return;
        }
        if !matches!(self.fence, FenceState::Idle) {
            return; // already on its way
        }
        let peer = self.config.peer.clone();
        let delay = self.config.ha.fencing.delay_for(&peer);
        if delay > 0 {
            self.log(
                Severity::Info,
                format!("Fencing {peer} in {delay} ms (fence_delay): the other side shoots first."),
            );
        }
        self.rsc.taking_over = true;
        self.fence = FenceState::Waiting {
            at: self.now.mono + delay,
            then,
            attempt: 0,
        };
        self.fence_due();
    }

    /// Runs a fence whose time has come.
    pub(super) fn fence_due(&mut self) {
        let FenceState::Waiting { at, then, attempt } = self.fence else {
            return;
        };
        if self.now.mono < at {
            return;
        }
        if self.rsc.shutting_down {
            self.fence_cancel("heartbeat is shutting down");
            return;
        }
        let peer = self.config.peer.clone();
        let device = self
            .config
            .fence_device()
            .map(|d| d.name())
            .unwrap_or_default();
        self.log(
            Severity::Info,
            format!("Resetting node {peer} with [{device}]"),
        );
        let id = ActionId(self.next_fence_id);
        self.next_fence_id += 1;
        self.fence = FenceState::Running { id, then, attempt };
        self.outputs.push_back(Output::Fence { id, node: peer });
    }

    /// The fence command finished.
    /// Starts the device check when due (never while a fence runs: the device is busy).
    pub(super) fn fence_check_due(&mut self) {
        let interval = self.config.ha.fencing.check_interval;
        if self.config.fence_device().is_none() || interval == 0 || self.rsc.shutting_down {
            self.fence_check.next_at = None;
            return;
        }
        let now = self.now.mono;
        let next = *self
            .fence_check
            .next_at
            .get_or_insert(now + FIRST_CHECK.min(interval));
        if now < next || self.fence_check.running.is_some() {
            return;
        }
        if matches!(self.fence, FenceState::Running { .. }) {
            self.fence_check.next_at = Some(now + FIRST_RETRY);
            return;
        }
        let id = ActionId(self.next_fence_id);
        self.next_fence_id += 1;
        self.fence_check.running = Some(id);
        self.fence_check.next_at = Some(now + interval);
        self.outputs.push_back(Output::FenceCheck { id });
    }

    /// The answer of a device check; `false` if `id` was no check.
    fn on_fence_check_done(&mut self, id: ActionId, ok: bool) -> bool {
        if self.fence_check.running != Some(id) {
            return false;
        }
        self.fence_check.running = None;
        let device = self
            .config
            .fence_device()
            .map(|d| d.name())
            .unwrap_or_default();
        match (self.fence_check.ok, ok) {
            (_, false) => self.log(
                Severity::Error,
                format!(
                    "STONITH device [{device}] is not working (status check failed): a takeover would wait for it. Check the device and its settings."
                ),
            ),
            (Some(false), true) => self.log(
                Severity::Info,
                format!("STONITH device [{device}] works again."),
            ),
            (_, true) => self.log(
                Severity::Debug,
                format!("STONITH device [{device}] status check passed."),
            ),
        }
        self.fence_check.ok = Some(ok);
        true
    }

    pub(super) fn on_fence_done(&mut self, id: ActionId, ok: bool) {
        if self.on_fence_check_done(id, ok) {
            return;
        }
        let FenceState::Running {
            id: running,
            then,
            attempt,
        } = self.fence
        else {
            self.log(
                Severity::Info,
                format!("fencing result {id:?} no longer awaited (ok: {ok})"),
            );
            return;
        };
        if running != id {
            return;
        }
        let peer = self.config.peer.clone();
        if ok {
            self.log(Severity::Info, format!("node {peer} now reset."));
            self.fence = FenceState::Fenced;
            self.send_stonith_result("OK");
            self.after_fence(then, false);
            return;
        }
        let delay = (FIRST_RETRY << attempt.min(8)).min(MAX_RETRY);
        self.log(Severity::Error, format!("Host {peer} not reset!"));
        self.log(
            Severity::Crit,
            format!(
                "STONITH of {peer} failed.  Retrying in {} s; its resources are NOT taken over until it is fenced or an administrator confirms it is down (hb_takeover --fenced {peer}).",
                delay / 1000
            ),
        );
        self.send_stonith_result("bad");
        self.fence = FenceState::Waiting {
            at: self.now.mono + delay,
            then,
            attempt: attempt + 1,
        };
    }

    /// `hb_takeover --fenced NODE`: the administrator vouches that the peer is down.
    pub(super) fn confirm_fenced(&mut self, node: &str) -> Result<String, String> {
        let peer = self.config.peer.clone();
        if !node.eq_ignore_ascii_case(&peer) {
            return Err(format!("{node} is not the peer ({peer})"));
        }
        let then = match self.fence {
            FenceState::Waiting { then, .. } | FenceState::Running { then, .. } => then,
            FenceState::Fenced => return Ok(format!("{peer} is already fenced")),
            FenceState::Idle => {
                return Err(format!("no fencing of {peer} is pending"));
            }
        };
        self.log(
            Severity::Warn,
            format!("Administrator confirmed that {peer} is down: taking over without fencing."),
        );
        self.fence = FenceState::Fenced;
        self.send_stonith_result("OK");
        self.after_fence(then, false);
        Ok(format!("{peer} confirmed down: taking over"))
    }

    /// The peer is alive again (or said goodbye): a pending fence is dropped; the next death
    /// fences again.
    pub(super) fn fence_cancel(&mut self, why: &str) {
        match self.fence {
            FenceState::Waiting { .. } | FenceState::Running { .. } => {
                self.log(
                    Severity::Warn,
                    format!(
                        "Fencing of {} cancelled: {why}; nothing taken over.",
                        self.config.peer
                    ),
                );
                self.rsc.taking_over = false;
            }
            FenceState::Idle | FenceState::Fenced => {}
        }
        self.fence = FenceState::Idle;
    }

    fn after_fence(&mut self, then: AfterFence, unfenced: bool) {
        self.rsc.taking_over = false;
        match then {
            AfterFence::Takeover => self.takeover_unconditionally(unfenced),
            AfterFence::LegacyTakeover => self.legacy_take_everything(unfenced),
        }
    }

    pub(super) fn fence_timer_table(&self, t: &mut TimerTable) {
        if let FenceState::Waiting { at, .. } = self.fence {
            t.arm(Timer::Fence, Some(at));
        }
        if self.fence_check.running.is_none() {
            t.arm(Timer::Fence, self.fence_check.next_at);
        }
    }

    /// Where fencing stands, for `cl_status` and the tests.
    pub fn fence_state(&self) -> FenceState {
        self.fence
    }
}
