//! Regression checks: a run's `summary.json`, or a sweep's `aggregate.csv`, against a baseline
//! file of per-metric tolerances.
//!
//! A baseline is `{"checks": [{"metric", "baseline", "point"?, "better"?, "absolute"?,
//! "relative"?, "min"?, "max"?}]}`. `better` is `"higher"` or `"lower"` (default: higher for
//! `delivery.*` metrics, lower for the rest). A metric has regressed when it is worse than its
//! baseline by more than `absolute`, or by more than `relative` × |baseline|, or is below `min` or
//! above `max`; with no tolerance at all, any worsening is a regression. For an aggregate, `point`
//! picks the row by its parameter values and the mean is compared.

use super::runner::lookup;
use crate::scenario::InputError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

/// A baseline file.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The checks.
    pub checks: Vec<CheckSpec>,
}

/// Which direction is better.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Higher values are better (delivery ratio).
    Higher,
    /// Lower values are better (latency, traffic).
    Lower,
}

/// One metric's check.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Dotted path into summary.json (or a metric of the aggregate).
    pub metric: String,
    /// For an aggregate: the parameter values of the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<Map<String, Value>>,
    /// The baseline value (null: the metric is expected to be null).
    pub baseline: Option<f64>,
    /// Which direction is better. Default: higher for delivery.*, lower otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub better: Option<Better>,
    /// Allowed worsening, in the metric's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute: Option<f64>,
    /// Allowed worsening, as a fraction of |baseline|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<f64>,
    /// Lowest acceptable value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest acceptable value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl CheckSpec {
    fn better(&self) -> Better {
        self.better
            .unwrap_or(if self.metric.starts_with("delivery.") {
                Better::Higher
            } else {
                Better::Lower
            })
    }

    fn tolerance(&self) -> String {
        let mut t = Vec::new();
        if let Some(a) = self.absolute {
            t.push(format!("±{a}"));
        }
        if let Some(r) = self.relative {
            t.push(format!("±{}%", r * 100.0));
        }
        if let Some(m) = self.min {
            t.push(format!(">= {m}"));
        }
        if let Some(m) = self.max {
            t.push(format!("<= {m}"));
        }
        if t.is_empty() {
            "exact".into()
        } else {
            t.join(", ")
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within tolerance.
    Ok,
    /// Better than the baseline.
    Improved,
    /// Worse than allowed.
    Regressed,
}

/// One row of the check table.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    /// The metric (with its point, if any).
    pub metric: String,
    /// The baseline.
    pub baseline: Option<f64>,
    /// The value now.
    pub now: Option<f64>,
    /// The tolerance, as text.
    pub tolerance: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// Judges `now` against a check.
pub fn judge(c: &CheckSpec, now: Option<f64>) -> Verdict {
    let (Some(base), Some(now)) = (c.baseline, now) else {
        return if c.baseline.is_none() && now.is_none() {
            Verdict::Ok
        } else if c.baseline.is_none() {
            // Was null (e.g. never converged), now a value: only bounds can fail it.
            if c.min.is_some_and(|m| now.is_some_and(|n| n < m))
                || c.max.is_some_and(|m| now.is_some_and(|n| n > m))
            {
                Verdict::Regressed
            } else {
                Verdict::Improved
            }
        } else {
            Verdict::Regressed
        };
    };
    let worse_by = match c.better() {
        Better::Higher => base - now,
        Better::Lower => now - base,
    };
    let bound_fail = c.min.is_some_and(|m| now < m) || c.max.is_some_and(|m| now > m);
    let allowed = match (c.absolute, c.relative) {
        (None, None) if c.min.is_some() || c.max.is_some() => f64::INFINITY,
        (None, None) => 0.0,
        (a, r) => a
            .unwrap_or(0.0)
            .max(r.map(|r| r * base.abs()).unwrap_or(0.0)),
    };
    if bound_fail || worse_by > allowed + 1e-12 * base.abs().max(1.0) {
        Verdict::Regressed
    } else if worse_by < -1e-12 * base.abs().max(1.0) {
        Verdict::Improved
    } else {
        Verdict::Ok
    }
}

fn bad(file: &str, path: &str, msg: impl Into<String>) -> InputError {
    InputError::Invalid {
        file: file.into(),
        path: path.into(),
        msg: msg.into(),
    }
}

/// Reads a baseline file.
pub fn load_baseline(path: &Path) -> Result<Baseline, InputError> {
    let file = path.display().to_string();
    let doc = crate::scenario::read_json(path)?;
    let b: Baseline = serde_path_to_error::deserialize(&doc).map_err(|e| {
        let p = e.path().to_string();
        bad(&file, &p, e.into_inner().to_string())
    })?;
    for (i, c) in b.checks.iter().enumerate() {
        for (name, v) in [("absolute", c.absolute), ("relative", c.relative)] {
            if v.is_some_and(|x| !(x.is_finite() && x >= 0.0)) {
                return Err(bad(
                    &file,
                    &format!("checks[{i}].{name}"),
                    "expected a tolerance >= 0",
                ));
            }
        }
    }
    Ok(b)
}

/// What a check compares: a run summary, or a sweep aggregate.
pub enum Subject {
    /// A `summary.json`.
    Summary(Value),
    /// The rows of an `aggregate.csv`: (parameters, metric, mean).
    Aggregate(Vec<(Map<String, Value>, String, Option<f64>)>),
}

/// Reads `summary.json` or `aggregate.csv` (by extension).
pub fn load_subject(path: &Path) -> Result<Subject, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        file: file.clone(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "csv") {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let mi = header.iter().position(|h| *h == "metric");
        let (Some(mi), Some(meani)) = (mi, header.iter().position(|h| *h == "mean")) else {
            return Err(bad(
                &file,
                "1",
                "expected an aggregate.csv header (point, parameters..., metric, n, missing, mean, ...)",
            ));
        };
        let mut rows = Vec::new();
        for (n, l) in lines.enumerate() {
            let f = split_csv(l);
            if f.len() != header.len() {
                return Err(bad(
                    &file,
                    &format!("{}", n + 2),
                    format!("expected {} fields, got {}", header.len(), f.len()),
                ));
            }
            let mut params = Map::new();
            for (h, v) in header[1..mi].iter().zip(&f[1..mi]) {
                params.insert(
                    h.to_string(),
                    serde_json::from_str(v).unwrap_or(Value::String(v.clone())),
                );
            }
            let mean = if f[meani].is_empty() {
                None
            } else {
                Some(f[meani].parse().map_err(|_| {
                    bad(
                        &file,
                        &format!("{}", n + 2),
                        format!("expected a number, got {:?}", f[meani]),
                    )
                })?)
            };
            rows.push((params, f[mi].clone(), mean));
        }
        Ok(Subject::Aggregate(rows))
    } else {
        let v: Value = serde_json::from_str(&text).map_err(|e| InputError::Syntax {
            file: file.clone(),
            line: e.line(),
            column: e.column(),
            msg: e.to_string(),
        })?;
        if v.get("fingerprint").is_none() {
            return Err(bad(
                &file,
                ".",
                "expected a summary.json written by sim run",
            ));
        }
        Ok(Subject::Summary(v))
    }
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                out.last_mut().expect("non-empty").push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

/// Runs every check of `baseline` against `subject`. Errors name the check that cannot be
/// evaluated (an unknown metric or point).
pub fn check(
    subject: &Subject,
    baseline: &Baseline,
    baseline_file: &str,
) -> Result<Vec<CheckRow>, InputError> {
    let mut rows = Vec::new();
    for (i, c) in baseline.checks.iter().enumerate() {
        let (label, now) = match subject {
            Subject::Summary(s) => {
                if c.point.is_some() {
                    return Err(bad(
                        baseline_file,
                        &format!("checks[{i}].point"),
                        "a summary.json has no points; `point` is for a sweep's aggregate.csv",
                    ));
                }
                let v = lookup(s, &c.metric).ok_or_else(|| {
                    bad(
                        baseline_file,
                        &format!("checks[{i}].metric"),
                        format!("summary.json has no metric {:?}", c.metric),
                    )
                })?;
                if !(v.is_number() || v.is_null()) {
                    return Err(bad(
                        baseline_file,
                        &format!("checks[{i}].metric"),
                        format!("{:?} is not a number in summary.json", c.metric),
                    ));
                }
                (c.metric.clone(), v.as_f64())
            }
            Subject::Aggregate(rs) => {
                let point = c.point.clone().unwrap_or_default();
                let row = rs
                    .iter()
                    .find(|(p, m, _)| {
                        *m == c.metric
                            && point.iter().all(|(k, v)| p.get(k) == Some(v))
                            && p.len() == point.len()
                    })
                    .ok_or_else(|| {
                        bad(
                            baseline_file,
                            &format!("checks[{i}]"),
                            format!(
                                "the aggregate has no row for metric {:?} at point {}",
                                c.metric,
                                Value::Object(point.clone())
                            ),
                        )
                    })?;
                let label = if point.is_empty() {
                    c.metric.clone()
                } else {
                    format!("{} @ {}", c.metric, Value::Object(point))
                };
                (label, row.2)
            }
        };
        rows.push(CheckRow {
            metric: label,
            baseline: c.baseline,
            now,
            tolerance: c.tolerance(),
            verdict: judge(c, now),
        });
    }
    Ok(rows)
}

/// The check table as text: metric, baseline, now, tolerance, verdict.
pub fn table(rows: &[CheckRow]) -> String {
    let f = |x: Option<f64>| x.map(|x| format!("{x}")).unwrap_or_else(|| "null".into());
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let verdict = match r.verdict {
                Verdict::Ok => "ok",
                Verdict::Improved => "improved",
                Verdict::Regressed => "REGRESSED",
            };
            [
                r.metric.clone(),
                f(r.baseline),
                f(r.now),
                r.tolerance.clone(),
                verdict.into(),
            ]
        })
        .collect();
    let head = ["metric", "baseline", "now", "tolerance", "verdict"];
    let mut w = head.map(str::len);
    for c in &cells {
        for (i, x) in c.iter().enumerate() {
            w[i] = w[i].max(x.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, x) in c.iter().enumerate() {
            let pad = w[i] - x.chars().count();
            if i == 0 || i == 3 || i == 4 {
                s.push_str(x);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(x);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&head.map(String::from));
    for c in &cells {
        out.push_str(&line(c));
    }
    out
}

/// The checks a new baseline of a run summary starts with.
pub fn default_checks(summary: &Value) -> Baseline {
    let get = |m: &str| lookup(summary, m).and_then(Value::as_f64);
    let mut checks = vec![
        CheckSpec {
            metric: "delivery.ratio".into(),
            point: None,
            baseline: get("delivery.ratio"),
            better: None,
            absolute: Some(0.01),
            relative: None,
            min: None,
            max: None,
        },
        CheckSpec {
            metric: "delivery.delivered".into(),
            point: None,
            baseline: get("delivery.delivered"),
            better: None,
            absolute: None,
            relative: Some(0.01),
            min: None,
            max: None,
        },
    ];
    for m in [
        "latency_ticks.p50",
        "latency_ticks.p90",
        "traffic.multiplier_packets",
        "traffic.multiplier_bytes",
    ] {
        checks.push(CheckSpec {
            metric: m.into(),
            point: None,
            baseline: get(m),
            better: None,
            absolute: None,
            relative: Some(0.2),
            min: None,
            max: None,
        });
    }
    if get("discovery.nodes").is_some_and(|n| n > 0.0) {
        for m in ["discovery.verified_peers.mean", "discovery.reached_target"] {
            checks.push(CheckSpec {
                metric: m.into(),
                point: None,
                baseline: get(m),
                better: Some(Better::Higher),
                absolute: None,
                relative: Some(0.05),
                min: None,
                max: None,
            });
        }
    }
    if get("rpc.started").is_some_and(|n| n > 0.0) {
        checks.push(CheckSpec {
            metric: "rpc.completed".into(),
            point: None,
            baseline: get("rpc.completed"),
            better: Some(Better::Higher),
            absolute: None,
            relative: Some(0.05),
            min: None,
            max: None,
        });
        checks.push(CheckSpec {
            metric: "rpc.timed_out".into(),
            point: None,
            baseline: get("rpc.timed_out"),
            better: Some(Better::Lower),
            absolute: Some(2.0),
            relative: Some(0.1),
            min: None,
            max: None,
        });
    }
    Baseline { description: "Regression baseline: sim check <summary.json> --baseline <this file>; refresh with --update.".into(), checks }
}

/// The baseline with every check's value replaced by the current one.
pub fn updated(baseline: &Baseline, rows: &[CheckRow]) -> Baseline {
    let mut b = baseline.clone();
    for (c, r) in b.checks.iter_mut().zip(rows) {
        c.baseline = r.now;
    }
    b
}

/// Plots of a sweep: each requested metric (default: every metric) against a parameter (default:
/// the first), one line per combination of the other parameters, with 95% confidence bands.
pub fn sweep_plots(
    sweep: &super::Sweep,
    table: &[super::runner::AggregateRow],
) -> Result<Vec<(String, Vec<u8>)>, String> {
    crate::report::plots::sweep_plots(sweep, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(metric: &str, baseline: f64) -> CheckSpec {
        CheckSpec {
            metric: metric.into(),
            point: None,
            baseline: Some(baseline),
            better: None,
            absolute: None,
            relative: None,
            min: None,
            max: None,
        }
    }

    #[test]
    fn tolerances_decide_the_verdict() {
        let ratio = CheckSpec {
            absolute: Some(0.05),
            ..c("delivery.ratio", 0.9)
        };
        assert_eq!(judge(&ratio, Some(0.86)), Verdict::Ok);
        assert_eq!(judge(&ratio, Some(0.84)), Verdict::Regressed);
        assert_eq!(judge(&ratio, Some(0.95)), Verdict::Improved);
        let latency = CheckSpec {
            relative: Some(0.1),
            ..c("latency_ticks.p50", 100.0)
        };
        assert_eq!(judge(&latency, Some(109.0)), Verdict::Ok);
        assert_eq!(judge(&latency, Some(111.0)), Verdict::Regressed);
        assert_eq!(judge(&latency, Some(80.0)), Verdict::Improved);
        let exact = c("traffic.packets_sent", 10.0);
        assert_eq!(judge(&exact, Some(10.0)), Verdict::Ok);
        assert_eq!(judge(&exact, Some(11.0)), Verdict::Regressed);
        let bound = CheckSpec {
            min: Some(0.99),
            ..c("delivery.ratio", 1.0)
        };
        assert_eq!(judge(&bound, Some(0.995)), Verdict::Ok);
        assert_eq!(judge(&bound, Some(0.98)), Verdict::Regressed);
        let explicit = CheckSpec {
            better: Some(Better::Higher),
            ..c("traffic.packets_sent", 10.0)
        };
        assert_eq!(judge(&explicit, Some(9.0)), Verdict::Regressed);
    }

    #[test]
    fn nulls_are_judged() {
        let conv = CheckSpec {
            baseline: None,
            ..c("delivery.convergence_tick", 0.0)
        };
        assert_eq!(judge(&conv, None), Verdict::Ok);
        assert_eq!(judge(&conv, Some(40.0)), Verdict::Improved);
        assert_eq!(
            judge(&c("delivery.convergence_tick", 40.0), None),
            Verdict::Regressed
        );
    }

    #[test]
    fn csv_fields_with_quotes_split_right() {
        assert_eq!(
            split_csv(r#"0,"{""kind"":""x""}",m"#),
            ["0", r#"{"kind":"x"}"#, "m"]
        );
    }
}
