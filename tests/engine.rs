//! Whole runs of small scenarios through the library: timelines, availability, forwarding,
//! byte counts, idle-time skipping and stream independence.

use serde_json::{Value, json};
use syncsim::Executed;
use syncsim::scenario::{Plan, parse};

fn plan(doc: &Value) -> Plan {
    parse("test.json", &doc.to_string(), &[], None).expect("valid scenario")
}

fn run(doc: &Value) -> Executed {
    syncsim::execute(&plan(doc))
}

fn two_nodes() -> Value {
    json!({
        "name": "pair",
        "duration": 20,
        "nodes": [{"name": "A"}, {"name": "B"}],
        "groups": [{"name": "g", "members": ["A", "B"]}],
        "workload": {"appends": [{"node": "A", "tick": 0, "group": "g", "body": "hello"}]}
    })
}

fn file(run: &Executed, path: &str) -> String {
    String::from_utf8(run.files[path].clone()).unwrap()
}

#[test]
fn two_reliable_nodes_exchange_one_message_and_one_ack() {
    let r = run(&two_nodes());
    let s = &r.summary;
    // Tick 0: A appends and sends; tick 1: B delivers and acks at its step; tick 2: A holds.
    assert_eq!(s.delivery.delivered, 1);
    assert_eq!(s.delivery.convergence_tick, Some(1));
    assert_eq!(s.latency_ticks.max, Some(1));
    assert_eq!(s.traffic.by_kind["message"].sent, 1);
    assert_eq!(s.traffic.by_kind["ack"].sent, 1);
    assert_eq!(s.traffic.multiplier_packets, Some(2.0));
    assert_eq!(
        file(&r, "sync_state/A.txt"),
        "A POV @20\n------------------------------------------------------------\n".to_string()
            + &format!(
                "{} | B: hold @2(1) |\n",
                &file(&r, "deliveries.csv")
                    .lines()
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .nth(1)
                    .unwrap()[..8]
            )
            + "------------------------------------------------------------\n"
    );
    // Events: one append, two arrivals (message, ack), two steps (A at 0 sends, B at 1 acks).
    // A's resend step at 2 is dropped: the ACK arrived earlier in that tick.
    assert_eq!(s.events, 1 + 2 + 2);
}

#[test]
fn without_an_ack_the_message_is_resent_every_interval() {
    // B processes nothing: A sends at 0, 2, 4, ... 18 (duration 20), fixed backoff 2.
    let doc = {
        let mut d = two_nodes();
        d["nodes"][1]["availability"] = json!({"kind": "reliability", "p": 0.0});
        d
    };
    let r = run(&doc);
    let s = &r.summary;
    assert_eq!(s.traffic.by_kind["message"].sent, 10);
    assert_eq!(s.traffic.by_kind["message"].lost_offline, 10);
    assert_eq!(s.traffic.packets_lost, 10);
    assert_eq!(s.delivery.delivered, 0);
    assert_eq!(s.traffic.multiplier_packets, None);
    assert!(file(&r, "sync_state/A.txt").contains("| B: @20(10) |"));
}

#[test]
fn byte_counts_are_encoded_payload_sizes_plus_overhead() {
    let mut doc = two_nodes();
    doc["links"] = json!({"overhead_bytes": 28});
    let r = run(&doc);
    let t = &r.summary.traffic;
    // An ACK entry: field 5001 key (3 bytes) + length (1) + 32-byte id.
    assert_eq!(t.by_kind["ack"].bytes, 36);
    // A message entry: key (3) + length (1) + Message{group_id 32, timestamp 0, body "hello"}.
    let message = syncsim::wire::message(&syncsim::wire::group_id("g"), 0, b"hello");
    let expected = 3 + 1 + syncsim::wire::message_len(&message) as u64;
    assert_eq!(t.by_kind["message"].bytes, expected);
    // Packets: the two payloads plus 28 bytes of overhead each.
    assert_eq!(t.packets_sent, 2);
    assert_eq!(t.bytes_sent, 36 + expected + 2 * 28);
}

#[test]
fn a_periodic_node_neither_steps_nor_receives_while_offline() {
    // B is online at ticks 5..10 of every 10 (phase 5: tick 0 is at position 5, offline).
    let mut doc = two_nodes();
    doc["nodes"][1]["availability"] = json!({"kind": "periodic", "on": 5, "off": 5, "phase": 5});
    doc["sync"] = json!({"backoff": {"kind": "fixed", "interval": 1}});
    let r = run(&doc);
    let d = &r.output.metrics.deliveries;
    // A sends at 0, 1, 2, ...; arrivals at 1..4 hit B offline; the packet sent at 4 arrives at 5.
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].tick, 5);
    assert_eq!(r.summary.traffic.by_kind["message"].lost_offline, 4);
    assert_eq!(r.summary.nodes["B"].packets_lost_offline, 4);
}

