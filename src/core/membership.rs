//! Membership (spec §5.3, §5.4): our own status, the peer's liveness, per-medium links,
//! heartbeat sending, late-heartbeat warnings, initdead, stall awareness and "comm up".

use super::Core;
use super::protocol::PeerRx;
use super::vocab::{NodeStatus, Output, Severity};
use crate::config::Millis;
use crate::wire::builders;

/// How long after start `dt` advertises `deadtime + 2000` (spec §5.3).
const STARTUP_DT_WINDOW: Millis = 5000;
/// How often an unanswered `reqnodes` is repeated (spec §4.7).
const REQNODES_RESEND: Millis = 1000;
/// The largest `dt` we believe from a peer (one day).
const MAX_PEER_DT: Millis = 86_400_000;

/// Our own status (spec §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStatus {
    Init,
    Up,
    Active,
}

impl LocalStatus {
    pub fn word(self) -> &'static str {
        match self {
            LocalStatus::Init => "init",
            LocalStatus::Up => "up",
            LocalStatus::Active => "active",
        }
    }
}

/// Where we are on the way to "communication up" (spec §5.4, §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comm {
    /// Neither heard the peer nor declared it dead yet.
    Waiting,
    /// `reqnodes` sent; waiting for `repnodes`.
    ReqNodes {
        resend_at: Millis,
    },
    Up,
}

/// One (node, medium) link.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    pub up: bool,
    pub last_heard: Option<Millis>,
    /// The newest (generation, seq) heard from the node on this link: only a newer packet
    /// proves the link carries live traffic (a replay of captured packets does not).
    pub newest: Option<(u64, u64)>,
}

impl Link {
    /// Whether a packet numbered (`hg`, `seq`) is fresh for this link; remembers it if so.
    pub fn take_if_fresh(&mut self, hg: u64, seq: u64) -> bool {
        if self.newest.is_some_and(|n| (hg, seq) <= n) {
            return false;
        }
        self.newest = Some((hg, seq));
        true
    }
}

/// Everything we know about the other cluster node.
#[derive(Debug, Clone)]
pub struct Peer {
    pub status: NodeStatus,
    pub uuid: Option<[u8; 16]>,
    /// When its last status was accepted.
    pub last_status_at: Option<Millis>,
    pub last_status_seq: Option<u64>,
    /// The deadtime it advertises (`dt`); ours until it tells.
    pub dt: Millis,
    /// The warntime silence warning was already logged for this silence.
    pub warned: bool,
    pub rx: PeerRx,
    /// It runs flow control (`protocol` present in its status).
    pub protocol: bool,
    pub links: Vec<Link>,
}

/// The membership state of one core.
pub struct Membership {
    pub local_status: LocalStatus,
    pub next_heartbeat: Millis,
    pub comm: Comm,
    pub peer: Peer,
    /// Our own links: up when we hear our own packets (bcast, ucast to ourselves).
    pub own_links: Vec<Link>,
}

impl Membership {
    pub fn new(media: usize, deadtime: Millis, ack_trigger: u64, now: Millis) -> Self {
        Membership {
            local_status: LocalStatus::Init,
            next_heartbeat: now,
            comm: Comm::Waiting,
            peer: Peer {
                status: NodeStatus::Init,
                uuid: None,
                last_status_at: None,
                last_status_seq: None,
                dt: deadtime,
                warned: false,
                rx: PeerRx::new(ack_trigger),
                protocol: true,
                links: vec![Link::default(); media],
            },
            own_links: vec![Link::default(); media],
        }
    }

    /// We heard the peer (any status, `init` included) and have not declared it dead.
    pub fn peer_alive(&self) -> bool {
        self.peer.status != NodeStatus::Dead && self.peer.last_status_at.is_some()
    }
}

impl Core {
    /// The silence after which the peer (and each of its links) is declared dead.
    pub(super) fn peer_dead_threshold(&self) -> Millis {
        if self.mem.comm == Comm::Up {
            self.mem.peer.dt
        } else {
            self.config.ha.initdead.max(self.mem.peer.dt)
        }
    }

    /// When the peer is declared dead unless a status arrives first.
    pub(super) fn peer_deadline(&self) -> Option<Millis> {
        if self.mem.peer.status == NodeStatus::Dead {
            return None;
        }
        let base = self.mem.peer.last_status_at.unwrap_or(self.started_at);
        Some(base + self.peer_dead_threshold())
    }

