//! The control socket: a Unix stream socket in the run dir (mode 0660, group `haclient` when it
//! exists) used by `cl_status`, `hb_standby` and `hb_takeover`.
//!
//! Admission: the peer's credentials (`SO_PEERCRED`) must be uid 0, or carry the `haclient` gid
//! as primary or supplementary group. Anyone else gets one `ERR permission denied ...` line.
//! The requests that change the cluster (`standby`, `takeover`) are further limited to root and
//! the `hacluster` user, as the original's `hb_standby` / `hb_takeover` are: a member of
//! `haclient` may read the status, not move the resources.
//!
//! Protocol: one request line per connection, answered, then the daemon closes the connection.
//!
//! | request | answer |
//! |---|---|
//! | `ping` | `OK` |
//! | `status` | `OK`, then tab-separated records (`version`, `local`, `uuid`, `generation`, `rscstatus`, `node NAME TYPE STATUS`, `link NODE LINK up/dead`, `drop KIND N`, `drop_on KIND MEDIUM N`, `bad_requests N`), then `END` |
//! | `json` | `OK`, then one JSON object (nodes, links, groups, failures, drops, transitions, respawn clients) |
//! | `param NAME` | `OK\tVALUE` or `ERR unknown parameter NAME` |
//! | `standby all/local/foreign/failback` | the core's answer: `OK TEXT` or `ERR TEXT` |
//! | `takeover all/local/foreign/failback` | same |
//! | `fenced NODE` | the administrator confirms NODE is down: a pending fence counts as done |
//!
//! `standby failback` means `standby foreign` (give the peer's groups back); `takeover failback`
//! means `takeover local` (bring back the groups we prefer), not "everything" (spec §13.22).
//! Anything else gets `ERR ...` and is counted in `bad_requests`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::config::{Config, Millis};
use crate::core::{AdminCommand, ClientId, NodeType, RscSet, StatusView};

/// File name of the socket inside the run dir.
pub const SOCKET_NAME: &str = "control.sock";
/// Group admitted besides root.
pub const ADMIN_GROUP: &str = "haclient";
/// The user who may change the cluster besides root.
pub const ADMIN_USER: &str = "hacluster";
/// Longest request line accepted.
const MAX_REQUEST: usize = 512;
/// Clients served at once; more are turned away.
const MAX_CLIENTS: usize = 64;
/// A client silent (or waiting for the core) longer than this is dropped.
const CLIENT_TIMEOUT_MS: Millis = 60_000;

pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    Status,
    /// Everything as one JSON object (crate::daemon::report).
    Json,
    Param(String),
    /// Monitoring failures, one line per monitored resource (crate::core::monitor).
    RscFail,
    Admin(AdminCommand),
}

/// Parses one request line.
pub fn parse_request(line: &str) -> Result<Request, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["ping"] => Ok(Request::Ping),
        ["status"] => Ok(Request::Status),
        ["json"] => Ok(Request::Json),
        ["param", name] => Ok(Request::Param((*name).to_string())),
        ["rscfail"] => Ok(Request::RscFail),
        ["rscclear"] => Ok(Request::Admin(AdminCommand::ClearFailures(None))),
        ["rscclear", r] => Ok(Request::Admin(AdminCommand::ClearFailures(Some(
            (*r).to_string(),
        )))),
        ["standby", set] => Ok(Request::Admin(AdminCommand::Standby(
            parse_set(set, RscSet::Foreign).ok_or_else(|| format!("bad resource set '{set}'"))?,
        ))),
        ["fenced", node] => Ok(Request::Admin(AdminCommand::ConfirmFenced(
            (*node).to_ascii_lowercase(),
        ))),
        ["takeover", set] => Ok(Request::Admin(AdminCommand::Takeover(
            parse_set(set, RscSet::Local).ok_or_else(|| format!("bad resource set '{set}'"))?,
        ))),
        [] => Err("empty request".to_string()),
        _ => Err("malformed request".to_string()),
    }
}

fn parse_set(word: &str, failback: RscSet) -> Option<RscSet> {
    match word {
        "all" => Some(RscSet::All),
        "local" => Some(RscSet::Local),
        "foreign" => Some(RscSet::Foreign),
        "failback" => Some(failback),
        _ => None,
    }
}

/// Facts of the daemon that the core does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonFacts {
    pub version: String,
    pub uuid: String,
    pub generation: u64,
    pub bad_requests: u64,
}

