//! The core against a hand-driven fake peer speaking real wire bytes: what a real Heartbeat
//! peer needs from us (status fields, repnodes, ACKs, retransmissions) and how we drop bad input.

mod sim;

use heartbeat::core::{Core, Identity, Input, MediumId, Now, Output};
use heartbeat::wire::sender::Sender;
use heartbeat::wire::{Message, decode_verified};
use sim::Params;

struct Bench {
    core: Core,
    peer: Sender,
    keys: heartbeat::config::AuthKeys,
    now: u64,
    sent: Vec<Vec<u8>>,
    logs: Vec<String>,
}

impl Bench {
    fn new() -> Self {
        let p = Params::default();
        let cfg = sim::config(&p, 0);
        let keys = cfg.keys.clone();
        let core = Core::new(
            cfg,
            Identity {
                uuid: [7; 16],
                generation: 0x6b03cf0c,
            },
            now(0),
        );
        let peer = Sender::new(
            "beta",
            [9; 16],
            500,
            3,
            heartbeat::config::MsgFmt::Netstring,
        );
        let mut b = Bench {
            core,
            peer,
            keys,
            now: 0,
            sent: Vec::new(),
            logs: Vec::new(),
        };
        b.drain();
        b
    }

    fn drain(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Transmit { bytes, .. } => self.sent.push(bytes),
                Output::Log { text, .. } => self.logs.push(text),
                _ => {}
            }
        }
    }

    fn msgs(&self) -> Vec<Message> {
        self.sent
            .iter()
            .map(|b| decode_verified(b, &self.keys).expect("our packets verify"))
            .collect()
    }

    fn feed_bytes(&mut self, bytes: Vec<u8>) {
        self.core.handle(
            now(self.now),
            Input::Datagram {
                medium: MediumId(0),
                bytes,
            },
        );
        self.drain();
    }

    fn peer_sends(&mut self, m: Message) -> Vec<u8> {
        let bytes = self
            .peer
            .stamp_and_encode(m, 1_780_000_000, "0.00 0.00 0.00 1/1 1", &self.keys)
            .unwrap();
        self.feed_bytes(bytes.clone());
        bytes
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.core.next_deadline() <= end {
            self.now = self.core.next_deadline().max(self.now);
            self.core.handle(now(self.now), Input::Tick);
            self.drain();
        }
        self.now = end;
    }
}

fn now(ms: u64) -> Now {
    Now {
        mono: ms,
        unix_secs: 1_780_000_000 + ms / 1000,
    }
}

fn status(st: &str) -> Message {
    let mut m = Message::new("status");
    m.push("st", st).push("dt", "2710").push("protocol", "1");
    m
}

#[test]
fn first_messages_are_status_init_then_up_with_startup_dt() {
    let b = Bench::new();
    let msgs = b.msgs();
    assert_eq!(msgs[0].get("t"), Some("status"));
    assert_eq!(msgs[0].get("st"), Some("init"));
    assert_eq!(msgs[0].get("seq"), Some("1"));
    assert_eq!(msgs[0].get("hg"), Some("6b03cf0c"));
    // deadtime 10000 + 2000 during the first 5 s.
    assert_eq!(msgs[0].get("dt"), Some("2ee0"));
    assert_eq!(msgs[0].get("protocol"), Some("1"));
    assert_eq!(msgs[0].get("src"), Some("alpha"));
    assert_eq!(msgs[1].get("st"), Some("up"));
    assert!(b.logs.iter().any(|l| l == "Local status now set to: 'up'"));
}

#[test]
fn heartbeats_every_keepalive_and_dt_drops_after_five_seconds() {
    let mut b = Bench::new();
    b.sent.clear();
    b.advance(6000);
    let st: Vec<Message> = b
        .msgs()
        .into_iter()
        .filter(|m| m.get("t") == Some("status"))
        .collect();
    assert_eq!(st.len(), 6);
    assert_eq!(st.last().unwrap().get("dt"), Some("2710"));
}

