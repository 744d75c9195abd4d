//! The director's decisions, sans-IO: when each real server is checked, when a run of failures
//! makes it down, which weight it then gets (0 when quiescent, else removal), when the fallback
//! (sorry) server enters and leaves. Fed the time and check verdicts; returns probes to run, the
//! table to apply and log lines. The event loop in `run.rs` and the simulated tests drive the
//! same code.
//!
//! Timing: at start (a takeover) every server is checked at once (paced at 100 per 10 ms when
//! there are thousands), so the first table stands within one check timeout of the last start;
//! from then on each server is checked every `checkinterval`, all servers spread evenly over
//! the interval in batches of at most 100 (at least 10 batches an interval): thousands of
//! checks never start in the same millisecond, and a hundred do not cost three hundred
//! wake-ups a second.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;

use crate::config::Millis;
use crate::config::ldirectord::{CheckType, DirectorConfig, Virtual};

use super::spec::{ProbeSpec, spec_for, timeout_of};
use super::table::{Dest, Service, ServiceKey, Table};

/// The finest grid check start times are put on.
const SPREAD_STEP: Millis = 10;

/// Steady state: checks that start together, at most (one wake-up starts them all, and their
/// answers come back together: a few wake-ups per batch instead of three per check). A batch
/// this size is no burst for a server's receive backlog (the first round starts as many).
const STEADY_BATCH: u64 = 100;

/// Steady state: batches per interval, at least: checks stay spread over the interval.
const MIN_BATCHES: u64 = 10;

/// Where in its interval the `g`-th of `n` checked servers starts: spread evenly, rounded
/// down to a grid whose step puts at most [`STEADY_BATCH`] checks in a batch and makes at
/// least [`MIN_BATCHES`] batches (100 ms apart for 100 servers at 1 s, 20 ms for 5000).
fn spread_offset(interval: Millis, g: u64, n: u64) -> Millis {
    let n = n.max(1);
    let step = (interval / MIN_BATCHES).min(interval * STEADY_BATCH / n);
    let step = (step / SPREAD_STEP * SPREAD_STEP).max(SPREAD_STEP);
    (interval * g / n) / step * step
}

/// First-round checks started per grid step: 10 000 a second. All at once, thousands of
/// connection attempts leave in one burst that queues on the way (a 1000-packet receive backlog
/// on a Linux server, a switch's buffers) and the dropped ones come out as false failures one
/// check timeout later; paced, 5000 servers are all asked within half a second.
const FIRST_ROUND_BATCH: usize = 100;

/// A real server: index of its virtual service, index within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealId {
    pub virt: usize,
    pub real: usize,
}

