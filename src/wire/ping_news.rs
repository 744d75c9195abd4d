//! How the two nodes tell each other how many ping nodes they reach.
//!
//! Decision: our count rides in every heartbeat as an extra `pingcount=N` field (decimal, a
//! group counting once), present only once every ping node has answered or been declared dead.
//! A real Heartbeat peer keeps and ignores unknown fields (spec §1.2), and the authentication
//! digest covers every field, so it still accepts our heartbeats. Being periodic, the count needs
//! no retransmission and is never stale by more than one keepalive.
//!
//! Next to it, `pingage=MS` (decimal milliseconds, only with a non-zero count) is the age, when
//! the heartbeat left, of the stalest answer among the ping nodes counted (a group's answer being
//! its freshest member's). It lets the receiver tell a count taken after its own loss from one
//! taken before (see `core::ping::policy`). A peer that does not send it (Heartbeat 3.0.6, an
//! older heartbeat-rs) is simply not given that shortcut; an age that does not parse as a plain
//! decimal of at most [`MAX_AGE_DIGITS`] digits is ignored, the count still counts.
//!
//! For a real peer running the original ipfail we also understand its messages (spec §8.2):
//! `num_ping_nodes num_ping=N` gives us its count, `you_are_dead` asks us to give everything up,
//! `abort_giveup` cancels that; and we send `num_ping_nodes` when our count changes, so its
//! ipfail learns ours. Messages addressed to another API client are not ours to read.

use super::Message;

/// The field we add to `t=status`.
pub const PINGCOUNT_FIELD: &str = "pingcount";
/// The age of the stalest counted answer, added next to `pingcount`.
pub const PINGAGE_FIELD: &str = "pingage";
/// Longest `pingage` read (just under 12 days in ms): an older answer would have been declared
/// dead long ago, so a longer text is garbage.
pub const MAX_AGE_DIGITS: usize = 9;
/// The original ipfail's client id.
pub const IPFAIL_CLIENT: &str = "ipfail";

/// What a peer's message says about its ping reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNews {
    /// The peer reaches this many ping nodes; `age`: how old its stalest counted answer was
    /// when it said so (`None` if it did not say, or said it wrongly).
    Count { reachable: usize, age: Option<u64> },
    /// The peer's ipfail reaches more than we do: give up all resources.
    YouAreDead,
    /// The peer's ipfail cancels a previous `YouAreDead`.
    AbortGiveup,
}

/// Adds our count to an outgoing status message (`None` while unsettled: nothing is added),
/// and the age of our stalest counted answer when there is one.
pub fn add_count(status: &mut Message, reachable: Option<usize>, age: Option<u64>) {
    let Some(n) = reachable else {
        return;
    };
    status.set(PINGCOUNT_FIELD, n.to_string());
    if let Some(age) = age.filter(|_| n > 0) {
        status.set(PINGAGE_FIELD, age.to_string());
    }
}

/// Reads ping news from any accepted peer message.
pub fn read(msg: &Message) -> Option<PeerNews> {
    match msg.msg_type()? {
        "status" => Some(PeerNews::Count {
            reachable: parse_count(msg.get(PINGCOUNT_FIELD)?)?,
            age: msg.get(PINGAGE_FIELD).and_then(parse_age),
        }),
        t @ ("num_ping_nodes" | "you_are_dead" | "abort_giveup") => {
            if msg.get("to_id").is_some_and(|to| to != IPFAIL_CLIENT) {
                return None;
            }
            match t {
                "num_ping_nodes" => Some(PeerNews::Count {
                    reachable: parse_count(msg.get("num_ping")?)?,
                    age: None,
                }),
                "you_are_dead" => Some(PeerNews::YouAreDead),
                _ => Some(PeerNews::AbortGiveup),
            }
        }
        _ => None,
    }
}

fn parse_count(text: &str) -> Option<usize> {
    // The original writes a plain decimal; anything else is ignored rather than guessed.
    parse_decimal(text, 6).and_then(|n| usize::try_from(n).ok())
}

fn parse_age(text: &str) -> Option<u64> {
    parse_decimal(text, MAX_AGE_DIGITS)
}

