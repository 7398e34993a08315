//! Outputs of a run, rendered in memory as a map from relative path to bytes, then written into
//! the run folder in one atomic swap (see [`write_run_dir`]): `summary.json`, `scenario.json`,
//! the data files (`deliveries.csv`, `links.csv`, `messages.csv`, `series.csv`,
//! `availability.csv`, `trace.jsonl`), the sync-state tables (as the seed PoC prints them, and as
//! CSV) — see [`render_data`] — then the plots and `report.html`, drawn from those files alone
//! (see [`add_pictures`]), so `sim plot` can redraw them from a finished run folder.
//!
//! `sim run` renders the same files without holding the largest in memory: the sync-state
//! tables go into the folder being made as each independent component of the run ends, rendered
//! and written by a thread of their own while the run goes on ([`crate::engine::run_streaming`],
//! [`PartFiles`]), so a run never holds all of them at once,
//! and `deliveries.csv` is streamed ([`output::Folder::stream`]), the plots then taking the
//! deliveries from the run and the report's tables from those kept ([`TableFiles::streamed`],
//! [`add_pictures_with`]); the folder it writes is byte for byte what [`render_data`] and
//! [`add_pictures`] make, on any number of threads (tested).
//!
//! Rendering is a pure function of the plan and the run's output, so two runs with the same
//! scenario and seed render byte-identical files.

pub mod data;
mod html;
pub mod output;
pub mod plots;
mod tables;
mod text;

pub use output::{OutputError, write_run_dir, write_run_dir_with};
pub use tables::{table_csv, table_text};
pub use text::MessageIds;

use crate::engine::time::Tick;
use crate::engine::{NodeTable, PartTables, RunOutput};
use crate::ids::{MsgRef, NodeId};
use crate::metrics::Summary;
use crate::scenario::Plan;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The files of a run folder: relative path → contents, in path order.
pub type RunFiles = BTreeMap<String, Vec<u8>>;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    text::push_hex(&mut s, bytes);
    s
}

