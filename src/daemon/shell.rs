//! The event loop: one thread, one `mio::Poll`. Sockets, signals, script pipes and control
//! clients become core inputs stamped with [`Now`]; the core's outputs are executed here; the
//! loop sleeps until the earliest of the core's deadline and its own (media retries, script
//! timeouts, client expiry, load average refresh).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::signal::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;

use super::control::{self, ControlServer, DaemonFacts, Incoming, Request};
use super::logging;
use super::media::Media;
use super::ping::Pinger;
use super::scripts::{Exit, ScriptRunner, ScriptSpec};
use crate::config::{Config, Millis};
use crate::core::{
    ActionId, ClientId, Core, Identity, Input, Now, Output, ScriptOp, ScriptOutcome, Severity,
};
use crate::daemon::vip::{Job, VipWorker};
use crate::resource::{Resolver, Runner, ScriptKind};

const SIGNALS: Token = Token(0);
const CONTROL: Token = Token(1);
const PING: Token = Token(2);
const FIFO: Token = Token(3);
/// The address worker has results.
const VIP: Token = Token(4);
/// The metrics listener, and its connections from METRICS_BASE on.
const METRICS: Token = Token(5);
const METRICS_BASE: usize = 50_000;
/// Admin requests that came through the FIFO: their answers are logged.
const FIFO_CLIENT: ClientId = ClientId(u64::MAX);
const MEDIA_BASE: usize = 1_000;
const SCRIPT_BASE: usize = 100_000;
const CLIENT_BASE: usize = 1_000_000;
/// `/proc/loadavg` is re-read this often for the `ld` field.
const LOADAVG_EVERY: Millis = 10_000;
/// Action ids the shell makes up itself (re-announcements): never reported to the core.
const INTERNAL_ACTION: u64 = 1 << 63;

