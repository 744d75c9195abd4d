//! Hostile-input generator for the heartbeat port (issue 10). Sends one kind of bad datagram at
//! a fixed rate for a bounded time and prints what it sent as JSON.
//!
//! ```text
//! cargo run --release --example flood -- --target 198.51.100.2:694 --rate 50000 --secs 60 \
//!     --kind forged|replay|truncated|oversized|garbage|unknown-node|killer14|spoof-self \
//!     [--authkeys FILE] [--from NODE] [--self-node NODE] [--replay-file PCAP|DIR]
//! ```
//!
//! Safety: unless the target is loopback, it runs only inside a namespace of `/run/netns`,
//! and refuses any target outside 127.0.0.0/8 and the documentation ranges 192.0.2.0/24,
//! 198.51.100.0/24 and 203.0.113.0/24. Run it with `ip netns exec NS ...`.
//!
//! Kinds: `forged` (status from `--from`, signed with a wrong key), `replay` (captured packets
//! from `--replay-file`: a pcap of UDP traffic or a directory of `.bin` payloads), `truncated`
//! (correctly signed packets cut short), `oversized` (64 KB with a huge netstring length),
//! `garbage` (random bytes, half behind a valid marker), `unknown-node` and `spoof-self`
//! (correctly signed with `--authkeys`, from `mallory` or from `--self-node`, the target's own
//! name, with a foreign UUID), `killer14` (the datagram that kills Heartbeat 3.0.6).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use heartbeat::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
use heartbeat::config::{Diagnostics, authkeys};
use heartbeat::wire::{Message, encode};

const POOL: usize = 512;

struct Args {
    target: SocketAddrV4,
    rate: u64,
    secs: u64,
    kind: String,
    authkeys: Option<PathBuf>,
    from: String,
    self_node: String,
    replay: Option<PathBuf>,
    fmt: MsgFmt,
}

fn usage() -> ! {
    eprintln!(
        "usage: flood --target IP:PORT --rate N --secs S --kind KIND [--authkeys FILE] \
         [--from NODE] [--self-node NODE] [--replay-file PCAP|DIR] [--netstring]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 694),
        rate: 1000,
        secs: 10,
        kind: String::new(),
        authkeys: None,
        from: "bravo".into(),
        self_node: "alpha".into(),
        replay: None,
        fmt: MsgFmt::Classic,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--netstring" {
            a.fmt = MsgFmt::Netstring;
            continue;
        }
        let Some(v) = it.next() else { usage() };
        match flag.as_str() {
            "--target" => a.target = v.parse().unwrap_or_else(|_| usage()),
            "--rate" => a.rate = v.parse().unwrap_or_else(|_| usage()),
            "--secs" => a.secs = v.parse().unwrap_or_else(|_| usage()),
            "--kind" => a.kind = v,
            "--authkeys" => a.authkeys = Some(PathBuf::from(v)),
            "--from" => a.from = v,
            "--self-node" => a.self_node = v,
            "--replay-file" => a.replay = Some(PathBuf::from(v)),
            _ => usage(),
        }
    }
    if a.kind.is_empty() || a.rate == 0 || a.secs == 0 || a.secs > 3600 {
        usage()
    }
    a
}

/// Only loopback or the documentation ranges, and only inside a namespace unless loopback.
fn check_target(target: &SocketAddrV4) -> Result<(), String> {
    let ip = target.ip();
    let o = ip.octets();
    let doc = matches!(
        (o[0], o[1], o[2]),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
    );
    if !ip.is_loopback() && !doc {
        return Err(format!(
            "refusing target {ip}: only 127/8, 192.0.2/24, 198.51.100/24, 203.0.113/24"
        ));
    }
    if !ip.is_loopback() && !in_named_netns() {
        return Err("refusing to flood from outside a named test namespace (ip netns exec)".into());
    }
    Ok(())
}

/// Whether this process runs in one of the namespaces of `/run/netns` (created by a test).
fn in_named_netns() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(own) = std::fs::metadata("/proc/self/ns/net") else {
        return false;
    };
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::metadata(e.path()).is_ok_and(|m| m.dev() == own.dev() && m.ino() == own.ino())
    })
}

/// A small xorshift generator: reproducible and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn load_keys(path: Option<&Path>) -> Option<AuthKeys> {
    let path = path?;
    let text = std::fs::read_to_string(path).ok()?;
    authkeys::parse(&text, path, &mut Diagnostics::default())
}

fn wrong_keys() -> AuthKeys {
    let mut k = BTreeMap::new();
    k.insert(
        1,
        AuthKey {
            method: AuthMethod::Sha1,
            secret: b"not-the-key".to_vec(),
        },
    );
    AuthKeys {
        send_index: 1,
        keys: k,
    }
}

fn status(src: &str, seq: u64, generation: u64, uuid: [u8; 16]) -> Message {
    let mut m = Message::new("status");
    m.push("st", "active");
    m.push("dt", "2710");
    m.push("protocol", "1");
    m.push("src", src);
    m.push_bin("srcuuid", uuid);
    m.push("seq", format!("{seq:x}"));
    m.push("hg", format!("{generation:x}"));
    m.push("ts", format!("{:x}", unix_now()));
    m.push("ld", "0.00 0.00 0.00 1/100 1000");
    m.push("ttl", "3");
    m
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
}