#[test]
fn reqnodes_is_answered_with_every_node_and_comm_comes_up_on_repnodes() {
    let mut b = Bench::new();
    b.peer_sends(status("up"));
    let mut req = Message::new("reqnodes");
    req.push("dest", "alpha");
    b.sent.clear();
    b.peer_sends(req);
    let rep = b
        .msgs()
        .into_iter()
        .find(|m| m.get("t") == Some("repnodes"))
        .expect("repnodes");
    assert_eq!(rep.fields[0].name, "dest");
    assert_eq!(rep.get("dest"), Some("beta"));
    assert_eq!(rep.get("nodelist"), Some("alpha beta "));
    assert_eq!(rep.get("delnodelist"), Some(" "));
    // Our own reqnodes went out when we first heard beta; its repnodes brings comm up.
    assert!(!b.core.comm_up());
    let reply = heartbeat::wire::builders::repnodes("alpha", ["alpha", "beta"], []);
    b.sent.clear();
    b.peer_sends(reply);
    assert!(b.core.comm_up());
    let msgs = b.msgs();
    assert!(
        msgs.iter()
            .any(|m| m.get("t") == Some("status") && m.get("st") == Some("active"))
    );
    assert!(msgs.iter().any(|m| m.get("t") == Some("starting")));
}

#[test]
fn acks_at_least_every_ten_in_order_messages() {
    let mut b = Bench::new();
    b.sent.clear();
    for _ in 0..30 {
        b.peer_sends(status("up"));
        b.now += 1000;
    }
    let acks: Vec<Message> = b
        .msgs()
        .into_iter()
        .filter(|m| m.get("t") == Some("NS_ackmsg"))
        .collect();
    assert!(acks.len() >= 3, "{} acks", acks.len());
    for a in &acks {
        assert_eq!(a.get("dest"), Some("beta"));
        assert!(a.get("seq").is_none());
        assert!(u64::from_str_radix(a.get("ackseq").unwrap(), 16).is_ok());
    }
}

#[test]
fn rexmit_requests_are_answered_from_history_with_the_same_bytes() {
    let mut b = Bench::new();
    let original = b.sent[1].clone();
    let mut req = Message::new("NS_rexmit");
    req.push("dest", "alpha")
        .push("firstseq", "2")
        .push("lastseq", "2");
    b.sent.clear();
    b.peer_sends(req);
    assert_eq!(b.sent, vec![original]);
    // Beyond what we sent: only a log line.
    let mut req = Message::new("NS_rexmit");
    req.push("dest", "alpha")
        .push("firstseq", "900")
        .push("lastseq", "900");
    b.sent.clear();
    b.peer_sends(req);
    assert!(b.sent.is_empty());
    assert!(
        b.logs
            .iter()
            .any(|l| l.starts_with("Rexmit of seq 900 requested."))
    );
}

#[test]
fn gaps_are_requested_in_decimal() {
    let mut b = Bench::new();
    b.peer_sends(status("up"));
    // Lose seqs 2..=11 of the peer.
    for _ in 0..10 {
        b.peer
            .stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
            .unwrap();
    }
    b.sent.clear();
    b.peer_sends(status("up"));
    assert!(
        b.logs
            .iter()
            .any(|l| l == "10 lost packet(s) for [beta] [1:12]")
    );
    b.advance(300);
    let reqs: Vec<Message> = b
        .msgs()
        .into_iter()
        .filter(|m| m.get("t") == Some("NS_rexmit"))
        .collect();
    assert_eq!(reqs.len(), 10);
    assert!(
        reqs.iter()
            .any(|m| m.get("firstseq") == Some("11") && m.get("lastseq") == Some("11"))
    );
}

#[test]
fn forged_replayed_and_unknown_packets_are_counted_by_kind() {
    let mut b = Bench::new();
    b.peer_sends(status("up"));
    // Forgery: flip one byte of a valid packet.
    let mut forged = b
        .peer
        .stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
        .unwrap();
    let n = forged.len();
    forged[n / 2] ^= 1;
    b.feed_bytes(forged);
    b.feed_bytes(b"garbage".to_vec());
    // Replay: an older incarnation of beta.
    let mut old = Sender::new("beta", [9; 16], 400, 3, heartbeat::config::MsgFmt::Classic);
    let bytes = old
        .stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
        .unwrap();
    b.feed_bytes(bytes);
    // Unknown node.
    let mut stranger = Sender::new("gamma", [5; 16], 1, 3, heartbeat::config::MsgFmt::Classic);
    let bytes = stranger
        .stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
        .unwrap();
    b.feed_bytes(bytes);
    let drops = b.core.status_view().drops;
    let get = |k: &str| {
        drops
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, c)| *c)
            .unwrap_or(0)
    };
    assert_eq!(get("replay"), 1, "{drops:?}");
    assert_eq!(get("unknown_node"), 1, "{drops:?}");
    assert_eq!(get("bad_framing") + get("truncated"), 1, "{drops:?}");
    assert_eq!(drops.iter().map(|(_, c)| c).sum::<u64>(), 4, "{drops:?}");
    assert!(
        b.logs
            .iter()
            .any(|l| l.contains("attempted replay attack [beta]? [gen = 400, curgen = 500]"))
    );
}

