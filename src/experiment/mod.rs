//! Experiments: parameter sweeps over seeds, their aggregation with confidence intervals, and
//! regression checks of summaries and aggregates against baselines.
//!
//! A sweep file names a base scenario, parameters (dotted paths, as `--set` takes them) with
//! lists or ranges of values, a number of replications and a base seed. Its runs form a table:
//! the parameter points in nested order (first parameter outermost), each repeated
//! `replications` times; run `i` is point `i / replications`, replication `i % replications`,
//! and its seed is derived from `(base_seed, i)` only, so any subset of runs can be computed
//! anywhere (threads, shards, machines) and merged into the same result.

pub mod check;
pub mod runner;
pub mod stats;

use crate::scenario::InputError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A sweep file.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Name of the sweep; names the default output folder `out/<name>/`.
    pub name: String,
    /// The base scenario, relative to the sweep file.
    pub scenario: PathBuf,
    /// The parameters, each a scenario path with its values. Default none (replications only).
    #[serde(default)]
    pub parameters: Vec<ParameterSpec>,
    /// Runs per parameter point (at least 1).
    pub replications: u32,
    /// Seed from which every run's seed is derived. Default 1.
    #[serde(default = "one")]
    pub base_seed: u64,
    /// Summary metrics recorded per run and aggregated, as dotted paths into summary.json.
    /// Default: delivery ratio and convergence, latency percentiles, packets, bytes, multipliers.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// Plots of a metric against a parameter, with 95% confidence bands. Default: every metric
    /// against the first parameter.
    #[serde(default)]
    pub plots: Vec<PlotSpec>,
}

fn one() -> u64 {
    1
}

/// The metrics a sweep records unless it names its own.
pub fn default_metrics() -> Vec<String> {
    [
        "delivery.ratio",
        "delivery.convergence_tick",
        "latency_ticks.p50",
        "latency_ticks.p90",
        "latency_ticks.p99",
        "traffic.packets_sent",
        "traffic.bytes_sent",
        "traffic.multiplier_packets",
        "traffic.multiplier_bytes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One swept parameter.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// The scenario field, as a dotted path (`sync.backoff.interval`, `nodes.A.availability.p`).
    pub path: String,
    /// The values, any JSON (numbers, strings, objects). Give `values` or `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
    /// A range of numbers `from, from + step, ...` up to and including `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeSpec>,
}

/// A numeric range.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// First value.
    pub from: f64,
    /// Last value (included when the steps land on it).
    pub to: f64,
    /// Step (> 0).
    pub step: f64,
}

/// A plot of a sweep.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// The metric (one of `metrics`).
    pub metric: String,
    /// The parameter on the x axis (one of the parameters' paths); the other parameters'
    /// combinations are drawn as separate lines.
    pub x: String,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// Run index.
    pub run: u64,
    /// Parameter point index.
    pub point: u64,
    /// Replication within the point.
    pub replication: u32,
    /// The run's seed.
    pub seed: u64,
    /// `(path, value)` of every parameter.
    pub parameters: Vec<(String, Value)>,
}

impl RunSpec {
    /// The run as a JSON object (the `sim expand` line, and the head of a `runs.jsonl` line).
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("run".into(), self.run.into());
        m.insert("point".into(), self.point.into());
        m.insert("replication".into(), self.replication.into());
        m.insert("seed".into(), self.seed.into());
        let params: serde_json::Map<String, Value> = self.parameters.iter().cloned().collect();
        m.insert("parameters".into(), Value::Object(params));
        m
    }

    /// The `--set` arguments of the run.
    pub fn sets(&self) -> Vec<String> {
        self.parameters
            .iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect()
    }
}

/// The seed of run `run` of a sweep with `base_seed`: the low 53 bits of the first 8 bytes
/// (little-endian) of `SHA-256("syncsim/sweep-seed/v1" || u64_le(base_seed) || u64_le(run))` —
/// 53 bits so that tools reading JSON numbers as doubles (jq, JavaScript) keep them exact.
pub fn run_seed(base_seed: u64, run: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(b"syncsim/sweep-seed/v1");
    h.update(base_seed.to_le_bytes());
    h.update(run.to_le_bytes());
    let d: [u8; 32] = h.finalize().into();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) & ((1 << 53) - 1)
}