/// A plain decimal of 1 to `max_digits` ASCII digits (no sign, space or prefix).
fn parse_decimal(text: &str, max_digits: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `t=num_ping_nodes` to the peer's ipfail, as the original ipfail sends it.
pub fn num_ping_nodes(dest: &str, reachable: usize, client_gen: u64) -> Message {
    let mut m = Message::new("num_ping_nodes");
    m.push("num_ping", reachable.to_string())
        .push("dest", dest)
        .push("from_id", IPFAIL_CLIENT)
        .push("to_id", IPFAIL_CLIENT)
        .push("client_gen", client_gen.to_string());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{AuthKey, AuthKeys, AuthMethod, MsgFmt};
    use crate::wire::builders;
    use std::collections::BTreeMap;

    #[test]
    fn count_rides_in_status_only_when_known() {
        let mut s = builders::status("active", 0x1f40, true);
        add_count(&mut s, None, Some(5));
        assert_eq!(read(&s), None);
        assert_eq!(s.get(PINGAGE_FIELD), None);
        add_count(&mut s, Some(2), Some(740));
        assert_eq!(s.get(PINGCOUNT_FIELD), Some("2"));
        assert_eq!(s.get(PINGAGE_FIELD), Some("740"));
        assert_eq!(read(&s), Some(count(2, Some(740))));
        // Updating replaces, never repeats the fields.
        add_count(&mut s, Some(1), Some(20));
        assert_eq!(read(&s), Some(count(1, Some(20))));
        for field in [PINGCOUNT_FIELD, PINGAGE_FIELD] {
            assert_eq!(s.fields.iter().filter(|f| f.name == field).count(), 1);
        }
    }

    fn count(reachable: usize, age: Option<u64>) -> PeerNews {
        PeerNews::Count { reachable, age }
    }

    #[test]
    fn no_age_without_a_reachable_node() {
        let mut s = builders::status("active", 1, true);
        add_count(&mut s, Some(0), Some(300));
        assert_eq!(s.get(PINGAGE_FIELD), None);
        assert_eq!(read(&s), Some(count(0, None)));
        let mut s = builders::status("active", 1, true);
        add_count(&mut s, Some(1), None);
        assert_eq!(s.get(PINGAGE_FIELD), None);
        assert_eq!(read(&s), Some(count(1, None)));
    }

    #[test]
    fn status_with_count_still_authenticates_for_any_receiver() {
        // The digest covers the extra field like any other: a receiver that knows nothing of it
        // verifies the packet with the same keys.
        let mut keys = BTreeMap::new();
        keys.insert(
            1,
            AuthKey {
                method: AuthMethod::Sha1,
                secret: b"k".to_vec(),
            },
        );
        let keys = AuthKeys {
            send_index: 1,
            keys,
        };
        let mut s = builders::status("active", 0x1f40, true);
        s.push("src", "alpha").push("seq", "1").push("ts", "1");
        add_count(&mut s, Some(1), Some(250));
        for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
            let bytes = crate::wire::encode(&s, &keys, fmt).unwrap();
            let back = crate::wire::decode_verified(&bytes, &keys).unwrap();
            assert_eq!(back.get("st"), Some("active"));
            assert_eq!(read(&back), Some(count(1, Some(250))));
        }
    }

    #[test]
    fn original_ipfail_messages() {
        let m = num_ping_nodes("bravo", 3, 7);
        assert_eq!(m.get("t"), Some("num_ping_nodes"));
        assert_eq!(m.get("to_id"), Some("ipfail"));
        assert_eq!(read(&m), Some(count(3, None)));
        let mut dead = Message::new("you_are_dead");
        dead.push("to_id", "ipfail");
        assert_eq!(read(&dead), Some(PeerNews::YouAreDead));
        let abort = Message::new("abort_giveup");
        assert_eq!(read(&abort), Some(PeerNews::AbortGiveup));
        let mut other_client = Message::new("you_are_dead");
        other_client.push("to_id", "someone_else");
        assert_eq!(read(&other_client), None);
    }

    #[test]
    fn odd_counts_are_ignored() {
        for bad in ["", "-1", "1.5", "0x2", " 2", "9999999", "two"] {
            let mut s = builders::status("up", 1, true);
            s.push(PINGCOUNT_FIELD, bad);
            assert_eq!(read(&s), None, "{bad:?}");
        }
        assert_eq!(read(&Message::new("resource")), None);
        assert_eq!(read(&Message::default()), None);
    }

    #[test]
    fn odd_ages_are_ignored_and_the_count_kept() {
        for bad in [
            "",
            "-5",
            "+5",
            "1.5",
            "0x10",
            " 7",
            "7 ",
            "1e3",
            "ten",
            "1000000000",
            "18446744073709551616",
            "99999999999999999999999999",
            "\u{663}",
        ] {
            let mut s = builders::status("active", 1, true);
            s.push(PINGCOUNT_FIELD, "1").push(PINGAGE_FIELD, bad);
            assert_eq!(read(&s), Some(count(1, None)), "{bad:?}");
        }
        let mut s = builders::status("active", 1, true);
        s.push(PINGCOUNT_FIELD, "1")
            .push(PINGAGE_FIELD, "999999999");
        assert_eq!(read(&s), Some(count(1, Some(999_999_999))));
        // An age without a count says nothing.
        let mut s = builders::status("active", 1, true);
        s.push(PINGAGE_FIELD, "10");
        assert_eq!(read(&s), None);
    }
}
