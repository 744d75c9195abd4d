//! Network-namespace test helpers shared by every real-network test: unique names, teardown on
//! every path (Drop), bounded waits. Only documentation address ranges are used inside.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique name (`<prefix><pid36><n>`), kept under the 15-byte interface-name limit.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id() % 46656; // three base-36 digits
    format!("{prefix}{}{n}", to_base36(pid))
}

fn to_base36(mut v: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// True when the tests can create namespaces (root with `ip`).
pub fn can_use_netns() -> bool {
    nix::unistd::Uid::effective().is_root()
        && Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// Runs a command, panicking with its output if it fails (test setup only).
pub fn sh(cmd: &str) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command through `sh -c`, returning its output whatever the status.
pub fn run(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("spawn sh")
}

/// A network namespace deleted (with every process in it killed) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Netns { name }
    }

    /// `ip netns exec NAME sh -c CMD`, asserting success.
    pub fn sh(&self, cmd: &str) -> String {
        sh(&self.wrap(cmd))
    }

    /// Same without asserting.
    pub fn run(&self, cmd: &str) -> Output {
        run(&self.wrap(cmd))
    }

    /// The shell text that runs `cmd` inside this namespace.
    pub fn wrap(&self, cmd: &str) -> String {
        format!(
            "ip netns exec {} sh -c '{}'",
            self.name,
            cmd.replace('\'', "'\\''")
        )
    }

    /// Starts a long-running process inside the namespace; killed on drop of the guard.
    pub fn spawn(&self, program: &str, args: &[&str]) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in netns");
        ChildGuard { child: Some(child) }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill whatever still runs in the namespace, then delete it.
        let _ = run(&format!(
            "for p in $(ip netns pids {n} 2>/dev/null); do kill -9 $p 2>/dev/null; done; \
             sleep 0.05; ip netns del {n} 2>/dev/null",
            n = self.name
        ));
    }
}

/// A child process killed and reaped on drop.
pub struct ChildGuard {
    pub child: Option<Child>,
}

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Connects two namespaces with a veth pair; returns the interface names (a side, b side).
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    let tmp_a = unique("va");
    let tmp_b = unique("vb");
    sh(&format!("ip link add {tmp_a} type veth peer name {tmp_b}"));
    sh(&format!("ip link set {tmp_a} netns {} name {a_if}", a.name));
    sh(&format!("ip link set {tmp_b} netns {} name {b_if}", b.name));
    sh(&format!("ip -n {} link set {a_if} up", a.name));
    sh(&format!("ip -n {} link set {b_if} up", b.name));
}

/// Polls `cond` every `step` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, step: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(step);
    }
}

/// A temporary directory removed on drop (per-test config files, pid files, web roots).
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(prefix));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The path as a string (for shell command lines).
    pub fn s(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Netns {
    /// The MAC address of `iface` inside this namespace, lower-case.
    pub fn mac(&self, iface: &str) -> String {
        self.sh(&format!("cat /sys/class/net/{iface}/address"))
            .trim()
            .to_lowercase()
    }
}
