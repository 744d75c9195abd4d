//! The director's event loop: one `mio::Poll` for every probe, the signals (TERM/INT stop,
//! HUP re-reads the file) and the clock; the state machine in `health.rs` decides, this loop
//! only carries out. Rules go to IPVS when the kernel has it, else to an nft table.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use log::{error, info, warn};
use mio::{Events, Poll, Registry, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;

use crate::config::ldirectord::{self, DirectorConfig};
use crate::daemon::detach::Starter;

use super::health::{Action, Director, Level};
use super::probe::Engine;
use super::probe::engine::Ready;
use super::table::{Table, diff};
use super::{ipvs, nft};

const SIGNAL_TOKEN: Token = Token(1);
/// The nft child's pidfd (the probes' tokens start higher; the ICMP sockets' are 2 and 4).
const NFT_TOKEN: Token = Token(3);
/// How often the file is looked at with `autoreload=yes`.
const AUTORELOAD_EVERY: Duration = Duration::from_secs(1);

/// How the director runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    /// Name of the nft table (one per configuration file).
    pub table_name: String,
    /// Masquerade forwarded connections (nft backend only).
    pub snat: bool,
    /// Where the health of every real server is written after each change.
    pub state_file: Option<PathBuf>,
    /// Start as a warm standby: check, keep no rules until SIGUSR1 (SIGUSR2 goes back).
    pub warm: bool,
}

/// Where rules go: IPVS (a netlink request per change, answered at once) or an nft table
/// (written by a child, never waited for on the loop).
enum Backend {
    Ipvs(ipvs::Ipvs),
    Nft(nft::NftRunner),
}

impl Backend {
    fn apply(&mut self, registry: &Registry, old: &Table, new: &Table) -> Result<(), String> {
        match self {
            Backend::Ipvs(k) => {
                k.apply(&diff(old, new))?;
                // The first table of an activation: what an earlier run left goes.
                if old.services.is_empty() {
                    for line in k.purge_untracked(new)? {
                        info!("{line}");
                    }
                }
                Ok(())
            }
            Backend::Nft(r) => r.submit(registry, new),
        }
    }

    fn clear(&mut self, registry: &Registry, old: &Table) -> Result<(), String> {
        match self {
            Backend::Ipvs(k) => k.apply(&diff(old, &Table::default())),
            Backend::Nft(r) => r.remove(registry),
        }
    }
}

