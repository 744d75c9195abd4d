//! A deterministic two-node simulation for the core: a clock that jumps to the next event, one
//! simulated network per medium (seeded loss, delay, duplication, reordering, cuts), and
//! simulated resource scripts (durations, failures, hangs). Shared by the `sim_*` tests.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use heartbeat::config::{
    AuthKey, AuthKeys, AuthMethod, AutoFailback, Config, HaCf, Medium, Millis, MsgFmt, PingGroup,
    Resource, ResourceGroup,
};
use heartbeat::core::{
    ActionId, AdminCommand, AdminReply, ClientId, Core, Identity, Input, MediumId, Now, Output,
    ScriptOp, ScriptOutcome, Severity,
};

pub const NODES: [&str; 2] = ["alpha", "beta"];

/// splitmix64: small, seeded, good enough for fault schedules.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo + 1)
        }
    }
}

/// Timers and policy of a test cluster.
#[derive(Debug, Clone)]
pub struct Params {
    pub keepalive: Millis,
    pub deadtime: Millis,
    pub warntime: Millis,
    pub initdead: Millis,
    pub auto_failback: AutoFailback,
    pub media: usize,
    /// (owner index, resource names)
    pub groups: Vec<(usize, Vec<String>)>,
    pub resource_timeout: Millis,
    /// `ping` hosts, `ping_group`s (name, members), `ipfail`, `ipfail_holddown` and `deadping`
    /// (None: deadtime), the same on both nodes.
    pub ping_nodes: Vec<String>,
    pub ping_groups: Vec<(String, Vec<String>)>,
    pub ipfail: bool,
    pub ipfail_holddown: Millis,
    pub deadping: Option<Millis>,
    /// `monitor` lines: (target, `key=value …`), the same on both nodes.
    pub monitors: Vec<(String, String)>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            keepalive: 1000,
            deadtime: 10_000,
            warntime: 5000,
            initdead: 20_000,
            auto_failback: AutoFailback::On,
            media: 1,
            groups: vec![
                (0, vec!["192.0.2.10".to_string(), "httpd".to_string()]),
                (1, vec!["192.0.2.20".to_string(), "mysql".to_string()]),
            ],
            resource_timeout: 5000,
            ping_nodes: Vec::new(),
            ping_groups: Vec::new(),
            ipfail: false,
            ipfail_holddown: 0,
            deadping: None,
            monitors: Vec::new(),
        }
    }
}

/// The configuration of node `me` for these parameters.
pub fn config(p: &Params, me: usize) -> Config {
    let media = (0..p.media)
        .map(|i| Medium::Ucast {
            iface: format!("eth{i}"),
            peer: "192.0.2.1".to_string(),
        })
        .collect();
    let mut keys = BTreeMap::new();
    keys.insert(
        1,
        AuthKey {
            method: AuthMethod::Sha1,
            secret: b"simsecret".to_vec(),
        },
    );
    let groups: Vec<ResourceGroup> = p
        .groups
        .iter()
        .enumerate()
        .map(|(line, (owner, rs))| ResourceGroup {
            owner: NODES[*owner].to_string(),
            resources: rs
                .iter()
                .map(|r| {
                    let (name, text) = if r.starts_with(|c: char| c.is_ascii_digit()) {
                        ("IPaddr".to_string(), format!("IPaddr::{r}"))
                    } else {
                        (r.clone(), r.clone())
                    };
                    Resource {
                        name,
                        args: Vec::new(),
                        text,
                    }
                })
                .collect(),
            line: line + 1,
        })
        .collect();
    let mut monitoring = heartbeat::config::Monitoring::default();
    for (target, settings) in &p.monitors {
        let words: Vec<&str> = settings.split_whitespace().collect();
        monitoring
            .lines
            .push(heartbeat::config::monitoring::MonitorLine {
                target: target.clone(),
                settings: heartbeat::config::monitoring::parse_settings(&words)
                    .expect("valid monitor settings"),
                line: 1,
            });
    }
    let problems = heartbeat::config::monitoring::resolve(&mut monitoring, &groups);
    assert!(problems.is_empty(), "{problems:?}");
    Config {
        ha_dir: "/etc/ha.d".into(),
        ha: HaCf {
            keepalive: p.keepalive,
            deadtime: p.deadtime,
            warntime: p.warntime,
            initdead: p.initdead,
            deadping: p.deadping.unwrap_or(p.deadtime),
            udpport: 694,
            media,
            nodes: NODES.iter().map(|s| s.to_string()).collect(),
            ping_nodes: p.ping_nodes.clone(),
            ping_groups: p
                .ping_groups
                .iter()
                .map(|(name, hosts)| PingGroup {
                    name: name.clone(),
                    hosts: hosts.clone(),
                })
                .collect(),
            auto_failback: p.auto_failback,
            logfile: None,
            debugfile: None,
            logfacility: None,
            realtime: false,
            debug: 0,
            msgfmt: MsgFmt::Classic,
            baud: 19200,
            max_rexmit_delay: 250,
            hopfudge: 1,
            respawn: Vec::new(),
            notify: Vec::new(),
            metrics: None,
            fencing: Default::default(),
            monitoring,
            ipfail: p.ipfail,
            ipfail_holddown: p.ipfail_holddown,
            resource_timeout: p.resource_timeout,
            crash_guard: true,
            vip: Default::default(),
            directives: Vec::new(),
        },
        keys: AuthKeys {
            send_index: 1,
            keys,
        },
        groups,
        local: NODES[me].to_string(),
        peer: NODES[1 - me].to_string(),
    }
}

