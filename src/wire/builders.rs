//! One named constructor per message type the original exchanges in v1 mode (spec Appendix A).
//! Each returns only the caller's fields, in the order the original adds them (checked against
//! the captured 3.0.6 packets); the automatic fields are added by `Sender`.

use super::message::Message;

/// `rsc_hold`: which resources a `resource`/`ask_resources`/`hb_takeover` message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RscHold {
    None,
    Local,
    Foreign,
    All,
    /// Only in `hb_takeover failback`.
    Failback,
}

impl RscHold {
    pub fn as_str(self) -> &'static str {
        match self {
            RscHold::None => "none",
            RscHold::Local => "local",
            RscHold::Foreign => "foreign",
            RscHold::All => "all",
            RscHold::Failback => "failback",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => RscHold::None,
            "local" => RscHold::Local,
            "foreign" => RscHold::Foreign,
            "all" => RscHold::All,
            "failback" => RscHold::Failback,
            _ => return None,
        })
    }
}

/// `t=status`: `st`, `dt` (hex ms), `protocol=1` (omitted only to mimic a peer without flow
/// control, spec §2.2).
pub fn status(st: &str, deadtime_ms: u64, protocol: bool) -> Message {
    let mut m = Message::new("status");
    m.push("st", st).push("dt", format!("{deadtime_ms:x}"));
    if protocol {
        m.push("protocol", "1");
    }
    m
}

/// `t=NS_ackmsg`: acknowledges `ackseq` (hex) of `dest`.
pub fn ack(dest: &str, ackseq: u64) -> Message {
    let mut m = Message::new("NS_ackmsg");
    m.push("dest", dest).push("ackseq", format!("{ackseq:x}"));
    m
}

/// `t=NS_rexmit`: asks `dest` for one missing seq — in **decimal** (spec §4.5, §13 item 27).
pub fn rexmit_request(dest: &str, seq: u64) -> Message {
    let mut m = Message::new("NS_rexmit");
    m.push("dest", dest)
        .push("firstseq", seq.to_string())
        .push("lastseq", seq.to_string());
    m
}

/// `t=NS_nak_rexmit`: cannot retransmit `seq` (hex here) to `dest`, with the reason text.
pub fn rexmit_nak(dest: &str, seq: u64, reason: &str) -> Message {
    let mut m = Message::new("NS_nak_rexmit");
    m.push("firstseq", format!("{seq:x}"))
        .push("info", reason)
        .push("dest", dest);
    m
}

/// `t=reqnodes` to the first live peer when comm comes up (spec §4.7).
pub fn reqnodes(dest: &str) -> Message {
    let mut m = Message::new("reqnodes");
    m.push("dest", dest);
    m
}

/// `t=repnodes`: every normal node, each followed by a blank; deleted nodes likewise, or a single
/// blank. `dest` comes first, as 3.0.6 sends it.
pub fn repnodes<'a>(
    dest: &str,
    nodes: impl IntoIterator<Item = &'a str>,
    deleted: impl IntoIterator<Item = &'a str>,
) -> Message {
    let list = |names: &mut dyn Iterator<Item = &'a str>| {
        let s: String = names.map(|n| format!("{n} ")).collect();
        if s.is_empty() { " ".to_string() } else { s }
    };
    let mut m = Message::default();
    m.push("dest", dest)
        .push("t", "repnodes")
        .push("nodelist", list(&mut nodes.into_iter()))
        .push("delnodelist", list(&mut deleted.into_iter()));
    m
}

/// `t=starting`, sent at comm up (auto_failback on/off).
pub fn starting() -> Message {
    Message::new("starting")
}

/// `t=resource`: `rsc_hold`, `rtype=full`, `isstable`, optional `info`.
pub fn resource(hold: RscHold, stable: bool, info: Option<&str>) -> Message {
    let mut m = Message::new("resource");
    m.push("rsc_hold", hold.as_str())
        .push("rtype", "full")
        .push("isstable", if stable { "1" } else { "0" });
    if let Some(info) = info {
        m.push("info", info);
    }
    m
}

