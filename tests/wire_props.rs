//! Property tests: round trips in both formats with every method, and a decoder that never
//! panics on arbitrary, structured-random or mutated input: 2 x 8 000 + 2 x 35 000 + 16 000
//! = 102 000 cases (plus the window proptest in wire_window.rs).

use std::collections::BTreeMap;

use heartbeat::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::{
    DecodeError, Field, Message, Value, decode_unverified, decode_verified, encode,
};
use proptest::prelude::*;

fn method() -> impl Strategy<Value = AuthMethod> {
    prop_oneof![
        Just(AuthMethod::Crc),
        Just(AuthMethod::Md5),
        Just(AuthMethod::Sha1)
    ]
}

fn keys_strategy() -> impl Strategy<Value = AuthKeys> {
    (
        0u8..16,
        method(),
        prop::collection::vec(any::<u8>(), 1..100),
    )
        .prop_map(|(index, method, secret)| {
            let secret = if method == AuthMethod::Crc {
                Vec::new()
            } else {
                secret
            };
            let mut keys = BTreeMap::new();
            keys.insert(index, AuthKey { method, secret });
            AuthKeys {
                send_index: index,
                keys,
            }
        })
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:,%#<>() -]{1,12}".prop_filter("valid name", |n| {
        n != "auth" && !n.starts_with('(') && !n.starts_with(">>>") && !n.starts_with("<<<")
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(
            any::<u8>().prop_filter("no NUL/0x13", |&b| b != 0 && b != 0x13),
            1..40
        )
        .prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(Value::Bin),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop::collection::vec((name(), value()), 0..14).prop_map(|fields| Message {
        fields: fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect(),
    })
}

fn format() -> impl Strategy<Value = MsgFmt> {
    prop_oneof![Just(MsgFmt::Classic), Just(MsgFmt::Netstring)]
}

/// The decoded message minus the `auth` field the encoder appended.
fn strip_auth(mut m: Message) -> Message {
    let last = m.fields.pop().unwrap();
    assert_eq!(last.name, "auth");
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8_000, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity(m in message(), keys in keys_strategy(), fmt in format()) {
        let bytes = encode(&m, &keys, fmt).unwrap();
        let back = decode_verified(&bytes, &keys).unwrap();
        let (unverified, got_fmt) = decode_unverified(&bytes).unwrap();
        prop_assert_eq!(got_fmt, fmt);
        prop_assert_eq!(&unverified, &back);
        // Re-encoding the decoded message (auth included) gives the same bytes.
        prop_assert_eq!(encode(&back, &keys, fmt).unwrap(), bytes);
        prop_assert_eq!(strip_auth(back), m);
    }

    #[test]
    fn every_single_byte_change_fails(
        m in message(), keys in keys_strategy(), fmt in format(),
        pos in any::<prop::sample::Index>(), delta in 1u8..=255,
    ) {
        let bytes = encode(&m, &keys, fmt).unwrap();
        // Classic: bytes after `<<<\n` (the NUL) are ignored by every peer, as by us.
        let signed = if fmt == MsgFmt::Classic { bytes.len() - 1 } else { bytes.len() };
        let i = pos.index(signed);
        let mut forged = bytes.clone();
        forged[i] = forged[i].wrapping_add(delta);
        prop_assert!(decode_verified(&forged, &keys).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 35_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop_oneof![Just(&b""[..]), Just(&b">>>\n"[..]), Just(&b"###\n"[..])],
        tail in prop::collection::vec(any::<u8>(), 0..200),
        keys in keys_strategy(),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&tail);
        let _ = decode_verified(&bytes, &keys);
        let _ = decode_unverified(&bytes);
    }

    #[test]
    fn structured_noise_never_panics(
        classic in any::<bool>(),
        tokens in prop::collection::vec(prop_oneof![
            Just(&b"3:"[..]), Just(&b"11:"[..]), Just(&b"0:"[..]), Just(&b"999999:"[..]),
            Just(&b"(0)"[..]), Just(&b"(1)"[..]), Just(&b"(2)"[..]), Just(&b"="[..]),
            Just(&b","[..]), Just(&b"\n"[..]), Just(&b"t"[..]), Just(&b"auth=1 "[..]),
            Just(&b"%%%\n"[..]), Just(&b"<<<\n"[..]), Just(&b"42:1 "[..]), Just(&b"abc"[..]),
            Just(&b"\0"[..]), Just(&b"Zg=="[..]), Just(&b"\x13"[..]),
        ], 0..30),
        keys in keys_strategy(),
    ) {
        let mut bytes = if classic { b">>>\n".to_vec() } else { b"###\n".to_vec() };
        for t in tokens {
            bytes.extend_from_slice(t);
        }
        let _ = decode_verified(&bytes, &keys);
        let _ = decode_unverified(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_packets_never_panic(
        m in message(), keys in keys_strategy(), fmt in format(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..6),
    ) {
        let mut bytes = encode(&m, &keys, fmt).unwrap();
        for (at, kind, b) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = b,
                1 => bytes.insert(i, b),
                2 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        let _ = decode_verified(&bytes, &keys);
        let _ = decode_unverified(&bytes);
    }
}

#[test]
fn the_14_byte_killer_is_rejected() {
    // One unauthenticated datagram that aborts a real 3.0.6 (spec §1.4, §13 item 1).
    let killer = b"###\n3:abc,%%%\n";
    assert_eq!(killer.len(), 14);
    let keys = AuthKeys::single(AuthMethod::Sha1, b"k");
    assert_eq!(decode_verified(killer, &keys), Err(DecodeError::NoAuth));
    assert_eq!(decode_unverified(killer), Err(DecodeError::BadField));
    let mut signed = killer.to_vec();
    signed.extend_from_slice(b"42:1 0000000000000000000000000000000000000000,");
    assert_eq!(decode_verified(&signed, &keys), Err(DecodeError::BadAuth));
}

#[test]
fn size_limits() {
    let keys = AuthKeys::single(AuthMethod::Crc, b"");
    let mut m = Message::new("big");
    m.push("v", vec![b'x'; 262_144]);
    assert!(encode(&m, &keys, MsgFmt::Classic).is_err());
    let big = vec![b'#'; 262_144];
    assert_eq!(decode_verified(&big, &keys), Err(DecodeError::TooLarge));
    // Just under the limit still encodes and decodes.
    let mut m = Message::new("big");
    m.push("v", vec![b'x'; 262_000]);
    let bytes = encode(&m, &keys, MsgFmt::Netstring).unwrap();
    assert!(bytes.len() <= 262_143);
    assert_eq!(
        decode_verified(&bytes, &keys)
            .unwrap()
            .get("v")
            .map(str::len),
        Some(262_000)
    );
}

#[test]
fn encoder_refuses_what_peers_reject() {
    let keys = AuthKeys::single(AuthMethod::Crc, b"");
    use heartbeat::wire::EncodeError::*;
    let cases: [(&str, &[u8], _); 6] = [
        ("x", b"", EmptyValue),
        ("a=b", b"v", BadName),
        ("a\nb", b"v", BadName),
        ("", b"v", BadName),
        ("x", b"a\0b", BadValue),
        ("x", b"a\x13b", BadValue),
    ];
    for (name, value, err) in cases {
        let mut m = Message::new("t1");
        m.push(name, value);
        assert_eq!(encode(&m, &keys, MsgFmt::Classic), Err(err), "{name:?}");
    }
    let mut no_key = keys.clone();
    no_key.send_index = 2;
    assert_eq!(
        encode(&Message::new("x"), &no_key, MsgFmt::Classic),
        Err(NoSendKey)
    );
}
