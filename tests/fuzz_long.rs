//! Long fuzz runs of the packet decoder, the three configuration parsers, the FIFO parser and
//! the address-resource grammar. Every test here is `#[ignore]`d and runs batches of proptest
//! cases with fresh seeds until `FUZZ_SECS` (default 600) have passed, then prints the number
//! of cases it ran. CI runs each for a bounded time (`.ci/run`: `FUZZ_SECS=15`); run one longer
//! with `FUZZ_SECS=600 cargo test --release --test fuzz_long -- --ignored --nocapture decoder`.
//!
//! A failure is a panic (proptest reports the minimal input) or a broken invariant: whatever
//! the authenticated decoder accepts, the unauthenticated one accepts identically, and a
//! configuration that loads satisfies the configuration invariants.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use heartbeat::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
use heartbeat::config::{self, Diagnostics, authkeys, hacf, haresources};
use heartbeat::wire::{Message, decode_unverified, decode_verified, encode};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/heartbeat-3.0.6-sha1"
);
const HACF: &str = include_str!("../etc/ha.d/ha.cf");
const KEYS: &str = include_str!("../etc/ha.d/authkeys");
const RES: &str = include_str!("../etc/ha.d/haresources");
const BATCH: u32 = 5_000;

fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// Runs `test` on values of `strategy` in batches of fresh seeds until the budget is spent.
fn run_for<S: Strategy>(label: &str, strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let start = Instant::now();
    let limit = budget();
    let mut cases: u64 = 0;
    let mut batch: u64 = 0;
    while start.elapsed() < limit {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&batch.to_le_bytes());
        seed[8..16].copy_from_slice(&(start.elapsed().as_nanos() as u64).to_le_bytes());
        let config = RunnerConfig {
            cases: BATCH,
            failure_persistence: None,
            ..RunnerConfig::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        if let Err(e) = runner.run(&strategy, |v| {
            test(v);
            Ok(())
        }) {
            panic!("{label}: batch {batch} seed {seed:?} failed: {e}");
        }
        cases += u64::from(BATCH);
        batch += 1;
    }
    println!(
        "{{\"target\":\"{label}\",\"cases\":{cases},\"secs\":{:.0}}}",
        start.elapsed().as_secs_f64()
    );
}

fn keys() -> AuthKeys {
    let mut k = BTreeMap::new();
    k.insert(
        1,
        AuthKey {
            method: AuthMethod::Sha1,
            secret: b"somesecret".to_vec(),
        },
    );
    k.insert(
        2,
        AuthKey {
            method: AuthMethod::Crc,
            secret: Vec::new(),
        },
    );
    k.insert(
        3,
        AuthKey {
            method: AuthMethod::Md5,
            secret: b"m5key".to_vec(),
        },
    );
    AuthKeys {
        send_index: 1,
        keys: k,
    }
}

/// Real 3.0.6 packets plus packets of our own encoder in both formats and every method.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(VECTORS) {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "bin")
                && let Ok(b) = std::fs::read(e.path())
            {
                out.push(b);
            }
        }
    }
    let k = keys();
    for index in [1u8, 2, 3] {
        let mut ks = k.clone();
        ks.send_index = index;
        for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
            let mut m = Message::new("status");
            m.push("st", "active");
            m.push("src", "nodea");
            m.push("seq", "2a");
            m.push("hg", "4b1d2c3e");
            m.push("ts", "65a0b1c2");
            if let Ok(b) = encode(&m, &ks, fmt) {
                out.push(b);
            }
        }
    }
    out.push(b"###\n3:abc,%%%\n".to_vec());
    out
}

fn check_decoder(bytes: &[u8], keys: &AuthKeys) {
    let verified = decode_verified(bytes, keys);
    let unverified = decode_unverified(bytes);
    if let Ok(m) = verified {
        match unverified {
            Ok((u, _)) => assert_eq!(u, m, "verified and unverified disagree"),
            Err(e) => panic!("verified accepted what unverified rejects: {e}"),
        }
    }
}

fn edit_ops() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..6, any::<u8>()), 1..10)
}

