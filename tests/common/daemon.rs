//! A two-node heartbeat cluster in two network namespaces on a veth link, for the daemon's
//! end-to-end tests: per-node ha.d / state / run dirs in a temp dir, the real binaries, bounded
//! waits. Addresses: 198.51.100.1 (nodea) and 198.51.100.2 (nodeb) on `hb0`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::{ChildGuard, Netns, TempDir, veth, wait_until};

pub const HEARTBEAT: &str = env!("CARGO_BIN_EXE_heartbeat");
pub const CL_STATUS: &str = env!("CARGO_BIN_EXE_cl_status");
pub const HB_STANDBY: &str = env!("CARGO_BIN_EXE_hb_standby");
pub const HB_TAKEOVER: &str = env!("CARGO_BIN_EXE_hb_takeover");

/// The media line of each test, in ha.cf words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediumKind {
    Bcast,
    Mcast,
    Ucast,
    /// IPv6 unicast between 2001:db8:6::1 and ::2.
    Ucast6,
    /// IPv6 link-scope multicast.
    Mcast6,
}

impl MediumKind {
    fn line(self, node: &str) -> String {
        match self {
            MediumKind::Bcast => "bcast hb0".to_string(),
            MediumKind::Mcast => "mcast hb0 239.0.0.43 694 1 0".to_string(),
            // Each node names the other, as a shared ha.cf with two ucast lines would.
            MediumKind::Ucast => {
                let peer = if node == "nodea" {
                    "198.51.100.2"
                } else {
                    "198.51.100.1"
                };
                format!("ucast hb0 {peer}")
            }
            MediumKind::Ucast6 => {
                let peer = if node == "nodea" { 2 } else { 1 };
                format!("ucast6 hb0 2001:db8:6::{peer}")
            }
            MediumKind::Mcast6 => "mcast6 hb0 ff02::694 694 1 0".to_string(),
        }
    }
}

/// Everything a test may vary.
#[derive(Debug, Clone)]
pub struct Settings {
    pub medium: MediumKind,
    /// ha.cf timer lines.
    pub timers: String,
    /// Extra ha.cf lines.
    pub extra: String,
    /// Body of `resource.d/testrsc` `start` (default: touch the flag file).
    pub start_body: String,
    /// The haresources file (default: `nodea testrsc`).
    pub haresources: String,
    /// Scripts of the repository's `resource.d` copied into the node's `resource.d`.
    pub copy_scripts: Vec<&'static str>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            medium: MediumKind::Bcast,
            timers: "keepalive 200ms\ndeadtime 2\nwarntime 1\ninitdead 4\n".to_string(),
            extra: String::new(),
            start_body: "touch \"$FLAG\"".to_string(),
            haresources: "nodea testrsc\n".to_string(),
            copy_scripts: Vec::new(),
        }
    }
}

/// One node's files.
pub struct NodeDirs {
    pub name: String,
    pub root: PathBuf,
}

