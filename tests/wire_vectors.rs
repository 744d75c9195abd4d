//! The real Heartbeat 3.0.6 packets of tests/data: every one verifies with its authkeys,
//! any one-byte change is rejected, and re-encoding reproduces the bytes exactly.

use std::path::PathBuf;

use heartbeat::config::model::{AuthKeys, AuthMethod, MsgFmt};
use heartbeat::wire::{DecodeError, decode_unverified, decode_verified, encode};

fn vector_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/heartbeat-3.0.6-sha1"
    ))
}

fn keys() -> AuthKeys {
    AuthKeys::single(AuthMethod::Sha1, b"somesecret")
}

/// Every `.bin` listed in index.tsv, with its recorded length checked.
fn vectors() -> Vec<(String, Vec<u8>)> {
    let dir = vector_dir();
    let index = std::fs::read_to_string(dir.join("index.tsv")).unwrap();
    let mut out = Vec::new();
    for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let bytes = std::fs::read(dir.join(cols[0])).unwrap();
        assert_eq!(bytes.len().to_string(), cols[3], "{}", cols[0]);
        out.push((cols[0].to_string(), bytes));
    }
    assert!(out.len() >= 80, "only {} vectors", out.len());
    out
}

#[test]
fn every_vector_verifies() {
    let keys = keys();
    for (name, bytes) in vectors() {
        let msg = decode_verified(&bytes, &keys).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(msg.msg_type().is_some(), "{name}");
        assert!(msg.get("src").is_some(), "{name}");
        assert_eq!(msg.get_bin("srcuuid").map(<[u8]>::len), Some(16), "{name}");
    }
}

#[test]
fn wrong_key_is_rejected() {
    let mut keys = keys();
    keys.keys.get_mut(&1).unwrap().secret = b"somesecreT".to_vec();
    for (name, bytes) in vectors() {
        assert_eq!(
            decode_verified(&bytes, &keys),
            Err(DecodeError::BadAuth),
            "{name}"
        );
    }
}

#[test]
fn unknown_index_is_rejected() {
    let mut keys = keys();
    let k = keys.keys.remove(&1).unwrap();
    keys.keys.insert(2, k);
    keys.send_index = 2;
    for (name, bytes) in vectors() {
        assert_eq!(
            decode_verified(&bytes, &keys),
            Err(DecodeError::UnknownKeyIndex),
            "{name}"
        );
    }
}

#[test]
fn every_single_byte_change_is_rejected() {
    let keys = keys();
    let mut cases = 0usize;
    for (name, bytes) in vectors() {
        for i in 0..bytes.len() {
            // Two different changes per byte: one bit flip and a full inversion.
            for mask in [0x01u8, 0xff] {
                let mut forged = bytes.clone();
                forged[i] ^= mask;
                assert!(
                    decode_verified(&forged, &keys).is_err(),
                    "{name}: byte {i} ^ {mask:#x} accepted"
                );
                cases += 1;
            }
        }
        // Truncation and extension as well.
        for cut in 0..bytes.len() {
            assert!(
                decode_verified(&bytes[..cut], &keys).is_err(),
                "{name}: cut {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(b',');
        assert!(decode_verified(&longer, &keys).is_err(), "{name}: extended");
    }
    assert!(cases > 40_000);
}

#[test]
fn reencoding_reproduces_the_exact_bytes() {
    let keys = keys();
    for (name, bytes) in vectors() {
        let (msg, fmt) = decode_unverified(&bytes).unwrap();
        assert_eq!(fmt, MsgFmt::Netstring, "{name}");
        let again = encode(&msg, &keys, MsgFmt::Netstring).unwrap();
        assert_eq!(again, bytes, "{name}");
        // The same message in classic form verifies too, and decodes to the same fields.
        let classic = encode(&msg, &keys, MsgFmt::Classic).unwrap();
        assert_eq!(decode_verified(&classic, &keys).unwrap(), msg, "{name}");
    }
}

#[test]
fn inner_auth_field_matches_the_classic_digest() {
    // The inner `auth` field is the classic digest: the classic packet carries the same value.
    let keys = keys();
    for (name, bytes) in vectors() {
        let msg = decode_verified(&bytes, &keys).unwrap();
        let classic = encode(&msg, &keys, MsgFmt::Classic).unwrap();
        let reparsed = decode_verified(&classic, &keys).unwrap();
        assert_eq!(reparsed.get("auth"), msg.get("auth"), "{name}");
    }
}
