//! The `Core` state machine: the API the shell and the simulator drive, and the glue between
//! membership, protocol, resources, standby and group sequencing (each in its own file).

use std::collections::{BTreeMap, VecDeque};

use super::groups::{Op, Purpose, Runner};
use super::membership::{Comm, LocalStatus, Membership};
use super::resources::Resources;
use super::shutdown::ShutdownPhase;
use super::standby::Standby;
use super::vocab::*;
use crate::config::{Config, Millis};
use crate::core::ping::agent::PingAgent;
use crate::wire::Message;
use crate::wire::sender::Sender;

/// Who we are on the wire: persisted by the shell (`hb_uuid`, `hb_generation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uuid: [u8; 16],
    /// This incarnation's generation (already incremented and stored by the shell).
    pub generation: u64,
}

/// Fence actions are numbered from here, apart from the script runs of `groups`.
const FENCE_IDS: u64 = 1 << 48;
/// The cluster brain of one node.
pub struct Core {
    pub(super) config: Config,
    pub(super) identity: Identity,
    pub(super) outputs: VecDeque<Output>,
    pub(super) loadavg: String,
    /// The time of the call being processed.
    pub(super) now: Now,
    pub(super) started_at: Millis,
    /// The time of the previous call (stall detection).
    pub(super) last_call: Millis,
    pub(super) sender: Sender,
    /// When each seq was last retransmitted (requests repeat; do not flood).
    pub(super) rexmit_times: BTreeMap<u64, Millis>,
    pub(super) mem: Membership,
    pub(super) rsc: Resources,
    pub(super) sb: Standby,
    pub(super) runner: Runner,
    /// Our own messages that we process too (the original loops them back).
    /// Our own `ask_resources`, processed after the peer's copy is sent (spec §7.2).
    pub(super) self_msgs: VecDeque<(super::halves::Halves, crate::wire::builders::AskPhase)>,
    /// Dropped datagrams per kind and medium, with rate-limited logging (crate::daemon::guard).
    pub(super) drops: crate::core::intake::DropLedger,
    /// Tells our own loop-back from packets that only claim our name (crate::daemon::guard).
    pub(super) self_echo: crate::core::intake::SelfEcho,
    /// Which media recent seqs of the peer came on (a late copy is no replay).
    pub(super) copies: crate::core::intake::RecentCopies,
    pub(super) shutdown: ShutdownPhase,
    pub(super) stopped: bool,
    /// Fencing of the dead peer before takeover (crate::core::fencing).
    pub(super) fence: super::fencing::FenceState,
    /// The periodic check of the fence device (crate::core::fencing).
    pub(super) fence_check: super::fencing::DeviceCheck,
    pub(super) next_fence_id: u64,
    /// Ping nodes, ipfail and the split-brain guard (`pingnodes.rs`).
    pub(super) ping: PingAgent,
    /// Resource monitoring (crate::core::monitor).
    pub(super) monitors: super::monitor::Monitors,
}

