//! Discovery in whole runs: the overlay forms, trackers answer, the loop respects target_peers,
//! bad strategy configurations are refused.

use serde_json::json;
use syncsim::scenario::parse;

fn overlay(nodes: u32, walkers: serde_json::Value) -> serde_json::Value {
    json!({
        "name": "overlay", "duration": 120, "tick_ms": 500,
        "nodes": [{"name": "tracker"}, {"name": "peer", "count": nodes}],
        "discovery": {"walkers": walkers, "bootstrappers": ["tracker"]}
    })
}

fn run(doc: &serde_json::Value) -> syncsim::Executed {
    syncsim::simulate(&parse("overlay.json", &doc.to_string(), &[], None).unwrap())
}

#[test]
fn random_walk_fills_every_node_up_to_its_target() {
    let r = run(&overlay(
        60,
        json!([{"strategy": "RandomWalk", "peers": 8, "init": {}}]),
    ));
    let d = r.summary.discovery.expect("discovery summary");
    assert_eq!(d.nodes, 60);
    assert_eq!(d.target_peers, 8);
    assert_eq!(d.reached_target, 60, "{d:?}");
    assert!(d.verified_peers.p10 >= 8, "{d:?}");
    // The first request of every node goes to the tracker, whose answers introduce others.
    assert!(d.introductions_answered > 60);
    let csv = String::from_utf8(r.files["discovery.csv"].clone()).unwrap();
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert!(last[1].parse::<f64>().unwrap() >= 8.0, "{csv}");
    assert!(r.summary.traffic.by_kind["discovery"].sent > 0);
}

#[test]
fn with_target_peers_reached_random_walk_stops_walking() {
    let capped = run(&overlay(
        30,
        json!([{"strategy": "RandomWalk", "peers": 5, "init": {}}]),
    ))
    .summary;
    let always = run(&overlay(
        30,
        json!([{"strategy": "RandomWalk", "peers": -1, "init": {}}]),
    ))
    .summary;
    let (c, a) = (capped.discovery.unwrap(), always.discovery.unwrap());
    assert!(
        c.introduction_requests * 3 < a.introduction_requests,
        "{} vs {}",
        c.introduction_requests,
        a.introduction_requests
    );
    assert!(a.verified_peers.mean > c.verified_peers.mean);
}

#[test]
fn edge_walk_and_random_churn_run() {
    let r = run(&overlay(
        40,
        json!([
            {"strategy": "EdgeWalk", "peers": 10, "init": {"edge_length": 3, "neighborhood_size": 4}},
            {"strategy": "RandomChurn", "peers": -1, "init": {"inactive_time": "5s", "drop_time": "20s", "ping_interval": "5s"}}
        ]),
    ));
    let d = r.summary.discovery.unwrap();
    assert!(d.verified_peers.mean >= 4.0, "{d:?}");
    assert!(d.pings_sent > 0, "{d:?}");
}

#[test]
fn bad_discovery_configurations_are_refused() {
    for (walkers, expect) in [
        (
            json!([{"strategy": "Teleport", "peers": 5}]),
            "at `discovery.walkers[0].strategy`: unknown strategy \"Teleport\" (available: RandomWalk, EdgeWalk, RandomChurn)",
        ),
        (
            json!([{"strategy": "RandomWalk", "peers": 5, "init": {"window": 3}}]),
            "at `discovery.walkers[0].init.window`",
        ),
        (
            json!([{"strategy": "RandomWalk", "peers": -2}]),
            "at `discovery.walkers[0].peers`",
        ),
        (
            json!([{"strategy": "RandomWalk", "peers": 5, "init": {"reset_chance": 300}}]),
            "at `discovery.walkers[0].init.reset_chance`",
        ),
        (
            json!([{"strategy": "RandomWalk", "peers": 5, "init": {"timeout": "soon"}}]),
            "at `discovery.walkers[0].init.timeout`",
        ),
    ] {
        let e = parse("o.json", &overlay(3, walkers).to_string(), &[], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect), "expected {expect:?} in {e}");
    }
}

#[test]
fn sync_over_the_discovered_overlay_delivers_with_far_fewer_packets() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let plan =
            syncsim::scenario::load("scenarios/discovery_sync.json".as_ref(), &sets, None).unwrap();
        syncsim::simulate(&plan).summary
    };
    let discovered = load(&[]);
    let everyone = load(&["groups.0.policy=members"]);
    assert_eq!(discovered.delivery.ratio, Some(1.0));
    assert_eq!(everyone.delivery.ratio, Some(1.0));
    assert!(
        discovered.traffic.packets_sent * 5 < everyone.traffic.packets_sent,
        "{} vs {}",
        discovered.traffic.packets_sent,
        everyone.traffic.packets_sent
    );
    // A peer that has not (yet) verified the sender refuses its messages.
    let refused: u64 = discovered.nodes.values().map(|n| n.messages_refused).sum();
    assert!(refused > 0);
    assert_eq!(
        everyone
            .nodes
            .values()
            .map(|n| n.messages_refused)
            .sum::<u64>(),
        0
    );
}

#[test]
fn the_discovered_policy_needs_discovery() {
    let doc = json!({"name": "x", "duration": 10, "nodes": [{"name": "A"}, {"name": "B"}],
                     "groups": [{"name": "g", "members": ["*"], "policy": "discovered"}]});
    let e = parse("x.json", &doc.to_string(), &[], None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at `groups[0].policy`: the \"discovered\" policy needs a `discovery` section"),
        "{e}"
    );
}

#[test]
fn peer_stores_learn_discovered_peers_and_track_their_states() {
    let plan =
        syncsim::scenario::load("scenarios/discovery_sync.json".as_ref(), &[], None).unwrap();
    let r = syncsim::simulate(&plan);
    let ps = r
        .summary
        .peer_store
        .as_ref()
        .expect("peer stores configured");
    assert!(ps.states["connected"] > 0, "{ps:?}");
    assert_eq!(
        ps.states["initial"]
            + ps.states["connecting"]
            + ps.states["connected"]
            + ps.states["routed"]
            + ps.states["unreachable"]
            + ps.states["no_connection"],
        ps.states.values().sum::<u64>()
    );
    assert!(r.summary.traffic.by_kind["peer"].sent > 0);
    let csv = String::from_utf8(r.files["peer_store.csv"].clone()).unwrap();
    assert!(csv.lines().count() > 100, "sampled at every bucket");
    // Without peer stores, none of it.
    let plain = syncsim::simulate(
        &syncsim::scenario::load(
            "scenarios/discovery_sync.json".as_ref(),
            &["peer_store=null".to_string()],
            None,
        )
        .unwrap(),
    );
    assert!(plain.summary.peer_store.is_none());
    assert_eq!(plain.summary.traffic.by_kind["peer"].sent, 0);
}
