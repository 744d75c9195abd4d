//! The two-node failover test bed shared by the end-to-end suite, the demo and the benchmark.
//!
//! Layout (all addresses from the documentation ranges):
//! - `pub` namespace: a bridge, the public segment 192.0.2.0/24;
//! - node A (`nodea`, 192.0.2.1) and node B (`nodeb`, 192.0.2.2), each with `eth0` on the bridge
//!   and `hb0` on a dedicated veth heartbeat link 198.51.100.0/24 (A .1, B .2);
//! - a client (192.0.2.100) on the bridge; the VIP 192.0.2.10/24 moves between A and B and an
//!   `httpd` resource serves a page naming its node.
//!
//! Each node runs its daemon inside `ip netns exec` + `unshare --mount --uts`, with its own
//! `/etc/ha.d`, `/var/lib/heartbeat`, `/run` (bind mounts of per-node temp directories) and
//! hostname, so the real Heartbeat 3.0.6 and keepalived can run twice on one machine with their
//! default paths. Everything is torn down on drop; every wait is bounded.
#![allow(dead_code)]

#[path = "testbed/config.rs"]
pub mod config;
#[path = "testbed/probe.rs"]
pub mod probe;

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::netns::{ChildGuard, Netns, run, unique};

/// The service address.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The client's address on the public segment.
pub const CLIENT_IP: &str = "192.0.2.100";
/// Node names, index 0 = A, 1 = B.
pub const NODE_NAMES: [&str; 2] = ["nodea", "nodeb"];

/// Which daemon a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// heartbeat-rs (this crate's binaries).
    Ours,
    /// Debian's Heartbeat 3.0.6 in v1 (haresources) mode.
    Heartbeat,
    /// keepalived 2.2.7, VRRPv3 over the dedicated link.
    Keepalived,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "ours" | "heartbeat-rs" => Some(Kind::Ours),
            "heartbeat" => Some(Kind::Heartbeat),
            "keepalived" => Some(Kind::Keepalived),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Ours => "heartbeat-rs",
            Kind::Heartbeat => "heartbeat-3.0.6",
            Kind::Keepalived => "keepalived-2.2.7",
        }
    }

    /// The executable of the daemon (what `/proc/PID/exe` points to).
    pub fn daemon_exe(self, bin_dir: &Path) -> PathBuf {
        match self {
            Kind::Ours => bin_dir.join("heartbeat"),
            Kind::Heartbeat => PathBuf::from("/usr/libexec/heartbeat/heartbeat"),
            Kind::Keepalived => PathBuf::from("/usr/sbin/keepalived"),
        }
    }

    /// Why this kind cannot run here, if it cannot.
    pub fn missing(self, bin_dir: &Path) -> Option<String> {
        let exe = self.daemon_exe(bin_dir);
        if !exe.exists() {
            return Some(format!("{} not found", exe.display()));
        }
        if self == Kind::Ours {
            return ["cl_status", "hb_standby", "hb_takeover"]
                .iter()
                .map(|t| bin_dir.join(t))
                .find(|p| !p.exists())
                .map(|p| format!("{} not built", p.display()));
        }
        let tools: &[&str] = match self {
            Kind::Ours => &[],
            Kind::Heartbeat => &["/usr/bin/cl_status", "/usr/share/heartbeat/hb_standby"],
            Kind::Keepalived => &[],
        };
        tools
            .iter()
            .find(|t| !Path::new(t).exists())
            .map(|t| format!("{t} not found"))
    }
}

/// Cluster timers. keepalived uses `keepalive` as its advert interval unless
/// [`BedOptions::keepalived_advert_cs`] says otherwise (its dead time is 3 adverts plus skew).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub warntime_ms: u64,
    pub initdead_ms: u64,
}

impl Timers {
    /// The common setting of the benchmark: keepalive 1 s, deadtime 5 s.
    pub fn common() -> Timers {
        Timers {
            keepalive_ms: 1000,
            deadtime_ms: 5000,
            warntime_ms: 3000,
            initdead_ms: 10000,
        }
    }

    /// Short timers for the test suite.
    pub fn short() -> Timers {
        Timers {
            keepalive_ms: 250,
            deadtime_ms: 2000,
            warntime_ms: 1000,
            initdead_ms: 4000,
        }
    }
}