impl Core {
    /// A node that has just started (status `init`): it says so at once, then stops every
    /// group before it may take anything.
    pub fn new(config: Config, identity: Identity, now: Now) -> Self {
        let media = config.ha.media.len();
        let ping = PingAgent::new(&config.ha, now.mono);
        let ack_trigger = u64::from(identity.uuid[0]);
        let groups = config.groups.len();
        let monitors = super::monitor::Monitors::new(&config.ha.monitoring.monitors, groups);
        let mut runner = Runner::new(groups);
        runner.batch_addresses = config.ha.vip.native;
        let mut core = Core {
            mem: Membership::new(media, config.ha.deadtime, ack_trigger, now.mono),
            sender: Sender::new(
                &config.local,
                identity.uuid,
                identity.generation,
                ttl(&config),
                config.ha.msgfmt,
            ),
            rexmit_times: BTreeMap::new(),
            config,
            identity,
            outputs: VecDeque::new(),
            loadavg: "n/a".to_string(),
            now,
            started_at: now.mono,
            last_call: now.mono,
            rsc: Resources::new(),
            sb: Standby::new(),
            runner,
            self_msgs: VecDeque::new(),
            drops: crate::core::intake::DropLedger::new(),
            self_echo: crate::core::intake::SelfEcho::new(media),
            copies: crate::core::intake::RecentCopies::new(),
            shutdown: ShutdownPhase::Running,
            stopped: false,
            fence: Default::default(),
            fence_check: Default::default(),
            next_fence_id: FENCE_IDS,
            ping,
            monitors,
        };
        core.log(
            Severity::Info,
            format!("Heartbeat generation: {}", core.identity.generation),
        );
        if core.legacy() {
            core.log(
                Severity::Warn,
                "Deprecated 'legacy' auto_failback option selected.".to_string(),
            );
            core.log(
                Severity::Warn,
                "Please convert to 'auto_failback on'.".to_string(),
            );
        }
        core.send_heartbeat();
        core.set_local_status(LocalStatus::Up);
        core.send_heartbeat();
        let all: Vec<usize> = (0..groups).rev().collect();
        if !all.is_empty() {
            core.log(
                Severity::Info,
                "Stopping every resource group before taking any (clean start).".to_string(),
            );
        }
        core.runner.enqueue(Op::Stop, all, Purpose::InitialStop);
        core.settle();
        core.monitor_update();
        core
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Now, input: Input) {
        if self.stopped {
            return;
        }
        // Monotonic time never goes back; ignore a shell that says otherwise.
        let mono = now.mono.max(self.now.mono);
        self.now = Now {
            mono,
            unix_secs: now.unix_secs,
        };
        self.check_stall();
        self.last_call = mono;
        self.fire_timers();
        match input {
            Input::Datagram { medium, bytes } => self.on_datagram(medium.0, &bytes),
            Input::KernelOverflow { medium, dropped } => self.on_kernel_overflow(medium.0, dropped),
            Input::Tick => {}
            Input::PingReply { host } => self.on_ping_reply(&host),
            Input::ScriptDone { id, outcome } => {
                let groups = &self.config.groups;
                if !self
                    .runner
                    .on_script_done(id, outcome, groups, &mut self.outputs)
                    && !self.on_check_done(id, outcome)
                {
                    self.log(Severity::Debug, format!("unexpected script result {id:?}"));
                }
            }
            Input::Admin { client, command } => self.on_admin(client, command),
            Input::Shutdown => self.on_shutdown(),
            Input::Reload(cfg) => self.on_reload(*cfg),
            Input::Inject { fields } => self.on_inject(fields),
            Input::FenceDone { id, ok } => self.on_fence_done(id, ok),
        }
        self.settle();
        if !self.stopped {
            self.ping_evaluate();
            self.settle();
            self.monitor_update();
        }
    }

    fn fire_timers(&mut self) {
        self.fence_due();
        self.fence_check_due();
        self.membership_timers();
        self.ping_timers();
        self.rexmit_requests();
        self.standby_timers();
        self.resource_timers();
        self.monitor_timers();
    }