/// Network behaviour of one medium.
#[derive(Debug, Clone)]
pub struct Net {
    pub loss: f64,
    pub dup: f64,
    pub delay: (Millis, Millis),
    /// Cut: nothing passes.
    pub down: bool,
    /// One-way cut: nothing reaches node `i` when `blocked_to[i]`.
    pub blocked_to: [bool; 2],
    /// Extra delay for `ask_resources info=done` sent by node `i` (the reordering Heartbeat
    /// 3.0.6 shows: its `done` often goes out after the `resource` message that follows it).
    pub delay_done_from: [Millis; 2],
}

impl Default for Net {
    fn default() -> Self {
        Net {
            loss: 0.0,
            dup: 0.0,
            delay: (1, 5),
            down: false,
            blocked_to: [false; 2],
            delay_done_from: [0; 2],
        }
    }
}

#[derive(Debug)]
struct Packet {
    at: Millis,
    order: u64,
    to: usize,
    medium: usize,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct PendingScript {
    at: Millis,
    id: ActionId,
    outcome: ScriptOutcome,
    /// (group, resource, running afterwards)
    effect: Option<(usize, usize, bool)>,
}

/// One simulated machine.
/// An `rc.d` hook request: (time, message type, fields).
pub type HookRun = (Millis, String, Vec<(String, String)>);

pub struct Node {
    pub core: Option<Core>,
    pub generation: u64,
    /// Machine state: which resources run (survives a daemon stop, not a machine crash).
    pub running: Vec<Vec<bool>>,
    scripts: Vec<PendingScript>,
    pub frozen_until: Option<Millis>,
    frozen_inbox: Vec<Input>,
    pub logs: Vec<(Millis, Severity, String)>,
    pub replies: Vec<(Millis, ClientId, AdminReply)>,
    pub announces: Vec<(Millis, usize)>,
    /// `rc.d` hook requests: (time, message type, fields).
    pub hooks: Vec<HookRun>,
    pub script_runs: Vec<(Millis, usize, usize, ScriptOp)>,
    pub ready_at: Option<Millis>,
    pub stopped_at: Option<Millis>,
    /// When this node last transmitted anything (its last heartbeat, for timing checks).
    pub last_tx: Option<Millis>,
    /// One-shot script faults: the next start of (group, resource) fails / hangs.
    pub fail_start: BTreeSet<(usize, usize)>,
    pub hang_start: BTreeSet<(usize, usize)>,
    /// Lasting fault: every start of (group, resource) fails until removed.
    pub always_fail_start: BTreeSet<(usize, usize)>,
    /// Lasting fault: every status check of (group, resource) hangs (times out).
    pub hang_status: BTreeSet<(usize, usize)>,
    /// Lasting: status checks of (group, resource) answer this whatever runs.
    pub status_says: BTreeMap<(usize, usize), ScriptOutcome>,
    /// Monitor checks run: (time, group, resource).
    pub checks: Vec<(Millis, usize, usize)>,
}

impl Node {
    fn new(groups: &[(usize, Vec<String>)]) -> Self {
        Node {
            core: None,
            generation: 1000,
            running: groups.iter().map(|(_, r)| vec![false; r.len()]).collect(),
            scripts: Vec::new(),
            frozen_until: None,
            frozen_inbox: Vec::new(),
            logs: Vec::new(),
            replies: Vec::new(),
            announces: Vec::new(),
            hooks: Vec::new(),
            script_runs: Vec::new(),
            ready_at: None,
            stopped_at: None,
            last_tx: None,
            fail_start: BTreeSet::new(),
            hang_start: BTreeSet::new(),
            always_fail_start: BTreeSet::new(),
            hang_status: BTreeSet::new(),
            status_says: BTreeMap::new(),
            checks: Vec::new(),
        }
    }

