//! Fuzzing with proptest, briefly in every test run (`PROPTEST_CASES=100000 cargo test --release
//! --test fuzz` for a longer session): the scenario parser and validator, the sweep loader, and
//! decoding of every wire message from arbitrary bytes never panic; a refused input is one
//! `InputError` naming the file.

use proptest::prelude::*;
use prost::Message;
use serde_json::Value;
use syncsim::wire::{discovery, mvds, peer, rpc};

const SHIPPED: &[&str] = &[
    include_str!("../scenarios/mobile_desktop.json"),
    include_str!("../scenarios/churn_groups.json"),
    include_str!("../scenarios/interactive_payload.json"),
    include_str!("../scenarios/discovery_crash.json"),
    include_str!("../scenarios/rpc_lossy.json"),
];

/// A JSON value of any shape.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u64..10).prop_map(Value::from),
        "[a-zA-Z0-9@ .:_-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("10s"),
            Just("-1"),
            Just("5min"),
            Just("1e400"),
            Just("0ms"),
            Just("@phone")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,10}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every (path, value) place in a document, as paths of keys and indices.
fn places(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(path.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                places(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                places(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k).expect("a place"),
        Value::Array(a) => &mut a[k.parse::<usize>().expect("an index")],
        _ => unreachable!("places are inside containers"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// A shipped scenario with one value anywhere replaced by anything: parsed and validated
    /// without panic; refused with the file's name, or accepted.
    #[test]
    fn a_scenario_with_any_value_replaced_never_panics(which in 0..SHIPPED.len(), pick in any::<prop::sample::Index>(), value in json_value()) {
        let mut doc: Value = serde_json::from_str(SHIPPED[which]).unwrap();
        let mut all = Vec::new();
        places(&doc, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        *at(&mut doc, &path) = value;
        if let Err(e) = syncsim::scenario::parse("fuzz.json", &doc.to_string(), &[], None) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("fuzz.json"), "{}", msg);
            prop_assert_eq!(msg.lines().count(), 1, "{}", msg);
        }
    }

    /// Arbitrary text, and shipped scenarios cut short or with bytes flipped.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}", which in 0..SHIPPED.len(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let _ = syncsim::scenario::parse("fuzz.json", &text, &[], None);
        let s = SHIPPED[which];
        let mut end = cut.index(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let _ = syncsim::scenario::parse("fuzz.json", &s[..end], &[], None);
        let mut bytes = s.as_bytes().to_vec();
        let i = flip.0.index(bytes.len());
        bytes[i] ^= flip.1;
        let _ = syncsim::scenario::parse("fuzz.json", &String::from_utf8_lossy(&bytes), &[], None);
    }

    /// `--set` overrides of any path with any value never panic.
    #[test]
    fn any_override_never_panics(path in "[a-z_]{1,8}(\\.[a-zA-Z0-9_]{1,8}){0,3}", value in "[a-zA-Z0-9{}\\[\\]\":,. -]{0,20}") {
        let set = format!("{path}={value}");
        let _ = syncsim::scenario::parse("fuzz.json", SHIPPED[0], &[set], None);
    }

    /// A sweep file of any shape never panics the loader.
    #[test]
    fn any_sweep_file_never_panics(doc in json_value(), replications in 0u32..3) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.json"), SHIPPED[0]).unwrap();
        let mut sweep = serde_json::json!({"name": "f", "scenario": "base.json", "replications": replications});
        if let Value::Object(extra) = &doc {
            for (k, v) in extra {
                sweep[k] = v.clone();
            }
        }
        let file = dir.path().join("sweep.json");
        std::fs::write(&file, sweep.to_string()).unwrap();
        let _ = syncsim::experiment::Sweep::load(&file);
    }

    /// Every wire message decodes from arbitrary bytes without panic (an error or a message).
    #[test]
    fn wire_messages_decode_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = mvds::Payload::decode(bytes.as_slice());
        let _ = mvds::Message::decode(bytes.as_slice());
        let _ = rpc::Request::decode(bytes.as_slice());
        let _ = rpc::Response::decode(bytes.as_slice());
        let _ = discovery::Envelope::decode(bytes.as_slice());
        let _ = peer::Envelope::decode(bytes.as_slice());
        // What decodes re-encodes to something that decodes to the same message.
        if let Ok(p) = mvds::Payload::decode(bytes.as_slice()) {
            prop_assert_eq!(mvds::Payload::decode(p.encode_to_vec().as_slice()).unwrap(), p);
        }
    }
}
