//! The `Core` state machine: the API the shell and the simulator drive.
//!
//! (Stub of the interface; the cluster logic lands here.)

use std::collections::VecDeque;

use super::vocab::*;
use crate::config::{Config, Millis};

/// Who we are on the wire: persisted by the shell (`hb_uuid`, `hb_generation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uuid: [u8; 16],
    /// This incarnation's generation (already incremented and stored by the shell).
    pub generation: u64,
}

/// The cluster brain of one node.
pub struct Core {
    config: Config,
    #[allow(dead_code)]
    identity: Identity,
    outputs: VecDeque<Output>,
    #[allow(dead_code)]
    loadavg: String,
    next: Millis,
}

impl Core {
    /// A node that has just started (status `init`).
    pub fn new(config: Config, identity: Identity, now: Now) -> Self {
        let next = now.mono + config.ha.keepalive;
        Core {
            config,
            identity,
            outputs: VecDeque::new(),
            loadavg: "n/a".to_string(),
            next,
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Now, input: Input) {
        let _ = input;
        if now.mono >= self.next {
            self.next = now.mono + self.config.ha.keepalive;
        }
    }

    /// The next thing to do, if any. Drain until `None` after every `handle`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle(now, Input::Tick)` at the latest (monotonic ms).
    pub fn next_deadline(&self) -> Millis {
        self.next
    }

    /// The `ld` field: the first line of /proc/loadavg, refreshed by the shell now and then.
    pub fn set_loadavg(&mut self, line: String) {
        self.loadavg = line;
    }

    /// A snapshot for `cl_status`.
    pub fn status_view(&self) -> StatusView {
        StatusView {
            nodes: Vec::new(),
            rscstatus: "none".to_string(),
            held_groups: Vec::new(),
            drops: Vec::new(),
        }
    }

    /// The configuration in force (after reloads).
    pub fn config(&self) -> &Config {
        &self.config
    }
}
