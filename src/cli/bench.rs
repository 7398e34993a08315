//! `sim bench [NAME]`: runs the benchmark workloads of [`crate::bench`] and prints their figures.

use super::CliError;
use crate::bench::{self, Figures};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct BenchArgs {
    /// The workload: seed_scale, sparse, medium, large, huge, soak, mesh (discovery in a
    /// 10,000-node full mesh), stores (peer stores of 200 nodes and a group following their
    /// live peers), or sweep (the same sweep with -j 1 and -j 2). Default:
    /// seed_scale, sparse, large and sweep, each in its own process (so that each peak memory
    /// figure is its own); the others run only when named.
    name: Option<String>,
    /// Write the workload's scenario to this file instead of running it.
    #[arg(long, value_name = "FILE")]
    write_scenario: Option<PathBuf>,
    /// Print the figures as one JSON object per workload.
    #[arg(long)]
    json: bool,
    /// Threads for the independent components of a workload that has several (medium, large,
    /// huge: one per group) [default: 1, so that the figures are those of one core].
    #[arg(short = 'j', long, default_value_t = 1, hide_default_value = true)]
    jobs: usize,
    /// Runs of the workload in this process; the figures are those of the fastest run, with
    /// the median wall time beside them (on a machine shared with others a single run can be
    /// far off). Every run must give the same fingerprint. Not for soak or sweep (sweep takes
    /// the best of its own rounds) [default: 1].
    #[arg(long, value_name = "N", default_value_t = 1, hide_default_value = true)]
    repeat: usize,
}

pub(super) fn bench(args: BenchArgs) -> Result<(), CliError> {
    super::threads(args.jobs)?;
    if args.repeat == 0 {
        return Err(CliError::Usage(
            "bench: --repeat must be at least 1 (runs of the workload)".into(),
        ));
    }
    let Some(name) = args.name.as_deref() else {
        return all(args.json, args.repeat);
    };
    if args.repeat > 1 && (name == "sweep" || name == "soak") {
        return Err(CliError::Usage(format!(
            "bench {name}: --repeat is for the single-run workloads ({}); {name} {}",
            bench::NAMES
                .iter()
                .filter(|&&n| n != "soak")
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            if name == "sweep" {
                "already reports the best of its own rounds"
            } else {
                "measures memory over one run"
            }
        )));
    }
    if name == "sweep" {
        return sweep(args.json);
    }
    let doc = bench::scenario(name).ok_or_else(|| {
        CliError::Usage(format!(
            "bench {name}: unknown workload (expected one of {}, sweep)",
            bench::NAMES.join(", ")
        ))
    })?;
    if let Some(file) = &args.write_scenario {
        let mut text = serde_json::to_vec_pretty(&doc).expect("a scenario serializes");
        text.push(b'\n');
        crate::report::output::write_file_atomic(file, &text).map_err(|source| {
            CliError::Output(crate::report::OutputError::Io {
                path: file.clone(),
                source,
            })
        })?;
        return Ok(());
    }
    let plan = crate::scenario::parse(&format!("bench {name}"), &doc.to_string(), &[], None)?;
    // Resident memory at every tenth of the run (only printed for `soak`).
    let mut samples: Vec<(u64, Option<u64>)> = Vec::new();
    let tenth = (plan.duration / 10).max(1);
    let mut progress = |tick: u64| {
        if tick / tenth > samples.len() as u64 {
            samples.push((tick, bench::rss_bytes()));
        }
    };
    let options = crate::engine::RunOptions {
        threads: args.jobs,
        ..Default::default()
    };
    // The fastest run's output and every run's wall time.
    let mut fastest: Option<(f64, crate::engine::RunOutput)> = None;
    let mut times = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
        let started = std::time::Instant::now();
        // Each component's tables are handed over as it ends, as `sim run` writes them to its
        // folder; here they are dropped (output files are not measured).
        let output = crate::engine::run_streaming(&plan, &options, &mut progress, &mut |_| true)?;
        let seconds = started.elapsed().as_secs_f64();
        times.push(seconds);
        if let Some((_, first)) = &fastest
            && first.fingerprint != output.fingerprint
        {
            return Err(CliError::Usage(format!(
                "bench {name}: two runs of the same workload gave different fingerprints ({} and {}): the simulation is not deterministic",
                first.fingerprint, output.fingerprint
            )));
        }
        if fastest.as_ref().is_none_or(|(best, _)| seconds < *best) {
            fastest = Some((seconds, output));
        }
    }
    let (seconds, output) = fastest.expect("at least one run");
    times.sort_by(f64::total_cmp);
    let median_seconds = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let summary = crate::metrics::summarize(&plan, &output);
    let packets = summary.traffic.packets_sent;
    let figures = Figures {
        name: name.to_string(),
        nodes: plan.nodes.len() as u64,
        ticks: plan.duration,
        events: output.events,
        packets,
        delivered: summary.delivery.delivered,
        threads: args.jobs,
        seconds,
        repeats: args.repeat,
        median_seconds,
        events_per_second: output.events as f64 / seconds,
        packets_per_second: packets as f64 / seconds,
        records: output.sync_records,
        bytes_per_record: (output.sync_records > 0)
            .then(|| output.sync_heap_bytes as f64 / output.sync_records as f64),
        peak_rss_bytes: bench::peak_rss_bytes(),
        fingerprint: output.fingerprint.clone(),
        build: bench::build_kind(),
        machine: bench::machine(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&figures).expect("serializes")
        )?;
    } else {
        writeln!(out, "{}", line(&figures))?;
    }
    if name == "soak" {
        let mib = |b: Option<u64>| {
            b.map(|b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64))
                .unwrap_or_else(|| "n/a".into())
        };
        writeln!(
            out,
            "soak: {} messages appended, {} deliveries logged; resident memory as the run went:",
            output.messages.len(),
            output.metrics.deliveries.len()
        )?;
        for (tick, rss) in &samples {
            writeln!(out, "  tick {tick:>9}: {}", mib(*rss))?;
        }
        writeln!(out, "  end:            {}", mib(bench::rss_bytes()))?;
        writeln!(
            out,
            "  sync state at the end: {} bytes over all nodes",
            output.sync_heap_bytes
        )?;
    }
    Ok(())
}

