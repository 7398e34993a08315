//! `trace.jsonl`: every event of a run, one JSON object per line, in processing order (written
//! when the scenario sets `outputs.trace`). Keys: `tick`, `event` (`change`, `append`, `send`,
//! `arrive`, `deliver`, `step`) and the event's fields; messages are named by the first 8 hex
//! digits of their id, items as `kind:id` (`message:3f2a9c1e`).

use super::time::Tick;
use crate::ids::NodeId;
use crate::protocol::sync::Item;
use crate::scenario::Plan;
use std::io::Write;

/// A trace being written, or nothing when tracing is off.
pub struct Trace {
    buf: Option<Vec<u8>>,
}

fn prefix(id: &[u8; 32]) -> String {
    id[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl Trace {
    /// A trace that records if `on`.
    pub fn new(on: bool) -> Self {
        Self {
            buf: on.then(Vec::new),
        }
    }

    /// Whether events are recorded.
    #[inline]
    pub fn on(&self) -> bool {
        self.buf.is_some()
    }

    /// The trace's bytes, if recorded.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        self.buf
    }

    fn line(&mut self, f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
        if let Some(buf) = &mut self.buf {
            f(buf).expect("writing to memory");
            buf.push(b'\n');
        }
    }

    /// A membership change.
    pub fn change(&mut self, plan: &Plan, now: Tick, group: usize, node: NodeId, join: bool) {
        let (g, n) = (&plan.groups[group].name, &plan.nodes[node.idx()].name);
        let action = if join { "join" } else { "leave" };
        self.line(|b| write!(b, r#"{{"tick":{now},"event":"change","group":"{g}","node":"{n}","action":"{action}"}}"#));
    }

    /// An append.
    pub fn append(&mut self, plan: &Plan, now: Tick, node: NodeId, group: usize, id: &[u8; 32]) {
        let (g, n) = (&plan.groups[group].name, &plan.nodes[node.idx()].name);
        self.line(|b| {
            let m = prefix(id);
            write!(
                b,
                r#"{{"tick":{now},"event":"append","node":"{n}","group":"{g}","message":"{m}"}}"#
            )
        });
    }

    fn items(items: &[Item], id: &dyn Fn(Item) -> [u8; 32]) -> String {
        let parts: Vec<String> = items
            .iter()
            .map(|&i| format!("\"{}:{}\"", i.kind().name(), prefix(&id(i))))
            .collect();
        format!("[{}]", parts.join(","))
    }

    /// A packet put on a link.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        plan: &Plan,
        now: Tick,
        (from, to): (NodeId, NodeId),
        items: &[Item],
        id: &dyn Fn(Item) -> [u8; 32],
        bytes: u64,
        latency: Tick,
        lost: bool,
    ) {
        if !self.on() {
            return;
        }
        let (f, t, it) = (
            &plan.nodes[from.idx()].name,
            &plan.nodes[to.idx()].name,
            Self::items(items, id),
        );
        self.line(|b| write!(b, r#"{{"tick":{now},"event":"send","from":"{f}","to":"{t}","items":{it},"bytes":{bytes},"latency":{latency},"lost":{lost}}}"#));
    }

    /// A packet reaching its receiver.
    pub fn arrive(
        &mut self,
        plan: &Plan,
        now: Tick,
        (from, to): (NodeId, NodeId),
        items: &[Item],
        id: &dyn Fn(Item) -> [u8; 32],
        processed: bool,
    ) {
        if !self.on() {
            return;
        }
        let (f, t, it) = (
            &plan.nodes[from.idx()].name,
            &plan.nodes[to.idx()].name,
            Self::items(items, id),
        );
        self.line(|b| write!(b, r#"{{"tick":{now},"event":"arrive","from":"{f}","to":"{t}","items":{it},"processed":{processed}}}"#));
    }

    /// One line for a non-sync message: `items` names it, `extra` adds fields (`,"key":value`).
    #[allow(clippy::too_many_arguments)]
    fn message_line(
        &mut self,
        plan: &Plan,
        now: Tick,
        event: &str,
        (from, to): (NodeId, NodeId),
        item: &str,
        extra: &str,
        processed: Option<bool>,
    ) {
        let (f, t) = (&plan.nodes[from.idx()].name, &plan.nodes[to.idx()].name);
        let tail = processed
            .map(|p| format!(r#","processed":{p}"#))
            .unwrap_or_default();
        self.line(|b| write!(b, r#"{{"tick":{now},"event":"{event}","from":"{f}","to":"{t}","items":["{item}"]{extra}{tail}}}"#));
    }

    /// A request/response message sent or arriving (`processed` for arrivals).
    pub fn rpc(
        &mut self,
        plan: &Plan,
        now: Tick,
        event: &str,
        (from, to): (NodeId, NodeId),
        msg: &crate::protocol::rpc::RpcMessage,
        processed: Option<bool>,
    ) {
        if !self.on() {
            return;
        }
        let (kind, value, identifier) = match *msg {
            crate::protocol::rpc::RpcMessage::Request { value, identifier } => {
                ("rpc_request", value, identifier)
            }
            crate::protocol::rpc::RpcMessage::Response { value, identifier } => {
                ("rpc_response", value, identifier)
            }
        };
        self.message_line(
            plan,
            now,
            event,
            (from, to),
            &format!("{kind}:{identifier}"),
            &format!(r#","value":{value}"#),
            processed,
        );
    }

    /// A discovery message sent or arriving (`processed` for arrivals).
    pub fn discovery(
        &mut self,
        plan: &Plan,
        now: Tick,
        event: &str,
        (from, to): (NodeId, NodeId),
        msg: &crate::protocol::discovery::DiscoveryMessage,
        processed: Option<bool>,
    ) {
        if !self.on() {
            return;
        }
        let what = format!("{msg:?}").replace('"', "'");
        self.message_line(
            plan,
            now,
            event,
            (from, to),
            "discovery",
            &format!(r#","message":"{what}""#),
            processed,
        );
    }

    /// A peer-store message sent or arriving (`processed` for arrivals).
    pub fn peer(
        &mut self,
        plan: &Plan,
        now: Tick,
        event: &str,
        (from, to): (NodeId, NodeId),
        msg: crate::protocol::peer_store::PeerMessage,
        processed: Option<bool>,
    ) {
        if !self.on() {
            return;
        }
        self.message_line(
            plan,
            now,
            event,
            (from, to),
            "peer",
            &format!(r#","message":"{msg:?}""#),
            processed,
        );
    }

    /// A delivery.
    pub fn deliver(&mut self, plan: &Plan, now: Tick, node: NodeId, id: &[u8; 32]) {
        let n = &plan.nodes[node.idx()].name;
        self.line(|b| {
            let m = prefix(id);
            write!(
                b,
                r#"{{"tick":{now},"event":"deliver","node":"{n}","message":"{m}"}}"#
            )
        });
    }

    /// A node step.
    pub fn step(&mut self, plan: &Plan, now: Tick, node: NodeId) {
        let n = &plan.nodes[node.idx()].name;
        self.line(|b| write!(b, r#"{{"tick":{now},"event":"step","node":"{n}"}}"#));
    }
}
