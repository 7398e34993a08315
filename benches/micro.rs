//! Criterion micro-benchmarks of the two hot paths under every run: the event queue and one sync
//! step. Run with `cargo bench --features micro-bench --bench micro` (figures in
//! docs/PERFORMANCE.md). Whole-run figures come from `sim bench`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use syncsim::engine::queue::{EventQueue, Phase};
use syncsim::engine::rng;
use syncsim::ids::{GroupId, MsgRef, NodeId};
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

criterion_group!(benches, event_queue, sync_step);
criterion_main!(benches);
