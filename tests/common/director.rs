//! The LVS director's lab, shared by its namespace tests (nft backend, this kernel) and its
//! IPVS test (a machine with `ip_vs`, tests/vm): a client asking the VIP, three busybox web
//! servers and a sorry server behind a director run by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::netns::{Netns, TempDir, can_use_netns, run, veth, wait_until};
use super::testbed::probe::{enter_netns, http_get_here};

pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const REALS: [&str; 3] = ["203.0.113.11", "203.0.113.12", "203.0.113.13"];
pub const SORRY: &str = "203.0.113.20";
/// checkinterval × failurecount + checktimeout of [`cf`].
pub const REMOVAL_BOUND: Duration = Duration::from_millis(1000 * 2 + 500);

pub fn ldirectord_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hb_ldirectord"))
}

pub fn usable(test: &str) -> bool {
    if !can_use_netns() {
        eprintln!("{test}: skipped: needs root and iproute2");
        return false;
    }
    for tool in ["/bin/busybox", "/usr/sbin/nft"] {
        if !Path::new(tool).exists() {
            eprintln!("{test}: skipped: {tool} missing");
            return false;
        }
    }
    true
}

/// The ldirectord.cf of these tests (`quiescent`: a dead server stays with weight 0 rather
/// than leaving).
pub fn cf(log: &Path, quiescent: bool) -> String {
    let mut s = format!(
        "checkinterval=1\nchecktimeout=500ms\nfailurecount=2\nquiescent={}\nautoreload=no\nlogfile=\"{}\"\n\nvirtual=192.0.2.10:80\n",
        if quiescent { "yes" } else { "no" },
        log.display()
    );
    for r in REALS {
        s.push_str(&format!("\treal={r}:80 masq\n"));
    }
    s.push_str(&format!(
        "\tfallback={SORRY}:80 masq\n\tservice=http\n\trequest=\"index.html\"\n\treceive=\"^(real|sorry) \"\n\tscheduler=rr\n"
    ));
    s
}

/// The real servers: one namespace, one busybox httpd per address, each killable alone.
pub struct Backend {
    pub ns: Netns,
    pub dir: TempDir,
    pub pids: BTreeMap<String, u32>,
}