#[test]
fn forwarding_carries_a_message_along_a_chain() {
    let chain = |forwarding: bool| {
        json!({
            "name": "chain",
            "duration": 30,
            "nodes": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
            "groups": [{"name": "g", "members": ["A", "B", "C"]}],
            "links": {"topology": {"kind": "explicit"}, "list": [{"between": ["A", "B"]}, {"between": ["B", "C"]}]},
            "sync": {"forwarding": forwarding},
            "workload": {"appends": [{"node": "A", "tick": 0, "group": "g", "body": "m"}]}
        })
    };
    let on = run(&chain(true)).summary;
    assert_eq!(on.delivery.delivered, 2);
    assert_eq!(on.nodes["C"].delivery.convergence_tick, Some(2));
    let off = run(&chain(false)).summary;
    assert_eq!(off.delivery.delivered, 1);
    assert_eq!(off.nodes["C"].delivery.delivered, 0);
    assert_eq!(off.delivery.convergence_tick, None);
}

#[test]
fn idle_ticks_cost_nothing() {
    let mut doc = two_nodes();
    doc["duration"] = json!(1_000_000_000u64);
    doc["workload"]["appends"][0]["tick"] = json!(999_999_000u64);
    let r = run(&doc);
    assert_eq!(r.summary.delivery.delivered, 1);
    assert_eq!(r.summary.events, 5);
    assert_eq!(r.output.last_event_tick, Some(999_999_002));
}

#[test]
fn an_unrelated_node_does_not_change_what_others_draw() {
    let base = json!({
        "name": "lossy", "duration": 200,
        "nodes": [{"name": "A", "availability": {"kind": "reliability", "p": 0.5}}, {"name": "B"}],
        "groups": [{"name": "g", "members": ["A", "B"]}],
        "links": {"topology": {"kind": "explicit"}, "list": [{"between": ["A", "B"]}],
                  "latency": {"kind": "uniform", "min": 1, "max": 5},
                  "loss": {"kind": "bernoulli", "p": 0.3}},
        "workload": {"appends": [
            {"node": "A", "tick": 0, "group": "g", "body": "1"},
            {"node": "B", "tick": 3, "group": "g", "body": "2"}]}
    });
    let mut extended = base.clone();
    extended["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "Z", "availability": {"kind": "reliability", "p": 0.2}}));
    let a = run(&base);
    let b = run(&extended);
    assert_eq!(a.output.metrics.deliveries, b.output.metrics.deliveries);
    assert_eq!(a.summary.traffic, b.summary.traffic);
    assert_eq!(a.summary.fingerprint, b.summary.fingerprint);
}

#[test]
fn loss_is_counted_and_changes_the_run() {
    let mut lossy = two_nodes();
    lossy["duration"] = json!(400);
    lossy["links"] = json!({"loss": {"kind": "bernoulli", "p": 0.5}});
    let r = run(&lossy);
    let t = &r.summary.traffic;
    assert!(t.packets_lost_link > 0);
    assert_eq!(t.packets_lost, t.packets_lost_link + t.packets_lost_offline);
    assert_eq!(r.summary.delivery.delivered, 1);
    assert_ne!(r.summary.fingerprint, run(&two_nodes()).summary.fingerprint);
}

#[test]
fn same_seed_same_bytes_other_seed_other_fingerprint() {
    let doc = plan(
        &serde_json::from_str(&std::fs::read_to_string("scenarios/mobile_desktop.json").unwrap())
            .unwrap(),
    );
    let a = syncsim::execute(&doc);
    let b = syncsim::execute(&doc);
    assert_eq!(a.files, b.files);
    let text = std::fs::read_to_string("scenarios/mobile_desktop.json").unwrap();
    let mut fingerprints = std::collections::BTreeSet::new();
    for seed in 1..=5 {
        let p = parse("mobile_desktop.json", &text, &[], Some(seed)).unwrap();
        fingerprints.insert(syncsim::execute(&p).summary.fingerprint);
    }
    assert_eq!(fingerprints.len(), 5);
}

#[test]
fn tables_at_capture_the_state_at_the_end_of_that_tick() {
    let mut doc = two_nodes();
    doc["outputs"] = json!({"tables_at": [0, 1]});
    let r = run(&doc);
    // End of tick 0: sent once, next send at 2, not yet held.
    assert!(file(&r, "sync_state/A.t0.txt").contains("| B: @2(1) |"));
    // End of tick 1: B has the message and owes nothing (it acked at its step).
    assert!(file(&r, "sync_state/B.t1.txt").contains("| A: hold @0(0) |"));
    assert!(file(&r, "sync_state/A.t0.csv").contains(",g,B,0,0,0,1,2\n"));
}
