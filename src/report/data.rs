//! A finished run as the plots and the HTML report see it: read back from the run folder's
//! files (summary.json, scenario.json, deliveries.csv, messages.csv, series.csv,
//! availability.csv, sync_state/*.txt), never from the engine. `sim run` and `sim plot` both go
//! through this, so redrawing a run folder gives the same pictures.

use super::RunFiles;
use crate::scenario::Plan;
use serde_json::Value;
use std::collections::HashMap;

/// Why a run folder could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file the report needs is missing.
    #[error("{dir}: not a complete run folder: {file} is missing")]
    Missing { dir: String, file: String },
    /// A file is not what the simulator writes.
    #[error("{dir}/{file}:{line}: {msg}")]
    Corrupt {
        dir: String,
        file: String,
        line: usize,
        msg: String,
    },
    /// The scenario stored with the run does not load.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::InputError),
}

/// One delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Receiving node: its index in the plan's nodes.
    pub node: u32,
    /// The message: its index in [`RunData::messages`].
    pub message: u32,
    /// Append tick.
    pub authored: u64,
    /// Delivery tick.
    pub delivered: u64,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    /// Id (hex).
    pub id: String,
    /// Group name.
    pub group: String,
    /// Author's name.
    pub author: String,
    /// Append tick.
    pub authored: u64,
    /// Deliveries expected for it.
    pub expected: u64,
}

/// One bucket of the traffic series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesRow {
    /// First tick of the bucket.
    pub tick: u64,
    /// Ticks per bucket.
    pub bucket_ticks: u64,
    /// Items per kind (as `metrics::KIND_NAMES`).
    pub items: [u64; crate::metrics::KINDS],
    /// Entry bytes per kind.
    pub bytes: [u64; crate::metrics::KINDS],
    /// Packets.
    pub packets: u64,
    /// Packet bytes (with overhead).
    pub packet_bytes: u64,
}

/// One request of a request/response flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcRow {
    /// The requesting node.
    pub node: String,
    /// When it ended (response or timeout).
    pub ended: Option<u64>,
    /// `completed`, `timed_out` or `pending`.
    pub outcome: String,
    /// Round trip, for completed requests.
    pub rtt: Option<u64>,
}

/// Availability of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailabilityRow {
    /// Node name.
    pub node: String,
    /// Availability kind.
    pub kind: String,
    /// Online spans `[from, to)`.
    pub spans: Vec<(u64, u64)>,
}

/// A run, read back from its files.
pub struct RunData {
    /// The run folder (for messages).
    pub dir: String,
    /// The plan of the stored effective scenario.
    pub plan: Plan,
    /// summary.json.
    pub summary: Value,
    /// deliveries.csv.
    pub deliveries: Vec<DeliveryRow>,
    /// messages.csv.
    pub messages: Vec<MessageRow>,
    /// series.csv.
    pub series: Vec<SeriesRow>,
    /// rpc.csv.
    pub rpc: Vec<RpcRow>,
    /// discovery.csv: `(tick, mean, p10, p90)`.
    pub discovery: Vec<(u64, f64, u64, u64)>,
    /// peer_store.csv: `(tick, counts per state)`.
    pub peer_states: Vec<(u64, [u64; 6])>,
    /// availability.csv, in node order.
    pub availability: Vec<AvailabilityRow>,
    /// The final sync-state tables, `(node, text)`, of the first [`TABLES_KEPT`] nodes in node
    /// order (the report shows no more).
    pub tables: Vec<(String, String)>,
    /// How many nodes have a sync-state table (all of them).
    pub table_count: usize,
}

/// How many nodes' sync-state tables [`RunData`] keeps: those the report shows.
pub const TABLES_KEPT: usize = super::html::HTML_NODES;

struct Reader<'a> {
    dir: &'a str,
    files: &'a RunFiles,
}

/// The most fields a row of any of the files read here has (series.csv's).
const MAX_FIELDS: usize = 2 + 2 * crate::metrics::KINDS + 2;

/// One CSV row's fields, borrowed from the file's text (no allocation per row: a run's
/// deliveries.csv has millions).
struct Row<'a> {
    fields: [&'a str; MAX_FIELDS],
    len: usize,
}

impl<'a> std::ops::Deref for Row<'a> {
    type Target = [&'a str];
    fn deref(&self) -> &[&'a str] {
        &self.fields[..self.len]
    }
}

impl<'a> Reader<'a> {
    fn text(&self, file: &str) -> Result<&'a str, DataError> {
        let bytes = self.files.get(file).ok_or_else(|| DataError::Missing {
            dir: self.dir.into(),
            file: file.into(),
        })?;
        std::str::from_utf8(bytes).map_err(|_| self.corrupt(file, 1, "not UTF-8 text".into()))
    }

