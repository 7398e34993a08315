//! Runs that fall apart into independent components, simulated one component at a time.
//!
//! Two nodes are *coupled* when a link joins them, when they belong to one group (as members at
//! any time, in a sharing list, or as appending nodes of its generators and explicit appends).
//! The components of that relation share nothing: no packet, message, membership change or
//! random stream crosses from one to another (every stream is named by node names and the
//! scenario's own indices, see [`super::rng`]). Each component is therefore a run of its own,
//! and simulating it alone does exactly what the whole run does to it, in the same order, while
//! its state stays small enough to live in the processor's caches: on a run of many groups this
//! is several times faster than interleaving all of them tick by tick.
//!
//! A run is split when it has more than one component and no part that reaches across the
//! whole network: no request/response flows, no peer discovery, no peer stores (with their
//! shared database and samples over all nodes), and no node that crashes. Otherwise it runs as
//! one piece, exactly as before.
//!
//! # What a split run's outputs are
//! Component `c` (components are numbered by their smallest node index) runs the plan of its
//! nodes, groups, links, appends and generators, in scenario order, with dense ids of its own.
//! The merged output is defined from the components' outputs, whatever order they ran in:
//! - counters are sums; per-node, per-link and per-bucket counters go back to their own index;
//! - messages are numbered by the tick they were appended at, then by component, then in the
//!   component's own order; deliveries are ordered by tick, then component, then the
//!   component's own order; `trace.jsonl` lines likewise;
//! - tables (at the end and at `outputs.tables_at`) are each node's own, with global ids;
//! - the fingerprint leaves out the components where nothing happened (no event). Of one
//!   component left, it is that component's own; of several, it is the [`Fingerprint`] of the
//!   words `(components left, then per component: its node count and its own fingerprint's two
//!   halves)`. A run that is not split keeps the fingerprint of its event stream, so does one
//!   whose only other components are idle nodes listed after all the others (their ids are the
//!   same in the component's plan).
//!
//! Components may run on several threads at once ([`RunOptions::threads`]): each is a run of its
//! own on one thread, and the merge does not depend on which finished first.
//!
//! With `--check-invariants`, the first violation of the first component (in component order)
//! that has one stops the run.

use super::fingerprint::Fingerprint;
use super::time::Tick;
use super::{EngineError, NodeTable, RunOptions, RunOutput};
use crate::ids::{GroupId, MsgRef, NodeId};
use crate::metrics::{Collector, Delivery};
use crate::scenario::Plan;
use crate::scenario::{PlanGroup, PlanRpc};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// One component: its own plan and where its ids come from.
pub(super) struct Part {
    /// The component's plan (ids dense within it).
    pub plan: Plan,
    /// Global id of each of its nodes (increasing).
    nodes: Vec<NodeId>,
    /// Global id of each of its groups (increasing).
    groups: Vec<GroupId>,
}

/// Union-find over node indices.
struct Components(Vec<u32>);

impl Components {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let up = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = up;
            x = up;
        }
        x
    }

    fn union(&mut self, a: NodeId, b: NodeId) {
        let (ra, rb) = (self.find(a.0), self.find(b.0));
        // The smaller root wins: a component's root is its smallest node.
        if ra < rb {
            self.0[rb as usize] = ra;
        } else if rb < ra {
            self.0[ra as usize] = rb;
        }
    }
}

/// Every node a group couples: members at any time, sharing lists, appending nodes.
fn group_nodes(plan: &Plan) -> Vec<Vec<NodeId>> {
    let mut nodes: Vec<Vec<NodeId>> = plan
        .groups
        .iter()
        .map(|g| {
            let mut v: Vec<NodeId> = g.members.clone();
            v.extend(&g.final_members);
            v.extend(g.changes.iter().map(|c| c.node));
            for (k, list) in &g.sharing {
                v.push(*k);
                v.extend(list);
            }
            v
        })
        .collect();
    for a in &plan.appends {
        nodes[a.group.idx()].push(a.node);
    }
    for g in &plan.generators {
        nodes[g.group.idx()].extend(&g.nodes);
    }
    nodes
}

/// Whether something of the run reaches across the whole network (then it is never split).
fn global_parts(plan: &Plan) -> bool {
    plan.rpc.enabled
        || plan.discovery.is_some()
        || plan.peer_store.is_some()
        || plan
            .nodes
            .iter()
            .any(|n| matches!(n.availability, crate::net::Availability::Crash { .. }))
}

