//! `summary.json`: the run's metrics, computed from the counters at the end of the run.

use super::Collector;
use crate::engine::RunOutput;
use crate::engine::time::Tick;
use crate::scenario::Plan;
use indexmap::IndexMap;
use serde::Serialize;

/// The simulator that wrote a summary.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SimulatorInfo {
    /// Always "syncsim".
    pub name: &'static str,
    /// The crate version.
    pub version: &'static str,
}

/// The scenario a summary is about.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScenarioInfo {
    /// The scenario's name.
    pub name: String,
    /// SHA-256 of the effective scenario (seed and description blanked).
    pub hash: String,
}

/// Delivery of messages to the members of their groups.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DeliverySummary {
    /// (node, message) pairs expected: for every message, every member of its group at the end of
    /// the run except the author.
    pub expected: u64,
    /// Expected pairs that were delivered before the end of the run.
    pub delivered: u64,
    /// delivered ÷ expected; null when nothing was expected.
    pub ratio: Option<f64>,
    /// The tick of the last expected delivery if all were delivered, else null.
    pub convergence_tick: Option<Tick>,
}

/// Percentiles (nearest rank) of a set of values; null when the set is empty.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Percentiles<T> {
    /// Median.
    pub p50: Option<T>,
    /// 90th percentile.
    pub p90: Option<T>,
    /// 99th percentile.
    pub p99: Option<T>,
    /// Maximum.
    pub max: Option<T>,
}

/// Counters of the items of one kind (in `record` packing, one item is one packet).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindSummary {
    /// Items put on links.
    pub sent: u64,
    /// Their encoded entries' bytes (without the packet overhead).
    pub bytes: u64,
    /// Lost on links plus lost at offline receivers.
    pub lost: u64,
    /// Lost by the links' loss models.
    pub lost_link: u64,
    /// Arrived at an offline (or, with `reliability`, non-processing) receiver.
    pub lost_offline: u64,
    /// Arrived and were processed.
    pub received: u64,
    /// Processed messages the receiver already held.
    pub duplicates: u64,
}

/// Traffic of the whole run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Traffic {
    /// Packets put on links (all kinds).
    pub packets_sent: u64,
    /// Bytes of those packets: encoded 2/MVDS payload size plus `links.overhead_bytes` each.
    pub bytes_sent: u64,
    /// packets_lost_link + packets_lost_offline.
    pub packets_lost: u64,
    /// Lost by the links' loss models.
    pub packets_lost_link: u64,
    /// Arrived at an offline receiver.
    pub packets_lost_offline: u64,
    /// Still on a link when the run ended.
    pub packets_in_flight: u64,
    /// packets_sent ÷ delivered (useful deliveries); null when nothing was delivered.
    pub multiplier_packets: Option<f64>,
    /// bytes_sent ÷ delivered; null when nothing was delivered.
    pub multiplier_bytes: Option<f64>,
    /// Items per kind: message, ack, offer, request, rpc_request, rpc_response.
    pub by_kind: IndexMap<&'static str, KindSummary>,
}

/// What the workload appended.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkloadSummary {
    /// Messages appended (explicit and generated; ephemeral included).
    pub appended: u64,
    /// Generated appends skipped because the node was not a member of the group then.
    pub skipped_not_member: u64,
    /// Generated appends whose id (group, tick, body) was already taken: the same message.
    pub duplicate_ids: u64,
}

/// count_to's progress at one peer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CountToSummary {
    /// The highest value a response brought (the target when done); null if none arrived.
    pub reached: Option<u32>,
    /// When it was reached.
    pub tick: Option<Tick>,
}

/// Request/response flows held in request caches, over all nodes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RpcSummary {
    /// Requests sent under a new cache (replayed copies not counted).
    pub started: u64,
    /// Responses that found their cache.
    pub completed: u64,
    /// Caches that timed out.
    pub timed_out: u64,
    /// Responses that arrived after their cache timed out.
    pub late: u64,
    /// Responses without a cache, dropped: the replay protection at work.
    pub replays_dropped: u64,
    /// Responses without a cache processed anyway (replay protection off).
    pub replays_processed: u64,
    /// Cache adds refused (no free random number, or shut down).
    pub duplicates_refused: u64,
    /// Requests answered.
    pub served: u64,
    /// Requests or responses not sent because their node was offline.
    pub unsent_offline: u64,
    /// Round trip of completed requests, in ticks.
    pub rtt_ticks: Percentiles<Tick>,
    /// count_to's two peers.
    pub count_to: IndexMap<String, CountToSummary>,
}