/// `deliveries.csv`: one row per delivery, in the order they happened, written to `w` a few
/// dozen kilobytes at a time (a large run has millions of rows).
fn write_deliveries_csv(
    plan: &Plan,
    run: &RunOutput,
    ids: &MessageIds,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    const CHUNK: usize = 64 << 10;
    let mut s = String::with_capacity(CHUNK + 512);
    s.push_str("node,message,group,author,authored_tick,delivered_tick,latency_ticks\n");
    for d in &run.metrics.deliveries {
        let m = &run.messages[d.msg.idx()];
        for field in [
            plan.nodes[d.node.idx()].name.as_str(),
            ids.full(d.msg),
            plan.groups[m.group.idx()].name.as_str(),
            plan.nodes[m.author.idx()].name.as_str(),
        ] {
            s.push_str(field);
            s.push(',');
        }
        text::push_u64(&mut s, m.authored);
        s.push(',');
        text::push_u64(&mut s, d.tick);
        s.push(',');
        text::push_u64(&mut s, d.tick - m.authored);
        s.push('\n');
        if s.len() >= CHUNK {
            w.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    w.write_all(s.as_bytes())
}

/// [`write_deliveries_csv`] into memory.
fn deliveries_csv(plan: &Plan, run: &RunOutput, ids: &MessageIds) -> Vec<u8> {
    // About 110 bytes a row with short names.
    let mut v = Vec::with_capacity(80 + run.metrics.deliveries.len() * 110);
    write_deliveries_csv(plan, run, ids, &mut v).expect("writing to memory does not fail");
    v
}

/// `links.csv`: one row per link direction that carried at least one packet, in link order
/// (the order a finished run's metrics keep them in, [`crate::metrics::Collector::sort_links`]).
pub fn links_csv(plan: &Plan, run: &RunOutput) -> String {
    let mut s = String::from(
        "from,to,packets_sent,bytes_sent,packets_lost_link,packets_lost_offline,packets_received\n",
    );
    let m = &run.metrics;
    for (c, &(from, to)) in m.links.iter().zip(&m.link_ends) {
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
    s
}

/// `messages.csv`: one row per message, in append order.
fn messages_csv(plan: &Plan, run: &RunOutput, ids: &MessageIds) -> String {
    let mut delivered = vec![0u64; run.messages.len()];
    for d in &run.metrics.deliveries {
        let m = &run.messages[d.msg.idx()];
        if m.author != d.node
            && plan.groups[m.group.idx()]
                .final_members
                .binary_search(&d.node)
                .is_ok()
        {
            delivered[d.msg.idx()] += 1;
        }
    }
    let mut s =
        String::from("message,group,author,authored_tick,ephemeral,parents,expected,delivered\n");
    for (i, m) in run.messages.iter().enumerate() {
        let g = &plan.groups[m.group.idx()];
        let expected = g.final_members.iter().filter(|&&n| n != m.author).count();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            ids.full(MsgRef(i as u32)),
            g.name,
            plan.nodes[m.author.idx()].name,
            m.authored,
            m.ephemeral as u8,
            m.parents.len(),
            expected,
            delivered[i]
        );
    }
    s
}

/// `series.csv`: traffic over time, one row per bucket of `bucket_ticks` ticks, to the end of
/// the run: items and their entry bytes per kind, packets and their bytes (with overhead).
pub fn series_csv(plan: &Plan, run: &RunOutput) -> String {
    let m = &run.metrics;
    let mut s = String::from("tick,bucket_ticks");
    for k in crate::metrics::KIND_NAMES {
        let _ = write!(s, ",{k}_items");
    }
    for k in crate::metrics::KIND_NAMES {
        let _ = write!(s, ",{k}_bytes");
    }
    s.push_str(",packets,packet_bytes\n");
    let buckets = plan.duration.div_ceil(m.bucket_ticks);
    let empty = crate::metrics::Bucket::default();
    for i in 0..buckets {
        let b = m.series.get(i as usize).unwrap_or(&empty);
        let _ = write!(s, "{},{}", i * m.bucket_ticks, m.bucket_ticks);
        for x in b.items.iter().chain(&b.item_bytes) {
            let _ = write!(s, ",{x}");
        }
        let _ = writeln!(s, ",{},{}", b.packets, b.packet_bytes);
    }
    s
}

/// `rpc.csv`: every request sent under a cache, per node in node order then in sending order:
/// `node,target,number,sent_tick,ended_tick,outcome,rtt_ticks` (outcome `completed`,
/// `timed_out` or `pending` at the end of the run).
pub fn rpc_csv(plan: &Plan, run: &RunOutput) -> String {
    let mut s = String::from("node,target,number,sent_tick,ended_tick,outcome,rtt_ticks\n");
    for (i, r) in run.rpc.iter().enumerate() {
        let Some((_, calls)) = r else { continue };
        for c in calls {
            let (ended, outcome, rtt) = match (c.ended, c.completed) {
                (Some(e), true) => (e.to_string(), "completed", (e - c.sent).to_string()),
                (Some(e), false) => (e.to_string(), "timed_out", String::new()),
                (None, _) => (String::new(), "pending", String::new()),
            };
            let _ = writeln!(
                s,
                "{},{},{},{},{ended},{outcome},{rtt}",
                plan.nodes[i].name,
                plan.nodes[c.to.idx()].name,
                c.number,
                c.sent
            );
        }
    }
    s
}

/// `discovery.csv`: verified peers of the discovering nodes over time, sampled at the start of
/// every series bucket: `tick,mean,p10,p90` (empty without discovery).
pub fn discovery_csv(run: &RunOutput) -> String {
    let mut s = String::from("tick,mean,p10,p90\n");
    for (t, mean, p10, p90) in &run.metrics.discovery_series {
        let _ = writeln!(s, "{t},{mean},{p10},{p90}");
    }
    s
}

/// `peer_store.csv`: peers per state over all stores, sampled at every series bucket:
/// `tick,initial,connecting,connected,routed,unreachable,no_connection` (empty without stores).
pub fn peer_store_csv(run: &RunOutput) -> String {
    let mut s =
        String::from("tick,initial,connecting,connected,routed,unreachable,no_connection\n");
    for (t, c) in &run.metrics.peer_series {
        let _ = writeln!(
            s,
            "{t},{},{},{},{},{},{}",
            c[0], c[1], c[2], c[3], c[4], c[5]
        );
    }
    s
}

/// At most this many nodes get an availability timeline.
pub const AVAILABILITY_NODES: usize = 50;

/// `availability.csv`: online spans `[from, to)` per node (for runs of at most
/// [`AVAILABILITY_NODES`] nodes; exact up to 20,000 ticks, sampled beyond). The `kind` column is
/// the availability kind; a `reliability` node is online throughout but processes only a share
/// of its packets.
pub fn availability_csv(plan: &Plan) -> String {
    let mut s = String::from("node,kind,from,to\n");
    if plan.nodes.len() > AVAILABILITY_NODES {
        return s;
    }
    for n in &plan.nodes {
        let state = crate::net::AvailabilityState::new(
            n.availability.clone(),
            crate::engine::rng::stream(plan.seed, &format!("node/{}/availability", n.name)),
        );
        let kind = n.availability.kind();
        for (from, to) in crate::net::online_spans(state, plan.duration, 20_000) {
            let _ = writeln!(s, "{},{kind},{from},{to}", n.name);
        }
    }
    s
}

/// Draws the plots and `report.html` of a run from its data files (`dir` names the folder in
/// errors), adding them to `files`.
pub fn add_pictures(dir: &str, files: &mut RunFiles) -> Result<(), ReportError> {
    let data = data::RunData::from_files(dir, files)?;
    draw(data, files)
}

/// [`add_pictures`] for files rendered without their sync-state tables and deliveries
/// ([`render_data_without_tables_or_deliveries`]): the report's tables and the deliveries come
/// from the run of `tables` (the same rows as reading back its `deliveries.csv`, which `sim
/// plot` does: tested).
pub fn add_pictures_with(
    dir: &str,
    files: &mut RunFiles,
    tables: &TableFiles<'_>,
) -> Result<(), ReportError> {
    // Without tables in the folder the report shows none (as `sim plot` of it would).
    let count = if tables.plan.tables {
        tables.plan.nodes.len()
    } else {
        0
    };
    let shown = (0..count.min(data::TABLES_KEPT))
        .map(|i| (tables.plan.nodes[i].name.clone(), tables.end_text(i)))
        .collect();
    let data = data::RunData::from_files_and_tables(
        dir,
        files,
        Some((shown, count)),
        Some(tables.delivery_rows()),
    )?;
    draw(data, files)
}

/// Draws the plots and report.html of `data` into `files`.
fn draw(data: data::RunData, files: &mut RunFiles) -> Result<(), ReportError> {
    let plots = plots::render_all(&data).map_err(ReportError::Plot)?;
    let svgs: Vec<(String, String)> = plots
        .iter()
        .filter(|(p, _)| p.ends_with(".svg"))
        .map(|(p, b)| {
            let name = p
                .trim_start_matches("plots/")
                .trim_end_matches(".svg")
                .to_string();
            (name, String::from_utf8_lossy(b).into_owned())
        })
        .collect();
    files.retain(|p, _| !p.starts_with("plots/"));
    for (p, b) in plots {
        files.insert(p, b);
    }
    files.insert(
        "report.html".into(),
        html::report(&data, &svgs).into_bytes(),
    );
    Ok(())
}

/// Why the pictures of a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder's files could not be read back.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// Drawing failed.
    #[error("drawing a plot failed: {0}")]
    Plot(String),
}

/// Renders the data files of a run (everything but the plots and the HTML report).
pub fn render_data(plan: &Plan, run: &RunOutput, summary: &Summary) -> RunFiles {
    let tables = TableFiles::new(plan, run);
    let mut files = render_data_but(&tables, summary, true);
    for i in 0..plan.nodes.len() {
        files.extend(tables.of_node(i));
    }
    files
}

/// [`render_data`] of the run of `tables` without the sync-state tables (`sync_state/`), which
/// `tables` renders one node at a time (the message ids in hex are made once, there), and
/// without `deliveries.csv`, which [`TableFiles::write_deliveries`] streams to disk (a large
/// run's is hundreds of megabytes) and [`add_pictures_with`] takes from the run.
pub fn render_data_without_tables_or_deliveries(
    tables: &TableFiles<'_>,
    summary: &Summary,
) -> RunFiles {
    render_data_but(tables, summary, false)
}

/// The data files of the run of `tables` but its sync-state tables; `deliveries.csv` too if
/// `with_deliveries`.
fn render_data_but(tables: &TableFiles<'_>, summary: &Summary, with_deliveries: bool) -> RunFiles {
    let (plan, run, ids) = (tables.plan, tables.run, &tables.ids);
    let mut files = RunFiles::new();
    let mut json = serde_json::to_vec_pretty(summary).expect("a summary always serializes");
    json.push(b'\n');
    files.insert("summary.json".into(), json);
    if with_deliveries {
        files.insert("deliveries.csv".into(), deliveries_csv(plan, run, ids));
    }
    files.insert("links.csv".into(), links_csv(plan, run).into_bytes());
    files.insert("rpc.csv".into(), rpc_csv(plan, run).into_bytes());
    files.insert("discovery.csv".into(), discovery_csv(run).into_bytes());
    files.insert("peer_store.csv".into(), peer_store_csv(run).into_bytes());
    files.insert(
        "messages.csv".into(),
        messages_csv(plan, run, ids).into_bytes(),
    );
    files.insert("series.csv".into(), series_csv(plan, run).into_bytes());
    files.insert(
        "availability.csv".into(),
        availability_csv(plan).into_bytes(),
    );
    if let Some(trace) = &run.trace {
        files.insert("trace.jsonl".into(), trace.clone());
    }
    if let Some(db) = &run.peers_db {
        files.insert("peers.sqlite".into(), db.clone());
    }
    let mut scenario =
        serde_json::to_vec_pretty(&*plan.scenario).expect("a scenario always serializes");
    scenario.push(b'\n');
    files.insert("scenario.json".into(), scenario);
    files
}

/// The sync-state table files of a run, rendered one node at a time (so that a large run's
/// tables can go to disk without all of them being in memory at once), or, for a run whose
/// tables went to the folder as it ran ([`crate::engine::run_streaming`], [`part_files`]), the
/// end tables the report shows.
pub struct TableFiles<'a> {
    plan: &'a Plan,
    run: &'a RunOutput,
    ids: MessageIds,
    /// For a streamed run: the end-of-run text tables of its first [`data::TABLES_KEPT`] nodes.
    shown: Option<Vec<String>>,
}

