//! The address worker: a thread of the daemon that owns the netlink sockets and the packet
//! socket, so that nothing the kernel makes us wait for (a dump, a batch of acknowledgements,
//! IPv6 duplicate address detection, the pacing of announcements, a forced removal after a
//! failed stop script) ever runs on the event loop. The loop submits [`Job`]s and is woken by
//! a `mio::Waker` when [`Done`]s are ready; it feeds them to the core as `ScriptDone`, exactly
//! as a script's exit.
//!
//! The worker also watches the kernel's address events: an address it added and still holds
//! that disappears (someone ran `ip addr del`) is logged and put back, at most
//! [`MAX_RESTORES`] times per [`RESTORE_WINDOW`].

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::announce::{PacketSocket, Schedule, Target, ipv6_forwarding};
use super::rtnl::{AddrEvent, AddrMonitor, Removal, Rtnl};
use crate::config::VipSettings;
use crate::core::{ActionId, ScriptOutcome};
use crate::resource::address::plan::{AddPlan, Snapshot, plan};
use crate::resource::address::spec::VipSpec;

/// Restores of one address allowed within [`RESTORE_WINDOW`] before we stop fighting.
pub const MAX_RESTORES: usize = 5;
pub const RESTORE_WINDOW: Duration = Duration::from_secs(60);
/// Longest wait for IPv6 duplicate address detection (IPaddr2 waits 10 s too).
pub const DAD_LIMIT: Duration = Duration::from_secs(10);
/// How often a pending DAD is checked besides the kernel's events.
const DAD_POLL: Duration = Duration::from_millis(100);
/// A snapshot older than this is taken again before a start is planned.
const SNAPSHOT_FRESH: Duration = Duration::from_millis(200);

const JOBS: Token = Token(0);
const MONITOR: Token = Token(1);

/// Work for the address worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Add and announce (or, if already here, announce again).
    Start { id: ActionId, spec: VipSpec },
    /// Remove wherever it is configured.
    Stop { id: ActionId, spec: VipSpec },
    /// Whether it is configured.
    Status { id: ActionId, spec: VipSpec },
    /// A stop script of `resource` failed with `failed`: remove `addr` directly; the stop
    /// counts as done only if the address is gone.
    ForceRemove {
        id: ActionId,
        resource: String,
        addr: IpAddr,
        failed: ScriptOutcome,
    },
}

/// A finished job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub id: ActionId,
    pub outcome: ScriptOutcome,
}

/// The daemon's handle on the worker thread.
pub struct VipWorker {
    jobs: Sender<Job>,
    wake_worker: Arc<Waker>,
    results: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

impl VipWorker {
    /// Opens the sockets (errors here mean: fall back to the scripts) and starts the thread;
    /// `wake_loop` wakes the daemon's loop when results are ready.
    pub fn spawn(settings: VipSettings, wake_loop: Arc<Waker>) -> io::Result<VipWorker> {
        let rtnl = Rtnl::open()?;
        let mut monitor = AddrMonitor::open()?;
        let packets = PacketSocket::open()?;
        let poll = Poll::new()?;
        let wake_worker = Arc::new(Waker::new(poll.registry(), JOBS)?);
        poll.registry().register(
            &mut SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&monitor)),
            MONITOR,
            Interest::READABLE,
        )?;
        // Events queued before we start are of no interest.
        let _ = monitor.events();
        let (job_tx, job_rx) = channel();
        let (done_tx, done_rx) = channel();
        let mut state = Worker {
            rtnl,
            monitor,
            packets,
            schedule: Schedule::new(settings),
            snapshot: Snapshot::default(),
            taken: None,
            held: HashMap::new(),
            dad: Vec::new(),
            jobs: job_rx,
            done: done_tx,
            wake_loop,
        };
        let thread = std::thread::Builder::new()
            .name("vip".into())
            .spawn(move || state.run(poll))?;
        Ok(VipWorker {
            jobs: job_tx,
            wake_worker,
            results: done_rx,
            thread: Some(thread),
        })
    }

    pub fn submit(&self, job: Job) {
        if self.jobs.send(job).is_ok() {
            let _ = self.wake_worker.wake();
        }
    }

    /// Every result ready now.
    pub fn results(&self) -> Vec<Done> {
        self.results.try_iter().collect()
    }
}