/// Loads the file, reporting every error at once.
pub fn load(path: &Path) -> Result<DirectorConfig, String> {
    match ldirectord::load(path) {
        Ok((config, warnings)) => {
            for w in warnings {
                warn!("{w}");
            }
            Ok(config)
        }
        Err(errors) => Err(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// Checks in flight from which their answers are taken in batches (a steady-state batch of a
/// hundred servers at 1 s is ten checks).
const BATCH_MIN_IN_FLIGHT: usize = 8;
/// The longest an answer waits to be read when answers are taken in batches.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// Runs until TERM/INT. `starter` is told once the first table stands (or on a start error).
pub fn run(opts: &RunOptions, starter: &mut Starter) -> Result<(), String> {
    let config = load(&opts.config)?;
    keep_large_buffers_apart();
    let max_in_flight = raise_fd_limit().saturating_sub(64).clamp(64, 60_000);
    let mut backend = if ipvs::present() {
        Backend::Ipvs(ipvs::Ipvs::open().map_err(|e| format!("IPVS (generic netlink): {e}"))?)
    } else {
        let dir = opts
            .state_file
            .as_ref()
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir);
        Backend::Nft(nft::NftRunner::new(
            &opts.table_name,
            opts.snat,
            dir,
            NFT_TOKEN,
        ))
    };
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])
        .map_err(|e| format!("signals: {e}"))?;
    poll.registry()
        .register(&mut signals, SIGNAL_TOKEN, mio::Interest::READABLE)
        .map_err(|e| format!("signals: {e}"))?;
    let epoch = Instant::now();
    let ms = |t: Instant| t.saturating_duration_since(epoch).as_millis() as u64;
    let mut engine = Engine::new(max_in_flight);
    let mut autoreload = config.globals.autoreload;
    let mut stamp = modified(&opts.config);
    let mut next_look = Instant::now() + AUTORELOAD_EVERY;
    info!(
        "starting: {} virtual services, {} real servers, rules via {}",
        config.virtuals.len(),
        config.virtuals.iter().map(|v| v.reals.len()).sum::<usize>(),
        match backend {
            Backend::Ipvs(_) => "IPVS (generic netlink)".to_string(),
            Backend::Nft(ref r) => format!("nft table inet {}", r.name()),
        }
    );
    let mut director = Director::new(config, 0);
    if opts.warm {
        director.set_active(false);
        info!("warm standby: checking, no rules until activated");
    }
    let mut applied = Table::default();
    let mut ready = false;
    // The rules of the active director stand (no table still being written).
    let mut rules_stand = false;
    let mut events = Events::with_capacity(1024);
    // The clock is read once per wake-up (and after a batching nap): every check started and
    // every deadline judged in that turn uses the same reading.
    let mut now = Instant::now();
    let mut last_wake = now;
    loop {
        while let Some(action) = director.poll_action() {
            match action {
                Action::Probe { id, spec, timeout } => {
                    engine.start(poll.registry(), id, spec, timeout, now)
                }
                Action::Apply(table) => {
                    match backend.apply(poll.registry(), &applied, &table) {
                        Ok(()) => applied = table,
                        Err(e) => error!("{e}"),
                    }
                    write_state(opts, &director, director.is_active() && rules_stand);
                }
                Action::FallbackCommand { command, args } => {
                    if let Err(e) = engine.run_detached(&command, &args) {
                        error!("fallbackcommand {command}: {e}");
                    }
                }
                Action::Log(Level::Info, text) => info!("{text}"),
                Action::Log(Level::Warn, text) => warn!("{text}"),
            }
        }
        let idle = match &backend {
            Backend::Nft(r) => !r.busy(),
            Backend::Ipvs(_) => true,
        };
        // Once the first table of an activation has landed the director shows active, until
        // it is deactivated (later tables being written do not make it look stopped).
        let stands = if director.is_active() {
            rules_stand || (idle && director.table().is_some())
        } else {
            false
        };
        if stands != rules_stand {
            rules_stand = stands;
            write_state(opts, &director, rules_stand);
        }
        if director.take_changed() {
            write_state(opts, &director, director.is_active() && rules_stand);
        }
        // Started: the first rules stand (active), or the first round is done (warm).
        if !ready && director.first_round_done() && (!director.is_active() || rules_stand) {
            ready = true;
            starter.ready();
            give_back_memory();
        }
        // A check can end while it starts (a refused connection to a local address): its
        // verdict is taken now, not after the next sleep.
        let early = engine.take_verdicts();
        if !early.is_empty() {
            for v in early {
                director.verdict(v.id, v.ok, &v.detail);
            }
            continue;
        }
        let mut wake = director
            .next_deadline()
            .map(|ms| epoch + Duration::from_millis(ms));
        if let Some(d) = engine.next_deadline() {
            wake = Some(wake.map_or(d, |w| w.min(d)));
        }
        if autoreload {
            wake = Some(wake.map_or(next_look, |w| w.min(next_look)));
        }
        // With many checks in flight their answers are taken in batches: one wake-up per
        // BATCH_WINDOW rather than one per answer (a context switch each). An answer waits at
        // most that long; it is still read before any deadline is judged.
        if engine.in_flight() >= BATCH_MIN_IN_FLIGHT {
            let nap = (last_wake + BATCH_WINDOW).saturating_duration_since(now);
            let nap = wake.map_or(nap, |w| nap.min(w.saturating_duration_since(now)));
            if !nap.is_zero() {
                std::thread::sleep(nap);
                now = Instant::now();
            }
        }
        let timeout = wake.map(|w| w.saturating_duration_since(now));
        let polled = poll.poll(&mut events, timeout);
        now = Instant::now();
        last_wake = now;
        match polled {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let mut reload = false;
        for ev in events.iter() {
            if ev.token() == SIGNAL_TOKEN {
                for sig in signals.pending() {
                    match sig {
                        SIGHUP => reload = true,
                        SIGUSR1 if !director.is_active() => {
                            info!("activated: rules from the health already known");
                            director.set_active(true);
                            write_state(opts, &director, director.is_active() && rules_stand);
                        }
                        SIGUSR2 if director.is_active() => {
                            info!("back to warm standby: rules removed, checks go on");
                            if let Err(e) = backend.clear(poll.registry(), &applied) {
                                error!("{e}");
                            }
                            applied = Table::default();
                            director.set_active(false);
                            write_state(opts, &director, director.is_active() && rules_stand);
                        }
                        SIGUSR1 | SIGUSR2 => {}
                        _ => {
                            info!("stopping (signal {sig})");
                            return stop(opts, &mut backend, poll.registry(), &director, &applied);
                        }
                    }
                }
            } else if ev.token() == NFT_TOKEN {
                if let Backend::Nft(r) = &mut backend
                    && let Err(e) = r.on_exit(poll.registry())
                {
                    error!("{e}");
                }
            } else {
                engine.event(poll.registry(), ev.token(), Ready::of(ev));
            }
        }
        engine.expire(poll.registry(), now);
        for v in engine.take_verdicts() {
            director.verdict(v.id, v.ok, &v.detail);
        }
        if autoreload && now >= next_look {
            next_look = now + AUTORELOAD_EVERY;
            let m = modified(&opts.config);
            if m != stamp {
                stamp = m;
                info!("{} changed: reloading", opts.config.display());
                reload = true;
            }
        }
        if reload {
            match load(&opts.config) {
                Ok(config) => {
                    autoreload = config.globals.autoreload;
                    if let Some(cb) = &config.globals.callback {
                        let _ = engine.run_detached(cb, &[opts.config.display().to_string()]);
                    }
                    director = director.reload(config, ms(now));
                    info!("configuration reloaded");
                }
                Err(e) => error!("reload refused, the running configuration stays:\n{e}"),
            }
        }
        director.tick(ms(now));
    }
}

fn stop(
    opts: &RunOptions,
    backend: &mut Backend,
    registry: &Registry,
    director: &Director,
    applied: &Table,
) -> Result<(), String> {
    if director.config().globals.cleanstop {
        if let Err(e) = backend.clear(registry, applied) {
            error!("{e}");
        }
    } else {
        // The last table handed out still lands.
        if let Backend::Nft(r) = backend
            && let Err(e) = r.settle(registry)
        {
            error!("{e}");
        }
        info!("cleanstop=no: the rules stay in place");
    }
    if let Some(f) = &opts.state_file {
        let _ = std::fs::remove_file(f);
    }
    Ok(())
}

/// `mode=active|warm warm=yes|no`, then `SERVICE REAL up|down|unknown` lines, for `status`.
/// `active`: the director is active and its rules stand (status and the warm switch wait for
/// this, not for the decision).
fn write_state(opts: &RunOptions, director: &Director, active: bool) {
    let Some(path) = &opts.state_file else {
        return;
    };
    let mut text = format!(
        "mode={} warm={}\n",
        if active { "active" } else { "warm" },
        if opts.warm { "yes" } else { "no" }
    );
    for (service, real, up) in director.health() {
        let word = match up {
            Some(true) => "up",
            Some(false) => "down",
            None => "unknown",
        };
        text.push_str(&format!("{service} {real} {word}\n"));
    }
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Raises the open-file limit to its hard maximum (each check in flight is a descriptor);
/// returns the soft limit now in force.
fn raise_fd_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard as usize
            } else {
                soft as usize
            }
        }
        Err(_) => 1024,
    }
}

/// Large buffers (a table of thousands of servers as nft text, the state file) are mapped and
/// unmapped on their own. glibc otherwise raises its mapping threshold after the first such
/// buffer is freed, and the next ones, made on every change of health, fragment the heap: the
/// resident size of a director whose servers flap was seen to creep from 7 to 60 MB.
fn keep_large_buffers_apart() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; it takes no pointer.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Returns the heap the first round's burst of checks left free to the system: thousands of
/// checks at once at start peak far above the steady state.
fn give_back_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap memory; it takes no pointer.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