impl<'a> TableFiles<'a> {
    /// The tables of `run`.
    pub fn new(plan: &'a Plan, run: &'a RunOutput) -> Self {
        Self {
            plan,
            run,
            ids: MessageIds::of(run),
            shown: None,
        }
    }

    /// A run whose tables were handed out as it ran: `shown` holds the end-of-run text table
    /// ([`NodeFiles::end_text`]) of each of its first [`data::TABLES_KEPT`] nodes (fewer when
    /// it has fewer nodes), in node order, for the report. Only the deliveries and the report's
    /// tables come from here then.
    pub fn streamed(plan: &'a Plan, run: &'a RunOutput, shown: Vec<String>) -> Self {
        Self {
            plan,
            run,
            ids: MessageIds::of(run),
            shown: Some(shown),
        }
    }

    /// The run.
    pub fn run(&self) -> &RunOutput {
        self.run
    }

    /// Writes `deliveries.csv` to `w`, a few dozen kilobytes at a time.
    pub fn write_deliveries(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        write_deliveries_csv(self.plan, self.run, &self.ids, w)
    }

    /// `deliveries.csv` in memory.
    pub fn deliveries(&self) -> Vec<u8> {
        deliveries_csv(self.plan, self.run, &self.ids)
    }

    /// The deliveries as the plots read them from `deliveries.csv`: node index, message index
    /// (its row in `messages.csv`, which lists messages in the run's order), append and
    /// delivery ticks.
    pub fn delivery_rows(&self) -> Vec<data::DeliveryRow> {
        self.run
            .metrics
            .deliveries
            .iter()
            .map(|d| data::DeliveryRow {
                node: d.node.0,
                message: d.msg.0,
                authored: self.run.messages[d.msg.idx()].authored,
                delivered: d.tick,
            })
            .collect()
    }

