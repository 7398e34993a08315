//! The benchmark workloads of `sim bench` and how they are measured.
//!
//! Each workload is a scenario built in code from a fixed seed (so every machine runs the same
//! one; `sim bench NAME --write-scenario FILE` writes it out). A measurement times the engine
//! alone (`engine::run_streaming` on a validated plan, each component's sync-state tables
//! handed over as it ends, as `sim run` writes them, and dropped), not validation or output
//! files, and reports
//! simulated ticks, events and packets, their rates, the process's peak resident memory, and the
//! sync state's bytes per record.
//!
//! | name | workload |
//! |---|---|
//! | `seed_scale` | the seed PoC's batch model at its scale: 30 fully meshed nodes, node 0 always on, the others processing half the packets they receive, 100 messages each over 2000 ticks, record packing, ACK on receipt, fixed backoff of 2 ticks |
//! | `large` | 10,000 nodes in 200 groups of 50, each group sharing along its own random 8-regular graph; Markov availability, store-and-forward, payload packing, exponential backoff, 100,000 messages by Poisson traffic over one hour |
//! | `medium` | as `large` with 1,000 nodes in 20 groups and 10,000 messages (for profiling) |
//! | `soak` | 100 nodes on a random 4-regular graph with Markov availability, ephemeral messages by Poisson traffic for 10^7 ticks: resident memory sampled as the run goes, to show it follows the message table and delivery log and nothing else |
//! | `huge` | as `large` with 100,000 nodes in 2,000 groups and 200,000 messages |
//! | `sparse` | 10 nodes over 10^9 ticks with 100 messages spread across them |
//! | `mesh` | an IPv8 overlay forming in a full mesh of 10,000 nodes (2 trackers, 9,998 peers running RandomWalk to 20 verified peers and RandomChurn; Markov availability, mean 4 min online and 1 min offline; lognormal latency, 2% loss) for 2 minutes of 500 ms ticks: `scenarios/discovery_1000.json` ten times larger, without peer stores. Of its 10^8 link directions the run uses a few hundred thousand, and pays only for those |
//! | `stores` | peer stores at work: 200 nodes in a full mesh, each keeping a p2p0mq peer store of every other node (hellos, heartbeats, connection states; Markov availability, mean 5 min online and 100 s offline), synced to a SQLite database every 10 s; one group of all 200 with the `discovered` policy, so each node shares it with its store's live peers as they come and go; 40 messages over 20 minutes of 1 s ticks, uniform latency 1–3 ticks, 2% loss |

use crate::engine::rng::{self, Stream};
use crate::engine::time::Tick;
use serde_json::{Value, json};

/// The workload names.
pub const NAMES: [&str; 8] = [
    "seed_scale",
    "sparse",
    "medium",
    "large",
    "huge",
    "soak",
    "mesh",
    "stores",
];

/// The scenario of workload `name`, or `None` for an unknown name.
pub fn scenario(name: &str) -> Option<Value> {
    Some(match name {
        "seed_scale" => seed_scale(),
        "sparse" => sparse(),
        "medium" => grouped("medium", 20, 10_000),
        "soak" => soak(),
        "large" => grouped("large", 200, 100_000),
        "huge" => grouped("huge", 2_000, 200_000),
        "mesh" => mesh(),
        "stores" => stores(),
        _ => return None,
    })
}

fn seed_scale() -> Value {
    let nodes: Vec<Value> = (0..30)
        .map(|i| {
            let p = if i == 0 { 1.0 } else { 0.5 };
            json!({"name": format!("n{i}"), "availability": {"kind": "reliability", "p": p}})
        })
        .collect();
    let names: Vec<String> = (0..30).map(|i| format!("n{i}")).collect();
    // 100 messages per node, spread evenly over the 2000 ticks, staggered between nodes.
    let mut appends = Vec::new();
    for k in 0..100u64 {
        for i in 0..30u64 {
            appends.push(json!({
                "node": format!("n{i}"), "tick": k * 20 + i % 20, "group": "all",
                "body": format!("n{i} message {k}")
            }));
        }
    }
    json!({
        "name": "bench_seed_scale",
        "description": "The seed PoC's batch model at its scale (see src/bench.rs).",
        "seed": 1, "tick_ms": 1000, "duration": 2000,
        "nodes": nodes,
        "groups": [{"name": "all", "members": names}],
        "links": {"latency": {"kind": "fixed", "delay": 1}},
        "sync": {"mode": "batch", "packing": "record", "ack": "immediate",
                 "backoff": {"kind": "fixed", "interval": 2}, "forwarding": false},
        "workload": {"appends": appends}
    })
}