/// Byte edits biased to the decoder's structural characters.
fn apply_edits(base: &[u8], edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    const SPECIAL: &[u8] = b"#>%<:,=()\n\x000123456789";
    let mut bytes = base.to_vec();
    for (at, kind, b) in edits {
        let i = at.index(bytes.len() + 1);
        let special = SPECIAL[usize::from(*b) % SPECIAL.len()];
        match kind {
            0 if i < bytes.len() => bytes[i] = *b,
            1 => bytes.insert(i, *b),
            2 if i < bytes.len() => {
                bytes.remove(i);
            }
            3 if i < bytes.len() => bytes[i] = special,
            4 => bytes.insert(i, special),
            _ => bytes.truncate(i),
        }
    }
    bytes
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn decoder() {
    let seeds = seeds();
    assert!(seeds.len() > 10, "seed packets missing");
    let k = keys();
    let strategy = prop_oneof![
        // Mutations of real and encoded packets.
        (prop::sample::select(seeds), edit_ops()).prop_map(|(s, e)| apply_edits(&s, &e)),
        // Raw noise behind each framing marker.
        (
            prop_oneof![
                Just(b"".to_vec()),
                Just(b">>>\n".to_vec()),
                Just(b"###\n".to_vec())
            ],
            prop::collection::vec(any::<u8>(), 0..400)
        )
            .prop_map(|(mut p, t)| {
                p.extend(t);
                p
            }),
    ];
    let kc = k.clone();
    run_for("decoder", strategy, move |bytes: Vec<u8>| {
        check_decoder(&bytes, &kc)
    });
}

fn mutate_text(base: &str, edits: &[(prop::sample::Index, u8, u8)]) -> String {
    String::from_utf8_lossy(&apply_edits(base.as_bytes(), edits)).into_owned()
}

fn text_strategy(sample: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        edit_ops().prop_map(move |e| mutate_text(sample, &e)),
        prop::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Lines of the sample shuffled and duplicated.
        prop::collection::vec(
            prop::sample::select(sample.lines().collect::<Vec<_>>()),
            0..30
        )
        .prop_map(|l| l.join("\n")),
    ]
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn hacf_parser() {
    run_for("ha.cf", text_strategy(HACF), |text: String| {
        let mut d = Diagnostics::default();
        let ha = hacf::parse_with_port(&text, Path::new("ha.cf"), "alpha", 694, &mut d);
        if d.errors.is_empty() && ha.nodes.len() == 2 {
            assert!(ha.keepalive > 0);
        }
        full_load(&text, KEYS, RES);
    });
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn authkeys_parser() {
    run_for("authkeys", text_strategy(KEYS), |text: String| {
        let mut d = Diagnostics::default();
        let _ = authkeys::parse(&text, Path::new("authkeys"), &mut d);
        full_load(HACF, &text, RES);
    });
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn haresources_parser() {
    run_for("haresources", text_strategy(RES), |text: String| {
        let mut d = Diagnostics::default();
        let nodes = vec!["alpha".to_string(), "bravo".to_string()];
        let _ = haresources::parse(&text, Path::new("haresources"), &nodes, &mut d);
        full_load(HACF, KEYS, &text);
    });
}

/// Whatever loads satisfies the invariants the daemon relies on.
fn full_load(hacf_text: &str, keys: &str, res: &str) {
    if let Ok(loaded) = config::parse_texts(hacf_text, keys, res, Path::new("/etc/ha.d"), "alpha") {
        let c = loaded.config;
        assert_eq!(c.ha.nodes.len(), 2);
        assert_ne!(c.local, c.peer);
        assert!(c.ha.keepalive > 0 && c.ha.deadtime > c.ha.keepalive);
        assert!(c.keys.send_key().is_some());
        for g in &c.groups {
            assert!(!g.resources.is_empty());
            assert!(c.ha.nodes.contains(&g.owner));
        }
    }
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn fifo_parser() {
    // Bytes a local user may write into the FIFO: whatever they are, the parser's count stays
    // inside the buffer and on a line boundary (one byte of 0xff once aborted the daemon).
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (
            prop::sample::select(vec![
                b">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n".to_vec(),
                b">>>\nt=hb_takeover\nrsc_hold=foreign\n<<<\n".to_vec(),
            ]),
            edit_ops()
        )
            .prop_map(|(s, e)| apply_edits(&s, &e)),
    ];
    run_for("fifo", strategy, |bytes: Vec<u8>| {
        let (_, n) = heartbeat::daemon::fifo::parse_messages(&bytes);
        assert!(n <= bytes.len());
        assert!(n == 0 || bytes[n - 1] == b'\n');
    });
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn authkeys_bytes() {
    // authkeys is read as bytes (keys kept byte for byte): any bytes parse without panic, and a
    // key that loads is never empty for md5 or sha1.
    let strategy = prop_oneof![
        edit_ops().prop_map(|e| apply_edits(KEYS.as_bytes(), &e)),
        prop::collection::vec(any::<u8>(), 0..400),
    ];
    run_for("authkeys bytes", strategy, |bytes: Vec<u8>| {
        let mut d = Diagnostics::default();
        if let Some(k) = authkeys::parse_bytes(&bytes, Path::new("authkeys"), &mut d) {
            for key in k.keys.values() {
                assert!(key.method == AuthMethod::Crc || !key.secret.is_empty());
            }
        }
    });
}

#[test]
#[ignore = "long fuzz run; see the module documentation"]
fn address_resources() {
    // The IPaddr grammar never panics, and what it accepts has a prefix within the family.
    let strategy = prop_oneof![
        edit_ops().prop_map(|e| {
            String::from_utf8_lossy(&apply_edits(
                b"192.0.2.10/255.255.255.0/eth0:web/192.0.2.255",
                &e,
            ))
            .into_owned()
        }),
        edit_ops().prop_map(|e| {
            String::from_utf8_lossy(&apply_edits(b"2001:db8::10/64/eth0", &e)).into_owned()
        }),
    ];
    run_for("address resources", strategy, |text: String| {
        for flavour in [
            heartbeat::resource::address::Flavour::IPaddr,
            heartbeat::resource::address::Flavour::IPaddr2,
        ] {
            if let Ok(v) = heartbeat::resource::address::spec::parse(flavour, &text) {
                assert!(v.prefix.is_none_or(|p| p <= v.max_prefix()));
            }
        }
    });
}
