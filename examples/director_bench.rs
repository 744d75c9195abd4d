//! LVS director benchmark (issue 19): hb_ldirectord against Debian's ldirectord (Perl, 4.12)
//! with the same ldirectord.cf, the same real servers and a 1 s check interval, at 1, 100 and
//! 5000 real servers:
//!
//! * CPU of the director over a steady window (its run time from the scheduler plus its
//!   children's, % of one core) and its RSS (VmRSS, VmHWM);
//! * removal time: a real server's listener closes at a random phase of the interval; time until
//!   the director has taken it out (our state file; ldirectord's `Deleted real server` log line).
//!
//! The real servers are one thread of this benchmark: N listeners on 203.0.113.1 in a network
//! namespace of their own, behind a veth link from the director's, answering
//! `GET /index.html` with `200 real`. Both directors check with
//! `service=http`, `receive="real"`, `checktimeout=1`, `negotiatetimeout=1`, `failurecount=1`,
//! `quiescent=no`: the removal bound is interval × failurecount + timeout = 2 s.
//! keepalived (2.2.7, `--check` only: its parent and checker processes, both counted) checks
//! the same servers with `HTTP_GET` (status 200; `delay_loop 1`, `connect_timeout 1`,
//! `retry 0`: the same bound).
//!
//! Where the kernel has IPVS every tool's rules go there (ldirectord through the real
//! `ipvsadm`). Where it has not (this machine): ours uses its nft backend; ldirectord gets a
//! stand-in `ipvsadm` (this binary); keepalived, whose checker otherwise exits at start ("IPVS:
//! Can't initialize ipvs"), runs with bench/keepalived-without-ipvs.c preloaded, which accepts
//! its IPVS changes without doing them — compare it with `ours-warm`, which does no rules
//! either. tests/vm/run.sh runs this in a machine with IPVS (software emulation: compare the
//! tools with each other there, not with figures from this machine).
//!
//! `ours-warm` is hb_ldirectord as a warm standby: checks only, no rules.
//!
//! Run as root: `cargo run --release --example director_bench -- [--sizes 1,100,5000]
//! [--runs N] [--window SECS] [--tools ours,ours-warm,ldirectord,keepalived] [--json FILE|-]`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const REAL_IP: &str = "203.0.113.1";
const FIRST_PORT: u16 = 20000;
const BOUND_MS: f64 = 2000.0;
/// CPU 0 runs the director, CPU 1 the real servers: their thread, and (receive packet steering
/// on their link) their kernel's receive work, which on one host would otherwise run inline in
/// the director's sends and be charged to it. Two machines, as far as two cores go.
const DIRECTOR_CPU: usize = 0;
const SERVER_CPU: usize = 1;