/// Phase of the standby protocol carried in `ask_resources` `info` (spec §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AskPhase {
    Me,
    Other,
    Done,
}

impl AskPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            AskPhase::Me => "me",
            AskPhase::Other => "other",
            AskPhase::Done => "done",
        }
    }
}

/// `t=ask_resources`: `rsc_hold`, `info=me|other|done`.
pub fn ask_resources(hold: RscHold, phase: AskPhase) -> Message {
    let mut m = Message::new("ask_resources");
    m.push("rsc_hold", hold.as_str())
        .push("info", phase.as_str());
    m
}

/// Our own copy of an `ask_resources`, processed as the peer's would be: with `src` set.
pub fn ask_resources_from(hold: RscHold, phase: AskPhase, src: &str) -> Message {
    let mut m = ask_resources(hold, phase);
    m.push(super::repr::SRC, src);
    m
}

/// `t=status` `st=dead`: the last words of a dying node (the crash guard's, before `shutdone`).
pub fn dead_status() -> Message {
    let mut m = Message::new("status");
    m.push("st", "dead");
    m
}

/// `t=hb_takeover`: the peer gives up the mirrored set.
pub fn hb_takeover(hold: RscHold) -> Message {
    let mut m = Message::new("hb_takeover");
    m.push("rsc_hold", hold.as_str());
    m
}

/// `t=shutdone`, `st=dead`: graceful release finished.
pub fn shutdone() -> Message {
    let mut m = Message::new("shutdone");
    m.push("st", "dead");
    m
}

/// `t=ip-request` (auto_failback legacy): asks for the group whose key is `ipaddr`.
pub fn ip_request(ipaddr: &str) -> Message {
    let mut m = Message::new("ip-request");
    m.push("ipaddr", ipaddr);
    m
}

/// `t=ip-request-resp`: `weown=yes|no`, `ok=OK`.
pub fn ip_request_resp(dest: &str, ipaddr: &str, weown: bool) -> Message {
    let mut m = Message::new("ip-request-resp");
    m.push("dest", dest)
        .push("ipaddr", ipaddr)
        .push("weown", if weown { "yes" } else { "no" })
        .push("ok", "OK");
    m
}

/// `t=stonith`: informational, after a dead peer was fenced.
pub fn stonith(node: &str, result: &str) -> Message {
    let mut m = Message::new("stonith");
    m.push("node", node).push("result", result);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(m: &Message) -> Vec<&str> {
        m.fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn orders_match_the_captures() {
        assert_eq!(
            names(&status("up", 4000, true)),
            ["t", "st", "dt", "protocol"]
        );
        assert_eq!(status("up", 4000, true).get("dt"), Some("fa0"));
        assert_eq!(names(&ack("b", 0x1f)), ["t", "dest", "ackseq"]);
        assert_eq!(ack("b", 0x1f).get("ackseq"), Some("1f"));
        let r = repnodes("nodeb", ["nodea", "nodeb"], []);
        assert_eq!(names(&r), ["dest", "t", "nodelist", "delnodelist"]);
        assert_eq!(r.get("nodelist"), Some("nodea nodeb "));
        assert_eq!(r.get("delnodelist"), Some(" "));
        let rs = resource(RscHold::Local, false, Some("standby"));
        assert_eq!(names(&rs), ["t", "rsc_hold", "rtype", "isstable", "info"]);
        assert_eq!(
            names(&ip_request_resp("b", "IPaddr::x", true)),
            ["t", "dest", "ipaddr", "weown", "ok"]
        );
        assert_eq!(
            names(&ask_resources(RscHold::All, AskPhase::Me)),
            ["t", "rsc_hold", "info"]
        );
    }

    #[test]
    fn rexmit_is_decimal_and_nak_hex() {
        let r = rexmit_request("b", 26);
        assert_eq!(
            (r.get("firstseq"), r.get("lastseq")),
            (Some("26"), Some("26"))
        );
        assert_eq!(
            rexmit_nak("b", 26, "seqno too low").get("firstseq"),
            Some("1a")
        );
    }
}
