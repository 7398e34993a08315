//! Running a sweep: the selected runs in parallel (each run single-threaded and independent),
//! `runs.jsonl` appended as runs finish (one complete line per run, flushed), then, once all are
//! done, `runs.jsonl` rewritten in run order, `aggregate.csv` and the plots.
//!
//! A sweep folder holds `sweep.json` (the sweep, its parameter values and its hash),
//! `runs.jsonl`, `aggregate.csv` and `plots/`. A killed sweep leaves complete lines (and at most
//! one partial last line, dropped on `--resume`); `--resume` computes only the missing runs. Runs
//! in `runs.jsonl` are sorted by run index and carry nothing that depends on threads, shards or
//! time, so the folder is byte-identical whatever `-j`, shards or resumes produced it.

use super::{RunSpec, Sweep, SweepSpec, stats};
use crate::scenario::InputError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a sweep could not run or merge.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A run's scenario was refused.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The output folder is not usable.
    #[error("{0}")]
    Folder(String),
    /// A metric is not a number (or null) in summary.json.
    #[error("metric {0:?} is not a number in summary.json (see the README's metrics)")]
    UnknownMetric(String),
    /// Shards disagree.
    #[error("{0}")]
    Merge(String),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("drawing a sweep plot failed: {0}")]
    Plot(String),
    /// A run could not finish.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which runs of the table an invocation computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// `(i, n)`: runs whose index is `i` modulo `n` (`--shard i/n`, i from 0).
    pub shard: Option<(u64, u64)>,
    /// `(a, b)`: runs `a..=b` (`--runs a-b`).
    pub runs: Option<(u64, u64)>,
}

impl Selection {
    /// Whether run `i` is selected.
    pub fn includes(&self, i: u64) -> bool {
        self.shard.is_none_or(|(k, n)| i % n == k)
            && self.runs.is_none_or(|(a, b)| (a..=b).contains(&i))
    }

    /// Parses `i/n`.
    pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected I/N (e.g. 0/4), got {s:?}"))?;
        let (i, n): (u64, u64) = (
            i.trim()
                .parse()
                .map_err(|_| format!("expected a shard number, got {i:?}"))?,
            n.trim()
                .parse()
                .map_err(|_| format!("expected a shard count, got {n:?}"))?,
        );
        if n == 0 || i >= n {
            return Err(format!(
                "expected 0 <= I < N, got {i}/{n} (shards count from 0)"
            ));
        }
        Ok((i, n))
    }

    /// Parses `a-b`.
    pub fn parse_runs(s: &str) -> Result<(u64, u64), String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("expected A-B (e.g. 0-99), got {s:?}"))?;
        let (a, b): (u64, u64) = (
            a.trim()
                .parse()
                .map_err(|_| format!("expected a run index, got {a:?}"))?,
            b.trim()
                .parse()
                .map_err(|_| format!("expected a run index, got {b:?}"))?,
        );
        if b < a {
            return Err(format!("expected A <= B, got {a}-{b}"));
        }
        Ok((a, b))
    }
}

/// The record of a sweep kept in its folder: enough to aggregate and merge without the file.
fn sweep_record(sweep: &Sweep) -> Value {
    let mut m = Map::new();
    m.insert("hash".into(), sweep.hash.clone().into());
    m.insert("runs".into(), sweep.len().into());
    m.insert(
        "sweep".into(),
        serde_json::to_value(&sweep.spec).expect("serializes"),
    );
    m.insert("values".into(), Value::from(sweep.values.clone()));
    Value::Object(m)
}

/// A sweep as read back from a folder's `sweep.json`.
pub fn sweep_from_record(dir: &Path) -> Result<Sweep, SweepError> {
    let file = dir.join("sweep.json");
    let text = fs::read_to_string(&file).map_err(|_| {
        SweepError::Folder(format!(
            "{}: not a sweep folder (no sweep.json)",
            dir.display()
        ))
    })?;
    let bad = || {
        SweepError::Folder(format!(
            "{}: not a sweep record written by sim sweep",
            file.display()
        ))
    };
    let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
    let spec: SweepSpec = serde_json::from_value(v["sweep"].clone()).map_err(|_| bad())?;
    let values: Vec<Vec<Value>> = serde_json::from_value(v["values"].clone()).map_err(|_| bad())?;
    let hash = v["hash"].as_str().ok_or_else(bad)?.to_string();
    if values.len() != spec.parameters.len() || values.iter().any(Vec::is_empty) {
        return Err(bad());
    }
    Ok(Sweep {
        file: file.clone(),
        scenario_path: PathBuf::new(),
        spec,
        values,
        hash,
    })
}