#[test]
fn kernel_overflow_is_counted_per_medium_and_logged_at_the_rate_limit() {
    let mut b = Bench::new();
    let link = b.core.config().ha.media[0].link_name().to_string();
    for i in 0..20u64 {
        b.core.handle(
            now(i),
            Input::KernelOverflow {
                medium: MediumId(0),
                dropped: 100,
            },
        );
    }
    b.drain();
    let view = b.core.status_view();
    assert_eq!(view.drops, vec![("kernel_overflow".to_string(), 2000)]);
    assert_eq!(
        view.drops_by_medium,
        vec![("kernel_overflow".to_string(), link.clone(), 2000)]
    );
    let lines: Vec<&String> = b
        .logs
        .iter()
        .filter(|l| l.contains("the kernel dropped"))
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{link}: the kernel dropped 100 datagram(s)")));
    // A report of nothing counts nothing.
    b.core.handle(
        now(30),
        Input::KernelOverflow {
            medium: MediumId(0),
            dropped: 0,
        },
    );
    assert_eq!(b.core.status_view().drops[0].1, 2000);
}

#[test]
fn a_higher_generation_is_a_restart() {
    let mut b = Bench::new();
    b.peer_sends(status("active"));
    b.peer = Sender::new("beta", [9; 16], 501, 3, heartbeat::config::MsgFmt::Classic);
    b.peer_sends(status("init"));
    assert!(b.logs.iter().any(|l| l == "Heartbeat restart on node beta"));
    assert!(
        b.logs
            .iter()
            .any(|l| l == "Status update for node beta: status init")
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const TYPES: &[&str] = &[
        "status",
        "starting",
        "resource",
        "ask_resources",
        "hb_takeover",
        "shutdone",
        "ip-request",
        "ip-request-resp",
        "reqnodes",
        "repnodes",
        "NS_rexmit",
        "NS_ackmsg",
        "NS_nak_rexmit",
        "stonith",
        "weird",
    ];
    const NAMES: &[&str] = &[
        "st", "dt", "protocol", "rsc_hold", "rtype", "isstable", "info", "dest", "firstseq",
        "lastseq", "ackseq", "ipaddr", "ok", "weown", "nodelist",
    ];
    const VALUES: &[&str] = &[
        "init",
        "up",
        "active",
        "dead",
        "all",
        "local",
        "foreign",
        "none",
        "failback",
        "me",
        "other",
        "done",
        "full",
        "1",
        "0",
        "alpha",
        "beta",
        "ffffffffffffffff",
        "18446744073709551615",
        "IPaddr::192.0.2.10",
        "OK",
        "x",
    ];

    fn message() -> impl Strategy<Value = Message> {
        (
            0..TYPES.len(),
            prop::collection::vec((0..NAMES.len(), 0..VALUES.len()), 0..6),
        )
            .prop_map(|(t, fields)| {
                let mut m = Message::new(TYPES[t]);
                for (n, v) in fields {
                    m.push(NAMES[n], VALUES[v]);
                }
                m
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Whatever an authenticated peer (or a forger) sends, the core neither panics nor
        /// stops answering with heartbeats.
        #[test]
        fn arbitrary_peer_traffic_never_panics(
            msgs in prop::collection::vec((message(), 0u64..3000, any::<bool>(), any::<u16>()), 1..40),
        ) {
            let mut b = Bench::new();
            for (m, gap, mutate, at) in msgs {
                b.advance(gap);
                let mut bytes = b.peer.stamp_and_encode(m, 1_780_000_000, "n/a", &b.keys).unwrap();
                if mutate {
                    let i = usize::from(at) % bytes.len();
                    bytes[i] ^= 0x5a;
                }
                b.feed_bytes(bytes);
            }
            b.sent.clear();
            b.advance(2000);
            prop_assert!(b.core.next_deadline() > b.now);
            prop_assert!(b.msgs().iter().any(|m| m.get("t") == Some("status")));
        }
    }
}

#[test]
fn every_drop_reason_is_reached_and_counted_under_its_label() {
    use heartbeat::core::intake::drops::DropReason;
    use heartbeat::wire::{DecodeError, encode};
    let mut b = Bench::new();
    b.peer_sends(status("up"));
    let signed = |m: &Message, keys: &heartbeat::config::AuthKeys| {
        encode(m, keys, heartbeat::config::MsgFmt::Classic).unwrap()
    };
    // The codec's reasons, each from bytes that produce exactly it.
    let mut other_keys = b.keys.clone();
    other_keys.keys = [(9u8, other_keys.keys.values().next().unwrap().clone())].into();
    other_keys.send_index = 9;
    let mut good = Message::new("status");
    good.push("src", "beta").push("ts", "1");
    let valid = signed(&good, &b.keys);
    let mut bad_auth = valid.clone();
    let n = bad_auth.len();
    bad_auth[n / 2] ^= 1;
    let mut too_large = b"###\n".to_vec();
    too_large.resize(heartbeat::wire::MAX_PACKET + 1, b'x');
    let decode_cases: Vec<(DecodeError, Vec<u8>)> = vec![
        (DecodeError::Truncated, b"###\n40:(0)t=status".to_vec()),
        (DecodeError::BadFraming, b"hello".to_vec()),
        (DecodeError::TooLarge, too_large),
        (DecodeError::NoAuth, b">>>\nt=status\n<<<\n".to_vec()),
        (DecodeError::BadAuth, bad_auth),
        (DecodeError::UnknownKeyIndex, signed(&good, &other_keys)),
    ];
    for (want, bytes) in &decode_cases {
        assert_eq!(
            heartbeat::wire::decode_verified(bytes, &b.keys).err(),
            Some(*want)
        );
        b.feed_bytes(bytes.clone());
    }
    // BadField and UnsupportedType need a valid signature over a broken body, which only the
    // codec's own tests (src/wire/classic.rs, netstring.rs) can build; they reach the core
    // through the same `DropReason::Decode`.

    // The receive path's own reasons.
    let mut no_type = Message::default();
    no_type.push("src", "beta").push("ts", "1");
    b.feed_bytes(signed(&no_type, &b.keys)); // malformed
    let mut stale = Sender::new("beta", [9; 16], 400, 3, heartbeat::config::MsgFmt::Classic);
    b.feed_bytes(
        stale
            .stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
            .unwrap(),
    ); // replay
    let mut stranger = Sender::new("gamma", [5; 16], 1, 3, heartbeat::config::MsgFmt::Classic);
    b.feed_bytes(
        stranger
            .stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
            .unwrap(),
    ); // unknown node
    let mut me = Sender::new("alpha", [1; 16], 1, 3, heartbeat::config::MsgFmt::Classic);
    b.feed_bytes(
        me.stamp_and_encode(status("up"), 1_780_000_000, "n/a", &b.keys)
            .unwrap(),
    ); // our name, not our loop-back
    for _ in 0..12 {
        b.peer_sends(status("up"));
    }
    let replayed = b.peer_sends(status("up"));
    for _ in 0..300 {
        b.peer_sends(status("up"));
    }
    b.feed_bytes(replayed); // old: below the window
    b.core.handle(
        now(b.now),
        Input::KernelOverflow {
            medium: MediumId(0),
            dropped: 3,
        },
    );
    let drops = b.core.status_view().drops;
    let counted: Vec<&str> = drops.iter().map(|(k, _)| k.as_str()).collect();
    for reason in DropReason::ALL {
        let reachable_here = !matches!(
            reason,
            DropReason::Decode(DecodeError::BadField | DecodeError::UnsupportedType)
        );
        if reachable_here {
            assert!(
                counted.contains(&reason.label()),
                "{} never counted: {drops:?}\n{:#?}",
                reason.label(),
                b.logs
            );
        }
    }
    assert!(
        counted
            .iter()
            .all(|k| DropReason::ALL.iter().any(|r| r.label() == *k)),
        "a label outside DropReason: {counted:?}"
    );
}