/// Verified peers per node: mean and percentiles.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PeerCounts {
    /// Mean over the discovering nodes.
    pub mean: f64,
    /// 10th percentile.
    pub p10: u64,
    /// 90th percentile.
    pub p90: u64,
}

/// Peer discovery over all nodes (trackers excluded from the peer counts).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DiscoverySummary {
    /// Discovering nodes (not trackers).
    pub nodes: u64,
    /// The largest target_peers of the walkers (-1: none).
    pub target_peers: i64,
    /// Verified peers per node at the end of the run.
    pub verified_peers: PeerCounts,
    /// Nodes that reached target_peers verified peers.
    pub reached_target: u64,
    /// Ticks until a node first had target_peers verified peers, over those that did.
    pub ticks_to_target: Percentiles<Tick>,
    /// Introduction requests sent.
    pub introduction_requests: u64,
    /// Introduction requests answered.
    pub introductions_answered: u64,
    /// Introduction requests left unanswered (max_peers).
    pub introductions_ignored: u64,
    /// Peers dropped by strategies (walk timeouts, churn).
    pub peers_dropped: u64,
    /// Pings sent by RandomChurn.
    pub pings_sent: u64,
    /// Messages to an address with no link (lost).
    pub unroutable: u64,
}

/// Peer stores over all nodes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PeerStoreSummary {
    /// Peers per state at the end, over all stores.
    pub states: IndexMap<&'static str, u64>,
    /// Hellos, replies and heartbeats not sent because their node was offline (or unlinked).
    pub unsent_offline: u64,
    /// The run's peer database.
    pub database: PeerDbSummary,
    /// The stores the run started from (`sim run --peers-from`), if any.
    pub started_from: Option<StartedFrom>,
    /// Crashes (availability kind `crash`) and what the stores remembered.
    pub restarts: RestartSummary,
}

/// The run's peer database, `peers.sqlite`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PeerDbSummary {
    /// The file in the run folder.
    pub file: &'static str,
    /// Ticks between syncs.
    pub sync_interval_ticks: u64,
    /// Syncs done (each one transaction over all running nodes).
    pub syncs: u64,
}

/// Stores read from an earlier run's database.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StartedFrom {
    /// The file, as given.
    pub file: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Nodes whose store was found in it.
    pub nodes_loaded: u64,
    /// Peers those stores held.
    pub peers_loaded: u64,
}

/// Crashes and restarts over all nodes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RestartSummary {
    /// Crashes.
    pub crashes: u64,
    /// Restarts (crashes whose node came back before the end).
    pub restarts: u64,
    /// Peers the restarted nodes knew when they crashed.
    pub known_before_crash: u64,
    /// Peers they reloaded from the database (what they had last synced).
    pub remembered_after_restart: u64,
    /// remembered / known (null when nothing was known).
    pub remembered_ratio: Option<f64>,
    /// Each crash, in order.
    pub each: Vec<CrashSummary>,
}

/// One crash.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CrashSummary {
    /// The node.
    pub node: String,
    /// When it crashed.
    pub crashed_at: u64,
    /// When it restarted (null: still down at the end).
    pub restarted_at: Option<u64>,
    /// Its store's last sync before the crash (null: never synced).
    pub synced_at: Option<u64>,
    /// Peers in memory at the crash.
    pub known_before: u64,
    /// Peers reloaded on restart.
    pub remembered: u64,
}

/// Names of the peer states, in `PeerState` order.
pub const PEER_STATE_NAMES: [&str; 6] = [
    "initial",
    "connecting",
    "connected",
    "routed",
    "unreachable",
    "no_connection",
];

/// Per-node figures.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeSummary {
    /// Deliveries to this node (expected: messages of its groups authored by others).
    pub delivery: DeliverySummary,
    /// Packets this node sent.
    pub packets_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Packets that reached it and were processed.
    pub packets_received: u64,
    /// Packets that reached it while offline.
    pub packets_lost_offline: u64,
    /// Messages it holds at the end (its own and delivered ones).
    pub messages_held: u64,
    /// Messages refused because the sender does not share their group with this node.
    pub messages_refused: u64,
    /// Offers ignored because the sender does not share their group with this node.
    pub offers_refused: u64,
}