/// Monotonic and wall clocks in the core's units.
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> Now {
        Now {
            mono: self.origin.elapsed().as_millis() as Millis,
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// What the loop needs besides the configuration.
pub struct ShellSetup {
    pub ha_dir: PathBuf,
    pub run_dir: PathBuf,
    pub state_dir: PathBuf,
    pub node: Option<String>,
    pub resolver: Resolver,
    pub identity: Identity,
    pub uuid_text: String,
    /// Copy log lines to stderr (foreground).
    pub log_to_stderr: bool,
    /// Extra debug level from the command line.
    pub extra_debug: u8,
    /// The crash guard, when `crash_guard on`.
    pub guard: Option<super::guard::Guard>,
}

/// A script run in flight, as the core asked for it.
struct PendingRun {
    kind: ScriptKind,
    op: ScriptOp,
    /// The haresources word (for the forced stop of addresses, crate::daemon::guard::stopfail).
    resource: String,
}

/// The running daemon.
pub struct Shell {
    poll: Poll,
    clock: Clock,
    core: Core,
    media: Media,
    pinger: Pinger,
    fifo: Option<super::fifo::Fifo>,
    scripts: ScriptRunner,
    /// `respawn` clients (started at comm up).
    respawn: super::respawn::Supervisor,
    /// Fence commands in flight (crate::daemon::fence).
    fences: std::collections::HashSet<ActionId>,
    /// `notify` scripts and `rc.d` hooks, run one at a time.
    hooks: super::hooks::HookQueue,
    /// The state as last observed, to see what each input changed.
    observed: crate::core::StatusView,
    /// Transitions and change counters (metrics, `cl_status json`).
    history: crate::core::observe::History,
    /// The reason given to notify scripts: the most severe (then first) log line of the core
    /// at info level or above in the current step, else the previous step's.
    reason: String,
    step_reason: Option<(Severity, String)>,
    /// The address worker (`None`: netlink unavailable; then the scripts run and a forced
    /// removal runs `ip` on the loop).
    vip: Option<VipWorker>,
    control: ControlServer,
    /// `metrics IP:PORT`, when configured and bound.
    metrics: Option<super::metrics::MetricsServer>,
    signals: Signals,
    setup: ShellSetup,
    runs: HashMap<ActionId, PendingRun>,
    inputs: VecDeque<Input>,
    next_internal: u64,
    next_loadavg: Millis,
    stopped: bool,
    shutdown_requested: bool,
}

/// Log settings derived from a configuration.
pub fn log_settings(config: &Config, stderr: bool, extra_debug: u8) -> logging::LogSettings {
    logging::LogSettings {
        node: config.local.clone(),
        tag: "heartbeat".to_string(),
        logfile: config.ha.logfile.clone(),
        debugfile: config.ha.debugfile.clone(),
        facility: config.ha.logfacility.clone(),
        stderr,
        debug: config.ha.debug.saturating_add(extra_debug),
    }
}

/// Every ping node and ping group member, as written in ha.cf.
fn ping_hosts(config: &Config) -> Vec<String> {
    let mut hosts = config.ha.ping_nodes.clone();
    for g in &config.ha.ping_groups {
        hosts.extend(g.hosts.iter().cloned());
    }
    hosts
}

fn emit_notes(notes: Vec<(Severity, String)>) {
    for (s, t) in notes {
        logging::emit(s, &t);
    }
}

impl Shell {
    /// Opens sockets and signals and builds the core. Errors are start-up failures.
    pub fn new(config: Config, mut setup: ShellSetup) -> std::io::Result<Shell> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let control = ControlServer::bind(&setup.run_dir, poll.registry(), CONTROL, CLIENT_BASE)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "control socket {}: {e}",
                        control::socket_path(&setup.run_dir).display()
                    ),
                )
            })?;
        let (media, notes) = Media::new(
            &config.ha.media,
            config.ha.udpport,
            config.ha.baud,
            MEDIA_BASE,
        );
        emit_notes(notes);
        let (mut pinger, notes) = Pinger::new(&config, PING);
        emit_notes(notes);
        pinger.register(poll.registry())?;
        let fifo = match super::fifo::Fifo::open(&setup.state_dir, poll.registry(), FIFO) {
            Ok(f) => Some(f),
            Err(e) => {
                log::error!("cannot open the FIFO in {}: {e}", setup.state_dir.display());
                None
            }
        };
        // Always started, even with `native_addresses off`: the forced removal of an address
        // after a failed stop script runs there too, off the loop.
        let waker = Arc::new(Waker::new(poll.registry(), VIP)?);
        let vip = match VipWorker::spawn(config.ha.vip, waker) {
            Ok(w) => Some(w),
            Err(e) => {
                log::error!(
                    "in-process addresses unavailable ({e}): address resources run their scripts"
                );
                None
            }
        };
        let metrics =
            config.ha.metrics.and_then(|addr| {
                match super::metrics::MetricsServer::bind(
                    addr,
                    poll.registry(),
                    METRICS,
                    METRICS_BASE,
                ) {
                    Ok(m) => {
                        log::info!("metrics: serving http://{addr}/metrics");
                        Some(m)
                    }
                    Err(e) => {
                        log::error!("metrics: cannot listen on {addr}: {e}; metrics disabled");
                        None
                    }
                }
            });
        let clock = Clock::new();
        let now = clock.now();
        if let Some(g) = setup.guard.as_mut() {
            g.identify(setup.identity.uuid, setup.identity.generation);
        }
        let respawn = super::respawn::Supervisor::new(
            &config.ha.respawn,
            crate::resource::script_env(&config),
        );
        let core = Core::new(config, setup.identity, now);
        let observed = core.status_view();
        Ok(Shell {
            poll,
            clock,
            core,
            media,
            pinger,
            fifo,
            scripts: ScriptRunner::new(SCRIPT_BASE),
            respawn,
            hooks: super::hooks::HookQueue::default(),
            fences: Default::default(),
            observed,
            history: Default::default(),
            reason: String::new(),
            step_reason: None,
            vip,
            control,
            metrics,
            signals,
            setup,
            runs: HashMap::new(),
            inputs: VecDeque::new(),
            next_internal: INTERNAL_ACTION,
            next_loadavg: 0,
            stopped: false,
            shutdown_requested: false,
        })
    }

    /// Runs until the core reports `Stopped`; returns the exit code.
    pub fn run(&mut self) -> i32 {
        let mut events = Events::with_capacity(64);
        let notes = self
            .media
            .open_due(self.poll.registry(), self.clock.now().mono);
        emit_notes(notes);
        self.drain(self.clock.now());
        while !self.stopped {
            let now = self.clock.now();
            self.timers(now);
            if self.stopped {
                break;
            }
            let timeout = self.sleep_for(self.clock.now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for ev in events.iter() {
                self.dispatch(ev.token());
            }
            // Children may end without a SIGCHLD we have seen yet (coalesced signals).
            if self.scripts.running() > 0 {
                self.reap();
            }
        }
        self.finish_hooks(Duration::from_secs(5));
        self.scripts.kill_all();
        self.respawn.stop_all();
        self.media.close_all(self.poll.registry());
        0
    }

    /// Work due by the clock: core tick, media retries, script timeouts, client expiry.
    fn timers(&mut self, now: Now) {
        if let Some(g) = self.setup.guard.as_mut() {
            g.tick();
        }
        if now.mono >= self.next_loadavg {
            if let Ok(s) = std::fs::read_to_string("/proc/loadavg") {
                self.core
                    .set_loadavg(s.lines().next().unwrap_or("").to_string());
            }
            self.next_loadavg = now.mono + LOADAVG_EVERY;
        }
        let notes = self.media.open_due(self.poll.registry(), now.mono);
        emit_notes(notes);
        let mut notes = Vec::new();
        self.scripts.enforce_timeouts(now.mono, &mut notes);
        emit_notes(notes);
        self.respawn.start_due(now.mono);
        self.control.expire(self.poll.registry(), now.mono);
        if let Some(m) = self.metrics.as_mut() {
            m.expire(self.poll.registry(), now.mono);
        }
        if now.mono >= self.core.next_deadline() {
            self.feed(now, Input::Tick);
        }
    }

    fn sleep_for(&self, now: Now) -> Duration {
        let mut wake = self.core.next_deadline().min(self.next_loadavg);
        for d in [
            self.media.next_retry(),
            self.scripts.next_deadline(),
            self.control.next_deadline(),
            self.respawn.next_deadline(),
            self.metrics.as_ref().and_then(|m| m.next_deadline()),
        ]
        .into_iter()
        .flatten()
        {
            wake = wake.min(d);
        }
        Duration::from_millis(wake.saturating_sub(now.mono))
    }

    fn dispatch(&mut self, token: Token) {
        if token == SIGNALS {
            self.on_signals();
        } else if token == VIP {
            self.on_vip_results();
        } else if token == FIFO {
            let requests = self.fifo.as_mut().map(|f| f.receive()).unwrap_or_default();
            for r in requests {
                match r {
                    super::fifo::FifoRequest::Admin(command) => {
                        log::info!("FIFO: admin request {command:?}");
                        self.feed(
                            self.clock.now(),
                            Input::Admin {
                                client: FIFO_CLIENT,
                                command,
                            },
                        );
                    }
                    super::fifo::FifoRequest::Message(fields) => {
                        self.feed(self.clock.now(), Input::Inject { fields });
                    }
                    super::fifo::FifoRequest::Unsupported(t) => {
                        log::warn!("FIFO: {t}; ignored");
                    }
                }
            }
        } else if token == self.pinger.token() {
            let now = self.clock.now();
            for host in self.pinger.receive() {
                self.feed(now, Input::PingReply { host });
            }
        } else if token == METRICS || self.metrics.as_ref().is_some_and(|m| m.owns(token)) {
            self.on_metrics(token);
        } else if self.control.is_listener(token) {
            self.control
                .accept(self.poll.registry(), self.clock.now().mono);
        } else if self.control.owns(token) {
            if let Some(inc) = self.control.on_event(self.poll.registry(), token) {
                self.on_request(inc);
            }
        } else if self.scripts.owns(token) {
            let mut notes = Vec::new();
            self.scripts
                .on_readable(self.poll.registry(), token, &mut notes);
            emit_notes(notes);
        } else if let Some(i) = self.media.index_of(token) {
            let mut got = Vec::new();
            let kernel_drops = self.media.receive(i, |bytes| got.push(bytes));
            let now = self.clock.now();
            if kernel_drops > 0 {
                self.feed(
                    now,
                    Input::KernelOverflow {
                        medium: crate::core::MediumId(i),
                        dropped: kernel_drops,
                    },
                );
            }
            for bytes in got {
                self.feed(
                    now,
                    Input::Datagram {
                        medium: crate::core::MediumId(i),
                        bytes,
                    },
                );
            }
        }
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGTERM | SIGINT => {
                    if self.shutdown_requested {
                        log::info!("Shutdown already in progress.");
                    } else {
                        self.shutdown_requested = true;
                        let _ = super::notify::notify("STOPPING=1");
                        self.feed(self.clock.now(), Input::Shutdown);
                    }
                }
                SIGHUP => self.reload(),
                SIGUSR1 => {
                    let level = logging::set_debug_level(logging::debug_level().saturating_add(1));
                    log::info!("debug now set to {level} [pid {}]", std::process::id());
                }
                SIGUSR2 => {
                    let level = logging::set_debug_level(logging::debug_level().saturating_sub(1));
                    log::info!("debug now set to {level} [pid {}]", std::process::id());
                }
                SIGCHLD => self.reap(),
                _ => {}
            }
        }
    }

    fn reap(&mut self) {
        let mut notes = Vec::new();
        let done = self.scripts.reap(self.poll.registry(), &mut notes);
        emit_notes(notes);
        let now = self.clock.now();
        self.respawn.reap(now.mono);
        let any = !done.is_empty();
        for f in done {
            let internal = f.id.0 >= INTERNAL_ACTION;
            if self.fences.remove(&f.id) {
                let ok = f.exit == Exit::Code(0);
                if !ok {
                    log::error!("{} failed: {:?}", f.command, f.exit);
                }
                self.feed(now, Input::FenceDone { id: f.id, ok });
                continue;
            }
            if self.hooks.done(f.id) {
                if let Exit::Code(c) = f.exit
                    && c != 0
                {
                    log::warn!("Return code {c} from {}", f.command);
                }
                self.pump_hooks(now);
                continue;
            }
            if let Some(g) = self.setup.guard.as_mut() {
                g.script_done(f.id);
            }
            let run = self.runs.remove(&f.id);
            let outcome = match (&f.exit, &run) {
                (Exit::TimedOut, _) => ScriptOutcome::TimedOut,
                (Exit::SpawnFailed(e), _) => {
                    log::error!("Cannot run {}: {e}", f.command);
                    ScriptOutcome::Failed(127)
                }
                (Exit::Code(c), Some(r)) => {
                    crate::resource::interpret(r.kind, r.op, Some(*c), &f.stdout)
                }
                (Exit::Signal(_), Some(r)) => {
                    crate::resource::interpret(r.kind, r.op, None, &f.stdout)
                }
                (Exit::Code(c), None) => {
                    if *c == 0 {
                        ScriptOutcome::Ok
                    } else {
                        ScriptOutcome::Failed(*c)
                    }
                }
                (Exit::Signal(_), None) => ScriptOutcome::Failed(-1),
            };
            if let Exit::Code(c) = f.exit
                && c != 0
                && run.as_ref().is_none_or(|r| r.op != ScriptOp::Status)
            {
                log::error!("Return code {c} from {}", f.command);
            }
            if let Some(r) = &run
                && r.op == ScriptOp::Stop
                && self.force_stop_off_loop(f.id, &r.resource, outcome)
            {
                continue;
            }
            let outcome = match &run {
                Some(r) if r.op == ScriptOp::Stop => stop_outcome(&r.resource, outcome),
                _ => outcome,
            };
            if internal {
                log::debug!("{} finished: {outcome:?}", f.command);
            } else {
                self.feed(now, Input::ScriptDone { id: f.id, outcome });
            }
        }
        if any && !self.stopped {
            self.update_guard();
        }
    }

    /// Results of the address worker, fed to the core as script results.
    fn on_vip_results(&mut self) {
        let Some(vip) = self.vip.as_ref() else {
            return;
        };
        let done = vip.results();
        if done.is_empty() {
            return;
        }
        let now = self.clock.now();
        for d in done {
            if let Some(g) = self.setup.guard.as_mut() {
                g.script_done(d.id);
            }
            if d.id.0 >= INTERNAL_ACTION {
                log::debug!("in-process address job finished: {:?}", d.outcome);
            } else {
                self.feed(
                    now,
                    Input::ScriptDone {
                        id: d.id,
                        outcome: d.outcome,
                    },
                );
            }
        }
        if !self.stopped {
            self.update_guard();
        }
    }

    /// A stop of an address resource that failed: hands the forced removal of its address
    /// to the address worker (off the loop); the result comes back as the stop's outcome.
    /// `false` when there is nothing to force or no worker (then [`stop_outcome`] runs here).
    fn force_stop_off_loop(
        &mut self,
        id: ActionId,
        resource: &str,
        outcome: ScriptOutcome,
    ) -> bool {
        if matches!(outcome, ScriptOutcome::Ok | ScriptOutcome::NotRunning) {
            return false;
        }
        let (Some(vip), Some(addr)) = (
            self.vip.as_ref(),
            crate::daemon::guard::addr::address_of(resource),
        ) else {
            return false;
        };
        vip.submit(Job::ForceRemove {
            id,
            resource: resource.to_string(),
            addr,
            failed: outcome,
        });
        true
    }

    /// Tells the crash guard which groups to clean up should we die now.
    fn update_guard(&mut self) {
        if let Some(g) = self.setup.guard.as_mut() {
            let held = self.core.status_view().held_groups;
            g.sync(&held, self.core.config());
        }
    }

    /// A scrape: accepted, or read and answered from a fresh snapshot.
    fn on_metrics(&mut self, token: Token) {
        let Some(mut m) = self.metrics.take() else {
            return;
        };
        if m.is_listener(token) {
            m.accept(self.poll.registry(), self.clock.now().mono);
        } else {
            m.on_event(self.poll.registry(), token, || {
                self.with_snapshot(|s| s.to_prometheus())
            });
        }
        self.metrics = Some(m);
    }

    fn facts(&self) -> DaemonFacts {
        DaemonFacts {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uuid: self.setup.uuid_text.clone(),
            generation: self.setup.identity.generation,
            bad_requests: self.control.bad_requests,
        }
    }

    /// Renders what the daemon knows for machines (JSON, Prometheus).
    fn with_snapshot<R>(&self, render: impl FnOnce(&super::report::Snapshot) -> R) -> R {
        let view = self.core.status_view();
        let facts = self.facts();
        let config = self.core.config();
        let groups = config
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let key = g
                    .resources
                    .first()
                    .map(|r| r.text.clone())
                    .unwrap_or_default();
                (key, view.held_groups.contains(&i))
            })
            .collect();
        let snapshot = super::report::Snapshot {
            facts: &facts,
            local: &config.local,
            view: &view,
            groups,
            history: &self.history,
            respawn: self.respawn.views(),
            hooks: (self.hooks.started, self.hooks.dropped),
            uptime_ms: self.clock.now().mono,
        };
        render(&snapshot)
    }

    fn on_request(&mut self, inc: Incoming) {
        let reg = self.poll.registry();
        match inc.request {
            Request::Ping => self.control.respond(reg, inc.client, "OK\n"),
            Request::Json => {
                let text = format!("OK\n{}", self.with_snapshot(|s| s.to_json()));
                self.control
                    .respond(self.poll.registry(), inc.client, &text);
            }
            Request::Status => {
                let facts = self.facts();
                let text =
                    control::render_status(&self.core.status_view(), self.core.config(), &facts);
                self.control.respond(reg, inc.client, &text);
            }
            Request::Param(name) => {
                let text = control::render_param(self.core.config(), &name);
                self.control.respond(reg, inc.client, &text);
            }
            Request::RscFail => {
                let text = control::render_rscfail(&self.core.status_view());
                self.control.respond(reg, inc.client, &text);
            }
            Request::Admin(command) => {
                let now = self.clock.now();
                self.feed(
                    now,
                    Input::Admin {
                        client: inc.client,
                        command,
                    },
                );
            }
        }
    }

    /// SIGHUP: validate the files again; a valid configuration replaces the running one without
    /// touching resources, an invalid one is refused loudly and the old one kept.
    fn reload(&mut self) {
        log::info!("Reloading the configuration (SIGHUP).");
        let loaded = match crate::config::load(&self.setup.ha_dir, self.setup.node.as_deref()) {
            Ok(l) => l,
            Err(errors) => {
                log::error!(
                    "Configuration reload REFUSED: {} error(s); keeping the running configuration.",
                    errors.len()
                );
                for e in &errors {
                    log::error!("{e}");
                }
                return;
            }
        };
        let config = loaded.config;
        if config.local != self.core.config().local {
            log::error!(
                "Configuration reload REFUSED: local node name changed from {} to {}; restart instead.",
                self.core.config().local,
                config.local
            );
            return;
        }
        let missing = self.setup.resolver.check_all(&config);
        if !missing.is_empty() {
            log::error!(
                "Configuration reload REFUSED: {} resource(s) cannot be run; keeping the running configuration.",
                missing.len()
            );
            for e in &missing {
                log::error!("{e}");
            }
            return;
        }
        for w in &loaded.warnings {
            log::warn!("{w}");
        }
        logging::configure(log_settings(
            &config,
            self.setup.log_to_stderr,
            self.setup.extra_debug,
        ));
        let old = self.core.config();
        if old.ha.media != config.ha.media || old.ha.udpport != config.ha.udpport {
            log::info!("Heartbeat media changed: reopening them.");
            self.media.close_all(self.poll.registry());
            let (media, notes) = Media::new(
                &config.ha.media,
                config.ha.udpport,
                config.ha.baud,
                MEDIA_BASE,
            );
            self.media = media;
            emit_notes(notes);
            let notes = self
                .media
                .open_due(self.poll.registry(), self.clock.now().mono);
            emit_notes(notes);
        }
        let running = self.core.config();
        if ping_hosts(&config) != ping_hosts(running)
            || config.keys != running.keys
            || config.ha.msgfmt != running.ha.msgfmt
        {
            self.pinger.deregister(self.poll.registry());
            let (pinger, notes) = Pinger::new(&config, PING);
            self.pinger = pinger;
            emit_notes(notes);
            if let Err(e) = self.pinger.register(self.poll.registry()) {
                log::error!("ping: cannot watch the ICMP socket: {e}");
            }
        }
        self.control.admission = control::Admission::lookup();
        let now = self.clock.now();
        self.feed(now, Input::Reload(Box::new(config)));
        self.update_guard();
        log::info!("Configuration reloaded.");
    }

    /// Feeds one input, then executes outputs (and the inputs they cause) until quiet.
    fn feed(&mut self, now: Now, input: Input) {
        self.inputs.push_back(input);
        self.drain(now);
    }

    fn drain(&mut self, now: Now) {
        // Bounded: a core that keeps producing is a bug, not a reason to stop heartbeating.
        for _ in 0..10_000 {
            while let Some(out) = self.core.poll_output() {
                self.execute(now, out);
            }
            match self.inputs.pop_front() {
                Some(input) => self.core.handle(now, input),
                None => {
                    self.observe(now);
                    return;
                }
            }
        }
        log::error!("core produced outputs without end; continuing");
    }

    /// What the last inputs changed: recorded, told to the notify scripts and (links) to
    /// `rc.d/ifstat`.
    fn observe(&mut self, now: Now) {
        if let Some((_, text)) = self.step_reason.take() {
            self.reason = text;
        }
        let view = self.core.status_view();
        let changes = crate::core::observe::diff(&self.observed, &view);
        if changes.is_empty() {
            self.observed = view;
            return;
        }
        let config = self.core.config();
        let key = |g: usize| {
            config
                .groups
                .get(g)
                .and_then(|g| g.resources.first())
                .map(|r| r.text.clone())
                .unwrap_or_else(|| format!("group{g}"))
        };
        let local = config.local.clone();
        let env = crate::resource::script_env(config);
        let unix_ms = now.unix_secs.saturating_mul(1000);
        let describe = |c: &crate::core::observe::Change| c.words(&local, key).join(" ");
        self.history
            .record(&changes, &view, now.mono, unix_ms, &self.reason, describe);
        for c in &changes {
            let words = c.words(&local, key);
            log::debug!("state change: {} ({})", words.join(" "), self.reason);
            for spec in super::hooks::notify_specs(&config.ha.notify, &words, &self.reason, &env) {
                self.hooks.push(spec);
            }
            if let crate::core::observe::Change::Link { node, link, up } = c {
                let fields = [
                    ("t", "ifstat"),
                    ("node", node.as_str()),
                    ("ifname", link.as_str()),
                    ("st", if *up { "up" } else { "dead" }),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()));
                if let Some(spec) =
                    super::hooks::rcd_spec(&self.setup.ha_dir, "ifstat", &fields, &env)
                {
                    self.hooks.push(spec);
                }
            }
        }
        self.observed = view;
        self.pump_hooks(now);
    }

    /// At exit: lets the queued notify scripts (the final `resources none` among them) run, for
    /// at most `limit`; the rest is logged as not run.
    fn finish_hooks(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut events = Events::with_capacity(16);
        while self.hooks.busy() && Instant::now() < deadline {
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(50)));
            for ev in events.iter() {
                if self.scripts.owns(ev.token()) {
                    let mut notes = Vec::new();
                    self.scripts
                        .on_readable(self.poll.registry(), ev.token(), &mut notes);
                    emit_notes(notes);
                }
            }
            self.reap();
            let now = self.clock.now();
            let mut notes = Vec::new();
            self.scripts.enforce_timeouts(now.mono, &mut notes);
            emit_notes(notes);
        }
        if self.hooks.busy() {
            log::warn!("exiting with notify/rc.d hooks still queued or running");
        }
    }

    /// Resets `node` with the configured device; the result comes back as `Input::FenceDone`.
    fn run_fence(&mut self, now: Now, id: ActionId, node: &str) {
        let spec = super::fence::fence_spec(self.core.config(), node);
        if spec.is_none() {
            log::error!("fencing {node}: no fence device configured");
        }
        self.run_device(now, id, spec);
    }

    /// A run of the fence device (a reset or a status check), answered by `FenceDone`.
    fn run_device(&mut self, now: Now, id: ActionId, spec: Option<ScriptSpec>) {
        let hint = " (stonith is in Debian's cluster-glue, fence_* agents in fence-agents)";
        match spec {
            Some(spec) if self.spawn_logged(now, id, &spec, hint) => {
                self.fences.insert(id);
            }
            _ => self.inputs.push_back(Input::FenceDone { id, ok: false }),
        }
    }

    /// Starts a run of the shell's own (fence, hook) with its `Running …` line; `false` when it
    /// could not start (logged, with `hint` after the reason).
    fn spawn_logged(&mut self, now: Now, id: ActionId, spec: &ScriptSpec, hint: &str) -> bool {
        log::info!("Running {}", spec.command_line());
        let mut notes = Vec::new();
        let failed = self
            .scripts
            .spawn(self.poll.registry(), id, spec, now.mono, &mut notes);
        emit_notes(notes);
        match failed {
            None => true,
            Some(f) => {
                if let Exit::SpawnFailed(e) = &f.exit {
                    log::error!("Cannot run {}: {e}{hint}", f.command);
                }
                false
            }
        }
    }

    /// Starts the next queued hook if none is running.
    fn pump_hooks(&mut self, now: Now) {
        for _ in 0..super::hooks::MAX_QUEUED {
            let id = ActionId(self.next_internal);
            let Some(spec) = self.hooks.next(id) else {
                return;
            };
            self.next_internal += 1;
            if self.spawn_logged(now, id, &spec, "") {
                return;
            }
            self.hooks.done(id);
        }
    }

    fn execute(&mut self, now: Now, out: Output) {
        match out {
            Output::Transmit { medium, bytes } => {
                if let Some(g) = self.setup.guard.as_mut() {
                    g.sent(self.core.last_sent_seq());
                }
                let notes = self.media.transmit(
                    medium.map(|m| m.0),
                    &bytes,
                    self.poll.registry(),
                    now.mono,
                );
                emit_notes(notes);
            }
            Output::SendPing { host } => {
                if let Err(e) = self.pinger.send(&host) {
                    log::debug!("{e}");
                }
            }
            Output::RunScript {
                id,
                group,
                resource,
                op,
            } => self.run_script(now, id, group, resource, op, None),
            Output::Check {
                id,
                group,
                resource,
                timeout,
            } => self.run_script(now, id, group, resource, ScriptOp::Status, Some(timeout)),
            Output::Announce { group } => self.announce(now, group),
            Output::Log { severity, text } => {
                logging::emit(severity, &text);
                if severity <= Severity::Info
                    && self.step_reason.as_ref().is_none_or(|(s, _)| severity < *s)
                {
                    self.step_reason = Some((severity, text));
                }
            }
            Output::Fence { id, node } => self.run_fence(now, id, &node),
            Output::FenceCheck { id } => {
                let spec = super::fence::status_spec(self.core.config());
                self.run_device(now, id, spec);
            }
            Output::Hook { msg_type, fields } => {
                let env = crate::resource::script_env(self.core.config());
                match super::hooks::rcd_spec(&self.setup.ha_dir, &msg_type, &fields, &env) {
                    Some(spec) => {
                        self.hooks.push(spec);
                        self.pump_hooks(now);
                    }
                    None => log::debug!("no rc.d hook for message type [{msg_type}]"),
                }
            }
            Output::Reply { client, reply } if client == FIFO_CLIENT => {
                if reply.ok {
                    log::info!("FIFO request done: {}", reply.text);
                } else {
                    log::warn!("FIFO request refused: {}", reply.text);
                }
            }
            Output::Reply { client, reply } => {
                let word = if reply.ok { "OK" } else { "ERR" };
                let text = format!("{word} {}\n", reply.text.replace('\n', " "));
                self.control.respond(self.poll.registry(), client, &text);
            }
            Output::Ready => {
                match super::notify::notify("READY=1") {
                    Ok(true) => log::debug!("told systemd we are ready"),
                    Ok(false) => {}
                    Err(e) => log::warn!("cannot notify systemd: {e}"),
                }
                self.respawn.start_all(now.mono);
            }
            Output::Stopped => {
                self.stopped = true;
                if let Some(g) = self.setup.guard.take() {
                    g.disarm();
                }
            }
        }
    }

    /// Runs `op` of one resource; `check_timeout` makes it a monitor check (its own timeout,
    /// not tracked by the crash guard, a program that cannot run is a hard failure).
    fn run_script(
        &mut self,
        now: Now,
        id: ActionId,
        group: usize,
        resource: usize,
        op: ScriptOp,
        check_timeout: Option<Millis>,
    ) {
        let check = check_timeout.is_some();
        let config = self.core.config();
        let Some(res) = config
            .groups
            .get(group)
            .and_then(|g| g.resources.get(resource))
        else {
            log::error!("internal: no resource {resource} in group {group}");
            self.inputs.push_back(Input::ScriptDone {
                id,
                outcome: ScriptOutcome::Failed(1),
            });
            return;
        };
        let native = self.vip.is_some() && config.ha.vip.native;
        let inv = match self.setup.resolver.runner(res, native) {
            Ok(Runner::Script(inv)) => inv,
            Ok(Runner::Native(spec)) => {
                let text = res.text.clone();
                self.run_native(id, group, op, &text, spec);
                return;
            }
            Err(e) if check => {
                log::error!("monitor: {e}");
                self.inputs.push_back(Input::ScriptDone {
                    id,
                    outcome: ScriptOutcome::Hard(127),
                });
                return;
            }
            Err(e) => {
                log::error!("{e}");
                let text = res.text.clone();
                if op != ScriptOp::Stop
                    || !self.force_stop_off_loop(id, &text, ScriptOutcome::Failed(1))
                {
                    let outcome = if op == ScriptOp::Stop {
                        stop_outcome(&text, ScriptOutcome::Failed(1))
                    } else {
                        ScriptOutcome::Failed(1)
                    };
                    self.inputs.push_back(Input::ScriptDone { id, outcome });
                }
                return;
            }
        };
        let timeout = check_timeout.unwrap_or(config.ha.resource_timeout);
        let mut env = crate::resource::script_env(config);
        env.extend(inv.env.iter().cloned());
        if inv.kind == crate::resource::ScriptKind::Ocf {
            env.push((
                "OCF_RESKEY_CRM_meta_timeout".to_string(),
                timeout.to_string(),
            ));
        }
        let spec = ScriptSpec {
            program: inv.program.clone(),
            args: inv.argv(op),
            env,
            timeout,
            stdin: None,
        };
        if op == ScriptOp::Status {
            log::debug!("Running {}", spec.command_line());
        } else {
            log::info!("Running {}", spec.command_line());
        }
        if !check && let Some(g) = self.setup.guard.as_mut() {
            g.script_started(id, group, op, self.core.config());
        }
        let mut notes = Vec::new();
        let failed = self
            .scripts
            .spawn(self.poll.registry(), id, &spec, now.mono, &mut notes);
        emit_notes(notes);
        match failed {
            None => {
                self.runs.insert(
                    id,
                    PendingRun {
                        kind: inv.kind,
                        op,
                        resource: res.text.clone(),
                    },
                );
            }
            Some(f) => {
                if let Some(g) = self.setup.guard.as_mut() {
                    g.script_done(id);
                }
                if let Exit::SpawnFailed(e) = &f.exit {
                    log::error!("Cannot run {}: {e}", f.command);
                }
                if id.0 < INTERNAL_ACTION {
                    let outcome = if check {
                        ScriptOutcome::Hard(127)
                    } else {
                        ScriptOutcome::Failed(127)
                    };
                    self.inputs.push_back(Input::ScriptDone { id, outcome });
                }
            }
        }
    }

    /// An address resource handled in-process: the job goes to the address worker.
    fn run_native(
        &mut self,
        id: ActionId,
        group: usize,
        op: ScriptOp,
        text: &str,
        spec: crate::resource::address::VipSpec,
    ) {
        let word = match op {
            ScriptOp::Start => "start",
            ScriptOp::Stop => "stop",
            ScriptOp::Status => "status",
        };
        if op == ScriptOp::Status {
            log::debug!("Running {text} {word} (in-process)");
        } else {
            log::info!("Running {text} {word} (in-process)");
        }
        if let Some(g) = self.setup.guard.as_mut() {
            g.script_started(id, group, op, self.core.config());
        }
        let job = match op {
            ScriptOp::Start => Job::Start { id, spec },
            ScriptOp::Stop => Job::Stop { id, spec },
            ScriptOp::Status => Job::Status { id, spec },
        };
        if let Some(vip) = self.vip.as_ref() {
            vip.submit(job);
        }
    }

    /// Re-announces a kept group's addresses by re-running `start` of its address resources
    /// (idempotent; the agents send gratuitous ARP). Results are only logged.
    fn announce(&mut self, now: Now, group: usize) {
        let Some(g) = self.core.config().groups.get(group) else {
            return;
        };
        let ip_resources: Vec<usize> = g
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.name.starts_with("IPaddr"))
            .map(|(i, _)| i)
            .collect();
        for i in ip_resources {
            let id = ActionId(self.next_internal);
            self.next_internal += 1;
            self.run_script(now, id, group, i, ScriptOp::Start, None);
        }
    }
}

/// A stop that failed, hung or could not run: an address resource has its address removed
/// directly and counts as stopped only if the address is gone (crate::daemon::guard::stopfail).
fn stop_outcome(resource: &str, outcome: ScriptOutcome) -> ScriptOutcome {
    if matches!(outcome, ScriptOutcome::Ok | ScriptOutcome::NotRunning) {
        return outcome;
    }
    let forced =
        crate::daemon::guard::stopfail::force_address_stop(resource, Duration::from_secs(2));
    if let Some(line) = forced.describe(resource, &format!("{outcome:?}")) {
        log::error!(target: logging::CRIT_TARGET, "{line}");
    }
    if forced.address_gone() {
        ScriptOutcome::Ok
    } else {
        outcome
    }
}