impl NodeDirs {
    pub fn ha_dir(&self) -> PathBuf {
        self.root.join("ha.d")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("ha-log")
    }
    pub fn flag(&self) -> PathBuf {
        self.root.join("rsc.on")
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
    pub fn holds_resource(&self) -> bool {
        self.flag().exists()
    }

    /// Writes ha.cf, authkeys, haresources and the test resource script.
    pub fn write_config(&self, s: &Settings) {
        let ha = self.ha_dir();
        std::fs::create_dir_all(ha.join("resource.d")).unwrap();
        std::fs::create_dir_all(self.state_dir()).unwrap();
        std::fs::create_dir_all(self.run_dir()).unwrap();
        self.write_hacf(s);
        std::fs::write(ha.join("authkeys"), "auth 1\n1 sha1 daemon-test-secret\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ha.join("authkeys"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::write(ha.join("haresources"), &s.haresources).unwrap();
        for name in &s.copy_scripts {
            let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("resource.d")
                .join(name);
            std::fs::copy(&src, ha.join("resource.d").join(name)).unwrap();
        }
        let script = format!(
            "#!/bin/sh\nFLAG='{flag}'\ncase \"$1\" in\n\
             start) {start} ;;\n\
             stop) rm -f \"$FLAG\" ;;\n\
             status) if [ -e \"$FLAG\" ]; then echo running; else echo stopped; exit 3; fi ;;\n\
             esac\nexit 0\n",
            flag = self.flag().display(),
            start = s.start_body
        );
        let p = ha.join("resource.d/testrsc");
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn write_hacf(&self, s: &Settings) {
        let text = format!(
            "logfile {log}\ndebugfile {root}/ha-debug\n{timers}udpport 694\n{medium}\n\
             auto_failback on\n{extra}node nodea\nnode nodeb\n",
            log = self.log().display(),
            root = self.root.display(),
            timers = s.timers,
            medium = s.medium.line(&self.name),
            extra = s.extra,
        );
        std::fs::write(self.ha_dir().join("ha.cf"), text).unwrap();
    }

    /// `cl_status ARGS --run-dir RUN`: (exit code, stdout, stderr).
    pub fn cl_status(&self, args: &[&str]) -> (i32, String, String) {
        run_tool(CL_STATUS, args, &self.run_dir(), None)
    }

    /// What this node's cl_status says about `node` (empty when unreachable).
    pub fn status_of(&self, node: &str) -> String {
        self.cl_status(&["nodestatus", node]).1.trim().to_string()
    }
}

/// Runs one of the small binaries against a run dir, optionally through a wrapper
/// (e.g. `setpriv ...`).
pub fn run_tool(
    program: &str,
    args: &[&str],
    run_dir: &Path,
    wrapper: Option<&[&str]>,
) -> (i32, String, String) {
    let mut cmd = match wrapper {
        Some(w) => {
            let mut c = Command::new(w[0]);
            c.args(&w[1..]).arg(program);
            c
        }
        None => Command::new(program),
    };
    let out = cmd
        .args(args)
        .arg("--run-dir")
        .arg(run_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A node: namespace, files, running daemon.
pub struct Node {
    /// Dropped first: the daemon dies before its namespace and files go.
    pub daemon: Option<ChildGuard>,
    pub dirs: NodeDirs,
    pub ns: Netns,
}

impl Node {
    /// Starts the daemon in the foreground inside the namespace.
    pub fn start(&mut self) {
        self.start_with_env(&[]);
    }

    /// Same, with extra environment variables (through `env`, which execs: same pid).
    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        let d = &self.dirs;
        let args = [
            "--ha-dir",
            &d.ha_dir().display().to_string(),
            "--state-dir",
            &d.state_dir().display().to_string(),
            "--run-dir",
            &d.run_dir().display().to_string(),
            "--node",
            &d.name,
        ]
        .map(|s| s.to_string());
        let mut full: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        full.push(HEARTBEAT.to_string());
        full.extend(args);
        let refs: Vec<&str> = full.iter().map(|s| s.as_str()).collect();
        self.daemon = Some(self.ns.spawn("env", &refs));
    }

    /// The daemon's pid (`ip netns exec` execs, so it is the spawned child's).
    pub fn pid(&self) -> i32 {
        self.daemon.as_ref().map(|c| c.pid() as i32).unwrap_or(0)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Whether the daemon still runs (a zombie counts as dead).
    pub fn alive(&mut self) -> bool {
        let Some(g) = self.daemon.as_mut() else {
            return false;
        };
        let Some(c) = g.child.as_mut() else {
            return false;
        };
        matches!(c.try_wait(), Ok(None))
    }

    /// Waits (bounded) for the daemon to exit; returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        let c = self.daemon.as_mut()?.child.as_mut()?;
        while start.elapsed() < limit {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// Two nodes joined by a veth link, daemons not started yet.
pub struct Pair {
    pub a: Node,
    pub b: Node,
    _tmp: TempDir,
}

impl Pair {
    pub fn new(tag: &str, settings: &Settings) -> Pair {
        let tmp = TempDir::new(tag);
        let ns_a = Netns::new(&format!("{tag}a"));
        let ns_b = Netns::new(&format!("{tag}b"));
        veth(&ns_a, "hb0", &ns_b, "hb0");
        ns_a.sh("ip addr add 198.51.100.1/24 dev hb0");
        ns_b.sh("ip addr add 198.51.100.2/24 dev hb0");
        // IPv6 too (ucast6 / mcast6), without duplicate address detection's delay.
        ns_a.sh("ip addr add 2001:db8:6::1/64 dev hb0 nodad");
        ns_b.sh("ip addr add 2001:db8:6::2/64 dev hb0 nodad");
        let mk = |name: &str, ns: Netns| {
            let dirs = NodeDirs {
                name: name.to_string(),
                root: tmp.path.join(name),
            };
            dirs.write_config(settings);
            Node {
                daemon: None,
                dirs,
                ns,
            }
        };
        let a = mk("nodea", ns_a);
        let b = mk("nodeb", ns_b);
        Pair { a, b, _tmp: tmp }
    }

    pub fn start_both(&mut self) {
        self.a.start();
        self.b.start();
    }

    /// Waits until each node reports the other `active`.
    pub fn wait_both_active(&self, limit: Duration) -> bool {
        wait_until(limit, Duration::from_millis(100), || {
            self.a.dirs.status_of("nodeb") == "active" && self.b.dirs.status_of("nodea") == "active"
        })
    }

    /// Starts both daemons, waits until each sees the other active and `holder` (nodea or
    /// nodeb) runs the test resource; panics with both logs otherwise.
    pub fn start_until_served_by(&mut self, holder: &str) {
        self.start_both();
        assert!(
            self.wait_both_active(Duration::from_secs(20)),
            "{}",
            self.logs()
        );
        let node = if holder == self.a.dirs.name {
            &self.a
        } else {
            &self.b
        };
        assert!(
            wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
                node.dirs.holds_resource()
            }),
            "{holder} never ran the resource\n{}",
            self.logs()
        );
    }

    /// Cuts the link (both ends lose carrier).
    pub fn cut(&self) {
        self.a.ns.sh("ip link set hb0 down");
    }

    /// Both logs, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "--- nodea log ---\n{}\n--- nodeb log ---\n{}",
            self.a.dirs.log_text(),
            self.b.dirs.log_text()
        )
    }
}