/// The plans of the run's components, or `None` when the run is one piece (one component, or
/// something global, see the module docs).
pub(super) fn split(plan: &Plan) -> Option<Vec<Part>> {
    let n = plan.nodes.len();
    // A full mesh links every node with every other: one piece.
    if n < 2 || plan.mesh.is_some() || global_parts(plan) {
        return None;
    }
    let mut uf = Components((0..n as u32).collect());
    for l in &plan.links {
        uf.union(l.a, l.b);
    }
    let coupled = group_nodes(plan);
    for nodes in &coupled {
        if let Some(&first) = nodes.first() {
            for &m in &nodes[1..] {
                uf.union(first, m);
            }
        }
    }
    // A component's root is its smallest node, so it is its own root: one root, one piece.
    if (1..n).all(|i| uf.find(i as u32) == 0) {
        return None;
    }
    // Number the components by their smallest node, and each node within its component.
    let mut part_of = vec![u32::MAX; n];
    let mut local = vec![0u32; n];
    let mut parts: Vec<Part> = Vec::new();
    for i in 0..n {
        let root = uf.find(i as u32) as usize;
        if part_of[root] == u32::MAX {
            part_of[root] = parts.len() as u32;
            parts.push(Part {
                plan: empty_plan(plan),
                nodes: Vec::new(),
                groups: Vec::new(),
            });
        }
        let p = part_of[root];
        part_of[i] = p;
        let part = &mut parts[p as usize];
        local[i] = part.nodes.len() as u32;
        part.nodes.push(NodeId(i as u32));
        part.plan.nodes.push(plan.nodes[i].clone());
    }
    let to_local = |id: NodeId| NodeId(local[id.idx()]);
    // Groups: in the component of their nodes; a group that couples no node is in none (nothing
    // can refer to it).
    let mut group_local = vec![u32::MAX; plan.groups.len()];
    for (gi, g) in plan.groups.iter().enumerate() {
        let Some(&first) = coupled[gi].first() else {
            continue;
        };
        let part = &mut parts[part_of[first.idx()] as usize];
        group_local[gi] = part.groups.len() as u32;
        part.groups.push(GroupId(gi as u32));
        let map = |v: &[NodeId]| v.iter().map(|&m| to_local(m)).collect::<Vec<_>>();
        part.plan.groups.push(PlanGroup {
            name: g.name.clone(),
            id: g.id,
            members: map(&g.members),
            sharing: g
                .sharing
                .iter()
                .map(|(k, list)| (to_local(*k), map(list)))
                .collect(),
            changes: g
                .changes
                .iter()
                .map(|c| crate::scenario::PlanChange {
                    node: to_local(c.node),
                    ..c.clone()
                })
                .collect(),
            final_members: map(&g.final_members),
            discovered: g.discovered,
        });
    }
    let group_of = |g: GroupId| GroupId(group_local[g.idx()]);
    for l in &plan.links {
        let part = &mut parts[part_of[l.a.idx()] as usize];
        part.plan.links.push(crate::scenario::PlanLink {
            a: to_local(l.a),
            b: to_local(l.b),
            ..l.clone()
        });
    }
    let mut append_local = vec![0usize; plan.appends.len()];
    for (ai, a) in plan.appends.iter().enumerate() {
        let part = &mut parts[part_of[a.node.idx()] as usize];
        append_local[ai] = part.plan.appends.len();
        part.plan.appends.push(crate::scenario::PlanAppend {
            node: to_local(a.node),
            group: group_of(a.group),
            parents: a.parents.iter().map(|&p| append_local[p]).collect(),
            ..a.clone()
        });
    }
    for g in &plan.generators {
        let part = &mut parts[part_of[g.nodes[0].idx()] as usize];
        part.plan.generators.push(crate::scenario::PlanGenerator {
            nodes: g.nodes.iter().map(|&m| to_local(m)).collect(),
            group: group_of(g.group),
            ..g.clone()
        });
    }
    Some(parts)
}

/// The run's settings with no nodes, groups, links or workload.
fn empty_plan(plan: &Plan) -> Plan {
    Plan {
        scenario: plan.scenario.clone(),
        hash: plan.hash.clone(),
        seed: plan.seed,
        tick_ms: plan.tick_ms,
        duration: plan.duration,
        nodes: Vec::new(),
        groups: Vec::new(),
        links: Vec::new(),
        mesh: None,
        overhead_bytes: plan.overhead_bytes,
        appends: Vec::new(),
        generators: Vec::new(),
        rpc: PlanRpc::default(),
        peer_store: None,
        discovery: None,
        tables_at: plan.tables_at.clone(),
        tables: plan.tables,
    }
}

/// The tick to report to a progress callback when each component is at the tick of `at`: the
/// share of the run done, weighing each component by its nodes, scaled to the run's duration.
fn overall_tick(plan: &Plan, parts: &[Part], at: &[Tick]) -> Tick {
    let done: u128 = parts
        .iter()
        .zip(at)
        .map(|(p, &t)| p.nodes.len() as u128 * t as u128)
        .sum();
    (done / plan.nodes.len() as u128) as Tick
}

/// What a worker reports while it runs components.
enum Report {
    /// Component `.0` is at tick `.1`.
    At(usize, Tick),
    /// Component `.0` finished.
    Done(usize, Box<Result<RunOutput, EngineError>>),
}

/// Runs one component's plan, reporting its tick to the callback.
pub(super) type RunOne<'a> =
    dyn Fn(&Plan, &mut dyn FnMut(Tick)) -> Result<RunOutput, EngineError> + Sync + 'a;

/// Runs every component with `run_one`, on up to `options.threads` threads (each takes the next
/// component not yet taken), reporting the share done to `progress` from the calling thread.
/// The outputs come back in component order; on failure, the error of the first component (in
/// component order) that failed.
pub(super) fn run_parts(
    plan: &Plan,
    parts: &[Part],
    options: &RunOptions,
    progress: &mut dyn FnMut(Tick),
    run_one: &RunOne<'_>,
    done: &mut dyn FnMut(usize, &mut RunOutput) -> bool,
) -> Result<Vec<RunOutput>, EngineError> {
    let threads = options.threads.clamp(1, parts.len());
    let mut at: Vec<Tick> = vec![0; parts.len()];
    let mut results: Vec<Option<Result<RunOutput, EngineError>>> =
        (0..parts.len()).map(|_| None).collect();
    if threads == 1 {
        for (i, part) in parts.iter().enumerate() {
            let result = run_one(&part.plan, &mut |t| {
                at[i] = t;
                progress(overall_tick(plan, parts, &at));
            });
            at[i] = plan.duration;
            let mut result = result;
            if let Ok(out) = &mut result
                && !done(i, out)
            {
                return Err(EngineError::Stopped);
            }
            let failed = result.is_err();
            results[i] = Some(result);
            if failed {
                break;
            }
        }
    } else {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let mut stopped = false;
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<Report>();
            for _ in 0..threads {
                let (tx, next, failed) = (tx.clone(), &next, &failed);
                s.spawn(move || {
                    // Every component taken is run, so the ones never run all come after
                    // every one taken, the failed ones among them.
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= parts.len() {
                            break;
                        }
                        let result = run_one(&parts[i].plan, &mut |t| {
                            let _ = tx.send(Report::At(i, t));
                        });
                        if result.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        let _ = tx.send(Report::Done(i, Box::new(result)));
                    }
                });
            }
            drop(tx);
            for report in rx {
                match report {
                    Report::At(i, t) => {
                        at[i] = t;
                        progress(overall_tick(plan, parts, &at));
                    }
                    Report::Done(i, result) => {
                        at[i] = plan.duration;
                        let mut result = *result;
                        if !stopped
                            && let Ok(out) = &mut result
                            && !done(i, out)
                        {
                            // No component starts after this; those running finish unseen.
                            stopped = true;
                            failed.store(true, Ordering::Relaxed);
                        }
                        results[i] = Some(result);
                    }
                }
            }
        });
        if stopped {
            return Err(EngineError::Stopped);
        }
    }
    // Components are taken in order and every one taken is run: one never run comes after one
    // that failed.
    results
        .into_iter()
        .map(|r| r.expect("a component is left out only after a failed one"))
        .collect()
}

