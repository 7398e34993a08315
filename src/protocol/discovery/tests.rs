//! Discovery: the loop, RandomWalk's window and timeouts, the introduction flow, max_peers.

use super::strategy::StrategyConfig;
use super::*;
use crate::engine::rng::stream;

fn random_walk(target: i64) -> WalkerConfig {
    WalkerConfig {
        strategy: StrategyConfig::RandomWalk {
            timeout: 6,
            window_size: 5,
            reset_chance: 50,
        },
        target_peers: target,
    }
}

fn node(me: u32, walkers: Vec<WalkerConfig>, max_peers: usize) -> DiscoveryNode {
    let config = DiscoveryConfig {
        walk_interval: 1,
        max_peers,
        walkers,
        bootstrappers: vec![NodeId(99)],
        tracker: false,
    };
    DiscoveryNode::new(NodeId(me), config, stream(me as u64, "discovery"))
}

fn sends(out: &[DiscoveryOutput]) -> Vec<(u32, DiscoveryMessage)> {
    out.iter()
        .map(|DiscoveryOutput::Send { to, msg }| (to.0, *msg))
        .collect()
}

#[test]
fn a_node_knowing_nobody_asks_a_bootstrap_node() {
    let mut a = node(0, vec![random_walk(20)], 30);
    let mut out = vec![];
    a.walk(0, &mut out);
    assert_eq!(sends(&out), [(99, DiscoveryMessage::IntroductionRequest)]);
    assert_eq!(a.poll_timeout(), Some(1));
}

#[test]
fn the_introduction_flow_verifies_introduces_and_punctures() {
    // B knows C; A asks B.
    let mut b = node(1, vec![], 30);
    let mut out = vec![];
    b.handle_message(
        0,
        NodeId(2),
        DiscoveryMessage::IntroductionRequest,
        &mut out,
    );
    out.clear();
    b.handle_message(
        1,
        NodeId(0),
        DiscoveryMessage::IntroductionRequest,
        &mut out,
    );
    assert_eq!(b.verified(), [NodeId(0), NodeId(2)]);
    assert_eq!(
        sends(&out),
        [
            (
                0,
                DiscoveryMessage::IntroductionResponse {
                    introduced: Some(NodeId(2))
                }
            ),
            (2, DiscoveryMessage::PunctureRequest { target: NodeId(0) })
        ]
    );
    // C punctures A.
    let mut c = node(2, vec![], 30);
    let mut out = vec![];
    c.handle_message(
        2,
        NodeId(1),
        DiscoveryMessage::PunctureRequest { target: NodeId(0) },
        &mut out,
    );
    assert_eq!(sends(&out), [(0, DiscoveryMessage::Puncture)]);
    // A: B verified, C walkable.
    let mut a = node(0, vec![random_walk(20)], 30);
    let mut out = vec![];
    a.handle_message(
        2,
        NodeId(1),
        DiscoveryMessage::IntroductionResponse {
            introduced: Some(NodeId(2)),
        },
        &mut out,
    );
    assert_eq!(a.verified(), [NodeId(1)]);
    assert_eq!(a.walkable(), [NodeId(2)]);
}

