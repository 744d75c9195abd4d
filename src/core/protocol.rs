//! The receive path and the message-level protocol (spec §4): authentication and acceptance,
//! generations and sequence numbers, ACKs, retransmission requests and answers, and dispatch of
//! accepted messages to membership and resource logic.

use std::collections::BTreeMap;

use super::Core;
use super::transport;
use super::vocab::{NodeStatus, Severity};
use crate::config::Millis;
use crate::core::intake::SelfVerdict;
use crate::core::intake::drops::DropReason;
use crate::wire::builders;
use crate::wire::repr::{Body, Header, Hg};
use crate::wire::sender::{AckOutcome, RexmitAnswer};
use crate::wire::window::{
    GenerationCheck as GenVerdict, MAX_MISSING, ReceiveWindow, SeqCheck as SeqVerdict,
};

/// At most this many retransmissions answer one request (spec §4.5).
const MAX_REXMIT_PER_REQUEST: u64 = 50;

/// The peer's receive window (`wire::window`) plus the timing it leaves out: when to ask again
/// for each missing seq (spec §4.5). `requests` always holds exactly the window's missing seqs.
#[derive(Debug, Clone)]
pub struct PeerRx {
    window: ReceiveWindow,
    requests: BTreeMap<u64, Millis>,
}

impl PeerRx {
    pub fn new(ack_trigger: u64) -> Self {
        PeerRx {
            window: ReceiveWindow::new((ack_trigger % 10) as u8),
            requests: BTreeMap::new(),
        }
    }

    /// Classifies `hg`, adopting it when newer (which forgets the sequence state).
    pub fn check_generation(&mut self, hg: u64) -> GenVerdict {
        let verdict = self.window.check_generation(hg);
        if matches!(verdict, GenVerdict::Newer { .. }) {
            self.requests.clear();
        }
        verdict
    }

    /// Classifies `seq`; newly missing seqs are first requested at `first_request`.
    pub fn check_seq(&mut self, seq: u64, first_request: Millis) -> SeqVerdict {
        let verdict = self.window.check_seq(seq);
        match verdict {
            SeqVerdict::Gap { last, .. } => {
                for s in last + 1..seq {
                    self.requests.insert(s, first_request);
                }
                while self.requests.len() > MAX_MISSING {
                    self.requests.pop_first();
                }
            }
            SeqVerdict::Resync { .. } => self.requests.clear(),
            SeqVerdict::Recovered { .. } => {
                self.requests.remove(&seq);
            }
            SeqVerdict::InOrder | SeqVerdict::Duplicate | SeqVerdict::Old => {}
        }
        debug_assert!(self.requests.keys().copied().eq(self.window.missing()));
        verdict
    }

    /// The seq to acknowledge after accepting `seq`, if any.
    pub fn ack_for(&self, seq: u64, verdict: &SeqVerdict) -> Option<u64> {
        self.window.ack_for(seq, *verdict)
    }

    /// Gives up on one missing seq (the sender answered with a NAK).
    pub fn forget_missing(&mut self, seq: u64) {
        self.window.forget_missing(seq);
        self.requests.remove(&seq);
    }

    /// Peer declared dead: its next packet is taken as fresh; the generation is kept.
    pub fn forget_sequence(&mut self) {
        self.window.forget_sequence();
        self.requests.clear();
    }

    /// Missing seqs whose request is due at `now`; reschedules them `every` ms later.
    pub fn due_requests(&mut self, now: Millis, every: Millis) -> Vec<u64> {
        let mut due = Vec::new();
        for (seq, at) in self.requests.iter_mut() {
            if *at <= now {
                due.push(*seq);
                *at = now + every.max(1);
            }
        }
        due
    }

    /// When the next retransmission request is due.
    pub fn next_request(&self) -> Option<Millis> {
        self.requests.values().copied().min()
    }
}