/// The contents of `summary.json`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Who wrote it.
    pub simulator: SimulatorInfo,
    /// The scenario.
    pub scenario: ScenarioInfo,
    /// Root seed.
    pub seed: u64,
    /// Hash of the ordered event stream.
    pub fingerprint: String,
    /// Ticks simulated (the scenario's duration).
    pub ticks: Tick,
    /// Milliseconds per tick.
    pub tick_ms: u64,
    /// Events processed (appends, packet arrivals, node steps).
    pub events: u64,
    /// Delivery over all nodes.
    pub delivery: DeliverySummary,
    /// Latency from append to delivery, in ticks, over delivered pairs.
    pub latency_ticks: Percentiles<Tick>,
    /// The same in seconds (ticks × tick_ms ÷ 1000).
    pub latency_seconds: Percentiles<f64>,
    /// Traffic.
    pub traffic: Traffic,
    /// The workload.
    pub workload: WorkloadSummary,
    /// Request/response flows.
    pub rpc: RpcSummary,
    /// Peer discovery; null when the scenario has none.
    pub discovery: Option<DiscoverySummary>,
    /// Peer stores; null when the scenario has none.
    pub peer_store: Option<PeerStoreSummary>,
    /// Per node, in scenario order.
    pub nodes: IndexMap<String, NodeSummary>,
}

fn discovery_summary(plan: &Plan, run: &RunOutput) -> Option<DiscoverySummary> {
    let configs = plan.discovery.as_ref()?;
    let mut counts = Vec::new();
    let mut reach = Vec::new();
    let mut s = DiscoverySummary {
        nodes: 0,
        target_peers: -1,
        verified_peers: PeerCounts {
            mean: 0.0,
            p10: 0,
            p90: 0,
        },
        reached_target: 0,
        ticks_to_target: Percentiles {
            p50: None,
            p90: None,
            p99: None,
            max: None,
        },
        introduction_requests: 0,
        introductions_answered: 0,
        introductions_ignored: 0,
        peers_dropped: 0,
        pings_sent: 0,
        unroutable: run.metrics.discovery_unroutable,
    };
    for (i, d) in run.discovery.iter().enumerate() {
        let Some((st, verified, target)) = d else {
            continue;
        };
        s.introduction_requests += st.requests_sent;
        s.introductions_answered += st.requests_answered;
        s.introductions_ignored += st.requests_ignored;
        s.peers_dropped += st.peers_dropped;
        s.pings_sent += st.pings_sent;
        if configs[i].tracker {
            continue;
        }
        s.nodes += 1;
        s.target_peers = s.target_peers.max(*target);
        counts.push(*verified);
        if let Some(t) = st.reached_target {
            reach.push(t);
        }
    }
    counts.sort_unstable();
    reach.sort_unstable();
    if !counts.is_empty() {
        s.verified_peers = PeerCounts {
            mean: counts.iter().sum::<u64>() as f64 / counts.len() as f64,
            p10: percentile(&counts, 10).unwrap_or(0),
            p90: percentile(&counts, 90).unwrap_or(0),
        };
    }
    s.reached_target = reach.len() as u64;
    s.ticks_to_target = Percentiles {
        p50: percentile(&reach, 50),
        p90: percentile(&reach, 90),
        p99: percentile(&reach, 99),
        max: reach.last().copied(),
    };
    Some(s)
}