    /// Every resource of the group runs here.
    pub fn holds(&self, g: usize) -> bool {
        self.running[g].iter().all(|r| *r)
    }

    /// Some resource of the group runs here.
    pub fn touches(&self, g: usize) -> bool {
        self.running[g].iter().any(|r| *r)
    }

    pub fn alive(&self) -> bool {
        self.core.is_some()
    }

    pub fn log_contains(&self, text: &str) -> bool {
        self.logs.iter().any(|(_, _, l)| l.contains(text))
    }

    pub fn first_log(&self, text: &str) -> Option<Millis> {
        self.logs
            .iter()
            .find(|(_, _, l)| l.contains(text))
            .map(|(t, _, _)| *t)
    }

    pub fn core(&self) -> &Core {
        self.core.as_ref().expect("node is running")
    }
}

/// Double ownership bookkeeping for the invariant.
#[derive(Debug, Default, Clone, Copy)]
struct Conflict {
    since: Option<Millis>,
    /// Began during a fault (or just after, while its consequences play out).
    excused: bool,
    reported: bool,
}

/// The whole simulated cluster.
pub struct Sim {
    pub now: Millis,
    pub params: Params,
    pub nodes: [Node; 2],
    pub net: Vec<Net>,
    packets: Vec<Packet>,
    order: u64,
    pub rng: Rng,
    pub start_ms: Millis,
    pub stop_ms: Millis,
    next_client: u64,
    /// When the last fault (partition, stall, single-medium cut) ended.
    pub fault_end: Millis,
    /// A single-medium cluster whose medium is cut: a partition for the invariant.
    pub link_fault: bool,
    conflicts: Vec<Conflict>,
    pub check_invariant: bool,
    pub violations: Vec<String>,
    pub trace: bool,
    /// Ping hosts that answer node `i` (its uplink); an echo comes back 2 ms after it is sent.
    pub ping_reach: [BTreeSet<String>; 2],
    ping_replies: Vec<(Millis, usize, String)>,
    /// Adjusts node `i`'s configuration at start (one node differing from the other).
    pub config_hook: Option<fn(usize, &mut Config)>,
    /// When set, every datagram a node transmits is recorded here as (sender, bytes): an
    /// attacker's capture, for replay tests.
    pub tap: Option<Vec<(usize, Vec<u8>)>>,
    /// Rewrites every message node `i` transmits (then signed again), to play a peer that
    /// words its messages differently (e.g. an older version without some field).
    pub rewrite_tx: Option<fn(usize, &mut heartbeat::wire::Message)>,
    /// When node `i` last sent echo requests.
    pub last_ping_sent: [Option<Millis>; 2],
    /// Whether node `i`'s fence device works; a working fence crashes its target.
    pub fence_works: [bool; 2],
    /// How long a fence takes.
    pub fence_ms: Millis,
    /// Fences asked for: (time, by node, target).
    pub fences: Vec<(Millis, usize, String)>,
    /// Device checks asked for: (time, by node).
    pub fence_checks: Vec<(Millis, usize)>,
    fence_done: Vec<(Millis, usize, ActionId)>,
    /// Device checks answered then with `fence_works` (no one is reset by a check).
    fence_check_done: Vec<(Millis, usize, ActionId)>,
}

impl Sim {
    pub fn new(params: Params, seed: u64) -> Self {
        let net = (0..params.media).map(|_| Net::default()).collect();
        let groups = params.groups.clone();
        Sim {
            now: 0,
            nodes: [Node::new(&groups), Node::new(&groups)],
            conflicts: vec![Conflict::default(); groups.len()],
            params,
            net,
            packets: Vec::new(),
            order: 0,
            rng: Rng::new(seed),
            start_ms: 200,
            stop_ms: 100,
            next_client: 1,
            fault_end: 0,
            link_fault: false,
            check_invariant: true,
            violations: Vec::new(),
            trace: false,
            ping_reach: [BTreeSet::new(), BTreeSet::new()],
            ping_replies: Vec::new(),
            config_hook: None,
            tap: None,
            rewrite_tx: None,
            last_ping_sent: [None; 2],
            fence_works: [true; 2],
            fence_ms: 500,
            fences: Vec::new(),
            fence_checks: Vec::new(),
            fence_done: Vec::new(),
            fence_check_done: Vec::new(),
        }
    }