/// The fingerprint of a split run from its components' (see the module docs).
fn combined_fingerprint(parts: &[Part], outs: &[RunOutput]) -> String {
    let active: Vec<(&Part, &RunOutput)> = parts
        .iter()
        .zip(outs)
        .filter(|(_, o)| o.events > 0)
        .collect();
    if let [(_, only)] = active.as_slice() {
        return only.fingerprint.clone();
    }
    let mut fp = Fingerprint::default();
    fp.word(active.len() as u64);
    for (p, o) in active {
        let v = u128::from_str_radix(&o.fingerprint, 16).expect("a fingerprint is 32 hex digits");
        fp.word(p.nodes.len() as u64);
        fp.word((v >> 64) as u64);
        fp.word(v as u64);
    }
    fp.hex()
}

/// Puts one component's table rows into global ids.
fn globalize(rows: &mut NodeTable, part: &Part, msgs: &[MsgRef]) {
    globalize_but_messages(rows, part);
    for row in rows {
        row.msg = msgs[row.msg.idx()];
    }
}

/// Takes the tables out of component `part`'s output, for a table sink: groups and peers made
/// global, messages left the component's own (see [`super::PartTables`]).
pub(super) fn part_tables<'a>(part: &'a Part, out: &'a mut RunOutput) -> super::PartTables<'a> {
    let (mut end, mut at) = (
        std::mem::take(&mut out.tables_end),
        std::mem::take(&mut out.tables_at),
    );
    for rows in end
        .iter_mut()
        .chain(at.iter_mut().flat_map(|(_, t)| t.iter_mut()))
    {
        globalize_but_messages(rows, part);
    }
    super::PartTables {
        nodes: &part.nodes,
        messages: &out.messages,
        end,
        at,
    }
}

/// [`globalize`] but for the messages, which stay the component's own.
fn globalize_but_messages(rows: &mut NodeTable, part: &Part) {
    for row in rows {
        row.group = part.groups[row.group.idx()];
        for r in &mut row.records {
            r.set_peer(part.nodes[r.peer().idx()]);
        }
    }
}