impl Core {
    /// A datagram arrived on `medium`.
    pub(super) fn on_datagram(&mut self, medium: usize, bytes: &[u8]) {
        let msg = match transport::decode(bytes, &self.config.keys) {
            Ok(m) => m,
            Err(kind) => {
                // The line is built only when the rate limit lets it through.
                self.count_drop(kind, medium, |link| {
                    Some((
                        Severity::Warn,
                        format!("Dropped a packet on {link}: {kind}"),
                    ))
                });
                return;
            }
        };
        let Some(head) = Header::parse(&msg) else {
            self.count_drop(DropReason::Malformed, medium, |_| None);
            return;
        };
        if head.ts.is_none_or(|ts| ts == 0) {
            self.count_drop(DropReason::Malformed, medium, |_| None);
            return;
        }
        let (t, src) = (head.t, head.src);
        if src == self.config.local {
            self.on_own_name(medium, &head);
            return;
        }
        if src != self.config.peer {
            let text = format!("process_status_message: bad node [{src}] in message");
            self.count_drop(DropReason::UnknownNode, medium, |_| {
                Some((Severity::Error, text))
            });
            return;
        }
        self.learn_peer_uuid(&head);
        let body = Body::parse(&msg);
        if t.starts_with("NS_") {
            // Unsequenced: nothing tells a fresh one from a replay, so it proves no link.
            if self.addressed_to_us(&head) {
                self.on_ns_message(body);
            }
            return;
        }
        let Some(seq) = head.seq.filter(|s| *s > 0) else {
            let text = "bad sequence number".to_string();
            self.count_drop(DropReason::Malformed, medium, |_| {
                Some((Severity::Error, text))
            });
            return;
        };
        let hg = match head.hg {
            Hg::Absent => 0,
            Hg::Value(g) => g,
            Hg::Bad => {
                let text = "bad generation number".to_string();
                self.count_drop(DropReason::Malformed, medium, |_| {
                    Some((Severity::Error, text))
                });
                return;
            }
        };
        let Some(healed) = self.accept_generation(medium, hg, seq, &body) else {
            return;
        };
        if !self.accept_sequence(medium, hg, seq) {
            return;
        }
        if !self.addressed_to_us(&head) {
            return;
        }
        self.dispatch(t, body, &msg, seq, healed);
    }

    /// A message with our own name: our own packet coming back (bcast, or a ucast line
    /// pointing at us) refreshes our link; one that only claims our name is a spoof
    /// (crate::core::intake::selfecho decides).
    fn on_own_name(&mut self, medium: usize, head: &Header) {
        let verdict = self.self_echo.classify(
            medium,
            head,
            &self.identity.uuid,
            self.identity.generation,
            self.sender.last_seq(),
        );
        match verdict {
            SelfVerdict::Loopback => self.refresh_own_link(medium),
            SelfVerdict::Spoofed(reason) => {
                let text = format!(
                    "Dropped a packet carrying our own node name [{}]: {}",
                    head.src,
                    reason.as_str()
                );
                self.count_drop(DropReason::SpoofedSelf, medium, |_| {
                    Some((Severity::Warn, text))
                });
            }
        }
    }

    /// The generation check (spec §4.3): an older one is a replay, a newer one a restart; from
    /// a peer held dead only a fresh status is accepted (the partition healed: `Some(true)`).
    /// `None`: dropped.
    fn accept_generation(&mut self, medium: usize, hg: u64, seq: u64, body: &Body) -> Option<bool> {
        let mut healed = false;
        match self.mem.peer.rx.check_generation(hg) {
            GenVerdict::Older { current } => {
                let text = format!(
                    "should_drop_message: attempted replay attack [{}]? [gen = {hg}, curgen = {current}]",
                    self.config.peer
                );
                self.count_drop(DropReason::Replay, medium, |_| {
                    Some((Severity::Error, text))
                });
                return None;
            }
            GenVerdict::Newer { known_before } => self.on_peer_restart(known_before),
            GenVerdict::Same => {
                if self.mem.peer.status == NodeStatus::Dead {
                    if !matches!(body, Body::Status { .. }) {
                        // Only a status brings a dead node back; the rest is stale.
                        self.count_drop(DropReason::Old, medium, |_| None);
                        return None;
                    }
                    if self.mem.peer.last_status_seq.is_some_and(|s| seq <= s) {
                        self.count_drop(DropReason::Old, medium, |_| None);
                        return None;
                    }
                    healed = true;
                }
            }
        }
        Some(healed)
    }