/// The `status` answer.
pub fn render_status(view: &StatusView, config: &Config, facts: &DaemonFacts) -> String {
    let mut s = String::from("OK\n");
    s.push_str(&format!("version\t{}\n", facts.version));
    s.push_str(&format!("local\t{}\n", config.local));
    s.push_str(&format!("uuid\t{}\n", facts.uuid));
    s.push_str(&format!("generation\t{}\n", facts.generation));
    s.push_str(&format!("rscstatus\t{}\n", view.rscstatus));
    for n in &view.nodes {
        let t = match n.node_type {
            NodeType::Normal => "normal",
            NodeType::Ping => "ping",
        };
        s.push_str(&format!("node\t{}\t{t}\t{}\n", n.name, n.status.as_str()));
        for (link, up) in &n.links {
            let st = if *up { "up" } else { "dead" };
            s.push_str(&format!("link\t{}\t{link}\t{st}\n", n.name));
        }
    }
    for (kind, n) in &view.drops {
        s.push_str(&format!("drop\t{kind}\t{n}\n"));
    }
    for (kind, medium, n) in &view.drops_by_medium {
        s.push_str(&format!("drop_on\t{kind}\t{medium}\t{n}\n"));
    }
    s.push_str(&format!("bad_requests\t{}\n", facts.bad_requests));
    s.push_str("END\n");
    s
}

/// The `rscfail` answer: `OK`, then per monitored resource
/// `RESOURCE<TAB>STATE<TAB>FAILURES<TAB>RESTARTS/MAX<TAB>failed_here|-<TAB>LAST_UNIX<TAB>WHY`.
pub fn render_rscfail(view: &StatusView) -> String {
    let mut s = String::from("OK\n");
    for m in &view.monitors {
        let (when, why) = match &m.last_failure {
            Some((t, w)) => (t.to_string(), w.replace(['\t', '\n'], " ")),
            None => ("-".to_string(), "-".to_string()),
        };
        s.push_str(&format!(
            "{}\t{}\t{}\t{}/{}\t{}\t{when}\t{why}\n",
            m.resource,
            m.state,
            m.failures,
            m.restarts.0,
            m.restarts.1,
            if m.failed_here { "failed_here" } else { "-" }
        ));
    }
    s
}

/// The `param NAME` answer, from the directives as written or defaulted.
pub fn render_param(config: &Config, name: &str) -> String {
    let wanted = name.to_ascii_lowercase();
    match config
        .ha
        .directives
        .iter()
        .rev()
        .find(|(k, _)| k.to_ascii_lowercase() == wanted)
    {
        Some((_, v)) => format!("OK\t{v}\n"),
        None => format!("ERR unknown parameter {name}\n"),
    }
}

/// Who may talk to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub group: Option<u32>,
    /// uid of [`ADMIN_USER`], when it exists.
    pub admin_uid: Option<u32>,
}

impl Admission {
    /// Looks up the admin group once (at start and reload), not per connection.
    pub fn lookup() -> Admission {
        let group = nix::unistd::Group::from_name(ADMIN_GROUP)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        let admin_uid = nix::unistd::User::from_name(ADMIN_USER)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        Admission { group, admin_uid }
    }

    /// Whether this uid may change the cluster (standby, takeover).
    pub fn may_change(&self, uid: u32) -> bool {
        uid == 0 || Some(uid) == self.admin_uid
    }

    /// Whether a peer with these credentials is admitted.
    pub fn admits(&self, uid: u32, gid: u32, pid: i32) -> bool {
        if uid == 0 {
            return true;
        }
        let Some(g) = self.group else {
            return false;
        };
        gid == g || supplementary_groups(pid).contains(&g)
    }
}

/// The `Groups:` line of `/proc/PID/status`.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Something the loop must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub client: ClientId,
    pub request: Request,
}

enum Phase {
    Reading,
    /// Request handed to the loop; waiting for `respond`.
    Waiting,
    Writing,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    written: usize,
    phase: Phase,
    since: Millis,
    /// The peer's uid (from its credentials).
    uid: Option<u32>,
}

/// The listening socket and its connections.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    listener_token: Token,
    token_base: usize,
    next_id: u64,
    clients: HashMap<u64, Client>,
    pub admission: Admission,
    pub bad_requests: u64,
}

impl ControlServer {
    /// Binds the socket (replacing a stale one: the caller holds the pid lock).
    pub fn bind(
        run_dir: &Path,
        registry: &Registry,
        listener_token: Token,
        token_base: usize,
    ) -> std::io::Result<ControlServer> {
        let path = socket_path(run_dir);
        let _ = std::fs::remove_file(&path);
        let mut listener = UnixListener::bind(&path)?;
        let admission = Admission::lookup();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
        if let Some(g) = admission.group {
            let _ = nix::unistd::chown(&path, None, Some(nix::unistd::Gid::from_raw(g)));
        }
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(ControlServer {
            listener,
            path,
            listener_token,
            token_base,
            next_id: 0,
            clients: HashMap::new(),
            admission,
            bad_requests: 0,
        })
    }