/// What the shell must do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run a check; answer with [`Director::verdict`] (a timed-out check is a failure).
    Probe {
        id: RealId,
        spec: ProbeSpec,
        timeout: Millis,
    },
    /// Make the kernel's rules this table.
    Apply(Table),
    /// `fallbackcommand start|stop VIP:PORT PROTO`.
    FallbackCommand {
        command: String,
        args: Vec<String>,
    },
    Log(Level, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

/// One real server's health.
#[derive(Debug, Clone)]
struct RealState {
    /// None until its first check answered.
    up: Option<bool>,
    failures: u32,
    next_due: Millis,
    /// Where in the interval its steady-state checks start ([`spread_offset`]).
    offset: Millis,
    in_flight: bool,
    rounds: u64,
}

/// The state machine of one director.
pub struct Director {
    config: DirectorConfig,
    states: Vec<Vec<RealState>>,
    /// Whether each service has its fallback in (or its fallbackcommand started).
    fallback_in: Vec<bool>,
    /// The table last handed out; `None` before the first round has answered.
    applied: Option<Table>,
    actions: VecDeque<Action>,
    started_at: Millis,
    /// Rules are kept only while active; a warm standby checks and keeps health, no rules.
    active: bool,
    /// Some server's health changed since [`Director::take_changed`].
    changed: bool,
    /// Health changed since the table was last computed.
    dirty: bool,
    /// Every checked server by its next due time: the loop looks at the earliest only, so a
    /// wake-up costs O(log n), not a scan of thousands of servers.
    queue: BinaryHeap<Reverse<(Millis, usize, usize)>>,
}

impl Director {
    /// A director that starts checking at `now`: every server at once.
    pub fn new(config: DirectorConfig, now: Millis) -> Director {
        let mut d = Director::new_unstarted(config, now);
        d.tick(now);
        d
    }

    /// A director for a re-read configuration: servers present before keep their health (no
    /// re-check storm, no flap), new ones are checked at once.
    pub fn reload(self, config: DirectorConfig, now: Millis) -> Director {
        let old = self;
        let mut d = Director::new_unstarted(config, now);
        for (vi, v) in d.config.virtuals.iter().enumerate() {
            let Some(ovi) = old
                .config
                .virtuals
                .iter()
                .position(|o| o.addr == v.addr && o.protocol == v.protocol)
            else {
                continue;
            };
            d.fallback_in[vi] = old.fallback_in[ovi];
            for (ri, r) in v.reals.iter().enumerate() {
                let ov = &old.config.virtuals[ovi];
                if let Some(ori) = ov.reals.iter().position(|o| {
                    o.target.addr == r.target.addr
                        && ov.target_port(&o.target) == v.target_port(&r.target)
                }) && fixed_verdict(v).is_none()
                {
                    let mut s = old.states[ovi][ori].clone();
                    s.offset = d.states[vi][ri].offset;
                    s.in_flight = false; // its answer, if any, is ignored: checked again soon
                    s.next_due = s.next_due.min(now + v.checkinterval);
                    d.states[vi][ri] = s;
                }
            }
        }
        d.applied = old.applied;
        d.active = old.active;
        let mut d = d.with_queue();
        d.tick(now);
        d
    }

    fn new_unstarted(config: DirectorConfig, now: Millis) -> Director {
        let total = config
            .virtuals
            .iter()
            .filter(|v| fixed_verdict(v).is_none())
            .map(|v| v.reals.len() as u64)
            .sum::<u64>();
        let mut checked = 0usize;
        let states = config
            .virtuals
            .iter()
            .map(|v| {
                v.reals
                    .iter()
                    .map(|_| {
                        let fixed = fixed_verdict(v);
                        let batch = checked / FIRST_ROUND_BATCH;
                        let offset = spread_offset(v.checkinterval, checked as u64, total);
                        if fixed.is_none() {
                            checked += 1;
                        }
                        RealState {
                            up: fixed,
                            failures: 0,
                            next_due: now + batch as Millis * SPREAD_STEP,
                            offset,
                            in_flight: false,
                            rounds: 0,
                        }
                    })
                    .collect()
            })
            .collect();
        let n = config.virtuals.len();
        Director {
            config,
            states,
            fallback_in: vec![false; n],
            applied: None,
            actions: VecDeque::new(),
            started_at: now,
            active: true,
            changed: true,
            dirty: true,
            queue: BinaryHeap::new(),
        }
        .with_queue()
    }

    /// Rebuilds the due-time queue from the servers' states.
    fn with_queue(mut self) -> Director {
        self.queue.clear();
        for (vi, v) in self.config.virtuals.iter().enumerate() {
            if fixed_verdict(v).is_some() {
                continue;
            }
            for (ri, s) in self.states[vi].iter().enumerate() {
                self.queue.push(Reverse((s.next_due, vi, ri)));
            }
        }
        self
    }

    pub fn config(&self) -> &DirectorConfig {
        &self.config
    }

    /// A warm standby (false) checks but hands out no table and runs no fallbackcommand;
    /// becoming active hands out the table of the health already known at once.
    pub fn set_active(&mut self, active: bool) {
        if self.active == active {
            return;
        }
        self.active = active;
        self.applied = None;
        if active {
            // The fallback state is the table's: recomputed from scratch with it.
            self.fallback_in.iter_mut().for_each(|f| *f = false);
            self.maybe_apply();
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Whether every server has had its first verdict.
    pub fn first_round_done(&self) -> bool {
        self.states.iter().flatten().all(|s| s.up.is_some())
    }

    /// Whether some server's health changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The table in force (what was last applied).
    pub fn table(&self) -> Option<&Table> {
        self.applied.as_ref()
    }

    /// Next action for the shell.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest time a check is due (the shell sleeps until then or an event).
    pub fn next_deadline(&self) -> Option<Millis> {
        self.queue.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Starts every check that is due.
    pub fn tick(&mut self, now: Millis) {
        while let Some(&Reverse((due, vi, ri))) = self.queue.peek() {
            if due > now {
                break;
            }
            self.queue.pop();
            let v = &self.config.virtuals[vi];
            let s = &mut self.states[vi][ri];
            if s.next_due != due {
                continue; // superseded
            }
            // Steady state: every interval, at this server's own offset within it (servers of
            // all services spread together, in batches).
            let mut next = if s.rounds == 0 {
                self.started_at + v.checkinterval + s.offset
            } else {
                s.next_due + v.checkinterval
            };
            while next <= now {
                next += v.checkinterval; // the loop was late: skip, do not burst
            }
            s.next_due = next;
            self.queue.push(Reverse((next, vi, ri)));
            if s.in_flight {
                continue; // still answering the previous one (timeout > interval)
            }
            let Some(spec) = spec_for(v, &v.reals[ri], s.rounds) else {
                continue;
            };
            s.rounds += 1;
            s.in_flight = true;
            let timeout = timeout_of(v, &spec);
            self.actions.push_back(Action::Probe {
                id: RealId { virt: vi, real: ri },
                spec,
                timeout,
            });
        }
        if self.dirty {
            self.maybe_apply();
        }
    }

    /// A check's verdict; `detail` says why for the log.
    pub fn verdict(&mut self, id: RealId, ok: bool, detail: &str) {
        let Some(v) = self.config.virtuals.get(id.virt) else {
            return;
        };
        let Some(s) = self
            .states
            .get_mut(id.virt)
            .and_then(|r| r.get_mut(id.real))
        else {
            return;
        };
        if !s.in_flight {
            return; // an answer from before a reload
        }
        s.in_flight = false;
        let real = &v.reals[id.real];
        let name = SocketAddr::new(real.target.addr, v.target_port(&real.target));
        if ok {
            s.failures = 0;
            if s.up != Some(true) {
                let was_known = s.up.is_some();
                s.up = Some(true);
                self.changed = true;
                self.dirty = true;
                if was_known {
                    self.actions.push_back(Action::Log(
                        Level::Info,
                        format!("real server {name} of {} is up ({detail})", v.name()),
                    ));
                }
            }
        } else {
            s.failures = s.failures.saturating_add(1);
            // A first failure is final at once: nothing vouched for the server yet.
            let down = s.up.is_none() || (s.up == Some(true) && s.failures >= v.failurecount);
            if down {
                let what = if !self.active {
                    "no rules here (warm standby)"
                } else if v.quiescent {
                    "weight 0 (quiescent)"
                } else {
                    "removed"
                };
                s.up = Some(false);
                self.changed = true;
                self.dirty = true;
                self.actions.push_back(Action::Log(
                    Level::Warn,
                    format!(
                        "real server {name} of {} is down ({detail}): {what}",
                        v.name()
                    ),
                ));
            } else if s.up == Some(true) {
                self.actions.push_back(Action::Log(
                    Level::Info,
                    format!(
                        "real server {name} of {}: check failed ({detail}), {} of {} failures",
                        v.name(),
                        s.failures,
                        v.failurecount
                    ),
                ));
            }
        }
        if self.dirty {
            self.maybe_apply();
        }
    }

    fn log(&mut self, level: Level, text: String) {
        self.actions.push_back(Action::Log(level, text));
    }

    /// Hands out the table when it changed; the first one only once every server answered.
    fn maybe_apply(&mut self) {
        self.dirty = false;
        if !self.active {
            return;
        }
        if self.applied.is_none() && self.states.iter().flatten().any(|s| s.up.is_none()) {
            return;
        }
        let table = self.desired();
        if self.applied.as_ref() != Some(&table) {
            if self.applied.is_none() {
                let up = self
                    .states
                    .iter()
                    .flatten()
                    .filter(|s| s.up == Some(true))
                    .count();
                let all = self.states.iter().flatten().count();
                self.log(
                    Level::Info,
                    format!("first checks done: {up} of {all} real servers up"),
                );
            }
            self.applied = Some(table.clone());
            self.actions.push_back(Action::Apply(table));
        }
    }

    /// The rules the current health calls for; also moves fallbacks in and out.
    fn desired(&mut self) -> Table {
        let mut services = Vec::new();
        for (vi, v) in self.config.virtuals.iter().enumerate() {
            let mut dests = Vec::new();
            for (ri, r) in v.reals.iter().enumerate() {
                let addr = SocketAddr::new(r.target.addr, v.target_port(&r.target));
                match self.states[vi][ri].up {
                    Some(true) => dests.push(Dest {
                        addr,
                        forward: r.target.forward,
                        weight: r.target.weight,
                    }),
                    _ if v.quiescent => dests.push(Dest {
                        addr,
                        forward: r.target.forward,
                        weight: 0,
                    }),
                    _ => {}
                }
            }
            let none_up = !dests.iter().any(|d| d.weight > 0);
            if none_up != self.fallback_in[vi] {
                self.fallback_in[vi] = none_up;
                let (cmd, text) = if none_up {
                    ("start", format!("{}: no real server is up", v.name()))
                } else {
                    ("stop", format!("{}: a real server is up again", v.name()))
                };
                let fb = match &v.fallback {
                    Some(f) => format!(
                        ": fallback {} {}",
                        SocketAddr::new(f.addr, v.target_port(f)),
                        if none_up { "in" } else { "out" }
                    ),
                    None => String::new(),
                };
                self.actions
                    .push_back(Action::Log(Level::Warn, format!("{text}{fb}")));
                if let Some(command) = &v.fallbackcommand {
                    self.actions.push_back(Action::FallbackCommand {
                        command: command.clone(),
                        args: vec![
                            cmd.to_string(),
                            vport_name(v),
                            v.protocol.name().to_string(),
                        ],
                    });
                }
            }
            if none_up && let Some(f) = &v.fallback {
                let addr = SocketAddr::new(f.addr, v.target_port(f));
                dests.retain(|d| d.addr != addr);
                dests.push(Dest {
                    addr,
                    forward: f.forward,
                    weight: 1,
                });
            }
            services.push(Service {
                key: ServiceKey {
                    protocol: v.protocol,
                    addr: v.addr,
                },
                scheduler: v.scheduler.clone(),
                persistent: v.persistent,
                netmask: v.netmask.clone(),
                dests,
            });
        }
        Table { services }
    }

    /// Health of every real server: (service name, server, up).
    pub fn health(&self) -> Vec<(String, SocketAddr, Option<bool>)> {
        let mut out = Vec::new();
        for (vi, v) in self.config.virtuals.iter().enumerate() {
            for (ri, r) in v.reals.iter().enumerate() {
                let addr = SocketAddr::new(r.target.addr, v.target_port(&r.target));
                out.push((v.name(), addr, self.states[vi][ri].up));
            }
        }
        out
    }
}

/// `checktype=on` servers are always up, `off` always down; others need checks.
fn fixed_verdict(v: &Virtual) -> Option<bool> {
    match v.checktype {
        CheckType::On => Some(true),
        CheckType::Off => Some(false),
        _ => None,
    }
}

/// `VIP:PORT` as fallbackcommand receives it.
fn vport_name(v: &Virtual) -> String {
    v.name()
}
