//! Tick-by-tick tests of the sync state machine.

use super::*;

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);
const C: NodeId = NodeId(2);
const G: GroupId = GroupId(0);
const M: MsgRef = MsgRef(0);

fn node(me: NodeId, config: SyncConfig) -> SyncNode {
    let mut n = SyncNode::new(config);
    let peers = [A, B, C].into_iter().filter(|&p| p != me).collect();
    n.set_sharing(G, peers);
    n
}

fn seed_config() -> SyncConfig {
    SyncConfig {
        ack: AckTiming::Immediate,
        forwarding: false,
        ..SyncConfig::default()
    }
}

fn msg_to(to: NodeId, msg: MsgRef) -> Output {
    Output::Send {
        to,
        packet: Packet::Record(Item::Message { msg, group: G }),
    }
}

fn ack_to(to: NodeId, msg: MsgRef) -> Output {
    Output::Send {
        to,
        packet: Packet::Record(Item::Ack(msg)),
    }
}

fn step(n: &mut SyncNode, now: Tick) -> Vec<Output> {
    let mut out = Vec::new();
    n.step(now, &mut out);
    out
}

fn receive(n: &mut SyncNode, now: Tick, from: NodeId, item: Item) -> Vec<Output> {
    let mut out = Vec::new();
    n.handle_packet(now, from, &Packet::Record(item), &mut out);
    out
}

#[test]
fn append_creates_due_records_for_every_sharing_peer() {
    let mut a = node(A, seed_config());
    a.append(1, M, G);
    assert!(a.holds(M));
    for p in [B, C] {
        let r = a.record(M, p).unwrap();
        assert_eq!((r.hold, r.ack, r.request), (false, false, false));
        assert_eq!((r.send_count, r.send_time), (0, 1));
    }
    assert_eq!(a.record(M, A), None);
    assert_eq!(a.poll_timeout(), Some(1));
}

#[test]
fn fixed_backoff_resends_every_interval_until_acked() {
    let mut a = node(A, seed_config());
    a.append(1, M, G);
    // Tick 1: sent to both peers; next send time 1 + 2.
    assert_eq!(step(&mut a, 1), [msg_to(B, M), msg_to(C, M)]);
    assert_eq!(a.record(M, B).unwrap().send_count, 1);
    assert_eq!(a.record(M, B).unwrap().send_time, 3);
    assert_eq!(a.poll_timeout(), Some(3));
    // Tick 2: nothing due.
    assert_eq!(step(&mut a, 2), []);
    // Tick 3: both again.
    assert_eq!(step(&mut a, 3), [msg_to(B, M), msg_to(C, M)]);
    assert_eq!(a.record(M, C).unwrap().send_count, 2);
    // Tick 4: C's ACK arrives; hold set, C's record stops.
    assert_eq!(receive(&mut a, 4, C, Item::Ack(M)), []);
    assert!(a.record(M, C).unwrap().hold);
    // Tick 5: only B.
    assert_eq!(step(&mut a, 5), [msg_to(B, M)]);
    assert_eq!(a.record(M, C).unwrap().send_count, 2);
    assert_eq!(a.record(M, B).unwrap().send_time, 7);
    // Tick 6: B's ACK; nothing is pending any more.
    receive(&mut a, 6, B, Item::Ack(M));
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(step(&mut a, 7), []);
    assert_eq!(a.record(M, B).unwrap().send_count, 3);
}

#[test]
fn a_late_step_sends_what_is_overdue_once() {
    let mut a = node(A, seed_config());
    a.append(1, M, G);
    // The node was not stepped for a while (offline): one send per peer, then back off.
    assert_eq!(step(&mut a, 10), [msg_to(B, M), msg_to(C, M)]);
    assert_eq!(a.record(M, B).unwrap().send_time, 12);
    assert_eq!(step(&mut a, 11), []);
}

