//! Every kind of real-server check against a real server on loopback, through the director's
//! probe engine and one mio poll, as `hb_ldirectord` runs them: connect, HTTP (status, receive,
//! Host, HEAD), HTTPS (openssl s_server, SNI from virtualhost), simpletcp, SMTP, DNS over UDP,
//! ping, external commands (exit code, a hung command timed out and killed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use heartbeat::config::ldirectord::HttpMethod;
use heartbeat::director::health::RealId;
use heartbeat::director::probe::Engine;
use heartbeat::director::probe::engine::Ready;
use heartbeat::director::spec::ProbeSpec;
use mio::{Events, Poll};
use regex::bytes::Regex;

/// Runs one check to its verdict.
fn check(spec: ProbeSpec, timeout_ms: u64) -> (bool, String, Duration) {
    let mut poll = Poll::new().unwrap();
    let mut engine = Engine::new(64);
    let t0 = Instant::now();
    engine.start(
        poll.registry(),
        RealId { virt: 0, real: 0 },
        spec,
        timeout_ms,
        t0,
    );
    let mut events = Events::with_capacity(64);
    loop {
        if let Some(v) = engine.take_verdicts().into_iter().next() {
            return (v.ok, v.detail, t0.elapsed());
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no verdict");
        let wait = engine
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        poll.poll(&mut events, Some(wait)).unwrap();
        for ev in events.iter() {
            engine.event(poll.registry(), ev.token(), Ready::of(ev));
        }
        engine.expire(poll.registry(), Instant::now());
    }
}

/// A one-shot TCP server: sends `greeting`, reads the request (to its blank line when it is
/// HTTP), answers `reply`, closes; the request comes back on the channel.
fn server(greeting: &'static [u8], reply: Vec<u8>) -> (SocketAddr, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let _ = s.write_all(greeting);
        let mut req = Vec::new();
        let mut b = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && !req.ends_with(b"\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(&reply);
        let _ = tx.send(String::from_utf8_lossy(&req).into_owned());
    });
    (addr, rx)
}

fn http(addr: SocketAddr, receive: Option<&str>, host: &str, method: HttpMethod) -> ProbeSpec {
    ProbeSpec::Http {
        addr,
        tls: false,
        method,
        path: "/health".into(),
        host: host.into(),
        receive: receive.map(|r| Regex::new(r).unwrap()),
    }
}

#[test]
fn connect_checks_see_a_listener_and_a_refusal() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (ok, detail, _) = check(ProbeSpec::Connect { addr }, 1000);
    assert!(ok, "{detail}");
    drop(l);
    let (ok, detail, took) = check(ProbeSpec::Connect { addr }, 1000);
    assert!(!ok && detail.contains("connect"), "{detail}");
    assert!(
        took < Duration::from_millis(500),
        "a refusal is not a timeout: {took:?}"
    );
}

#[test]
fn http_checks_judge_status_receive_and_send_the_virtual_host() {
    let (addr, req) = server(
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nI am fine".to_vec(),
    );
    let (ok, detail, _) = check(
        http(addr, Some("am f"), "www.example.org", HttpMethod::Get),
        2000,
    );
    assert!(ok, "{detail}");
    let sent = req.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(sent.starts_with("GET /health HTTP/1.1\r\n"), "{sent}");
    assert!(sent.contains("\r\nHost: www.example.org\r\n"), "{sent}");

    let (addr, _) = server(b"", b"HTTP/1.1 503 Service Unavailable\r\n\r\n".to_vec());
    let (ok, detail, _) = check(http(addr, None, "x", HttpMethod::Get), 2000);
    assert!(!ok && detail.contains("HTTP 503"), "{detail}");

    let (addr, _) = server(b"", b"HTTP/1.0 200 OK\r\n\r\nmaintenance".to_vec());
    let (ok, detail, _) = check(http(addr, Some("^I am"), "x", HttpMethod::Get), 2000);
    assert!(!ok && detail.contains("did not match"), "{detail}");

    let (addr, req) = server(b"", b"HTTP/1.0 200 OK\r\n\r\n".to_vec());
    let (ok, detail, _) = check(http(addr, None, "x", HttpMethod::Head), 2000);
    assert!(ok, "{detail}");
    assert!(
        req.recv_timeout(Duration::from_secs(5))
            .unwrap()
            .starts_with("HEAD ")
    );

    // A server that accepts and says nothing: the check times out, on time.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (ok, detail, took) = check(http(addr, None, "x", HttpMethod::Get), 300);
    assert!(!ok && detail.contains("timed out"), "{detail}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(800),
        "{took:?}"
    );
    drop(l);
}

#[test]
fn simpletcp_smtp_checks() {
    let (addr, req) = server(b"", b"+OK ready\r\n".to_vec());
    let spec = ProbeSpec::Tcp {
        addr,
        send: Some("PING\n".into()),
        receive: Some(Regex::new("^\\+OK").unwrap()),
    };
    let (ok, detail, _) = check(spec, 2000);
    assert!(ok, "{detail}");
    assert_eq!(req.recv_timeout(Duration::from_secs(5)).unwrap(), "PING\n");

    let (addr, _) = server(b"220 mx.example.org ESMTP\r\n", b"221 bye\r\n".to_vec());
    let (ok, detail, _) = check(ProbeSpec::Smtp { addr }, 2000);
    assert!(ok, "{detail}");
    let (addr, _) = server(b"554 go away\r\n", Vec::new());
    let (ok, detail, _) = check(ProbeSpec::Smtp { addr }, 2000);
    assert!(!ok && detail.contains("554"), "{detail}");
}