impl Backend {
    pub fn new() -> Backend {
        let ns = Netns::new("ldr");
        let dir = TempDir::new("ldr");
        let mut b = Backend {
            ns,
            dir,
            pids: BTreeMap::new(),
        };
        b.ns.sh("ip link add br0 type bridge && ip link set br0 up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
        for ip in REALS.iter().chain([SORRY].iter()) {
            b.ns.sh(&format!("ip addr add {ip}/24 dev br0"));
        }
        for ip in REALS.iter().chain([SORRY].iter()) {
            b.start(ip);
        }
        b
    }

    /// Attaches a link end (already in this namespace) to the bridge.
    pub fn attach(&self, port: &str) {
        self.ns.sh(&format!("ip link set {port} master br0"));
    }

    pub fn route_via(&self, gw: &str) {
        self.ns.sh(&format!("ip route add default via {gw}"));
    }

    pub fn start(&mut self, ip: &str) {
        let www = self.dir.path.join(ip);
        std::fs::create_dir_all(&www).expect("www");
        let word = if ip == SORRY { "sorry" } else { "real" };
        std::fs::write(www.join("index.html"), format!("{word} {ip}\n")).expect("page");
        let out = self.ns.sh(&format!(
            "setsid busybox httpd -f -p {ip}:80 -h {} >/dev/null 2>&1 </dev/null & echo $!",
            www.display()
        ));
        let pid: u32 = out.trim().parse().expect("httpd pid");
        self.pids.insert(ip.to_string(), pid);
        let addr: std::net::SocketAddr = format!("{ip}:80").parse().expect("addr");
        let listening = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            super::testbed::probe::in_netns(&self.ns.name, move || {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
            .unwrap_or(false)
        });
        assert!(listening, "httpd on {ip} did not listen");
    }

    pub fn stop(&mut self, ip: &str) {
        if let Some(pid) = self.pids.remove(ip) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// What the client got at each moment: the page's first line, or nothing (an error).
pub type Answers = Vec<(Instant, Option<String>)>;

/// A client asking the VIP every 20 ms, each answer (or failure) recorded with its time.
pub struct Load {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Answers>>,
}

impl Load {
    pub fn start(client_ns: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = client_ns.to_string();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            if enter_netns(&name).is_err() {
                return out;
            }
            let limit = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < limit {
                let t = Instant::now();
                let got = match http_get_here(VIP, Duration::from_millis(500)) {
                    Some((200, body)) => Some(body.trim().to_string()),
                    _ => None,
                };
                out.push((t, got));
                std::thread::sleep(Duration::from_millis(20));
            }
            out
        });
        Load {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> Answers {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

pub fn answers_between(
    log: &[(Instant, Option<String>)],
    from: Instant,
    to: Instant,
) -> (usize, usize, BTreeSet<String>) {
    let mut ok = 0;
    let mut failed = 0;
    let mut seen = BTreeSet::new();
    for (t, a) in log.iter().filter(|(t, _)| *t >= from && *t < to) {
        let _ = t;
        match a {
            Some(body) => {
                ok += 1;
                seen.insert(body.clone());
            }
            None => failed += 1,
        }
    }
    (ok, failed, seen)
}

/// Waits until the director's state file says `ip` is `word`; returns when.
pub fn wait_state(state: &Path, ip: &str, word: &str, limit: Duration) -> Option<Instant> {
    let needle = format!("{ip}:80 {word}");
    let ok = wait_until(limit, Duration::from_millis(5), || {
        std::fs::read_to_string(state).is_ok_and(|s| s.contains(&needle))
    });
    ok.then(Instant::now)
}

pub fn client_sees(client: &str, want: &str, limit: Duration) -> bool {
    let client = client.to_string();
    let want = want.to_string();
    wait_until(limit, Duration::from_millis(50), move || {
        let c = client.clone();
        super::testbed::probe::in_netns(&c, || http_get_here(VIP, Duration::from_millis(500)))
            .ok()
            .flatten()
            .is_some_and(|(code, body)| code == 200 && body.contains(&want))
    })
}

/// Client — director — real servers, the director run by hand (no heartbeat).
pub struct Alone {
    pub client: Netns,
    pub director: Netns,
    pub back: Backend,
    pub dir: TempDir,
    pub cf_path: PathBuf,
}

impl Alone {
    pub fn new() -> Alone {
        Alone::with(false)
    }

    /// The lab with [`cf`]'s `quiescent` as given.
    pub fn with(quiescent: bool) -> Alone {
        let client = Netns::new("ldc");
        let director = Netns::new("ldd");
        let back = Backend::new();
        veth(&client, "eth0", &director, "eth0");
        veth(&director, "eth1", &back.ns, "dport");
        back.attach("dport");
        back.route_via("203.0.113.1");
        client.sh("ip addr add 192.0.2.100/24 dev eth0");
        director.sh("ip addr add 192.0.2.1/24 dev eth0 && ip addr add 192.0.2.10/24 dev eth0 && ip addr add 203.0.113.1/24 dev eth1 && sysctl -qw net.ipv4.ip_forward=1");
        let dir = TempDir::new("ldcf");
        let cf_path = dir.path.join("ldirectord.cf");
        std::fs::write(&cf_path, cf(&dir.path.join("ld.log"), quiescent)).expect("cf");
        Alone {
            client,
            director,
            back,
            dir,
            cf_path,
        }
    }

    /// `hb_ldirectord [FLAGS] CONFIG CMD` in the director's namespace.
    pub fn ld(&self, flags: &str, cmd: &str) -> std::process::Output {
        run(&self.director.wrap(&format!(
            "HB_LDIRECTORD_RUN_DIR={d} {bin} {flags} {cf} {cmd}",
            d = self.dir.s(),
            bin = ldirectord_bin().display(),
            cf = self.cf_path.display()
        )))
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path.join("ldirectord.ldirectord.state")
    }

    /// Whether the nft backend's table stands.
    pub fn has_rules(&self) -> bool {
        self.director.sh("nft list tables").contains("hbrs_ld")
    }

    /// The director's IPVS table as `ipvsadm -Ln` prints it.
    pub fn ipvs(&self) -> String {
        self.director.sh("ipvsadm -Ln")
    }
}
