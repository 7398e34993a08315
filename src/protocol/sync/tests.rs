//! Tick-by-tick tests of the sync state machine: one test per step rule and receive rule.

use super::*;
use crate::engine::rng::stream;

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);
const C: NodeId = NodeId(2);
const G: GroupId = GroupId(0);
const M: MsgRef = MsgRef(0);
const M1: MsgRef = MsgRef(1);
const M2: MsgRef = MsgRef(2);

/// Three messages of group G: M, M1 (child of M), M2 (ephemeral).
fn catalog() -> Vec<MessageMeta> {
    vec![
        MessageMeta {
            group: G,
            ephemeral: false,
            parents: Box::new([]),
        },
        MessageMeta {
            group: G,
            ephemeral: false,
            parents: Box::new([M]),
        },
        MessageMeta {
            group: G,
            ephemeral: true,
            parents: Box::new([]),
        },
    ]
}

fn node(me: NodeId, config: SyncConfig) -> SyncNode {
    let mut n = SyncNode::new(config, stream(1, "node/test/protocol"));
    let peers = [A, B, C].into_iter().filter(|&p| p != me).collect();
    n.set_sharing(0, G, peers);
    n
}

fn seed_config() -> SyncConfig {
    SyncConfig {
        ack: AckTiming::Immediate,
        forwarding: false,
        ..SyncConfig::default()
    }
}

/// The seed model with doubling backoff from `base` (at most 64 ticks) and `jitter`.
/// The seed's configuration with ACKs owed until the next step.
fn acks_at_step() -> SyncConfig {
    SyncConfig {
        ack: AckTiming::Step,
        ..seed_config()
    }
}

fn doubling(base: Tick, jitter: Tick) -> SyncConfig {
    SyncConfig {
        backoff: Backoff::Exponential {
            base,
            factor: 2.0,
            max: 64,
            jitter,
        },
        ..seed_config()
    }
}

fn interactive() -> SyncConfig {
    SyncConfig {
        mode: Mode::Interactive,
        ..SyncConfig::default()
    }
}

fn send(to: NodeId, item: Item) -> Output {
    Output::Send {
        to,
        packet: Packet::Record(item),
    }
}

fn step(n: &mut SyncNode, now: Tick) -> Vec<Output> {
    let mut out = Vec::new();
    n.step(now, &catalog(), &mut out);
    out
}

fn receive(n: &mut SyncNode, now: Tick, from: NodeId, item: Item) -> Vec<Output> {
    receive_packet(n, now, from, Packet::Record(item))
}

fn receive_packet(n: &mut SyncNode, now: Tick, from: NodeId, packet: Packet) -> Vec<Output> {
    let mut out = Vec::new();
    n.handle_packet(now, from, &packet, &catalog(), &mut out);
    out
}

fn append(n: &mut SyncNode, now: Tick, msg: MsgRef) {
    n.append(now, msg, &catalog());
}

// ---- appending and sending (batch) ----

#[test]
fn append_creates_due_records_for_every_sharing_peer() {
    let mut a = node(A, seed_config());
    append(&mut a, 1, M);
    assert!(a.holds(M));
    for p in [B, C] {
        let r = a.record(M, p).unwrap();
        assert_eq!((r.hold(), r.ack(), r.request()), (false, false, false));
        assert_eq!((r.send_count, r.send_time), (0, 1));
    }
    assert_eq!(a.record(M, A), None);
    assert_eq!(a.poll_timeout(), Some(1));
}

#[test]
fn fixed_backoff_resends_every_interval_until_acked() {
    let mut a = node(A, seed_config());
    append(&mut a, 1, M);
    // Tick 1: sent to both peers; next send time 1 + 2.
    assert_eq!(
        step(&mut a, 1),
        [send(B, Item::Message(M)), send(C, Item::Message(M))]
    );
    assert_eq!(a.record(M, B).unwrap().send_count, 1);
    assert_eq!(a.record(M, B).unwrap().send_time, 3);
    assert_eq!(a.poll_timeout(), Some(3));
    // Tick 2: nothing due.
    assert_eq!(step(&mut a, 2), []);
    // Tick 3: both again.
    assert_eq!(
        step(&mut a, 3),
        [send(B, Item::Message(M)), send(C, Item::Message(M))]
    );
    assert_eq!(a.record(M, C).unwrap().send_count, 2);
    // Tick 4: C's ACK arrives; hold set, C's record stops.
    assert_eq!(receive(&mut a, 4, C, Item::Ack(M)), []);
    assert!(a.record(M, C).unwrap().hold());
    // Tick 5: only B.
    assert_eq!(step(&mut a, 5), [send(B, Item::Message(M))]);
    assert_eq!(a.record(M, C).unwrap().send_count, 2);
    assert_eq!(a.record(M, B).unwrap().send_time, 7);
    // Tick 6: B's ACK; nothing is pending any more.
    receive(&mut a, 6, B, Item::Ack(M));
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(step(&mut a, 7), []);
    assert_eq!(a.record(M, B).unwrap().send_count, 3);
}