    fn peer_warn_deadline(&self) -> Option<Millis> {
        let p = &self.mem.peer;
        if p.warned || !self.mem.peer_alive() {
            return None;
        }
        p.last_status_at.map(|t| t + self.config.ha.warntime)
    }

    /// The `dt` we advertise.
    fn advertised_dt(&self) -> Millis {
        let dt = self.config.ha.deadtime;
        if self.now.mono < self.started_at + STARTUP_DT_WINDOW {
            dt + 2000
        } else {
            dt
        }
    }

    /// Sends one `t=status` on every medium.
    pub(super) fn send_heartbeat(&mut self) {
        let mut m = builders::status(self.mem.local_status.word(), self.advertised_dt(), true);
        self.ping_decorate_status(&mut m);
        self.transmit(m);
        self.mem.next_heartbeat = self.now.mono + self.config.ha.keepalive;
    }

    /// Changes our own status, says so, and tells the peer at once.
    pub(super) fn set_local_status(&mut self, st: super::membership::LocalStatus) {
        if self.mem.local_status == st {
            return;
        }
        self.mem.local_status = st;
        self.log(
            Severity::Info,
            format!("Local status now set to: '{}'", st.word()),
        );
        self.send_heartbeat();
    }

    /// Stall awareness: a call long after the previous one means our process was stopped or
    /// starved. Timers are then stale: heartbeat first, and give the peer a fresh deadline.
    pub(super) fn check_stall(&mut self) {
        // Only a gap that could have expired the peer's deadline matters (a healthy peer's
        // last status is at most a keepalive old when we stop): half a deadtime, at least two
        // keepalives. A lower limit would let a chronically slow process re-arm the deadline
        // forever and never see a dead peer.
        let gap = self.now.mono.saturating_sub(self.last_call);
        let limit = (2 * self.config.ha.keepalive).max(self.config.ha.deadtime / 2);
        if gap <= limit || self.stopped {
            return;
        }
        self.log(
            Severity::Warn,
            format!(
                "Process stalled: no run for {gap} ms (keepalive {} ms). Sending a heartbeat and re-arming the peer's deadline before judging it.",
                self.config.ha.keepalive
            ),
        );
        self.send_heartbeat();
        let now = self.now.mono;
        let alive = self.mem.peer_alive();
        let p = &mut self.mem.peer;
        if alive {
            p.last_status_at = Some(now);
            p.warned = false;
        }
        for l in p.links.iter_mut().chain(self.mem.own_links.iter_mut()) {
            if l.up {
                l.last_heard = Some(now);
            }
        }
        if self.mem.peer.last_status_at.is_none() && self.mem.comm != Comm::Up {
            // Still waiting for the first sign of life: extend initdead by the stall.
            self.started_at = self.started_at.saturating_add(gap);
        }
        self.ping.forgive_stall(now);
    }

    /// Fires every membership timer due at `now`.
    pub(super) fn membership_timers(&mut self) {
        let now = self.now.mono;
        if now >= self.mem.next_heartbeat {
            self.send_heartbeat();
            self.send_pings();
        }
        if let Some(at) = self.peer_warn_deadline()
            && now >= at
        {
            self.mem.peer.warned = true;
            let silent = now - self.mem.peer.last_status_at.unwrap_or(now);
            self.log(
                Severity::Warn,
                format!(
                    "Late heartbeat: Node {}: no heartbeat for {silent} ms (warntime {} ms)",
                    self.config.peer, self.config.ha.warntime
                ),
            );
        }
        let threshold = self.peer_dead_threshold();
        for i in 0..self.mem.peer.links.len() {
            let l = self.mem.peer.links[i];
            if l.up && l.last_heard.is_some_and(|t| now >= t + threshold) {
                self.mem.peer.links[i].up = false;
                self.log_link(i, false);
            }
        }
        if let Some(at) = self.peer_deadline()
            && now >= at
        {
            self.declare_peer_dead();
        }
        if let Comm::ReqNodes { resend_at } = self.mem.comm
            && now >= resend_at
        {
            self.send_reqnodes();
        }
    }

