//! Known answers of spec §3.6 / Appendix B: crc check value, the classic text digests with each
//! method, both netstring trailers, and the real 3.0.6 packet signed with `s3cr3tkey`.

use heartbeat::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::auth::sign;
use heartbeat::wire::crc::crc32;
use heartbeat::wire::{Message, decode_unverified, decode_verified, encode};

const UUID: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
];

const CLASSIC_TEXT: &[u8] = b"t=status\nst=active\ndt=7530\nprotocol=1\nsrc=alice\n(1)srcuuid=ASNFZ4mrze8BI0VniavN7w==\nseq=2a\nhg=4b1d2c3e\nts=65a0b1c2\nld=0.00 0.01 0.05 1/123 4567\nttl=3\n";

fn key(method: AuthMethod, secret: &[u8]) -> AuthKey {
    AuthKey {
        method,
        secret: secret.to_vec(),
    }
}

fn keys(method: AuthMethod, secret: &[u8]) -> AuthKeys {
    AuthKeys::single(method, secret)
}

fn alice_status() -> Message {
    let mut m = Message::new("status");
    m.push("st", "active")
        .push("dt", "7530")
        .push("protocol", "1")
        .push("src", "alice")
        .push_bin("srcuuid", UUID)
        .push("seq", "2a")
        .push("hg", "4b1d2c3e")
        .push("ts", "65a0b1c2")
        .push("ld", "0.00 0.01 0.05 1/123 4567")
        .push("ttl", "3");
    m
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn crc_check_value() {
    assert_eq!(crc32(b"123456789"), 0x765e_7680);
}

#[test]
fn classic_text_digests() {
    assert_eq!(CLASSIC_TEXT.len(), 150);
    let cases = [
        (AuthMethod::Sha1, "2d149fb6006617541a5aed05a1b860b06c204eb3"),
        (AuthMethod::Md5, "c63eb69860ad61a7af0e8405f6d2b233"),
        (AuthMethod::Crc, "6ba78dcf"),
    ];
    for (method, want) in cases {
        let secret: &[u8] = if method == AuthMethod::Crc {
            b""
        } else {
            b"mysecret"
        };
        assert_eq!(sign(&key(method, secret), CLASSIC_TEXT).as_str(), want);
        // The encoder computes the same `auth` field and the classic packet of §2.3.
        let ks = keys(method, secret);
        let packet = encode(&alice_status(), &ks, MsgFmt::Classic).unwrap();
        let mut expected = b">>>\n".to_vec();
        expected.extend_from_slice(CLASSIC_TEXT);
        expected.extend_from_slice(format!("auth=1 {want}\n<<<\n\0").as_bytes());
        assert_eq!(packet, expected, "{method:?}");
        let back = decode_verified(&packet, &ks).unwrap();
        assert_eq!(back.get("auth"), Some(format!("1 {want}").as_str()));
    }
    // §2.3: the sha1 classic packet is 207 bytes.
    let ks = keys(AuthMethod::Sha1, b"mysecret");
    assert_eq!(
        encode(&alice_status(), &ks, MsgFmt::Classic).unwrap().len(),
        207
    );
}

#[test]
fn netstring_trailers() {
    let ks = keys(AuthMethod::Sha1, b"mysecret");
    // 3.0.6 default style: inner auth field plus trailer.
    let packet = encode(&alice_status(), &ks, MsgFmt::Netstring).unwrap();
    assert!(packet.ends_with(b"42:1 7a646afa38bf10a61f19122d1845bef371cba6cb,"));
    let inner: &[u8] = b"50:(0)auth=1 2d149fb6006617541a5aed05a1b860b06c204eb3,%%%\n";
    assert!(packet.windows(inner.len()).any(|w| w == inner));
    decode_verified(&packet, &ks).unwrap();
    // `msgfmt netstring` style of the original: no inner auth, trailer over the fields only.
    let auth_start = packet.windows(9).position(|w| w == b"50:(0)aut").unwrap();
    let mut plain = packet[..auth_start].to_vec();
    plain.extend_from_slice(b"%%%\n");
    let d = sign(&key(AuthMethod::Sha1, b"mysecret"), &plain);
    assert_eq!(d.as_str(), "8b6b044efe6891cf9ff2e3d4963a861edc29aee6");
    plain.extend_from_slice(format!("42:1 {},", d.as_str()).as_bytes());
    // We accept it (trailer only, as real 3.0.6 does).
    let msg = decode_verified(&plain, &ks).unwrap();
    assert_eq!(msg.get("auth"), None);
    assert_eq!(msg, alice_status());
}

const REAL_PACKET: &str = "
2323230a31313a283029743d7374617475732c31303a28302973743d696e69742c31303a28302964743d
316634302c31333a28302970726f746f636f6c3d312c31323a2830297372633d6e6f6465312c32373a28
3129737263757569643d27605e78c4e2414da77948aa935a80c72c383a2830297365713d312c31343a28
302968673d36623033636630632c31343a28302974733d36623033636630622c33303a2830296c643d30
2e363620302e333020302e313220322f393020393634352c383a28302974746c3d332c35303a28302961
7574683d3120383030663264623363306165393035643361666664303936326564306665313238333232
373630312c2525250a34323a3120363965306161666565343834323238336438636461363064366366
383964326434346365313931332c";

#[test]
fn real_packet_of_appendix_b() {
    let bytes = hex(REAL_PACKET);
    assert_eq!(bytes.len(), 307);
    let ks = keys(AuthMethod::Sha1, b"s3cr3tkey");
    let msg = decode_verified(&bytes, &ks).unwrap();
    assert_eq!(
        msg.get("auth"),
        Some("1 800f2db3c0ae905d3affd0962ed0fe1283227601")
    );
    assert_eq!(msg.get("src"), Some("node1"));
    assert_eq!(msg.get_hex("hg"), Some(0x6b03cf0c));
    assert_eq!(
        msg.get_bin("srcuuid").unwrap(),
        hex("27605e78c4e2414da77948aa935a80c7")
    );
    let trailer = sign(&key(AuthMethod::Sha1, b"s3cr3tkey"), &bytes[..261]);
    assert_eq!(trailer.as_str(), "69e0aafee4842283d8cda60d6cf89d2d44ce1913");
    assert_eq!(encode(&msg, &ks, MsgFmt::Netstring).unwrap(), bytes);
    let (unverified, fmt) = decode_unverified(&bytes).unwrap();
    assert_eq!((unverified, fmt), (msg, MsgFmt::Netstring));
}

#[test]
fn netstring_uses_the_index_own_key_not_ours() {
    // Key roll-over: the peer signs with index 2, we send with index 1 (spec §13 item 4).
    let mut ks = keys(AuthMethod::Sha1, b"mysecret");
    ks.keys.insert(2, key(AuthMethod::Md5, b"newkey"));
    let mut peer = ks.clone();
    peer.send_index = 2;
    for fmt in [MsgFmt::Netstring, MsgFmt::Classic] {
        let packet = encode(&alice_status(), &peer, fmt).unwrap();
        let msg = decode_verified(&packet, &ks).unwrap();
        assert!(msg.get("auth").unwrap().starts_with("2 "));
    }
}

#[test]
fn auth_in_the_middle_is_hashed_around_and_kept_in_place() {
    let ks = keys(AuthMethod::Md5, b"k");
    let mut m = alice_status();
    m.fields.insert(
        3,
        heartbeat::wire::Field {
            name: "auth".to_string(),
            value: heartbeat::wire::Value::Str(b"placeholder".to_vec()),
        },
    );
    for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
        let packet = encode(&m, &ks, fmt).unwrap();
        let back = decode_verified(&packet, &ks).unwrap();
        assert_eq!(back.fields[3].name, "auth");
        assert_eq!(back.fields.len(), m.fields.len());
        // Same digest as with the auth field appended at the end.
        let appended = decode_verified(&encode(&alice_status(), &ks, fmt).unwrap(), &ks).unwrap();
        assert_eq!(back.get("auth"), appended.get("auth"));
        assert_eq!(encode(&back, &ks, fmt).unwrap(), packet);
    }
}

