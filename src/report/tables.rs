//! Sync-state tables, as the seed PoC's `print_sync_state` prints them:
//!
//! ```text
//! A POV @40
//! ------------------------------------------------------------
//! 3f2a9c1e | B: hold @5(2) | C: hold @3(1) |
//! ------------------------------------------------------------
//! ```
//!
//! One row per message the node holds, in the order it got them: the first 8 hex digits of the
//! message id (the seed prints 4), then per peer the flags (`hold`, `ack`, `req`), `@send_time`
//! and `(send_count)`. When the scenario has more than one group, the id is prefixed with the
//! group name (`chat/3f2a9c1e`). The CSV form has one row per record with the full id.

use crate::engine::time::Tick;
use crate::engine::{NodeTable, RunOutput};
use crate::ids::NodeId;
use crate::scenario::Plan;
use std::fmt::Write as _;

const RULE: &str = "------------------------------------------------------------";

/// The text table of `node` at `tick`.
pub fn table_text(
    plan: &Plan,
    run: &RunOutput,
    node: NodeId,
    table: &NodeTable,
    tick: Tick,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} POV @{}", plan.nodes[node.idx()].name, tick);
    let _ = writeln!(s, "{RULE}");
    let multi_group = plan.groups.len() > 1;
    for row in table {
        let id = super::hex(&run.messages[row.msg.idx()].id[..4]);
        if multi_group {
            let _ = write!(s, "{}/", plan.groups[row.group.idx()].name);
        }
        let _ = write!(s, "{id} |");
        for r in &row.records {
            let _ = write!(s, " {}: ", plan.nodes[r.peer.idx()].name);
            if r.hold {
                s.push_str("hold ");
            }
            if r.ack {
                s.push_str("ack ");
            }
            if r.request {
                s.push_str("req ");
            }
            let _ = write!(s, "@{}({}) |", r.send_time, r.send_count);
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{RULE}");
    s
}

/// The CSV table: one row per record (a held message with no record gets one row with the
/// peer columns empty).
pub fn table_csv(plan: &Plan, run: &RunOutput, table: &NodeTable) -> String {
    let mut s = String::from("message,group,peer,hold,ack,request,send_count,send_time\n");
    for row in table {
        let id = super::hex(&run.messages[row.msg.idx()].id);
        let group = &plan.groups[row.group.idx()].name;
        if row.records.is_empty() {
            let _ = writeln!(s, "{id},{group},,,,,,");
        }
        for r in &row.records {
            let _ = writeln!(
                s,
                "{id},{group},{},{},{},{},{},{}",
                plan.nodes[r.peer.idx()].name,
                r.hold as u8,
                r.ack as u8,
                r.request as u8,
                r.send_count,
                r.send_time
            );
        }
    }
    s
}