#[test]
fn receiving_delivers_holds_and_acks_immediately_in_the_seed_model() {
    let mut c = node(C, seed_config());
    let out = receive(&mut c, 3, A, Item::Message { msg: M, group: G });
    assert_eq!(out, [Output::Deliver { msg: M, from: A }, ack_to(A, M)]);
    let r = c.record(M, A).unwrap();
    assert_eq!(
        (r.hold, r.ack, r.send_count, r.send_time),
        (true, false, 0, 0)
    );
    // No forwarding: no record for B, nothing to send.
    assert_eq!(c.record(M, B), None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn ack_waits_for_the_next_step_in_batch_mode() {
    let mut c = node(C, SyncConfig::default());
    let out = receive(&mut c, 3, A, Item::Message { msg: M, group: G });
    assert_eq!(out, [Output::Deliver { msg: M, from: A }]);
    assert!(c.record(M, A).unwrap().ack);
    assert_eq!(c.poll_timeout(), Some(3));
    // Step 1 acks first, then step 2 forwards to B (store-and-forward is on by default).
    assert_eq!(step(&mut c, 3), [ack_to(A, M), msg_to(B, M)]);
    assert!(!c.record(M, A).unwrap().ack);
    // The ack is not retransmitted.
    assert_eq!(step(&mut c, 4), []);
}

#[test]
fn duplicate_message_is_acked_again_and_counted() {
    let mut c = node(C, seed_config());
    receive(&mut c, 3, A, Item::Message { msg: M, group: G });
    let out = receive(&mut c, 5, A, Item::Message { msg: M, group: G });
    assert_eq!(out, [ack_to(A, M)]);
    assert_eq!(c.stats().duplicates, 1);
}

#[test]
fn store_and_forward_creates_records_for_the_other_sharing_peers() {
    let mut c = node(C, SyncConfig::default());
    receive(&mut c, 3, A, Item::Message { msg: M, group: G });
    let to_b = c.record(M, B).unwrap();
    assert_eq!((to_b.hold, to_b.send_time, to_b.send_count), (false, 3, 0));
    // B then sends it back to C: C marks hold for B and stops forwarding to it.
    receive(&mut c, 3, B, Item::Message { msg: M, group: G });
    assert!(c.record(M, B).unwrap().hold);
    assert_eq!(step(&mut c, 3), [ack_to(A, M), ack_to(B, M)]);
}

#[test]
fn message_from_a_peer_that_does_not_share_the_group_is_refused() {
    let mut c = SyncNode::new(seed_config());
    c.set_sharing(G, vec![A]);
    let out = receive(&mut c, 2, B, Item::Message { msg: M, group: G });
    assert_eq!(out, []);
    assert!(!c.holds(M));
    assert_eq!(c.stats().refused, 1);
    // And a message of a group it shares with nobody.
    let out = receive(
        &mut c,
        2,
        A,
        Item::Message {
            msg: M,
            group: GroupId(9),
        },
    );
    assert_eq!(out, []);
    assert_eq!(c.stats().refused, 2);
}

#[test]
fn hold_is_never_sent_to_and_unknown_acks_are_counted() {
    let mut a = node(A, seed_config());
    a.append(1, M, G);
    receive(&mut a, 1, B, Item::Ack(M));
    assert_eq!(step(&mut a, 1), [msg_to(C, M)]);
    receive(&mut a, 1, B, Item::Ack(MsgRef(5)));
    assert_eq!(a.stats().unexpected_acks, 1);
}

#[test]
fn table_lists_messages_in_the_order_the_node_got_them() {
    let mut a = node(A, seed_config());
    a.append(1, MsgRef(4), G);
    receive(
        &mut a,
        2,
        B,
        Item::Message {
            msg: MsgRef(1),
            group: G,
        },
    );
    let order: Vec<MsgRef> = a.table().map(|(m, _, _)| m).collect();
    assert_eq!(order, [MsgRef(4), MsgRef(1)]);
}