fn signed_pool(src: &str, keys: &AuthKeys, fmt: MsgFmt, rng: &mut Rng) -> Vec<Vec<u8>> {
    let generation = rng.next() & 0xffff_ffff;
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&rng.bytes(16));
    (0..POOL as u64)
        .filter_map(|i| encode(&status(src, i + 1, generation, uuid), keys, fmt).ok())
        .collect()
}

fn pool(a: &Args, rng: &mut Rng) -> Result<Vec<Vec<u8>>, String> {
    let real_keys =
        || load_keys(a.authkeys.as_deref()).ok_or("this kind needs --authkeys FILE (readable)");
    let pool = match a.kind.as_str() {
        "forged" => signed_pool(&a.from, &wrong_keys(), a.fmt, rng),
        "truncated" => {
            let keys = load_keys(a.authkeys.as_deref()).unwrap_or_else(wrong_keys);
            signed_pool(&a.from, &keys, a.fmt, rng)
                .into_iter()
                .map(|mut p| {
                    let cut = 1 + (rng.next() as usize) % (p.len().saturating_sub(2)).max(1);
                    p.truncate(cut);
                    p
                })
                .collect()
        }
        "oversized" => (0..8)
            .map(|_| {
                let mut p = b"###\n999999999:(0)t=".to_vec();
                p.extend(rng.bytes(65_000));
                p
            })
            .collect(),
        "garbage" => (0..POOL)
            .map(|i| {
                let n = 1 + (rng.next() as usize) % 1400;
                let mut p = match i % 3 {
                    0 => b"###\n".to_vec(),
                    1 => b">>>\n".to_vec(),
                    _ => Vec::new(),
                };
                p.extend(rng.bytes(n));
                p
            })
            .collect(),
        "unknown-node" => signed_pool("mallory", &real_keys()?, a.fmt, rng),
        "spoof-self" => signed_pool(&a.self_node, &real_keys()?, a.fmt, rng),
        "killer14" => vec![b"###\n3:abc,%%%\n".to_vec()],
        "replay" => {
            let path = a.replay.as_deref().ok_or("replay needs --replay-file")?;
            let p = read_replay(path)?;
            if p.is_empty() {
                return Err(format!("no packets in {}", path.display()));
            }
            p
        }
        other => return Err(format!("unknown kind '{other}'")),
    };
    if pool.is_empty() {
        return Err("no packet could be built".into());
    }
    Ok(pool)
}

/// Heartbeat payloads from a pcap (UDP to port 694 or any port, payload starting with a
/// marker) or from the `.bin` files of a directory, in order.
fn read_replay(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        files.sort();
        return Ok(files.iter().filter_map(|f| std::fs::read(f).ok()).collect());
    }
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok(pcap_payloads(&data))
}

/// UDP payloads of a classic pcap file (Ethernet or Linux cooked captures).
fn pcap_payloads(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if data.len() < 24 {
        return out;
    }
    let le = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || data[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |b: &[u8], i: usize| -> usize {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        (if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }) as usize
    };
    let linktype = u32_at(data, 20);
    let link_header = match linktype {
        1 => 14,
        113 => 16,
        276 => 20,
        _ => return out,
    };
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32_at(data, at + 8);
        let start = at + 16;
        let end = start + caplen;
        if end > data.len() {
            break;
        }
        let frame = &data[start..end];
        at = end;
        let Some(ip) = frame.get(link_header..) else {
            continue;
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        if let Some(payload) = udp.get(8..)
            && (payload.starts_with(b"###\n") || payload.starts_with(b">>>\n"))
        {
            out.push(payload.to_vec());
        }
    }
    out
}

fn main() {
    let a = parse_args();
    if let Err(e) = check_target(&a.target) {
        eprintln!("flood: {e}");
        std::process::exit(2);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ unix_now());
    let pool = match pool(&a, &mut rng) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("flood: {e}");
            std::process::exit(2);
        }
    };
    let sock = match UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flood: cannot open a socket: {e}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let limit = Duration::from_secs(a.secs);
    let (mut sent, mut errors, mut bytes) = (0u64, 0u64, 0u64);
    let mut i = 0usize;
    // Paced in 1 ms slots: the count due so far is rate x elapsed.
    while start.elapsed() < limit {
        let due = (start.elapsed().as_micros() as u64 * a.rate) / 1_000_000;
        while sent + errors < due {
            let p = &pool[i % pool.len()];
            i += 1;
            match sock.send_to(p, a.target) {
                Ok(n) => {
                    sent += 1;
                    bytes += n as u64;
                }
                Err(_) => errors += 1,
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"kind\":\"{}\",\"target\":\"{}\",\"sent\":{sent},\"errors\":{errors},\"bytes\":{bytes},\"secs\":{secs:.2},\"rate\":{:.0},\"distinct\":{}}}",
        a.kind,
        a.target,
        sent as f64 / secs,
        pool.len()
    );
}