fn sparse() -> Value {
    let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    let appends: Vec<Value> = (0..100u64)
        .map(|k| {
            json!({"node": format!("n{}", k % 10), "tick": k * 10_000_000 + 1, "group": "all",
                   "body": format!("message {k}")})
        })
        .collect();
    json!({
        "name": "bench_sparse",
        "description": "10^9 ticks, a few hundred events (see src/bench.rs).",
        "seed": 1, "tick_ms": 1, "duration": 1_000_000_000u64,
        "nodes": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "groups": [{"name": "all", "members": names}],
        "links": {"latency": {"kind": "fixed", "delay": 5}},
        "sync": {"mode": "batch", "packing": "record", "ack": "immediate",
                 "backoff": {"kind": "fixed", "interval": 20}},
        "workload": {"appends": appends}
    })
}

fn soak() -> Value {
    json!({
        "name": "bench_soak",
        "description": "A long steady run: memory over time (see src/bench.rs).",
        "seed": 1, "tick_ms": 1000, "duration": 10_000_000u64,
        "templates": {"phone": {"availability": {"kind": "markov", "mean_on": 600, "mean_off": 300}}},
        "nodes": [{"name": "n", "template": "phone", "count": 100}],
        "groups": [{"name": "all", "members": ["@phone"]}],
        "links": {"topology": {"kind": "random_regular", "k": 4},
                  "latency": {"kind": "uniform", "min": 1, "max": 3}},
        "sync": {"mode": "batch", "packing": "payload"},
        "workload": {"generators": [{"nodes": ["@phone"], "group": "all", "mean_interval": 1000,
                                      "ephemeral": true}]}
    })
}

fn mesh() -> Value {
    json!({
        "name": "bench_mesh",
        "description": "An IPv8 overlay forming in a full mesh of 10,000 nodes (see src/bench.rs).",
        "seed": 1, "tick_ms": 500, "duration": "2min",
        "templates": {"peer": {"availability": {"kind": "markov", "mean_on": "4min",
                                                 "mean_off": "1min"}}},
        "nodes": [{"name": "tracker", "count": 2}, {"template": "peer", "count": 9_998}],
        "links": {"latency": {"kind": "lognormal", "median": "100ms", "sigma": 0.5},
                  "loss": {"kind": "bernoulli", "p": 0.02}},
        "discovery": {
            "walk_interval": "500ms", "max_peers": 30, "bootstrappers": ["tracker*"],
            "walkers": [
                {"strategy": "RandomWalk", "peers": 20,
                 "init": {"timeout": "3s", "window_size": 5, "reset_chance": 50}},
                {"strategy": "RandomChurn", "peers": -1, "init": {}}
            ]
        }
    })
}

fn stores() -> Value {
    const NODES: u64 = 200;
    let names: Vec<String> = (0..NODES).map(|i| format!("n-{i}")).collect();
    let appends: Vec<Value> = (0..40u64)
        .map(|i| {
            json!({"node": format!("n-{}", i * 7 % NODES), "tick": 10 + i * 20,
                   "group": "chat", "body": format!("m{i}")})
        })
        .collect();
    json!({
        "name": "bench_stores",
        "description": "Peer stores of 200 nodes and a group following their live peers (see src/bench.rs).",
        "seed": 3, "tick_ms": 1000, "duration": 1200,
        "templates": {"m": {"availability": {"kind": "markov", "mean_on": 300, "mean_off": 100}}},
        "nodes": [{"name": "n", "template": "m", "count": NODES}],
        "groups": [{"name": "chat", "members": names, "policy": "discovered"}],
        "links": {"latency": {"kind": "uniform", "min": 1, "max": 3},
                  "loss": {"kind": "bernoulli", "p": 0.02}},
        "workload": {"appends": appends},
        "peer_store": {}
    })
}

/// The process's current resident set size (`VmRSS` of `/proc/self/status`, Linux).
pub fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// A uniformly random `k`-regular graph on `n` nodes, as index pairs (the `random_regular`
/// topology's generator).
fn regular_graph(n: usize, k: usize, rng: &mut Stream) -> Vec<(usize, usize)> {
    crate::net::topology::random_regular(n as u32, k as u32, rng)
        .expect("an 8-regular graph on 50 nodes exists")
        .into_iter()
        .map(|(a, b)| (a.idx(), b.idx()))
        .collect()
}