    fn now_struct(&self) -> Now {
        Now {
            mono: self.now,
            unix_secs: 1_780_000_000 + self.now / 1000,
        }
    }

    /// Starts (or restarts) the daemon on node `i` with a new generation.
    pub fn start(&mut self, i: usize) {
        let mut cfg = config(&self.params, i);
        if let Some(hook) = self.config_hook {
            hook(i, &mut cfg);
        }
        let now = self.now_struct();
        let n = &mut self.nodes[i];
        n.generation += 1;
        n.ready_at = None;
        n.stopped_at = None;
        n.frozen_until = None;
        n.frozen_inbox.clear();
        let id = Identity {
            uuid: [i as u8 + 1; 16],
            generation: n.generation,
        };
        n.core = Some(Core::new(cfg, id, now));
        self.drain(i);
    }

    /// The machine crashes: daemon and resources gone at once.
    pub fn kill(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.core = None;
        n.scripts.clear();
        n.frozen_until = None;
        n.frozen_inbox.clear();
        for g in n.running.iter_mut() {
            for r in g.iter_mut() {
                *r = false;
            }
        }
        self.packets.retain(|p| p.to != i);
    }

    pub fn shutdown(&mut self, i: usize) {
        self.feed(i, Input::Shutdown);
    }

    /// Freezes the daemon of node `i` (SIGSTOP) for `ms`.
    pub fn freeze(&mut self, i: usize, ms: Millis) {
        if self.nodes[i].alive() {
            self.nodes[i].frozen_until = Some(self.now + ms);
        }
    }

    /// Cuts (or restores) every medium.
    pub fn partition(&mut self, cut: bool) {
        for m in &mut self.net {
            m.down = cut;
        }
    }

    /// Marks a fault whose effects end at `fault_end` (a stall known in advance).
    pub fn excuse(&mut self, fault_end: Millis) {
        self.fault_end = self.fault_end.max(fault_end);
    }

    /// A partition or a stall is in progress: double ownership is expected.
    fn fault_active(&self) -> bool {
        let cut_to = |i: usize| self.net.iter().all(|m| m.down || m.blocked_to[i]);
        self.link_fault
            || cut_to(0)
            || cut_to(1)
            || self.nodes.iter().any(|n| n.frozen_until.is_some())
    }

    /// How long after a fault a double ownership it caused may begin (takeovers already
    /// decided finish their scripts) and by when it must be resolved.
    fn grace(&self) -> (Millis, Millis) {
        let p = &self.params;
        let scripts = 10 * (self.start_ms + self.stop_ms);
        (2 * p.keepalive + scripts, 4 * p.keepalive + scripts + 2000)
    }

    pub fn admin(&mut self, i: usize, command: AdminCommand) -> ClientId {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        self.feed(i, Input::Admin { client, command });
        client
    }

    pub fn reply(&self, i: usize, client: ClientId) -> Option<&AdminReply> {
        self.nodes[i]
            .replies
            .iter()
            .find(|(_, c, _)| *c == client)
            .map(|(_, _, r)| r)
    }

    /// Feeds an input to node `i` now (queued if it is frozen).
    pub fn feed(&mut self, i: usize, input: Input) {
        if self.nodes[i].frozen_until.is_some() {
            self.nodes[i].frozen_inbox.push(input);
            return;
        }
        let now = self.now_struct();
        if let Some(core) = self.nodes[i].core.as_mut() {
            core.handle(now, input);
            self.drain(i);
        }
    }

    fn drain(&mut self, i: usize) {
        loop {
            let Some(core) = self.nodes[i].core.as_mut() else {
                return;
            };
            let Some(out) = core.poll_output() else {
                return;
            };
            self.output(i, out);
        }
    }

