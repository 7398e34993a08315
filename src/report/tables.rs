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

use super::text::{MessageIds, push_u64};
use crate::engine::NodeTable;
use crate::engine::time::Tick;
use crate::ids::NodeId;
use crate::scenario::Plan;
use std::fmt::Write as _;

const RULE: &str = "------------------------------------------------------------";

/// The text table of `node` at `tick` (message ids from `ids`).
pub fn table_text(
    plan: &Plan,
    ids: &MessageIds,
    node: NodeId,
    table: &NodeTable,
    tick: Tick,
) -> String {
    let records: usize = table.iter().map(|r| r.records.len()).sum();
    let mut s = String::with_capacity(160 + table.len() * 16 + records * 24);
    let _ = writeln!(s, "{} POV @{}", plan.nodes[node.idx()].name, tick);
    let _ = writeln!(s, "{RULE}");
    let multi_group = plan.groups.len() > 1;
    for row in table {
        if multi_group {
            s.push_str(&plan.groups[row.group.idx()].name);
            s.push('/');
        }
        s.push_str(ids.short(row.msg));
        s.push_str(" |");
        for r in &row.records {
            s.push(' ');
            s.push_str(&plan.nodes[r.peer().idx()].name);
            s.push_str(": ");
            if r.hold() {
                s.push_str("hold ");
            }
            if r.ack() {
                s.push_str("ack ");
            }
            if r.request() {
                s.push_str("req ");
            }
            s.push('@');
            push_u64(&mut s, r.send_time);
            s.push('(');
            push_u64(&mut s, r.send_count as u64);
            s.push_str(") |");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{RULE}");
    s
}

/// The CSV table: one row per record (a held message with no record gets one row with the
/// peer columns empty); message ids from `ids`.
pub fn table_csv(plan: &Plan, ids: &MessageIds, table: &NodeTable) -> String {
    const HEAD: &str = "message,group,peer,hold,ack,request,send_count,send_time\n";
    let records: usize = table.iter().map(|r| r.records.len().max(1)).sum();
    let mut s = String::with_capacity(HEAD.len() + records * 100);
    s.push_str(HEAD);
    for row in table {
        let id = ids.full(row.msg);
        let group = &plan.groups[row.group.idx()].name;
        if row.records.is_empty() {
            let _ = writeln!(s, "{id},{group},,,,,,");
        }
        for r in &row.records {
            s.push_str(id);
            s.push(',');
            s.push_str(group);
            s.push(',');
            s.push_str(&plan.nodes[r.peer().idx()].name);
            for flag in [r.hold(), r.ack(), r.request()] {
                s.push_str(if flag { ",1" } else { ",0" });
            }
            s.push(',');
            push_u64(&mut s, r.send_count as u64);
            s.push(',');
            push_u64(&mut s, r.send_time);
            s.push('\n');
        }
    }
    s
}
