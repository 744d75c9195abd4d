//! `cargo +nightly fuzz run decode`: the decoder must never panic, whatever the bytes, and
//! anything it accepts must re-encode and decode to the same message.
#![no_main]

use std::collections::BTreeMap;

use heartbeat::config::model::{AuthKey, AuthKeys, AuthMethod};
use heartbeat::wire::{decode_unverified, decode_verified, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the key method, so all three verification paths are exercised.
    let (method, bytes) = match data.split_first() {
        Some((b, rest)) => (
            match b % 3 {
                0 => AuthMethod::Crc,
                1 => AuthMethod::Md5,
                _ => AuthMethod::Sha1,
            },
            rest,
        ),
        None => (AuthMethod::Crc, data),
    };
    let secret = if method == AuthMethod::Crc { Vec::new() } else { b"fuzzkey".to_vec() };
    let mut keys = BTreeMap::new();
    keys.insert(1, AuthKey { method, secret });
    let keys = AuthKeys { send_index: 1, keys };

    let _ = decode_verified(bytes, &keys);
    if let Ok((msg, fmt)) = decode_unverified(bytes) {
        if let Ok(again) = encode(&msg, &keys, fmt) {
            let back = decode_verified(&again, &keys).expect("own encoding must verify");
            let mut expected = msg.clone();
            if expected.get_value("auth").is_none() {
                expected.push("auth", back.get("auth").unwrap_or_default());
            } else {
                expected.set("auth", back.get("auth").unwrap_or_default());
            }
            assert_eq!(back, expected);
        }
    }
});