    /// The text table of node `i` at the end of the run (`sync_state/<node>.txt`); for a
    /// streamed run, only of the nodes it was given.
    pub fn end_text(&self, i: usize) -> String {
        if let Some(shown) = &self.shown {
            return shown
                .get(i)
                .cloned()
                .expect("a streamed run keeps the end tables the report shows, only");
        }
        let end = &self.run.tables_end[i];
        table_text(self.plan, &self.ids, node_id(i), end, self.plan.duration)
    }

    /// Node `i`'s files: `(path in the run folder, contents)`; none when `outputs.tables` is
    /// false (nor for a streamed run, whose tables are not here).
    pub fn of_node(&self, i: usize) -> Vec<(String, Vec<u8>)> {
        if !self.plan.tables || self.shown.is_some() {
            return Vec::new();
        }
        let at: Vec<(Tick, &NodeTable)> = self
            .run
            .tables_at
            .iter()
            .map(|(t, tables)| (*t, &tables[i]))
            .collect();
        node_files(
            self.plan,
            &self.ids,
            node_id(i),
            &self.run.tables_end[i],
            &at,
        )
        .files
    }
}

/// How many sync-state files each node of `plan` has: its table at the end and at each tick of
/// `outputs.tables_at`, as text and as CSV; none when `outputs.tables` is false.
pub fn files_per_node(plan: &Plan) -> usize {
    if !plan.tables {
        return 0;
    }
    2 * (1 + plan.tables_at.len())
}