    fn output(&mut self, i: usize, out: Output) {
        let now = self.now;
        match out {
            Output::Transmit { medium, bytes } => {
                self.nodes[i].last_tx = Some(now);
                let bytes = match self.rewrite_tx {
                    Some(rewrite) => self.rewritten(i, rewrite, bytes),
                    None => bytes,
                };
                if let Some(tap) = self.tap.as_mut() {
                    tap.push((i, bytes.clone()));
                }
                let media: Vec<usize> = match medium {
                    Some(MediumId(m)) => vec![m],
                    None => (0..self.net.len()).collect(),
                };
                for m in media {
                    self.send(i, m, &bytes);
                }
            }
            Output::SendPing { host } => {
                self.last_ping_sent[i] = Some(now);
                if self.ping_reach[i].contains(&host) {
                    self.ping_replies.push((now + 2, i, host));
                }
            }
            Output::RunScript {
                id,
                group,
                resource,
                op,
            } => self.run_script(i, id, group, resource, op),
            Output::Check {
                id,
                group,
                resource,
                timeout,
            } => self.run_check(i, id, group, resource, timeout),
            Output::Announce { group } => self.nodes[i].announces.push((now, group)),
            Output::Log { severity, text } => {
                if self.trace {
                    eprintln!("{now:>8} {} {severity:?}: {text}", NODES[i]);
                }
                self.nodes[i].logs.push((now, severity, text));
            }
            Output::Reply { client, reply } => self.nodes[i].replies.push((now, client, reply)),
            Output::Ready => self.nodes[i].ready_at = Some(now),
            Output::Hook { msg_type, fields } => self.nodes[i].hooks.push((now, msg_type, fields)),
            Output::FenceCheck { id } => {
                self.fence_checks.push((now, i));
                self.fence_check_done.push((now + 100, i, id));
            }
            Output::Fence { id, node } => {
                self.fences.push((now, i, node));
                self.fence_done.push((now + self.fence_ms, i, id));
            }
            Output::Stopped => {
                self.nodes[i].stopped_at = Some(now);
                self.nodes[i].core = None;
                self.nodes[i].scripts.clear();
            }
        }
    }

    /// `bytes` decoded, rewritten and signed again with node `i`'s keys (unchanged if that
    /// fails).
    fn rewritten(
        &self,
        i: usize,
        rewrite: fn(usize, &mut heartbeat::wire::Message),
        bytes: Vec<u8>,
    ) -> Vec<u8> {
        let keys = config(&self.params, i).keys;
        let Ok(mut msg) = heartbeat::wire::decode_verified(&bytes, &keys) else {
            return bytes;
        };
        rewrite(i, &mut msg);
        heartbeat::wire::encode(&msg, &keys, MsgFmt::Classic).unwrap_or(bytes)
    }

    fn send(&mut self, from: usize, m: usize, bytes: &[u8]) {
        let to = 1 - from;
        let net = self.net[m].clone();
        if net.down || net.blocked_to[to] || self.rng.chance(net.loss) {
            return;
        }
        let copies = if self.rng.chance(net.dup) { 2 } else { 1 };
        let is_done = |b: &[u8]| {
            let has = |pat: &[u8]| b.windows(pat.len()).any(|w| w == pat);
            has(b"t=ask_resources") && has(b"info=done")
        };
        let extra = if net.delay_done_from[from] > 0 && is_done(bytes) {
            net.delay_done_from[from]
        } else {
            0
        };
        for _ in 0..copies {
            let at = self.now + extra + self.rng.range(net.delay.0, net.delay.1);
            self.order += 1;
            self.packets.push(Packet {
                at,
                order: self.order,
                to,
                medium: m,
                bytes: bytes.to_vec(),
            });
        }
    }

    fn run_script(&mut self, i: usize, id: ActionId, g: usize, r: usize, op: ScriptOp) {
        let now = self.now;
        let n = &mut self.nodes[i];
        n.script_runs.push((now, g, r, op));
        let timeout = self.params.resource_timeout;
        let (at, outcome, effect) = match op {
            ScriptOp::Start => {
                if n.hang_start.remove(&(g, r)) {
                    (now + timeout, ScriptOutcome::TimedOut, None)
                } else if n.fail_start.remove(&(g, r)) || n.always_fail_start.contains(&(g, r)) {
                    (now + self.start_ms, ScriptOutcome::Failed(1), None)
                } else {
                    (now + self.start_ms, ScriptOutcome::Ok, Some((g, r, true)))
                }
            }
            ScriptOp::Stop => (now + self.stop_ms, ScriptOutcome::Ok, Some((g, r, false))),
            ScriptOp::Status => {
                let o = if n.running[g][r] {
                    ScriptOutcome::Ok
                } else {
                    ScriptOutcome::NotRunning
                };
                (now + 10, o, None)
            }
        };
        n.scripts.push(PendingScript {
            at,
            id,
            outcome,
            effect,
        });
    }

