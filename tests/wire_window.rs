//! Receive window behaviour (spec §4.3–§4.6).

use heartbeat::wire::Message;
use heartbeat::wire::window::{
    Accepted, GenerationCheck, MAX_MISSING, ReceiveWindow, SeqCheck, Verdict,
};

fn msg(t: &str, seq: u64, hg: u64, ts: u64) -> Message {
    let mut m = Message::new(t);
    m.push("src", "nodeb")
        .push("seq", format!("{seq:x}"))
        .push("hg", format!("{hg:x}"))
        .push("ts", format!("{ts:x}"));
    m
}

fn status(seq: u64, hg: u64) -> Message {
    msg("status", seq, hg, 1000 + seq)
}

fn accepted(v: Verdict) -> Accepted {
    match v {
        Verdict::Accept(a) => a,
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn in_order_and_duplicates() {
    let mut w = ReceiveWindow::new(3);
    for seq in 1..=5 {
        accepted(w.observe(&status(seq, 7), false));
        assert_eq!(w.observe(&status(seq, 7), false), Verdict::Duplicate);
    }
    assert_eq!(w.last_seq(), Some(5));
    assert_eq!(w.observe(&msg("resource", 2, 7, 1), false), Verdict::Old);
}

#[test]
fn ack_about_every_ten_in_order_messages() {
    let mut w = ReceiveWindow::new(4);
    let acks: Vec<u64> = (1..=35)
        .filter_map(|s| accepted(w.observe(&status(s, 7), false)).ack)
        .collect();
    assert_eq!(acks, [4, 14, 24, 34]);
}

#[test]
fn gap_reports_missing_then_late_fills() {
    let mut w = ReceiveWindow::new(5);
    for s in 1..=3 {
        accepted(w.observe(&status(s, 7), false));
    }
    let a = accepted(w.observe(&msg("resource", 7, 7, 1), false));
    assert_eq!(a.missing, [4, 5, 6]);
    assert_eq!(w.missing().collect::<Vec<_>>(), [4, 5, 6]);
    // In order after the gap, but with seqs missing: no ACK.
    let a = accepted(w.observe(&msg("resource", 8, 7, 1), false));
    assert_eq!(a.ack, None);
    let a = accepted(w.observe(&msg("resource", 5, 7, 1), false));
    assert!(!a.all_filled);
    // Contiguous point is 3: nothing ≤ 3 ends in 5.
    assert_eq!(a.ack, None);
    accepted(w.observe(&msg("resource", 6, 7, 1), false));
    let a = accepted(w.observe(&msg("resource", 4, 7, 1), false));
    assert!(a.all_filled);
    // Contiguous point is now 8: the highest seq ≤ 8 ending in 5.
    assert_eq!(a.ack, Some(5));
    assert_eq!(w.observe(&msg("resource", 4, 7, 1), false), Verdict::Old);
}

#[test]
fn nak_forgets_a_missing_seq() {
    let mut w = ReceiveWindow::new(0);
    accepted(w.observe(&status(1, 7), false));
    accepted(w.observe(&status(4, 7), false));
    assert!(w.is_missing(2));
    w.forget_missing(2);
    assert!(!w.is_missing(2));
    assert_eq!(w.observe(&msg("resource", 2, 7, 1), false), Verdict::Old);
}

#[test]
fn huge_gap_is_given_up() {
    let mut w = ReceiveWindow::new(0);
    accepted(w.observe(&status(1, 7), false));
    let a = accepted(w.observe(&status(253, 7), false));
    assert!(a.gave_up_gap);
    assert!(a.missing.is_empty());
    assert_eq!(w.missing().count(), 0);
    // A gap of exactly 250 is still tracked.
    let a = accepted(w.observe(&status(504, 7), false));
    assert_eq!(a.missing.len(), 250);
}

#[test]
fn lower_generation_is_a_replay() {
    let mut w = ReceiveWindow::new(0);
    accepted(w.observe(&status(1, 10), false));
    assert_eq!(
        w.observe(&status(2, 9), false),
        Verdict::Replay {
            generation: 9,
            curgen: 10
        }
    );
    // A message without hg reads as generation 0.
    let mut m = Message::new("status");
    m.push("seq", "2").push("ts", "5");
    assert_eq!(
        w.observe(&m, false),
        Verdict::Replay {
            generation: 0,
            curgen: 10
        }
    );
}

#[test]
fn higher_generation_on_status_is_a_restart() {
    let mut w = ReceiveWindow::new(0);
    let first = accepted(w.observe(&status(1, 10), false));
    assert!(!first.restarted, "the first generation seen is no restart");
    for s in 2..=40 {
        accepted(w.observe(&status(s, 10), false));
    }
    let a = accepted(w.observe(&status(1, 11), false));
    assert!(a.restarted);
    assert_eq!(w.generation(), Some(11));
    accepted(w.observe(&status(2, 11), false));
    // A higher hg on a non-status message does not reset the window.
    assert_eq!(w.observe(&msg("resource", 1, 12, 1), false), Verdict::Old);
}

#[test]
fn healed_partition_and_stale_status() {
    let mut w = ReceiveWindow::new(0);
    for s in 1..=5 {
        accepted(w.observe(&status(s, 10), false));
    }
    // Peer declared dead; an old status of the same generation is stale.
    assert_eq!(w.observe(&status(5, 10), true), Verdict::Stale);
    let a = accepted(w.observe(&status(9, 10), true));
    assert!(a.healed_partition);
    assert_eq!(a.missing, [6, 7, 8]);
}

#[test]
fn older_status_by_ts_and_seq_is_stale() {
    let mut w = ReceiveWindow::new(0);
    accepted(w.observe(&msg("status", 1, 10, 100), false));
    accepted(w.observe(&msg("status", 3, 10, 200), false));
    assert_eq!(w.observe(&msg("status", 2, 10, 150), false), Verdict::Stale);
}

#[test]
fn bad_fields_and_unsequenced() {
    let mut w = ReceiveWindow::new(0);
    assert_eq!(w.observe(&msg("status", 0, 1, 1), false), Verdict::BadSeq);
    let mut m = Message::new("status");
    m.push("seq", "zz");
    assert_eq!(w.observe(&m, false), Verdict::BadSeq);
    let mut m = Message::new("status");
    m.push("seq", "1").push("hg", "xyz");
    assert_eq!(w.observe(&m, false), Verdict::BadGeneration);
    let mut m = Message::new("NS_ackmsg");
    m.push("ackseq", "1");
    assert_eq!(w.observe(&m, false), Verdict::Unsequenced);
}

// The step API used by the core (generation, sequence and ACK checks run separately).

#[test]
fn step_api_gap_then_late_fills() {
    let mut w = ReceiveWindow::new(3);
    assert_eq!(w.check_seq(1), SeqCheck::InOrder);
    assert_eq!(w.check_seq(4), SeqCheck::Gap { last: 1, lost: 2 });
    assert_eq!(w.missing().collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(w.check_seq(4), SeqCheck::Duplicate);
    assert_eq!(w.check_seq(2), SeqCheck::Recovered { filled: false });
    assert_eq!(w.check_seq(3), SeqCheck::Recovered { filled: true });
    assert_eq!(w.check_seq(2), SeqCheck::Old);
    assert_eq!(w.check_seq(5), SeqCheck::InOrder);
    assert_eq!(w.last_seq(), Some(5));
}

#[test]
fn step_api_ack_trigger_and_fill() {
    let mut w = ReceiveWindow::new(3);
    let c = w.check_seq(2);
    assert_eq!(w.ack_for(2, c), None);
    let c = w.check_seq(3);
    assert_eq!(w.ack_for(3, c), Some(3));
    // A gap holds back the trigger; the final fill acknowledges the last seq.
    w.check_seq(6);
    w.check_seq(7);
    let c = w.check_seq(13);
    assert_eq!(w.ack_for(13, c), None);
    let c = w.check_seq(4);
    assert_eq!(w.ack_for(4, c), None);
    assert_eq!(w.check_seq(5), SeqCheck::Recovered { filled: false });
    w.forget_missing(8);
    w.forget_missing(9);
    w.forget_missing(10);
    w.forget_missing(11);
    let c = w.check_seq(12);
    assert_eq!(c, SeqCheck::Recovered { filled: true });
    assert_eq!(w.ack_for(12, c), Some(13));
}

#[test]
fn step_api_huge_gap_resynchronises() {
    let mut w = ReceiveWindow::new(0);
    w.check_seq(1);
    w.check_seq(5);
    assert_eq!(w.check_seq(1000), SeqCheck::Resync { last: 5 });
    assert_eq!(w.missing().count(), 0);
    assert_eq!(w.check_seq(1001), SeqCheck::InOrder);
}

#[test]
fn step_api_keeps_the_newest_missing_seqs() {
    let mut w = ReceiveWindow::new(0);
    w.check_seq(1);
    // Seqs 1, 202, 403, 604: 600 missing (2..=201, 203..=402, 404..=603), the lowest 100 given up.
    for k in 1..=3u64 {
        assert_eq!(
            w.check_seq(1 + 201 * k),
            SeqCheck::Gap {
                last: 1 + 201 * (k - 1),
                lost: 200
            }
        );
    }
    assert_eq!(w.missing().count(), MAX_MISSING);
    assert!(!w.is_missing(101));
    assert_eq!(w.missing().next(), Some(102));
    assert_eq!(w.missing().last(), Some(603));
}

#[test]
fn step_api_generations() {
    let mut w = ReceiveWindow::new(0);
    assert_eq!(
        w.check_generation(5),
        GenerationCheck::Newer {
            known_before: false
        }
    );
    assert_eq!(w.generation(), Some(5));
    assert_eq!(w.check_generation(5), GenerationCheck::Same);
    assert_eq!(w.check_generation(4), GenerationCheck::Older { current: 5 });
    assert_eq!(w.generation(), Some(5));
    w.check_seq(7);
    w.check_seq(9);
    assert_eq!(
        w.check_generation(6),
        GenerationCheck::Newer { known_before: true }
    );
    assert_eq!(w.missing().count(), 0);
    assert_eq!(w.check_seq(1), SeqCheck::InOrder);
}

#[test]
fn forget_sequence_keeps_the_generation() {
    let mut w = ReceiveWindow::new(0);
    w.check_generation(9);
    w.check_seq(40);
    w.check_seq(43);
    w.forget_sequence();
    assert_eq!(w.generation(), Some(9));
    assert_eq!(w.last_seq(), None);
    assert_eq!(w.missing().count(), 0);
    assert_eq!(w.check_generation(9), GenerationCheck::Same);
    // The next packet, even a lower seq, is taken as fresh.
    assert_eq!(w.check_seq(30), SeqCheck::InOrder);
    assert_eq!(w.check_seq(31), SeqCheck::InOrder);
}

#[test]
fn forget_sequence_then_observe_still_sees_a_healed_partition() {
    let mut w = ReceiveWindow::new(0);
    accepted(w.observe(&status(10, 7), false));
    accepted(w.observe(&status(12, 7), false));
    // Declared dead: sequence forgotten, generation and last status kept.
    w.forget_sequence();
    assert!(w.missing().next().is_none());
    assert_eq!(w.observe(&status(12, 7), true), Verdict::Stale);
    let a = accepted(w.observe(&status(20, 7), true));
    assert!(a.healed_partition);
    assert!(a.missing.is_empty(), "taken as fresh, not as a gap");
    assert_eq!(w.last_seq(), Some(20));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn seq() -> impl Strategy<Value = u64> {
        prop_oneof![
            1u64..40,
            Just(u64::MAX),
            Just(u64::MAX - 1),
            any::<u64>(),
            0u64..600
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

        /// Any sequence of (type, seq, hg, ts, dead) is processed without panic, and no message
        /// is accepted twice.
        #[test]
        fn arbitrary_sequences(
            trigger in 0u8..10,
            steps in prop::collection::vec(
                (any::<bool>(), seq(), prop_oneof![0u64..4, Just(u64::MAX)], any::<u64>(), any::<bool>()),
                1..60,
            ),
        ) {
            let mut w = ReceiveWindow::new(trigger);
            for (is_status, seq, hg, ts, dead) in steps {
                let m = msg(if is_status { "status" } else { "resource" }, seq, hg, ts);
                if let Verdict::Accept(_) = w.observe(&m, dead) {
                    prop_assert!(w.missing().count() <= 500);
                    let again = w.observe(&m, dead);
                    prop_assert!(!matches!(again, Verdict::Accept(_)), "accepted twice");
                }
            }
        }

        /// The step API never panics, and keeps its invariants: at most MAX_MISSING missing,
        /// all below the last seq; a seq is never accepted twice in a row.
        #[test]
        fn arbitrary_steps(
            trigger in 0u8..10,
            steps in prop::collection::vec((0u8..8, seq(), 0u64..4), 1..80),
        ) {
            let mut w = ReceiveWindow::new(trigger);
            for (op, seq, hg) in steps {
                match op {
                    0 => { w.check_generation(hg); }
                    1 => w.forget_sequence(),
                    2 => w.forget_missing(seq),
                    _ => {
                        let c = w.check_seq(seq);
                        if let Some(ack) = w.ack_for(seq, c) {
                            prop_assert!(Some(ack) <= w.last_seq());
                        }
                        if !matches!(c, SeqCheck::Duplicate | SeqCheck::Old) {
                            let again = w.check_seq(seq);
                            prop_assert!(matches!(again, SeqCheck::Duplicate | SeqCheck::Old));
                        }
                    }
                }
                prop_assert!(w.missing().count() <= MAX_MISSING);
                if let Some(last) = w.missing().last() {
                    prop_assert!(Some(last) < w.last_seq());
                }
            }
        }
    }
}
