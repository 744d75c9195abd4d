//! The client half of the control socket (see [`crate::daemon::control`] for the protocol), shared by
//! `cl_status`, `hb_standby`, `hb_takeover` and `heartbeat -s`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::daemon::control::socket_path;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No socket, or nobody listening.
    NotRunning,
    /// The socket's permissions or the daemon's admission check said no.
    Refused(String),
    /// No complete answer within the bound.
    Timeout,
    Io(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NotRunning => write!(f, "heartbeat is not running"),
            ClientError::Refused(why) => write!(f, "permission denied: {why}"),
            ClientError::Timeout => write!(f, "no answer from heartbeat in time"),
            ClientError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Sends one request line and returns the whole answer.
pub fn request(run_dir: &Path, line: &str, limit: Duration) -> Result<String, ClientError> {
    let path = socket_path(run_dir);
    let mut s = UnixStream::connect(&path).map_err(|e| match e.raw_os_error() {
        Some(nix::libc::ENOENT | nix::libc::ECONNREFUSED) => ClientError::NotRunning,
        Some(nix::libc::EACCES | nix::libc::EPERM) => {
            ClientError::Refused(format!("cannot connect to {}", path.display()))
        }
        _ => ClientError::Io(format!("{}: {e}", path.display())),
    })?;
    let start = Instant::now();
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            ClientError::Timeout
        } else {
            ClientError::Io(e.to_string())
        }
    };
    s.set_write_timeout(Some(limit)).map_err(io)?;
    // The daemon may answer (a refusal) and close before reading: keep that answer.
    let write_error = s.write_all(format!("{line}\n").as_bytes()).err();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(ClientError::Timeout);
        }
        s.set_read_timeout(Some(left)).map_err(io)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => break,
            Err(e) => return Err(io(e)),
        }
    }
    if out.is_empty()
        && let Some(e) = write_error
    {
        return Err(io(e));
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    if let Some(why) = text.strip_prefix("ERR permission denied: ") {
        return Err(ClientError::Refused(why.trim_end().to_string()));
    }
    if text.is_empty() {
        return Err(ClientError::Io("empty answer".to_string()));
    }
    Ok(text)
}

/// One node of a `status` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    pub node_type: String,
    pub status: String,
    pub links: Vec<(String, String)>,
}

/// A parsed `status` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub version: String,
    pub local: String,
    pub uuid: String,
    pub generation: String,
    pub rscstatus: String,
    /// In ha.cf order, as the daemon sent them.
    pub nodes: Vec<NodeRecord>,
    pub drops: Vec<(String, String)>,
    /// (kind, medium, count) from `drop_on` lines.
    pub drops_on: Vec<(String, String, String)>,
}

/// Parses the `status` answer; `None` if it is not one (or truncated).
pub fn parse_report(text: &str) -> Option<Report> {
    let mut lines = text.lines();
    if lines.next()? != "OK" {
        return None;
    }
    let mut r = Report::default();
    let mut ended = false;
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["END"] => {
                ended = true;
                break;
            }
            ["version", v] => r.version = (*v).to_string(),
            ["local", v] => r.local = (*v).to_string(),
            ["uuid", v] => r.uuid = (*v).to_string(),
            ["generation", v] => r.generation = (*v).to_string(),
            ["rscstatus", v] => r.rscstatus = (*v).to_string(),
            ["node", n, t, s] => r.nodes.push(NodeRecord {
                name: (*n).to_string(),
                node_type: (*t).to_string(),
                status: (*s).to_string(),
                links: Vec::new(),
            }),
            ["link", n, l, s] => {
                if let Some(node) = r.nodes.iter_mut().rev().find(|x| x.name == *n) {
                    node.links.push(((*l).to_string(), (*s).to_string()));
                }
            }
            ["drop", k, n] => r.drops.push(((*k).to_string(), (*n).to_string())),
            ["drop_on", k, m, n] => {
                r.drops_on
                    .push(((*k).to_string(), (*m).to_string(), (*n).to_string()))
            }
            _ => {}
        }
    }
    ended.then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trip() {
        let t = "OK\nversion\t0.1.0\nlocal\tnodea\nuuid\tx\ngeneration\t5\nrscstatus\tlocal\n\
                 node\tnodea\tnormal\tactive\nlink\tnodea\teth1\tup\nnode\tnodeb\tnormal\tdead\n\
                 link\tnodeb\teth1\tdead\nbad_requests\t0\nEND\n";
        let r = parse_report(t).unwrap();
        assert_eq!(r.local, "nodea");
        assert_eq!(r.rscstatus, "local");
        assert_eq!(r.nodes.len(), 2);
        assert_eq!(r.nodes[1].links, vec![("eth1".into(), "dead".into())]);
        assert!(parse_report("OK\nversion\t1\n").is_none(), "truncated");
        assert!(parse_report("ERR x\n").is_none());
    }

    #[test]
    fn missing_socket_means_not_running() {
        let d = std::env::temp_dir().join(format!("hbcli-none-{}", std::process::id()));
        assert_eq!(
            request(&d, "ping", Duration::from_secs(1)),
            Err(ClientError::NotRunning)
        );
    }
}