    /// The sequence check (spec §4.4): gaps are logged and requested, duplicates and replays
    /// dropped, and every ~10 in-order messages are acknowledged. `false`: dropped.
    fn accept_sequence(&mut self, medium: usize, hg: u64, seq: u64) -> bool {
        let first_request = self.now.mono + self.first_rexmit_delay(seq);
        let verdict = self.mem.peer.rx.check_seq(seq, first_request);
        // Below the window: the late copy of a second medium is a duplicate; anything else is a
        // packet the node already saw (a replay), which proves no link either, even on a link
        // that never carried it (a replay captured elsewhere).
        let verdict = match verdict {
            SeqVerdict::Old if self.copies.is_copy(seq, medium) => SeqVerdict::Duplicate,
            v => v,
        };
        if !matches!(verdict, SeqVerdict::Old) {
            self.copies.note(seq, medium);
            self.refresh_peer_link(medium, hg, seq);
        }
        let peer = self.config.peer.clone();
        match verdict {
            SeqVerdict::InOrder | SeqVerdict::Recovered { filled: false } => {}
            SeqVerdict::Gap { last, lost } => self.log(
                Severity::Warn,
                format!("{lost} lost packet(s) for [{peer}] [{last}:{seq}]"),
            ),
            SeqVerdict::Resync { .. } => {
                self.log(Severity::Error, "lost a lot of packets!".to_string())
            }
            SeqVerdict::Recovered { filled: true } => {
                self.log(Severity::Info, format!("No pkts missing from {peer}!"))
            }
            SeqVerdict::Duplicate => return false,
            SeqVerdict::Old => {
                // Below the window and not missing: a replay within this generation.
                let text = format!("Dropped an old packet from [{peer}] (seq {seq:x}): replay?");
                self.count_drop(DropReason::Old, medium, |_| Some((Severity::Warn, text)));
                return false;
            }
        }
        if let Some(ack) = self.mem.peer.rx.ack_for(seq, &verdict)
            && self.mem.peer.protocol
        {
            self.transmit(builders::ack(&peer, ack));
        }
        true
    }

    /// An accepted, sequenced message for us, by type. `msg` is the whole message for the
    /// ping news and the hooks, which read or pass on fields the core does not interpret.
    fn dispatch(
        &mut self,
        t: &str,
        body: Body,
        msg: &crate::wire::Message,
        seq: u64,
        healed: bool,
    ) {
        match body {
            Body::Status { st, dt, protocol } => {
                self.ping_peer_message(msg);
                self.on_peer_status(st, dt, protocol, seq, healed);
            }
            Body::PingNews => self.ping_peer_message(msg),
            Body::ReqNodes => self.answer_reqnodes(),
            Body::RepNodes => self.on_repnodes(),
            Body::Starting => self.on_peer_starting(),
            Body::Resource {
                rsc_hold,
                full,
                isstable,
                info,
            } => self.on_peer_resource(rsc_hold, full, isstable, info, seq),
            Body::AskResources {
                rsc_hold,
                info,
                src,
            } => self.on_ask_resources(rsc_hold, info, src, false),
            Body::HbTakeover { rsc_hold } => self.on_peer_hb_takeover(rsc_hold),
            Body::Shutdone => self.on_peer_shutdone(),
            Body::IpRequest { ipaddr } => self.on_ip_request(ipaddr),
            Body::IpRequestResp { ipaddr, weown, ok } => self.on_ip_request_resp(ipaddr, weown, ok),
            Body::Ack { .. } | Body::Rexmit { .. } | Body::RexmitNak { .. } | Body::Other => {
                self.on_unhandled(t, msg)
            }
        }
    }

    /// `dest`/`destuuid` name us, or the message is for everyone.
    fn addressed_to_us(&self, head: &Header) -> bool {
        if let Some(u) = head.destuuid
            && u.len() == 16
            && u.iter().any(|b| *b != 0)
        {
            return u == self.identity.uuid;
        }
        head.dest.is_none_or(|d| d == self.config.local)
    }

    fn learn_peer_uuid(&mut self, head: &Header) {
        let Some(u) = head.srcuuid else {
            return;
        };
        let Ok(uuid) = <[u8; 16]>::try_from(u) else {
            return;
        };
        if uuid == [0; 16] {
            return;
        }
        if let Some(old) = self.mem.peer.uuid
            && old != uuid
        {
            self.log(
                Severity::Info,
                format!("node {} changed its uuid", self.config.peer),
            );
        }
        self.mem.peer.uuid = Some(uuid);
        let peer = self.config.peer.clone();
        self.sender.learn_peer_uuid(&peer, uuid);
    }