    fn log_link(&mut self, medium: usize, up: bool) {
        let name = self.link_name(medium);
        // Several media may share a link name: report only when the named link changes.
        let others_up = self
            .mem
            .peer
            .links
            .iter()
            .enumerate()
            .any(|(i, l)| i != medium && l.up && self.link_name(i) == name);
        if others_up {
            return;
        }
        let word = if up { "up" } else { "dead" };
        self.log(
            Severity::Info,
            format!("Link {}:{name} {word}.", self.config.peer),
        );
        // A link lost while the peer is still heard on another one: redundancy is gone, and
        // the next cut is a split brain unless fencing is configured. Say so loudly.
        let still_heard = self
            .mem
            .peer
            .links
            .iter()
            .enumerate()
            .any(|(i, l)| l.up && self.link_name(i) != name);
        if !up && still_heard && self.mem.peer_alive() {
            self.log(
                Severity::Warn,
                format!(
                    "Heartbeat link {name} to {} lost; {} is still heard on another link: no failover. Repair the link: one more cut and both nodes take the resources unless fencing is configured.",
                    self.config.peer, self.config.peer
                ),
            );
        }
    }

    pub(super) fn link_name(&self, medium: usize) -> String {
        self.config
            .ha
            .media
            .get(medium)
            .map(|m| m.link_name().to_string())
            .unwrap_or_else(|| format!("medium{medium}"))
    }

    /// An authenticated, sequenced packet from the peer on `medium` refreshes that link if it
    /// is newer than anything this link carried before (the same packet over a second medium
    /// is fresh for that medium). Replays and unsequenced `NS_*` messages refresh nothing.
    pub(super) fn refresh_peer_link(&mut self, medium: usize, hg: u64, seq: u64) {
        let now = self.now.mono;
        let Some(l) = self.mem.peer.links.get_mut(medium) else {
            return;
        };
        if !l.take_if_fresh(hg, seq) {
            return;
        }
        l.last_heard = Some(now);
        if !l.up {
            l.up = true;
            self.log_link(medium, true);
        }
    }

    pub(super) fn refresh_own_link(&mut self, medium: usize) {
        let now = self.now.mono;
        if let Some(l) = self.mem.own_links.get_mut(medium) {
            l.last_heard = Some(now);
            l.up = true;
        }
    }

    /// The peer has been silent for longer than its deadtime (or initdead at start).
    fn declare_peer_dead(&mut self) {
        let peer = self.config.peer.clone();
        self.log(Severity::Warn, format!("node {peer}: is dead"));
        self.mem.peer.status = NodeStatus::Dead;
        self.mem.peer.rx.forget_sequence();
        self.ping_peer_dead();
        for i in 0..self.mem.peer.links.len() {
            if self.mem.peer.links[i].up {
                self.mem.peer.links[i].up = false;
                self.log_link(i, false);
            }
        }
        self.rsc_peer_dead();
        self.maybe_comm_up();
    }

    /// An accepted `t=status` from the peer. `healed`: it had been declared dead and comes back
    /// with the same generation (a partition ended).
    pub(super) fn on_peer_status(
        &mut self,
        st: Option<&str>,
        dt: Option<u64>,
        protocol: bool,
        seq: u64,
        healed: bool,
    ) {
        let now = self.now.mono;
        let peer = self.config.peer.clone();
        let new_status = match st {
            Some("init") => NodeStatus::Init,
            Some("up") => NodeStatus::Up,
            Some("active") => NodeStatus::Active,
            Some("dead") => {
                // A dying peer's last words; its shutdone carries the meaning.
                return;
            }
            _ => {
                // Authenticated but meaningless: counted (medium unknown here).
                self.count_drop(
                    crate::core::intake::drops::DropReason::Malformed,
                    usize::MAX,
                    |_| None,
                );
                return;
            }
        };
        if let Some(dt) = dt.filter(|d| *d > 0) {
            // Bounded: a silly value must not make the peer immortal (or overflow a timer).
            self.mem.peer.dt = dt.min(MAX_PEER_DT);
        }
        if !protocol && self.mem.peer.protocol {
            self.mem.peer.protocol = false;
            self.log(
                Severity::Info,
                "flow control disabled due to different version heartbeat".to_string(),
            );
        }
        let was = self.mem.peer.status;
        if let Some(last) = self.mem.peer.last_status_at
            && was != NodeStatus::Dead
        {
            let interval = now - last;
            if interval > self.config.ha.deadtime {
                self.log(
                    Severity::Crit,
                    format!("Late heartbeat: Node {peer}: interval {interval} ms (> deadtime)"),
                );
            } else if interval > self.config.ha.warntime {
                self.log(
                    Severity::Warn,
                    format!("Late heartbeat: Node {peer}: interval {interval} ms"),
                );
            }
        }
        self.mem.peer.last_status_at = Some(now);
        self.mem.peer.last_status_seq = Some(seq);
        self.mem.peer.warned = false;
        if healed {
            self.log(
                Severity::Crit,
                format!("Cluster node {peer} returning after partition."),
            );
            self.log(
                Severity::Info,
                "Reconciling resources without restart: each group stays with its haresources owner if that node holds it.".to_string(),
            );
        }
        if new_status != was {
            self.mem.peer.status = new_status;
            self.log(
                Severity::Info,
                format!(
                    "Status update for node {peer}: status {}",
                    new_status.as_str()
                ),
            );
        }
        // Back from the dead, whatever its generation: it may hold groups we took meanwhile
        // (partition, our stall, or it ran alone while we restarted), so both sides exchange
        // claims and reconcile. Harmless for a peer that just started: it holds nothing.
        if was == NodeStatus::Dead && self.mem.comm == Comm::Up {
            self.rsc_peer_returned();
        }
        self.maybe_comm_up();
    }

