//! Invariants of whole runs over randomly generated small scenarios (proptest): delivery never
//! exceeds what is expected, bytes add up, records exist only for peers that share the group,
//! batch mode over any loss below 1 delivers everything given enough ticks, the order of fields
//! in a scenario file changes nothing, and a run repeats byte for byte.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A small random scenario: 2 to 6 nodes, some links, availability, loss, appends.
fn scenario() -> impl Strategy<Value = Value> {
    (
        2usize..=6,
        any::<u64>(),
        prop::bool::ANY,
        prop_oneof![Just("record"), Just("payload")],
        prop_oneof![Just("batch"), Just("interactive")],
        prop::bool::ANY,
        0.0f64..0.5,
        prop::collection::vec(0.2f64..=1.0, 6),
        prop::collection::vec((0usize..6, 0u64..50), 1..10),
        prop::collection::vec(prop::bool::ANY, 15),
    )
        .prop_map(
            |(n, seed, mesh, packing, mode, forwarding, loss, avail, appends, edges)| {
                let names: Vec<String> = (0..n).map(|i| format!("N{i}")).collect();
                let nodes: Vec<Value> = names
                    .iter()
                    .zip(&avail)
                    .map(|(name, &p)| {
                        json!({"name": name, "availability": {"kind": "reliability", "p": p}})
                    })
                    .collect();
                let mut links = json!({
                    "latency": {"kind": "uniform", "min": 1, "max": 3},
                    "loss": {"kind": "bernoulli", "p": loss}
                });
                if !mesh {
                    // A path through all nodes (so the graph is connected) plus random chords.
                    let mut list: Vec<Value> = (1..n)
                        .map(|i| json!({"between": [names[i - 1], names[i]]}))
                        .collect();
                    let mut k = 0;
                    for a in 0..n {
                        for b in a + 2..n {
                            if edges[k % edges.len()] {
                                list.push(json!({"between": [names[a], names[b]]}));
                            }
                            k += 1;
                        }
                    }
                    links["topology"] = json!({"kind": "explicit"});
                    links["list"] = Value::Array(list);
                }
                let appends: Vec<Value> = appends
                    .iter()
                    .enumerate()
                    .map(|(i, &(node, tick))| {
                        json!({"node": names[node % n], "tick": tick, "group": "g",
                               "body": format!("message {i}")})
                    })
                    .collect();
                json!({
                    "name": "prop", "seed": seed % (1 << 53), "duration": 600,
                    "nodes": nodes,
                    "groups": [{"name": "g", "members": names}],
                    "links": links,
                    "sync": {"mode": mode, "packing": packing, "forwarding": forwarding,
                             "backoff": {"kind": "fixed", "interval": 2}},
                    "workload": {"appends": appends}
                })
            },
        )
}

fn run(doc: &Value) -> syncsim::Executed {
    syncsim::simulate(&syncsim::scenario::parse("prop.json", &doc.to_string(), &[], None).unwrap())
}

fn csv_rows(run: &syncsim::Executed, file: &str) -> Vec<Vec<String>> {
    String::from_utf8(run.files[file].clone())
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The same JSON with every object's fields in reverse order.
fn reversed(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m.iter().rev() {
                out.insert(k.clone(), reversed(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(reversed).collect()),
        x => x.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn runs_keep_their_invariants(doc in scenario()) {
        let r = run(&doc);
        let s = &r.summary;
        // Delivered never exceeds expected, overall and per node.
        prop_assert!(s.delivery.delivered <= s.delivery.expected);
        for n in s.nodes.values() {
            prop_assert!(n.delivery.delivered <= n.delivery.expected);
        }
        // Bytes add up: per kind plus overhead, per node, per link.
        let t = &s.traffic;
        let by_kind: u64 = t.by_kind.values().map(|k| k.bytes).sum();
        prop_assert_eq!(by_kind, t.bytes_sent);
        prop_assert_eq!(s.nodes.values().map(|n| n.bytes_sent).sum::<u64>(), t.bytes_sent);
        let links = csv_rows(&r, "links.csv");
        let link_bytes: u64 = links.iter().map(|l| l[3].parse::<u64>().unwrap()).sum();
        prop_assert_eq!(link_bytes, t.bytes_sent);
        prop_assert_eq!(
            t.packets_sent,
            t.packets_lost_link + t.packets_lost_offline + t.packets_in_flight
                + s.nodes.values().map(|n| n.packets_received).sum::<u64>()
        );
        // Records exist only for peers that share the group: members, linked, not the node.
        let linked: BTreeSet<(String, String)> =
            links.iter().map(|l| (l[0].clone(), l[1].clone())).collect();
        let mesh = doc["links"].get("topology").is_none();
        for node in doc["nodes"].as_array().unwrap() {
            let name = node["name"].as_str().unwrap();
            for row in csv_rows(&r, &format!("sync_state/{name}.csv")) {
                let peer = &row[2];
                prop_assert!(peer != name, "{} has a record for itself", name);
                prop_assert!(peer.starts_with('N'));
                if !mesh {
                    // A record's peer is linked (it may not have carried a packet yet, so look
                    // in the scenario's list rather than links.csv).
                    let listed = doc["links"]["list"].as_array().unwrap().iter().any(|l| {
                        let b = &l["between"];
                        (b[0] == name && b[1] == peer.as_str()) || (b[1] == name && b[0] == peer.as_str())
                    });
                    prop_assert!(listed, "{} has a record for unlinked {}", name, peer);
                }
            }
        }
        let _ = linked;
        // Field order in the file changes nothing.
        let again = run(&reversed(&doc));
        prop_assert_eq!(&again.summary.fingerprint, &s.fingerprint);
        prop_assert_eq!(&again.files["summary.json"], &r.files["summary.json"]);
        // The engine's own invariant checks pass, and checking changes no output.
        let plan = syncsim::scenario::parse("prop.json", &doc.to_string(), &[], None).unwrap();
        let options = syncsim::engine::RunOptions { check_invariants: true, ..Default::default() };
        let checked = syncsim::try_simulate(&plan, &options);
        prop_assert!(checked.is_ok(), "{:?}", checked.err());
        prop_assert!(checked.unwrap().files == r.files);
        // A repeated run is identical, file for file.
        let repeat = run(&doc);
        let a: BTreeMap<_, _> = r.files.iter().collect();
        let b: BTreeMap<_, _> = repeat.files.iter().collect();
        prop_assert!(a == b, "a repeated run differs");
    }

    #[test]
    fn batch_mode_over_any_loss_below_one_delivers_everything(
        doc in scenario(),
        loss in 0.0f64..0.9,
    ) {
        let mut doc = doc;
        // Full mesh, batch, every node able to receive: only the loss stands in the way.
        doc["links"] = json!({"latency": {"kind": "fixed", "delay": 1},
                              "loss": {"kind": "bernoulli", "p": loss}});
        doc["sync"]["mode"] = json!("batch");
        doc["duration"] = json!(3000);
        let r = run(&doc);
        prop_assert_eq!(r.summary.delivery.delivered, r.summary.delivery.expected,
            "loss {}: {:?}", loss, r.summary.delivery);
    }
}