    pub fn is_listener(&self, token: Token) -> bool {
        token == self.listener_token
    }

    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.token_base
    }

    /// Accepts every pending connection.
    pub fn accept(&mut self, registry: &Registry, now: Millis) {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let id = self.next_id;
            self.next_id += 1;
            let token = Token(self.token_base + id as usize);
            let admitted = peer_admitted(&stream, &self.admission);
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            let mut client = Client {
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                written: 0,
                phase: Phase::Reading,
                since: now,
                uid: admitted.as_ref().ok().copied(),
            };
            if let Err(why) = admitted {
                log::warn!("control: refused a client: {why}");
                client.outbuf = format!("ERR permission denied: {why}\n").into_bytes();
                client.phase = Phase::Writing;
            } else if self.clients.len() >= MAX_CLIENTS {
                client.outbuf = b"ERR too many clients\n".to_vec();
                client.phase = Phase::Writing;
            }
            self.clients.insert(id, client);
            self.flush(registry, id);
        }
    }

    /// Handles readiness of a client; returns a complete request, if one arrived.
    pub fn on_event(&mut self, registry: &Registry, token: Token) -> Option<Incoming> {
        let id = token.0.checked_sub(self.token_base)? as u64;
        let client = self.clients.get_mut(&id)?;
        let mut result = None;
        if matches!(client.phase, Phase::Reading) {
            let mut buf = [0u8; 512];
            let mut closed = false;
            loop {
                match client.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        client.inbuf.extend_from_slice(&buf[..n]);
                        if client.inbuf.len() > MAX_REQUEST || client.inbuf.contains(&b'\n') {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            let line_end = client.inbuf.iter().position(|b| *b == b'\n');
            let complete = match line_end {
                Some(p) if p <= MAX_REQUEST => Some(client.inbuf[..p].to_vec()),
                // A request without newline before EOF is still a request.
                None if closed && !client.inbuf.is_empty() && client.inbuf.len() <= MAX_REQUEST => {
                    Some(client.inbuf.clone())
                }
                _ => None,
            };
            if let Some(raw) = complete {
                let line = String::from_utf8_lossy(&raw).into_owned();
                match parse_request(&line) {
                    Ok(Request::Admin(_))
                        if !client.uid.is_some_and(|u| self.admission.may_change(u)) =>
                    {
                        let uid = client.uid.map(|u| u.to_string()).unwrap_or_default();
                        log::warn!("control: refused a standby/takeover request of uid {uid}");
                        client.outbuf = format!(
                            "ERR permission denied: uid {uid} is neither root nor {ADMIN_USER} (group {ADMIN_GROUP} may read the status only)\n"
                        )
                        .into_bytes();
                        client.phase = Phase::Writing;
                    }
                    Ok(request) => {
                        client.phase = Phase::Waiting;
                        result = Some(Incoming {
                            client: ClientId(id),
                            request,
                        });
                    }
                    Err(why) => {
                        self.bad_requests += 1;
                        log::warn!("control: bad request {:?}: {why}", line.trim());
                        client.outbuf = format!("ERR {why}\n").into_bytes();
                        client.phase = Phase::Writing;
                    }
                }
            } else if client.inbuf.len() > MAX_REQUEST {
                self.bad_requests += 1;
                client.outbuf = b"ERR request too long\n".to_vec();
                client.phase = Phase::Writing;
            } else if closed {
                self.drop_client(registry, id);
                return None;
            }
        }
        self.flush(registry, id);
        result
    }

    /// Sends the answer to a waiting client (ignored if it has gone).
    pub fn respond(&mut self, registry: &Registry, client: ClientId, text: &str) {
        if let Some(c) = self.clients.get_mut(&client.0) {
            c.outbuf = text.as_bytes().to_vec();
            c.written = 0;
            c.phase = Phase::Writing;
            self.flush(registry, client.0);
        }
    }

    /// Drops clients that have been around too long.
    pub fn expire(&mut self, registry: &Registry, now: Millis) {
        let old: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| now.saturating_sub(c.since) > CLIENT_TIMEOUT_MS)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.drop_client(registry, id);
        }
    }

    /// Earliest client expiry.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.clients
            .values()
            .map(|c| c.since + CLIENT_TIMEOUT_MS + 1)
            .min()
    }

    fn flush(&mut self, registry: &Registry, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if !matches!(c.phase, Phase::Writing) {
            return;
        }
        if write_pending(&mut c.stream, &c.outbuf, &mut c.written) {
            self.drop_client(registry, id);
        }
    }

    fn drop_client(&mut self, registry: &Registry, id: u64) {
        if let Some(mut c) = self.clients.remove(&id) {
            let _ = registry.deregister(&mut c.stream);
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes what is left of `buf` to a non-blocking stream. `false`: it would block (wait for
/// writability); `true`: all written or the peer is gone — either way, close. Shared by the
/// control socket and the metrics endpoint.
pub(super) fn write_pending(stream: &mut impl Write, buf: &[u8], written: &mut usize) -> bool {
    while *written < buf.len() {
        match stream.write(&buf[*written..]) {
            Ok(0) => break,
            Ok(n) => *written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => break,
        }
    }
    true
}

/// The peer's uid if it is admitted at all.
fn peer_admitted(stream: &UnixStream, admission: &Admission) -> Result<u32, String> {
    let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| format!("no peer credentials: {e}"))?;
    if admission.admits(cred.uid(), cred.gid(), cred.pid()) {
        Ok(cred.uid())
    } else {
        Err(format!(
            "uid {} is neither root nor a member of group {ADMIN_GROUP}",
            cred.uid()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_failback_maps_per_command() {
        assert_eq!(parse_request("status"), Ok(Request::Status));
        assert_eq!(parse_request(" ping \r"), Ok(Request::Ping));
        assert_eq!(
            parse_request("param deadtime"),
            Ok(Request::Param("deadtime".into()))
        );
        assert_eq!(
            parse_request("standby failback"),
            Ok(Request::Admin(AdminCommand::Standby(RscSet::Foreign)))
        );
        assert_eq!(
            parse_request("takeover failback"),
            Ok(Request::Admin(AdminCommand::Takeover(RscSet::Local)))
        );
        assert_eq!(
            parse_request("takeover all"),
            Ok(Request::Admin(AdminCommand::Takeover(RscSet::All)))
        );
        assert!(parse_request("standby everything").is_err());
        assert!(parse_request("").is_err());
        assert!(parse_request("status now").is_err());
        assert!(parse_request("reboot").is_err());
    }

    #[test]
    fn admission_rules() {
        let a = Admission {
            group: Some(105),
            admin_uid: Some(106),
        };
        assert!(a.admits(0, 0, 1));
        assert!(a.admits(1000, 105, 1));
        assert!(!a.admits(65534, 65534, -1));
        // Reading is for haclient; changing the cluster for root and hacluster only.
        assert!(a.may_change(0) && a.may_change(106));
        assert!(!a.may_change(1000));
        let none = Admission {
            group: None,
            admin_uid: None,
        };
        assert!(!none.admits(1000, 105, 1));
        assert!(!none.may_change(1000));
    }

    #[test]
    fn server_answers_and_counts_malformed_requests() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: admission test assumes root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("hbctl-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut poll = mio::Poll::new().unwrap();
        let mut server = ControlServer::bind(&dir, poll.registry(), Token(1), 1000).unwrap();
        let mode = std::fs::metadata(socket_path(&dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o660);
        let ask = |line: &'static str| {
            let path = socket_path(&dir);
            std::thread::spawn(move || {
                let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
                s.write_all(line.as_bytes()).unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            })
        };
        let mut events = mio::Events::with_capacity(8);
        let mut serve = |server: &mut ControlServer, h: std::thread::JoinHandle<String>| {
            for _ in 0..200 {
                poll.poll(&mut events, Some(std::time::Duration::from_millis(20)))
                    .unwrap();
                for ev in events.iter() {
                    if server.is_listener(ev.token()) {
                        server.accept(poll.registry(), 0);
                    } else if let Some(inc) = server.on_event(poll.registry(), ev.token()) {
                        assert_eq!(inc.request, Request::Ping);
                        server.respond(poll.registry(), inc.client, "OK\n");
                    }
                }
                if h.is_finished() {
                    break;
                }
            }
            h.join().unwrap()
        };
        let h = ask("ping\n");
        assert_eq!(serve(&mut server, h), "OK\n");
        let h = ask("frobnicate\n");
        assert_eq!(serve(&mut server, h), "ERR malformed request\n");
        assert_eq!(server.bad_requests, 1);
        drop(server);
        assert!(!socket_path(&dir).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