#[test]
fn records_sent_together_are_queued_as_one_entry_and_apart_as_one_each() {
    // A shares G with B and C; fixed backoff of 2. M's two records fall due together: one
    // calendar entry stands for both, at append and after each step that sends both.
    let mut a = node(A, seed_config());
    append(&mut a, 0, M);
    assert_eq!(a.due.len(), 1);
    assert_eq!(
        step(&mut a, 0),
        [send(B, Item::Message(M)), send(C, Item::Message(M))]
    );
    assert_eq!(a.due.len(), 1);
    // C's ACK: the entry still stands for B alone.
    receive(&mut a, 1, C, Item::Ack(M));
    assert_eq!(step(&mut a, 2), [send(B, Item::Message(M))]);
    // B alone is sent: its next send gets an entry of its own.
    assert_eq!(a.due.len(), 1);
    assert_eq!(a.poll_timeout(), Some(4));
    // B asks (a request at tick 3 makes B due at once); an entry for B at 3 joins the one at 4.
    receive(&mut a, 3, B, Item::Request(M));
    assert_eq!(a.due.len(), 2);
    assert_eq!(step(&mut a, 3), [send(B, Item::Message(M))]);
    // The entry at 4 is dead now (B's send time is 5) and is dropped when polled.
    assert_eq!(a.poll_timeout(), Some(5));
    assert_eq!(a.due.len(), 1);
    assert_eq!(step(&mut a, 4), []);
    assert_eq!(step(&mut a, 5), [send(B, Item::Message(M))]);
    assert_eq!(a.record(M, B).unwrap().send_count, 4);
    assert_eq!(a.record(M, C).unwrap().send_count, 1);
}

#[test]
fn records_of_one_message_that_fall_apart_are_each_sent_at_their_own_time() {
    // Doubling backoff from 1: B's and C's records, sent together, get the same next times
    // until D joins the group with a record of its own (send count 0), due at once.
    const D: NodeId = NodeId(3);
    let mut a = node(A, doubling(1, 0));
    append(&mut a, 0, M);
    let msg = |to| send(to, Item::Message(M));
    assert_eq!(step(&mut a, 0), [msg(B), msg(C)]); // next at 1
    assert_eq!(step(&mut a, 1), [msg(B), msg(C)]); // next at 3
    a.set_sharing(2, G, vec![B, C, D]);
    assert_eq!(step(&mut a, 2), [msg(D)]); // D next at 3
    // All three due at 3; then B and C at 3 + 4 = 7, D at 3 + 2 = 5: their send times differ,
    // so each gets an entry of its own.
    assert_eq!(step(&mut a, 3), [msg(B), msg(C), msg(D)]);
    assert_eq!(a.due.len(), 3);
    assert_eq!(step(&mut a, 4), []);
    assert_eq!(step(&mut a, 5), [msg(D)]); // D next at 9
    assert_eq!(step(&mut a, 6), []);
    assert_eq!(step(&mut a, 7), [msg(B), msg(C)]); // next at 15
    assert_eq!(step(&mut a, 9), [msg(D)]); // next at 17
    assert_eq!(a.poll_timeout(), Some(15));
    let counts: Vec<u32> = [B, C, D]
        .iter()
        .map(|&p| a.record(M, p).unwrap().send_count)
        .collect();
    assert_eq!(counts, [4, 4, 4]);
}

