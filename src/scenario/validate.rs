//! Semantic checks of a parsed scenario and its resolution into a [`Plan`]. The first problem
//! found is returned, with the JSON path of the offending value.

use super::InputError;
use super::plan::*;
use super::time_spec::{FloatTicks, TimeSpec};
use super::types::*;
use crate::engine::rng::{self, Probability};
use crate::engine::time::Tick;
use crate::ids::{GroupId, NodeId};
use crate::net::{Availability, Latency, Loss, topology};
use crate::protocol::sync::{AckTiming, Backoff, Delivery, Mode, Packing, SyncConfig};
use crate::protocol::sync::{MAX_GROUPS, MAX_NODES};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

type R<T> = Result<T, InputError>;

/// The largest time a scenario may name, in ticks (2^53): sums of a few such times never overflow.
pub const MAX_TICKS: Tick = 1 << 53;

/// The most node pairs an `erdos_renyi` topology may draw a link for (one draw a pair).
pub const MAX_RANDOM_PAIRS: u64 = 200_000_000;

struct Checker<'a> {
    file: &'a str,
    tick_ms: u64,
    node_index: BTreeMap<String, NodeId>,
    by_template: BTreeMap<String, Vec<NodeId>>,
    node_count: u32,
}

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

    /// A fractional time in ticks, in `[min, MAX_TICKS]` (or `> 0` when `min` is 0).
    fn float_ticks(&self, path: &str, t: FloatTicks, min: f64, what: &str) -> R<f64> {
        let x = t.to_ticks(self.tick_ms);
        let ok =
            x.is_finite() && x <= MAX_TICKS as f64 && if min > 0.0 { x >= min } else { x > 0.0 };
        if ok {
            Ok(x)
        } else if min > 0.0 {
            self.err(
                path,
                format!(
                    "expected {what} of at least {min} tick{}, got {t}",
                    if min == 1.0 { "" } else { "s" }
                ),
            )
        } else {
            self.err(path, format!("expected {what} greater than 0, got {t}"))
        }
    }

    fn node(&self, path: &str, name: &str) -> R<NodeId> {
        match self.node_index.get(name) {
            Some(&id) => Ok(id),
            None => self.err(
                path,
                format!(
                    "unknown node {name:?} (the scenario's nodes are {})",
                    list(self.node_index.keys())
                ),
            ),
        }
    }

    /// A node selector: a name, `@template`, `*` (all nodes) or `prefix*` (nodes whose name
    /// starts with the prefix).
    fn select(&self, path: &str, selector: &str) -> R<Vec<NodeId>> {
        if selector == "*" {
            return Ok((0..self.node_count).map(NodeId).collect());
        }
        if let Some(prefix) = selector.strip_suffix('*') {
            let ids: Vec<NodeId> = self
                .node_index
                .range(prefix.to_string()..)
                .take_while(|(name, _)| name.starts_with(prefix))
                .map(|(_, &id)| id)
                .collect();
            if ids.is_empty() {
                return self.err(path, format!("{selector:?} matches no node"));
            }
            return Ok(ids);
        }
        if let Some(t) = selector.strip_prefix('@') {
            return match self.by_template.get(t) {
                Some(ids) => Ok(ids.clone()),
                None => self.err(
                    path,
                    format!(
                        "unknown template {t:?} in {selector:?} (templates used by nodes: {})",
                        list(self.by_template.keys())
                    ),
                ),
            };
        }
        Ok(vec![self.node(path, selector)?])
    }

    fn select_all(&self, path: &str, selectors: &[String]) -> R<Vec<NodeId>> {
        let mut out = BTreeSet::new();
        for (i, s) in selectors.iter().enumerate() {
            out.extend(self.select(&format!("{path}[{i}]"), s)?);
        }
        Ok(out.into_iter().collect())
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
            LatencySpec::Normal { mean, sd } => {
                let mean = self.float_ticks(&format!("{path}.mean"), mean, 0.0, "a mean")?;
                let sd_ticks = sd.to_ticks(self.tick_ms);
                if !(sd_ticks.is_finite() && sd_ticks >= 0.0 && sd_ticks <= MAX_TICKS as f64) {
                    return self.err(
                        format!("{path}.sd"),
                        format!("expected a standard deviation >= 0, got {sd}"),
                    );
                }
                Latency::Normal { mean, sd: sd_ticks }
            }
            LatencySpec::Exponential { mean } => Latency::Exponential {
                mean: self.float_ticks(&format!("{path}.mean"), mean, 0.0, "a mean")?,
            },
            LatencySpec::Lognormal { median, sigma } => {
                let median =
                    self.float_ticks(&format!("{path}.median"), median, 0.0, "a median")?;
                if !(sigma.is_finite() && (0.0..=20.0).contains(&sigma)) {
                    return self.err(
                        format!("{path}.sigma"),
                        format!("expected a shape sigma in [0, 20], got {sigma}"),
                    );
                }
                Latency::LogNormal { median, sigma }
            }
        })
    }

    fn loss(&self, path: &str, spec: &LossSpec) -> R<Loss> {
        Ok(match *spec {
            LossSpec::None {} => Loss::None,
            LossSpec::Bernoulli { p } => Loss::Bernoulli {
                p: self.probability(&format!("{path}.p"), p)?,
            },
            LossSpec::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_good,
                loss_bad,
            } => Loss::GilbertElliott {
                p_good_to_bad: self.probability(&format!("{path}.p_good_to_bad"), p_good_to_bad)?,
                p_bad_to_good: self.probability(&format!("{path}.p_bad_to_good"), p_bad_to_good)?,
                loss_good: self.probability(&format!("{path}.loss_good"), loss_good)?,
                loss_bad: self.probability(&format!("{path}.loss_bad"), loss_bad)?,
            },
        })
    }

    fn availability(&self, path: &str, spec: &AvailabilitySpec) -> R<Availability> {
        Ok(match *spec {
            AvailabilitySpec::Always {} => Availability::Always,
            AvailabilitySpec::Reliability { p } => Availability::Reliability {
                p: self.probability(&format!("{path}.p"), p)?,
            },
            AvailabilitySpec::Periodic { on, off, phase } => Availability::Periodic {
                on: self.at_least(&format!("{path}.on"), on, 1, "an online span")?,
                off: self.ticks(&format!("{path}.off"), off)?,
                phase: self.ticks(&format!("{path}.phase"), phase)?,
            },
            AvailabilitySpec::Bernoulli { p } => Availability::Bernoulli {
                p: self.probability(&format!("{path}.p"), p)?,
            },
            AvailabilitySpec::Markov { mean_on, mean_off } => Availability::Markov {
                mean_on: self.float_ticks(
                    &format!("{path}.mean_on"),
                    mean_on,
                    1.0,
                    "a mean online span",
                )?,
                mean_off: self.float_ticks(
                    &format!("{path}.mean_off"),
                    mean_off,
                    1.0,
                    "a mean offline span",
                )?,
            },
            AvailabilitySpec::Intervals { ref spans } => {
                let mut out: Vec<(Tick, Tick)> = Vec::with_capacity(spans.len());
                for (i, [from, to]) in spans.iter().enumerate() {
                    let sp = format!("{path}.spans[{i}]");
                    let f = self.ticks(&format!("{sp}[0]"), *from)?;
                    let t = self.ticks(&format!("{sp}[1]"), *to)?;
                    if t <= f {
                        return self.err(
                            sp,
                            format!(
                                "expected a span [from, to) with from < to, got [{from}, {to}]"
                            ),
                        );
                    }
                    if let Some(&(_, prev_to)) = out.last()
                        && f < prev_to
                    {
                        return self.err(sp, format!("spans must be sorted and must not overlap: this one starts at {f}, before the previous one ends at {prev_to}"));
                    }
                    out.push((f, t));
                }
                Availability::Intervals { spans: out }
            }
            AvailabilitySpec::Crash { at, restart_after } => {
                let at_t = self.ticks(&format!("{path}.at"), at)?;
                let down = self.at_least(
                    &format!("{path}.restart_after"),
                    restart_after,
                    1,
                    "a time down",
                )?;
                Availability::Crash {
                    at: at_t,
                    back: at_t.saturating_add(down),
                }
            }
        })
    }

    fn backoff(&self, path: &str, spec: &BackoffSpec) -> R<Backoff> {
        Ok(match *spec {
            BackoffSpec::Fixed { interval } => Backoff::Fixed {
                interval: self.at_least(&format!("{path}.interval"), interval, 1, "an interval")?,
            },
            BackoffSpec::Linear { step } => Backoff::Linear {
                step: self.at_least(&format!("{path}.step"), step, 1, "a step")?,
            },
            BackoffSpec::Exponential {
                base,
                factor,
                max,
                jitter,
            } => {
                let base_t = self.at_least(&format!("{path}.base"), base, 1, "a base interval")?;
                if !(factor.is_finite() && factor >= 1.0) {
                    return self.err(
                        format!("{path}.factor"),
                        format!("expected a growth factor >= 1, got {factor}"),
                    );
                }
                let max_t = match max {
                    Some(m) => {
                        let t = self.ticks(&format!("{path}.max"), m)?;
                        if t < base_t {
                            return self.err(
                                format!("{path}.max"),
                                format!(
                                    "expected max >= base ({base_t} ticks), got {m} ({t} ticks)"
                                ),
                            );
                        }
                        t
                    }
                    None => MAX_TICKS,
                };
                Backoff::Exponential {
                    base: base_t,
                    factor,
                    max: max_t,
                    jitter: self.ticks(&format!("{path}.jitter"), jitter)?,
                }
            }
            BackoffSpec::Accumulating {} => Backoff::Accumulating,
        })
    }

    /// A time window `[from, to)` (`to` defaults to and is capped at the end of the run).
    fn window(
        &self,
        path: &str,
        from: TimeSpec,
        to: Option<TimeSpec>,
        duration: Tick,
    ) -> R<(Tick, Tick)> {
        let from = self.ticks(&format!("{path}.from"), from)?;
        let to = match to {
            Some(t) => self.ticks(&format!("{path}.to"), t)?.min(duration),
            None => duration,
        };
        if from >= to {
            return self.err(
                format!("{path}.to"),
                format!("expected a window with from ({from}) < to ({to}) within the run"),
            );
        }
        Ok((from, to))
    }

    fn sync(&self, path: &str, s: &SyncSpec) -> R<SyncConfig> {
        if s.offered_cap == 0 {
            return self.err(format!("{path}.offered_cap"), "expected an offered list of at least 1 entry (with 0 no offer could ever be requested)");
        }
        Ok(SyncConfig {
            mode: match s.mode {
                ModeSpec::Batch => Mode::Batch,
                ModeSpec::Interactive => Mode::Interactive,
            },
            packing: match s.packing {
                PackingSpec::Record => Packing::Record,
                PackingSpec::Payload => Packing::Payload,
            },
            epoch: self.at_least(&format!("{path}.epoch"), s.epoch, 1, "an epoch")?,
            ack: match s.ack {
                AckSpec::Step => AckTiming::Step,
                AckSpec::Immediate => AckTiming::Immediate,
            },
            backoff: self.backoff(&format!("{path}.backoff"), &s.backoff)?,
            forwarding: s.forwarding,
            offered_cap: s.offered_cap as usize,
            request_retransmit: s.request_retransmit,
            delivery: match s.delivery {
                DeliverySpec::Eventual => Delivery::Eventual,
                DeliverySpec::Consistent => Delivery::Consistent,
            },
            reset_on_contact: if s.reset_on_contact {
                Some(self.ticks(&format!("{path}.contact_silence"), s.contact_silence)?)
            } else {
                None
            },
        })
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if names.is_empty() {
        "none".into()
    } else if names.len() > 8 {
        format!("{}, ... ({} in all)", names[..8].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

/// Membership of a group at tick `t` (changes at `t` applied).
fn members_at(g: &PlanGroup, t: Tick) -> Vec<NodeId> {
    let mut m: BTreeSet<NodeId> = g.members.iter().copied().collect();
    for c in g.changes.iter().take_while(|c| c.tick <= t) {
        if c.join {
            m.insert(c.node);
        } else {
            m.remove(&c.node);
        }
    }
    m.into_iter().collect()
}

/// Checks `s` and resolves it into a plan.
pub fn validate(file: &str, s: Scenario) -> R<Plan> {
    let mut c = Checker {
        file,
        tick_ms: 1,
        node_index: BTreeMap::new(),
        by_template: BTreeMap::new(),
        node_count: 0,
    };
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

    // Sync settings and templates.
    let base_sync = c.sync("sync", &s.sync)?;
    let mut template_sync = BTreeMap::new();
    for (name, t) in &s.templates {
        c.name(&format!("templates.{name}"), "template", name)?;
        let path = format!("templates.{name}");
        if let Some(a) = &t.availability {
            c.availability(&format!("{path}.availability"), a)?;
        }
        let merged = match &t.sync {
            Some(o) => s.sync.with(o),
            None => s.sync.clone(),
        };
        c.sync(&format!("{path}.sync"), &merged)?;
        template_sync.insert(name.clone(), merged);
    }

    // Nodes.
    if s.nodes.is_empty() {
        return c.err("nodes", "expected at least one node");
    }
    let mut nodes: Vec<PlanNode> = Vec::new();
    for (i, n) in s.nodes.iter().enumerate() {
        let path = format!("nodes[{i}]");
        let template = match &n.template {
            Some(t) => match s.templates.get(t) {
                Some(spec) => Some((t.clone(), spec)),
                None => {
                    return c.err(
                        format!("{path}.template"),
                        format!(
                            "unknown template {t:?} (the scenario's templates are {})",
                            list(s.templates.keys())
                        ),
                    );
                }
            },
            None => None,
        };
        let prefix = match (&n.name, &template) {
            (Some(name), _) => name.clone(),
            (None, Some((t, _))) => t.clone(),
            (None, None) => {
                return c.err(
                    path,
                    "expected a `name` (or a `template`, whose name then names the node)",
                );
            }
        };
        let names: Vec<String> = match n.count {
            None => vec![prefix.clone()],
            Some(0) => return c.err(format!("{path}.count"), "expected a count of at least 1"),
            // Checked before any name is made, so a huge count fails at once.
            Some(k) if nodes.len() as u64 + k as u64 > u64::from(MAX_NODES) => {
                return c.err(
                    format!("{path}.count"),
                    format!("too many nodes: at most {MAX_NODES} (2^29) in all, got {k} more"),
                );
            }
            Some(k) => (0..k).map(|j| format!("{prefix}-{j}")).collect(),
        };
        c.name(
            &format!("{path}.name"),
            "node",
            names.last().expect("at least one"),
        )?;
        let availability_spec = n
            .availability
            .clone()
            .or_else(|| template.as_ref().and_then(|(_, t)| t.availability.clone()))
            .unwrap_or_default();
        let availability = c.availability(&format!("{path}.availability"), &availability_spec)?;
        let sync = match (&n.sync, &template) {
            (None, None) => base_sync.clone(),
            (None, Some((t, _))) => c.sync(&format!("templates.{t}.sync"), &template_sync[t])?,
            (Some(o), None) => c.sync(&format!("{path}.sync"), &s.sync.with(o))?,
            (Some(o), Some((t, _))) => {
                c.sync(&format!("{path}.sync"), &template_sync[t].with(o))?
            }
        };
        for name in names {
            let id = NodeId(nodes.len() as u32);
            if nodes.len() as u64 >= u64::from(MAX_NODES) {
                return c.err(path, format!("too many nodes: at most {MAX_NODES} (2^29)"));
            }
            if c.node_index.insert(name.clone(), id).is_some() {
                return c.err(
                    format!("{path}.name"),
                    format!("duplicate node name {name:?}"),
                );
            }
            if let Some((t, _)) = &template {
                c.by_template.entry(t.clone()).or_default().push(id);
            }
            nodes.push(PlanNode {
                name,
                template: template.as_ref().map(|(t, _)| t.clone()),
                availability: availability.clone(),
                sync: sync.clone(),
            });
        }
    }
    c.node_count = nodes.len() as u32;
    for t in s.templates.keys() {
        c.by_template.entry(t.clone()).or_default();
    }

    // Groups.
    let mut group_index: BTreeMap<String, GroupId> = BTreeMap::new();
    let mut groups = Vec::with_capacity(s.groups.len());
    for (gi, g) in s.groups.iter().enumerate() {
        let path = format!("groups[{gi}]");
        if gi as u64 >= u64::from(MAX_GROUPS) {
            return c.err(
                path,
                format!("too many groups: at most {MAX_GROUPS} (2^31)"),
            );
        }
        c.name(&format!("{path}.name"), "group", &g.name)?;
        if group_index
            .insert(g.name.clone(), GroupId(gi as u32))
            .is_some()
        {
            return c.err(
                format!("{path}.name"),
                format!("duplicate group name {:?}", g.name),
            );
        }
        let mut seen = BTreeSet::new();
        for (mi, m) in g.members.iter().enumerate() {
            if !seen.insert(m) {
                return c.err(
                    format!("{path}.members[{mi}]"),
                    format!("{m:?} is listed twice"),
                );
            }
        }
        let members = c.select_all(&format!("{path}.members"), &g.members)?;
        let mut sharing = BTreeMap::new();
        for (who, peers) in &g.sharing {
            let spath = format!("{path}.sharing.{who}");
            let id = c.node(&spath, who)?;
            let mut list = c.select_all(&spath, peers)?;
            if let Some(pi) = peers.iter().position(|p| p == who) {
                return c.err(
                    format!("{spath}[{pi}]"),
                    format!("{who:?} cannot share a group with itself"),
                );
            }
            list.retain(|&p| p != id);
            sharing.insert(id, list);
        }
        let mut changes = Vec::with_capacity(g.changes.len());
        for (ci, ch) in g.changes.iter().enumerate() {
            let cpath = format!("{path}.changes[{ci}]");
            let tick = c.ticks(&format!("{cpath}.tick"), ch.tick)?;
            if tick >= duration {
                return c.err(
                    format!("{cpath}.tick"),
                    format!(
                        "expected a tick before the end of the run (duration {duration}), got {}",
                        ch.tick
                    ),
                );
            }
            changes.push((
                ci,
                PlanChange {
                    tick,
                    node: c.node(&format!("{cpath}.node"), &ch.node)?,
                    join: ch.action == ChangeAction::Join,
                },
            ));
        }
        changes.sort_by_key(|(ci, ch)| (ch.tick, *ci));
        let mut current: BTreeSet<NodeId> = members.iter().copied().collect();
        for (ci, ch) in &changes {
            let name = &nodes[ch.node.idx()].name;
            if ch.join && !current.insert(ch.node) {
                return c.err(
                    format!("{path}.changes[{ci}]"),
                    format!(
                        "{name:?} joins group {:?} at tick {} but is already a member",
                        g.name, ch.tick
                    ),
                );
            }
            if !ch.join && !current.remove(&ch.node) {
                return c.err(
                    format!("{path}.changes[{ci}]"),
                    format!(
                        "{name:?} leaves group {:?} at tick {} but is not a member",
                        g.name, ch.tick
                    ),
                );
            }
        }
        for who in sharing.keys() {
            let ever =
                members.contains(who) || changes.iter().any(|(_, ch)| ch.node == *who && ch.join);
            if !ever {
                return c.err(
                    format!("{path}.sharing.{}", nodes[who.idx()].name),
                    format!(
                        "{:?} is never a member of group {:?}",
                        nodes[who.idx()].name,
                        g.name
                    ),
                );
            }
        }
        if members.is_empty() && changes.is_empty() {
            return c.err(format!("{path}.members"), "expected at least one member");
        }
        groups.push(PlanGroup {
            name: g.name.clone(),
            id: crate::wire::group_id(&g.name),
            members,
            sharing,
            changes: changes.into_iter().map(|(_, ch)| ch).collect(),
            final_members: current.into_iter().collect(),
            discovered: g.policy == SharingPolicySpec::Discovered,
        });
    }

    // Links.
    let n = nodes.len() as u32;
    let default = PlanDirection {
        latency: c.latency("links.latency", &s.links.latency)?,
        loss: c.loss("links.loss", &s.links.loss)?,
    };
    // A full mesh is not listed pair by pair: `Plan::mesh` stands for its pairs.
    let mut mesh = None;
    let pairs: Vec<(NodeId, NodeId)> = match &s.links.topology {
        TopologySpec::Explicit {} => Vec::new(),
        TopologySpec::FullMesh {} => {
            mesh = Some(default.clone());
            Vec::new()
        }
        TopologySpec::Star { center } => {
            topology::star(n, c.node("links.topology.center", center)?)
        }
        TopologySpec::RandomRegular { k } => {
            if *k >= n || (n as u64 * *k as u64) % 2 == 1 {
                return c.err(
                    "links.topology.k",
                    format!("a {k}-regular graph on {n} nodes needs k < {n} and n * k even"),
                );
            }
            let mut rng = rng::stream(s.seed, "topology");
            match topology::random_regular(n, *k, &mut rng) {
                Some(e) => e,
                None => return c.err("links.topology.k", format!("no {k}-regular graph on {n} nodes was found in 100 attempts; use a smaller k")),
            }
        }
        TopologySpec::ErdosRenyi { p } => {
            let p = c.probability("links.topology.p", *p)?;
            let count = n as u64 * n.saturating_sub(1) as u64 / 2;
            if count > MAX_RANDOM_PAIRS {
                return c.err(
                    "links.topology",
                    format!(
                        "{n} nodes have {count} pairs to draw, more than {MAX_RANDOM_PAIRS} allowed"
                    ),
                );
            }
            topology::erdos_renyi(n, p, &mut rng::stream(s.seed, "topology"))
        }
    };
    let mut links: BTreeMap<(NodeId, NodeId), PlanLink> = pairs
        .into_iter()
        .map(|(a, b)| {
            (
                (a, b),
                PlanLink {
                    a,
                    b,
                    ab: default.clone(),
                    ba: default.clone(),
                },
            )
        })
        .collect();
    let mut listed = BTreeSet::new();
    for (li, l) in s.links.list.iter().enumerate() {
        let path = format!("links.list[{li}]");
        let x = c.node(&format!("{path}.between[0]"), &l.between[0])?;
        let y = c.node(&format!("{path}.between[1]"), &l.between[1])?;
        if x == y {
            return c.err(
                format!("{path}.between"),
                format!(
                    "a link needs two different nodes, got {:?} twice",
                    l.between[0]
                ),
            );
        }
        let forward = PlanDirection {
            latency: match &l.latency {
                Some(spec) => c.latency(&format!("{path}.latency"), spec)?,
                None => default.latency.clone(),
            },
            loss: match &l.loss {
                Some(spec) => c.loss(&format!("{path}.loss"), spec)?,
                None => default.loss.clone(),
            },
        };
        let backward = match &l.reverse {
            None => forward.clone(),
            Some(r) => PlanDirection {
                latency: match &r.latency {
                    Some(spec) => c.latency(&format!("{path}.reverse.latency"), spec)?,
                    None => forward.latency.clone(),
                },
                loss: match &r.loss {
                    Some(spec) => c.loss(&format!("{path}.reverse.loss"), spec)?,
                    None => forward.loss.clone(),
                },
            },
        };
        let (a, b) = (x.min(y), x.max(y));
        if !listed.insert((a, b)) {
            return c.err(
                format!("{path}.between"),
                format!(
                    "the link between {:?} and {:?} is listed twice",
                    l.between[0], l.between[1]
                ),
            );
        }
        let (ab, ba) = if x == a {
            (forward, backward)
        } else {
            (backward, forward)
        };
        links.insert((a, b), PlanLink { a, b, ab, ba });
    }
    let links: Vec<PlanLink> = links.into_values().collect();

    // Explicit appends.
    let mut appends: Vec<PlanAppend> = Vec::with_capacity(s.workload.appends.len());
    let mut ids: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    let mut labels: BTreeMap<&str, usize> = BTreeMap::new();
    for (ai, a) in s.workload.appends.iter().enumerate() {
        let path = format!("workload.appends[{ai}]");
        let node = c.node(&format!("{path}.node"), &a.node)?;
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
        let tick = c.ticks(&format!("{path}.tick"), a.tick)?;
        if tick >= duration {
            return c.err(format!("{path}.tick"), format!("expected a tick before the end of the run (duration {duration}), got {} ({tick} ticks)", a.tick));
        }
        let g = &groups[group.idx()];
        if members_at(g, tick).binary_search(&node).is_err() {
            return c.err(
                format!("{path}.node"),
                format!(
                    "{:?} is not a member of group {:?} at tick {tick}",
                    a.node, a.group
                ),
            );
        }
        let mut parents = Vec::with_capacity(a.parents.len());
        for (pi, label) in a.parents.iter().enumerate() {
            let ppath = format!("{path}.parents[{pi}]");
            let Some(&p) = labels.get(label.as_str()) else {
                return c.err(ppath, format!("no earlier append has the label {label:?}"));
            };
            if appends[p].group != group {
                return c.err(ppath, format!("the parent {label:?} is in another group"));
            }
            if appends[p].ephemeral {
                return c.err(ppath, format!("the parent {label:?} is ephemeral: it is never stored, so it cannot be a parent"));
            }
            if appends[p].tick > tick {
                return c.err(ppath, format!("the parent {label:?} is appended later (tick {}) than its child (tick {tick})", appends[p].tick));
            }
            parents.push(p);
        }
        if let Some(label) = &a.label
            && labels.insert(label, ai).is_some()
        {
            return c.err(
                format!("{path}.label"),
                format!("the label {label:?} is used twice"),
            );
        }
        let id = crate::wire::message_id(&g.id, tick * s.tick_ms, a.body.as_bytes());
        if let Some(first) = ids.insert(id, ai) {
            return c.err(path, format!("the same message (group, tick and body) as workload.appends[{first}]: message ids would collide"));
        }
        appends.push(PlanAppend {
            node,
            tick,
            group,
            body: a.body.clone().into_bytes(),
            id,
            ephemeral: a.ephemeral,
            parents,
        });
    }

    // Generators.
    let mut generators = Vec::with_capacity(s.workload.generators.len());
    for (gi, g) in s.workload.generators.iter().enumerate() {
        let path = format!("workload.generators[{gi}]");
        let nodes_sel = c.select_all(&format!("{path}.nodes"), &g.nodes)?;
        if nodes_sel.is_empty() {
            return c.err(format!("{path}.nodes"), "expected at least one node");
        }
        let Some(&group) = group_index.get(g.group.as_str()) else {
            return c.err(
                format!("{path}.group"),
                format!(
                    "unknown group {:?} (the scenario's groups are {})",
                    g.group,
                    list(group_index.keys())
                ),
            );
        };
        let mean_interval = c.float_ticks(
            &format!("{path}.mean_interval"),
            g.mean_interval,
            0.0,
            "a mean interval",
        )?;
        if mean_interval < 1e-3 {
            return c.err(
                format!("{path}.mean_interval"),
                format!(
                    "expected a mean interval of at least 0.001 ticks, got {}",
                    g.mean_interval
                ),
            );
        }
        let body = match g.body_bytes {
            BodySizeSpec::Fixed { bytes } => BodySize::Fixed(bytes),
            BodySizeSpec::Uniform { min, max } => {
                if max < min {
                    return c.err(
                        format!("{path}.body_bytes.max"),
                        format!("expected max >= min ({min}), got {max}"),
                    );
                }
                BodySize::Uniform(min, max)
            }
        };
        let (from, to) = c.window(&path, g.from, g.to, duration)?;
        generators.push(PlanGenerator {
            index: gi,
            nodes: nodes_sel,
            group,
            mean_interval,
            body,
            from,
            to,
            ephemeral: g.ephemeral,
            chain: g.parents == ParentsSpec::Previous,
        });
    }

    // Request/response flows.
    let mut rpc = crate::scenario::plan::PlanRpc {
        replay_protection: s.request_cache.replay_protection,
        ..Default::default()
    };
    let default_timeout = c.at_least(
        "request_cache.timeout",
        s.request_cache.timeout,
        1,
        "a cache timeout",
    )?;
    let n_nodes = nodes.len();
    rpc.flows = vec![crate::protocol::rpc::Flow::Serve; n_nodes];
    rpc.timeouts = vec![default_timeout; n_nodes];
    rpc.service_times = vec![0; n_nodes];
    if let Some(ct) = &s.workload.count_to {
        let a = c.node("workload.count_to.peers[0]", &ct.peers[0])?;
        let b = c.node("workload.count_to.peers[1]", &ct.peers[1])?;
        if a == b {
            return c.err("workload.count_to.peers", "expected two different peers");
        }
        if mesh.is_none() && !links.iter().any(|l| (l.a, l.b) == (a.min(b), a.max(b))) {
            return c.err(
                "workload.count_to.peers",
                format!("{:?} and {:?} are not linked", ct.peers[0], ct.peers[1]),
            );
        }
        if ct.target == 0 {
            return c.err(
                "workload.count_to.target",
                "expected a target of at least 1",
            );
        }
        rpc.count_start = c.ticks("workload.count_to.start", ct.start)?;
        if rpc.count_start >= duration {
            return c.err(
                "workload.count_to.start",
                "expected a start before the end of the run",
            );
        }
        for (me, peer) in [(a, b), (b, a)] {
            rpc.flows[me.idx()] = crate::protocol::rpc::Flow::CountTo {
                peer,
                target: ct.target,
                replay: ct.replay,
            };
        }
        rpc.enabled = true;
    }
    for (li, l) in s.workload.rpc.iter().enumerate() {
        let path = format!("workload.rpc[{li}]");
        let members = c.select_all(&format!("{path}.nodes"), &l.nodes)?;
        if members.is_empty() {
            return c.err(format!("{path}.nodes"), "expected at least one node");
        }
        let mean_interval = c.float_ticks(
            &format!("{path}.mean_interval"),
            l.mean_interval,
            0.0,
            "a mean interval",
        )?;
        if mean_interval < 1e-3 {
            return c.err(
                format!("{path}.mean_interval"),
                "expected a mean interval of at least 0.001 ticks",
            );
        }
        let service = c.ticks(&format!("{path}.service_time"), l.service_time)?;
        let timeout = match l.timeout {
            Some(t) => c.at_least(&format!("{path}.timeout"), t, 1, "a cache timeout")?,
            None => default_timeout,
        };
        let target = if l.target == "random_peer" {
            None
        } else {
            Some(c.node(&format!("{path}.target"), &l.target)?)
        };
        for &m in &members {
            if rpc.flows[m.idx()] != crate::protocol::rpc::Flow::Serve {
                return c.err(
                    format!("{path}.nodes"),
                    format!(
                        "{:?} already runs another request flow (count_to or an earlier load)",
                        nodes[m.idx()].name
                    ),
                );
            }
            if Some(m) == target {
                return c.err(
                    format!("{path}.target"),
                    format!("{:?} would send requests to itself", l.target),
                );
            }
            rpc.flows[m.idx()] = crate::protocol::rpc::Flow::Load;
            rpc.timeouts[m.idx()] = timeout;
        }
        // The service time belongs to whoever answers this load's requests.
        match target {
            Some(t) => rpc.service_times[t.idx()] = rpc.service_times[t.idx()].max(service),
            None => rpc
                .service_times
                .iter_mut()
                .for_each(|x| *x = (*x).max(service)),
        }
        let (from, to) = c.window(&path, l.from, l.to, duration)?;
        rpc.loads.push(crate::scenario::plan::PlanRpcLoad {
            nodes: members,
            mean_interval,
            target,
            from,
            to,
        });
        rpc.enabled = true;
    }

    // Discovery.
    if s.discovery.is_none()
        && s.peer_store.is_none()
        && let Some(gi) = groups.iter().position(|g| g.discovered)
    {
        return c.err(
            format!("groups[{gi}].policy"),
            "the \"discovered\" policy needs a `discovery` section (share with verified peers) or a `peer_store` section (share with connected peers)",
        );
    }
    let discovery = match &s.discovery {
        None => None,
        Some(d) => {
            use crate::protocol::discovery::strategy::StrategyConfig;
            let walk_interval = c.at_least(
                "discovery.walk_interval",
                d.walk_interval,
                1,
                "a walk interval",
            )?;
            let trackers = c.select_all("discovery.bootstrappers", &d.bootstrappers)?;
            let mut walkers = Vec::new();
            for (i, w) in d.walkers.iter().enumerate() {
                let path = format!("discovery.walkers[{i}]");
                if w.peers < -1 {
                    return c.err(
                        format!("{path}.peers"),
                        format!("expected -1 or a number of peers, got {}", w.peers),
                    );
                }
                let init = |key: &str, default: serde_json::Value| {
                    w.init.get(key).cloned().unwrap_or(default)
                };
                let known: &[&str] = match w.strategy.as_str() {
                    "RandomWalk" => &["timeout", "window_size", "reset_chance"],
                    "EdgeWalk" => &["edge_length", "neighborhood_size", "edge_timeout"],
                    "RandomChurn" => {
                        &["sample_size", "ping_interval", "inactive_time", "drop_time"]
                    }
                    other => {
                        let names =
                            crate::protocol::discovery::strategy::available_strategies().join(", ");
                        return c.err(
                            format!("{path}.strategy"),
                            format!("unknown strategy {other:?} (available: {names})"),
                        );
                    }
                };
                if let Some(k) = w.init.keys().find(|k| !known.contains(&k.as_str())) {
                    return c.err(
                        format!("{path}.init.{k}"),
                        format!(
                            "{:?} takes no parameter {k:?} (it takes {})",
                            w.strategy,
                            known.join(", ")
                        ),
                    );
                }
                let time = |key: &str, default: &str| -> R<Tick> {
                    let v = init(key, serde_json::Value::from(default));
                    let t: TimeSpec =
                        serde_json::from_value(v).map_err(|e| InputError::Invalid {
                            file: file.into(),
                            path: format!("{path}.init.{key}"),
                            msg: e.to_string(),
                        })?;
                    c.at_least(&format!("{path}.init.{key}"), t, 1, "a time")
                };
                let count = |key: &str, default: u64, max: u64| -> R<u64> {
                    match init(key, default.into()).as_u64() {
                        Some(n) if n <= max => Ok(n),
                        _ => c.err(
                            format!("{path}.init.{key}"),
                            format!("expected a whole number up to {max}"),
                        ),
                    }
                };
                let strategy = match w.strategy.as_str() {
                    "RandomWalk" => StrategyConfig::RandomWalk {
                        timeout: time("timeout", "3s")?,
                        window_size: count("window_size", 5, 1_000_000)? as usize,
                        reset_chance: count("reset_chance", 50, 255)? as u8,
                    },
                    "EdgeWalk" => StrategyConfig::EdgeWalk {
                        edge_length: count("edge_length", 4, 1_000)? as usize,
                        neighborhood_size: count("neighborhood_size", 6, 1_000)? as usize,
                        edge_timeout: time("edge_timeout", "3s")?,
                    },
                    _ => StrategyConfig::RandomChurn {
                        sample_size: count("sample_size", 8, 1_000_000)? as usize,
                        ping_interval: time("ping_interval", "10s")?,
                        inactive_time: time("inactive_time", "27.5s")?,
                        drop_time: time("drop_time", "57.5s")?,
                        ping_timeout: TimeSpec::Millis(5_000).to_ticks(s.tick_ms).max(1),
                    },
                };
                walkers.push(crate::protocol::discovery::WalkerConfig {
                    strategy,
                    target_peers: w.peers,
                });
            }
            Some(
                (0..nodes.len())
                    .map(|i| crate::protocol::discovery::DiscoveryConfig {
                        walk_interval,
                        max_peers: d.max_peers as usize,
                        walkers: walkers.clone(),
                        bootstrappers: trackers.clone(),
                        tracker: trackers.contains(&NodeId(i as u32)),
                    })
                    .collect(),
            )
        }
    };

    // Peer stores.
    let peer_store = match &s.peer_store {
        None => None,
        Some(p) => Some(crate::scenario::plan::PlanPeerStore {
            sync_interval: c.at_least(
                "peer_store.sync_interval",
                p.sync_interval,
                1,
                "an interval",
            )?,
            start_from: None,
            config: crate::protocol::peer_store::PeerStoreConfig {
                hello_deadline: c.at_least(
                    "peer_store.hello_deadline",
                    p.hello_deadline,
                    1,
                    "a deadline",
                )?,
                retry_after: c.at_least("peer_store.retry_after", p.retry_after, 1, "a delay")?,
                heartbeat: c.at_least("peer_store.heartbeat", p.heartbeat, 1, "an interval")?,
                heartbeat_step: c.ticks("peer_store.heartbeat_step", p.heartbeat_step)?,
                heartbeat_max_extra: c
                    .ticks("peer_store.heartbeat_max_extra", p.heartbeat_max_extra)?,
                unreachable_after: c.at_least(
                    "peer_store.unreachable_after",
                    p.unreachable_after,
                    1,
                    "a silence",
                )?,
                no_connection_after: c.at_least(
                    "peer_store.no_connection_after",
                    p.no_connection_after,
                    1,
                    "a silence",
                )?,
            },
        }),
    };

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
    if !s.outputs.tables && !tables_at.is_empty() {
        return c.err(
            "outputs.tables_at",
            format!(
                "expected no ticks, as outputs.tables is false (no sync-state tables are written), got {}; make it []",
                s.outputs.tables_at.len()
            ),
        );
    }

    let hash = scenario_hash(&s);
    Ok(Plan {
        hash,
        seed: s.seed,
        tick_ms: s.tick_ms,
        duration,
        nodes,
        groups,
        links,
        mesh,
        overhead_bytes: s.links.overhead_bytes,
        appends,
        generators,
        rpc,
        discovery,
        peer_store,
        tables_at,
        tables: s.outputs.tables,
        scenario: std::sync::Arc::new(s),
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