struct Args {
    sizes: Vec<usize>,
    runs: usize,
    window: u64,
    tools: Vec<String>,
    json: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        sizes: vec![1, 100, 5000],
        runs: 5,
        window: 10,
        tools: vec!["ours".into(), "ldirectord".into()],
        json: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--sizes" => a.sizes = v.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--runs" => a.runs = v.parse().unwrap_or(5),
            "--window" => a.window = v.parse().unwrap_or(10),
            "--tools" => a.tools = v.split(',').map(String::from).collect(),
            "--json" => a.json = Some(v),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The director's namespace and the real servers' namespace behind a veth link.
struct Lab {
    /// The director's namespace.
    ns: String,
    /// The real servers' namespace, behind a veth link (their kernel work is not the
    /// director's, as on a real network).
    srv: String,
    dir: PathBuf,
    /// Whether the kernel has IPVS (rules go there for every tool).
    ipvs: bool,
}

impl Lab {
    fn new() -> Lab {
        let ns = format!("ldbench{}", std::process::id());
        let srv = format!("ldbsrv{}", std::process::id());
        let dir = std::env::temp_dir().join(&ns);
        let _ = std::fs::create_dir_all(&dir);
        for c in [
            format!("ip netns add {ns}"),
            format!("ip netns add {srv}"),
            format!("ip -n {ns} link set lo up"),
            format!("ip -n {srv} link set lo up"),
            format!("ip -n {ns} link add eth0 type veth peer name eth0 netns {srv}"),
            format!("ip -n {ns} addr add 203.0.113.254/24 dev eth0"),
            format!("ip -n {srv} addr add {REAL_IP}/24 dev eth0"),
            format!("ip -n {ns} link set eth0 up"),
            format!("ip -n {srv} link set eth0 up"),
            format!("ip -n {ns} addr add 192.0.2.10/32 dev lo"),
            format!(
                "ip netns exec {srv} sh -c 'echo {:x} > /sys/class/net/eth0/queues/rx-0/rps_cpus'",
                1u32 << SERVER_CPU
            ),
        ] {
            let (ok, out) = sh(&c);
            assert!(ok, "{c}: {out}");
        }
        let _ = sh("modprobe -q ip_vs && modprobe -q ip_vs_wrr");
        let ipvs = Path::new("/proc/net/ip_vs").exists();
        Lab { ns, srv, dir, ipvs }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in [&self.ns, &self.srv] {
            sh(&format!(
                "for p in $(ip netns pids {n}); do kill -9 $p; done; sleep 0.1; ip netns del {n}"
            ));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// N HTTP listeners; a port put in `close` stops listening (the real server dies), one put in
/// `revive` listens again.
struct Servers {
    close: Arc<Mutex<HashSet<u16>>>,
    revive: Arc<Mutex<HashSet<u16>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Servers {
    fn start(ns: &str, n: usize) -> Servers {
        let close = Arc::new(Mutex::new(HashSet::new()));
        let revive = Arc::new(Mutex::new(HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, r2, s2, ns) = (close.clone(), revive.clone(), stop.clone(), ns.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || serve(&ns, n, &c2, &r2, &s2, ready_tx));
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("servers listening");
        Servers {
            close,
            revive,
            stop,
            handle: Some(handle),
        }
    }

    fn kill(&self, port: u16) {
        if let Ok(mut c) = self.close.lock() {
            c.insert(port);
        }
    }

    fn revive(&self, port: u16) {
        if let Ok(mut c) = self.revive.lock() {
            c.insert(port);
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    ns: &str,
    n: usize,
    close: &Mutex<HashSet<u16>>,
    revive: &Mutex<HashSet<u16>>,
    stop: &AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
) {
    let f = File::open(format!("/run/netns/{ns}")).expect("netns");
    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    // The servers are "another machine": their own CPU.
    let mut cpus = nix::sched::CpuSet::new();
    if cpus.set(SERVER_CPU).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpus);
    }
    let mut poll = Poll::new().expect("poll");
    let mut listeners: Vec<Option<TcpListener>> = Vec::new();
    for i in 0..n {
        let addr: SocketAddr = format!("{REAL_IP}:{}", FIRST_PORT + i as u16)
            .parse()
            .expect("addr");
        let mut l = TcpListener::bind(addr).expect("bind");
        poll.registry()
            .register(&mut l, Token(i), Interest::READABLE)
            .expect("register");
        listeners.push(Some(l));
    }
    let _ = ready.send(());
    let mut conns: std::collections::HashMap<usize, (TcpStream, Vec<u8>)> = Default::default();
    let mut next = n + 1;
    let mut events = Events::with_capacity(1024);
    let reply = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nreal\n";
    while !stop.load(Ordering::Relaxed) {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
        if let Ok(mut c) = close.lock() {
            for port in c.drain() {
                let i = usize::from(port - FIRST_PORT);
                if let Some(Some(mut l)) = listeners.get_mut(i).map(Option::take) {
                    let _ = poll.registry().deregister(&mut l);
                }
            }
        }
        if let Ok(mut r) = revive.lock() {
            for port in r.drain() {
                let i = usize::from(port - FIRST_PORT);
                let addr: SocketAddr = format!("{REAL_IP}:{port}").parse().expect("addr");
                if let Ok(mut l) = TcpListener::bind(addr)
                    && poll
                        .registry()
                        .register(&mut l, Token(i), Interest::READABLE)
                        .is_ok()
                    && let Some(slot) = listeners.get_mut(i)
                {
                    *slot = Some(l);
                }
            }
        }
        for ev in events.iter() {
            let t = ev.token().0;
            if t < n {
                let Some(Some(l)) = listeners.get(t) else {
                    continue;
                };
                while let Ok((mut s, _)) = l.accept() {
                    let tok = next;
                    next += 1;
                    if poll
                        .registry()
                        .register(&mut s, Token(tok), Interest::READABLE)
                        .is_ok()
                    {
                        conns.insert(tok, (s, Vec::new()));
                    }
                }
            } else if let Some((s, buf)) = conns.get_mut(&t) {
                let mut b = [0u8; 4096];
                let mut done = false;
                loop {
                    match s.read(&mut b) {
                        Ok(0) => {
                            done = true;
                            break;
                        }
                        Ok(k) => buf.extend_from_slice(&b[..k]),
                        Err(_) => break,
                    }
                }
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let _ = s.write_all(reply);
                    done = true;
                }
                if done && let Some((mut s, _)) = conns.remove(&t) {
                    let _ = poll.registry().deregister(&mut s);
                }
            }
        }
    }
}

fn config(n: usize, log: &Path) -> String {
    let mut s = format!(
        "checktimeout=1\nnegotiatetimeout=1\ncheckinterval=1\nfailurecount=1\nquiescent=no\nautoreload=no\nlogfile=\"{}\"\n\nvirtual=192.0.2.10:80\n",
        log.display()
    );
    for i in 0..n {
        let _ = writeln!(s, "\treal={REAL_IP}:{} masq", FIRST_PORT + i as u16);
    }
    s.push_str("\tservice=http\n\trequest=\"index.html\"\n\treceive=\"real\"\n\tscheduler=wrr\n");
    s
}

/// keepalived's configuration of the same service: `HTTP_GET` status 200, one failure removes.
fn keepalived_config(n: usize) -> String {
    let mut s = String::from(
        "global_defs {\n    router_id ldbench\n}\nvirtual_server 192.0.2.10 80 {\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n",
    );
    for i in 0..n {
        let _ = writeln!(
            s,
            "    real_server {REAL_IP} {} {{\n        weight 1\n        HTTP_GET {{\n            url {{\n                path /index.html\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 0\n            delay_before_retry 1\n        }}\n    }}",
            FIRST_PORT + i as u16
        );
    }
    s.push_str("}\n");
    s
}

/// CPU time of a process in ns: its own from the scheduler (/proc/PID/schedstat, exact; the
/// tick-sampled utime+stime charges a whole tick to whoever runs when it falls, which swamps
/// a director checking one server), plus its waited-for children's (cutime+cstime, ticks:
/// ldirectord's ipvsadm forks).
fn cpu_ns(pid: i32) -> Option<u64> {
    let own: u64 = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Some(own + (n(13)? + n(14)?) * 1_000_000_000 / hz.max(1))
}

fn status_kb(pid: i32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn wait(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

struct Tool<'a> {
    name: &'a str,
    lab: &'a Lab,
    cf: PathBuf,
    log: PathBuf,
}

impl Tool<'_> {
    /// hb_ldirectord; `ours-warm` runs it as a warm standby: the checks and nothing else, the
    /// whole steady-state cost of a director whose rules go to IPVS (no nft table, hence no
    /// connection tracking of the checks).
    fn ours(&self) -> bool {
        self.name.starts_with("ours")
    }

    fn bin(&self) -> String {
        match self.name {
            n if n.starts_with("ours") => {
                let exe = std::env::current_exe().expect("exe");
                let dir = exe.parent().and_then(Path::parent).expect("target dir");
                dir.join("hb_ldirectord").display().to_string()
            }
            "keepalived" => "/usr/sbin/keepalived".to_string(),
            _ => "/usr/sbin/ldirectord".to_string(),
        }
    }

    /// keepalived: its parent's and checker's pid files.
    fn keepalived_pid_files(&self) -> [PathBuf; 2] {
        [
            self.lab.dir.join("kd.pid"),
            self.lab.dir.join("kd-check.pid"),
        ]
    }

    fn run_keepalived(&self, cmd: &str) -> (bool, String) {
        let [parent, checker] = self.keepalived_pid_files();
        if cmd == "stop" {
            let pid = std::fs::read_to_string(&parent).unwrap_or_default();
            return sh(&format!(
                "kill {p} && for i in $(seq 100); do kill -0 {p} 2>/dev/null || exit 0; sleep 0.1; done; exit 1",
                p = pid.trim()
            ));
        }
        // Without IPVS: the shim answers keepalived's IPVS socket options (rules not done).
        let preload = if self.lab.ipvs {
            String::new()
        } else {
            let so = self.lab.dir.join("keepalived-without-ipvs.so");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/keepalived-without-ipvs.c");
            let (ok, out) = sh(&format!(
                "gcc -shared -fPIC -O2 -o {} {} -ldl",
                so.display(),
                src.display()
            ));
            if !ok {
                return (false, format!("building the IPVS shim: {out}"));
            }
            format!("LD_PRELOAD={} ", so.display())
        };
        sh(&format!(
            "{preload}ip netns exec {ns} taskset -c {DIRECTOR_CPU} {bin} --check --dont-fork --log-console --log-detail -f {cf} -p {p} -c {c} >> {log} 2>&1 </dev/null & for i in $(seq 300); do test -s {c} && exit 0; kill -0 $! || exit 1; sleep 0.1; done; exit 1",
            ns = self.lab.ns,
            bin = self.bin(),
            cf = self.cf.with_extension("keepalived.conf").display(),
            p = parent.display(),
            c = checker.display(),
            log = self.log.display()
        ))
    }

    fn run(&self, cmd: &str) -> (bool, String) {
        if self.name == "keepalived" {
            return self.run_keepalived(cmd);
        }
        if self.ours() {
            return sh(&format!(
                "ip netns exec {} taskset -c {DIRECTOR_CPU} {}{} --run-dir {} {} {cmd}",
                self.lab.ns,
                self.bin(),
                if self.name == "ours-warm" {
                    " --warm"
                } else {
                    ""
                },
                self.lab.dir.display(),
                self.cf.display()
            ));
        }
        if self.lab.ipvs {
            return sh(&format!(
                "ip netns exec {} taskset -c {DIRECTOR_CPU} {} {} {cmd}",
                self.lab.ns,
                self.bin(),
                self.cf.display()
            ));
        }
        if cmd == "start" {
            let _ = std::fs::remove_file(FAKE_STATE);
        }
        let me = std::env::current_exe().expect("exe");
        sh(&format!(
            "unshare -m sh -c 'mount --bind {} /usr/sbin/ipvsadm && exec ip netns exec {} taskset -c {DIRECTOR_CPU} {} {} {cmd}'",
            me.display(),
            self.lab.ns,
            self.bin(),
            self.cf.display()
        ))
    }

    /// The director's processes (keepalived: parent and checker).
    fn pids(&self) -> Vec<i32> {
        let files = match self.name {
            n if n.starts_with("ours") => vec![self.lab.dir.join("ldirectord.ldbench.cf.pid")],
            "keepalived" => self.keepalived_pid_files().to_vec(),
            _ => vec![PathBuf::from("/run/ldirectord.ldbench.cf.pid")],
        };
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok()?.trim().parse().ok())
            .collect()
    }

    fn text(&self) -> String {
        let path = if self.ours() {
            self.lab.dir.join("ldirectord.ldbench.state")
        } else {
            self.log.clone()
        };
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Whether the first checks of all `n` servers are done.
    fn warm(&self, n: usize) -> bool {
        let t = self.text();
        if self.ours() {
            t.matches(" up\n").count() >= n
        } else if self.name == "keepalived" {
            // Its servers start alive (in the table at once) and its first checks are not
            // logged: ready when every checker is armed.
            t.matches("Activating healthchecker for service [").count() >= n
        } else {
            // ldirectord logs some servers twice: count distinct ones.
            let ports: HashSet<&str> = t
                .lines()
                .filter_map(|l| l.split("Added real server: ").nth(1))
                .filter_map(|r| r.split_whitespace().next())
                .collect();
            ports.len() >= n
        }
    }

    /// Whether `port` is in again; for ldirectord only log text after byte `from` counts.
    fn back_up(&self, port: u16, from: usize) -> bool {
        let t = self.text();
        if self.ours() {
            t.contains(&format!("{REAL_IP}:{port} up"))
        } else if self.name == "keepalived" {
            t.get(from..)
                .is_some_and(|t| t.contains(&format!("Adding service [{REAL_IP}]:tcp:{port} ")))
        } else {
            t.get(from..)
                .is_some_and(|t| t.contains(&format!("Added real server: {REAL_IP}:{port} ")))
        }
    }

    /// Whether `port` is out; for ldirectord only log text after byte `from` counts.
    fn removed(&self, port: u16, from: usize) -> bool {
        let t = self.text();
        if self.ours() {
            t.contains(&format!("{REAL_IP}:{port} down"))
        } else if self.name == "keepalived" {
            t.get(from..)
                .is_some_and(|t| t.contains(&format!("Removing service [{REAL_IP}]:tcp:{port} ")))
        } else {
            t.get(from..)
                .is_some_and(|t| t.contains(&format!("Deleted real server: {REAL_IP}:{port} ")))
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Where the stand-in `ipvsadm` keeps its table.
const FAKE_STATE: &str = "/run/ldbench-fake-ipvs.state";

/// A stand-in for `ipvsadm` on kernels without IPVS, bind-mounted over /usr/sbin/ipvsadm for
/// ldirectord only: it keeps the table in a file and lists it as `ipvsadm -L -n` does, so
/// ldirectord runs as it would against a kernel with IPVS (one fork per change, `-L -n` reads).
fn fake_ipvsadm(args: &[String]) -> i32 {
    let text = std::fs::read_to_string(FAKE_STATE).unwrap_or_default();
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let mut op = "";
    let (mut proto, mut vip, mut sched, mut rip, mut fwd, mut w) = (
        "TCP",
        String::new(),
        "wlc".to_string(),
        String::new(),
        "Route",
        "1".to_string(),
    );
    let mut thresholds = false;
    let mut i = 0;
    while i < args.len() {
        let next = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            o @ ("-A" | "-E" | "-D" | "-a" | "-e" | "-d" | "-L" | "-C") => op = o,
            "-t" => (proto, vip, i) = ("TCP", next, i + 1),
            "-u" => (proto, vip, i) = ("UDP", next, i + 1),
            "-f" => (proto, vip, i) = ("FWM", next, i + 1),
            "-s" => (sched, i) = (next, i + 1),
            "-r" => (rip, i) = (next, i + 1),
            "-w" => (w, i) = (next, i + 1),
            "-x" | "-y" | "-M" => i += 1,
            "-m" => fwd = "Masq",
            "-g" => fwd = "Route",
            "-i" => fwd = "Tunnel",
            "--thresholds" => thresholds = true,
            _ => {}
        }
        i += 1;
    }
    let is_s = |r: &Vec<String>| r.first().is_some_and(|x| x == "S") && r.get(2) == Some(&vip);
    let is_r = |r: &Vec<String>| {
        r.first().is_some_and(|x| x == "R") && r.get(2) == Some(&vip) && r.get(3) == Some(&rip)
    };
    match op {
        "-L" => {
            let mut out = String::from(
                "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n",
            );
            out.push_str(if thresholds {
                "  -> RemoteAddress:Port            Uthreshold Lthreshold ActiveConn InActConn\n"
            } else {
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
            });
            for s in rows.iter().filter(|r| r[0] == "S") {
                let _ = writeln!(out, "{}  {} {}", s[1], s[2], s[3]);
                for r in rows.iter().filter(|r| r[0] == "R" && r[2] == s[2]) {
                    if thresholds {
                        let _ =
                            writeln!(out, "  -> {:<28} 0          0          0          0", r[3]);
                    } else {
                        let _ = writeln!(
                            out,
                            "  -> {:<28} {:<7} {:<6} 0          0",
                            r[3], r[4], r[5]
                        );
                    }
                }
            }
            print!("{out}");
            return 0;
        }
        "-A" | "-E" => {
            rows.retain(|r| !is_s(r));
            rows.push(vec!["S".into(), proto.into(), vip.clone(), sched]);
        }
        "-D" => rows.retain(|r| !(is_s(r) || (r[0] == "R" && r[2] == vip))),
        "-a" | "-e" => {
            rows.retain(|r| !is_r(r));
            rows.push(vec![
                "R".into(),
                proto.into(),
                vip.clone(),
                rip.clone(),
                fwd.into(),
                w,
            ]);
        }
        "-d" => rows.retain(|r| !is_r(r)),
        "-C" => rows.clear(),
        _ => return 2,
    }
    let text: String = rows.iter().map(|r| r.join(" ") + "\n").collect();
    let _ = std::fs::write(FAKE_STATE, text);
    0
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.first().is_some_and(|a| a.ends_with("ipvsadm")) {
        std::process::exit(fake_ipvsadm(&argv[1..]));
    }
    let args = parse_args();
    let mut rows = Vec::new();
    for &n in &args.sizes {
        for tool in &args.tools {
            let lab = Lab::new();
            let servers = Servers::start(&lab.srv, n);
            let cf = lab.dir.join("ldbench.cf");
            let log = lab.dir.join("director.log");
            std::fs::write(&cf, config(n, &log)).expect("cf");
            std::fs::write(cf.with_extension("keepalived.conf"), keepalived_config(n))
                .expect("keepalived.conf");
            let t = Tool {
                name: tool,
                lab: &lab,
                cf,
                log,
            };
            let started = Instant::now();
            let (ok, out) = t.run("start");
            assert!(ok, "{tool} start: {out}");
            let warm = wait(Duration::from_secs(900), || t.warm(n));
            let pids = t.pids();
            if pids.is_empty() {
                eprintln!("{tool}: no pid");
                continue;
            }
            let sum =
                |f: &dyn Fn(i32) -> Option<u64>| pids.iter().filter_map(|&p| f(p)).sum::<u64>();
            let warm_s = warm.map(|_| started.elapsed().as_secs_f64());
            eprintln!("{tool} n={n}: first checks of all servers done after {warm_s:?} s");
            // Steady state.
            std::thread::sleep(Duration::from_secs(2));
            let c0 = sum(&cpu_ns);
            let w0 = Instant::now();
            std::thread::sleep(Duration::from_secs(args.window));
            let c1 = sum(&cpu_ns);
            let secs = w0.elapsed().as_secs_f64();
            let cpu = c1.saturating_sub(c0) as f64 / 1e9 / secs * 100.0;
            for pid in &pids {
                if let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                    let rest = st.rsplit(')').next().unwrap_or("");
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    eprintln!(
                        "{tool} n={n} pid {pid}: utime {} stime {} (ticks, whole run)",
                        f.get(11).unwrap_or(&""),
                        f.get(12).unwrap_or(&"")
                    );
                }
            }
            let rss = sum(&|p| status_kb(p, "VmRSS:"));
            let hwm = sum(&|p| status_kb(p, "VmHWM:"));
            let mut removals = Vec::new();
            let runs = args.runs;
            for k in 0..runs {
                let port = FIRST_PORT + ((k * 7919) % n) as u16;
                if k >= n {
                    // Fewer servers than runs: the server killed before comes back first.
                    servers.revive(port);
                    let from = t.text().len();
                    if wait(Duration::from_secs(60), || t.back_up(port, from)).is_none() {
                        eprintln!("{tool} n={n}: {port} never came back");
                        continue;
                    }
                }
                // A stratified random phase of the interval.
                std::thread::sleep(Duration::from_millis(
                    (1000 * k as u64 / runs.max(1) as u64) + 137,
                ));
                let from = t.text().len();
                servers.kill(port);
                let t0 = Instant::now();
                match wait(Duration::from_secs(120), || t.removed(port, from)) {
                    Some(_) => removals.push(t0.elapsed().as_secs_f64() * 1000.0),
                    None => {
                        let text = std::fs::read_to_string(&t.log).unwrap_or_default();
                        let tail: Vec<&str> = text.lines().rev().take(8).collect();
                        eprintln!(
                            "{tool} n={n}: {port} never removed; log ends:\n{}",
                            tail.join("\n")
                        );
                    }
                }
            }
            let _ = t.run("stop");
            let med = median(&mut removals.clone());
            eprintln!(
                "{tool} n={n}: cpu {cpu:.2}% rss {rss} kB hwm {hwm} kB removal median {med:.0} ms {removals:?}"
            );
            rows.push((n, tool.clone(), cpu, rss, hwm, med, removals, warm_s));
            drop(servers);
        }
    }
    let ipvs = Path::new("/proc/net/ip_vs").exists();
    let mut json = format!(
        "{{\n  \"interval_ms\": 1000,\n  \"removal_bound_ms\": 2000,\n  \"kernel_ipvs\": {ipvs},\n  \"kernel\": \"{}\",\n  \"results\": [\n",
        sh("uname -r").1.trim()
    );
    for (i, (n, tool, cpu, rss, hwm, med, rem, warm)) in rows.iter().enumerate() {
        let _ = write!(
            json,
            "    {{\"tool\": \"{tool}\", \"servers\": {n}, \"cpu_percent\": {cpu:.3}, \"rss_kb\": {rss}, \"hwm_kb\": {hwm}, \"removal_median_ms\": {med:.0}, \"removal_ms\": [{}], \"within_1_1_bound\": {}, \"first_round_s\": {}}}{}",
            rem.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            *med <= 1.1 * BOUND_MS,
            warm.map_or("null".into(), |w| format!("{w:.2}")),
            if i + 1 < rows.len() { "," } else { "" }
        );
        json.push('\n');
    }
    json.push_str("  ]");
    for other in ["ldirectord", "keepalived"] {
        let _ = write!(json, ",\n  \"ratios_ours_to_{other}\": [\n");
        let mut first = true;
        for &n in &args.sizes {
            let find = |t: &str| rows.iter().find(|r| r.0 == n && r.1 == t);
            if let (Some(o), Some(l)) = (find("ours"), find(other)) {
                let _ = write!(
                    json,
                    "{}    {{\"servers\": {n}, \"cpu\": {:.4}, \"rss\": {:.3}, \"removal\": {:.3}}}",
                    if first { "" } else { ",\n" },
                    o.2 / l.2.max(1e-9),
                    o.3 as f64 / (l.3 as f64).max(1.0),
                    o.5 / l.5.max(1e-9)
                );
                first = false;
            }
        }
        json.push_str("\n  ]");
    }
    json.push_str("\n}\n");
    match args.json.as_deref() {
        Some("-") | None => print!("{json}"),
        Some(f) => std::fs::write(f, &json).expect("write json"),
    }
}