    /// A new incarnation of the peer (higher generation on a status).
    pub(super) fn on_peer_restart(&mut self, known_before: bool) {
        self.copies.clear();
        self.ping_peer_dead();
        if known_before {
            self.log(
                Severity::Info,
                format!("Heartbeat restart on node {}", self.config.peer),
            );
        }
        self.mem.peer.last_status_at = None;
        self.mem.peer.last_status_seq = None;
        self.mem.peer.protocol = true;
        if known_before {
            self.rsc_peer_restarted();
        }
    }

    /// Communication comes up once the peer has answered or been declared dead (spec §5.4).
    pub(super) fn maybe_comm_up(&mut self) {
        match self.mem.comm {
            Comm::Up => {}
            Comm::Waiting => {
                if self.mem.peer.status == NodeStatus::Dead {
                    self.comm_now_up();
                } else if self.mem.peer.last_status_at.is_some() {
                    if self.mem.peer.protocol {
                        self.send_reqnodes();
                    } else {
                        self.comm_now_up();
                    }
                }
            }
            Comm::ReqNodes { .. } => {
                if self.mem.peer.status == NodeStatus::Dead {
                    self.comm_now_up();
                }
            }
        }
    }

    fn send_reqnodes(&mut self) {
        self.transmit(builders::reqnodes(&self.config.peer));
        self.mem.comm = Comm::ReqNodes {
            resend_at: self.now.mono + REQNODES_RESEND,
        };
    }

    /// `repnodes` for us: the node list is synchronised, communication is up.
    pub(super) fn on_repnodes(&mut self) {
        if matches!(self.mem.comm, Comm::ReqNodes { .. }) {
            self.comm_now_up();
        }
    }

    /// Answers `reqnodes` with every normal node, ourselves included (spec §4.7), fields in
    /// 3.0.6 order (`dest` first).
    pub(super) fn answer_reqnodes(&mut self) {
        let nodes: Vec<String> = self.config.ha.nodes.clone();
        let m = crate::wire::builders::repnodes(
            &self.config.peer,
            nodes.iter().map(String::as_str),
            std::iter::empty(),
        );
        self.transmit(m);
    }

    fn comm_now_up(&mut self) {
        self.mem.comm = Comm::Up;
        self.log(
            Severity::Info,
            "Comm_now_up(): updating status to active".to_string(),
        );
        self.set_local_status(LocalStatus::Active);
        self.outputs.push_back(Output::Ready);
        self.rsc_comm_up();
    }

    /// The next membership timer.
    pub(super) fn membership_timer_table(&self, t: &mut super::timers::TimerTable) {
        use super::timers::Timer;
        t.arm(Timer::Heartbeat, Some(self.mem.next_heartbeat));
        t.arm(Timer::PeerDead, self.peer_deadline());
        t.arm(Timer::PeerWarn, self.peer_warn_deadline());
        let threshold = self.peer_dead_threshold();
        for l in &self.mem.peer.links {
            if l.up {
                t.arm(Timer::LinkDead, l.last_heard.map(|h| h + threshold));
            }
        }
        if let Comm::ReqNodes { resend_at } = self.mem.comm {
            t.arm(Timer::ReqNodes, Some(resend_at));
        }
        if self.mem.peer_alive() {
            t.arm(Timer::Rexmit, self.mem.peer.rx.next_request());
        }
        if self.now.mono < self.started_at + STARTUP_DT_WINDOW {
            t.arm(Timer::StartupDt, Some(self.started_at + STARTUP_DT_WINDOW));
        }
    }
}
