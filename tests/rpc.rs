//! Request/response flows in whole runs: the seed's count-to-ten, replay protection on and off,
//! timeouts at the right tick, timeouts under loss.

use serde_json::json;
use syncsim::scenario::{load, parse};

fn count_to(sets: &[&str]) -> syncsim::Executed {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    syncsim::simulate(&load("scenarios/count_to_ten.json".as_ref(), &sets, None).unwrap())
}

#[test]
fn count_to_ten_reaches_ten_on_both_sides_with_every_replay_dropped() {
    let r = count_to(&[]).summary.rpc;
    for peer in ["A", "B"] {
        assert_eq!(r.count_to[peer].reached, Some(10), "{peer}");
    }
    // Each peer: 10 requests under a cache (values 0..9), 9 of them replayed.
    assert_eq!(r.started, 20);
    assert_eq!(r.completed, 20);
    assert_eq!(r.replays_dropped, 18);
    assert_eq!(r.replays_processed, 0);
    assert_eq!(r.timed_out, 0);
}

#[test]
fn without_replay_protection_the_replays_are_processed_and_flows_multiply() {
    let on = count_to(&[]).summary;
    let off = count_to(&["request_cache.replay_protection=false"]).summary;
    assert_eq!(off.rpc.count_to["A"].reached, Some(10));
    assert_eq!(off.rpc.replays_dropped, 0);
    // Every processed replay starts its own flow: 2^9 flows per peer reach ten.
    assert_eq!(off.rpc.replays_processed, 2 * (512 - 1));
    assert_eq!(off.rpc.started, 2 * 512);
    assert!(off.traffic.packets_sent > 50 * on.traffic.packets_sent);
}

#[test]
fn without_replays_nothing_is_dropped() {
    let r = count_to(&["workload.count_to.replay=false"]).summary.rpc;
    assert_eq!(r.count_to["B"].reached, Some(10));
    assert_eq!((r.started, r.replays_dropped), (20, 0));
}

#[test]
fn a_request_that_is_never_answered_times_out_exactly_after_the_timeout() {
    let doc = json!({
        "name": "deaf", "duration": 200, "tick_ms": 500,
        "nodes": [{"name": "A"}, {"name": "B", "availability": {"kind": "reliability", "p": 0.0}}],
        "request_cache": {"timeout": "7s"},
        "workload": {"rpc": [{"nodes": ["A"], "mean_interval": 20, "target": "B", "to": 150}]}
    });
    let r = syncsim::simulate(&parse("deaf.json", &doc.to_string(), &[], None).unwrap());
    let csv = String::from_utf8(r.files["rpc.csv"].clone()).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert!(rows.len() >= 3, "{csv}");
    for row in &rows {
        // 7 s at 500 ms per tick = 14 ticks.
        let (sent, ended): (u64, u64) = (row[3].parse().unwrap(), row[4].parse().unwrap());
        assert_eq!(row[5], "timed_out");
        assert_eq!(ended - sent, 14, "{row:?}");
    }
    assert_eq!(r.summary.rpc.timed_out as usize, rows.len());
    assert_eq!(r.summary.rpc.completed, 0);
}

#[test]
fn the_lossy_rpc_scenario_reports_timeouts_and_round_trips() {
    let r =
        syncsim::simulate(&load("scenarios/rpc_lossy.json".as_ref(), &[], None).unwrap()).summary;
    let rpc = &r.rpc;
    assert!(rpc.started > 500, "{rpc:?}");
    assert!(rpc.timed_out > 50 && rpc.completed > 200, "{rpc:?}");
    assert!(
        rpc.completed + rpc.timed_out <= rpc.started,
        "each request ends once at most"
    );
    assert!(
        rpc.rtt_ticks.p50.unwrap() >= 4,
        "service time of 4 ticks plus two hops"
    );
    assert!(
        r.traffic.by_kind["rpc_request"].sent > 0 && r.traffic.by_kind["rpc_response"].sent > 0
    );
    // Without loss and always-on phones, nothing times out but what the phones send offline.
    let sets = vec![r#"links.loss={"kind":"none"}"#.to_string()];
    let clean =
        syncsim::simulate(&load("scenarios/rpc_lossy.json".as_ref(), &sets, None).unwrap()).summary;
    assert!(clean.rpc.timed_out < rpc.timed_out);
}