    /// `NS_*` messages addressed to us.
    fn on_ns_message(&mut self, body: Body) {
        match body {
            Body::Rexmit { first, last } => self.answer_rexmit(first, last),
            Body::RexmitNak { first: Some(seq) } => {
                self.log(
                    Severity::Error,
                    format!(
                        "Irretrievably lost packet: node {} seq {seq}",
                        self.config.peer
                    ),
                );
                self.mem.peer.rx.forget_missing(seq);
            }
            Body::Ack { ackseq: Some(ack) } => {
                let peer = self.config.peer.clone();
                if self.sender.on_ack(&peer, ack) == AckOutcome::Corrupted {
                    self.log(
                        Severity::Error,
                        format!("corrupted ackseq {ack:x} from {peer}"),
                    );
                }
            }
            _ => {}
        }
    }

    /// A retransmission request: `firstseq`/`lastseq` in decimal (spec §4.5).
    fn answer_rexmit(&mut self, first: Option<u64>, last: Option<u64>) {
        let (Some(first), Some(last)) = (first, last) else {
            self.log(Severity::Error, "Invalid rexmit seqnos".to_string());
            return;
        };
        if last < first || first == 0 {
            self.log(Severity::Error, "Invalid rexmit seqnos".to_string());
            return;
        }
        let min_gap = self.config.ha.max_rexmit_delay.saturating_sub(10);
        let now = self.now.mono;
        let peer = self.config.peer.clone();
        for seq in first..=last.min(first.saturating_add(MAX_REXMIT_PER_REQUEST - 1)) {
            match self.sender.retransmit(&peer, seq) {
                RexmitAnswer::Packet(bytes) => {
                    if self
                        .rexmit_times
                        .get(&seq)
                        .is_some_and(|t| now.saturating_sub(*t) < min_gap)
                    {
                        continue;
                    }
                    self.rexmit_times.insert(seq, now);
                    // Its loop-back is ours, not a replay (crate::core::intake::selfecho).
                    self.self_echo.note_retransmit(seq);
                    while self.rexmit_times.len() > 500 {
                        self.rexmit_times.pop_first();
                    }
                    self.outputs.push_back(super::Output::Transmit {
                        medium: None,
                        bytes,
                    });
                }
                RexmitAnswer::AlreadyAcked => {}
                RexmitAnswer::AboveMax { max } => self.log(
                    Severity::Warn,
                    format!("Rexmit of seq {seq} requested. {max} is max."),
                ),
                RexmitAnswer::TooLow | RexmitAnswer::NotFound => {
                    let reason =
                        if matches!(self.sender.retransmit(&peer, seq), RexmitAnswer::TooLow) {
                            "seqno too low"
                        } else {
                            "seqno not found"
                        };
                    self.log(
                        Severity::Error,
                        format!("Cannot rexmit pkt {seq} for {peer}: {reason}"),
                    );
                    self.transmit(crate::wire::builders::rexmit_nak(&peer, seq, reason));
                }
            }
        }
    }

    /// First request delay for a missing seq: spread in [50, max_rexmit_delay] ms, derived
    /// from the seq so that the core stays deterministic.
    fn first_rexmit_delay(&self, seq: u64) -> u64 {
        let max = self.config.ha.max_rexmit_delay;
        let lo = if max < 100 { 0 } else { 50 };
        let span = max.saturating_sub(lo) + 1;
        lo + (seq.wrapping_mul(2654435761) ^ self.identity.generation) % span
    }

    /// Asks again for every missing seq whose time has come, while the peer is alive.
    pub(super) fn rexmit_requests(&mut self) {
        if !self.mem.peer_alive() {
            return;
        }
        let every = self.config.ha.max_rexmit_delay;
        let due = self.mem.peer.rx.due_requests(self.now.mono, every);
        for seq in due {
            let m = builders::rexmit_request(&self.config.peer, seq);
            self.transmit(m);
        }
    }
}