/// `groups` groups of 50 nodes, each sharing along its own random 8-regular graph.
fn grouped(name: &str, groups: usize, messages: u64) -> Value {
    const SIZE: usize = 50;
    const DURATION: u64 = 3600;
    let mut rng = rng::stream(8, "bench/graphs");
    let mut links = Vec::with_capacity(groups * SIZE * 4);
    let mut group_docs = Vec::with_capacity(groups);
    let mut generators = Vec::with_capacity(groups);
    let per_node = messages as f64 / (groups * SIZE) as f64;
    for g in 0..groups {
        let members: Vec<String> = (0..SIZE).map(|i| format!("n-{}", g * SIZE + i)).collect();
        for (a, b) in regular_graph(SIZE, 8, &mut rng) {
            links.push(json!({"between": [members[a], members[b]]}));
        }
        generators.push(json!({
            "nodes": members, "group": format!("g{g}"),
            "mean_interval": DURATION as f64 / per_node, "body_bytes": {"kind": "fixed", "bytes": 200}
        }));
        group_docs.push(json!({"name": format!("g{g}"), "members": members}));
    }
    json!({
        "name": format!("bench_{name}"),
        "description": "Groups of 50 sharing along random 8-regular graphs (see src/bench.rs).",
        "seed": 1, "tick_ms": 1000, "duration": DURATION,
        "templates": {"phone": {"availability": {"kind": "markov", "mean_on": 600, "mean_off": 300}}},
        "nodes": [{"name": "n", "template": "phone", "count": groups * SIZE}],
        "groups": group_docs,
        "links": {
            "topology": {"kind": "explicit"},
            "latency": {"kind": "uniform", "min": 1, "max": 3},
            "loss": {"kind": "bernoulli", "p": 0.01},
            "list": links
        },
        "sync": {"mode": "batch", "packing": "payload", "forwarding": true,
                 "backoff": {"kind": "exponential", "base": 2, "factor": 2, "max": 600}},
        "workload": {"generators": generators}
    })
}

/// What one measured run gives.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Figures {
    /// The workload.
    pub name: String,
    /// Nodes.
    pub nodes: u64,
    /// Simulated ticks.
    pub ticks: Tick,
    /// Events processed.
    pub events: u64,
    /// Packets sent.
    pub packets: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Threads the run's independent components were simulated on (`sim bench -j`).
    pub threads: usize,
    /// Wall time of the engine run, in seconds (the fastest of `repeats` runs).
    pub seconds: f64,
    /// Runs measured (`sim bench --repeat`).
    pub repeats: usize,
    /// Median wall time of the runs, in seconds.
    pub median_seconds: f64,
    /// Events per second of wall time.
    pub events_per_second: f64,
    /// Packets per second of wall time.
    pub packets_per_second: f64,
    /// Sync records at the end of the run, over all nodes.
    pub records: u64,
    /// Heap bytes held by all sync state machines at the end, per record.
    pub bytes_per_record: Option<f64>,
    /// Peak resident memory of the process (VmHWM), in bytes, where the system reports it.
    pub peak_rss_bytes: Option<u64>,
    /// The run's fingerprint (the same on every machine).
    pub fingerprint: String,
    /// The kind of build that measured it: [`build_kind`].
    pub build: &'static str,
    /// The machine that measured it: [`machine`].
    pub machine: String,
}

/// The kind of build this binary is, for benchmark figures: `"release"` (`cargo build
/// --release`), `"release, profile-guided"` (`scripts/build-pgo`'s `target/pgo/sim`),
/// `"release, instrumented"` (its training binary, slowed by its counters) or `"debug"`
/// (unoptimised assertions on: not a speed figure).
pub fn build_kind() -> &'static str {
    build_kind_of(cfg!(debug_assertions), env!("SYNCSIM_PGO"))
}

fn build_kind_of(debug_assertions: bool, pgo: &str) -> &'static str {
    match (debug_assertions, pgo) {
        (true, _) => "debug",
        (false, "use") => "release, profile-guided",
        (false, "generate") => "release, instrumented",
        (false, _) => "release",
    }
}

/// The machine a figure was measured on, for the figure line: the processor as
/// `/proc/cpuinfo` names it (Linux; its model name, or where a virtual machine hides it, its
/// vendor, family and model), the cores this process may use, and the first core's clock in
/// MHz where it is reported; `"unknown processor"` where nothing is readable. Figures of two
/// machines are not comparable, and virtual machines of one name differ too.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    machine_of(&cpuinfo, cores)
}

