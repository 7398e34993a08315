//! Semantic checks of a parsed scenario and its resolution into a [`Plan`]. The first problem
//! found is returned, with the JSON path of the offending value.

use super::InputError;
use super::plan::{Plan, PlanAppend, PlanGroup, PlanLink, PlanNode};
use super::time_spec::TimeSpec;
use super::types::*;
use crate::engine::rng::Probability;
use crate::engine::time::Tick;
use crate::ids::{GroupId, NodeId};
use crate::net::{Availability, Latency, Loss};
use crate::protocol::sync::{AckTiming, Backoff, Mode, Packing, SyncConfig};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

struct Checker<'a> {
    file: &'a str,
    tick_ms: u64,
}

type R<T> = Result<T, InputError>;

/// The largest time a scenario may name, in ticks (2^53): sums of a few such times never overflow.
pub const MAX_TICKS: Tick = 1 << 53;

impl Checker<'_> {
    fn err<T>(&self, path: impl Into<String>, msg: impl Into<String>) -> R<T> {
        Err(InputError::Invalid {
            file: self.file.to_string(),
            path: path.into(),
            msg: msg.into(),
        })
    }

    fn name(&self, path: &str, what: &str, name: &str) -> R<()> {
        let ok = !name.is_empty()
            && name.len() <= 100
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if ok {
            Ok(())
        } else {
            self.err(path, format!("expected a {what} name of 1 to 100 letters, digits, `_`, `-` or `.` (not starting with `.`), got {name:?}"))
        }
    }

    fn probability(&self, path: &str, p: f64) -> R<Probability> {
        if p.is_finite() && (0.0..=1.0).contains(&p) {
            Ok(Probability::new(p))
        } else {
            self.err(path, format!("expected a probability in [0, 1], got {p}"))
        }
    }

    /// `t` in ticks, refusing times beyond [`MAX_TICKS`] (so that sums of times cannot overflow).
    fn ticks(&self, path: &str, t: TimeSpec) -> R<Tick> {
        let ticks = t.to_ticks(self.tick_ms);
        if ticks > MAX_TICKS {
            return self.err(
                path,
                format!("expected at most {MAX_TICKS} ticks, got {t} ({ticks} ticks)"),
            );
        }
        Ok(ticks)
    }

    fn at_least(&self, path: &str, t: TimeSpec, min: Tick, what: &str) -> R<Tick> {
        let ticks = self.ticks(path, t)?;
        if ticks < min {
            return self.err(
                path,
                format!(
                    "expected {what} of at least {min} tick{}, got {t} ({ticks} ticks)",
                    if min == 1 { "" } else { "s" }
                ),
            );
        }
        Ok(ticks)
    }

    fn node(&self, path: &str, index: &BTreeMap<&str, NodeId>, name: &str) -> R<NodeId> {
        match index.get(name) {
            Some(&id) => Ok(id),
            None => self.err(
                path,
                format!(
                    "unknown node {name:?} (the scenario's nodes are {})",
                    list(index.keys())
                ),
            ),
        }
    }

    fn latency(&self, path: &str, spec: &LatencySpec) -> R<Latency> {
        Ok(match *spec {
            LatencySpec::Fixed { delay } => Latency::Fixed {
                delay: self.at_least(&format!("{path}.delay"), delay, 1, "a latency")?,
            },
            LatencySpec::Uniform { min, max } => {
                let lo = self.at_least(&format!("{path}.min"), min, 1, "a latency")?;
                let hi = self.ticks(&format!("{path}.max"), max)?;
                if hi < lo {
                    return self.err(
                        format!("{path}.max"),
                        format!("expected max >= min ({min} = {lo} ticks), got {max} ({hi} ticks)"),
                    );
                }
                Latency::Uniform { min: lo, max: hi }
            }
        })
    }

    fn loss(&self, path: &str, spec: &LossSpec) -> R<Loss> {
        Ok(match *spec {
            LossSpec::None {} => Loss::None,
            LossSpec::Bernoulli { p } => Loss::Bernoulli {
                p: self.probability(&format!("{path}.p"), p)?,
            },
        })
    }
}

