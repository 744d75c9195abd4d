//! The v1 messages as typed values, so that no field name is written outside `wire/`: what the
//! core receives is parsed once into a [`Header`] (the automatic fields) and a [`Body`] (the
//! fields of its type); what it sends is built by [`super::builders`]. Like smoltcp's `Repr`
//! types: the core reasons about `Body::Resource { full, .. }`, not about `rtype=full`.

use super::message::Message;

/// The automatic fields every message carries (spec §2.1), as the receive path needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'m> {
    /// `t`, the message type.
    pub t: &'m str,
    /// `src`, the sender's node name.
    pub src: &'m str,
    /// `ts` (hex seconds); `None` when absent or not hex.
    pub ts: Option<u64>,
    /// `seq` (hex); `None` when absent or not hex.
    pub seq: Option<u64>,
    pub hg: Hg,
    /// `dest`: one node, or everyone when absent.
    pub dest: Option<&'m str>,
    /// `destuuid` / `srcuuid` (binary, 16 bytes when well formed).
    pub destuuid: Option<&'m [u8]>,
    pub srcuuid: Option<&'m [u8]>,
}

/// The `hg` field: absent (an old peer: generation 0), present but not hex, or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hg {
    Absent,
    Bad,
    Value(u64),
}

impl<'m> Header<'m> {
    /// `None` without `t` or `src`: the message cannot be attributed.
    pub fn parse(msg: &'m Message) -> Option<Header<'m>> {
        Some(Header {
            t: msg.msg_type()?,
            src: msg.get(SRC)?,
            ts: msg.get_hex("ts"),
            seq: msg.get_hex("seq"),
            hg: match msg.get("hg") {
                None => Hg::Absent,
                Some(_) => msg.get_hex("hg").map_or(Hg::Bad, Hg::Value),
            },
            dest: msg.get("dest"),
            destuuid: msg.get_bin("destuuid"),
            srcuuid: msg.get_bin("srcuuid"),
        })
    }
}

/// The `src` field's name (the self-delivered copy of `ask_resources` carries it).
pub const SRC: &str = "src";

/// The fields of each message type the core acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'m> {
    /// `status`: `st` (a word), `dt` (hex ms), whether `protocol` is present (flow control).
    Status {
        st: Option<&'m str>,
        dt: Option<u64>,
        protocol: bool,
    },
    /// `NS_ackmsg`: `ackseq` (hex).
    Ack {
        ackseq: Option<u64>,
    },
    /// `NS_rexmit`: `firstseq`..`lastseq`, in **decimal** (spec §4.5).
    Rexmit {
        first: Option<u64>,
        last: Option<u64>,
    },
    /// `NS_nak_rexmit`: `firstseq` (hex) cannot be retransmitted.
    RexmitNak {
        first: Option<u64>,
    },
    ReqNodes,
    RepNodes,
    Starting,
    /// `resource`: `rsc_hold` (a word), `rtype=full` or incremental, `isstable`, `info`.
    Resource {
        rsc_hold: Option<&'m str>,
        full: bool,
        isstable: Option<bool>,
        info: Option<&'m str>,
    },
    /// `ask_resources`: `rsc_hold`, `info` (`me`, `other`, `done`), and who asks.
    AskResources {
        rsc_hold: Option<&'m str>,
        info: Option<&'m str>,
        src: Option<&'m str>,
    },
    /// `hb_takeover`: `rsc_hold` (`all`, `local`, `foreign`, `failback`).
    HbTakeover {
        rsc_hold: Option<&'m str>,
    },
    Shutdone,
    /// `ip-request`: the group key in `ipaddr`.
    IpRequest {
        ipaddr: Option<&'m str>,
    },
    /// `ip-request-resp`: `ipaddr`, `weown` (a word), `ok=OK`.
    IpRequestResp {
        ipaddr: Option<&'m str>,
        weown: Option<&'m str>,
        ok: bool,
    },
    /// The original ipfail's messages and `num_ping_nodes` (read by `super::ping_news`).
    PingNews,
    /// A type the core has no handler for (for the `rc.d` hooks).
    Other,
}

