//! How the two nodes tell each other how many ping nodes they reach.
//!
//! Decision: our count rides in every heartbeat as an extra `pingcount=N` field (decimal, a
//! group counting once), present only once every ping node has answered or been declared dead.
//! A real Heartbeat peer keeps and ignores unknown fields (spec §1.2), and the authentication
//! digest covers every field, so it still accepts our heartbeats. Being periodic, the count needs
//! no retransmission and is never stale by more than one keepalive.
//!
//! For a real peer running the original ipfail we also understand its messages (spec §8.2):
//! `num_ping_nodes num_ping=N` gives us its count, `you_are_dead` asks us to give everything up,
//! `abort_giveup` cancels that; and we send `num_ping_nodes` when our count changes, so its
//! ipfail learns ours. Messages addressed to another API client are not ours to read.

use crate::wire::Message;

/// The field we add to `t=status`.
pub const PINGCOUNT_FIELD: &str = "pingcount";
/// The original ipfail's client id.
pub const IPFAIL_CLIENT: &str = "ipfail";

/// What a peer's message says about its ping reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNews {
    /// The peer reaches this many ping nodes.
    Count(usize),
    /// The peer's ipfail reaches more than we do: give up all resources.
    YouAreDead,
    /// The peer's ipfail cancels a previous `YouAreDead`.
    AbortGiveup,
}

/// Adds our count to an outgoing status message (`None` while unsettled: nothing is added).
pub fn add_count(status: &mut Message, reachable: Option<usize>) {
    if let Some(n) = reachable {
        status.set(PINGCOUNT_FIELD, n.to_string());
    }
}

/// Reads ping news from any accepted peer message.
pub fn read(msg: &Message) -> Option<PeerNews> {
    match msg.msg_type()? {
        "status" => parse_count(msg.get(PINGCOUNT_FIELD)?),
        t @ ("num_ping_nodes" | "you_are_dead" | "abort_giveup") => {
            if msg.get("to_id").is_some_and(|to| to != IPFAIL_CLIENT) {
                return None;
            }
            match t {
                "num_ping_nodes" => parse_count(msg.get("num_ping")?),
                "you_are_dead" => Some(PeerNews::YouAreDead),
                _ => Some(PeerNews::AbortGiveup),
            }
        }
        _ => None,
    }
}

fn parse_count(text: &str) -> Option<PeerNews> {
    // The original writes a plain decimal; anything else is ignored rather than guessed.
    if text.is_empty() || text.len() > 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().map(PeerNews::Count)
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
        add_count(&mut s, None);
        assert_eq!(read(&s), None);
        add_count(&mut s, Some(2));
        assert_eq!(s.get(PINGCOUNT_FIELD), Some("2"));
        assert_eq!(read(&s), Some(PeerNews::Count(2)));
        // Updating replaces, never repeats the field.
        add_count(&mut s, Some(0));
        assert_eq!(read(&s), Some(PeerNews::Count(0)));
        assert_eq!(
            s.fields
                .iter()
                .filter(|f| f.name == PINGCOUNT_FIELD)
                .count(),
            1
        );
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
        add_count(&mut s, Some(1));
        for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
            let bytes = crate::wire::encode(&s, &keys, fmt).unwrap();
            let back = crate::wire::decode_verified(&bytes, &keys).unwrap();
            assert_eq!(back.get("st"), Some("active"));
            assert_eq!(read(&back), Some(PeerNews::Count(1)));
        }
    }

    #[test]
    fn original_ipfail_messages() {
        let m = num_ping_nodes("bravo", 3, 7);
        assert_eq!(m.get("t"), Some("num_ping_nodes"));
        assert_eq!(m.get("to_id"), Some("ipfail"));
        assert_eq!(read(&m), Some(PeerNews::Count(3)));
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
}