/// `trace.jsonl` of a split run: every component's lines, ordered by tick, then component.
fn merge_traces(traces: Vec<Vec<u8>>) -> Vec<u8> {
    let tick_of = |line: &[u8]| -> Tick {
        // Every line starts with `{"tick":N,`.
        let digits = line
            .iter()
            .skip(br#"{"tick":"#.len())
            .take_while(|b| b.is_ascii_digit());
        digits.fold(0, |t, &d| t * 10 + (d - b'0') as Tick)
    };
    let mut lines: Vec<(Tick, &[u8])> = Vec::new();
    for t in &traces {
        for line in t.split_inclusive(|&b| b == b'\n') {
            lines.push((tick_of(line), line));
        }
    }
    // Stable: within a tick, component order and then each component's own order.
    lines.sort_by_key(|&(t, _)| t);
    let mut out = Vec::with_capacity(traces.iter().map(Vec::len).sum());
    for (_, line) in lines {
        out.extend_from_slice(line);
    }
    out
}

/// [`by_tick`] counts deliveries per tick when the last tick is below this many more than the
/// number of deliveries (a count per tick up to the last: 8 bytes a tick).
const DENSE_TICKS: usize = 1 << 20;

/// The deliveries of `lists`, one list per component, ordered by tick, then list, then their
/// order within the list (a stable sort by tick of their concatenation). Run lengths are few
/// (ticks up to the run's duration), so they are placed by a count per tick: two passes and no
/// comparison, instead of a merge sort of millions of deliveries. When the last tick is more
/// than `dense` ticks beyond the number of deliveries (a long run with few deliveries), the
/// concatenation is sorted instead.
fn by_tick(lists: &[&[Delivery]], dense: usize) -> Vec<Delivery> {
    let all = || lists.iter().flat_map(|l| l.iter());
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let (Some(first), Some(last)) = (all().next(), all().map(|d| d.tick).max()) else {
        return Vec::new();
    };
    let last = usize::try_from(last).unwrap_or(usize::MAX);
    if last > total.saturating_add(dense) {
        let mut v: Vec<Delivery> = all().copied().collect();
        v.sort_by_key(|d| d.tick);
        return v;
    }
    // `next[t]`: where the next delivery of tick `t` goes.
    let mut next = vec![0usize; last + 2];
    for d in all() {
        next[d.tick as usize + 1] += 1;
    }
    for t in 1..next.len() {
        next[t] += next[t - 1];
    }
    let mut out = vec![*first; total];
    for d in all() {
        let at = &mut next[d.tick as usize];
        out[*at] = *d;
        *at += 1;
    }
    out
}

/// The output of the whole run from its components' outputs, in component order.
pub(super) fn merge(plan: &Plan, parts: &[Part], mut outs: Vec<RunOutput>) -> RunOutput {
    let n = plan.nodes.len();
    let fingerprint = combined_fingerprint(parts, &outs);
    // Messages: by authored tick, then component, then the component's order.
    let mut order: Vec<(Tick, u32, u32)> = Vec::new();
    for (p, o) in outs.iter().enumerate() {
        order.extend(
            o.messages
                .iter()
                .enumerate()
                .map(|(i, m)| (m.authored, p as u32, i as u32)),
        );
    }
    order.sort_unstable();
    let mut msg_maps: Vec<Vec<MsgRef>> = outs
        .iter()
        .map(|o| vec![MsgRef(u32::MAX); o.messages.len()])
        .collect();
    for (g, &(_, p, i)) in order.iter().enumerate() {
        msg_maps[p as usize][i as usize] = MsgRef(g as u32);
    }
    let mut messages = Vec::with_capacity(order.len());
    for &(_, p, i) in &order {
        let (part, map) = (&parts[p as usize], &msg_maps[p as usize]);
        let mut m = outs[p as usize].messages[i as usize].clone();
        m.group = part.groups[m.group.idx()];
        m.author = part.nodes[m.author.idx()];
        m.parents = m.parents.iter().map(|q| map[q.idx()]).collect();
        messages.push(m);
    }

    let mut metrics = Collector::new(n, plan.duration);
    let mut sync_stats = vec![Default::default(); n];
    let mut messages_held = vec![0; n];
    let mut tables_end: Vec<NodeTable> = vec![Vec::new(); n];
    let mut tables_at: Vec<(Tick, Vec<NodeTable>)> = plan
        .tables_at
        .iter()
        .map(|&t| (t, vec![Vec::new(); n]))
        .collect();
    let mut traces = Vec::new();
    let (mut events, mut last_event_tick) = (0, None);
    let (mut sync_records, mut sync_heap_bytes, mut sync_index_bytes) = (0, 0, 0);
    for ((part, out), msgs) in parts.iter().zip(outs.iter_mut()).zip(&msg_maps) {
        events += out.events;
        last_event_tick = last_event_tick.max(out.last_event_tick);
        sync_records += out.sync_records;
        sync_heap_bytes += out.sync_heap_bytes;
        sync_index_bytes += out.sync_index_bytes;
        let m = &mut out.metrics;
        metrics.packets.add(&m.packets);
        for (to, c) in metrics.by_kind.iter_mut().zip(&m.by_kind) {
            to.add(c);
        }
        for (local, c) in m.nodes.iter().enumerate() {
            metrics.nodes[part.nodes[local].idx()] = c.clone();
        }
        for (c, &(from, to)) in m.links.iter().zip(&m.link_ends) {
            let i = metrics.add_link(part.nodes[from.idx()], part.nodes[to.idx()]);
            metrics.links[i] = c.clone();
        }
        // Global ids, in place; the lists are merged below.
        for d in &mut m.deliveries {
            d.node = part.nodes[d.node.idx()];
            d.msg = msgs[d.msg.idx()];
        }
        metrics.in_flight += m.in_flight;
        metrics.workload.add(&m.workload);
        if metrics.series.len() < m.series.len() {
            metrics.series.resize(m.series.len(), Default::default());
        }
        for (to, b) in metrics.series.iter_mut().zip(&m.series) {
            to.add(b);
        }
        for (local, s) in out.sync_stats.drain(..).enumerate() {
            sync_stats[part.nodes[local].idx()] = s;
        }
        for (local, &h) in out.messages_held.iter().enumerate() {
            messages_held[part.nodes[local].idx()] = h;
        }
        for (local, mut rows) in out.tables_end.drain(..).enumerate() {
            globalize(&mut rows, part, msgs);
            tables_end[part.nodes[local].idx()] = rows;
        }
        for ((_, global), (_, tables)) in tables_at.iter_mut().zip(out.tables_at.drain(..)) {
            for (local, mut rows) in tables.into_iter().enumerate() {
                globalize(&mut rows, part, msgs);
                global[part.nodes[local].idx()] = rows;
            }
        }
        if let Some(t) = out.trace.take() {
            traces.push(t);
        }
    }
    let lists: Vec<&[Delivery]> = outs.iter().map(|o| &o.metrics.deliveries[..]).collect();
    metrics.deliveries = by_tick(&lists, DENSE_TICKS);
    metrics.sort_links();
    let on = plan.scenario.outputs.trace;
    RunOutput {
        fingerprint,
        events,
        last_event_tick,
        messages,
        metrics,
        sync_stats,
        messages_held,
        tables_end,
        tables_at,
        trace: on.then(|| merge_traces(traces)),
        rpc: vec![None; n],
        rpc_unsent_offline: 0,
        discovery: vec![None; n],
        peer_states: None,
        peers_db: None,
        peer_syncs: 0,
        restarts: Vec::new(),
        peers_loaded: vec![None; n],
        sync_records,
        sync_heap_bytes,
        sync_index_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RunOptions, Sim, TableRow, run, run_with};
    use std::collections::BTreeMap;

    /// Three islands (groups a, b, c sharing along their own links, nodes interleaved in the
    /// node list) and a lone node: membership changes, a sharing list, Markov availability,
    /// lossy links of random latency, explicit appends with parents, chained generators, tables
    /// at two ticks and a trace.
    const ISLANDS: &str = r#"{
        "name": "islands", "seed": 7, "duration": 300,
        "templates": {"phone": {"availability": {"kind": "markov", "mean_on": 30, "mean_off": 20}}},
        "nodes": [
            {"name": "a1"}, {"name": "b1"}, {"name": "c1"}, {"name": "lone"},
            {"name": "a2", "template": "phone"}, {"name": "b2", "template": "phone"},
            {"name": "c2", "template": "phone"}, {"name": "a3", "template": "phone"},
            {"name": "b3", "template": "phone"}, {"name": "c3", "template": "phone"},
            {"name": "a4", "template": "phone"}, {"name": "b4", "template": "phone"},
            {"name": "c4", "template": "phone"}
        ],
        "groups": [
            {"name": "ga", "members": ["a1", "a2", "a3"], "sharing": {"a3": ["a1"]},
             "changes": [{"tick": 50, "node": "a4", "action": "join"},
                         {"tick": 120, "node": "a2", "action": "leave"}]},
            {"name": "gb", "members": ["b1", "b2", "b3", "b4"]},
            {"name": "gc", "members": ["c1", "c2", "c3", "c4"]}
        ],
        "links": {
            "topology": {"kind": "explicit"},
            "latency": {"kind": "uniform", "min": 1, "max": 4},
            "loss": {"kind": "bernoulli", "p": 0.1},
            "list": [
                {"between": ["a1", "a2"]}, {"between": ["a2", "a3"]}, {"between": ["a3", "a4"]},
                {"between": ["a1", "a4"]}, {"between": ["b1", "b2"]}, {"between": ["b2", "b3"]},
                {"between": ["b3", "b4"]}, {"between": ["c1", "c2"]}, {"between": ["c1", "c3"]},
                {"between": ["c1", "c4"]}, {"between": ["c2", "c3"]}
            ]
        },
        "sync": {"mode": "batch", "packing": "payload", "forwarding": true,
                 "backoff": {"kind": "exponential", "base": 2, "factor": 2, "max": 40}},
        "workload": {
            "appends": [
                {"node": "a1", "tick": 5, "group": "ga", "body": "x", "label": "x"},
                {"node": "a3", "tick": 10, "group": "ga", "body": "y", "parents": ["x"]},
                {"node": "b1", "tick": 5, "group": "gb", "body": "x"}
            ],
            "generators": [
                {"nodes": ["a1", "a2", "a3", "a4"], "group": "ga", "mean_interval": 20},
                {"nodes": ["b1", "b2", "b3", "b4"], "group": "gb", "mean_interval": 15,
                 "to": 250},
                {"nodes": ["c1", "c2", "c3", "c4"], "group": "gc", "mean_interval": 25,
                 "parents": "previous"}
            ]
        },
        "outputs": {"tables_at": [50, 150], "trace": true}
    }"#;

    fn plan(text: &str) -> Plan {
        crate::scenario::parse("islands.json", text, &[], None).unwrap()
    }

    /// The run as one piece, interleaving all components tick by tick.
    fn whole(plan: &Plan) -> RunOutput {
        let mut sim = Sim::new(plan, None);
        sim.check = true;
        sim.run(&mut |_| {});
        sim.finish().unwrap()
    }

    type Id = [u8; 32];

    /// A table with messages named by id.
    fn by_id(
        out: &RunOutput,
        table: &NodeTable,
    ) -> Vec<(Id, GroupId, Vec<crate::protocol::sync::Record>)> {
        table
            .iter()
            .map(|r| (out.messages[r.msg.idx()].id, r.group, r.records.to_vec()))
            .collect()
    }

    #[test]
    fn the_islands_split_into_four_components_with_their_own_dense_ids() {
        let plan = plan(ISLANDS);
        let parts = split(&plan).expect("four components");
        fn names(p: &Part) -> Vec<&str> {
            p.plan.nodes.iter().map(|n| n.name.as_str()).collect()
        }
        assert_eq!(parts.len(), 4);
        assert_eq!(names(&parts[0]), ["a1", "a2", "a3", "a4"]);
        assert_eq!(names(&parts[1]), ["b1", "b2", "b3", "b4"]);
        assert_eq!(names(&parts[2]), ["c1", "c2", "c3", "c4"]);
        assert_eq!(names(&parts[3]), ["lone"]);
        let a = &parts[0].plan;
        assert_eq!(a.groups.len(), 1);
        assert_eq!(a.groups[0].members, [NodeId(0), NodeId(1), NodeId(2)]);
        assert_eq!(a.groups[0].changes[0].node, NodeId(3));
        assert_eq!(a.groups[0].sharing[&NodeId(2)], [NodeId(0)]);
        assert_eq!(a.links.len(), 4);
        assert_eq!(a.appends.len(), 2);
        assert_eq!(a.appends[1].parents, [0]);
        assert_eq!(
            parts[2].plan.generators[0].index, 2,
            "keeps its stream names"
        );
        assert_eq!(parts[2].groups, [GroupId(2)]);
        assert!(parts[3].plan.groups.is_empty() && parts[3].plan.links.is_empty());
    }

    #[test]
    fn a_split_run_does_to_every_node_exactly_what_the_whole_run_does() {
        let plan = plan(ISLANDS);
        let one = whole(&plan);
        assert!(one.metrics.deliveries.len() > 50, "the islands deliver");
        assert_same_as_whole(&plan);
    }

    /// Runs `plan` split (with invariants checked) and as one piece, and checks that every
    /// output is the same but for numbering and order.
    fn assert_same_as_whole(plan: &Plan) {
        let one = whole(plan);
        let split = run_with(
            plan,
            &RunOptions {
                check_invariants: true,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(split.events, one.events);
        assert_eq!(split.last_event_tick, one.last_event_tick);
        assert_eq!(split.sync_records, one.sync_records);
        // Finding messages by id takes memory that depends on their numbering (a component
        // numbers its own densely); everything else takes the same.
        assert_eq!(
            split.sync_heap_bytes - split.sync_index_bytes,
            one.sync_heap_bytes - one.sync_index_bytes
        );
        assert_eq!(split.sync_stats, one.sync_stats);
        // Messages: the same ones, numbered by authored tick in the split run.
        let msgs = |o: &RunOutput| -> BTreeMap<Id, (GroupId, NodeId, Tick, u32, Vec<Id>)> {
            o.messages
                .iter()
                .map(|m| {
                    let parents = m.parents.iter().map(|p| o.messages[p.idx()].id).collect();
                    (
                        m.id,
                        (m.group, m.author, m.authored, m.encoded_len, parents),
                    )
                })
                .collect()
        };
        assert_eq!(msgs(&split), msgs(&one));
        assert!(split.messages.is_sorted_by_key(|m| m.authored));
        // Deliveries: the same (node, message, tick) triples, in tick order.
        let deliveries = |o: &RunOutput| -> Vec<(NodeId, Id, Tick)> {
            let mut v: Vec<_> = o
                .metrics
                .deliveries
                .iter()
                .map(|d| (d.node, o.messages[d.msg.idx()].id, d.tick))
                .collect();
            v.sort();
            v
        };
        assert_eq!(deliveries(&split), deliveries(&one));
        assert!(split.metrics.deliveries.is_sorted_by_key(|d| d.tick));
        // Counters, per node, per link direction and per bucket.
        let (s, o) = (&split.metrics, &one.metrics);
        assert_eq!(s.packets, o.packets);
        assert_eq!(s.by_kind, o.by_kind);
        assert_eq!(s.nodes, o.nodes);
        assert_eq!(s.links, o.links);
        assert_eq!(s.link_ends, o.link_ends);
        assert_eq!(s.series, o.series);
        assert_eq!(s.in_flight, o.in_flight);
        assert_eq!(s.workload, o.workload);
        // Every node's table, at the end and at each snapshot, row by row.
        for n in 0..plan.nodes.len() {
            assert_eq!(
                by_id(&split, &split.tables_end[n]),
                by_id(&one, &one.tables_end[n])
            );
            for k in 0..plan.tables_at.len() {
                assert_eq!(split.tables_at[k].0, one.tables_at[k].0);
                assert_eq!(
                    by_id(&split, &split.tables_at[k].1[n]),
                    by_id(&one, &one.tables_at[k].1[n])
                );
            }
        }
        // The trace: the same lines, in tick order.
        assert_eq!(split.trace.is_some(), one.trace.is_some());
        let lines = |o: &RunOutput| -> Vec<String> {
            let t = String::from_utf8(o.trace.clone().unwrap_or_default()).unwrap();
            t.lines().map(str::to_string).collect()
        };
        let (mut a, mut b) = (lines(&split), lines(&one));
        let ticks: Vec<u64> = a
            .iter()
            .map(|l| l[8..].split(',').next().unwrap().parse().unwrap())
            .collect();
        assert!(ticks.is_sorted());
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn the_split_fingerprint_is_fixed_by_the_components_fingerprints() {
        let plan = plan(ISLANDS);
        let split = run(&plan).unwrap();
        assert_eq!(split.fingerprint, run(&plan).unwrap().fingerprint);
        let parts = super::split(&plan).unwrap();
        let outs: Vec<RunOutput> = parts.iter().map(|p| whole(&p.plan)).collect();
        assert_eq!(split.fingerprint, combined_fingerprint(&parts, &outs));
        assert_ne!(split.fingerprint, whole(&plan).fingerprint);
        // Another seed changes some component, so the whole.
        let other = plan_with_seed(8);
        assert_ne!(run(&other).unwrap().fingerprint, split.fingerprint);
    }

    fn plan_with_seed(seed: u64) -> Plan {
        plan(&ISLANDS.replace(r#""seed": 7"#, &format!(r#""seed": {seed}"#)))
    }

    #[test]
    fn a_run_of_one_component_or_with_global_parts_is_not_split() {
        // A link joining two islands makes them one component.
        let joined = ISLANDS.replace(
            r#"{"between": ["a1", "a2"]},"#,
            r#"{"between": ["a1", "a2"]}, {"between": ["a1", "b1"]},"#,
        );
        assert_eq!(split(&plan(&joined)).unwrap().len(), 3);
        // So does a group with members on both sides, even without a link.
        let grouped = ISLANDS.replace(
            r#""members": ["c1", "c2", "c3", "c4"]"#,
            r#""members": ["c1", "c2", "c3", "c4", "lone"]"#,
        );
        assert_eq!(split(&plan(&grouped)).unwrap().len(), 3);
        let one = r#"{"name": "one", "duration": 20,
            "nodes": [{"name": "A"}, {"name": "B"}],
            "groups": [{"name": "g", "members": ["A", "B"]}]}"#;
        assert!(split(&plan(one)).is_none());
        // A run of one piece keeps the fingerprint of its event stream.
        assert_eq!(
            run(&plan(one)).unwrap().fingerprint,
            whole(&plan(one)).fingerprint
        );
        let crash = ISLANDS.replace(
            r#"{"name": "lone"}"#,
            r#"{"name": "lone", "availability": {"kind": "crash", "at": 10, "restart_after": 10}}"#,
        );
        assert!(split(&plan(&crash)).is_none());
    }

    /// Every node's tables as `run_streaming` hands them out, with each row's message given by
    /// its id: `(end, at)` per global node index, and the order nodes came in.
    #[allow(clippy::type_complexity)]
    fn streamed(
        plan: &Plan,
        threads: usize,
    ) -> (
        RunOutput,
        Vec<
            Option<(
                Vec<([u8; 32], TableRow)>,
                Vec<(Tick, Vec<([u8; 32], TableRow)>)>,
            )>,
        >,
        Vec<NodeId>,
    ) {
        let options = RunOptions {
            threads,
            ..Default::default()
        };
        let mut tables = vec![None; plan.nodes.len()];
        let mut order = Vec::new();
        let out = crate::engine::run_streaming(plan, &options, &mut |_| {}, &mut |part| {
            let with_ids = |rows: &NodeTable| {
                rows.iter()
                    .map(|r| (part.messages[r.msg.idx()].id, r.clone()))
                    .collect::<Vec<_>>()
            };
            for (k, &node) in part.nodes.iter().enumerate() {
                assert!(tables[node.idx()].is_none(), "{node:?} handed out twice");
                let at = part
                    .at
                    .iter()
                    .map(|(t, tb)| (*t, with_ids(&tb[k])))
                    .collect();
                tables[node.idx()] = Some((with_ids(&part.end[k]), at));
                order.push(node);
            }
            true
        })
        .unwrap();
        (out, tables, order)
    }

    /// `rows` (of `run_with`'s output) with each row's message given by its id.
    fn kept(out: &RunOutput, rows: &NodeTable) -> Vec<([u8; 32], TableRow)> {
        rows.iter()
            .map(|r| (out.messages[r.msg.idx()].id, r.clone()))
            .collect()
    }

    /// The rows as `kept` and `streamed` give them, but for the message numbers (the run's and
    /// the component's own): ids and everything else must agree.
    fn same_rows(a: &[([u8; 32], TableRow)], b: &[([u8; 32], TableRow)]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|((ia, ra), (ib, rb))| {
                ia == ib && ra.group == rb.group && ra.records == rb.records
            })
    }

    #[test]
    fn streamed_tables_are_the_kept_tables_each_node_once_and_nothing_else_changes() {
        for text in [
            ISLANDS.to_string(),
            // One component: handed out once, at the end.
            ISLANDS.replace(
                r#"{"between": ["a1", "a2"]},"#,
                r#"{"between": ["a1", "a2"]}, {"between": ["a1", "b1"]}, {"between": ["b1", "c1"]}, {"between": ["c1", "lone"]},"#,
            ),
        ] {
            let plan = plan(&text);
            assert_eq!(super::split(&plan).is_some(), text == ISLANDS);
            let one = run(&plan).unwrap();
            assert_eq!(one.tables_at.len(), 2);
            for threads in [1, 2] {
                let (out, tables, order) = streamed(&plan, threads);
                assert_eq!(out.fingerprint, one.fingerprint);
                assert_eq!(out.messages_held, one.messages_held);
                assert_eq!(out.metrics.deliveries, one.metrics.deliveries);
                assert!(out.tables_end.is_empty() && out.tables_at.is_empty());
                assert_eq!(order.len(), plan.nodes.len(), "every node once");
                for (n, t) in tables.iter().enumerate() {
                    let (end, at) = t.as_ref().expect("handed out");
                    assert!(same_rows(end, &kept(&one, &one.tables_end[n])), "node {n}");
                    assert_eq!(one.messages_held[n], end.len() as u64);
                    assert_eq!(at.len(), one.tables_at.len());
                    for ((t, rows), (t1, rows1)) in at.iter().zip(&one.tables_at) {
                        assert_eq!(t, t1);
                        assert!(same_rows(rows, &kept(&one, &rows1[n])), "node {n} at {t}");
                    }
                }
            }
        }
        // Something is held somewhere, so the comparison above compared rows.
        assert!(
            run(&plan(ISLANDS))
                .unwrap()
                .messages_held
                .iter()
                .sum::<u64>()
                > 10
        );
    }

    #[test]
    fn a_sink_that_says_stop_ends_the_run_before_the_next_component() {
        let plan = plan(ISLANDS);
        let components = super::split(&plan).unwrap().len();
        assert!(components >= 3);
        for threads in [1, 2] {
            let options = RunOptions {
                threads,
                ..Default::default()
            };
            let mut calls = 0;
            let err = crate::engine::run_streaming(&plan, &options, &mut |_| {}, &mut |_| {
                calls += 1;
                false
            })
            .unwrap_err();
            assert!(matches!(err, EngineError::Stopped), "{err}");
            assert_eq!(
                calls, 1,
                "{threads} threads: no component is handed out after a stop"
            );
        }
    }

    #[test]
    fn the_outputs_are_the_same_on_any_number_of_threads() {
        let plan = plan(ISLANDS);
        let on = |threads| {
            let options = RunOptions {
                threads,
                ..Default::default()
            };
            let mut ticks = Vec::new();
            let out = run_with(&plan, &options, &mut |t| ticks.push(t)).unwrap();
            (out, ticks)
        };
        let (one, _) = on(1);
        for threads in [0, 2, 3, 8] {
            let (other, _) = on(threads);
            assert_eq!(other.fingerprint, one.fingerprint, "{threads} threads");
            assert_eq!(other.metrics.deliveries, one.metrics.deliveries);
            assert_eq!(other.tables_end, one.tables_end);
            assert_eq!(other.tables_at, one.tables_at);
            assert_eq!(other.trace, one.trace);
            let ids = |o: &RunOutput| o.messages.iter().map(|m| m.id).collect::<Vec<_>>();
            assert_eq!(ids(&other), ids(&one));
        }
    }

    #[test]
    fn progress_of_a_split_run_is_the_node_weighted_share_done() {
        let plan = plan(ISLANDS);
        let parts = split(&plan).unwrap();
        // 13 nodes: components of 4, 4, 4 and 1.
        assert_eq!(overall_tick(&plan, &parts, &[0, 0, 0, 0]), 0);
        assert_eq!(overall_tick(&plan, &parts, &[300, 300, 300, 300]), 300);
        assert_eq!(overall_tick(&plan, &parts, &[300, 0, 0, 0]), 4 * 300 / 13);
        assert_eq!(
            overall_tick(&plan, &parts, &[300, 150, 0, 0]),
            (1200 + 600) / 13
        );
    }

    #[test]
    fn a_failing_component_stops_the_run_with_its_own_error() {
        let plan = plan(ISLANDS);
        let parts = split(&plan).unwrap();
        for threads in [1, 2] {
            let options = RunOptions {
                threads,
                ..Default::default()
            };
            let fails_b = |p: &Plan, _: &mut dyn FnMut(Tick)| {
                if p.nodes[0].name == "b1" || p.nodes[0].name == "c1" {
                    Err(EngineError::Invariant(format!("in {}", p.nodes[0].name)))
                } else {
                    Ok(whole(p))
                }
            };
            let err = run_parts(
                &plan,
                &parts,
                &options,
                &mut |_| {},
                &fails_b,
                &mut |_, _| true,
            )
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                "invariant violated: in b1",
                "{threads} threads"
            );
        }
    }

    mod arbitrary {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Value, json};

        /// 2 to 4 islands of 1 to 4 nodes, nodes listed in a random order; each island of two
        /// or more nodes has a group of all its nodes, a path of links plus random chords,
        /// random appends and maybe a generator; random availability, loss, packing and
        /// forwarding; a trace and a table snapshot.
        fn islands() -> impl Strategy<Value = Value> {
            (
                prop::collection::vec(1usize..=4, 2..=4),
                prop::collection::vec(any::<u8>(), 16),
                prop::collection::vec(prop::bool::ANY, 24),
                prop::collection::vec((0usize..4, 0usize..4, 0u64..200), 0..12),
                (
                    any::<u32>(),
                    0.0f64..0.3,
                    prop::bool::ANY,
                    prop::bool::ANY,
                    1u64..299,
                ),
            )
                .prop_map(
                    |(sizes, order, coin, appends, (seed, loss, payload, fwd, snap))| {
                        let name = |i: usize, j: usize| format!("i{i}n{j}");
                        let mut names: Vec<(u8, String)> = Vec::new();
                        for (i, &size) in sizes.iter().enumerate() {
                            for j in 0..size {
                                names.push((order[names.len()], name(i, j)));
                            }
                        }
                        names.sort();
                        let nodes: Vec<Value> = names
                            .iter()
                            .enumerate()
                            .map(|(k, (_, n))| match k % 3 {
                                0 => json!({"name": n}),
                                1 => json!({"name": n, "availability":
                                {"kind": "markov", "mean_on": 40, "mean_off": 20}}),
                                _ => json!({"name": n, "availability":
                                {"kind": "reliability", "p": 0.6}}),
                            })
                            .collect();
                        let (mut groups, mut links, mut generators) = (vec![], vec![], vec![]);
                        let mut k = 0;
                        for (i, &size) in sizes.iter().enumerate() {
                            if size < 2 {
                                continue;
                            }
                            let members: Vec<String> = (0..size).map(|j| name(i, j)).collect();
                            groups.push(json!({"name": format!("g{i}"), "members": members}));
                            for j in 1..size {
                                links.push(json!({"between": [name(i, j - 1), name(i, j)]}));
                            }
                            for a in 0..size {
                                for b in a + 2..size {
                                    if coin[k % coin.len()] {
                                        links.push(json!({"between": [name(i, a), name(i, b)]}));
                                    }
                                    k += 1;
                                }
                            }
                            if coin[(i + 7) % coin.len()] {
                                generators.push(json!({"nodes": members, "group": format!("g{i}"),
                                                   "mean_interval": 30}));
                            }
                        }
                        let appends: Vec<Value> = appends
                            .iter()
                            .enumerate()
                            .filter(|&(_, &(i, _, _))| sizes.get(i).is_some_and(|&s| s >= 2))
                            .map(|(a, &(i, j, tick))| {
                                json!({"node": name(i, j % sizes[i]), "tick": tick,
                                   "group": format!("g{i}"), "body": format!("m{a}")})
                            })
                            .collect();
                        json!({
                            "name": "islands", "seed": seed, "duration": 300,
                            "nodes": nodes, "groups": groups,
                            "links": {"topology": {"kind": "explicit"}, "list": links,
                                      "latency": {"kind": "uniform", "min": 1, "max": 3},
                                      "loss": {"kind": "bernoulli", "p": loss}},
                            "sync": {"packing": if payload { "payload" } else { "record" },
                                     "forwarding": fwd,
                                     "backoff": {"kind": "exponential", "base": 2, "factor": 2,
                                                 "max": 32}},
                            "workload": {"appends": appends, "generators": generators},
                            "outputs": {"trace": true, "tables_at": [snap]}
                        })
                    },
                )
        }

        proptest! {
            /// Deliveries merged by a count per tick, or by the sort when ticks are sparse, are
            /// the stable sort by tick of the components' lists one after the other.
            #[test]
            fn deliveries_by_tick_are_the_stable_sort_of_the_lists(
                lists in prop::collection::vec(
                    prop::collection::vec((0u32..50, 0u64..40), 0..30), 0..6),
                far in prop::bool::ANY,
            ) {
                let lists: Vec<Vec<Delivery>> = lists
                    .iter()
                    .enumerate()
                    .map(|(c, l)| {
                        l.iter()
                            .map(|&(i, t)| Delivery {
                                node: NodeId(c as u32),
                                msg: MsgRef(i),
                                // Far ticks: beyond the dense limit below.
                                tick: if far { t * 1_000 } else { t },
                            })
                            .collect()
                    })
                    .collect();
                let slices: Vec<&[Delivery]> = lists.iter().map(|l| &l[..]).collect();
                let mut want: Vec<Delivery> = lists.concat();
                want.sort_by_key(|d| d.tick);
                prop_assert_eq!(&by_tick(&slices, 64), &want);
                prop_assert_eq!(&by_tick(&slices, DENSE_TICKS), &want);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

            #[test]
            fn any_split_run_equals_the_whole_run(doc in islands()) {
                let plan = crate::scenario::parse("islands.json", &doc.to_string(), &[], None)
                    .unwrap();
                let islands = doc["groups"].as_array().unwrap().len()
                    + doc["nodes"].as_array().unwrap().len()
                    - doc["groups"].as_array().unwrap().iter()
                        .map(|g| g["members"].as_array().unwrap().len()).sum::<usize>();
                prop_assert_eq!(split(&plan).map(|p| p.len()), Some(islands));
                assert_same_as_whole(&plan);
                // And the same on two threads.
                let options = |threads| RunOptions { threads, ..Default::default() };
                let a = run_with(&plan, &options(1), &mut |_| {}).unwrap();
                let b = run_with(&plan, &options(2), &mut |_| {}).unwrap();
                prop_assert_eq!(a.fingerprint, b.fingerprint);
                prop_assert_eq!(a.metrics.deliveries, b.metrics.deliveries);
            }
        }
    }
}