fn list<'a>(names: impl Iterator<Item = &'a &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if names.len() > 8 {
        format!("{}, ... ({} in all)", names[..8].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

/// Checks `s` and resolves it into a plan.
pub fn validate(file: &str, s: Scenario) -> R<Plan> {
    let mut c = Checker { file, tick_ms: 1 };
    c.name("name", "scenario", &s.name)?;
    if s.tick_ms == 0 {
        return c.err(
            "tick_ms",
            "expected a tick length of at least 1 millisecond, got 0",
        );
    }
    c.tick_ms = s.tick_ms;
    let duration = c.at_least("duration", s.duration, 1, "a duration")?;
    if duration
        .checked_mul(s.tick_ms)
        .is_none_or(|ms| ms > i64::MAX as u64)
    {
        return c.err("duration", format!("the run would last {duration} ticks of {} ms: more milliseconds than a message timestamp (int64) holds", s.tick_ms));
    }

    // Nodes.
    if s.nodes.is_empty() {
        return c.err("nodes", "expected at least one node");
    }
    let mut node_index: BTreeMap<&str, NodeId> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(s.nodes.len());
    for (i, n) in s.nodes.iter().enumerate() {
        let path = format!("nodes[{i}]");
        c.name(&format!("{path}.name"), "node", &n.name)?;
        if node_index.insert(&n.name, NodeId(i as u32)).is_some() {
            return c.err(
                format!("{path}.name"),
                format!("duplicate node name {:?}", n.name),
            );
        }
        let path = format!("{path}.availability");
        let availability = match n.availability {
            AvailabilitySpec::Always {} => Availability::Always,
            AvailabilitySpec::Reliability { p } => Availability::Reliability {
                p: c.probability(&format!("{path}.p"), p)?,
            },
            AvailabilitySpec::Periodic { on, off, phase } => Availability::Periodic {
                on: c.at_least(&format!("{path}.on"), on, 1, "an online span")?,
                off: c.ticks(&format!("{path}.off"), off)?,
                phase: c.ticks(&format!("{path}.phase"), phase)?,
            },
        };
        nodes.push(PlanNode {
            name: n.name.clone(),
            availability,
        });
    }

    // Groups.
    let mut group_index: BTreeMap<&str, GroupId> = BTreeMap::new();
    let mut groups = Vec::with_capacity(s.groups.len());
    for (gi, g) in s.groups.iter().enumerate() {
        let path = format!("groups[{gi}]");
        c.name(&format!("{path}.name"), "group", &g.name)?;
        if group_index.insert(&g.name, GroupId(gi as u32)).is_some() {
            return c.err(
                format!("{path}.name"),
                format!("duplicate group name {:?}", g.name),
            );
        }
        if g.members.is_empty() {
            return c.err(format!("{path}.members"), "expected at least one member");
        }
        let mut members = Vec::with_capacity(g.members.len());
        for (mi, m) in g.members.iter().enumerate() {
            let id = c.node(&format!("{path}.members[{mi}]"), &node_index, m)?;
            if members.contains(&id) {
                return c.err(
                    format!("{path}.members[{mi}]"),
                    format!("{m:?} is listed twice"),
                );
            }
            members.push(id);
        }
        for (who, peers) in &g.sharing {
            let spath = format!("{path}.sharing.{who}");
            let id = c.node(&spath, &node_index, who)?;
            if !members.contains(&id) {
                return c.err(
                    spath,
                    format!("{who:?} is not a member of group {:?}", g.name),
                );
            }
            let mut seen = BTreeSet::new();
            for (pi, p) in peers.iter().enumerate() {
                let ppath = format!("{spath}[{pi}]");
                let pid = c.node(&ppath, &node_index, p)?;
                if !members.contains(&pid) {
                    return c.err(
                        ppath,
                        format!("{p:?} is not a member of group {:?}", g.name),
                    );
                }
                if pid == id {
                    return c.err(ppath, format!("{who:?} cannot share a group with itself"));
                }
                if !seen.insert(pid) {
                    return c.err(ppath, format!("{p:?} is listed twice"));
                }
            }
        }
        let sharing = members
            .iter()
            .map(|&m| match g.sharing.get(nodes[m.idx()].name.as_str()) {
                Some(peers) => peers.iter().map(|p| node_index[p.as_str()]).collect(),
                None => members.iter().copied().filter(|&o| o != m).collect(),
            })
            .collect();
        groups.push(PlanGroup {
            name: g.name.clone(),
            id: crate::wire::group_id(&g.name),
            members,
            sharing,
        });
    }

    // Links.
    let default_latency = c.latency("links.latency", &s.links.latency)?;
    let default_loss = c.loss("links.loss", &s.links.loss)?;
    let mut listed: BTreeMap<(NodeId, NodeId), PlanLink> = BTreeMap::new();
    for (li, l) in s.links.list.iter().enumerate() {
        let path = format!("links.list[{li}]");
        let a = c.node(&format!("{path}.between[0]"), &node_index, &l.between[0])?;
        let b = c.node(&format!("{path}.between[1]"), &node_index, &l.between[1])?;
        if a == b {
            return c.err(
                format!("{path}.between"),
                format!(
                    "a link needs two different nodes, got {:?} twice",
                    l.between[0]
                ),
            );
        }
        let latency = match &l.latency {
            Some(spec) => c.latency(&format!("{path}.latency"), spec)?,
            None => default_latency.clone(),
        };
        let loss = match &l.loss {
            Some(spec) => c.loss(&format!("{path}.loss"), spec)?,
            None => default_loss.clone(),
        };
        let (a, b) = (a.min(b), a.max(b));
        if listed
            .insert(
                (a, b),
                PlanLink {
                    a,
                    b,
                    latency,
                    loss,
                },
            )
            .is_some()
        {
            return c.err(
                format!("{path}.between"),
                format!(
                    "the link between {:?} and {:?} is listed twice",
                    l.between[0], l.between[1]
                ),
            );
        }
    }
    let links: Vec<PlanLink> = match s.links.topology {
        TopologySpec::Explicit {} => listed.into_values().collect(),
        TopologySpec::FullMesh {} => {
            let n = nodes.len() as u32;
            let mut links = Vec::with_capacity((n as usize) * (n as usize).saturating_sub(1) / 2);
            for a in 0..n {
                for b in a + 1..n {
                    let key = (NodeId(a), NodeId(b));
                    links.push(listed.remove(&key).unwrap_or_else(|| PlanLink {
                        a: key.0,
                        b: key.1,
                        latency: default_latency.clone(),
                        loss: default_loss.clone(),
                    }));
                }
            }
            links
        }
    };

    // Sync.
    let sync = SyncConfig {
        mode: match s.sync.mode {
            ModeSpec::Batch => Mode::Batch,
        },
        packing: match s.sync.packing {
            PackingSpec::Record => Packing::Record,
        },
        epoch: c.at_least("sync.epoch", s.sync.epoch, 1, "an epoch")?,
        ack: match s.sync.ack {
            AckSpec::Step => AckTiming::Step,
            AckSpec::Immediate => AckTiming::Immediate,
        },
        backoff: match s.sync.backoff {
            BackoffSpec::Fixed { interval } => Backoff::Fixed {
                interval: c.at_least("sync.backoff.interval", interval, 1, "an interval")?,
            },
        },
        forwarding: s.sync.forwarding,
    };

    // Workload.
    let mut appends = Vec::with_capacity(s.workload.appends.len());
    let mut ids: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    for (ai, a) in s.workload.appends.iter().enumerate() {
        let path = format!("workload.appends[{ai}]");
        let node = c.node(&format!("{path}.node"), &node_index, &a.node)?;
        let Some(&group) = group_index.get(a.group.as_str()) else {
            return c.err(
                format!("{path}.group"),
                format!(
                    "unknown group {:?} (the scenario's groups are {})",
                    a.group,
                    list(group_index.keys())
                ),
            );
        };
        if !groups[group.idx()].members.contains(&node) {
            return c.err(
                format!("{path}.node"),
                format!("{:?} is not a member of group {:?}", a.node, a.group),
            );
        }
        let tick = c.ticks(&format!("{path}.tick"), a.tick)?;
        if tick >= duration {
            return c.err(format!("{path}.tick"), format!("expected a tick before the end of the run (duration {duration}), got {} ({tick} ticks)", a.tick));
        }
        let id =
            crate::wire::message_id(&groups[group.idx()].id, tick * s.tick_ms, a.body.as_bytes());
        if let Some(first) = ids.insert(id, ai) {
            return c.err(path, format!("the same message (group, tick and body) as workload.appends[{first}]: message ids would collide"));
        }
        appends.push(PlanAppend {
            node,
            tick,
            group,
            body: a.body.clone().into_bytes(),
        });
    }

    // Outputs.
    let mut tables_at = Vec::with_capacity(s.outputs.tables_at.len());
    for (ti, &t) in s.outputs.tables_at.iter().enumerate() {
        let tick = c.ticks(&format!("outputs.tables_at[{ti}]"), t)?;
        if tick >= duration {
            return c.err(format!("outputs.tables_at[{ti}]"), format!("expected a tick before the end of the run (duration {duration}), got {t} ({tick} ticks)"));
        }
        tables_at.push(tick);
    }
    tables_at.sort_unstable();
    tables_at.dedup();

    let hash = scenario_hash(&s);
    Ok(Plan {
        hash,
        seed: s.seed,
        tick_ms: s.tick_ms,
        duration,
        nodes,
        groups,
        links,
        overhead_bytes: s.links.overhead_bytes,
        sync,
        appends,
        tables_at,
        scenario: s,
    })
}

/// SHA-256 (hex) of the canonical JSON of `s` with seed and description blanked.
fn scenario_hash(s: &Scenario) -> String {
    let canonical = Scenario {
        seed: 0,
        description: String::new(),
        ..s.clone()
    };
    let bytes = serde_json::to_vec(&canonical).expect("a scenario always serializes");
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