/// What a test bed is built with.
#[derive(Clone, Debug)]
pub struct BedOptions {
    /// Daemon of node A and node B (mixed only for Ours/Heartbeat interoperability).
    pub kinds: [Kind; 2],
    pub timers: Timers,
    pub auto_failback: bool,
    /// The key line of authkeys: `sha1 secret`, `md5 secret` or `crc`.
    pub auth: String,
    /// Where this crate's binaries are (`heartbeat`, `cl_status`, `hb_standby`, `hb_takeover`).
    pub bin_dir: PathBuf,
    /// Directory with this crate's resource scripts (copied into each ha.d/resource.d of ours).
    pub resource_dir: PathBuf,
    /// Copy the `IPaddr`/`IPaddr2` scripts too, so that they run instead of the in-process
    /// addresses (an administrator's own script wins): the script path, for comparison.
    pub address_scripts: bool,
    /// Addresses in the group (the VIP and `vips - 1` more, [`config::extra_vips`]).
    pub vips: usize,
    /// Lines appended to both nodes' ha.cf (e.g. `ping 192.0.2.254`).
    pub extra_ha_cf: String,
    /// Lines appended to the ha.cf of heartbeat-rs nodes only (directives of our own, which a
    /// real Heartbeat would refuse, e.g. `monitor`).
    pub ours_ha_cf: String,
    /// Lines appended to node A's and node B's ha.cf each (e.g. their own `serial` device).
    pub node_ha_cf: [String; 2],
    /// keepalived `vrrp_script` on the web server (interval s, fall, rise), weight -100 so the
    /// peer wins while it fails: the monitoring benchmark's reference.
    pub keepalived_check: Option<(u32, u32, u32)>,
    /// keepalived's `advert_int` in centiseconds; None = the keepalive
    /// ([`config::keepalived_advert_cs`]).
    pub keepalived_advert_cs: Option<u64>,
}

impl BedOptions {
    pub fn new(kind: Kind, bin_dir: &Path) -> BedOptions {
        BedOptions {
            kinds: [kind, kind],
            timers: Timers::short(),
            auto_failback: true,
            auth: "sha1 e2e-secret".to_string(),
            bin_dir: bin_dir.to_path_buf(),
            resource_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("resource.d"),
            address_scripts: false,
            vips: 1,
            extra_ha_cf: String::new(),
            ours_ha_cf: String::new(),
            node_ha_cf: [String::new(), String::new()],
            keepalived_check: None,
            keepalived_advert_cs: None,
        }
    }
}

/// Whether a heartbeat-rs + Heartbeat 3.0.6 bed can run here (root, iproute2, both kinds);
/// prints why not.
pub fn mixed_pair_possible(bin_dir: &Path, test: &str) -> bool {
    if !super::netns::can_use_netns() {
        eprintln!("{test}: skipped: needs root and iproute2");
        return false;
    }
    for k in [Kind::Ours, Kind::Heartbeat] {
        if let Some(why) = k.missing(bin_dir) {
            eprintln!("{test}: skipped: {}: {why}", k.label());
            return false;
        }
    }
    true
}

/// The daemon kind the suite runs: `HB_E2E_KIND` = ours (default) | heartbeat | keepalived.
pub fn suite_kind() -> Kind {
    std::env::var("HB_E2E_KIND")
        .ok()
        .and_then(|k| Kind::parse(&k))
        .unwrap_or(Kind::Ours)
}

/// A bed for one suite test, or None (with the reason printed) when the test must be skipped:
/// not root, a tool missing, or the kind cannot express the scenario.
pub fn suite_bed(bin_dir: &Path, auto_failback: bool, test: &str) -> Option<Testbed> {
    if !super::netns::can_use_netns() {
        eprintln!("{test}: skipped: needs root and iproute2");
        return None;
    }
    let kind = suite_kind();
    let mut opts = BedOptions::new(kind, bin_dir);
    opts.auto_failback = auto_failback;
    let mut missing = kind.missing(bin_dir);
    for tool in ["nft", "unshare", config::HTTPD_BIN] {
        if missing.is_none() && !run(&format!("command -v {tool}")).status.success() {
            missing = Some(format!("{tool} not installed"));
        }
    }
    if let Some(why) = missing {
        eprintln!("{test}: skipped for {}: {why}", kind.label());
        return None;
    }
    match Testbed::new(opts) {
        Ok(bed) => Some(bed),
        Err(e) => panic!("{test}: cannot build the test bed: {e}"),
    }
}

/// One cluster node: namespace, files, daemon.
pub struct Node {
    pub idx: usize,
    pub name: &'static str,
    pub kind: Kind,
    pub dir: PathBuf,
    pub bin_dir: PathBuf,
    /// When the daemon was last started (Heartbeat advertises a longer dead time for 5 s).
    pub started_at: Option<Instant>,
    daemon: Option<ChildGuard>,
    /// Declared last so that the namespace (and every process in it) goes after the daemon guard.
    pub ns: Netns,
}

impl Node {
    pub fn ha_dir(&self) -> PathBuf {
        self.dir.join("ha.d")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("lib")
    }
    /// The node's `/run` (bind-mounted over `/run` in its mount namespace).
    pub fn run_root(&self) -> PathBuf {
        self.dir.join("run")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.run_root().join("heartbeat")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }
    /// The log where the daemon reports peers' deaths and takeovers.
    pub fn log_path(&self) -> PathBuf {
        match self.kind {
            Kind::Keepalived => self.log_dir().join("daemon.out"),
            _ => self.log_dir().join("ha-log"),
        }
    }
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
    pub fn public_ip(&self) -> String {
        format!("192.0.2.{}", self.idx + 1)
    }
    pub fn hb_ip(&self) -> String {
        format!("198.51.100.{}", self.idx + 1)
    }