/// The value at a dotted `path` of a JSON document.
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, seg| v.get(seg))
}

/// Runs one run of the table: the `runs.jsonl` line (without newline).
pub fn run_line(sweep: &Sweep, scenario_text: &str, spec: &RunSpec) -> Result<String, SweepError> {
    let label = sweep.scenario_path.display().to_string();
    let plan = crate::scenario::parse(&label, scenario_text, &spec.sets(), Some(spec.seed))?;
    // Only the summary is kept: no data file or table is rendered, and each component's tables
    // are dropped as it ends.
    let output = crate::engine::run_streaming(
        &plan,
        &crate::engine::RunOptions::default(),
        &mut |_| {},
        &mut |_| true,
    )?;
    let run_summary = crate::metrics::summarize(&plan, &output);
    let summary = serde_json::to_value(&run_summary).expect("serializes");
    let mut line = spec.to_json();
    line.insert("fingerprint".into(), run_summary.fingerprint.clone().into());
    let mut metrics = Map::new();
    for m in &sweep.spec.metrics {
        match lookup(&summary, m) {
            Some(v) if v.is_number() || v.is_null() => {
                metrics.insert(m.clone(), v.clone());
            }
            _ => return Err(SweepError::UnknownMetric(m.clone())),
        }
    }
    line.insert("metrics".into(), Value::Object(metrics));
    Ok(serde_json::to_string(&Value::Object(line)).expect("serializes"))
}

/// Complete lines of a `runs.jsonl` (a partial last line, from a killed sweep, is dropped),
/// keyed by run index.
pub fn read_runs(file: &Path) -> Result<BTreeMap<u64, String>, SweepError> {
    let text = match fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io(file)(e)),
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut out = BTreeMap::new();
    for (n, line) in complete.lines().enumerate() {
        let v: Value = serde_json::from_str(line).map_err(|e| {
            SweepError::Folder(format!(
                "{}:{}: not a run record: {e}",
                file.display(),
                n + 1
            ))
        })?;
        let run = v["run"].as_u64().ok_or_else(|| {
            SweepError::Folder(format!(
                "{}:{}: a run record without a run index",
                file.display(),
                n + 1
            ))
        })?;
        if let Some(old) = out.insert(run, line.to_string())
            && old != line
        {
            return Err(SweepError::Merge(format!(
                "{}: run {run} is recorded twice with different results",
                file.display()
            )));
        }
    }
    Ok(out)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    crate::report::output::write_file_atomic(path, bytes).map_err(io(path))
}

/// Options of a sweep invocation.
pub struct SweepOptions<'a> {
    /// Worker threads.
    pub jobs: usize,
    /// The sweep folder.
    pub out: PathBuf,
    /// Which runs.
    pub selection: Selection,
    /// Continue a sweep folder that already has runs.
    pub resume: bool,
    /// Called with (runs done, runs to do in this invocation) after each run.
    pub progress: &'a (dyn Fn(u64, u64) + Sync),
}

/// What a sweep invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Runs computed now.
    pub computed: u64,
    /// Selected runs found already done.
    pub skipped: u64,
    /// Runs in the folder now.
    pub recorded: u64,
    /// Runs in the whole table.
    pub total: u64,
}