fn rpc_summary(plan: &Plan, run: &RunOutput) -> RpcSummary {
    let mut s = RpcSummary {
        started: 0,
        completed: 0,
        timed_out: 0,
        late: 0,
        replays_dropped: 0,
        replays_processed: 0,
        duplicates_refused: 0,
        served: 0,
        unsent_offline: run.rpc_unsent_offline,
        rtt_ticks: Percentiles {
            p50: None,
            p90: None,
            p99: None,
            max: None,
        },
        count_to: IndexMap::new(),
    };
    let mut rtts = Vec::new();
    for (i, r) in run.rpc.iter().enumerate() {
        let Some((st, calls)) = r else { continue };
        s.started += st.started;
        s.completed += st.completed;
        s.timed_out += st.timed_out;
        s.late += st.late;
        s.replays_dropped += st.replays_dropped;
        s.replays_processed += st.replays_processed;
        s.duplicates_refused += st.duplicates_refused;
        s.served += st.served;
        rtts.extend(
            calls
                .iter()
                .filter(|c| c.completed)
                .filter_map(|c| c.ended.map(|e| e - c.sent)),
        );
        if matches!(
            plan.rpc.flows[i],
            crate::protocol::rpc::Flow::CountTo { .. }
        ) {
            s.count_to.insert(
                plan.nodes[i].name.clone(),
                CountToSummary {
                    reached: st.reached.map(|r| r.0),
                    tick: st.reached.map(|r| r.1),
                },
            );
        }
    }
    rtts.sort_unstable();
    s.rtt_ticks = Percentiles {
        p50: percentile(&rtts, 50),
        p90: percentile(&rtts, 90),
        p99: percentile(&rtts, 99),
        max: rtts.last().copied(),
    };
    s
}

/// Nearest-rank percentile `p` (in percent) of sorted values.
pub fn percentile(sorted: &[Tick], p: usize) -> Option<Tick> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

fn delivery(expected: u64, delivered: u64, last: Option<Tick>) -> DeliverySummary {
    DeliverySummary {
        expected,
        delivered,
        ratio: (expected > 0).then(|| delivered as f64 / expected as f64),
        convergence_tick: if expected > 0 && delivered == expected {
            last
        } else {
            None
        },
    }
}

fn kind_summary(c: &super::Counters) -> KindSummary {
    KindSummary {
        sent: c.sent,
        bytes: c.bytes,
        lost: c.lost_link + c.lost_offline,
        lost_link: c.lost_link,
        lost_offline: c.lost_offline,
        received: c.received,
        duplicates: c.duplicates,
    }
}

/// Computes the summary of a finished run.
pub fn summarize(plan: &Plan, run: &RunOutput) -> Summary {
    let m: &Collector = &run.metrics;
    let n = plan.nodes.len();
    let mut expected = vec![0u64; n];
    for msg in &run.messages {
        for &member in &plan.groups[msg.group.idx()].final_members {
            if member != msg.author {
                expected[member.idx()] += 1;
            }
        }
    }
    let mut delivered = vec![0u64; n];
    let mut last = vec![None::<Tick>; n];
    let mut latencies = Vec::with_capacity(m.deliveries.len());
    for d in &m.deliveries {
        let msg = &run.messages[d.msg.idx()];
        if msg.author == d.node
            || plan.groups[msg.group.idx()]
                .final_members
                .binary_search(&d.node)
                .is_err()
        {
            continue;
        }
        delivered[d.node.idx()] += 1;
        last[d.node.idx()] = last[d.node.idx()].max(Some(d.tick));
        latencies.push(d.tick - msg.authored);
    }
    latencies.sort_unstable();
    let total_expected: u64 = expected.iter().sum();
    let total_delivered: u64 = delivered.iter().sum();
    let total_last = last.iter().copied().max().flatten();

    let tick_s = plan.tick_ms as f64 / 1000.0;
    let latency_ticks = Percentiles {
        p50: percentile(&latencies, 50),
        p90: percentile(&latencies, 90),
        p99: percentile(&latencies, 99),
        max: latencies.last().copied(),
    };
    let secs = |t: Option<Tick>| t.map(|t| t as f64 * tick_s);
    let latency_seconds = Percentiles {
        p50: secs(latency_ticks.p50),
        p90: secs(latency_ticks.p90),
        p99: secs(latency_ticks.p99),
        max: secs(latency_ticks.max),
    };

    let p = &m.packets;
    let (packets_sent, bytes_sent, lost_link, lost_offline) =
        (p.sent, p.bytes, p.lost_link, p.lost_offline);
    let per_delivery = |x: u64| (total_delivered > 0).then(|| x as f64 / total_delivered as f64);
    let traffic = Traffic {
        packets_sent,
        bytes_sent,
        packets_lost: lost_link + lost_offline,
        packets_lost_link: lost_link,
        packets_lost_offline: lost_offline,
        packets_in_flight: m.in_flight,
        multiplier_packets: per_delivery(packets_sent),
        multiplier_bytes: per_delivery(bytes_sent),
        by_kind: super::KIND_NAMES
            .iter()
            .zip(&m.by_kind)
            .map(|(&k, c)| (k, kind_summary(c)))
            .collect(),
    };

    let nodes = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let c = &m.nodes[i];
            (
                node.name.clone(),
                NodeSummary {
                    delivery: delivery(expected[i], delivered[i], last[i]),
                    packets_sent: c.packets_sent,
                    bytes_sent: c.bytes_sent,
                    packets_received: c.packets_received,
                    packets_lost_offline: c.packets_lost_offline,
                    messages_held: run.messages_held[i],
                    messages_refused: run.sync_stats[i].refused,
                    offers_refused: run.sync_stats[i].offers_refused,
                },
            )
        })
        .collect();

    Summary {
        simulator: SimulatorInfo {
            name: "syncsim",
            version: env!("CARGO_PKG_VERSION"),
        },
        scenario: ScenarioInfo {
            name: plan.name().to_string(),
            hash: plan.hash.clone(),
        },
        seed: plan.seed,
        fingerprint: run.fingerprint.clone(),
        ticks: plan.duration,
        tick_ms: plan.tick_ms,
        events: run.events,
        delivery: delivery(total_expected, total_delivered, total_last),
        latency_ticks,
        latency_seconds,
        traffic,
        rpc: rpc_summary(plan, run),
        discovery: discovery_summary(plan, run),
        peer_store: peer_store_summary(plan, run),
        workload: WorkloadSummary {
            appended: m.workload.appended,
            skipped_not_member: m.workload.skipped_not_member,
            duplicate_ids: m.workload.duplicate_ids,
        },
        nodes,
    }
}

