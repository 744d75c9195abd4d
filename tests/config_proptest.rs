//! No input makes any of the three parsers panic; whatever they accept satisfies the
//! configuration invariants.

use std::path::Path;

use heartbeat::config::{self, Diagnostics, authkeys, hacf, haresources, time};
use proptest::prelude::*;

const HACF: &str = include_str!("../etc/ha.d/ha.cf");
const KEYS: &str = include_str!("../etc/ha.d/authkeys");
const RES: &str = include_str!("../etc/ha.d/haresources");

/// Words that reach the interesting branches far more often than random text does.
const WORDS: &[&str] = &[
    "node",
    "alpha",
    "bravo",
    "keepalive",
    "deadtime",
    "warntime",
    "initdead",
    "deadping",
    "udpport",
    "bcast",
    "ucast",
    "mcast",
    "auto_failback",
    "nice_failback",
    "ping",
    "ping_group",
    "respawn",
    "crm",
    "on",
    "off",
    "legacy",
    "1",
    "0",
    "2",
    "1.5",
    "500ms",
    "10us",
    "694",
    "239.0.0.1",
    "192.0.2.1",
    "hb0",
    "auth",
    "sha1",
    "md5",
    "crc",
    "#",
    "\\",
    "::",
    ":",
    "IPaddr::192.0.2.9/24/eth0",
    "httpd",
    "15",
    "99999999999999999999",
    ".",
    ",",
    "\t",
    "/usr/lib/heartbeat/ipfail",
    "ipfail",
    "msgfmt",
    "netstring",
    "debug",
    "255",
    "256",
];

fn fuzz_cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Random edits of a valid file: (position, operation, byte).
fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = base.as_bytes().to_vec();
    for &(pos, op, b) in edits {
        let at = if bytes.is_empty() {
            0
        } else {
            pos % (bytes.len() + 1)
        };
        match op % 3 {
            0 => bytes.insert(at, b),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ if at < bytes.len() => bytes[at] = b,
            _ => bytes.push(b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn word_lines() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::collection::vec(prop::sample::select(WORDS), 0..6).prop_map(|w| w.join(" ")),
        0..14,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn all_three(hacf_text: &str, keys: &str, res: &str) {
    let f = Path::new("f");
    let mut d = Diagnostics::default();
    let ha = hacf::parse_with_port(hacf_text, f, "alpha", 694, &mut d);
    let _ = authkeys::parse(keys, f, &mut d);
    let _ = haresources::parse(res, f, &ha.nodes, &mut d);
    let _ = time::parse_time(hacf_text);
    if let Ok(loaded) = config::parse_texts(hacf_text, keys, res, Path::new("/etc/ha.d"), "alpha") {
        let c = loaded.config;
        assert_eq!(c.ha.nodes.len(), 2);
        assert!(c.ha.nodes.contains(&c.local) && c.ha.nodes.contains(&c.peer));
        assert_ne!(c.local, c.peer);
        assert!(!c.ha.media.is_empty());
        assert!(c.ha.keepalive > 0 && c.ha.deadtime > c.ha.keepalive);
        assert!(c.ha.initdead >= c.ha.deadtime);
        assert!(c.keys.send_key().is_some());
        for g in &c.groups {
            assert!(!g.resources.is_empty());
            assert!(c.ha.nodes.contains(&g.owner));
        }
    }
}

proptest! {
    #![proptest_config(fuzz_cfg())]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        all_three(&text, &text, &text);
    }

    #[test]
    fn arbitrary_strings(a in ".{0,200}", b in ".{0,120}", c in ".{0,120}") {
        all_three(&a, &b, &c);
    }

    #[test]
    fn mutated_samples(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        all_three(&mutate(HACF, &edits), &mutate(KEYS, &edits), &mutate(RES, &edits));
    }

    #[test]
    fn keyword_soup(a in word_lines(), b in word_lines(), c in word_lines()) {
        all_three(&a, &b, &c);
    }
}