/// A loaded and checked sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The file it came from.
    pub file: PathBuf,
    /// The spec.
    pub spec: SweepSpec,
    /// The base scenario's path (resolved).
    pub scenario_path: PathBuf,
    /// Each parameter's values.
    pub values: Vec<Vec<Value>>,
    /// SHA-256 (hex) of the spec and the base scenario: runs of different sweeps never mix.
    pub hash: String,
}

fn invalid(file: &str, path: &str, msg: impl Into<String>) -> InputError {
    InputError::Invalid {
        file: file.into(),
        path: path.into(),
        msg: msg.into(),
    }
}

/// Numbers of a range, rounded to 12 significant digits (so `0.1 * 3` is `0.3`), as integers
/// when they are whole.
fn range_values(r: &RangeSpec) -> Result<Vec<Value>, String> {
    if !(r.from.is_finite() && r.to.is_finite() && r.step.is_finite()) || r.step <= 0.0 {
        return Err(format!(
            "expected finite from/to and a step > 0, got from {} to {} step {}",
            r.from, r.to, r.step
        ));
    }
    if r.to < r.from {
        return Err(format!(
            "expected to >= from, got from {} to {}",
            r.from, r.to
        ));
    }
    let count = ((r.to - r.from) / r.step + 1e-9).floor() as u64 + 1;
    if count > 10_000 {
        return Err(format!("the range has {count} values, more than 10000"));
    }
    Ok((0..count)
        .map(|k| {
            let x = r.from + k as f64 * r.step;
            let x: f64 = format!("{x:.12e}")
                .parse()
                .expect("a formatted float parses");
            if x.fract() == 0.0 && x.abs() < 9e15 {
                Value::from(x as i64)
            } else {
                Value::from(x)
            }
        })
        .collect())
}

