//! `auto_failback legacy` (spec §6.8): no `starting`/`resource` exchange; each node asks for
//! its own groups with `ip-request`, and the holder releases them and answers
//! `ip-request-resp`.

use super::Core;
use super::groups::{Op, Purpose};
use super::vocab::Severity;
use crate::wire::builders;

impl Core {
    fn group_by_key(&self, key: &str) -> Option<usize> {
        self.config.groups.iter().position(|g| g.key() == key)
    }

    fn own_groups(&self) -> Vec<usize> {
        self.config
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.owner == self.config.local)
            .map(|(i, _)| i)
            .collect()
    }

    pub(super) fn legacy_comm_up(&mut self) {
        if self.mem.peer_alive() {
            self.legacy_request_ours();
        } else {
            self.legacy_takeover_all();
        }
    }

    /// Asks the peer to release each of our groups (it answers, then we take them).
    pub(super) fn legacy_request_ours(&mut self) {
        for g in self.own_groups() {
            let key = self.config.groups[g].key().to_string();
            self.transmit(builders::ip_request(&key));
        }
    }

    /// The peer restarted: whatever we handed it (a group whose start failed here) is lost
    /// with its old incarnation, so ask again for our groups that do not run here.
    pub(super) fn legacy_peer_restarted(&mut self) {
        for g in self.own_groups() {
            if !self.runner.group_up[g] && !self.runner.has(Purpose::LegacyTake(g)) {
                let key = self.config.groups[g].key().to_string();
                self.transmit(builders::ip_request(&key));
            }
        }
    }

    /// A retry after a failed start, the peer now alive: ask for our groups that do not run
    /// here (the peer releases or says it has none, then we start them), and offer the peer's
    /// groups that do not run here to it (it starts them, or re-announces if it runs them).
    pub(super) fn legacy_retry(&mut self) {
        self.legacy_peer_restarted();
        for g in 0..self.config.groups.len() {
            let theirs = self.config.groups[g].owner != self.config.local;
            if theirs && !self.runner.group_up[g] && !self.runner.has(Purpose::LegacyTake(g)) {
                self.send_ip_request_resp(g, false);
            }
        }
    }

    /// After a partition (or our stall) in legacy mode: ask for our groups, and hand the
    /// peer's groups we run back to it (release, then `ip-request-resp`; its hook takes them or,
    /// if it runs them already, keeps them). The owner ends up with each group.
    pub(super) fn legacy_heal(&mut self) {
        self.legacy_request_ours();
        for g in 0..self.config.groups.len() {
            let theirs = self.config.groups[g].owner != self.config.local;
            if theirs && (self.runner.group_up[g] || self.runner.has(Purpose::LegacyTake(g))) {
                self.runner
                    .enqueue(Op::Stop, vec![g], Purpose::LegacyRelease(g));
            }
        }
    }

    /// Alone (peer dead, shut down, or never seen): take every group not held yet.
    pub(super) fn legacy_takeover_all(&mut self) {
        self.fence_then(super::fencing::AfterFence::LegacyTakeover);
    }

    /// Every group, after fencing (or without a device: `unfenced`, with the warnings).
    pub(super) fn legacy_take_everything(&mut self, unfenced: bool) {
        if unfenced {
            self.log(Severity::Warn, "No STONITH device configured.".to_string());
            self.log(
                Severity::Warn,
                "Shared disks are not protected.".to_string(),
            );
        }
        self.log(
            Severity::Info,
            format!("Resources being acquired from {}.", self.config.peer),
        );
        for g in 0..self.config.groups.len() {
            self.legacy_take(g);
        }
    }

    fn legacy_take(&mut self, g: usize) {
        if self.runner.group_up[g] || self.runner.has(Purpose::LegacyTake(g)) {
            return;
        }
        self.runner
            .enqueue(Op::Start, vec![g], Purpose::LegacyTake(g));
    }

    /// `ip-request` from the peer: release the group if we run it, then answer.
    pub(super) fn on_ip_request(&mut self, ipaddr: Option<&str>) {
        if self.rsc.shutting_down {
            return;
        }
        let Some(key) = ipaddr else {
            return;
        };
        let Some(g) = self.group_by_key(key) else {
            self.log(
                Severity::Warn,
                format!("ip-request for unknown group [{key}]"),
            );
            return;
        };
        if self.runner.group_up[g] || self.runner.has(Purpose::LegacyTake(g)) {
            self.runner
                .enqueue(Op::Stop, vec![g], Purpose::LegacyRelease(g));
        } else {
            self.send_ip_request_resp(g, false);
        }
    }

    pub(super) fn legacy_release_done(&mut self, g: usize) {
        if !self.rsc.shutting_down {
            self.send_ip_request_resp(g, true);
        }
    }

    fn send_ip_request_resp(&mut self, g: usize, weown: bool) {
        let key = self.config.groups[g].key().to_string();
        let m = builders::ip_request_resp(&self.config.peer, &key, weown);
        self.transmit(m);
    }

    /// `ip-request-resp` for us: the peer let the group go; take it.
    pub(super) fn on_ip_request_resp(
        &mut self,
        ipaddr: Option<&str>,
        weown: Option<&str>,
        ok: bool,
    ) {
        if self.rsc.shutting_down || !ok {
            return;
        }
        let Some(key) = ipaddr else {
            return;
        };
        let Some(g) = self.group_by_key(key) else {
            return;
        };
        self.log(
            Severity::Info,
            format!(
                "received ip-request-resp {key} OK {}",
                weown.unwrap_or("no")
            ),
        );
        if self.runner.group_up[g] {
            self.outputs
                .push_back(super::vocab::Output::Announce { group: g });
        } else {
            self.legacy_take(g);
        }
    }

    /// A legacy start failed: offer the group to the live peer (its ip-request-resp hook
    /// takes it), or retry later when alone.
    pub(super) fn legacy_start_failed(&mut self, g: usize) {
        if self.mem.peer_alive() {
            self.send_ip_request_resp(g, false);
        } else {
            self.schedule_start_retry();
        }
    }
}