#[test]
fn tolerated_tails_and_strictness() {
    let ks = keys(AuthMethod::Sha1, b"mysecret");
    // Classic: bytes after `<<<\n` are ignored (as by the original); empty lines are skipped.
    let mut classic = encode(&alice_status(), &ks, MsgFmt::Classic).unwrap();
    classic.extend_from_slice(b"garbage");
    assert_eq!(
        decode_verified(&classic, &ks).unwrap().get("src"),
        Some("alice")
    );
    let mut spaced = b">>>\n\n".to_vec();
    spaced.extend_from_slice(&encode(&alice_status(), &ks, MsgFmt::Classic).unwrap()[4..]);
    assert!(decode_verified(&spaced, &ks).is_ok());
    // CR is not stripped: a CRLF packet fails authentication.
    let crlf: Vec<u8> = encode(&alice_status(), &ks, MsgFmt::Classic)
        .unwrap()
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    assert!(decode_verified(&crlf, &ks).is_err());
    // Netstring: one NUL after the trailer is tolerated, anything else is not.
    let mut ns = encode(&alice_status(), &ks, MsgFmt::Netstring).unwrap();
    ns.push(0);
    assert!(decode_verified(&ns, &ks).is_ok());
    ns.push(0);
    assert_eq!(
        decode_verified(&ns, &ks),
        Err(heartbeat::wire::DecodeError::BadFraming)
    );
    // Classic without any auth field.
    assert_eq!(
        decode_verified(b">>>\nt=status\n<<<\n\0", &ks),
        Err(heartbeat::wire::DecodeError::NoAuth)
    );
    // `(0)` prefixes are rejected in classic, as by the original.
    assert!(decode_unverified(b">>>\n(0)t=status\n<<<\n").is_err());
}