impl Drop for VipWorker {
    fn drop(&mut self) {
        // Closing the channel ends the thread at its next wake-up.
        let (dead, _) = channel();
        self.jobs = dead;
        let _ = self.wake_worker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The first `IFACE:N` label used neither on the interface nor in this batch.
fn next_free_label(
    ifname: &str,
    snap: &Snapshot,
    batch: &[(ActionId, VipSpec, AddPlan)],
) -> String {
    (0..)
        .map(|n| format!("{ifname}:{n}"))
        .find(|l| {
            !snap.addresses.iter().any(|a| a.label.as_ref() == Some(l))
                && !batch.iter().any(|(_, _, p)| p.label.as_ref() == Some(l))
        })
        .unwrap_or_else(|| ifname.to_string())
}

/// An address we added (or found in place) and keep.
struct Held {
    spec: VipSpec,
    plan: AddPlan,
    restores: VecDeque<Instant>,
}

/// A start waiting for IPv6 duplicate address detection.
struct DadWait {
    id: ActionId,
    spec: VipSpec,
    plan: AddPlan,
    deadline: Instant,
}

struct Worker {
    rtnl: Rtnl,
    monitor: AddrMonitor,
    packets: PacketSocket,
    schedule: Schedule,
    snapshot: Snapshot,
    taken: Option<Instant>,
    held: HashMap<IpAddr, Held>,
    dad: Vec<DadWait>,
    jobs: Receiver<Job>,
    done: Sender<Done>,
    wake_loop: Arc<Waker>,
}

impl Worker {
    fn run(&mut self, mut poll: Poll) {
        let mut events = Events::with_capacity(16);
        loop {
            let now = Instant::now();
            let mut wake = self.schedule.next_due();
            if !self.dad.is_empty() {
                let t = now + DAD_POLL;
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
            let timeout = wake.map(|w| w.saturating_duration_since(now));
            if let Err(e) = poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!("address worker: poll failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            for ev in events.iter() {
                if ev.token() == MONITOR {
                    self.on_events();
                }
            }
            // Every job queued now; adjacent starts go to the kernel as one batch.
            let mut starts = Vec::new();
            let mut closed = false;
            loop {
                match self.jobs.try_recv() {
                    Ok(Job::Start { id, spec }) => starts.push((id, spec)),
                    Ok(job) => {
                        self.start_batch(std::mem::take(&mut starts));
                        self.on_job(job);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            self.start_batch(starts);
            if closed {
                return;
            }
            self.check_dad();
            self.send_due();
        }
    }

    fn finish(&self, id: ActionId, outcome: ScriptOutcome) {
        if self.done.send(Done { id, outcome }).is_ok() {
            let _ = self.wake_loop.wake();
        }
    }

    fn refresh(&mut self, force: bool) -> io::Result<()> {
        let stale = self.taken.is_none_or(|t| t.elapsed() > SNAPSHOT_FRESH);
        if force || stale {
            self.snapshot = self.rtnl.snapshot()?;
            self.taken = Some(Instant::now());
        }
        Ok(())
    }

    fn on_job(&mut self, job: Job) {
        match job {
            Job::Start { id, spec } => self.start_batch(vec![(id, spec)]),
            Job::Stop { id, spec } => {
                self.held.remove(&spec.addr);
                self.dad.retain(|d| d.spec.addr != spec.addr);
                self.schedule.cancel(spec.addr);
                let o = match self.remove_everywhere(spec.addr) {
                    Ok(places) => {
                        for p in places {
                            log::info!("IPaddr: {p} removed");
                        }
                        ScriptOutcome::Ok
                    }
                    Err(e) => {
                        log::error!("IPaddr: cannot remove {}: {e}", spec.addr);
                        ScriptOutcome::Failed(1)
                    }
                };
                self.finish(id, o);
            }
            Job::Status { id, spec } => {
                let o = match self.refresh(true) {
                    Ok(()) if !self.snapshot.holders(spec.addr).is_empty() => ScriptOutcome::Ok,
                    Ok(()) => ScriptOutcome::NotRunning,
                    Err(e) => {
                        log::error!("IPaddr: cannot list addresses: {e}");
                        ScriptOutcome::Failed(1)
                    }
                };
                self.finish(id, o);
            }
            Job::ForceRemove {
                id,
                resource,
                addr,
                failed,
            } => {
                self.held.remove(&addr);
                self.schedule.cancel(addr);
                let o = match self.remove_everywhere(addr) {
                    Ok(places) if places.is_empty() => {
                        log::error!(target: crate::daemon::logging::CRIT_TARGET,
                            "Stop of {resource} failed ({failed:?}), but {addr} is not configured: treating it as stopped");
                        ScriptOutcome::Ok
                    }
                    Ok(places) => {
                        log::error!(target: crate::daemon::logging::CRIT_TARGET,
                            "Stop of {resource} failed ({failed:?}): removed {addr} directly ({}); treating it as stopped",
                            places.join(", "));
                        ScriptOutcome::Ok
                    }
                    Err(e) => {
                        log::error!(target: crate::daemon::logging::CRIT_TARGET,
                            "Stop of {resource} failed ({failed:?}) and {addr} could not be removed ({e}): THE ADDRESS IS STILL HERE");
                        failed
                    }
                };
                self.finish(id, o);
            }
        }
    }

    /// Starts: addresses already here are announced again; the others are planned and added
    /// in one netlink batch (one round of system calls for the whole group), then announced,
    /// or for IPv6 left to wait for duplicate address detection.
    fn start_batch(&mut self, jobs: Vec<(ActionId, VipSpec)>) {
        if jobs.is_empty() {
            return;
        }
        if let Err(e) = self.refresh(false) {
            log::error!("IPaddr: cannot list addresses: {e}");
            for (id, _) in jobs {
                self.finish(id, ScriptOutcome::Failed(1));
            }
            return;
        }
        let mut adds: Vec<(ActionId, VipSpec, AddPlan)> = Vec::new();
        for (id, spec) in jobs {
            if let Some(existing) = self.snapshot.holders(spec.addr).first().copied().cloned() {
                let ifname = self
                    .snapshot
                    .link(existing.index)
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                log::info!("IPaddr: {} already configured on {ifname}", spec.addr);
                let plan = AddPlan {
                    index: existing.index,
                    ifname,
                    addr: spec.addr,
                    prefix: existing.prefix,
                    label: existing.label.clone(),
                    broadcast: None,
                    bring_up: false,
                    note: None,
                };
                // Announce again: after a partition the neighbours may still point at the peer.
                self.announce(&plan);
                self.keep(&spec, plan);
                self.finish(id, ScriptOutcome::Ok);
                continue;
            }
            let planned = match plan(&spec, &self.snapshot) {
                Ok(p) => Ok(p),
                // The interface may be newer than the snapshot: look once more.
                Err(_) if self.refresh(true).is_ok() => plan(&spec, &self.snapshot),
                Err(e) => Err(e),
            };
            match planned {
                Ok(mut p) => {
                    // Two of this batch on one interface must not get the same IFACE:N label.
                    if spec.label.is_none()
                        && let Some(l) = &p.label
                        && adds.iter().any(|(_, _, q)| q.label.as_ref() == Some(l))
                    {
                        p.label = Some(next_free_label(&p.ifname, &self.snapshot, &adds));
                    }
                    adds.push((id, spec, p));
                }
                Err(e) => {
                    log::error!("IPaddr: ERROR: {e}");
                    self.finish(id, ScriptOutcome::Failed(6));
                }
            }
        }
        let mut raised = Vec::new();
        for (_, _, p) in &adds {
            if p.bring_up && !raised.contains(&p.index) {
                raised.push(p.index);
                if let Err(e) = self.rtnl.set_up(p.index) {
                    log::warn!("IPaddr: cannot bring {} up: {e}", p.ifname);
                }
            }
        }
        let plans: Vec<AddPlan> = adds.iter().map(|(_, _, p)| p.clone()).collect();
        let results = self.rtnl.add(&plans);
        for ((id, spec, p), result) in adds.into_iter().zip(results) {
            if let Some(note) = &p.note {
                log::warn!("IPaddr: {note}");
            }
            if let Err(e) = result {
                log::error!(
                    "IPaddr: ERROR: adding {}/{} on {} failed: {e}",
                    p.addr,
                    p.prefix,
                    p.ifname
                );
                self.taken = None;
                self.finish(id, ScriptOutcome::Failed(1));
                continue;
            }
            self.snapshot
                .addresses
                .push(crate::resource::address::plan::Address {
                    index: p.index,
                    addr: p.addr,
                    prefix: p.prefix,
                    label: p.label.clone(),
                    tentative: p.addr.is_ipv6(),
                    dad_failed: false,
                });
            if p.addr.is_ipv6() {
                log::info!(
                    "IPaddr: {}/{} added on {}; waiting for duplicate address detection",
                    p.addr,
                    p.prefix,
                    p.ifname
                );
                self.dad.push(DadWait {
                    id,
                    spec,
                    plan: p,
                    deadline: Instant::now() + DAD_LIMIT,
                });
                continue;
            }
            let label = p
                .label
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            log::info!(
                "IPaddr: {}/{} added on {}{label}",
                p.addr,
                p.prefix,
                p.ifname
            );
            self.announce(&p);
            self.keep(&spec, p);
            self.finish(id, ScriptOutcome::Ok);
        }
        self.check_dad();
    }

    fn keep(&mut self, spec: &VipSpec, plan: AddPlan) {
        let restores = self
            .held
            .remove(&spec.addr)
            .map(|h| h.restores)
            .unwrap_or_default();
        self.held.insert(
            spec.addr,
            Held {
                spec: spec.clone(),
                plan,
                restores,
            },
        );
    }

    fn announce(&mut self, p: &AddPlan) {
        let Some(link) = self.snapshot.link(p.index) else {
            return;
        };
        let Ok(mac) = <[u8; 6]>::try_from(link.mac.as_slice()) else {
            // Loopback, tunnels: nobody to tell.
            return;
        };
        let target = Target {
            addr: p.addr,
            ifindex: p.index,
            mac,
            router: p.addr.is_ipv6() && ipv6_forwarding(&link.name),
        };
        self.schedule.start(target, Instant::now());
        self.send_due();
    }

    fn send_due(&mut self) {
        for t in self.schedule.due(Instant::now()) {
            if let Err(e) = self.packets.announce(&t) {
                log::debug!("IPaddr: announcing {} failed: {e}", t.addr);
            }
        }
    }

    /// Ends the DAD waits that are over: announced and held, or failed.
    fn check_dad(&mut self) {
        if self.dad.is_empty() {
            return;
        }
        if let Err(e) = self.refresh(true) {
            log::warn!("IPaddr: cannot list addresses: {e}");
            return;
        }
        let now = Instant::now();
        let waits = std::mem::take(&mut self.dad);
        for w in waits {
            let state = self
                .snapshot
                .addresses
                .iter()
                .find(|a| a.addr == w.plan.addr && a.index == w.plan.index)
                .map(|a| (a.tentative, a.dad_failed));
            match state {
                Some((_, true)) => {
                    log::error!(
                        "IPaddr: ERROR: duplicate address detection failed for {} on {}: another node holds it",
                        w.plan.addr,
                        w.plan.ifname
                    );
                    let _ = self.remove_everywhere(w.plan.addr);
                    self.finish(w.id, ScriptOutcome::Failed(1));
                }
                Some((false, false)) => {
                    log::info!(
                        "IPaddr: {}/{} added on {}",
                        w.plan.addr,
                        w.plan.prefix,
                        w.plan.ifname
                    );
                    self.announce(&w.plan);
                    self.keep(&w.spec, w.plan);
                    self.finish(w.id, ScriptOutcome::Ok);
                }
                None => {
                    log::error!(
                        "IPaddr: ERROR: {} disappeared from {} during duplicate address detection",
                        w.plan.addr,
                        w.plan.ifname
                    );
                    self.finish(w.id, ScriptOutcome::Failed(1));
                }
                Some((true, false)) if now >= w.deadline => {
                    log::error!(
                        "IPaddr: ERROR: {} still tentative on {} after {} s (no carrier?)",
                        w.plan.addr,
                        w.plan.ifname,
                        DAD_LIMIT.as_secs()
                    );
                    let _ = self.remove_everywhere(w.plan.addr);
                    self.finish(w.id, ScriptOutcome::Failed(1));
                }
                Some((true, false)) => self.dad.push(w),
            }
        }
    }

    /// Removes every configured copy of `addr`; the places removed (`ADDR/P dev IF`). The
    /// address table is read afresh first (a stop must not miss a copy); each removal is
    /// confirmed by the kernel's acknowledgement.
    fn remove_everywhere(&mut self, addr: IpAddr) -> io::Result<Vec<String>> {
        if self.taken.is_none() {
            self.refresh(true)?;
        } else {
            self.snapshot.addresses = self.rtnl.addresses()?;
        }
        let found: Vec<Removal> = self
            .snapshot
            .holders(addr)
            .iter()
            .map(|a| Removal {
                index: a.index,
                addr: a.addr,
                prefix: a.prefix,
            })
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let results = self.rtnl.remove(&found);
        let mut places = Vec::new();
        let mut errors = Vec::new();
        for (r, res) in found.iter().zip(results) {
            let dev = self
                .snapshot
                .link(r.index)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| r.index.to_string());
            match res {
                Ok(()) => places.push(format!("{}/{} dev {dev}", r.addr, r.prefix)),
                // Gone meanwhile: the goal holds.
                Err(e) if e.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL) => {}
                Err(e) => errors.push(format!("{}/{} dev {dev}: {e}", r.addr, r.prefix)),
            }
        }
        if !errors.is_empty() {
            return Err(io::Error::other(errors.join(", ")));
        }
        self.snapshot.addresses.retain(|a| a.addr != addr);
        Ok(places)
    }

    /// Kernel address events: keep the snapshot current, put back what was taken from us.
    fn on_events(&mut self) {
        let mut lost = Vec::new();
        for ev in self.monitor.events() {
            match ev {
                AddrEvent::Added(a) => {
                    self.snapshot
                        .addresses
                        .retain(|x| !(x.addr == a.addr && x.index == a.index));
                    self.snapshot.addresses.push(a);
                }
                AddrEvent::Removed(a) => {
                    self.snapshot
                        .addresses
                        .retain(|x| !(x.addr == a.addr && x.index == a.index));
                    if self.held.contains_key(&a.addr) {
                        lost.push(a.addr);
                    }
                }
            }
        }
        for addr in lost {
            self.restore(addr);
        }
    }

    fn restore(&mut self, addr: IpAddr) {
        if self.refresh(true).is_err() || !self.snapshot.holders(addr).is_empty() {
            return;
        }
        let Some(held) = self.held.get_mut(&addr) else {
            return;
        };
        let now = Instant::now();
        while held
            .restores
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTORE_WINDOW)
        {
            held.restores.pop_front();
        }
        if held.restores.len() >= MAX_RESTORES {
            log::error!(
                "IPaddr: {addr} was removed behind our back again ({MAX_RESTORES} times within {} s): not restoring it; something else manages this address",
                RESTORE_WINDOW.as_secs()
            );
            self.held.remove(&addr);
            self.schedule.cancel(addr);
            return;
        }
        held.restores.push_back(now);
        let spec = held.spec.clone();
        log::warn!("IPaddr: {addr} was removed behind our back: restoring it");
        let mut plan = held.plan.clone();
        if plan.broadcast.is_none()
            && let (IpAddr::V4(a), Some(p)) = (addr, Some(plan.prefix))
        {
            plan.broadcast = crate::resource::address::spec::broadcast_of(a, p);
        }
        match self.rtnl.add(std::slice::from_ref(&plan)).pop() {
            Some(Ok(())) => {
                log::info!("IPaddr: {addr}/{} restored on {}", plan.prefix, plan.ifname);
                self.announce(&plan);
                self.keep(&spec, plan);
            }
            Some(Err(e)) => log::error!("IPaddr: ERROR: restoring {addr} failed: {e}"),
            None => {}
        }
    }
}