impl Sweep {
    /// Reads and checks a sweep file: its shape, its parameters, and that the base scenario
    /// loads with the first and the last value of every parameter.
    pub fn load(file: &Path) -> Result<Self, InputError> {
        let label = file.display().to_string();
        let doc = crate::scenario::read_json(file)?;
        let spec: SweepSpec = serde_path_to_error::deserialize(&doc).map_err(|e| {
            let path = e.path().to_string();
            invalid(&label, &path, e.into_inner().to_string())
        })?;
        if spec.name.is_empty()
            || !spec
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            || spec.name.starts_with('.')
        {
            return Err(invalid(
                &label,
                "name",
                format!(
                    "expected a sweep name of letters, digits, `_`, `-` or `.`, got {:?}",
                    spec.name
                ),
            ));
        }
        if spec.replications == 0 {
            return Err(invalid(
                &label,
                "replications",
                "expected at least 1 replication",
            ));
        }
        let mut values = Vec::new();
        for (i, p) in spec.parameters.iter().enumerate() {
            let path = format!("parameters[{i}]");
            if spec.parameters[..i].iter().any(|q| q.path == p.path) {
                return Err(invalid(
                    &label,
                    &format!("{path}.path"),
                    format!("the parameter {:?} is listed twice", p.path),
                ));
            }
            let v = match (&p.values, &p.range) {
                (Some(v), None) if !v.is_empty() => v.clone(),
                (Some(_), None) => {
                    return Err(invalid(
                        &label,
                        &format!("{path}.values"),
                        "expected at least one value",
                    ));
                }
                (None, Some(r)) => {
                    range_values(r).map_err(|m| invalid(&label, &format!("{path}.range"), m))?
                }
                _ => {
                    return Err(invalid(
                        &label,
                        &path,
                        "expected exactly one of `values` and `range`",
                    ));
                }
            };
            values.push(v);
        }
        for (i, m) in spec.metrics.iter().enumerate() {
            if m.is_empty() || m.split('.').any(str::is_empty) {
                return Err(invalid(
                    &label,
                    &format!("metrics[{i}]"),
                    format!("expected a dotted path into summary.json, got {m:?}"),
                ));
            }
        }
        if spec.metrics.is_empty() {
            return Err(invalid(&label, "metrics", "expected at least one metric"));
        }
        for (i, p) in spec.plots.iter().enumerate() {
            if !spec.metrics.contains(&p.metric) {
                return Err(invalid(
                    &label,
                    &format!("plots[{i}].metric"),
                    format!("{:?} is not one of the sweep's metrics", p.metric),
                ));
            }
            if !spec.parameters.iter().any(|q| q.path == p.x) {
                return Err(invalid(
                    &label,
                    &format!("plots[{i}].x"),
                    format!("{:?} is not one of the sweep's parameters", p.x),
                ));
            }
        }
        let runs =
            values.iter().map(|v| v.len() as u64).product::<u64>() * spec.replications as u64;
        if runs > 10_000_000 {
            return Err(invalid(
                &label,
                "parameters",
                format!("the sweep has {runs} runs, more than 10000000"),
            ));
        }
        let base = file.parent().unwrap_or(Path::new("."));
        let scenario_path = base.join(&spec.scenario);
        let scenario_text = std::fs::read_to_string(&scenario_path).map_err(|source| {
            invalid(
                &label,
                "scenario",
                format!(
                    "cannot read the base scenario {}: {source}",
                    scenario_path.display()
                ),
            )
        })?;
        // The base scenario must load, and with every parameter's first and last value.
        let scenario_label = scenario_path.display().to_string();
        let plan_hash = crate::scenario::parse(&scenario_label, &scenario_text, &[], None)?.hash;
        // Each parameter alone first, so that a refusal names the sweep file and the parameter.
        for (i, (p, v)) in spec.parameters.iter().zip(&values).enumerate() {
            for value in [&v[0], &v[v.len() - 1]] {
                let set = format!("{}={}", p.path, value);
                if let Err(e) = crate::scenario::parse(
                    &scenario_label,
                    &scenario_text,
                    std::slice::from_ref(&set),
                    None,
                ) {
                    let why = match e {
                        InputError::Invalid { path, msg, .. } => {
                            let msg = match msg.find(" (the value comes from --set") {
                                Some(k) => msg[..k].to_string(),
                                None => msg,
                            };
                            format!("at `{path}`: {msg}")
                        }
                        InputError::Set { msg, .. } => msg,
                        other => other.to_string(),
                    };
                    return Err(invalid(
                        &label,
                        &format!("parameters[{i}]"),
                        format!("{set} does not fit the base scenario {scenario_label}: {why}"),
                    ));
                }
            }
        }
        for pick in [0usize, usize::MAX] {
            let sets: Vec<String> = spec
                .parameters
                .iter()
                .zip(&values)
                .map(|(p, v)| format!("{}={}", p.path, v[pick.min(v.len() - 1)]))
                .collect();
            crate::scenario::parse(&scenario_label, &scenario_text, &sets, None)?;
        }
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&spec).expect("serializes"));
        h.update(serde_json::to_vec(&values).expect("serializes"));
        h.update(plan_hash.as_bytes());
        let digest: [u8; 32] = h.finalize().into();
        Ok(Self {
            file: file.to_path_buf(),
            spec,
            scenario_path,
            values,
            hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// Number of parameter points.
    pub fn points(&self) -> u64 {
        self.values.iter().map(|v| v.len() as u64).product()
    }

    /// Number of runs.
    pub fn len(&self) -> u64 {
        self.points() * self.spec.replications as u64
    }

    /// Whether the sweep has no runs (never: replications and values are at least 1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameter values of point `point` (first parameter outermost).
    pub fn point_values(&self, point: u64) -> Vec<(String, Value)> {
        let mut rest = point;
        let mut out = vec![(String::new(), Value::Null); self.values.len()];
        for (i, v) in self.values.iter().enumerate().rev() {
            let n = v.len() as u64;
            out[i] = (
                self.spec.parameters[i].path.clone(),
                v[(rest % n) as usize].clone(),
            );
            rest /= n;
        }
        out
    }

    /// Run `run` of the table.
    pub fn run(&self, run: u64) -> RunSpec {
        let reps = self.spec.replications as u64;
        RunSpec {
            run,
            point: run / reps,
            replication: (run % reps) as u32,
            seed: run_seed(self.spec.base_seed, run),
            parameters: self.point_values(run / reps),
        }
    }
}

#[cfg(test)]
mod tests;
