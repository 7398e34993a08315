//! Criterion micro-benchmarks of the two hot paths under every run (the event queue and one sync
//! step) and of the work every packet costs whatever the protocol does. Run with `cargo bench --features micro-bench --bench micro` (figures in
//! docs/PERFORMANCE.md). Whole-run figures come from `sim bench`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use syncsim::engine::fingerprint::Fingerprint;
use syncsim::engine::queue::{EventQueue, Phase};
use syncsim::engine::rng::{self, Probability};
use syncsim::ids::{GroupId, MsgRef, NodeId};
use syncsim::net::{Direction, Latency, Link, Loss};
use syncsim::protocol::sync::{
    Backoff, Item, MessageMeta, Mode, Output, Packet, Packing, StepBuffers, SyncConfig, SyncNode,
};

/// The queue as a run uses it: a standing population of `pending` events, each pop followed by a
/// push 1 to 3 ticks later (an arrival), every 16th push 100 to 600 ticks later (a backoff).
fn event_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_queue");
    for pending in [1_000u64, 100_000] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("pop_push/{pending}_pending"), |b| {
            let mut q = EventQueue::default();
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for i in 0..pending {
                q.push(next() % 3 + 1, Phase::Arrival, i);
            }
            b.iter(|| {
                let (now, _, e) = q.pop().expect("standing population");
                let r = next();
                let later = if r % 16 == 0 {
                    100 + r % 500
                } else {
                    1 + r % 3
                };
                q.push(now + later, Phase::Arrival, black_box(e));
            });
        });
    }
    group.finish();
}

/// A node in one group with `peers` peers holding `messages` messages, every record unacked and
/// due at tick 0 (as right after a burst of appends).
fn loaded_node(packing: Packing, peers: u32, messages: u32) -> (SyncNode, Vec<MessageMeta>) {
    let config = SyncConfig {
        mode: Mode::Batch,
        packing,
        backoff: Backoff::Exponential {
            base: 2,
            factor: 2.0,
            max: 600,
            jitter: 0,
        },
        ..SyncConfig::default()
    };
    let catalog: Vec<MessageMeta> = (0..messages)
        .map(|_| MessageMeta {
            group: GroupId(0),
            ephemeral: false,
            parents: Box::new([]),
        })
        .collect();
    let mut node = SyncNode::new(config, rng::stream(1, "bench/node"));
    node.set_sharing(0, GroupId(0), (1..=peers).map(NodeId).collect());
    for m in 0..messages {
        node.append(0, MsgRef(m), &catalog);
    }
    (node, catalog)
}

/// One step sending every due record (peers x messages), and one packet of acks received.
fn sync_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync");
    for (packing, name) in [(Packing::Record, "record"), (Packing::Payload, "payload")] {
        let (peers, messages) = (8u32, 64u32);
        let (node, catalog) = loaded_node(packing, peers, messages);
        group.throughput(Throughput::Elements((peers * messages) as u64));
        group.bench_function(
            format!("step/{name}/{peers}_peers_{messages}_messages"),
            |b| {
                let mut buffers = StepBuffers::default();
                let mut out: Vec<Output> = Vec::new();
                b.iter_batched_ref(
                    || node.clone(),
                    |n| {
                        out.clear();
                        n.step_with(0, &catalog, &mut out, &mut buffers);
                        assert_eq!(out.len(), if packing == Packing::Record { 512 } else { 8 });
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    let (peers, messages) = (8u32, 64u32);
    let (node, catalog) = loaded_node(Packing::Payload, peers, messages);
    let acks = Packet::Payload((0..messages).map(|m| Item::Ack(MsgRef(m))).collect());
    group.throughput(Throughput::Elements(messages as u64));
    group.bench_function(format!("receive/payload_of_{messages}_acks"), |b| {
        let mut out: Vec<Output> = Vec::new();
        b.iter_batched_ref(
            || node.clone(),
            |n| {
                n.handle_packet(1, NodeId(3), &acks, &catalog, &mut out);
                assert!(n.record(MsgRef(0), NodeId(3)).is_some_and(|r| r.hold()));
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// The work every packet of `large` costs before any protocol logic, as the engine does it: its
/// arrival popped from the queue and folded into the fingerprint (8 words), its link's latency
/// and loss drawn (uniform 1 to 3 ticks, 1% loss: two ChaCha8 streams), its send folded in
/// (9 words) and the next arrival pushed. A standing population of 1,000 packets in flight (a
/// `large` group has a few hundred); one element is one packet sent and received. Measured three
/// ways, each adding a part: the queue alone, with the link's draws, with the fingerprint.
fn packet_floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet");
    group.throughput(Throughput::Elements(1));
    for (name, draws, folds) in [
        ("queue", false, false),
        ("queue_link", true, false),
        ("queue_link_fingerprint", true, true),
    ] {
        group.bench_function(format!("floor/{name}"), |b| {
            let names = |n: NodeId| format!("n{}", n.0);
            let mut link = Link::new(
                1,
                NodeId(0),
                NodeId(1),
                Latency::Uniform { min: 1, max: 3 },
                Loss::Bernoulli {
                    p: Probability::new(0.01),
                },
            );
            let mut direction = Direction::new(&link);
            let mut fp = Fingerprint::default();
            let mut q = EventQueue::default();
            for i in 0..1_000u64 {
                q.push(1 + i % 3, Phase::Arrival, [i; 5]);
            }
            let mut step = 0u64;
            b.iter(|| {
                let (now, _, e) = q.pop().expect("standing population");
                if folds {
                    fp.event(1, &[now, e[0], e[1], e[2], e[3], e[4], 1]);
                }
                let latency = if draws {
                    let t = direction.transmit(&mut link, &names);
                    if folds {
                        fp.event(
                            2,
                            &[now, e[0], e[1], e[2], e[3], e[4], t.latency, t.lost as u64],
                        );
                    }
                    t.latency
                } else {
                    step += 1;
                    1 + step % 3
                };
                q.push(now + latency, Phase::Arrival, black_box(e));
            });
            black_box(fp.hex());
        });
    }
    group.finish();
}

criterion_group!(benches, event_queue, sync_step, packet_floor);
criterion_main!(benches);