#[test]
fn dns_checks_read_the_a_record() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        for _ in 0..2 {
            let Ok((n, from)) = sock.recv_from(&mut b) else {
                return;
            };
            let mut r = b[..n].to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            r[7] = 1;
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
            let _ = sock.send_to(&r, from);
        }
    });
    let spec = |receive: &str| ProbeSpec::Dns {
        addr,
        tcp: false,
        name: "www.example.org".into(),
        receive: Some(Regex::new(receive).unwrap()),
    };
    let (ok, detail, _) = check(spec("^192\\.0\\.2\\."), 2000);
    assert!(ok, "{detail}");
    let (ok, detail, _) = check(spec("^198\\."), 2000);
    assert!(!ok && detail.contains("did not match"), "{detail}");
}

#[test]
fn ping_checks_get_an_echo_reply() {
    let (ok, detail, _) = check(
        ProbeSpec::Ping {
            addr: "127.0.0.1".parse().unwrap(),
        },
        1000,
    );
    assert!(ok, "{detail}");
    // IPv6 (ICMPv6 echo), where the host has IPv6 on loopback.
    let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    if v6
        .lines()
        .any(|l| l.starts_with("00000000000000000000000000000001"))
    {
        let (ok, detail, _) = check(
            ProbeSpec::Ping {
                addr: "::1".parse().unwrap(),
            },
            1000,
        );
        assert!(ok, "::1: {detail}");
        assert_eq!(detail, "echo reply");
    } else {
        eprintln!("no IPv6 on loopback: the ICMPv6 echo is not tried");
    }
}

#[test]
fn external_checks_are_judged_by_exit_code_and_a_hung_one_is_killed() {
    let ext = |cmd: &str| ProbeSpec::External {
        command: cmd.into(),
        args: vec![
            "192.0.2.10".into(),
            "80".into(),
            "198.51.100.2".into(),
            "80".into(),
        ],
    };
    let dir = std::env::temp_dir().join(format!("hbext{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args_file = dir.join("args");
    let (ok, detail, _) = check(ext(&format!("echo > {} ", args_file.display())), 2000);
    assert!(ok, "{detail}");
    let got = std::fs::read_to_string(&args_file).unwrap_or_default();
    assert_eq!(
        got.trim(),
        "192.0.2.10 80 198.51.100.2 80",
        "VIP VPORT RIP RPORT"
    );
    let (ok, _, _) = check(ext("/bin/false"), 2000);
    assert!(!ok);
    let marker = dir.join("hung");
    let (ok, detail, took) = check(
        ext(&format!("sleep 30; touch {}; true", marker.display())),
        300,
    );
    assert!(!ok && detail.contains("timed out"), "{detail}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    std::thread::sleep(Duration::from_millis(100));
    let left = Command::new("pgrep")
        .args(["-f", &format!("touch {}", marker.display())])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "the hung command lives on");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `openssl s_server` with a self-signed certificate for www.example.org that aborts a
/// handshake naming another server (SNI).
struct TlsServer {
    child: Child,
    port: u16,
    _dir: std::path::PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn tls_server() -> Option<TlsServer> {
    if !Path::new("/usr/bin/openssl").exists() {
        eprintln!("skipped: /usr/bin/openssl missing");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("hbtls{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=www.example.org"])
        .arg("-keyout")
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?
        .success();
    assert!(ok, "openssl req");
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-www", "-quiet", "-naccept", "10"])
        .args(["-servername", "www.example.org", "-servername_fatal"])
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join("c.pem"))
        .arg("-key")
        .arg(dir.join("k.pem"))
        .arg("-cert2")
        .arg(dir.join("c.pem"))
        .arg("-key2")
        .arg(dir.join("k.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let t = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "s_server did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(TlsServer {
        child,
        port,
        _dir: dir,
    })
}

#[test]
fn https_checks_speak_tls_to_a_server_addressed_by_ip_and_send_the_virtual_host() {
    let Some(srv) = tls_server() else {
        return;
    };
    let addr: SocketAddr = format!("127.0.0.1:{}", srv.port).parse().unwrap();
    let spec = |host: &str, receive: &str| ProbeSpec::Http {
        addr,
        tls: true,
        method: HttpMethod::Get,
        path: "/".into(),
        host: host.into(),
        receive: Some(Regex::new(receive).unwrap()),
    };
    // A self-signed certificate for a name, a server dialled by address: checked anyway.
    let (ok, detail, _) = check(spec("www.example.org", "(?i)s_server|cipher"), 5000);
    assert!(ok, "{detail}");
    let (ok, detail, _) = check(spec("www.example.org", "no such text"), 5000);
    assert!(!ok, "{detail}");
    // The virtual host is the TLS server name: a server serving another name refuses it.
    let (ok, detail, _) = check(spec("other.example.org", "."), 5000);
    assert!(!ok && detail.contains("tls"), "{detail}");
}