    /// Shell text that gives `cmd` this node's view: own /etc/ha.d, /var/lib/heartbeat, /run and
    /// hostname (private mount propagation: nothing leaks to the host).
    pub fn view(&self, cmd: &str) -> String {
        let d = self.dir.display();
        format!(
            "[ -d /etc/ha.d ] && mount --bind {d}/ha.d /etc/ha.d; \
             [ -d /var/lib/heartbeat ] && mount --bind {d}/lib /var/lib/heartbeat; \
             mount --bind {d}/run /run && hostname {n} && {cmd}",
            n = self.name
        )
    }

    /// Runs a shell command in the node's namespace and view; returns its output.
    pub fn exec(&self, cmd: &str) -> Output {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns.name,
                "unshare",
                "--mount",
                "--uts",
            ])
            .args(["sh", "-c", &self.view(cmd)])
            .stdin(Stdio::null())
            .output();
        out.unwrap_or_else(|e| fake_output(&e.to_string()))
    }

    /// The daemon's command line inside the view.
    fn daemon_cmd(&self) -> String {
        let d = self.dir.display();
        match self.kind {
            Kind::Ours => format!(
                "exec {} --ha-dir {d}/ha.d --state-dir {d}/lib --run-dir {d}/run/heartbeat --node {}",
                self.kind.daemon_exe(&self.bin_dir).display(),
                self.name
            ),
            Kind::Heartbeat => "exec /usr/libexec/heartbeat/heartbeat -f".to_string(),
            Kind::Keepalived => format!(
                "exec /usr/sbin/keepalived -n -l -D -G -P -f {d}/keepalived.conf \
                 -p {d}/run/keepalived.pid -r {d}/run/keepalived-vrrp.pid"
            ),
        }
    }

    /// Starts the daemon (in the foreground of its own process, output to the node's log dir).
    pub fn start(&mut self) -> Result<(), String> {
        if self.daemon.is_some() {
            return Err(format!("{}: daemon already started", self.name));
        }
        for stale in ["heartbeat.pid", "keepalived.pid", "keepalived-vrrp.pid"] {
            let _ = fs::remove_file(self.run_root().join(stale));
        }
        let out_path = self.log_dir().join(match self.kind {
            Kind::Keepalived => "daemon.out",
            _ => "daemon.stdout",
        });
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .map_err(|e| format!("{}: {e}", out_path.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns.name,
                "unshare",
                "--mount",
                "--uts",
            ])
            .args(["sh", "-c", &self.view(&self.daemon_cmd())])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn daemon: {e}"))?;
        self.daemon = Some(ChildGuard { child: Some(child) });
        self.started_at = Some(Instant::now());
        Ok(())
    }

    /// Whether the daemon process we started still runs (zombies count as dead).
    pub fn daemon_running(&mut self) -> bool {
        let Some(g) = self.daemon.as_mut() else {
            return false;
        };
        matches!(g.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Waits (bounded) for the daemon process to exit by itself; reaps it.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.daemon_running() {
                self.daemon = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Every live process in this node's network namespace.
    pub fn pids(&self) -> Vec<i32> {
        pids_in_netns(&self.ns.name)
    }

    /// The processes of the daemon (master and children), by executable.
    pub fn daemon_pids(&self) -> Vec<i32> {
        let exe = self.kind.daemon_exe(&self.bin_dir);
        let exe = fs::canonicalize(&exe).unwrap_or(exe);
        self.pids()
            .into_iter()
            .filter(|p| {
                fs::read_link(format!("/proc/{p}/exe"))
                    .map(|l| {
                        let s = l.to_string_lossy();
                        s.trim_end_matches(" (deleted)") == exe.to_string_lossy()
                    })
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Fault: kill -9 of the daemon's main process, as `kill -9 $(cat pidfile)`, the OOM
    /// killer or a crash of the daemon do; its helper processes (our crash guard, keepalived's
    /// VRRP child, Heartbeat's media children) live on and do what they were built to do.
    pub fn kill9_main(&mut self) {
        if let Some(p) = self.daemon.as_ref().map(|g| g.pid()) {
            signal_all(&[p as i32], nix::sys::signal::Signal::SIGKILL);
        }
        self.reap_daemon();
    }

    /// Fault: kill -9 every process of the daemon at once (`killall -9`: nothing of the daemon
    /// survives to act or speak; resources are left as they are).
    pub fn kill9(&mut self) {
        signal_all(&self.daemon_pids(), nix::sys::signal::Signal::SIGKILL);
        self.reap_daemon();
    }

    fn reap_daemon(&mut self) {
        if let Some(mut g) = self.daemon.take() {
            if let Some(c) = g.child.as_mut() {
                let _ = c.wait();
            }
            g.child = None;
        }
    }

    /// Fault: SIGTERM to the daemon (graceful stop).
    pub fn sigterm(&self) {
        if let Some(p) = self.daemon.as_ref().map(|g| g.pid()) {
            signal_all(&[p as i32], nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Fault: SIGHUP to the daemon (reload).
    pub fn sighup(&self) {
        if let Some(p) = self.daemon.as_ref().map(|g| g.pid()) {
            signal_all(&[p as i32], nix::sys::signal::Signal::SIGHUP);
        }
    }

    /// Fault: SIGSTOP every process of the node (a hung machine; its kernel still answers).
    pub fn freeze(&self) {
        signal_all(&self.pids(), nix::sys::signal::Signal::SIGSTOP);
    }

    /// Fault: `kill -9` of the web server (the service dies, the daemon does not). Returns
    /// whether a server was running, once none of this node's is left.
    pub fn kill9_httpd(&self) -> bool {
        let by_pid_file = fs::read_to_string(self.dir.join("httpd.pid"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .is_some_and(|pid| {
                nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .is_ok()
            });
        // Every server of this node, by its document root: a kill through the pid file once
        // seemed not to take (the monitor saw the server running on), so none is left to luck.
        let www = self.dir.join("www").display().to_string();
        let by_name = Command::new("pkill")
            .args(["-KILL", "-f", &www])
            .status()
            .is_ok_and(|s| s.success());
        // Signals are delivered when the process next runs: return once none is left, so that
        // what follows sees a dead service.
        let left = || {
            Command::new("pgrep")
                .args(["-f", &www])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        super::netns::wait_until(Duration::from_secs(2), Duration::from_millis(5), || !left());
        by_pid_file || by_name
    }

    /// Ends a freeze.
    pub fn thaw(&self) {
        signal_all(&self.pids(), nix::sys::signal::Signal::SIGCONT);
    }

    /// Fault: `hb_standby` (for keepalived: its track file drops the priority below the peer's).
    pub fn standby(&self) -> Output {
        match self.kind {
            Kind::Ours => self.exec(&format!(
                "{} --run-dir {}",
                self.bin_dir.join("hb_standby").display(),
                self.run_dir().display()
            )),
            Kind::Heartbeat => self.exec("/usr/share/heartbeat/hb_standby"),
            Kind::Keepalived => write_output(&self.dir.join("standby"), "1\n"),
        }
    }

    /// `hb_takeover` (for keepalived: clears this node's standby and sets the peer's is not
    /// available, so only the first part).
    pub fn takeover(&self) -> Output {
        match self.kind {
            Kind::Ours => self.exec(&format!(
                "{} --run-dir {}",
                self.bin_dir.join("hb_takeover").display(),
                self.run_dir().display()
            )),
            Kind::Heartbeat => self.exec("/usr/share/heartbeat/hb_takeover"),
            Kind::Keepalived => write_output(&self.dir.join("standby"), "0\n"),
        }
    }

    /// `cl_status ARGS` on this node (None for keepalived, which has no such tool).
    pub fn cl_status(&self, args: &str) -> Option<Output> {
        match self.kind {
            Kind::Ours => Some(self.exec(&format!(
                "{} --run-dir {} {args}",
                self.bin_dir.join("cl_status").display(),
                self.run_dir().display()
            ))),
            Kind::Heartbeat => Some(self.exec(&format!("/usr/bin/cl_status {args}"))),
            Kind::Keepalived => None,
        }
    }

    /// `cl_status rscstatus`: `all`, `local`, `foreign`, `none` or `transition`.
    pub fn rscstatus(&self) -> Option<String> {
        let out = self.cl_status("rscstatus")?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// What this node's daemon says of a node (`active`, `dead`...), via cl_status.
    pub fn node_status(&self, node: &str) -> Option<String> {
        let out = self.cl_status(&format!("nodestatus {node}"))?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Whether the VIP is configured on this node right now.
    pub fn has_vip(&self) -> bool {
        probe::in_netns(&self.ns.name, || probe::has_addr_here(VIP)).unwrap_or(false)
    }

    /// A crashed machine comes back: every process of the node killed, the VIP and /run state
    /// gone (as after a reboot), then the daemon started again.
    /// A frozen node is killed without being thawed first: thawing would let it send one more
    /// heartbeat with its old generation, which the original takes as a healed partition.
    pub fn reboot(&mut self) -> Result<(), String> {
        self.power_off();
        self.start()
    }

    /// Kills everything on the node and forgets volatile state (VIP, pid files).
    pub fn power_off(&mut self) {
        let mut left = self.pids();
        for _ in 0..50 {
            if left.is_empty() {
                break;
            }
            signal_all(&left, nix::sys::signal::Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(20));
            left = self.pids();
        }
        if let Some(mut g) = self.daemon.take() {
            if let Some(c) = g.child.as_mut() {
                // Never wait on a child that is still alive, whatever the scan above saw.
                let _ = c.kill();
                let _ = c.wait();
            }
            g.child = None;
        }
        let _ = run(&format!(
            "ip -n {} addr del 192.0.2.10/24 dev eth0 2>/dev/null",
            self.ns.name
        ));
        let _ = fs::remove_file(self.dir.join("httpd.pid"));
    }

    /// Replaces the node's nft fault table with the given rules (empty = no fault).
    pub fn set_nft(&self, rules: &[&str]) -> Result<(), String> {
        let mut text = String::from("table inet tbfault\ndelete table inet tbfault\n");
        if !rules.is_empty() {
            text.push_str("table inet tbfault {\n");
            text.push_str(" chain in { type filter hook input priority -10; }\n");
            text.push_str(" chain out { type filter hook output priority -10; }\n}\n");
            for r in rules {
                text.push_str(r);
                text.push('\n');
            }
        }
        let path = self.dir.join("fault.nft");
        fs::write(&path, text).map_err(|e| e.to_string())?;
        let out = run(&format!(
            "ip netns exec {} nft -f {}",
            self.ns.name,
            path.display()
        ));
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Fault: the heartbeat link is cut at this node (every packet on hb0 dropped both ways).
    pub fn cut_hb_link(&self) -> Result<(), String> {
        self.set_nft(&[
            "add rule inet tbfault in iifname \"hb0\" drop",
            "add rule inet tbfault out oifname \"hb0\" drop",
        ])
    }

    /// Fault: drop `pct` % of the packets arriving on hb0 (nft `numgen random`; no netem here).
    pub fn drop_hb_percent(&self, pct: u32) -> Result<(), String> {
        let rule =
            format!("add rule inet tbfault in iifname \"hb0\" numgen random mod 100 < {pct} drop");
        self.set_nft(&[&rule])
    }

    /// Removes every nft fault of this node.
    pub fn heal(&self) -> Result<(), String> {
        self.set_nft(&[])
    }

    /// Idle figures of the daemon's processes: (RSS kB summed, CPU ticks summed).
    pub fn daemon_usage(&self) -> (u64, u64) {
        let mut rss = 0;
        let mut ticks = 0;
        for p in self.daemon_pids() {
            rss += proc_rss_kb(p);
            ticks += proc_cpu_ticks(p);
        }
        (rss, ticks)
    }

    /// Packets sent on hb0 so far (kernel counter).
    pub fn hb_tx_packets(&self) -> u64 {
        let out = run(&format!(
            "ip netns exec {} cat /sys/class/net/hb0/statistics/tx_packets",
            self.ns.name
        ));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

/// The VIP sampled on both nodes.
pub struct VipWatch {
    a: probe::AddrWatch,
    b: probe::AddrWatch,
}

impl VipWatch {
    /// Stops sampling; returns the intervals in which the VIP was on both nodes.
    pub fn both_intervals(self) -> Vec<(Instant, Instant)> {
        let end = Instant::now();
        let a = self.a.finish();
        let b = self.b.finish();
        probe::overlaps(&a, &b, end)
    }
}

/// Whether every interval lies inside one of the allowed windows. The end of a window gets 500 ms
/// of slack: a sampler thread on a busy machine notices a removed address a little late.
pub fn inside_windows(intervals: &[(Instant, Instant)], windows: &[(Instant, Instant)]) -> bool {
    let slack = Duration::from_millis(500);
    intervals
        .iter()
        .all(|(s, e)| windows.iter().any(|(ws, we)| s >= ws && *e <= *we + slack))
}

/// Namespaces and directories of the beds alive in this process, for [`cleanup_all`].
static LIVE: std::sync::Mutex<Vec<(Vec<String>, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// Removes every bed of this process without unwinding (for a SIGINT/SIGTERM handler): kills all
/// processes in their namespaces, deletes the namespaces and the directories.
pub fn cleanup_all() {
    let beds = LIVE
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    for (names, dir) in beds {
        for n in &names {
            for p in pids_in_netns(n) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        for n in &names {
            let _ = run(&format!("ip netns del {n} 2>/dev/null"));
        }
        let _ = fs::remove_dir_all(dir);
    }
}

/// Makes SIGINT / SIGTERM / SIGHUP tear every bed down before exiting (status 130), for the
/// long-running demo and benchmark.
pub fn cleanup_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut sigs) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if sigs.forever().next().is_some() {
            eprintln!("interrupted: tearing the test bed down");
            cleanup_all();
            std::process::exit(130);
        }
    });
}

/// The whole bed: public segment, client, two nodes, temp directory.
pub struct Testbed {
    pub opts: BedOptions,
    pub nodes: [Node; 2],
    pub client: Netns,
    pub public: Netns,
    pub dir: PathBuf,
}

impl Testbed {
    /// Builds namespaces, links and per-node files; starts no daemon.
    pub fn new(opts: BedOptions) -> Result<Testbed, String> {
        for k in opts.kinds {
            if let Some(why) = k.missing(&opts.bin_dir) {
                return Err(why);
            }
        }
        if !Path::new(config::HTTPD_BIN).exists() {
            return Err(format!(
                "{} not found (the httpd resource): apt-get install busybox",
                config::HTTPD_BIN
            ));
        }
        let dir = std::env::temp_dir().join(unique("hbtb"));
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // Guards first: if anything below fails, whatever exists is removed on return.
        let dir_guard = DirGuard(Some(dir.clone()));
        let public = try_netns("tbp")?;
        let client = try_netns("tbc")?;
        let a = try_netns("tba")?;
        let b = try_netns("tbb")?;
        for ns in [&public, &client, &a, &b] {
            cmd_ok(&format!(
                "ip netns exec {} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                 net.ipv6.conf.default.disable_ipv6=1",
                ns.name
            ))?;
        }
        cmd_ok(&format!(
            "ip -n {p} link add br0 type bridge && ip -n {p} link set br0 up",
            p = public.name
        ))?;
        for (ns, port, ip) in [
            (&a, "pa", "192.0.2.1"),
            (&b, "pb", "192.0.2.2"),
            (&client, "pc", CLIENT_IP),
        ] {
            link_pair(ns, "eth0", &public, port)?;
            cmd_ok(&format!(
                "ip -n {p} link set {port} master br0 && ip -n {n} addr add {ip}/24 brd + dev eth0",
                p = public.name,
                n = ns.name
            ))?;
        }
        if opts.vips > 80 {
            // VIPs in 203.0.113.0/24 too: the client asks them by ARP from there.
            cmd_ok(&format!(
                "ip -n {} addr add {}/24 brd + dev eth0",
                client.name,
                config::CLIENT_IP2
            ))?;
        }
        link_pair(&a, "hb0", &b, "hb0")?;
        cmd_ok(&format!(
            "ip -n {} addr add 198.51.100.1/24 brd + dev hb0",
            a.name
        ))?;
        cmd_ok(&format!(
            "ip -n {} addr add 198.51.100.2/24 brd + dev hb0",
            b.name
        ))?;
        let mut nodes = Vec::new();
        for (idx, ns) in [a, b].into_iter().enumerate() {
            let node = Node {
                idx,
                name: NODE_NAMES[idx],
                kind: opts.kinds[idx],
                dir: dir.join(NODE_NAMES[idx]),
                bin_dir: opts.bin_dir.clone(),
                started_at: None,
                daemon: None,
                ns,
            };
            write_node_files(&node, &opts)?;
            nodes.push(node);
        }
        let [na, nb]: [Node; 2] = nodes.try_into().map_err(|_| "two nodes".to_string())?;
        let mut dir_guard = dir_guard;
        dir_guard.0 = None;
        if let Ok(mut live) = LIVE.lock() {
            let names = [&public, &client, &na.ns, &nb.ns]
                .iter()
                .map(|n| n.name.clone())
                .collect();
            live.push((names, dir.clone()));
        }
        Ok(Testbed {
            opts,
            nodes: [na, nb],
            client,
            public,
            dir,
        })
    }

    pub fn a(&self) -> &Node {
        &self.nodes[0]
    }
    pub fn b(&self) -> &Node {
        &self.nodes[1]
    }

    /// Starts both daemons, A first.
    pub fn start_both(&mut self) -> Result<(), String> {
        self.nodes[0].start()?;
        self.nodes[1].start()
    }

    /// Starts both daemons and waits (bounded) until A holds and serves, both see each other, and
    /// the pair has settled (Heartbeat advertises `deadtime + 2 s` for 5 s after a start).
    pub fn bring_up(&mut self) -> Result<(), String> {
        self.start_both()?;
        let t = self.opts.timers;
        let limit = Duration::from_millis(t.initdead_ms + t.deadtime_ms) + Duration::from_secs(30);
        if !self.wait_owner(0, limit) {
            return Err(format!(
                "A did not take the group: {}\n{}",
                self.describe(),
                self.logs_tail(20)
            ));
        }
        if !self.wait_peers_active(Duration::from_secs(20)) {
            return Err(format!("peers not active\n{}", self.logs_tail(20)));
        }
        self.settle();
        Ok(())
    }

    /// Waits until both daemons have run 6 s and neither reports a resource transition.
    pub fn settle(&self) {
        for n in &self.nodes {
            if let Some(t) = n.started_at {
                let need = Duration::from_secs(6);
                if t.elapsed() < need {
                    std::thread::sleep(need - t.elapsed());
                }
            }
        }
        super::netns::wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
            self.nodes
                .iter()
                .all(|n| n.rscstatus().is_none_or(|s| s != "transition"))
        });
    }

    /// Starts sampling where the VIP is on both nodes every 20 ms (bounded to `limit`).
    pub fn watch_vip(&self, limit: Duration) -> VipWatch {
        let step = Duration::from_millis(20);
        VipWatch {
            a: probe::AddrWatch::start(&self.nodes[0].ns.name, VIP, step, limit),
            b: probe::AddrWatch::start(&self.nodes[1].ns.name, VIP, step, limit),
        }
    }

    /// One GET of the page through the VIP from the client.
    pub fn fetch(&self, timeout: Duration) -> Option<(u16, String)> {
        probe::in_netns(&self.client.name, move || {
            probe::http_get_here(VIP, timeout)
        })
        .ok()
        .flatten()
    }

    /// The node name the page through the VIP names, if it answers 200.
    pub fn served_by(&self) -> Option<&'static str> {
        let (code, body) = self.fetch(Duration::from_millis(500))?;
        if code != 200 {
            return None;
        }
        NODE_NAMES
            .iter()
            .find(|n| body.contains(&format!("served by {n}")))
            .copied()
    }

    /// Waits until the VIP is on `owner` only and the client is served by it.
    pub fn wait_owner(&self, owner: usize, limit: Duration) -> bool {
        let other = 1 - owner;
        super::netns::wait_until(limit, Duration::from_millis(100), || {
            self.nodes[owner].has_vip()
                && !self.nodes[other].has_vip()
                && self.served_by() == Some(NODE_NAMES[owner])
        })
    }

    /// Waits until both daemons see each other `active` (Heartbeat kinds) or, for keepalived,
    /// until both processes run and the owner serves.
    pub fn wait_peers_active(&self, limit: Duration) -> bool {
        super::netns::wait_until(limit, Duration::from_millis(200), || {
            (0..2).all(|i| {
                let n = &self.nodes[i];
                match n.node_status(NODE_NAMES[1 - i]) {
                    Some(s) => s == "active",
                    None => !n.daemon_pids().is_empty(),
                }
            })
        })
    }

    /// The MAC address the client's neighbour table holds for `ip` (None: no entry).
    pub fn client_neighbour(&self, ip: &str) -> Option<String> {
        word_after(
            &format!("ip -n {} neigh show {ip}", self.client.name),
            "lladdr",
        )
    }

    /// The MAC address of the client's interface (eth0).
    pub fn client_mac(&self) -> Option<String> {
        eth0_mac(&self.client.name)
    }

    /// The MAC address of node `i`'s public interface (eth0).
    pub fn node_mac(&self, i: usize) -> Option<String> {
        eth0_mac(&self.nodes[i].ns.name)
    }

    /// A short text of where the VIP is and who serves (for failure messages and the demo).
    pub fn describe(&self) -> String {
        format!(
            "VIP on A: {}, on B: {}, served by: {:?}",
            self.nodes[0].has_vip(),
            self.nodes[1].has_vip(),
            self.served_by()
        )
    }

    /// Gives the public segment a router address (the public namespace answers pings on it):
    /// the ping node of the ping tests.
    pub fn add_router(&self, ip: &str) -> Result<(), String> {
        cmd_ok(&format!(
            "ip -n {} addr add {ip}/24 dev br0",
            self.public.name
        ))
    }

    /// Fault: node `idx` cut off the public segment (its switch port down).
    pub fn cut_public(&self, idx: usize, cut: bool) -> Result<(), String> {
        let port = ["pa", "pb"][idx];
        cmd_ok(&format!(
            "ip -n {} link set {port} {}",
            self.public.name,
            if cut { "down" } else { "up" }
        ))
    }

    /// The last lines of both nodes' logs (for failure messages).
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let text = n.log_text();
            let v: Vec<&str> = text.lines().collect();
            let from = v.len().saturating_sub(lines);
            s.push_str(&format!("--- {} ({})\n", n.name, n.log_path().display()));
            for l in &v[from..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Kill and thaw everything on the nodes first (a frozen process ignores all but SIGKILL,
        // and a zombie daemon must be reaped), then namespaces go with the fields.
        for n in &mut self.nodes {
            n.power_off();
        }
        if std::env::var_os("HB_TESTBED_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|(_, d)| d != &self.dir);
        }
    }
}

/// Removes a directory on drop unless disarmed.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

fn write_node_files(node: &Node, opts: &BedOptions) -> Result<(), String> {
    let d = &node.dir;
    let io = |e: std::io::Error| format!("{}: {e}", d.display());
    for sub in [
        "ha.d/resource.d",
        "lib",
        "run/heartbeat",
        "run/resource-agents",
        "log",
    ] {
        fs::create_dir_all(d.join(sub)).map_err(io)?;
    }
    // The original's shell library, hooks and resource scripts, for its own node.
    if node.kind == Kind::Heartbeat {
        cmd_ok(&format!(
            "cp -a /etc/ha.d/. {d}/ha.d/ && cp -a /var/lib/heartbeat/. {d}/lib/ && \
             rm -f {d}/lib/hb_generation {d}/lib/hb_uuid {d}/lib/fifo {d}/lib/hostcache \
             {d}/lib/delhostcache && \
             mkdir -p {d}/run/heartbeat/ccm {d}/run/heartbeat/crm {d}/run/heartbeat/dopd \
             {d}/run/lock && chmod 1777 {d}/run/lock && \
             chown -R hacluster:haclient {d}/run/heartbeat && chmod 750 {d}/run/heartbeat",
            d = d.display()
        ))?;
    }
    if node.kind == Kind::Ours && opts.resource_dir.is_dir() {
        cmd_ok(&format!(
            "cp -a {}/. {}/ha.d/resource.d/",
            opts.resource_dir.display(),
            d.display()
        ))?;
        if !opts.address_scripts {
            // The addresses are then handled in-process, as on an installed system.
            for name in ["IPaddr", "IPaddr2"] {
                let _ = fs::remove_file(d.join("ha.d/resource.d").join(name));
            }
        }
    }
    let httpd = d.join("ha.d/resource.d/httpd");
    fs::write(&httpd, config::httpd_script(d, node.name)).map_err(io)?;
    fs::set_permissions(&httpd, fs::Permissions::from_mode(0o755)).map_err(io)?;
    if config::uses_ha_cf(node.kind) {
        fs::write(
            d.join("ha.d/ha.cf"),
            config::ha_cf(&node.log_dir(), &opts.timers, opts.auto_failback)
                + &opts.extra_ha_cf
                + &opts.node_ha_cf[node.idx]
                + if node.kind == Kind::Ours {
                    opts.ours_ha_cf.as_str()
                } else {
                    ""
                },
        )
        .map_err(io)?;
        let keys = d.join("ha.d/authkeys");
        fs::write(&keys, config::authkeys(&opts.auth)).map_err(io)?;
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).map_err(io)?;
        fs::write(
            d.join("ha.d/haresources"),
            config::haresources(&config::extra_vips(opts.vips)),
        )
        .map_err(io)?;
    } else {
        let priority = config::KEEPALIVED_PRIORITY[node.idx];
        let advert_cs = opts
            .keepalived_advert_cs
            .unwrap_or_else(|| config::keepalived_advert_cs(&opts.timers));
        fs::write(
            d.join("keepalived.conf"),
            config::keepalived_conf(
                d,
                node.name,
                priority,
                advert_cs,
                opts.auto_failback,
                &config::extra_vips(opts.vips),
                opts.keepalived_check,
            ),
        )
        .map_err(io)?;
        fs::write(d.join("standby"), "0\n").map_err(io)?;
        let chk = d.join("chk_httpd");
        fs::write(&chk, config::keepalived_check_script(d)).map_err(io)?;
        fs::set_permissions(&chk, fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    Ok(())
}

fn try_netns(prefix: &str) -> Result<Netns, String> {
    std::panic::catch_unwind(|| Netns::new(prefix))
        .map_err(|_| format!("cannot create netns {prefix}"))
}

fn link_pair(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<(), String> {
    let ta = unique("tv");
    let tb = unique("tw");
    cmd_ok(&format!(
        "ip link add {ta} type veth peer name {tb} && \
         ip link set {ta} netns {an} name {a_if} && ip link set {tb} netns {bn} name {b_if} && \
         ip -n {an} link set {a_if} up && ip -n {bn} link set {b_if} up",
        an = a.name,
        bn = b.name
    ))
}

/// Runs a shell command; an error with its stderr if it fails.
/// The word after `after` in the output of `cmd` (`lladdr`, `link/ether`...).
fn word_after(cmd: &str, after: &str) -> Option<String> {
    let out = run(cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == after)?;
    words.next().map(str::to_string)
}

/// The MAC address of `eth0` in namespace `ns`.
fn eth0_mac(ns: &str) -> Option<String> {
    word_after(&format!("ip -n {ns} -o link show eth0"), "link/ether")
}

pub fn cmd_ok(cmd: &str) -> Result<(), String> {
    let out = run(cmd);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn fake_output(err: &str) -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output {
        status: std::process::ExitStatus::from_raw(127 << 8),
        stdout: Vec::new(),
        stderr: err.as_bytes().to_vec(),
    }
}

fn write_output(path: &Path, text: &str) -> Output {
    match fs::write(path, text) {
        Ok(()) => {
            use std::os::unix::process::ExitStatusExt;
            Output {
                status: std::process::ExitStatus::from_raw(0),
                stdout: Vec::new(),
                stderr: Vec::new(),
            }
        }
        Err(e) => fake_output(&e.to_string()),
    }
}

/// Live (not zombie) processes whose network namespace is the named one.
pub fn pids_in_netns(name: &str) -> Vec<i32> {
    let Ok(meta) = fs::metadata(format!("/run/netns/{name}")) else {
        return Vec::new();
    };
    let want = format!("net:[{}]", meta.ino());
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(link) = fs::read_link(format!("/proc/{pid}/ns/net")) else {
            continue;
        };
        if link.to_string_lossy() == want && !is_zombie(pid) {
            out.push(pid);
        }
    }
    out
}

/// True when the process is a zombie or gone.
pub fn is_zombie(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => s
            .lines()
            .find(|l| l.starts_with("State:"))
            .map(|l| l.contains('Z') || l.contains('X'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

fn signal_all(pids: &[i32], sig: nix::sys::signal::Signal) {
    for &p in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
    }
}

fn proc_rss_kb(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn proc_cpu_ticks(pid: i32) -> u64 {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command (which may contain spaces) start after the last ')'.
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ut + st
}

/// Clock ticks per second for CPU figures.
pub fn clock_ticks() -> u64 {
    let t = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}