fn line(f: &Figures) -> String {
    let mib = |b: u64| format!("{:.0} MiB", b as f64 / (1 << 20) as f64);
    format!(
        "{}: {} nodes, {} ticks, {} events, {} packets, {} delivered in {:.3} s{} on {} thread{}: {:.2} M events/s, {:.2} M packets/s; {} sync records, {}; peak RSS {}; fingerprint {}; {} build on {}",
        f.name,
        f.nodes,
        f.ticks,
        f.events,
        f.packets,
        f.delivered,
        f.seconds,
        if f.repeats > 1 {
            format!(" (best of {}, median {:.3} s)", f.repeats, f.median_seconds)
        } else {
            String::new()
        },
        f.threads,
        if f.threads == 1 { "" } else { "s" },
        f.events_per_second / 1e6,
        f.packets_per_second / 1e6,
        f.records,
        f.bytes_per_record
            .map(|b| format!("{b:.1} bytes per record"))
            .unwrap_or_else(|| "no records".into()),
        f.peak_rss_bytes.map(mib).unwrap_or_else(|| "n/a".into()),
        f.fingerprint,
        f.build,
        f.machine
    )
}

/// Each default workload in a child process of this program.
fn all(json: bool, repeat: usize) -> Result<(), CliError> {
    let exe = std::env::current_exe()?;
    for name in ["seed_scale", "sparse", "large", "sweep"] {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("bench").arg(name);
        if json {
            cmd.arg("--json");
        }
        if name != "sweep" {
            cmd.arg("--repeat").arg(repeat.to_string());
        }
        let status = cmd.status()?;
        if !status.success() {
            return Err(CliError::Usage(format!(
                "bench {name}: the workload failed ({status})"
            )));
        }
    }
    Ok(())
}

/// Runs of the sweep benchmark (seeds of batch_payload.json).
const SWEEP_RUNS: u64 = 256;
/// Times each of `-j 1` and `-j 2` is measured, alternately; the best of each is reported (one
/// sweep takes a few seconds, so a single pair is at the mercy of the machine's neighbours).
const SWEEP_ROUNDS: usize = 3;

/// The same sweep (batch_payload.json over [`SWEEP_RUNS`] seeds) with 1 and with 2 worker
/// threads, [`SWEEP_ROUNDS`] times each, alternately.
fn sweep(json: bool) -> Result<(), CliError> {
    let tmp = std::env::temp_dir().join(format!("syncsim-bench-sweep-{}", std::process::id()));
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| CliError::Output(crate::report::OutputError::Io { path, source })
    };
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let scenario = tmp.join("batch_payload.json");
    std::fs::write(
        &scenario,
        include_str!("../../scenarios/batch_payload.json"),
    )
    .map_err(io(&scenario))?;
    let file = tmp.join("sweep.json");
    std::fs::write(
        &file,
        format!(r#"{{"name": "bench_sweep", "scenario": "batch_payload.json", "replications": {SWEEP_RUNS}, "base_seed": 1}}"#),
    )
    .map_err(io(&file))?;
    let sweep = crate::experiment::Sweep::load(&file)?;
    // Best wall time of -j 1 and of -j 2, and the runs computed.
    let mut best = [f64::INFINITY; 2];
    let mut runs = 0;
    for round in 0..SWEEP_ROUNDS {
        for (k, jobs) in [1usize, 2].into_iter().enumerate() {
            let out = tmp.join(format!("j{jobs}-{round}"));
            let opts = crate::experiment::runner::SweepOptions {
                jobs,
                out: out.clone(),
                selection: crate::experiment::runner::Selection::default(),
                resume: false,
                progress: &|_, _| {},
            };
            #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
            let started = std::time::Instant::now();
            let outcome = crate::experiment::runner::run_sweep(&sweep, &opts)?;
            best[k] = best[k].min(started.elapsed().as_secs_f64());
            runs = outcome.computed;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let [one, two] = best;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"name": "sweep", "runs": runs, "seconds_j1": one, "seconds_j2": two, "speedup": one / two, "build": crate::bench::build_kind(), "machine": crate::bench::machine()})
        )?;
    } else {
        writeln!(
            out,
            "sweep: {runs} runs of batch_payload.json, best of {SWEEP_ROUNDS}: -j 1 {one:.2} s ({:.1} runs/s), -j 2 {two:.2} s ({:.1} runs/s): {:.2}x; {} build on {}",
            runs as f64 / one,
            runs as f64 / two,
            one / two,
            crate::bench::build_kind(),
            crate::bench::machine()
        )?;
    }
    Ok(())
}
