//! The crash guard process: forked by the daemon at start, it holds the read end of a pipe
//! whose write end only the daemon has. EOF without a `bye` means the daemon died (kill -9,
//! abort, OOM kill): the guard removes the addresses of every group the daemon said it holds,
//! runs their stop chains with a short time limit, logs what it did and exits. A `watch`
//! period additionally turns a frozen daemon (no line for that long while holding groups) into
//! a dead one: the guard kills it, then cleans up the same way, before the peer's deadtime.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, kill, signal, sigprocmask};
use nix::unistd::{Pid, read};

use super::addr::{address_of, find_in_ip_output};
use super::protocol::{GuardCommand, Holdings, MAX_LINE};
use super::run::{ip_binary, run_bounded};
use crate::config::haresources::parse_resource;
use crate::core::ScriptOp;
use crate::resource::{Resolver, Runner};

/// What the guard needs to act alone once the daemon is gone.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Node name for the log lines.
    pub node: String,
    /// Log files to append to (`logfile`, `debugfile`).
    pub logfiles: Vec<PathBuf>,
    /// Also write the lines to stderr.
    pub stderr: bool,
    /// Finds the stop scripts.
    pub resolver: Resolver,
    /// Address resources are in-process (`native_addresses`): removing the address is their
    /// whole stop, done before the scripts.
    pub native_addresses: bool,
    /// Extra environment of the stop scripts (`resource::script_env`).
    pub env: Vec<(String, String)>,
    /// Limit of each `ip` command.
    pub ip_timeout: Duration,
    /// Limit of each stop script.
    pub script_timeout: Duration,
    /// Tell the peer we released everything (`None`: let it wait for deadtime).
    pub last_words: Option<super::lastwords::LastWords>,
}

impl GuardSettings {
    /// Settings from a configuration: stop scripts get the resource timeout, capped at 10 s
    /// (nobody waits for them any more, but a hung script must not keep the guard forever).
    pub fn from_config(config: &crate::config::Config, resolver: Resolver, stderr: bool) -> Self {
        let mut logfiles = Vec::new();
        logfiles.extend(config.ha.logfile.clone());
        logfiles.extend(config.ha.debugfile.clone());
        GuardSettings {
            node: config.local.clone(),
            logfiles,
            stderr,
            resolver,
            native_addresses: config.ha.vip.native,
            env: crate::resource::script_env(config),
            ip_timeout: Duration::from_secs(2),
            script_timeout: Duration::from_millis(config.ha.resource_timeout.clamp(1000, 10_000)),
            last_words: Some(super::lastwords::LastWords::from_config(config)),
        }
    }
}

/// Why the guard is cleaning up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// EOF without `bye`.
    DaemonDied,
    /// No line for the watch period while holding groups.
    DaemonFrozen { millis: u64 },
}

/// The guard's main loop; never returns (the forked child ends here).
pub(super) fn guardian_main(pipe: OwnedFd, daemon: Pid, settings: GuardSettings) -> ! {
    prepare_process(pipe.as_raw_fd());
    let mut holdings = Holdings::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut last_sign = Instant::now();
    let mut buf = [0u8; 4096];
    let trigger = loop {
        let watch = holdings.watch_millis();
        let timeout = if watch > 0 && !holdings.is_empty() {
            let left = Duration::from_millis(watch).saturating_sub(last_sign.elapsed());
            PollTimeout::try_from(left.as_millis().min(60_000) as u32).unwrap_or(PollTimeout::MAX)
        } else {
            PollTimeout::NONE
        };
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => {
                if watch > 0
                    && !holdings.is_empty()
                    && last_sign.elapsed().as_millis() >= watch as u128
                {
                    break Trigger::DaemonFrozen { millis: watch };
                }
                continue;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break Trigger::DaemonDied,
        }
        match read(&pipe, &mut buf) {
            Ok(0) => break Trigger::DaemonDied,
            Ok(n) => {
                last_sign = Instant::now();
                pending.extend_from_slice(&buf[..n]);
                while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                    if let Some(cmd) = GuardCommand::parse(&text) {
                        holdings.apply(cmd);
                    }
                }
                if pending.len() > MAX_LINE {
                    pending.clear();
                }
            }
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(_) => break Trigger::DaemonDied,
        }
    };
    if trigger == Trigger::DaemonDied && holdings.clean_exit() {
        exit_now(0);
    }
    let log = GuardLog::new(&settings);
    if let Trigger::DaemonFrozen { millis } = trigger {
        log.crit(&format!(
            "crash guard: daemon [{daemon}] gave no sign of life for {millis} ms while holding resources: killing it"
        ));
        let _ = kill(daemon, Signal::SIGKILL);
    }
    if holdings.is_empty() {
        // Quiet when the daemon never held anything (e.g. it refused to start). Nothing to
        // hand over either: the peer holds what there is and learns of us at its deadtime.
        if trigger == Trigger::DaemonDied && holdings.ever_held() {
            log.crit(&format!(
                "crash guard: daemon [{daemon}] died; it held no resources: nothing to release"
            ));
        }
        exit_now(0);
    }
    let (_, failed) = clean_up(&holdings, &settings, &log, daemon);
    say_last_words(&holdings, &settings, &log, failed);
    exit_now(0)
}