    fn corrupt(&self, file: &str, line: usize, msg: String) -> DataError {
        DataError::Corrupt {
            dir: self.dir.into(),
            file: file.into(),
            line,
            msg,
        }
    }

    /// The rows of a CSV file, checked against its header: `(line number, fields)`, read one
    /// at a time as the caller goes (a row with the wrong number of fields is an error there).
    fn csv(
        &self,
        file: &'a str,
        header: &str,
    ) -> Result<impl Iterator<Item = Result<(usize, Row<'a>), DataError>> + use<'a, '_>, DataError>
    {
        let text = self.text(file)?;
        let mut lines = text.lines();
        match lines.next() {
            Some(h) if h == header => {}
            _ => return Err(self.corrupt(file, 1, format!("expected the header {header:?}"))),
        }
        let n = header.split(',').count();
        assert!(
            n <= MAX_FIELDS,
            "{file}: a header of more than {MAX_FIELDS} fields"
        );
        Ok(lines.enumerate().map(move |(i, l)| {
            let mut row = Row {
                fields: [""; MAX_FIELDS],
                len: 0,
            };
            for field in l.split(',') {
                if row.len < n {
                    row.fields[row.len] = field;
                }
                row.len += 1;
            }
            if row.len != n {
                let got = row.len;
                return Err(self.corrupt(file, i + 2, format!("expected {n} fields, got {got}")));
            }
            Ok((i + 2, row))
        }))
    }

    fn num(&self, file: &str, line: usize, field: &str) -> Result<u64, DataError> {
        field.parse().map_err(|_| {
            self.corrupt(
                file,
                line,
                format!("expected a whole number, got {field:?}"),
            )
        })
    }
}

impl RunData {
    /// Reads a run back from its files; `dir` names the folder in errors.
    pub fn from_files(dir: &str, files: &RunFiles) -> Result<Self, DataError> {
        Self::from_files_and_tables(dir, files, None, None)
    }