#[test]
fn over_max_peers_a_node_stays_silent_to_strangers() {
    let mut b = node(1, vec![], 2);
    let mut out = vec![];
    for p in [10, 11] {
        b.handle_message(
            0,
            NodeId(p),
            DiscoveryMessage::IntroductionRequest,
            &mut out,
        );
    }
    out.clear();
    b.handle_message(
        1,
        NodeId(12),
        DiscoveryMessage::IntroductionRequest,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(b.stats().requests_ignored, 1);
    // A known peer still gets an answer.
    b.handle_message(
        1,
        NodeId(10),
        DiscoveryMessage::IntroductionRequest,
        &mut out,
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn strategies_run_in_order_and_stop_at_target_peers() {
    // Two walkers: the first stops at 1 verified peer, the second (-1) never stops.
    let mut a = node(0, vec![random_walk(1), random_walk(-1)], 30);
    let mut out = vec![];
    a.walk(0, &mut out);
    assert_eq!(out.len(), 2, "both called with no peers");
    a.handle_message(
        0,
        NodeId(1),
        DiscoveryMessage::IntroductionResponse { introduced: None },
        &mut out,
    );
    out.clear();
    a.walk(1, &mut out);
    assert_eq!(
        out.len(),
        1,
        "only the -1 walker once the target is reached"
    );
    assert_eq!(a.stats().reached_target, Some(0));
}

#[test]
fn random_walk_keeps_its_window_and_forgets_walkable_peers_that_never_answer() {
    let mut a = node(
        0,
        vec![WalkerConfig {
            strategy: StrategyConfig::RandomWalk {
                timeout: 3,
                window_size: 2,
                reset_chance: 0,
            },
            target_peers: -1,
        }],
        30,
    );
    let mut out = vec![];
    // Three walkable peers introduced by B.
    for c in [5, 6, 7] {
        a.handle_message(
            0,
            NodeId(1),
            DiscoveryMessage::IntroductionResponse {
                introduced: Some(NodeId(c)),
            },
            &mut out,
        );
    }
    out.clear();
    a.walk(0, &mut out);
    a.walk(1, &mut out);
    assert_eq!(out.len(), 2);
    a.walk(2, &mut out);
    assert_eq!(out.len(), 2, "window of 2 walks full: no third request");
    // At tick 3 the first walk (tick 0) times out: its walkable peer is forgotten.
    let first = match out[0] {
        DiscoveryOutput::Send { to, .. } => to,
    };
    a.walk(3, &mut out);
    assert!(!a.walkable().contains(&first));
    assert_eq!(out.len(), 3, "room in the window again");
}

#[test]
fn a_full_tracker_answers_anyone_and_keeps_the_freshest_peers() {
    let config = DiscoveryConfig {
        walk_interval: 1,
        max_peers: 30,
        walkers: vec![],
        bootstrappers: vec![],
        tracker: true,
    };
    let mut t = DiscoveryNode::new(NodeId(0), config, stream(1, "t"));
    let mut out = vec![];
    for p in 1..=(TRACKER_MAX_PEERS as u32) {
        t.handle_message(
            p as u64,
            NodeId(p),
            DiscoveryMessage::IntroductionRequest,
            &mut out,
        );
    }
    assert_eq!(t.verified().len(), TRACKER_MAX_PEERS);
    out.clear();
    t.handle_message(
        1000,
        NodeId(500),
        DiscoveryMessage::IntroductionRequest,
        &mut out,
    );
    assert!(!out.is_empty(), "answered");
    assert_eq!(t.verified().len(), TRACKER_MAX_PEERS);
    assert!(t.verified().contains(&NodeId(500)));
    assert!(
        !t.verified().contains(&NodeId(1)),
        "the stalest peer made room"
    );
    assert_eq!(t.poll_timeout(), None, "trackers do not walk");
}

#[test]
fn forget_loses_every_peer_but_keeps_counting_and_add_walkable_seeds_the_walk() {
    let mut a = node(0, vec![random_walk(20)], 30);
    let mut out = vec![];
    a.walk(0, &mut out);
    a.handle_message(
        2,
        NodeId(1),
        DiscoveryMessage::IntroductionResponse {
            introduced: Some(NodeId(2)),
        },
        &mut out,
    );
    assert_eq!(a.verified(), [NodeId(1)]);
    let requests = a.stats().requests_sent;
    assert!(requests >= 1);
    // A crash: nothing known, the next round is now, the counters go on.
    a.forget(7);
    assert!(a.verified().is_empty() && a.walkable().is_empty());
    assert_eq!(a.poll_timeout(), Some(7));
    assert_eq!(a.stats().requests_sent, requests);
    out.clear();
    a.walk(7, &mut out);
    assert_eq!(sends(&out), [(99, DiscoveryMessage::IntroductionRequest)]);
    // Remembered peers become walkable; the node itself never does.
    a.add_walkable([NodeId(0), NodeId(5), NodeId(3)]);
    assert_eq!(a.walkable(), [NodeId(3), NodeId(5)]);
}

/// The verified version follows the set of verified peers: a new peer, a peer dropped by
/// RandomChurn, a crash; not a verified peer heard from again, nor a ping.
#[test]
fn the_verified_version_changes_exactly_when_the_verified_set_does() {
    let churn = WalkerConfig {
        strategy: StrategyConfig::RandomChurn {
            sample_size: 8,
            ping_interval: 20,
            inactive_time: 10,
            drop_time: 30,
            ping_timeout: 5,
        },
        target_peers: -1,
    };
    let mut a = node(0, vec![churn], 30);
    let mut out = vec![];
    let v0 = a.verified_version();
    a.forget(0);
    assert_eq!(
        a.verified_version(),
        v0,
        "forgetting nobody changes nothing"
    );
    let hello = DiscoveryMessage::IntroductionRequest;
    a.handle_message(0, NodeId(1), hello, &mut out);
    assert_eq!(
        (a.verified(), a.verified_version()),
        (vec![NodeId(1)], v0 + 1)
    );
    a.handle_message(1, NodeId(1), hello, &mut out);
    assert_eq!(a.verified_version(), v0 + 1, "heard again: same set");
    // Silent past inactive_time: pinged, still verified.
    out.clear();
    a.walk(12, &mut out);
    assert!(matches!(
        sends(&out)[..],
        [(1, DiscoveryMessage::Ping { .. })]
    ));
    assert_eq!((a.verified_count(), a.verified_version()), (1, v0 + 1));
    // Silent past drop_time after a ping: dropped.
    a.walk(40, &mut out);
    assert_eq!((a.verified_count(), a.verified_version()), (0, v0 + 2));
    a.handle_message(41, NodeId(2), hello, &mut out);
    assert_eq!(a.verified_version(), v0 + 3);
    a.forget(42);
    assert_eq!((a.verified_count(), a.verified_version()), (0, v0 + 4));
}

/// Picking a verified peer without copying the set draws and picks as `choose` over the copy.
#[test]
fn choose_verified_picks_as_choose_over_the_verified_list() {
    let make = || {
        let mut n = node(0, vec![], 30);
        let mut out = vec![];
        for p in [7, 3, 11, 5, 2, 9] {
            n.handle_message(
                0,
                NodeId(p),
                DiscoveryMessage::IntroductionRequest,
                &mut out,
            );
        }
        n
    };
    let (mut a, mut b) = (make(), make());
    let list = a.verified();
    assert_eq!(list.len(), 6);
    let (mut out_a, mut out_b) = (vec![], vec![]);
    let (mut oa, _) = a.overlay(&mut out_a);
    let (mut ob, _) = b.overlay(&mut out_b);
    let picks: Vec<NodeId> = (0..50).map(|_| oa.choose_verified().unwrap()).collect();
    let expected: Vec<NodeId> = (0..50).map(|_| ob.choose(&list).unwrap()).collect();
    assert_eq!(picks, expected);
    assert!(
        list.iter().all(|p| picks.contains(p)),
        "every peer comes up"
    );
    let mut empty = node(1, vec![], 30);
    let mut out = vec![];
    assert_eq!(empty.overlay(&mut out).0.choose_verified(), None);
}

/// Picking a walkable peer without copying the set draws and picks as `choose` over the copy.
#[test]
fn choose_walkable_picks_as_choose_over_the_walkable_list() {
    let make = || {
        let mut n = node(0, vec![], 30);
        n.add_walkable([NodeId(8), NodeId(4), NodeId(12), NodeId(0), NodeId(6)]);
        n
    };
    let (mut a, mut b) = (make(), make());
    let list = a.walkable();
    assert_eq!(
        list,
        [NodeId(4), NodeId(6), NodeId(8), NodeId(12)],
        "sorted, not itself"
    );
    let (mut out_a, mut out_b) = (vec![], vec![]);
    let (mut oa, _) = a.overlay(&mut out_a);
    let (mut ob, _) = b.overlay(&mut out_b);
    let picks: Vec<NodeId> = (0..50).map(|_| oa.choose_walkable().unwrap()).collect();
    let expected: Vec<NodeId> = (0..50).map(|_| ob.choose(&list).unwrap()).collect();
    assert_eq!(picks, expected);
    assert!(
        list.iter().all(|p| picks.contains(p)),
        "every peer comes up"
    );
    let mut empty = node(1, vec![], 30);
    let mut out = vec![];
    assert_eq!(empty.overlay(&mut out).0.choose_walkable(), None);
}