fn machine_of(cpuinfo: &str, cores: usize) -> String {
    // The first processor's block: `key<tabs>: value` lines up to the first blank line.
    let field = |key: &str| {
        cpuinfo
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let processor = match (field("model name"), field("vendor_id")) {
        (Some(name), _) => name.to_string(),
        (None, Some(vendor)) => {
            let part = |key, label| field(key).map(|v| format!(" {label} {v}"));
            format!(
                "{vendor}{}{}",
                part("cpu family", "family").unwrap_or_default(),
                part("model", "model").unwrap_or_default()
            )
        }
        (None, None) => "unknown processor".to_string(),
    };
    let clock = field("cpu MHz")
        .and_then(|v| v.parse::<f64>().ok())
        .map(|mhz| format!(", {mhz:.0} MHz"))
        .unwrap_or_default();
    let s = if cores == 1 { "" } else { "s" };
    format!("{processor}, {cores} core{s}{clock}")
}

/// The process's peak resident set size (`VmHWM` of `/proc/self/status`, Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_is_a_valid_scenario_and_the_same_each_time() {
        for name in ["seed_scale", "sparse", "soak", "mesh", "stores"] {
            let doc = scenario(name).unwrap();
            assert_eq!(doc, scenario(name).unwrap());
            crate::scenario::parse(name, &doc.to_string(), &[], None).unwrap();
        }
        let mesh = crate::scenario::parse("mesh", &mesh().to_string(), &[], None).unwrap();
        assert_eq!(mesh.nodes.len(), 10_000);
        assert_eq!(mesh.link_count(), 10_000 * 9_999 / 2);
        assert!(scenario("nope").is_none());
    }

    /// The peer-store workload has what it is named for: stores on every node, a group that
    /// follows their live peers, and (over its first three minutes) stores that connect, a
    /// database that is synced, and messages that get through.
    #[test]
    fn the_stores_workload_runs_peer_stores_and_a_group_that_follows_them() {
        let mut doc = scenario("stores").unwrap();
        assert_eq!(doc, scenario("stores").unwrap());
        doc["duration"] = json!(180);
        let appends = doc["workload"]["appends"].as_array_mut().unwrap();
        appends.retain(|a| a["tick"].as_u64().unwrap() < 180);
        assert_eq!(appends.len(), 9);
        let plan = crate::scenario::parse("stores", &doc.to_string(), &[], None).unwrap();
        assert_eq!(plan.nodes.len(), 200);
        assert!(plan.peer_store.is_some() && plan.mesh.is_some());
        assert!(plan.groups.len() == 1 && plan.groups[0].discovered);
        let r = crate::execute(&plan);
        let ps = r.summary.peer_store.as_ref().expect("peer stores");
        assert!(ps.states["connected"] > 10_000, "{:?}", ps.states);
        assert!(ps.database.syncs >= 17, "{}", ps.database.syncs);
        assert!(
            r.summary.delivery.delivered > 500,
            "{:?}",
            r.summary.delivery
        );
    }

    #[test]
    fn the_build_kind_names_debug_release_and_the_profile_guided_stages() {
        assert_eq!(build_kind_of(true, "use"), "debug");
        assert_eq!(build_kind_of(true, "none"), "debug");
        assert_eq!(build_kind_of(false, "none"), "release");
        assert_eq!(build_kind_of(false, "use"), "release, profile-guided");
        assert_eq!(build_kind_of(false, "generate"), "release, instrumented");
        // This test binary itself: no profile flags in the test build.
        assert_eq!(env!("SYNCSIM_PGO"), "none");
        let expected = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        assert_eq!(build_kind(), expected);
    }

    #[test]
    fn the_machine_is_named_by_its_model_or_else_by_vendor_family_and_model() {
        let epyc = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2445.422\n\nprocessor\t: 1\nmodel name\t: Other\n";
        assert_eq!(machine_of(epyc, 2), "AMD EPYC, 2 cores, 2445 MHz");
        // A virtual machine that leaves the model name out (as some do): vendor, family, model.
        let hidden = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: \ncpu MHz\t\t: 2600.000\n";
        assert_eq!(
            machine_of(hidden, 1),
            "GenuineIntel family 6 model 143, 1 core, 2600 MHz"
        );
        // No /proc/cpuinfo (another system): still a line, without a clock.
        assert_eq!(machine_of("", 8), "unknown processor, 8 cores");
        // This machine's line names its core count.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert!(
            machine().contains(&format!(" {cores} core")),
            "{}",
            machine()
        );
    }

    #[test]
    fn the_group_graphs_are_8_regular_and_simple() {
        let mut rng = rng::stream(8, "bench/graphs");
        let edges = regular_graph(50, 8, &mut rng);
        assert_eq!(edges.len(), 200);
        let mut degree = [0; 50];
        for &(a, b) in &edges {
            assert!(a < b);
            degree[a] += 1;
            degree[b] += 1;
        }
        assert!(degree.iter().all(|&d| d == 8));
        let doc = grouped("small", 3, 300);
        let plan = crate::scenario::parse("small", &doc.to_string(), &[], None).unwrap();
        assert_eq!(plan.nodes.len(), 150);
        assert_eq!(plan.links.len(), 600);
    }
}