    /// [`RunData::from_files`] where the sync-state tables are not among `files` but given:
    /// the first [`TABLES_KEPT`] nodes' end tables `(node, text)` and how many nodes have one;
    /// and the same for the deliveries. With `None`, they are read from `files`, which must
    /// then hold every node's table and `deliveries.csv`.
    pub fn from_files_and_tables(
        dir: &str,
        files: &RunFiles,
        tables: Option<(Vec<(String, String)>, usize)>,
        deliveries: Option<Vec<DeliveryRow>>,
    ) -> Result<Self, DataError> {
        let r = Reader { dir, files };
        let summary: Value = serde_json::from_str(r.text("summary.json")?)
            .map_err(|e| r.corrupt("summary.json", e.line(), e.to_string()))?;
        let plan = crate::scenario::parse(
            &format!("{dir}/scenario.json"),
            r.text("scenario.json")?,
            &[],
            None,
        )?;

        let f = "messages.csv";
        let mut messages = Vec::new();
        for row in r.csv(
            f,
            "message,group,author,authored_tick,ephemeral,parents,expected,delivered",
        )? {
            let (line, row) = row?;
            messages.push(MessageRow {
                id: row[0].to_string(),
                group: row[1].to_string(),
                author: row[2].to_string(),
                authored: r.num(f, line, row[3])?,
                expected: r.num(f, line, row[6])?,
            });
        }
        let deliveries = match deliveries {
            Some(given) => given,
            None => Self::read_deliveries(&r, &plan, &messages)?,
        };
        let f = "series.csv";
        let mut series = Vec::new();
        let mut header = String::from("tick,bucket_ticks");
        for k in crate::metrics::KIND_NAMES {
            header.push_str(&format!(",{k}_items"));
        }
        for k in crate::metrics::KIND_NAMES {
            header.push_str(&format!(",{k}_bytes"));
        }
        header.push_str(",packets,packet_bytes");
        const K: usize = crate::metrics::KINDS;
        for row in r.csv(f, &header)? {
            let (line, row) = row?;
            let n: Vec<u64> = row
                .iter()
                .map(|x| r.num(f, line, x))
                .collect::<Result<_, _>>()?;
            series.push(SeriesRow {
                tick: n[0],
                bucket_ticks: n[1],
                items: n[2..2 + K].try_into().expect("K fields"),
                bytes: n[2 + K..2 + 2 * K].try_into().expect("K fields"),
                packets: n[2 + 2 * K],
                packet_bytes: n[3 + 2 * K],
            });
        }
        let f = "rpc.csv";
        let mut rpc = Vec::new();
        for row in r.csv(
            f,
            "node,target,number,sent_tick,ended_tick,outcome,rtt_ticks",
        )? {
            let (line, row) = row?;
            let opt = |x: &str| {
                if x.is_empty() {
                    Ok(None)
                } else {
                    r.num(f, line, x).map(Some)
                }
            };
            rpc.push(RpcRow {
                node: row[0].to_string(),
                ended: opt(row[4])?,
                outcome: row[5].to_string(),
                rtt: opt(row[6])?,
            });
        }
        let f = "discovery.csv";
        let mut discovery = Vec::new();
        for row in r.csv(f, "tick,mean,p10,p90")? {
            let (line, row) = row?;
            let mean: f64 = row[1]
                .parse()
                .map_err(|_| r.corrupt(f, line, format!("expected a number, got {:?}", row[1])))?;
            discovery.push((
                r.num(f, line, row[0])?,
                mean,
                r.num(f, line, row[2])?,
                r.num(f, line, row[3])?,
            ));
        }
        let f = "peer_store.csv";
        let mut peer_states = Vec::new();
        for row in r.csv(
            f,
            "tick,initial,connecting,connected,routed,unreachable,no_connection",
        )? {
            let (line, row) = row?;
            let n: Vec<u64> = row
                .iter()
                .map(|x| r.num(f, line, x))
                .collect::<Result<_, _>>()?;
            peer_states.push((n[0], [n[1], n[2], n[3], n[4], n[5], n[6]]));
        }
        let f = "availability.csv";
        let mut availability: Vec<AvailabilityRow> = Vec::new();
        for row in r.csv(f, "node,kind,from,to")? {
            let (line, row) = row?;
            let span = (r.num(f, line, row[2])?, r.num(f, line, row[3])?);
            match availability.last_mut() {
                Some(a) if a.node == row[0] => a.spans.push(span),
                _ => availability.push(AvailabilityRow {
                    node: row[0].to_string(),
                    kind: row[1].to_string(),
                    spans: vec![span],
                }),
            }
        }
        let (tables, table_count) = match tables {
            Some(given) => given,
            // A run made without tables has none to read.
            None if !plan.tables => (Vec::new(), 0),
            None => {
                // Every node's table must be there; the report shows the first few.
                let mut tables = Vec::new();
                for n in &plan.nodes {
                    let file = format!("sync_state/{}.txt", n.name);
                    let text = r.text(&file)?;
                    if tables.len() < TABLES_KEPT {
                        tables.push((n.name.clone(), text.to_string()));
                    }
                }
                (tables, plan.nodes.len())
            }
        };
        Ok(Self {
            dir: dir.into(),
            plan,
            summary,
            deliveries,
            messages,
            series,
            rpc,
            discovery,
            peer_states,
            availability,
            tables,
            table_count,
        })
    }

    /// The rows of `deliveries.csv`, each naming a node of `plan` and a message of `messages`.
    fn read_deliveries(
        r: &Reader<'_>,
        plan: &Plan,
        messages: &[MessageRow],
    ) -> Result<Vec<DeliveryRow>, DataError> {
        let f = "deliveries.csv";
        // Nodes and messages by name, to store each delivery's as an index (a run has millions
        // of deliveries; two strings each would be most of the memory a report needs).
        let node_index: HashMap<&str, u32> = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i as u32))
            .collect();
        let mut message_index: HashMap<&str, u32> = HashMap::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            if message_index.insert(m.id.as_str(), i as u32).is_some() {
                let line = i + 2;
                let msg = format!("expected each message once, got {:?} again", m.id);
                return Err(r.corrupt("messages.csv", line, msg));
            }
        }
        let mut deliveries = Vec::new();
        for row in r.csv(
            f,
            "node,message,group,author,authored_tick,delivered_tick,latency_ticks",
        )? {
            let (line, row) = row?;
            let node = *node_index.get(row[0]).ok_or_else(|| {
                r.corrupt(
                    f,
                    line,
                    format!("expected a node of the scenario, got {:?}", row[0]),
                )
            })?;
            let message = *message_index.get(row[1]).ok_or_else(|| {
                r.corrupt(
                    f,
                    line,
                    format!("expected a message of messages.csv, got {:?}", row[1]),
                )
            })?;
            deliveries.push(DeliveryRow {
                node,
                message,
                authored: r.num(f, line, row[4])?,
                delivered: r.num(f, line, row[5])?,
            });
        }
        Ok(deliveries)
    }
}
