//! Parsing and validation: every kind of mistake gets one message naming the place.

use super::*;
use crate::ids::NodeId;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "name": "t",
        "duration": 50,
        "nodes": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
        "groups": [{"name": "g", "members": ["A", "B", "C"]}],
        "workload": {"appends": [{"node": "A", "tick": 1, "group": "g", "body": "x"}]}
    })
}

fn parse_value(doc: &Value, sets: &[&str]) -> Result<Plan, InputError> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    parse("t.json", &doc.to_string(), &sets, None)
}

fn error_of(doc: Value) -> String {
    parse_value(&doc, &[]).unwrap_err().to_string()
}

fn with(mut doc: Value, path: &str, value: Value) -> Value {
    let mut here = &mut doc;
    let segs: Vec<&str> = path.split('.').collect();
    for seg in &segs[..segs.len() - 1] {
        here = match seg.parse::<usize>() {
            Ok(i) => &mut here[i],
            Err(_) => &mut here[*seg],
        };
    }
    let last = segs[segs.len() - 1];
    match last.parse::<usize>() {
        Ok(i) => here[i] = value,
        Err(_) => here[last] = value,
    }
    doc
}

#[test]
fn the_base_scenario_loads_with_defaults() {
    let plan = parse_value(&base(), &[]).unwrap();
    assert_eq!(plan.seed, 1);
    assert_eq!(plan.tick_ms, 1000);
    assert_eq!(plan.link_count(), 3, "full mesh of three nodes");
    assert!(plan.links.is_empty(), "a mesh's pairs are not listed");
    assert_eq!(plan.nodes[0].sync.epoch, 1);
    assert_eq!(
        plan.nodes[0].sync.backoff,
        crate::protocol::sync::Backoff::Fixed { interval: 2 }
    );
    assert!(plan.nodes[0].sync.forwarding);
    assert_eq!(
        plan.groups[0].sharing_of(crate::ids::NodeId(0), &plan.groups[0].members),
        [crate::ids::NodeId(1), crate::ids::NodeId(2)]
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let e = parse("t.json", "{\n  \"name\": \"t\",\n  oops\n}", &[], None).unwrap_err();
    assert!(matches!(e, InputError::Syntax { line: 3, .. }), "{e}");
    assert!(e.to_string().starts_with("t.json:3:"), "{e}");
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let e = error_of(with(base(), "nodes.1.colour", json!("red")));
    assert!(
        e.contains("at `nodes[1]`") || e.contains("at `nodes[1].colour`"),
        "{e}"
    );
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = error_of(with(base(), "sync", json!({"backof": {}})));
    assert!(e.contains("unknown field `backof`"), "{e}");
}

#[test]
fn wrong_types_are_refused_with_their_path() {
    let e = error_of(with(base(), "duration", json!("long")));
    assert!(e.contains("at `duration`"), "{e}");
    let e = error_of(with(base(), "seed", json!(-3)));
    assert!(e.contains("at `seed`"), "{e}");
    let e = error_of(with(
        base(),
        "nodes.0.availability",
        json!({"kind": "reliability", "p": "high"}),
    ));
    assert!(e.contains("nodes[0].availability"), "{e}");
}

#[test]
fn unknown_nodes_and_groups_are_named() {
    let e = error_of(with(base(), "groups.0.members.2", json!("Z")));
    assert_eq!(
        e,
        "t.json: at `groups[0].members[2]`: unknown node \"Z\" (the scenario's nodes are \"A\", \"B\", \"C\")"
    );
    let e = error_of(with(base(), "workload.appends.0.group", json!("nope")));
    assert!(
        e.contains("at `workload.appends[0].group`: unknown group \"nope\""),
        "{e}"
    );
    let e = error_of(with(
        base(),
        "links",
        json!({"list": [{"between": ["A", "Q"]}]}),
    ));
    assert!(
        e.contains("at `links.list[0].between[1]`: unknown node \"Q\""),
        "{e}"
    );
}

#[test]
fn probabilities_outside_zero_one_are_refused() {
    let e = error_of(with(
        base(),
        "nodes.0.availability",
        json!({"kind": "reliability", "p": 1.5}),
    ));
    assert_eq!(
        e,
        "t.json: at `nodes[0].availability.p`: expected a probability in [0, 1], got 1.5"
    );
    let e = error_of(with(
        base(),
        "links",
        json!({"loss": {"kind": "bernoulli", "p": -0.1}}),
    ));
    assert!(
        e.contains("at `links.loss.p`: expected a probability in [0, 1], got -0.1"),
        "{e}"
    );
}

#[test]
fn ranges_must_be_ordered_and_latency_positive() {
    let e = error_of(with(
        base(),
        "links",
        json!({"latency": {"kind": "uniform", "min": 5, "max": 2}}),
    ));
    assert!(
        e.contains("at `links.latency.max`: expected max >= min"),
        "{e}"
    );
    let e = error_of(with(
        base(),
        "links",
        json!({"latency": {"kind": "fixed", "delay": 0}}),
    ));
    assert!(
        e.contains("at `links.latency.delay`: expected a latency of at least 1 tick"),
        "{e}"
    );
}

#[test]
fn other_impossible_values_are_refused() {
    for (path, value, expect) in [
        ("duration", json!(0), "at `duration`"),
        ("tick_ms", json!(0), "at `tick_ms`"),
        ("name", json!("../evil"), "at `name`"),
        ("nodes.1.name", json!("A"), "duplicate node name"),
        ("groups.0.members.1", json!("A"), "listed twice"),
        (
            "workload.appends.0.tick",
            json!(50),
            "before the end of the run",
        ),
        ("sync", json!({"epoch": 0}), "at `sync.epoch`"),
        (
            "sync",
            json!({"backoff": {"kind": "fixed", "interval": 0}}),
            "at `sync.backoff.interval`",
        ),
        (
            "outputs",
            json!({"tables_at": [99]}),
            "at `outputs.tables_at[0]`",
        ),
        (
            "outputs",
            json!({"tables": false, "tables_at": [5]}),
            "at `outputs.tables_at`: expected no ticks, as outputs.tables is false",
        ),
        ("nodes", json!([]), "at least one node"),
        (
            "duration",
            json!(u64::MAX),
            "expected at most 9007199254740992 ticks",
        ),
        (
            "tick_ms",
            json!(u64::MAX / 2),
            "more milliseconds than a message timestamp",
        ),
        (
            "links",
            json!({"latency": {"kind": "fixed", "delay": 10_000_000_000_000_000u64}}),
            "at `links.latency.delay`: expected at most",
        ),
        (
            "groups.0.sharing",
            json!({"A": ["A"]}),
            "cannot share a group with itself",
        ),
    ] {
        let e = error_of(with(base(), path, value));
        assert!(e.contains(expect), "{path}: {e}");
    }
}

#[test]
fn an_append_by_a_non_member_is_refused() {
    let doc = with(base(), "groups.0.members", json!(["B", "C"]));
    let e = error_of(doc);
    assert!(
        e.contains("at `workload.appends[0].node`: \"A\" is not a member of group \"g\""),
        "{e}"
    );
}

#[test]
fn identical_appends_are_refused() {
    let doc = with(
        base(),
        "workload.appends",
        json!([
            {"node": "A", "tick": 1, "group": "g", "body": "x"},
            {"node": "B", "tick": 1, "group": "g", "body": "x"}
        ]),
    );
    assert!(error_of(doc).contains("as workload.appends[0]"));
}

#[test]
fn set_overrides_nested_fields_and_errors_name_the_override() {
    let plan = parse_value(
        &base(),
        &[
            "sync.backoff.interval=4",
            "nodes.B.availability={\"kind\":\"reliability\",\"p\":0.3}",
        ],
    )
    .unwrap();
    assert_eq!(
        plan.nodes[0].sync.backoff,
        crate::protocol::sync::Backoff::Fixed { interval: 4 }
    );
    assert_eq!(
        plan.scenario.nodes[1].availability,
        Some(AvailabilitySpec::Reliability { p: 0.3 })
    );
    let e = parse_value(&base(), &["nodes.B.availability.p=2"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown field `p`") || e.contains("nodes[1].availability"),
        "{e}"
    );
    let e = parse_value(&base(), &["sync.backoff.interval=0"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(the value comes from --set sync.backoff.interval=0)"),
        "{e}"
    );
}

#[test]
fn seed_override_wins_and_keeps_the_hash() {
    let a = parse_value(&base(), &[]).unwrap();
    let b = parse("t.json", &base().to_string(), &[], Some(99)).unwrap();
    assert_eq!(b.seed, 99);
    assert_eq!(a.hash, b.hash);
    let c = parse_value(&base(), &["duration=51"]).unwrap();
    assert_ne!(a.hash, c.hash);
}

#[test]
fn field_order_does_not_change_the_hash() {
    let text = base().to_string();
    let reordered = r#"{"workload":{"appends":[{"body":"x","group":"g","tick":1,"node":"A"}]},
        "groups":[{"members":["A","B","C"],"name":"g"}],
        "nodes":[{"name":"A"},{"name":"B"},{"name":"C"}],"duration":50,"name":"t"}"#;
    let a = parse("t.json", &text, &[], None).unwrap();
    let b = parse("t.json", reordered, &[], None).unwrap();
    assert_eq!(a.hash, b.hash);
    // Writing a default out explicitly is the same scenario too.
    let explicit = with(base(), "tick_ms", json!(1000));
    assert_eq!(parse_value(&explicit, &[]).unwrap().hash, a.hash);
}

#[test]
fn durations_with_units_convert_with_tick_ms() {
    let doc = with(
        with(base(), "tick_ms", json!(300)),
        "duration",
        json!("1min"),
    );
    let plan = parse_value(&doc, &[]).unwrap();
    assert_eq!(plan.duration, 200);
}

#[test]
fn a_scenario_that_is_not_an_object_is_refused() {
    let e = parse("t.json", "[1, 2]", &[], None)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "t.json: at `.`: expected a JSON object (a scenario)");
}

#[test]
fn new_kinds_of_mistakes_are_refused_with_their_path() {
    for (path, value, expect) in [
        (
            "nodes.0",
            json!({"name": "A", "template": "ghost"}),
            "at `nodes[0].template`: unknown template \"ghost\"",
        ),
        (
            "nodes.0",
            json!({"count": 2}),
            "at `nodes[0]`: expected a `name`",
        ),
        (
            "nodes.0",
            json!({"name": "A", "count": 0}),
            "at `nodes[0].count`",
        ),
        (
            "nodes.0",
            json!({"name": "A", "count": 536_870_913}),
            "at `nodes[0].count`: too many nodes: at most 536870912 (2^29) in all, got 536870913 more",
        ),
        (
            "nodes.0.availability",
            json!({"kind": "intervals", "spans": [[5, 9], [8, 12]]}),
            "at `nodes[0].availability.spans[1]`: spans must be sorted",
        ),
        (
            "nodes.0.availability",
            json!({"kind": "intervals", "spans": [[5, 5]]}),
            "from < to",
        ),
        (
            "nodes.0.availability",
            json!({"kind": "markov", "mean_on": 0.5, "mean_off": 3}),
            "at `nodes[0].availability.mean_on`",
        ),
        (
            "nodes.0.availability",
            json!({"kind": "bernoulli", "p": 2}),
            "at `nodes[0].availability.p`",
        ),
        (
            "links",
            json!({"loss": {"kind": "gilbert_elliott", "p_good_to_bad": 0.1, "p_bad_to_good": 1.5}}),
            "at `links.loss.p_bad_to_good`",
        ),
        (
            "links",
            json!({"latency": {"kind": "normal", "mean": -1, "sd": 1}}),
            "at `links.latency.mean`",
        ),
        (
            "links",
            json!({"latency": {"kind": "lognormal", "median": 3, "sigma": -1}}),
            "at `links.latency.sigma`",
        ),
        (
            "links",
            json!({"topology": {"kind": "random_regular", "k": 3}}),
            "at `links.topology.k`: a 3-regular graph on 3 nodes",
        ),
        (
            "links",
            json!({"topology": {"kind": "star", "center": "Q"}}),
            "at `links.topology.center`: unknown node",
        ),
        (
            "sync",
            json!({"backoff": {"kind": "exponential", "base": 4, "max": 2}}),
            "at `sync.backoff.max`: expected max >= base",
        ),
        (
            "sync",
            json!({"backoff": {"kind": "exponential", "base": 1, "factor": 0.5}}),
            "at `sync.backoff.factor`",
        ),
        ("sync", json!({"offered_cap": 0}), "at `sync.offered_cap`"),
        (
            "groups.0.changes",
            json!([{"tick": 5, "node": "A", "action": "join"}]),
            "already a member",
        ),
        (
            "groups.0.changes",
            json!([{"tick": 5, "node": "A", "action": "leave"}, {"tick": 6, "node": "A", "action": "leave"}]),
            "is not a member",
        ),
        (
            "groups.0.members",
            json!(["Z*"]),
            "at `groups[0].members[0]`: \"Z*\" matches no node",
        ),
        (
            "groups.0.members",
            json!(["@nope"]),
            "unknown template \"nope\"",
        ),
        (
            "workload.appends.0.parents",
            json!(["missing"]),
            "at `workload.appends[0].parents[0]`: no earlier append has the label",
        ),
        (
            "workload.generators",
            json!([{"nodes": ["A"], "group": "g", "mean_interval": 0}]),
            "at `workload.generators[0].mean_interval`",
        ),
        (
            "workload.generators",
            json!([{"nodes": ["A"], "group": "g", "mean_interval": 1, "from": 40, "to": 10}]),
            "at `workload.generators[0].to`",
        ),
        (
            "workload.generators",
            json!([{"nodes": ["A"], "group": "g", "mean_interval": 1, "body_bytes": {"kind": "uniform", "min": 9, "max": 3}}]),
            "at `workload.generators[0].body_bytes.max`",
        ),
    ] {
        let e = error_of(with(base(), path, value));
        assert!(e.contains(expect), "{path}: {e}");
    }
}

#[test]
fn an_append_after_leaving_is_refused_and_a_template_sync_error_names_the_template() {
    let doc = with(
        base(),
        "groups.0.changes",
        json!([{"tick": 1, "node": "A", "action": "leave"}]),
    );
    assert!(error_of(doc).contains("is not a member of group \"g\" at tick 1"));
    let doc = with(
        with(
            base(),
            "templates",
            json!({"phone": {"sync": {"epoch": 0}}}),
        ),
        "nodes.0",
        json!({"name": "A", "template": "phone"}),
    );
    let e = error_of(doc);
    assert!(e.contains("at `templates.phone.sync.epoch`"), "{e}");
}

#[test]
fn asymmetric_link_settings_land_on_the_right_direction() {
    let doc = with(
        base(),
        "links",
        json!({"list": [{"between": ["C", "A"], "latency": {"kind": "fixed", "delay": 9}, "reverse": {"latency": {"kind": "fixed", "delay": 4}}}]}),
    );
    let plan = parse_value(&doc, &[]).unwrap();
    let l = plan
        .links
        .iter()
        .find(|l| l.a.0 == 0 && l.b.0 == 2)
        .unwrap();
    // between [C, A]: C->A is 9, A->C (the reverse) is 4; stored as a = A, b = C.
    assert_eq!(l.ab.latency, crate::net::Latency::Fixed { delay: 4 });
    assert_eq!(l.ba.latency, crate::net::Latency::Fixed { delay: 9 });
    // The plan answers the same for the direction, and the mesh's default for the others.
    let (a, b, c) = (NodeId(0), NodeId(1), NodeId(2));
    let fixed = |d: Option<&crate::scenario::PlanDirection>| d.map(|d| d.latency.clone());
    assert_eq!(
        fixed(plan.direction(c, a)),
        Some(crate::net::Latency::Fixed { delay: 9 })
    );
    assert_eq!(
        fixed(plan.direction(a, c)),
        Some(crate::net::Latency::Fixed { delay: 4 })
    );
    let default = plan.mesh.as_ref().expect("a full mesh").latency.clone();
    assert_ne!(default, crate::net::Latency::Fixed { delay: 4 });
    assert_eq!(fixed(plan.direction(a, b)), Some(default.clone()));
    assert_eq!(fixed(plan.direction(b, c)), Some(default));
    assert_eq!(plan.links.len(), 1, "only the listed pair is in the plan");
    assert_eq!(plan.link_count(), 3);
    assert!(plan.linked(b, a) && plan.linked(c, b));
    assert!(!plan.linked(a, a), "no node is linked to itself");
    assert!(!plan.linked(a, NodeId(3)), "no such node");
}

/// Without a full mesh, exactly the listed pairs are linked.
#[test]
fn an_explicit_topology_links_only_the_listed_pairs() {
    let doc = with(
        base(),
        "links",
        json!({"topology": {"kind": "explicit"}, "list": [{"between": ["C", "A"]}]}),
    );
    let plan = parse_value(&doc, &[]).unwrap();
    assert!(plan.mesh.is_none());
    assert_eq!(plan.link_count(), 1);
    let (a, b, c) = (NodeId(0), NodeId(1), NodeId(2));
    assert!(plan.linked(a, c) && plan.linked(c, a));
    assert!(!plan.linked(a, b) && !plan.linked(b, c) && plan.direction(b, a).is_none());
}

/// A full mesh is not listed pair by pair, so a large one is as cheap to plan as a small one.
#[test]
fn a_full_mesh_of_a_hundred_thousand_nodes_plans_without_listing_its_pairs() {
    let doc = with(base(), "nodes", json!([{"name": "n", "count": 100_000}]));
    let doc = with(with(doc, "groups", json!([])), "workload", json!({}));
    let plan = parse_value(&doc, &[]).unwrap();
    assert_eq!(plan.link_count(), 100_000 * 99_999 / 2);
    assert!(plan.links.is_empty());
    assert!(plan.linked(NodeId(0), NodeId(99_999)));
}

/// `outputs.tables` is true unless set, and when true it is left out of the stored scenario,
/// so the hash of a scenario that does not name it is what it was before the field existed.
#[test]
fn outputs_tables_defaults_to_true_and_keeps_the_hash() {
    let plan = parse_value(&base(), &[]).expect("valid");
    assert!(plan.tables);
    let stored = serde_json::to_value(&*plan.scenario).unwrap();
    assert!(stored["outputs"].get("tables").is_none(), "{stored}");
    let mut named = base();
    named["outputs"] = json!({"tables": true});
    let same = parse_value(&named, &[]).expect("valid");
    assert_eq!(same.hash, plan.hash);
    named["outputs"] = json!({"tables": false});
    let off = parse_value(&named, &[]).expect("valid");
    assert!(!off.tables);
    assert_ne!(off.hash, plan.hash);
    // The schema names the default, as for every other field with one.
    let schema = serde_json::to_value(schemars::schema_for!(Scenario)).unwrap();
    assert_eq!(
        schema["$defs"]["OutputsSpec"]["properties"]["tables"]["default"],
        json!(true)
    );
}
