//! Sender stamping, numbering, history and retransmission answers (spec §2.1, §4.2, §4.5).

use heartbeat::config::model::{AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::builders::{self, RscHold};
use heartbeat::wire::decode_verified;
use heartbeat::wire::sender::{AckOutcome, RexmitAnswer, Sender};

const UUID: [u8; 16] = [0x66; 16];

fn keys() -> AuthKeys {
    AuthKeys::single(AuthMethod::Sha1, b"somesecret")
}

fn names(m: &heartbeat::wire::Message) -> Vec<&str> {
    m.fields.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn status_fields_in_the_original_order() {
    let keys = keys();
    for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
        let mut s = Sender::new("nodea", UUID, 0x6b03cfb7, 3, fmt);
        let bytes = s
            .stamp_and_encode(
                builders::status("init", 4000, true),
                0x6b03d24a,
                "0.04 0.16 0.15 2/103 19751",
                &keys,
            )
            .unwrap();
        let m = decode_verified(&bytes, &keys).unwrap();
        assert_eq!(
            names(&m),
            [
                "t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl",
                "auth"
            ]
        );
        assert_eq!(m.get("seq"), Some("1"));
        assert_eq!(m.get("hg"), Some("6b03cfb7"));
        assert_eq!(m.get("ts"), Some("6b03d24a"));
        assert_eq!(m.get("ttl"), Some("3"));
        assert_eq!(m.get_bin("srcuuid"), Some(&UUID[..]));
    }
}

#[test]
fn reproduces_a_captured_status_exactly() {
    // startup-01.bin: nodea's first status, netstring as 3.0.6 sends it.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/heartbeat-3.0.6-sha1/startup-01.bin"
    );
    let captured = std::fs::read(path).unwrap();
    let uuid: [u8; 16] = [
        0x66, 0xce, 0xc7, 0x17, 0x1f, 0x02, 0x48, 0x81, 0xad, 0x58, 0x95, 0x82, 0x4b, 0x11, 0x96,
        0x0e,
    ];
    let mut s = Sender::new("nodea", uuid, 0x6b03cfb7, 3, MsgFmt::Netstring);
    let bytes = s
        .stamp_and_encode(
            builders::status("init", 0xfa0, true),
            0x6b03d24a,
            "0.04 0.16 0.15 2/103 19751",
            &keys(),
        )
        .unwrap();
    assert_eq!(bytes, captured);
}

#[test]
fn ns_messages_have_no_seq_and_addressed_ones_get_destuuid() {
    let keys = keys();
    let mut s = Sender::new("nodea", UUID, 9, 3, MsgFmt::Classic);
    s.learn_peer_uuid("nodeb", [0x44; 16]);
    let bytes = s
        .stamp_and_encode(builders::ack("nodeb", 0x1e), 100, "x", &keys)
        .unwrap();
    let m = decode_verified(&bytes, &keys).unwrap();
    assert_eq!(
        names(&m),
        [
            "t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl", "auth"
        ]
    );
    assert_eq!(m.get_bin("destuuid"), Some(&[0x44; 16][..]));
    assert_eq!(s.last_seq(), 0, "NS_ messages consume no seq");
    // Unknown destination: all-zero destuuid.
    let bytes = s
        .stamp_and_encode(builders::reqnodes("nodec"), 100, "", &keys)
        .unwrap();
    let m = decode_verified(&bytes, &keys).unwrap();
    assert_eq!(m.get_bin("destuuid"), Some(&[0u8; 16][..]));
    assert_eq!(m.get("ld"), Some("n/a"));
    assert_eq!(m.get("seq"), Some("1"));
}

#[test]
fn history_and_retransmission_answers() {
    let keys = keys();
    let mut s = Sender::new("nodea", UUID, 9, 3, MsgFmt::Classic);
    let mut sent = Vec::new();
    for i in 0..520u64 {
        let m = builders::resource(RscHold::All, i % 2 == 0, None);
        sent.push(s.stamp_and_encode(m, 100 + i, "ld", &keys).unwrap());
    }
    assert_eq!(s.last_seq(), 520);
    // Seqs 21..=520 are kept.
    assert_eq!(
        s.retransmit("nodeb", 520),
        RexmitAnswer::Packet(sent[519].clone())
    );
    assert_eq!(
        s.retransmit("nodeb", 21),
        RexmitAnswer::Packet(sent[20].clone())
    );
    assert_eq!(s.retransmit("nodeb", 20), RexmitAnswer::TooLow);
    assert_eq!(
        s.retransmit("nodeb", 521),
        RexmitAnswer::AboveMax { max: 520 }
    );
    assert_eq!(s.on_ack("nodeb", 600), AckOutcome::Corrupted);
    assert_eq!(s.on_ack("nodeb", 100), AckOutcome::Advanced);
    assert_eq!(s.on_ack("nodeb", 90), AckOutcome::Stale);
    assert_eq!(s.retransmit("nodeb", 50), RexmitAnswer::AlreadyAcked);
    assert_eq!(s.unacked("nodeb"), 420);
}

#[test]
fn failed_encoding_consumes_no_seq() {
    let keys = keys();
    let mut s = Sender::new("nodea", UUID, 9, 3, MsgFmt::Classic);
    let mut bad = builders::starting();
    bad.push("info", "");
    assert!(s.stamp_and_encode(bad, 1, "ld", &keys).is_err());
    assert_eq!(s.last_seq(), 0);
    let bytes = s
        .stamp_and_encode(builders::starting(), 1, "ld", &keys)
        .unwrap();
    assert_eq!(
        decode_verified(&bytes, &keys).unwrap().get("seq"),
        Some("1")
    );
}