    /// A monitor check: answers from what runs, unless a fault says otherwise.
    fn run_check(&mut self, i: usize, id: ActionId, g: usize, r: usize, timeout: Millis) {
        let now = self.now;
        let n = &mut self.nodes[i];
        n.checks.push((now, g, r));
        let (at, outcome) = if n.hang_status.contains(&(g, r)) {
            (now + timeout, ScriptOutcome::TimedOut)
        } else if let Some(o) = n.status_says.get(&(g, r)) {
            (now + 10, *o)
        } else if n.running[g][r] {
            (now + 10, ScriptOutcome::Ok)
        } else {
            (now + 10, ScriptOutcome::NotRunning)
        };
        n.scripts.push(PendingScript {
            at,
            id,
            outcome,
            effect: None,
        });
    }

    /// The time of the next event, if any.
    fn next_event(&self) -> Option<Millis> {
        let mut t: Option<Millis> = None;
        let mut consider = |x: Millis| t = Some(t.map_or(x, |y| y.min(x)));
        for p in &self.packets {
            consider(p.at);
        }
        for (at, _, _) in &self.ping_replies {
            consider(*at);
        }
        for (at, _, _) in &self.fence_check_done {
            consider(*at);
        }
        for (at, _, _) in &self.fence_done {
            consider(*at);
        }
        for n in &self.nodes {
            if let Some(f) = n.frozen_until {
                consider(f);
                continue;
            }
            for s in &n.scripts {
                consider(s.at);
            }
            if let Some(c) = &n.core {
                let d = c.next_deadline();
                if d != Millis::MAX {
                    consider(d.max(self.now));
                }
            }
        }
        t
    }

