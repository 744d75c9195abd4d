//! Encode and decode apply the same value rules per format: whatever a decoder accepts can be
//! encoded again in that format, byte for byte, and what a format cannot carry is refused.
//! The case that differs between the formats is 0x13: classic uses it as the escape of LF, so a
//! literal 0x13 cannot travel there, while netstring carries it raw.

use heartbeat::config::model::{AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::{DecodeError, EncodeError, KeyRing, Message, decode_verified, encode};
use proptest::prelude::*;

fn keys() -> AuthKeys {
    AuthKeys::single(AuthMethod::Sha1, b"somesecret")
}

fn with_value(value: &[u8]) -> Message {
    let mut m = Message::new("status");
    m.push("x", value);
    m.push("src", "nodea");
    m
}

/// The fields before the `auth` field `encode` appends.
fn without_auth(mut m: Message) -> Message {
    m.remove("auth");
    m
}

#[test]
fn netstring_carries_0x13_raw_and_reencodes_it() {
    let keys = keys();
    let m = with_value(b"a\x13b\nc");
    let packet = encode(&m, &keys, MsgFmt::Netstring).unwrap();
    assert!(
        packet.windows(5).any(|w| w == b"a\x13b\nc"),
        "raw on the wire"
    );
    let decoded = decode_verified(&packet, &keys).unwrap();
    assert_eq!(without_auth(decoded.clone()), m);
    assert_eq!(
        KeyRing::new(&keys).decode_verified(&packet).unwrap(),
        decoded
    );
    assert_eq!(encode(&decoded, &keys, MsgFmt::Netstring).unwrap(), packet);
    // The same message cannot be sent as classic: the 0x13 would arrive as LF.
    assert_eq!(
        encode(&decoded, &keys, MsgFmt::Classic),
        Err(EncodeError::BadValue)
    );
}

#[test]
fn classic_0x13_on_the_wire_is_lf_and_reencodes_to_the_same_bytes() {
    let keys = keys();
    let m = with_value(b"a\nb");
    let packet = encode(&m, &keys, MsgFmt::Classic).unwrap();
    assert!(
        packet.windows(5).any(|w| w == b"x=a\x13b"),
        "escaped on the wire"
    );
    let decoded = decode_verified(&packet, &keys).unwrap();
    assert_eq!(decoded.get_value("x"), m.get_value("x"));
    assert_eq!(encode(&decoded, &keys, MsgFmt::Classic).unwrap(), packet);
}

#[test]
fn nul_is_refused_by_both_directions_of_both_formats() {
    let keys = keys();
    for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
        assert_eq!(
            encode(&with_value(b"a\0b"), &keys, fmt),
            Err(EncodeError::BadValue)
        );
    }
    // A netstring packet whose string value holds a NUL, correctly signed, is still refused.
    let packet = encode(&with_value(b"a\x01b"), &keys, MsgFmt::Netstring).unwrap();
    let at = packet.iter().position(|&b| b == 0x01).unwrap();
    let mut body = packet[..packet.len() - 1].to_vec();
    let trailer_start = body.windows(4).position(|w| w == b"%%%\n").unwrap() + 4;
    body.truncate(trailer_start);
    body[at] = 0;
    let digest = heartbeat::wire::auth::sign(&keys.keys[&1], &body);
    let trailer = format!("1 {}", digest.as_str());
    body.extend_from_slice(format!("{}:{trailer},", trailer.len()).as_bytes());
    assert_eq!(decode_verified(&body, &keys), Err(DecodeError::BadField));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any non-empty value without NUL round-trips through netstring; classic accepts exactly
    /// the values without 0x13 and round-trips them too.
    #[test]
    fn each_format_round_trips_what_it_accepts(
        value in proptest::collection::vec(1u8..=255, 1..40)
    ) {
        let keys = keys();
        let m = with_value(&value);
        let ns = encode(&m, &keys, MsgFmt::Netstring).unwrap();
        let decoded = decode_verified(&ns, &keys).unwrap();
        prop_assert_eq!(without_auth(decoded.clone()), m.clone());
        prop_assert_eq!(encode(&decoded, &keys, MsgFmt::Netstring).unwrap(), ns);
        match encode(&m, &keys, MsgFmt::Classic) {
            Ok(classic) => {
                prop_assert!(!value.contains(&0x13));
                let decoded = decode_verified(&classic, &keys).unwrap();
                prop_assert_eq!(without_auth(decoded.clone()), m);
                prop_assert_eq!(encode(&decoded, &keys, MsgFmt::Classic).unwrap(), classic);
            }
            Err(e) => {
                prop_assert_eq!(e, EncodeError::BadValue);
                prop_assert!(value.contains(&0x13));
            }
        }
    }
}