    /// Processes our own looped-back messages and finished transfers until nothing moves.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some((set, phase)) = self.self_msgs.pop_front() {
                moved = true;
                let local = self.config.local.clone();
                self.on_ask_resources(Some(set.word()), Some(phase.as_str()), Some(&local), true);
            }
            let finished = self.runner.pump(&self.config.groups, &mut self.outputs);
            for f in finished {
                moved = true;
                self.on_transfer_finished(f);
            }
            if !self.runner.busy() {
                let before = self.shutdown;
                self.proceed_shutdown();
                moved |= before != self.shutdown;
            }
            if !moved || self.stopped {
                break;
            }
        }
    }

    fn on_reload(&mut self, mut cfg: Config) {
        if cfg.groups != self.config.groups {
            // The monitors name resources of the new haresources, which waits for a restart.
            cfg.ha.monitoring = self.config.ha.monitoring.clone();
        } else if cfg.ha.monitoring.monitors != self.config.ha.monitoring.monitors {
            self.monitors
                .reconfigure(&cfg.ha.monitoring.monitors, self.config.groups.len());
            self.log(
                Severity::Info,
                format!(
                    "monitoring reconfigured: {} monitored resources",
                    cfg.ha.monitoring.monitors.len()
                ),
            );
        }
        self.runner.batch_addresses = cfg.ha.vip.native;
        if cfg.groups != self.config.groups {
            self.log(
                Severity::Warn,
                "haresources changed: the new groups take effect at the next start".to_string(),
            );
            cfg.groups = self.config.groups.clone();
        }
        if cfg.local != self.config.local || cfg.peer != self.config.peer {
            self.log(
                Severity::Warn,
                "node names changed: they take effect at the next start".to_string(),
            );
            cfg.local = self.config.local.clone();
            cfg.peer = self.config.peer.clone();
        }
        let media = cfg.ha.media.len();
        self.mem.peer.links.resize(media, Default::default());
        self.mem.own_links.resize(media, Default::default());
        let h = &cfg.ha;
        let text = format!(
            "Configuration reloaded: keepalive {} ms, deadtime {} ms, warntime {} ms, initdead {} ms (no resource action)",
            h.keepalive, h.deadtime, h.warntime, h.initdead
        );
        self.ping_reload(&cfg.ha);
        let peer_dt_was_ours = self.mem.peer.dt == self.config.ha.deadtime;
        self.config = cfg;
        self.sender.set_format(self.config.ha.msgfmt);
        if peer_dt_was_ours {
            self.mem.peer.dt = self.config.ha.deadtime;
        }
        self.log(Severity::Info, text);
        self.mem.next_heartbeat = self
            .mem
            .next_heartbeat
            .min(self.now.mono + self.config.ha.keepalive);
    }

    /// The next thing to do, if any. Drain until `None` after every `handle`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle(now, Input::Tick)` at the latest (monotonic ms).
    pub fn next_deadline(&self) -> Millis {
        if self.stopped {
            return Millis::MAX;
        }
        let next = self.timers().next().map_or(Millis::MAX, |(_, at)| at);
        // Every timer due at `now` fired during the last call, so a deadline at or before it
        // is a bug. Tests (debug builds) see it as is, so the simulator catches the spin; a
        // release build re-checks every 250 ms instead of spinning.
        if !cfg!(debug_assertions) && next <= self.now.mono {
            return self.now.mono + 250;
        }
        next
    }

    /// The `ld` field: the first line of /proc/loadavg, refreshed by the shell now and then.
    pub fn set_loadavg(&mut self, line: String) {
        self.loadavg = line;
    }

    /// A snapshot for `cl_status`.
    pub fn status_view(&self) -> StatusView {
        let mut nodes = Vec::new();
        for name in &self.config.ha.nodes {
            let (status, links) = if *name == self.config.local {
                let st = match self.mem.local_status {
                    LocalStatus::Init => NodeStatus::Init,
                    LocalStatus::Up => NodeStatus::Up,
                    LocalStatus::Active => NodeStatus::Active,
                };
                (st, self.link_view(&self.mem.own_links))
            } else {
                (self.mem.peer.status, self.link_view(&self.mem.peer.links))
            };
            nodes.push(NodeView {
                name: name.clone(),
                node_type: NodeType::Normal,
                status,
                links,
            });
        }
        nodes.extend(self.ping.node_views());
        let held_groups = self
            .runner
            .group_up
            .iter()
            .enumerate()
            .filter(|(_, up)| **up)
            .map(|(i, _)| i)
            .collect();
        StatusView {
            nodes,
            rscstatus: self.rscstatus().to_string(),
            held_groups,
            drops: self.drops.counters().by_kind(),
            drops_by_medium: self
                .drops
                .counters()
                .entries()
                .map(|(k, m, c)| (k.to_string(), m.to_string(), c))
                .collect(),
            failures: self
                .runner
                .failures
                .iter()
                .map(|((r, op), n)| (r.clone(), op.to_string(), *n))
                .collect(),
            monitors: self.monitor_views(),
        }
    }

    /// Links by name in media order; a name shared by several media is up if any is.
    fn link_view(&self, links: &[super::membership::Link]) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = Vec::new();
        for (i, l) in links.iter().enumerate() {
            let name = self.link_name(i);
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 |= l.up,
                None => out.push((name, l.up)),
            }
        }
        out
    }

    /// The configuration in force (after reloads).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The highest seq stamped so far: the crash guard numbers our last words after it.
    pub fn last_sent_seq(&self) -> u64 {
        self.sender.last_seq()
    }

    /// Communication with the peer is established (status `active`).
    pub fn comm_up(&self) -> bool {
        self.mem.comm == Comm::Up
    }

    pub(super) fn log(&mut self, severity: Severity, text: String) {
        self.outputs.push_back(Output::Log { severity, text });
    }

    /// Counts a dropped datagram of `medium`; within the rate limit, logs the line `log` builds
    /// from the link name (built only then: a flood costs no formatting). The line must never
    /// carry a key or a digest.
    pub(super) fn count_drop(
        &mut self,
        kind: crate::core::intake::drops::DropReason,
        medium: usize,
        log: impl FnOnce(&str) -> Option<(Severity, String)>,
    ) {
        let link = link_name(&self.config, medium);
        let permit = self.drops.record(kind, link, self.now.mono);
        let line = if permit.allowed() { log(link) } else { None };
        if let Some((severity, text)) = line {
            self.log(severity, format!("{text}{}", permit.suffix()));
        }
    }

    /// Counts datagrams the kernel dropped on `medium` before we could read them.
    fn on_kernel_overflow(&mut self, medium: usize, dropped: u64) {
        if dropped == 0 {
            return;
        }
        let link = link_name(&self.config, medium);
        let kind = crate::core::intake::drops::DropReason::KernelOverflow;
        let permit = self.drops.record_many(kind, link, dropped, self.now.mono);
        if permit.allowed() {
            let text = format!(
                "{link}: the kernel dropped {dropped} datagram(s) before we could read them \
                 (receive queue full)"
            );
            self.log(Severity::Warn, format!("{text}{}", permit.suffix()));
        }
    }

    /// Stamps, encodes and sends a message on every medium.
    pub(super) fn transmit(&mut self, msg: Message) {
        let t = msg.msg_type().unwrap_or("?").to_string();
        let bytes = self.sender.stamp_and_encode(
            msg,
            self.now.unix_secs.max(1),
            &self.loadavg,
            &self.config.keys,
        );
        match bytes {
            Ok(bytes) => self.outputs.push_back(Output::Transmit {
                medium: None,
                bytes,
            }),
            Err(e) => self.log(
                Severity::Error,
                format!("cannot encode a [{t}] message ({e}): not sent"),
            ),
        }
    }
}

/// `ttl`: `hopfudge` + every configured node, ping nodes included (spec §2.1).
pub fn ttl(config: &Config) -> u32 {
    let nodes = config.ha.nodes.len() + config.ha.ping_nodes.len() + config.ha.ping_groups.len();
    u32::from(config.ha.hopfudge) + u32::try_from(nodes).unwrap_or(u32::MAX - 255)
}

/// The link name of `medium` as logs and `cl_status drops` show it ("-" if out of range).
fn link_name(config: &Config, medium: usize) -> &str {
    config
        .ha
        .media
        .get(medium)
        .map(|m| m.link_name())
        .unwrap_or("-")
}