    /// Advances to the next event (not beyond `limit`) and processes everything due then.
    fn step(&mut self, limit: Millis) -> bool {
        let Some(t) = self.next_event() else {
            self.now = limit;
            return false;
        };
        if t > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(t);
        let now = self.now;
        for i in 0..2 {
            if self.nodes[i].frozen_until.is_some_and(|f| f <= now) {
                self.nodes[i].frozen_until = None;
                let inbox = std::mem::take(&mut self.nodes[i].frozen_inbox);
                // The shell wakes: its timer fired and its sockets are readable.
                self.feed(i, Input::Tick);
                for input in inbox {
                    self.feed(i, input);
                }
            }
        }
        // Packets due, in arrival order.
        let mut due: Vec<Packet> = Vec::new();
        let mut rest = Vec::new();
        for p in std::mem::take(&mut self.packets) {
            if p.at <= now {
                due.push(p);
            } else {
                rest.push(p);
            }
        }
        self.packets = rest;
        due.sort_by_key(|p| (p.at, p.order));
        for p in due {
            self.feed(
                p.to,
                Input::Datagram {
                    medium: MediumId(p.medium),
                    bytes: p.bytes,
                },
            );
        }
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ping_replies)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.ping_replies = rest;
        for (_, i, host) in due {
            self.feed(i, Input::PingReply { host });
        }
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fence_check_done)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.fence_check_done = rest;
        for (_, i, id) in due {
            if self.nodes[i].core.is_some() {
                let ok = self.fence_works[i];
                self.feed(i, Input::FenceDone { id, ok });
            }
        }
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fence_done)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.fence_done = rest;
        for (_, i, id) in due {
            if self.nodes[i].core.is_none() {
                continue; // the fencer itself went down meanwhile
            }
            let ok = self.fence_works[i];
            if ok {
                // Reset: the target's machine goes down at once, its resources with it.
                self.kill(1 - i);
            }
            self.feed(i, Input::FenceDone { id, ok });
        }
        for i in 0..2 {
            if self.nodes[i].frozen_until.is_some() {
                continue;
            }
            let mut done = Vec::new();
            self.nodes[i].scripts.retain(|s| {
                if s.at <= now {
                    done.push((s.id, s.outcome, s.effect));
                    false
                } else {
                    true
                }
            });
            for (id, outcome, effect) in done {
                if let Some((g, r, on)) = effect {
                    self.nodes[i].running[g][r] = on;
                }
                self.feed(i, Input::ScriptDone { id, outcome });
            }
            let due = self.nodes[i]
                .core
                .as_ref()
                .is_some_and(|c| c.next_deadline() <= now);
            if due {
                self.feed(i, Input::Tick);
            }
        }
        if self.check_invariant {
            self.check();
        }
        true
    }

    /// Runs the simulation until `until` (absolute ms).
    pub fn run_until(&mut self, until: Millis) {
        let mut guard = 0u64;
        let mut last = self.now;
        while self.step(until) {
            if self.now == last {
                guard += 1;
                if guard >= 100_000 {
                    let d: Vec<Option<Millis>> = self
                        .nodes
                        .iter()
                        .map(|n| n.core.as_ref().map(|c| c.next_deadline()))
                        .collect();
                    panic!(
                        "simulation stuck at {} ms (deadlines {d:?}, frozen {:?})\n--- alpha\n{}\n--- beta\n{}",
                        self.now,
                        self.nodes
                            .iter()
                            .map(|n| n.frozen_until)
                            .collect::<Vec<_>>(),
                        self.logs(0),
                        self.logs(1)
                    );
                }
            } else {
                guard = 0;
                last = self.now;
            }
        }
        self.now = self.now.max(until);
        if self.check_invariant {
            self.check();
        }
    }

    /// Runs for `ms` more.
    pub fn run_for(&mut self, ms: Millis) {
        let until = self.now + ms;
        self.run_until(until);
    }

    /// Runs until `pred` holds or `ms` pass; returns the time it first held.
    pub fn run_until_pred(&mut self, ms: Millis, pred: impl Fn(&Sim) -> bool) -> Option<Millis> {
        let until = self.now + ms;
        loop {
            if pred(self) {
                return Some(self.now);
            }
            if !self.step(until) {
                return pred(self).then_some(self.now);
            }
        }
    }

    /// Outside faults, a group may be held by both nodes for at most one keepalive; a double
    /// ownership caused by a fault must be resolved soon after the fault ends.
    fn check(&mut self) {
        let now = self.now;
        let active = self.fault_active();
        if active {
            self.fault_end = self.fault_end.max(now);
        }
        let (begin_grace, resolve) = self.grace();
        for g in 0..self.params.groups.len() {
            let both = self.nodes.iter().all(|n| n.alive() && n.touches(g));
            let c = &mut self.conflicts[g];
            if !both {
                *c = Conflict::default();
                continue;
            }
            let since = *c.since.get_or_insert(now);
            if active || since <= self.fault_end + begin_grace {
                c.excused = true;
            }
            if active || c.reported {
                continue;
            }
            let limit = if c.excused {
                since.max(self.fault_end) + resolve
            } else {
                since + self.params.keepalive
            };
            if now > limit {
                c.reported = true;
                self.violations.push(format!(
                    "group {g} held by both since {since} (now {now}, last fault ended {}, excused {})",
                    self.fault_end, c.excused
                ));
            }
        }
    }

    /// Who holds group `g` fully (alive nodes only).
    pub fn holders(&self, g: usize) -> Vec<usize> {
        (0..2)
            .filter(|i| self.nodes[*i].alive() && self.nodes[*i].holds(g))
            .collect()
    }

    /// Every group fully held by exactly one live node and not touched by the other.
    pub fn settled_ownership(&self) -> Result<(), String> {
        for g in 0..self.params.groups.len() {
            let holders = self.holders(g);
            let touch: Vec<usize> = (0..2)
                .filter(|i| self.nodes[*i].alive() && self.nodes[*i].touches(g))
                .collect();
            if holders.len() != 1 || touch.len() != 1 {
                return Err(format!(
                    "group {g}: held by {holders:?}, touched by {touch:?} at {}",
                    self.now
                ));
            }
        }
        Ok(())
    }

    pub fn logs(&self, i: usize) -> String {
        self.nodes[i]
            .logs
            .iter()
            .map(|(t, s, l)| format!("{t:>8} {s:?}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Resource names for a group owned by `owner`.
pub fn group(owner: usize, resources: &[&str]) -> (usize, Vec<String>) {
    (owner, resources.iter().map(|s| s.to_string()).collect())
}

pub fn standby(set: heartbeat::core::RscSet) -> AdminCommand {
    AdminCommand::Standby(set)
}