/// One node's sync-state files.
pub struct NodeFiles {
    /// The node (a global id).
    pub node: NodeId,
    /// `(path in the run folder, contents)`: first `sync_state/<node>.txt` and `.csv` (its table
    /// at the end), then the text and CSV at each tick of `outputs.tables_at`.
    pub files: Vec<(String, Vec<u8>)>,
}

impl NodeFiles {
    /// The text table at the end of the run (`sync_state/<node>.txt`).
    pub fn end_text(&self) -> &str {
        std::str::from_utf8(&self.files[0].1).expect("a text table is UTF-8")
    }
}

/// One finished component's tables taken out of the run (see
/// [`crate::engine::run_streaming`]) with its messages' ids, owning all it needs to be rendered
/// on another thread while the run goes on.
pub struct PartFiles {
    nodes: Vec<NodeId>,
    ids: MessageIds,
    end: Vec<NodeTable>,
    at: Vec<(Tick, Vec<NodeTable>)>,
}

impl PartFiles {
    /// Takes `part`'s tables.
    pub fn of(part: PartTables<'_>) -> Self {
        Self {
            nodes: part.nodes.to_vec(),
            ids: MessageIds::of_messages(part.messages),
            end: part.end,
            at: part.at,
        }
    }

    /// The sync-state files of each of its nodes, byte for byte those that
    /// [`TableFiles::of_node`] renders from the whole run's output (tested); none when
    /// `outputs.tables` is false.
    pub fn files(&self, plan: &Plan) -> Vec<NodeFiles> {
        if !plan.tables {
            return Vec::new();
        }
        (0..self.nodes.len())
            .map(|k| {
                let at: Vec<(Tick, &NodeTable)> =
                    self.at.iter().map(|(t, tables)| (*t, &tables[k])).collect();
                node_files(plan, &self.ids, self.nodes[k], &self.end[k], &at)
            })
            .collect()
    }

    /// The end-of-run text table of each of its nodes, whatever `outputs.tables` says (for
    /// `sim run --tables`).
    pub fn end_texts(&self, plan: &Plan) -> Vec<(NodeId, String)> {
        self.nodes
            .iter()
            .zip(&self.end)
            .map(|(&node, end)| (node, table_text(plan, &self.ids, node, end, plan.duration)))
            .collect()
    }
}

/// The sync-state files of each node of one finished component: [`PartFiles::files`].
pub fn part_files(plan: &Plan, part: PartTables<'_>) -> Vec<NodeFiles> {
    PartFiles::of(part).files(plan)
}

/// `node`'s files from its table at the end, `end`, and at the ticks of `at`.
fn node_files(
    plan: &Plan,
    ids: &MessageIds,
    node: NodeId,
    end: &NodeTable,
    at: &[(Tick, &NodeTable)],
) -> NodeFiles {
    let name = &plan.nodes[node.idx()].name;
    let mut files = Vec::with_capacity(files_per_node(plan));
    files.push((
        format!("sync_state/{name}.txt"),
        table_text(plan, ids, node, end, plan.duration).into_bytes(),
    ));
    files.push((
        format!("sync_state/{name}.csv"),
        table_csv(plan, ids, end).into_bytes(),
    ));
    for &(tick, table) in at {
        files.push((
            format!("sync_state/{name}.t{tick}.txt"),
            table_text(plan, ids, node, table, tick).into_bytes(),
        ));
        files.push((
            format!("sync_state/{name}.t{tick}.csv"),
            table_csv(plan, ids, table).into_bytes(),
        ));
    }
    NodeFiles { node, files }
}

fn node_id(i: usize) -> crate::ids::NodeId {
    crate::ids::NodeId(i as u32)
}