/// Prepares the folder: refuses one holding something else, or another sweep, or (without
/// `resume`) earlier runs.
fn prepare(sweep: &Sweep, dir: &Path, resume: bool) -> Result<(), SweepError> {
    if dir.join("sweep.json").is_file() {
        let existing = sweep_from_record(dir)?;
        if existing.hash != sweep.hash {
            return Err(SweepError::Folder(format!(
                "{}: holds another sweep (a different sweep file, parameters or base scenario); choose another --out",
                dir.display()
            )));
        }
        if !resume && dir.join("runs.jsonl").is_file() {
            return Err(SweepError::Folder(format!(
                "{}: already holds runs of this sweep; use --resume to continue it, or choose another --out",
                dir.display()
            )));
        }
    } else if dir.exists() && fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(SweepError::Folder(format!(
            "{}: exists and is not a sweep folder; choose another --out",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut record = serde_json::to_vec_pretty(&sweep_record(sweep)).expect("serializes");
    record.push(b'\n');
    write_atomic(&dir.join("sweep.json"), &record)
}

/// Runs the selected runs of `sweep` into `opts.out`, then writes the results.
pub fn run_sweep(sweep: &Sweep, opts: &SweepOptions) -> Result<SweepOutcome, SweepError> {
    let dir = &opts.out;
    prepare(sweep, dir, opts.resume)?;
    let runs_file = dir.join("runs.jsonl");
    let done = read_runs(&runs_file)?;
    // Rewrite the file with its complete lines only (drops a partial line left by a kill).
    let mut kept = String::new();
    for line in done.values() {
        kept.push_str(line);
        kept.push('\n');
    }
    write_atomic(&runs_file, kept.as_bytes())?;
    let todo: Vec<u64> = (0..sweep.len())
        .filter(|&i| opts.selection.includes(i) && !done.contains_key(&i))
        .collect();
    let skipped = (0..sweep.len())
        .filter(|&i| opts.selection.includes(i) && done.contains_key(&i))
        .count() as u64;
    let scenario_text =
        fs::read_to_string(&sweep.scenario_path).map_err(io(&sweep.scenario_path))?;

    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&runs_file)
        .map_err(io(&runs_file))?;
    let total = todo.len() as u64;
    let mut computed = 0u64;
    if let Some((&first, rest)) = todo.split_first() {
        // The first run alone: a bad metric or parameter value fails before the pool starts.
        let line = run_line(sweep, &scenario_text, &sweep.run(first))?;
        writeln!(file, "{line}")
            .and_then(|_| file.flush())
            .map_err(io(&runs_file))?;
        computed += 1;
        (opts.progress)(computed, total);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.jobs.max(1))
            .build()
            .map_err(|e| {
                SweepError::Folder(format!("cannot start {} worker threads: {e}", opts.jobs))
            })?;
        let (tx, rx) = std::sync::mpsc::channel::<Result<String, SweepError>>();
        let mut failure = None;
        std::thread::scope(|scope| {
            let text = &scenario_text;
            scope.spawn(move || {
                use rayon::prelude::*;
                pool.install(|| {
                    rest.par_iter().for_each_with(tx, |tx, &i| {
                        let _ = tx.send(run_line(sweep, text, &sweep.run(i)));
                    });
                });
            });
            for result in rx {
                match result {
                    Ok(line) => {
                        if let Err(e) = writeln!(file, "{line}").and_then(|_| file.flush()) {
                            failure.get_or_insert(io(&runs_file)(e));
                        }
                        computed += 1;
                        (opts.progress)(computed, total);
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    drop(file);
    let recorded = finish(sweep, dir)?;
    Ok(SweepOutcome {
        computed,
        skipped,
        recorded,
        total: sweep.len(),
    })
}

/// Rewrites `runs.jsonl` in run order and writes `aggregate.csv` and the plots. Returns the
/// number of runs recorded.
pub fn finish(sweep: &Sweep, dir: &Path) -> Result<u64, SweepError> {
    let runs_file = dir.join("runs.jsonl");
    let runs = read_runs(&runs_file)?;
    let mut text = String::new();
    for line in runs.values() {
        text.push_str(line);
        text.push('\n');
    }
    write_atomic(&runs_file, text.as_bytes())?;
    let records: Vec<Value> = runs
        .values()
        .map(|l| serde_json::from_str(l).expect("checked when read"))
        .collect();
    let table = aggregate(sweep, &records);
    write_atomic(
        &dir.join("aggregate.csv"),
        aggregate_csv(sweep, &table).as_bytes(),
    )?;
    let plots = super::check::sweep_plots(sweep, &table).map_err(SweepError::Plot)?;
    let plot_dir = dir.join("plots");
    let _ = fs::remove_dir_all(&plot_dir);
    if !plots.is_empty() {
        fs::create_dir_all(&plot_dir).map_err(io(&plot_dir))?;
    }
    for (name, bytes) in plots {
        write_atomic(&plot_dir.join(name), &bytes)?;
    }
    Ok(runs.len() as u64)
}

/// One aggregated (point, metric).
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateRow {
    /// Point index.
    pub point: u64,
    /// Parameter values of the point.
    pub parameters: Vec<(String, Value)>,
    /// The metric.
    pub metric: String,
    /// Runs whose metric was null (e.g. no convergence).
    pub missing: u64,
    /// Statistics of the non-null values, in run order.
    pub stats: Option<stats::Stats>,
}

/// Aggregates run records per point and metric (points and metrics in table order).
pub fn aggregate(sweep: &Sweep, records: &[Value]) -> Vec<AggregateRow> {
    let mut by_point: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for r in records {
        by_point
            .entry(r["point"].as_u64().unwrap_or(0))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for (point, rs) in by_point {
        for m in &sweep.spec.metrics {
            let values: Vec<f64> = rs.iter().filter_map(|r| r["metrics"][m].as_f64()).collect();
            out.push(AggregateRow {
                point,
                parameters: sweep.point_values(point),
                metric: m.clone(),
                missing: rs.len() as u64 - values.len() as u64,
                stats: stats::stats(&values),
            });
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// `aggregate.csv`: `point, <parameters...>, metric, n, missing, mean, sd, ci95_low, ci95_high`.
pub fn aggregate_csv(sweep: &Sweep, rows: &[AggregateRow]) -> String {
    let mut s = String::from("point");
    for p in &sweep.spec.parameters {
        s.push(',');
        s.push_str(&csv_field(&p.path));
    }
    s.push_str(",metric,n,missing,mean,sd,ci95_low,ci95_high\n");
    for r in rows {
        s.push_str(&r.point.to_string());
        for (_, v) in &r.parameters {
            s.push(',');
            s.push_str(&csv_field(&v.to_string()));
        }
        let (n, mean, sd, lo, hi) = match r.stats {
            Some(st) => (
                st.n,
                num(st.mean),
                num(st.sd),
                num(st.ci_low),
                num(st.ci_high),
            ),
            None => (
                0,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        s.push_str(&format!(
            ",{},{n},{},{mean},{sd},{lo},{hi}\n",
            csv_field(&r.metric),
            r.missing
        ));
    }
    s
}

/// Merges shard folders into `out`: every folder must hold the same sweep; runs recorded in
/// several must agree. Returns the number of runs merged.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<u64, SweepError> {
    let first = dirs
        .first()
        .ok_or_else(|| SweepError::Merge("nothing to merge".into()))?;
    let sweep = sweep_from_record(first)?;
    let mut all: BTreeMap<u64, String> = BTreeMap::new();
    for d in dirs {
        let s = sweep_from_record(d)?;
        if s.hash != sweep.hash {
            return Err(SweepError::Merge(format!(
                "{} holds another sweep than {}",
                d.display(),
                first.display()
            )));
        }
        for (run, line) in read_runs(&d.join("runs.jsonl"))? {
            if let Some(old) = all.insert(run, line.clone())
                && old != line
            {
                return Err(SweepError::Merge(format!(
                    "run {run} differs between shards (in {})",
                    d.display()
                )));
            }
        }
    }
    if out.exists() && fs::read_dir(out).map_err(io(out))?.next().is_some() {
        if !out.join("sweep.json").is_file() || sweep_from_record(out)?.hash != sweep.hash {
            return Err(SweepError::Folder(format!(
                "{}: exists and is not a folder of this sweep; choose another --out",
                out.display()
            )));
        }
        for (run, line) in read_runs(&out.join("runs.jsonl"))? {
            if all.get(&run).is_some_and(|l| *l != line) {
                return Err(SweepError::Merge(format!(
                    "run {run} differs between the shards and {}",
                    out.display()
                )));
            }
            all.insert(run, line);
        }
    }
    fs::create_dir_all(out).map_err(io(out))?;
    let mut record = serde_json::to_vec_pretty(&sweep_record(&sweep)).expect("serializes");
    record.push(b'\n');
    write_atomic(&out.join("sweep.json"), &record)?;
    let text: String = all.values().map(|l| format!("{l}\n")).collect();
    write_atomic(&out.join("runs.jsonl"), text.as_bytes())?;
    finish(&sweep, out)
}