/// Tells the peer that everything is released, so that it takes over now rather than after
/// its deadtime. Only when every stop succeeded: a resource that may still run here must be
/// left to the peer's deadtime, as without the guard.
fn say_last_words(holdings: &Holdings, settings: &GuardSettings, log: &GuardLog, failed: usize) {
    let (Some(words), Some(ident)) = (settings.last_words.as_ref(), holdings.ident()) else {
        return;
    };
    if failed > 0 {
        log.crit(&format!(
            "crash guard: {failed} stop(s) failed: not telling the peer (it takes over after its deadtime)"
        ));
        return;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    match words.packets(&ident, secs) {
        Ok(packets) => {
            let report = words.send(&packets);
            log.crit(&format!(
                "crash guard: told the peer everything is released (shutdone, seq {:x}): {}",
                ident.last_seq.saturating_add(1),
                report.join("; ")
            ));
        }
        Err(e) => log.crit(&format!("crash guard: no shutdown notice sent: {e}")),
    }
}

/// Removes the addresses first (fast, by `ip`), then runs each held group's stop chain
/// right to left. Returns (addresses removed, scripts that failed).
pub fn clean_up(
    holdings: &Holdings,
    settings: &GuardSettings,
    log: &GuardLog,
    daemon: Pid,
) -> (usize, usize) {
    let t0 = Instant::now();
    let groups: Vec<(usize, Vec<String>)> =
        holdings.groups().map(|(g, r)| (g, r.to_vec())).collect();
    let summary: Vec<String> = groups
        .iter()
        .map(|(g, r)| format!("{g}: {}", r.join(" ")))
        .collect();
    log.crit(&format!(
        "crash guard: daemon [{daemon}] died holding resources; releasing [{}]",
        summary.join("; ")
    ));
    let ip = ip_binary();
    let mut removed = 0;
    let wanted: Vec<_> = groups
        .iter()
        .flat_map(|(_, r)| r.iter().rev().filter_map(|w| address_of(w)))
        .collect();
    let by_netlink = if wanted.is_empty() {
        None
    } else {
        match remove_by_netlink(&wanted) {
            Ok(places) => Some(places),
            Err(e) => {
                log.crit(&format!(
                    "crash guard: netlink unavailable ({e}); removing addresses with ip"
                ));
                None
            }
        }
    };
    if let Some(places) = &by_netlink {
        // One line per address for a few; a summary for a big group (the log is a file).
        let ms = t0.elapsed().as_millis();
        for (i, (place, result)) in places.iter().enumerate() {
            if result.is_ok() {
                removed += 1;
            }
            if i < 16 || result.is_err() {
                let how = match result {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("FAILED: {e}"),
                };
                log.crit(&format!(
                    "crash guard: removed {place}: {how} ({ms} ms after the daemon's death)"
                ));
            }
        }
        if places.len() > 16 {
            log.crit(&format!(
                "crash guard: {removed} of {} addresses removed in one netlink batch ({ms} ms after the daemon's death)",
                places.len()
            ));
        }
    } else if !wanted.is_empty() {
        let args: Vec<String> = ["-o", "addr", "show"].map(String::from).to_vec();
        let (outcome, listing) = run_bounded(&ip, &args, &[], settings.ip_timeout, true);
        if !outcome.ok() {
            log.crit(&format!(
                "crash guard: cannot list addresses ({})",
                outcome.describe()
            ));
        }
        for a in wanted {
            for c in find_in_ip_output(&listing, a) {
                let del = ["addr", "del", &c.cidr, "dev", &c.device]
                    .map(String::from)
                    .to_vec();
                let (o, _) = run_bounded(&ip, &del, &[], settings.ip_timeout, false);
                if o.ok() {
                    removed += 1;
                }
                log.crit(&format!(
                    "crash guard: removed {} from {}: {} ({} ms after the daemon's death)",
                    c.cidr,
                    c.device,
                    o.describe(),
                    t0.elapsed().as_millis()
                ));
            }
        }
    }
    let mut failed = 0;
    for (g, resources) in &groups {
        for word in resources.iter().rev() {
            let runner = parse_resource(word).map_err(|(m, _)| m).and_then(|r| {
                settings
                    .resolver
                    .runner(&r, settings.native_addresses)
                    .map_err(|e| e.to_string())
            });
            let inv = match runner {
                Ok(Runner::Script(i)) => i,
                // Its address went with the others above.
                Ok(Runner::Native(_)) => continue,
                Err(e) => {
                    failed += 1;
                    log.crit(&format!("crash guard: cannot stop {word} (group {g}): {e}"));
                    continue;
                }
            };
            let mut env = settings.env.clone();
            env.extend(inv.env.iter().cloned());
            let (o, _) = run_bounded(
                &inv.program,
                &inv.argv(ScriptOp::Stop),
                &env,
                settings.script_timeout,
                false,
            );
            if !o.ok() {
                failed += 1;
            }
            log.crit(&format!(
                "crash guard: {}: {}",
                inv.command_line(ScriptOp::Stop),
                o.describe()
            ));
        }
    }
    log.crit(&format!(
        "crash guard: done in {} ms: {removed} address(es) removed, {failed} stop failure(s)",
        t0.elapsed().as_millis()
    ));
    (removed, failed)
}

/// Removes every configured copy of the `wanted` addresses in one netlink batch; each place
/// (`ADDR/P from DEV`) with its result.
fn remove_by_netlink(
    wanted: &[std::net::IpAddr],
) -> std::io::Result<Vec<(String, std::io::Result<()>)>> {
    use crate::daemon::vip::rtnl::{Removal, Rtnl};
    let mut rtnl = Rtnl::open()?;
    let snap = rtnl.snapshot()?;
    let mut removals = Vec::new();
    let mut places = Vec::new();
    for &a in wanted {
        for held in snap.holders(a) {
            removals.push(Removal {
                index: held.index,
                addr: held.addr,
                prefix: held.prefix,
            });
            let dev = snap
                .link(held.index)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| held.index.to_string());
            places.push(format!("{}/{} from {dev}", held.addr, held.prefix));
        }
    }
    let results = rtnl.remove(&removals);
    Ok(places.into_iter().zip(results).collect())
}