#[test]
fn with_jitter_each_record_keeps_an_entry_of_its_own() {
    // Doubling with jitter: every send draws its own time, so records sent together fall apart
    // at once and never share an entry, from the append on.
    let mut a = node(A, doubling(2, 5));
    append(&mut a, 0, M);
    assert_eq!(a.due.len(), 2);
    assert_eq!(
        step(&mut a, 0),
        [send(B, Item::Message(M)), send(C, Item::Message(M))]
    );
    assert_eq!(a.due.len(), 2);
    // Each record is sent at its own drawn time, in 2..=6, and only then.
    for p in [B, C] {
        let t = a.record(M, p).unwrap().send_time;
        assert!((2..=6).contains(&t), "{p:?} due at {t}");
    }
    for now in 1..=6 {
        let due: Vec<NodeId> = [B, C]
            .into_iter()
            .filter(|&p| a.record(M, p).unwrap().send_time == now)
            .collect();
        let sent: Vec<NodeId> = step(&mut a, now)
            .into_iter()
            .map(|o| match o {
                Output::Send { to, .. } => to,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent, due, "tick {now}");
    }
    assert_eq!(a.record(M, B).unwrap().send_count, 2);
    assert_eq!(a.record(M, C).unwrap().send_count, 2);
}

#[test]
fn a_step_says_it_had_work_exactly_when_polling_would_have() {
    // Tick by tick: whether the step worked is whether `poll_timeout` answered `now` or earlier
    // just before it (calendar entries, owed ACKs and ephemerals alike).
    let mut a = node(A, acks_at_step());
    let cat = catalog();
    let mut worked = Vec::new();
    for now in 0..12 {
        match now {
            1 => append(&mut a, now, M),
            // B's ACK stops B's record; a message from C owes C an ACK at the next step.
            4 => {
                receive(&mut a, now, B, Item::Ack(M));
                receive(&mut a, now, C, Item::Message(M1));
            }
            5 => {
                receive(&mut a, now, C, Item::Ack(M));
            }
            8 => append(&mut a, now, M2),
            _ => {}
        }
        let expected = a.poll_timeout().is_some_and(|t| t <= now);
        // Raised to any tick, the poll is the same with or without searching the calendar
        // (owed work answers at once).
        for not_before in [now.saturating_sub(1), now, now + 1, now + 5] {
            let mut b = a.clone();
            assert_eq!(
                b.poll_timeout_from(not_before),
                a.clone().poll_timeout().map(|t| t.max(not_before)),
                "tick {now}, from {not_before}"
            );
        }
        let mut out = Vec::new();
        let did = a.step(now, &cat, &mut out);
        assert_eq!(did, expected, "tick {now}");
        if !did {
            assert!(
                out.is_empty(),
                "tick {now}: a step without work sends nothing"
            );
        }
        worked.push(did);
    }
    // Sent at 1 and 3 (fixed backoff 2), the owed ACK at 4, the ephemeral at 8; B and C acked
    // by then, so nothing at 5 or after but the ephemeral.
    let expected: Vec<bool> = (0..12).map(|t| [1, 3, 4, 8].contains(&t)).collect();
    assert_eq!(worked, expected);
}

#[test]
fn wake_from_is_a_lower_bound_that_a_step_without_work_moves_on() {
    // Tick by tick, with the fixed backoff of 2: `wake_from` never answers after
    // `poll_timeout_from`, answers the same while the first entries are live, and answers the
    // tick of an entry an ACK made dead; a step there finds no work and the next answer is later.
    let mut a = node(A, acks_at_step());
    append(&mut a, 1, M);
    assert_eq!(a.wake_from(0), Some(1));
    assert_eq!(a.wake_from(2), Some(2), "raised to not_before");
    assert_eq!(
        step(&mut a, 1),
        [send(B, Item::Message(M)), send(C, Item::Message(M))]
    );
    assert_eq!(a.wake_from(2), Some(3));
    // Both ACKs arrive at tick 2: the entry at 3 is dead. Polling reads the records and finds
    // nothing; the lower bound is still 3, and the floor of O(1) callers with it.
    receive(&mut a, 2, B, Item::Ack(M));
    receive(&mut a, 2, C, Item::Ack(M));
    assert_eq!(a.clone().poll_timeout_from(2), None);
    assert_eq!(a.wake_from(2), Some(3));
    assert_eq!(a.timeout_floor(), Some(3));
    let mut out = Vec::new();
    assert!(!a.step(3, &catalog(), &mut out), "woken early: no work");
    assert!(out.is_empty());
    assert_eq!(a.wake_from(3), None, "the dead entry went with the step");
    assert_eq!(a.timeout_floor(), None);
    // Work owed since a tick (an ACK for C's message) answers at once, without the calendar.
    receive(&mut a, 4, C, Item::Message(M1));
    assert_eq!(a.wake_from(4), Some(4));
    assert_eq!(a.wake_from(6), Some(6));
    for now in 5..12 {
        let exact = a.clone().poll_timeout_from(now);
        let early = a.wake_from(now);
        if let Some(e) = exact {
            assert!(
                early.is_some_and(|t| t <= e),
                "tick {now}: {early:?} against {e}"
            );
        }
        step(&mut a, now);
    }
}

#[test]
fn an_offered_list_of_capacity_zero_drops_every_offer_and_makes_no_work() {
    let mut b = node(
        B,
        SyncConfig {
            offered_cap: 0,
            ..SyncConfig::default()
        },
    );
    receive(&mut b, 0, A, Item::Offer(M));
    receive(&mut b, 0, A, Item::Offer(M1));
    assert_eq!(b.offered(A), []);
    assert_eq!(b.stats().offers_dropped, 2);
    assert_eq!(b.poll_timeout(), None);
    let mut out = Vec::new();
    assert!(!b.step(1, &catalog(), &mut out));
    assert_eq!(out, []);
}

#[test]
fn each_backoff_policy_drives_the_resend_schedule() {
    for (backoff, expected) in [
        (Backoff::Fixed { interval: 3 }, vec![0, 3, 6, 9, 12]),
        (Backoff::Linear { step: 2 }, vec![0, 2, 6, 12]),
        (
            Backoff::Exponential {
                base: 1,
                factor: 2.0,
                max: 4,
                jitter: 0,
            },
            vec![0, 1, 3, 7, 11],
        ),
        (Backoff::Accumulating, vec![0, 2, 8]),
    ] {
        let mut a = node(
            A,
            SyncConfig {
                backoff: backoff.clone(),
                ..seed_config()
            },
        );
        a.set_sharing(0, G, vec![B]);
        append(&mut a, 0, M);
        let mut sends = vec![];
        for t in 0..=12 {
            if !step(&mut a, t).is_empty() {
                sends.push(t);
            }
        }
        assert_eq!(sends, expected, "{backoff:?}");
    }
}

#[test]
fn a_late_step_sends_what_is_overdue_once() {
    let mut a = node(A, seed_config());
    append(&mut a, 1, M);
    assert_eq!(
        step(&mut a, 10),
        [send(B, Item::Message(M)), send(C, Item::Message(M))]
    );
    assert_eq!(a.record(M, B).unwrap().send_time, 12);
    assert_eq!(step(&mut a, 11), []);
}

// ---- receiving messages ----

#[test]
fn receiving_delivers_holds_and_acks_immediately_in_the_seed_model() {
    let mut c = node(C, seed_config());
    let out = receive(&mut c, 3, A, Item::Message(M));
    assert_eq!(
        out,
        [Output::Deliver { msg: M, from: A }, send(A, Item::Ack(M))]
    );
    let r = c.record(M, A).unwrap();
    assert_eq!(
        (r.hold(), r.ack(), r.send_count, r.send_time),
        (true, false, 0, 0)
    );
    assert_eq!(c.record(M, B), None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn ack_waits_for_the_next_step_in_batch_mode() {
    let mut c = node(C, SyncConfig::default());
    let out = receive(&mut c, 3, A, Item::Message(M));
    assert_eq!(out, [Output::Deliver { msg: M, from: A }]);
    assert!(c.record(M, A).unwrap().ack());
    assert_eq!(c.poll_timeout(), Some(3));
    // Step 1 acks first, then step 5 forwards to B (store-and-forward is on by default).
    assert_eq!(
        step(&mut c, 3),
        [send(A, Item::Ack(M)), send(B, Item::Message(M))]
    );
    assert!(!c.record(M, A).unwrap().ack());
    assert_eq!(step(&mut c, 4), []);
}

#[test]
fn duplicate_message_is_acked_again_and_counted() {
    let mut c = node(C, seed_config());
    receive(&mut c, 3, A, Item::Message(M));
    let out = receive(&mut c, 5, A, Item::Message(M));
    assert_eq!(out, [send(A, Item::Ack(M))]);
    assert_eq!(c.stats().duplicates, 1);
}

#[test]
fn store_and_forward_creates_records_for_the_other_sharing_peers() {
    let mut c = node(C, SyncConfig::default());
    receive(&mut c, 3, A, Item::Message(M));
    let to_b = c.record(M, B).unwrap();
    assert_eq!(
        (to_b.hold(), to_b.send_time, to_b.send_count),
        (false, 3, 0)
    );
    receive(&mut c, 3, B, Item::Message(M));
    assert!(c.record(M, B).unwrap().hold());
    assert_eq!(
        step(&mut c, 3),
        [send(A, Item::Ack(M)), send(B, Item::Ack(M))]
    );
}

#[test]
fn message_from_a_peer_that_does_not_share_the_group_is_refused() {
    let mut c = SyncNode::new(seed_config(), stream(1, "x"));
    c.set_sharing(0, G, vec![A]);
    assert_eq!(receive(&mut c, 2, B, Item::Message(M)), []);
    assert!(!c.holds(M));
    assert_eq!(c.stats().refused, 1);
}

#[test]
fn hold_is_never_sent_to_and_unknown_acks_are_counted() {
    let mut a = node(A, seed_config());
    append(&mut a, 1, M);
    receive(&mut a, 1, B, Item::Ack(M));
    assert_eq!(step(&mut a, 1), [send(C, Item::Message(M))]);
    receive(&mut a, 1, B, Item::Ack(M1));
    assert_eq!(a.stats().unexpected_acks, 1);
}

#[test]
fn ephemeral_is_sent_once_delivered_and_never_acked_stored_or_forwarded() {
    let mut a = node(A, SyncConfig::default());
    append(&mut a, 0, M2);
    assert!(!a.holds(M2));
    assert_eq!(
        step(&mut a, 0),
        [send(B, Item::Message(M2)), send(C, Item::Message(M2))]
    );
    assert_eq!(a.poll_timeout(), None, "no retransmission");
    let mut b = node(B, SyncConfig::default());
    assert_eq!(
        receive(&mut b, 1, A, Item::Message(M2)),
        [Output::Deliver { msg: M2, from: A }]
    );
    assert!(!b.holds(M2));
    assert_eq!(b.poll_timeout(), None, "no ack, no forwarding");
}

// ---- requests and offers ----

#[test]
fn a_request_makes_the_message_due_at_once() {
    let mut a = node(A, SyncConfig::default());
    append(&mut a, 0, M);
    step(&mut a, 0);
    assert_eq!(a.record(M, B).unwrap().send_time, 2);
    receive(&mut a, 1, B, Item::Request(M));
    let r = a.record(M, B).unwrap();
    assert!(r.request());
    assert_eq!(r.send_time, 1);
    assert_eq!(step(&mut a, 1), [send(B, Item::Message(M))]);
    let r = a.record(M, B).unwrap();
    assert!(!r.request());
    assert_eq!((r.send_count, r.send_time), (2, 3));
}

#[test]
fn a_request_for_a_message_not_held_is_not_served() {
    let mut a = node(A, SyncConfig::default());
    assert_eq!(receive(&mut a, 1, B, Item::Request(M)), []);
    assert_eq!(a.stats().unserved_requests, 1);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn interactive_mode_offers_then_sends_on_request() {
    let mut a = node(A, interactive());
    a.set_sharing(0, G, vec![B]);
    append(&mut a, 0, M);
    assert_eq!(step(&mut a, 0), [send(B, Item::Offer(M))]);
    assert_eq!(a.record(M, B).unwrap().send_count, 1);
    // B (interactive too) receives the offer, requests at its step.
    let mut b = node(B, interactive());
    b.set_sharing(0, G, vec![A]);
    assert_eq!(receive(&mut b, 1, A, Item::Offer(M)), []);
    assert_eq!(b.offered(A), [M]);
    assert_eq!(step(&mut b, 1), [send(A, Item::Request(M))]);
    assert_eq!(b.request_record(M, A).unwrap().send_count, 1);
    // A sends the message at once.
    receive(&mut a, 2, B, Item::Request(M));
    assert_eq!(step(&mut a, 2), [send(B, Item::Message(M))]);
    // B stores it (the offerer holds it), acks at its step.
    assert_eq!(
        receive(&mut b, 3, A, Item::Message(M)),
        [Output::Deliver { msg: M, from: A }]
    );
    assert!(b.request_record(M, A).is_none());
    assert_eq!(step(&mut b, 3), [send(A, Item::Ack(M))]);
    receive(&mut a, 4, B, Item::Ack(M));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn an_offer_of_a_held_message_is_acked_at_the_next_step() {
    let mut b = node(B, SyncConfig::default());
    append(&mut b, 0, M);
    receive(&mut b, 0, A, Item::Offer(M));
    assert!(b.record(M, A).unwrap().hold(), "the offerer holds it");
    let out = step(&mut b, 0);
    assert_eq!(out, [send(A, Item::Ack(M)), send(C, Item::Message(M))]);
}

#[test]
fn requests_are_retransmitted_on_their_backoff_by_default() {
    let mut b = node(B, SyncConfig::default());
    receive(&mut b, 0, A, Item::Offer(M));
    assert_eq!(step(&mut b, 0), [send(A, Item::Request(M))]);
    assert_eq!(b.poll_timeout(), Some(2));
    assert_eq!(step(&mut b, 1), []);
    assert_eq!(step(&mut b, 2), [send(A, Item::Request(M))]);
    // A second offer does not add a request: the record is on its backoff.
    receive(&mut b, 3, A, Item::Offer(M));
    assert_eq!(step(&mut b, 3), []);
    assert_eq!(step(&mut b, 4), [send(A, Item::Request(M))]);
    assert_eq!(b.request_record(M, A).unwrap().send_count, 3);
}

#[test]
fn without_request_retransmit_a_node_requests_once_per_offer() {
    let mut b = node(
        B,
        SyncConfig {
            request_retransmit: false,
            ..SyncConfig::default()
        },
    );
    receive(&mut b, 0, A, Item::Offer(M));
    assert_eq!(step(&mut b, 0), [send(A, Item::Request(M))]);
    assert_eq!(b.poll_timeout(), None, "no retransmission");
    assert_eq!(step(&mut b, 5), []);
    receive(&mut b, 6, A, Item::Offer(M));
    assert_eq!(step(&mut b, 6), [send(A, Item::Request(M))]);
    assert_eq!(b.request_record(M, A).unwrap().send_count, 2);
}

#[test]
fn the_offered_list_drops_its_oldest_entry_when_full() {
    let mut b = node(
        B,
        SyncConfig {
            offered_cap: 2,
            ..SyncConfig::default()
        },
    );
    for m in [M, M1, M2] {
        receive(&mut b, 0, A, Item::Offer(m));
    }
    assert_eq!(b.offered(A), [M1, M2]);
    assert_eq!(b.stats().offers_dropped, 1);
    // The same id offered twice is listed once.
    receive(&mut b, 0, A, Item::Offer(M2));
    assert_eq!(b.offered(A), [M1, M2]);
}

#[test]
fn a_message_from_one_peer_is_not_sent_to_a_peer_that_offered_it() {
    let mut b = node(B, SyncConfig::default());
    receive(&mut b, 0, C, Item::Offer(M));
    receive(&mut b, 0, A, Item::Message(M));
    assert!(b.record(M, C).unwrap().hold());
    assert_eq!(
        step(&mut b, 0),
        [send(A, Item::Ack(M)), send(C, Item::Ack(M))]
    );
}

// ---- receive order and packing ----

#[test]
fn a_payload_is_processed_acks_requests_offers_messages() {
    // The message arrives last in the payload's order even if listed first, so the offer of the
    // same id is processed while the node does not hold it yet: it is requested... unless the
    // message came first. Listed out of order, the node must still process the offer first.
    let mut b = node(B, SyncConfig::default());
    let payload = Packet::Payload(Vec::from([Item::Message(M), Item::Offer(M)]));
    let out = receive_packet(&mut b, 0, A, payload);
    assert_eq!(out, [Output::Deliver { msg: M, from: A }]);
    // Offer first (not held: remembered), then the message (stored): at the step the offer is
    // now of a held message and is acked, together with the message's own ack, once each.
    assert_eq!(
        step(&mut b, 0),
        [send(A, Item::Ack(M)), send(C, Item::Message(M))]
    );
    // And an ack listed after a request is still processed first.
    let mut a = node(A, SyncConfig::default());
    append(&mut a, 0, M);
    step(&mut a, 0);
    receive_packet(
        &mut a,
        1,
        B,
        Packet::Payload(Vec::from([Item::Request(M), Item::Ack(M)])),
    );
    let r = a.record(M, B).unwrap();
    assert!(r.hold() && r.request());
    assert_eq!(
        step(&mut a, 1),
        [send(B, Item::Message(M))],
        "requested messages are sent even if held"
    );
}

#[test]
fn payload_packing_sends_one_packet_per_peer_per_step() {
    let mut b = node(
        B,
        SyncConfig {
            packing: Packing::Payload,
            ..SyncConfig::default()
        },
    );
    append(&mut b, 0, M1);
    receive(&mut b, 0, A, Item::Message(M));
    receive(&mut b, 0, A, Item::Offer(M2));
    let out = step(&mut b, 0);
    assert_eq!(
        out,
        [
            Output::Send {
                to: A,
                packet: Packet::Payload(Vec::from([
                    Item::Ack(M),
                    Item::Request(M2),
                    Item::Message(M1)
                ])),
            },
            Output::Send {
                to: C,
                packet: Packet::Payload(Vec::from([Item::Message(M), Item::Message(M1)])),
            },
        ]
    );
}

/// In interactive mode a step can give one peer a requested message before an offer (step 4
/// before step 5): the payload still carries them in receive order (offers before messages),
/// and payloads leave in peer order even when the step first gave an item to a later peer.
#[test]
fn interactive_payloads_carry_items_in_receive_order_and_leave_in_peer_order() {
    let mut b = node(
        B,
        SyncConfig {
            packing: Packing::Payload,
            ..interactive()
        },
    );
    append(&mut b, 0, M);
    append(&mut b, 0, M1);
    // Tick 0 offers both messages to A and C; fixed backoff makes them due again at 2.
    let first = step(&mut b, 0);
    assert_eq!(first.len(), 2);
    // At 2, before the step: A requests M, and C sends M1 again (B owes C an ACK, which the
    // step gives first, so C's payload is opened before A's).
    receive(&mut b, 2, A, Item::Request(M));
    receive(&mut b, 2, C, Item::Message(M1));
    let out = step(&mut b, 2);
    assert_eq!(
        out,
        [
            Output::Send {
                to: A,
                packet: Packet::Payload(Vec::from([Item::Offer(M1), Item::Message(M)])),
            },
            Output::Send {
                to: C,
                packet: Packet::Payload(Vec::from([Item::Ack(M1), Item::Offer(M)])),
            },
        ]
    );
}

// ---- consistent delivery ----

#[test]
fn consistent_delivery_waits_for_parents_and_requests_them() {
    let mut c = node(
        C,
        SyncConfig {
            delivery: Delivery::Consistent,
            ..SyncConfig::default()
        },
    );
    // The child arrives first: stored and acked, not delivered; the parent is requested.
    assert_eq!(receive(&mut c, 1, B, Item::Message(M1)), []);
    assert!(c.holds(M1) && !c.delivered(M1));
    assert_eq!(c.request_record(M, B).unwrap().send_time, 1);
    let out = step(&mut c, 1);
    assert_eq!(out[0], send(B, Item::Ack(M1)));
    assert_eq!(out[1], send(B, Item::Request(M)));
    // The parent arrives: both are delivered, parent first.
    let out = receive(&mut c, 2, B, Item::Message(M));
    assert_eq!(
        out,
        [
            Output::Deliver { msg: M, from: B },
            Output::Deliver { msg: M1, from: B }
        ]
    );
    assert!(c.delivered(M1));
    assert!(c.request_record(M, B).is_none());
}

#[test]
fn eventual_delivery_does_not_wait_for_parents() {
    let mut c = node(C, SyncConfig::default());
    assert_eq!(
        receive(&mut c, 1, B, Item::Message(M1)),
        [Output::Deliver { msg: M1, from: B }]
    );
    assert!(c.request_record(M, B).is_none());
}

// ---- sharing changes and contact ----

#[test]
fn a_peer_joining_gets_records_for_held_messages_and_a_leaver_loses_them() {
    let mut a = node(A, SyncConfig::default());
    a.set_sharing(0, G, vec![B]);
    append(&mut a, 0, M);
    assert!(a.record(M, C).is_none());
    a.set_sharing(5, G, vec![B, C]);
    let r = a.record(M, C).unwrap();
    assert_eq!((r.hold(), r.send_time, r.send_count), (false, 5, 0));
    a.set_sharing(6, G, vec![C]);
    assert!(a.record(M, B).is_none());
    assert_eq!(step(&mut a, 6), [send(C, Item::Message(M))]);
}

#[test]
fn reset_on_contact_pulls_due_times_back_after_silence() {
    let config = SyncConfig {
        backoff: Backoff::Exponential {
            base: 10,
            factor: 2.0,
            max: 1000,
            jitter: 0,
        },
        reset_on_contact: Some(5),
        ..SyncConfig::default()
    };
    let mut a = node(A, config);
    a.set_sharing(0, G, vec![B]);
    append(&mut a, 0, M);
    step(&mut a, 0);
    step(&mut a, 10);
    assert_eq!(a.record(M, B).unwrap().send_time, 30);
    // B is heard from at 12 (first contact: counts as after silence): due at once.
    receive(&mut a, 12, B, Item::Ack(M1));
    assert_eq!(a.record(M, B).unwrap().send_time, 12);
    assert_eq!(a.stats().contact_resets, 1);
    step(&mut a, 12);
    let later = a.record(M, B).unwrap().send_time;
    assert_eq!(later, 12 + 40);
    // Heard again 3 ticks later: not silent long enough, nothing moves.
    receive(&mut a, 15, B, Item::Ack(M1));
    assert_eq!(a.record(M, B).unwrap().send_time, later);
    // Heard after 10 silent ticks: pulled back again.
    receive(&mut a, 25, B, Item::Ack(M1));
    assert_eq!(a.record(M, B).unwrap().send_time, 25);
}

#[test]
fn table_lists_messages_in_the_order_the_node_got_them() {
    let mut a = node(A, seed_config());
    append(&mut a, 1, M1);
    receive(&mut a, 2, B, Item::Message(M));
    let order: Vec<MsgRef> = a.table().map(|(m, _, _)| m).collect();
    assert_eq!(order, [M1, M]);
}

// ---- arbitrary input sequences (proptest) ----

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Append(u32),
        Receive(u32, Vec<(u8, u32)>),
        Step(u64),
        Share(Vec<bool>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..3).prop_map(Op::Append),
            (0u32..4, prop::collection::vec((0u8..4, 0u32..3), 1..5))
                .prop_map(|(p, items)| Op::Receive(p, items)),
            (0u64..6).prop_map(Op::Step),
            prop::collection::vec(prop::bool::ANY, 4).prop_map(Op::Share),
        ]
    }

    fn config() -> impl Strategy<Value = SyncConfig> {
        (
            prop::bool::ANY,
            prop::bool::ANY,
            prop::bool::ANY,
            prop::bool::ANY,
            0u8..3,
            prop::bool::ANY,
        )
            .prop_map(
                |(interactive, payload, immediate, forwarding, backoff, reset)| SyncConfig {
                    mode: if interactive {
                        Mode::Interactive
                    } else {
                        Mode::Batch
                    },
                    packing: if payload {
                        Packing::Payload
                    } else {
                        Packing::Record
                    },
                    ack: if immediate {
                        AckTiming::Immediate
                    } else {
                        AckTiming::Step
                    },
                    forwarding,
                    // Records of one message in step (fixed), apart after different send counts
                    // (doubling, when a peer joins later) and apart at every send (jitter).
                    backoff: match backoff {
                        0 => Backoff::Fixed { interval: 2 },
                        1 => Backoff::Exponential {
                            base: 1,
                            factor: 2.0,
                            max: 8,
                            jitter: 0,
                        },
                        _ => Backoff::Exponential {
                            base: 1,
                            factor: 2.0,
                            max: 8,
                            jitter: 3,
                        },
                    },
                    reset_on_contact: reset.then_some(3),
                    ..SyncConfig::default()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        /// Any sequence of appends, packets (from sharing peers or strangers, any items, any
        /// order), steps and sharing changes: no panic; sends go only to peers sharing the
        /// group; a message is never sent to a peer known to hold it unless it asked; a step
        /// sends (or offers) exactly the records due by then, each once (what the due calendar,
        /// its lazily deleted entries and its entries for a whole message must add up to);
        /// records exist only for current sharing peers.
        #[test]
        fn the_state_machine_keeps_its_invariants(config in config(), ops in prop::collection::vec(op(), 1..60)) {
            let mut n = node(A, config);
            let cat = catalog();
            let mut now = 0;
            let mut out = Vec::new();
            for op in ops {
                out.clear();
                match op {
                    Op::Append(m) => {
                        if !n.holds(MsgRef(m)) {
                            n.append(now, MsgRef(m), &cat);
                        }
                    }
                    Op::Receive(p, items) => {
                        let items: Vec<Item> = items
                            .into_iter()
                            .map(|(k, m)| match k {
                                0 => Item::Ack(MsgRef(m)),
                                1 => Item::Offer(MsgRef(m)),
                                2 => Item::Request(MsgRef(m)),
                                _ => Item::Message(MsgRef(m)),
                            })
                            .collect();
                        let packet = if items.len() == 1 {
                            Packet::Record(items[0])
                        } else {
                            Packet::Payload(items)
                        };
                        n.handle_packet(now, NodeId(p + 1), &packet, &cat, &mut out);
                    }
                    Op::Step(dt) => {
                        now += dt;
                        // What the node knew before the step: who holds what, who asked.
                        let before: Vec<(MsgRef, NodeId, bool)> = n
                            .table()
                            .flat_map(|(m, _, rs)| {
                                rs.iter().map(move |r| (m, r.peer(), r.hold() && !r.request()))
                            })
                            .collect();
                        // The records due: not known to hold the message (or asking for it),
                        // send time come, and not offered by their peer at the step (which then
                        // learns it holds the message) unless asking.
                        let mut due: Vec<(MsgRef, NodeId)> = n
                            .table()
                            .flat_map(|(m, _, rs)| rs.iter().map(move |r| (m, r)))
                            .filter(|(m, r)| {
                                r.send_time <= now
                                    && (r.request()
                                        || (!r.hold() && !n.offered(r.peer()).contains(m)))
                            })
                            .map(|(m, r)| (m, r.peer()))
                            .collect();
                        due.sort();
                        n.step(now, &cat, &mut out);
                        let mut sent: Vec<(MsgRef, NodeId)> = out
                            .iter()
                            .flat_map(|o| match o {
                                Output::Send { to, packet } => packet
                                    .items()
                                    .iter()
                                    .filter_map(|i| match *i {
                                        Item::Message(m) | Item::Offer(m)
                                            if !cat[m.idx()].ephemeral => Some((m, *to)),
                                        _ => None,
                                    })
                                    .collect(),
                                _ => Vec::new(),
                            })
                            .collect();
                        sent.sort();
                        prop_assert_eq!(&sent, &due, "the step at {} sent other records than were due", now);
                        for o in &out {
                            if let Output::Send { to, packet } = o {
                                for item in packet.items() {
                                    if let Item::Message(m) = item {
                                        let held = before.iter().any(|&(bm, bp, h)| bm == *m && bp == *to && h);
                                        prop_assert!(!held, "sent {:?} to {:?}, which holds it and did not ask", m, to);
                                    }
                                }
                            }
                        }
                    }
                    Op::Share(who) => {
                        let peers: Vec<NodeId> = (1..=3u32)
                            .filter(|&p| who[p as usize])
                            .map(NodeId)
                            .collect();
                        n.set_sharing(now, G, peers);
                    }
                }
                let sharing = n.sharing(G).to_vec();
                for o in &out {
                    if let Output::Send { to, .. } = o {
                        prop_assert!(sharing.contains(to), "sent to {:?}, sharing {:?}", to, sharing);
                    }
                }
                for (m, g, records) in n.table() {
                    prop_assert_eq!(g, G);
                    for r in records {
                        prop_assert!(sharing.contains(&r.peer()), "{:?} has a record for {:?}, sharing {:?}", m, r.peer(), sharing);
                    }
                }
            }
        }
    }
}

#[test]
fn a_record_is_16_bytes_and_its_peer_and_flags_do_not_touch_each_other() {
    assert_eq!(std::mem::size_of::<Record>(), 16);
    let top = NodeId(MAX_NODES - 1);
    for peer in [NodeId(0), B, top] {
        let mut r = Record::new(peer, 42);
        assert_eq!(
            (r.peer(), r.hold(), r.ack(), r.request()),
            (peer, false, false, false)
        );
        // Every combination of flags, set and cleared one at a time, leaves the peer alone.
        for bits in 0..8u8 {
            r.set_hold(bits & 1 != 0);
            r.set_ack(bits & 2 != 0);
            r.set_request(bits & 4 != 0);
            assert_eq!(
                (r.peer(), r.hold(), r.ack(), r.request()),
                (peer, bits & 1 != 0, bits & 2 != 0, bits & 4 != 0),
                "{peer:?} {bits:03b}"
            );
        }
        // A new peer keeps the flags (all three set by the last round).
        r.set_peer(C);
        assert_eq!(
            (r.peer(), r.hold(), r.ack(), r.request()),
            (C, true, true, true)
        );
        assert_eq!((r.send_count, r.send_time), (0, 42));
    }
}

#[test]
fn a_held_message_is_32_bytes_and_its_group_and_delivered_flag_do_not_touch_each_other() {
    assert_eq!(std::mem::size_of::<Held>(), 32);
    for group in [GroupId(0), GroupId(7), GroupId(MAX_GROUPS - 1)] {
        for delivered in [false, true] {
            let mut h = Held::new(M1, group, delivered, Records::Many(Vec::new()));
            assert_eq!((h.msg, h.group(), h.delivered()), (M1, group, delivered));
            h.set_delivered();
            assert_eq!((h.group(), h.delivered()), (group, true));
        }
    }
}

#[test]
#[should_panic(expected = "below 2^29")]
fn a_record_refuses_a_peer_id_its_flags_would_overwrite() {
    Record::new(NodeId(MAX_NODES), 0);
}

#[test]
fn records_kept_inline_grow_into_a_vector_and_back_in_peer_order() {
    let peers = |r: &Records| r.iter().map(|r| r.peer()).collect::<Vec<_>>();
    let mut r = Records::from_vec(vec![Record::new(B, 0)]);
    assert!(matches!(r, Records::One(_)));
    assert_eq!(r.heap_bytes(), 0);
    r[0].send_count = 3; // the inline record is the one reached through the slice
    r.insert(0, Record::new(A, 5));
    r.insert(2, Record::new(C, 7));
    assert!(matches!(r, Records::Many(_)));
    assert_eq!(peers(&r), vec![A, B, C]);
    assert_eq!(r[1].send_count, 3);
    assert!(r.heap_bytes() >= 3 * std::mem::size_of::<Record>());
    r.retain(|x| x.peer() == C);
    assert!(matches!(r, Records::One(_)));
    assert_eq!(r[0].send_time, 7);
    r.retain(|_| false);
    assert!(r.is_empty());
    r.insert(0, Record::new(B, 9));
    assert!(matches!(r, Records::One(_)));
    assert_eq!(r.into_vec(), vec![Record::new(B, 9)]);
}

#[test]
fn a_message_received_without_forwarding_holds_one_record_and_no_record_allocation() {
    let config = SyncConfig {
        forwarding: false,
        ..SyncConfig::default()
    };
    let mut b = node(B, config);
    let mut out = Vec::new();
    b.handle_packet(
        3,
        A,
        &Packet::Record(Item::Message(M)),
        &catalog(),
        &mut out,
    );
    let (_, _, records) = b.table().next().expect("held");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].peer(), A);
    assert!(records[0].hold());
    assert!(matches!(
        b.messages.get_index(0).unwrap().1.records,
        Records::One(_)
    ));
    // A request from C (which has no record) adds one: the records become a vector, by peer.
    b.handle_packet(
        4,
        C,
        &Packet::Record(Item::Request(M)),
        &catalog(),
        &mut out,
    );
    let (_, _, records) = b.table().next().expect("held");
    assert_eq!(
        records.iter().map(|r| r.peer()).collect::<Vec<_>>(),
        vec![A, C]
    );
    assert!(records[1].request());
}

#[test]
fn due_entries_whose_record_moved_are_still_found() {
    // D holds M with records for B and C (positions 0 and 1), both due at tick 0. A joins the
    // group: its record goes first, so the queued entries' position hints now name other
    // peers. The step at tick 0 still sends M to all three.
    let d = NodeId(3); // the node under test
    let mut n = SyncNode::new(seed_config(), stream(1, "node/test/protocol"));
    n.set_sharing(0, G, vec![B, C]);
    n.append(0, M, &catalog());
    n.set_sharing(0, G, vec![A, B, C]);
    let peers: Vec<NodeId> = n
        .table()
        .next()
        .expect("held")
        .2
        .iter()
        .map(|r| r.peer())
        .collect();
    assert_eq!(peers, vec![A, B, C]);
    let mut out = Vec::new();
    n.step(0, &catalog(), &mut out);
    let mut sent: Vec<NodeId> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                packet: Packet::Record(Item::Message(m)),
            } if *m == M => Some(*to),
            _ => None,
        })
        .collect();
    sent.sort();
    assert_eq!(sent, vec![A, B, C], "sender {d:?}");
    for p in [A, B, C] {
        assert_eq!(n.record(M, p).expect("record").send_count, 1);
    }
}

#[test]
fn an_owed_ack_whose_record_moved_still_goes_to_its_peer() {
    // Without forwarding C holds one record for M, B's (position 0), and owes B an ACK. A's
    // request then inserts A's record before it, so the position the ACK remembered names A.
    // The step still ACKs B (only B), and serves A's request.
    let mut c = node(
        C,
        SyncConfig {
            forwarding: false,
            ..SyncConfig::default()
        },
    );
    assert_eq!(
        receive(&mut c, 3, B, Item::Message(M)),
        [Output::Deliver { msg: M, from: B }]
    );
    assert!(c.record(M, B).unwrap().ack());
    assert_eq!(receive(&mut c, 3, A, Item::Request(M)), []);
    let peers: Vec<NodeId> = c
        .table()
        .next()
        .expect("held")
        .2
        .iter()
        .map(|r| r.peer())
        .collect();
    assert_eq!(peers, [A, B]);
    assert_eq!(
        step(&mut c, 3),
        [send(B, Item::Ack(M)), send(A, Item::Message(M))]
    );
    assert!(!c.record(M, B).unwrap().ack());
    assert!(!c.record(M, A).unwrap().ack());
    assert_eq!(step(&mut c, 4), []);
}
