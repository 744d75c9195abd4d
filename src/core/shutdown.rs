//! Graceful shutdown (spec §12.6, fixed per §13.20 and §13.24): announce it, release every
//! group in reverse file order (each right to left), send `shutdone`, then report `Stopped`.

use super::Core;
use super::groups::{Op, Purpose};
use super::halves::Halves;
use super::membership::Comm;
use super::resources::RState;
use super::vocab::{Output, Severity};
use crate::wire::builders;

/// Where a shutdown stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownPhase {
    Running,
    /// Waiting for the resource action in progress to end.
    Waiting {
        delayed_logged: bool,
    },
    Releasing,
    Done,
}

impl Core {
    pub(super) fn on_shutdown(&mut self) {
        if self.shutdown != ShutdownPhase::Running {
            return;
        }
        self.rsc.shutting_down = true;
        self.log(
            Severity::Info,
            "Heartbeat shutdown in progress.".to_string(),
        );
        self.standby_cancel("heartbeat is shutting down");
        self.rsc.failback_at = None;
        self.rsc.give_away = Halves::NONE;
        self.rsc.give_away_at = None;
        self.rsc.retry_at = None;
        self.runner.cancel_pending();
        self.send_heartbeat();
        self.shutdown = ShutdownPhase::Waiting {
            delayed_logged: false,
        };
    }

    /// Called whenever things settle: starts the release once no script is running.
    pub(super) fn proceed_shutdown(&mut self) {
        let ShutdownPhase::Waiting { delayed_logged } = self.shutdown else {
            return;
        };
        if self.runner.busy() {
            if !delayed_logged {
                self.log(
                    Severity::Warn,
                    "Shutdown delayed until current resource activity finishes.".to_string(),
                );
                self.shutdown = ShutdownPhase::Waiting {
                    delayed_logged: true,
                };
            }
            return;
        }
        self.shutdown = ShutdownPhase::Releasing;
        if !self.legacy() && self.mem.comm == Comm::Up {
            self.rsc.held = Halves::NONE;
            self.rsc.r = RState::Shutdown;
            self.send_resource(false, Some("shutdown"));
        }
        self.rsc.held = Halves::NONE;
        self.log(Severity::Info, "Giving up all HA resources.".to_string());
        let groups: Vec<usize> = (0..self.config.groups.len())
            .rev()
            .filter(|g| self.runner.group_up[*g])
            .collect();
        self.runner.enqueue(Op::Stop, groups, Purpose::Shutdown);
    }

    pub(super) fn shutdown_release_done(&mut self) {
        self.log(Severity::Info, "All HA resources relinquished.".to_string());
        let m = builders::shutdone();
        self.transmit(m);
        self.send_heartbeat();
        self.log(
            Severity::Info,
            format!("{} Heartbeat shutdown complete.", self.config.local),
        );
        self.outputs.push_back(Output::Stopped);
        self.shutdown = ShutdownPhase::Done;
        self.stopped = true;
    }
}