impl<'m> Body<'m> {
    pub fn parse(msg: &'m Message) -> Body<'m> {
        let decimal = |name: &str| msg.get(name).and_then(|s| s.parse::<u64>().ok());
        match msg.msg_type().unwrap_or("") {
            "status" => Body::Status {
                st: msg.get("st"),
                dt: msg.get_hex("dt"),
                protocol: msg.get("protocol").is_some(),
            },
            "NS_ackmsg" => Body::Ack {
                ackseq: msg.get_hex("ackseq"),
            },
            "NS_rexmit" => Body::Rexmit {
                first: decimal("firstseq"),
                last: decimal("lastseq"),
            },
            "NS_nak_rexmit" => Body::RexmitNak {
                first: msg.get_hex("firstseq"),
            },
            "reqnodes" => Body::ReqNodes,
            "repnodes" => Body::RepNodes,
            "starting" => Body::Starting,
            "resource" => Body::Resource {
                rsc_hold: msg.get("rsc_hold"),
                full: msg.get("rtype") == Some("full"),
                isstable: match msg.get("isstable") {
                    Some("1") => Some(true),
                    Some("0") => Some(false),
                    _ => None,
                },
                info: msg.get("info"),
            },
            "ask_resources" => Body::AskResources {
                rsc_hold: msg.get("rsc_hold"),
                info: msg.get("info"),
                src: msg.get(SRC),
            },
            "hb_takeover" => Body::HbTakeover {
                rsc_hold: msg.get("rsc_hold"),
            },
            "shutdone" => Body::Shutdone,
            "ip-request" => Body::IpRequest {
                ipaddr: msg.get("ipaddr"),
            },
            "ip-request-resp" => Body::IpRequestResp {
                ipaddr: msg.get("ipaddr"),
                weown: msg.get("weown"),
                ok: msg.get("ok") == Some("OK"),
            },
            "num_ping_nodes" | "you_are_dead" | "abort_giveup" => Body::PingNews,
            _ => Body::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::builders::{self, AskPhase, RscHold};
    use super::*;

    #[test]
    fn what_the_builders_make_parses_back() {
        let mut s = builders::status("active", 0x2710, true);
        s.push("src", "b")
            .push("seq", "1f")
            .push("hg", "zz")
            .push("ts", "5");
        let h = Header::parse(&s).unwrap();
        assert_eq!(
            (h.t, h.src, h.seq, h.ts),
            ("status", "b", Some(0x1f), Some(5))
        );
        assert_eq!(h.hg, Hg::Bad);
        assert_eq!(
            Body::parse(&s),
            Body::Status {
                st: Some("active"),
                dt: Some(0x2710),
                protocol: true
            }
        );
        assert_eq!(
            Body::parse(&builders::resource(RscHold::Local, false, Some("standby"))),
            Body::Resource {
                rsc_hold: Some("local"),
                full: true,
                isstable: Some(false),
                info: Some("standby")
            }
        );
        assert_eq!(
            Body::parse(&builders::rexmit_request("b", 26)),
            Body::Rexmit {
                first: Some(26),
                last: Some(26)
            }
        );
        assert_eq!(
            Body::parse(&builders::ip_request_resp("b", "k", true)),
            Body::IpRequestResp {
                ipaddr: Some("k"),
                weown: Some("yes"),
                ok: true
            }
        );
        let ask = builders::ask_resources_from(RscHold::All, AskPhase::Me, "a");
        assert_eq!(
            Body::parse(&ask),
            Body::AskResources {
                rsc_hold: Some("all"),
                info: Some("me"),
                src: Some("a")
            }
        );
        assert_eq!(Body::parse(&Message::new("app-event")), Body::Other);
        assert!(Header::parse(&Message::new("status")).is_none(), "no src");
    }
}