fn peer_store_summary(plan: &Plan, run: &RunOutput) -> Option<PeerStoreSummary> {
    let ps = plan.peer_store.as_ref()?;
    let counts = run.peer_states?;
    let back: Vec<_> = run
        .restarts
        .iter()
        .filter(|r| r.restarted_at.is_some())
        .collect();
    let known: u64 = back.iter().map(|r| r.known_before).sum();
    let remembered: u64 = back.iter().map(|r| r.remembered).sum();
    Some(PeerStoreSummary {
        states: PEER_STATE_NAMES.iter().copied().zip(counts).collect(),
        unsent_offline: run.metrics.peer_unsent_offline,
        database: PeerDbSummary {
            file: "peers.sqlite",
            sync_interval_ticks: ps.sync_interval,
            syncs: run.peer_syncs,
        },
        started_from: ps.start_from.as_ref().map(|f| StartedFrom {
            file: f.file.clone(),
            sha256: f.sha256.clone(),
            nodes_loaded: run.peers_loaded.iter().flatten().count() as u64,
            peers_loaded: run.peers_loaded.iter().flatten().sum(),
        }),
        restarts: RestartSummary {
            crashes: run.restarts.len() as u64,
            restarts: back.len() as u64,
            known_before_crash: known,
            remembered_after_restart: remembered,
            remembered_ratio: (known > 0).then(|| remembered as f64 / known as f64),
            each: run
                .restarts
                .iter()
                .map(|r| CrashSummary {
                    node: plan.nodes[r.node.idx()].name.clone(),
                    crashed_at: r.crashed_at,
                    restarted_at: r.restarted_at,
                    synced_at: r.synced_at,
                    known_before: r.known_before,
                    remembered: r.remembered,
                })
                .collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Tick> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 99), Some(10));
        assert_eq!(percentile(&[7], 1), Some(7));
        assert_eq!(percentile(&[], 50), None);
        let v: Vec<Tick> = (1..=200).collect();
        assert_eq!(percentile(&v, 99), Some(198));
    }

    #[test]
    fn ratio_and_convergence_need_everything_delivered() {
        let d = delivery(4, 3, Some(9));
        assert_eq!(d.ratio, Some(0.75));
        assert_eq!(d.convergence_tick, None);
        let d = delivery(4, 4, Some(9));
        assert_eq!(d.convergence_tick, Some(9));
        let d = delivery(0, 0, None);
        assert_eq!((d.ratio, d.convergence_tick), (None, None));
    }
}
