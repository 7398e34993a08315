//! Outputs of a run: the sync-state tables (as the seed PoC prints them, and as CSV),
//! `deliveries.csv` and `summary.json`, rendered in memory as a map from relative path to bytes,
//! then written into the run folder in one atomic swap (see [`write_run_dir`]).
//!
//! Rendering is a pure function of the plan and the run's output, so two runs with the same
//! scenario and seed render byte-identical files.

pub mod output;
mod tables;

pub use output::{OutputError, write_run_dir};
pub use tables::{table_csv, table_text};

use crate::engine::RunOutput;
use crate::metrics::Summary;
use crate::scenario::Plan;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The files of a run folder: relative path → contents, in path order.
pub type RunFiles = BTreeMap<String, Vec<u8>>;

/// Hex of the first `n` bytes of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `deliveries.csv`: one row per delivery, in the order they happened.
pub fn deliveries_csv(plan: &Plan, run: &RunOutput) -> String {
    let mut s =
        String::from("node,message,group,author,authored_tick,delivered_tick,latency_ticks\n");
    for d in &run.metrics.deliveries {
        let m = &run.messages[d.msg.idx()];
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{}",
            plan.nodes[d.node.idx()].name,
            hex(&m.id),
            plan.groups[m.group.idx()].name,
            plan.nodes[m.author.idx()].name,
            m.authored,
            d.tick,
            d.tick - m.authored
        );
    }
    s
}

/// `links.csv`: one row per link direction that carried at least one packet, in link order.
pub fn links_csv(plan: &Plan, run: &RunOutput) -> String {
    let mut s = String::from(
        "from,to,packets_sent,bytes_sent,packets_lost_link,packets_lost_offline,packets_received\n",
    );
    for (i, l) in plan.links.iter().enumerate() {
        for (dir, from, to) in [(2 * i, l.a, l.b), (2 * i + 1, l.b, l.a)] {
            let c = &run.metrics.links[dir];
            if c.sent == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                plan.nodes[from.idx()].name,
                plan.nodes[to.idx()].name,
                c.sent,
                c.bytes,
                c.lost_link,
                c.lost_offline,
                c.received
            );
        }
    }
    s
}

/// Renders every output file of a run.
pub fn render(plan: &Plan, run: &RunOutput, summary: &Summary) -> RunFiles {
    let mut files = RunFiles::new();
    let mut json = serde_json::to_vec_pretty(summary).expect("a summary always serializes");
    json.push(b'\n');
    files.insert("summary.json".into(), json);
    files.insert(
        "deliveries.csv".into(),
        deliveries_csv(plan, run).into_bytes(),
    );
    files.insert("links.csv".into(), links_csv(plan, run).into_bytes());
    if let Some(trace) = &run.trace {
        files.insert("trace.jsonl".into(), trace.clone());
    }
    let mut scenario =
        serde_json::to_vec_pretty(&plan.scenario).expect("a scenario always serializes");
    scenario.push(b'\n');
    files.insert("scenario.json".into(), scenario);
    for (i, node) in plan.nodes.iter().enumerate() {
        let name = &node.name;
        let end = &run.tables_end[i];
        files.insert(
            format!("sync_state/{name}.txt"),
            table_text(plan, run, node_id(i), end, plan.duration).into_bytes(),
        );
        files.insert(
            format!("sync_state/{name}.csv"),
            table_csv(plan, run, end).into_bytes(),
        );
        for (tick, tables) in &run.tables_at {
            files.insert(
                format!("sync_state/{name}.t{tick}.txt"),
                table_text(plan, run, node_id(i), &tables[i], *tick).into_bytes(),
            );
            files.insert(
                format!("sync_state/{name}.t{tick}.csv"),
                table_csv(plan, run, &tables[i]).into_bytes(),
            );
        }
    }
    files
}

fn node_id(i: usize) -> crate::ids::NodeId {
    crate::ids::NodeId(i as u32)
}