/// Makes the forked child a quiet, independent, hard-to-kill guard.
fn prepare_process(keep: RawFd) {
    close_other_fds(keep);
    let _ = nix::unistd::setsid();
    // The OOM killer must pick the daemon, not its guard.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    // SAFETY: plain dispositions, no handlers: the child is single-threaded.
    unsafe {
        for s in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGPIPE,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGQUIT,
        ] {
            let _ = signal(s, SigHandler::SigIgn);
        }
        let _ = signal(Signal::SIGCHLD, SigHandler::SigDfl);
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    set_name("hb-crash-guard");
}

/// Closes every inherited descriptor except stdin/stdout/stderr and `keep`: a lock file or
/// socket of the daemon held by the guard would outlive the daemon.
fn close_other_fds(keep: RawFd) {
    let fds: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in fds {
        if fd > 2 && fd != keep {
            // SAFETY: closing descriptors of the daemon we inherited; none is used afterwards.
            unsafe {
                nix::libc::close(fd);
            }
        }
    }
}

fn set_name(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        unsafe {
            nix::libc::prctl(nix::libc::PR_SET_NAME, c.as_ptr(), 0, 0, 0);
        }
    }
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit skips the parent's atexit handlers and buffered streams, as a forked
    // child must.
    unsafe { nix::libc::_exit(code) }
}

/// Log lines in the daemon's shape: `Nov 23 06:44:27 node heartbeat: [PID]: CRIT: text`.
pub struct GuardLog {
    node: String,
    files: Vec<PathBuf>,
    stderr: bool,
}

impl GuardLog {
    pub fn new(settings: &GuardSettings) -> Self {
        GuardLog {
            node: settings.node.clone(),
            files: settings.logfiles.clone(),
            stderr: settings.stderr,
        }
    }

    pub fn crit(&self, text: &str) {
        let line = format!(
            "{} {} heartbeat: [{}]: CRIT: {text}\n",
            timestamp(),
            self.node,
            std::process::id()
        );
        for f in &self.files {
            if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(f) {
                let _ = file.write_all(line.as_bytes());
            }
        }
        if self.stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// `Nov 23 06:44:27`, local time.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = secs as nix::libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r writes only into it.
    let mut tm: nix::libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let ok = unsafe { !nix::libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return "Jan  1 00:00:00".to_string();
    }
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}
