//! `sim run SCENARIO`: runs a scenario and writes its run folder.

use super::{CliError, ScenarioArgs};
use crate::report;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Output folder [default: out/<scenario name>-s<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run twice and fail unless both runs give byte-identical outputs.
    #[arg(long)]
    check_determinism: bool,
    /// Also print every node's sync-state table at the end, as the seed PoC does.
    #[arg(long)]
    tables: bool,
    /// Check the protocol invariants during the run and stop at the first violation, naming the
    /// tick, node, peer and message (exit 1). Slower; the outputs are the same.
    #[arg(long)]
    check_invariants: bool,
    /// Start the peer stores from an earlier run's peer database (its peers.sqlite) instead of
    /// empty: each node starts with the uuid and peers it had last synced there.
    #[arg(long, value_name = "DB")]
    peers_from: Option<PathBuf>,
    /// Threads for a run that falls apart into independent components (no link, group or
    /// traffic generator joining them), each simulated on its own [default: 1, the run on one
    /// thread]. The outputs are the same for any number.
    #[arg(short = 'j', long, default_value_t = 1, hide_default_value = true)]
    jobs: usize,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

pub(super) fn run(args: RunArgs) -> Result<(), CliError> {
    let threads = super::threads(args.jobs)?;
    let mut plan = args.scenario.load()?;
    if let Some(db) = &args.peers_from {
        crate::scenario::start_peers_from(&mut plan, db)?;
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| super::default_out_dir(&plan));
    report::output::check_target(&dir)?;

    let bar = progress_bar(&plan, args.quiet);
    let options = crate::engine::RunOptions {
        peers_db: match plan.peer_store {
            Some(_) => Some(working_db_path(&dir)?),
            None => None,
        },
        check_invariants: args.check_invariants,
        threads,
    };
    let nodes = plan.nodes.len();
    let label = dir.display().to_string();
    // What the folder's writing hands back: the summary, how many files besides the tables and
    // deliveries.csv, the run's time and the tables `--tables` prints.
    let mut done: Option<(
        crate::metrics::Summary,
        usize,
        std::time::Duration,
        Vec<String>,
    )> = None;
    report::write_run_dir_with(&dir, &report::RunFiles::new(), &mut |folder| {
        // The sync-state tables (most of a large run's folder) go into the folder being made as
        // each component of the run ends, rendered and written by a thread of their own while
        // the run goes on (at most a few components' tables wait for it), and deliveries.csv is
        // streamed there after the run: a run never holds all of its tables at once.
        let (output, wall, kept) = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<report::PartFiles>(2);
            let (plan, args) = (&plan, &args);
            let writer = scope.spawn(move || write_tables(plan, args, folder, rx));
            // Time the run spent waiting for the writer, left out of the result line's time on
            // one thread (on more, other components go on meanwhile).
            let mut waiting = std::time::Duration::ZERO;
            #[allow(clippy::disallowed_methods)] // wall time of the run, for the report line only
            let started = std::time::Instant::now();
            let output = crate::engine::run_streaming(
                plan,
                &options,
                &mut |tick| {
                    if let Some(b) = &bar {
                        b.set_position(tick);
                    }
                },
                &mut |part| {
                    let part = report::PartFiles::of(part);
                    #[allow(clippy::disallowed_methods)] // see `waiting`
                    let begun = std::time::Instant::now();
                    // A writer that stopped at an error has hung up: the run stops too.
                    let sent = tx.send(part).is_ok();
                    waiting += begun.elapsed();
                    sent
                },
            );
            let wall = if threads < 2 {
                started.elapsed().saturating_sub(waiting)
            } else {
                started.elapsed()
            };
            drop(tx);
            let kept = writer.join().expect("the table writer does not panic");
            (output, wall, kept)
        });
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let (output, kept) = match (output, kept) {
            // The writer's error is why the run stopped.
            (Err(crate::engine::EngineError::Stopped), Err(e)) => return Err(e.into()),
            (Err(e), _) => return Err(e.into()),
            (Ok(_), Err(e)) => return Err(e.into()),
            (Ok(output), Ok(kept)) => (output, kept),
        };
        let Kept {
            shown,
            printed,
            digests,
        } = kept;
        let tables = report::TableFiles::streamed(&plan, &output, shown);
        let (summary, files) = render(&plan, &tables, &label)?;

        if args.check_determinism {
            let mut differs: Option<String> = None;
            let again = crate::engine::run_streaming(&plan, &options, &mut |_| {}, &mut |part| {
                for nf in report::part_files(&plan, part) {
                    for (path, bytes) in &nf.files {
                        if digests.get(path) != Some(&digest(bytes)) {
                            differs = Some(path.clone());
                            return false;
                        }
                    }
                }
                true
            });
            let again = match again {
                Err(crate::engine::EngineError::Stopped) => None,
                other => Some(other?),
            };
            let diff = match &again {
                None => differs,
                Some(again) => {
                    let again_tables = report::TableFiles::streamed(
                        &plan,
                        again,
                        (0..tables_shown(&plan))
                            .map(|i| tables.end_text(i))
                            .collect(),
                    );
                    let (_, again_files) = render(&plan, &again_tables, &label)?;
                    first_difference(&files, &again_files).or_else(|| {
                        (tables.deliveries() != again_tables.deliveries())
                            .then(|| "deliveries.csv".to_string())
                    })
                }
            };
            if let Some(diff) = diff {
                let other = again.as_ref().map_or("another", |a| a.fingerprint.as_str());
                return Err(CliError::NotDeterministic(format!(
                    "{}: two runs with seed {} differ in {diff} (fingerprints {} and {other})",
                    args.scenario.scenario.display(),
                    plan.seed,
                    summary.fingerprint,
                )));
            }
        }
        for (rel, bytes) in &files {
            folder.write(rel, bytes)?;
        }
        folder.stream("deliveries.csv", |w| tables.write_deliveries(w))?;
        done = Some((summary, files.len(), wall, printed));
        Ok::<(), CliError>(())
    })?;
    let (summary, file_count, wall, printed) =
        done.expect("the folder is written only after the run");

    if args.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    if args.tables {
        for (i, text) in printed.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            out.write_all(text.as_bytes())?;
        }
        writeln!(out)?;
    }
    if args.check_determinism {
        writeln!(
            out,
            "determinism: ok, two runs gave {} identical files (fingerprint {})",
            file_count + 1 + nodes * report::files_per_node(&plan),
            summary.fingerprint
        )?;
    }
    writeln!(out, "{}", result_line(&summary, wall, &dir))?;
    Ok(())
}

/// Where a run keeps its peer database while it runs: beside the output folder,
/// `.<name>.peers-<pid>.sqlite`. It becomes `<out>/peers.sqlite` when the run ends; a run killed
/// mid-way leaves it there, holding every completed sync.
fn working_db_path(dir: &std::path::Path) -> Result<PathBuf, CliError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| {
        CliError::Output(report::OutputError::Io {
            path: parent.clone(),
            source,
        })
    })?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    Ok(parent.join(format!(".{base}.peers-{}.sqlite", std::process::id())))
}

/// A progress bar on stderr for long runs, only when stderr is a terminal and not `--quiet`.
fn progress_bar(plan: &crate::scenario::Plan, quiet: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(plan.duration);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:40}] tick {pos}/{len} ({percent}%), {elapsed} elapsed, eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(plan.name().to_string());
    Some(bar)
}

/// A finished run's summary and its files but the sync-state tables and deliveries.csv, plots
/// and report included; `label` names the run folder in errors.
fn render(
    plan: &crate::scenario::Plan,
    tables: &report::TableFiles<'_>,
    label: &str,
) -> Result<(crate::metrics::Summary, report::RunFiles), CliError> {
    let summary = crate::metrics::summarize(plan, tables.run());
    let mut files = report::render_data_without_tables_or_deliveries(tables, &summary);
    report::add_pictures_with(label, &mut files, tables)?;
    Ok((summary, files))
}

/// What `sim run` keeps of the tables it writes: the end tables the report shows (of the first
/// nodes), those `--tables` prints (every node's, only then), and with `--check-determinism` a
/// SHA-256 of every table file, by path.
struct Kept {
    shown: Vec<String>,
    printed: Vec<String>,
    digests: BTreeMap<String, [u8; 32]>,
}

/// Renders and writes into `folder` the tables of each component that `parts` brings, until
/// the run hangs up or a write fails (then it returns at once, which tells the run to stop).
fn write_tables(
    plan: &crate::scenario::Plan,
    args: &RunArgs,
    folder: &report::output::Folder<'_>,
    parts: std::sync::mpsc::Receiver<report::PartFiles>,
) -> Result<Kept, report::OutputError> {
    let nodes = plan.nodes.len();
    let mut kept = Kept {
        shown: vec![String::new(); tables_shown(plan)],
        printed: vec![String::new(); if args.tables { nodes } else { 0 }],
        digests: BTreeMap::new(),
    };
    for part in parts {
        for nf in part.files(plan) {
            let i = nf.node.idx();
            if i < kept.shown.len() {
                kept.shown[i] = nf.end_text().to_string();
            }
            if args.tables {
                kept.printed[i] = nf.end_text().to_string();
            }
            for (path, bytes) in &nf.files {
                if args.check_determinism {
                    kept.digests.insert(path.clone(), digest(bytes));
                }
                folder.write(path, bytes)?;
            }
        }
        if args.tables && !plan.tables {
            for (node, text) in part.end_texts(plan) {
                kept.printed[node.idx()] = text;
            }
        }
    }
    Ok(kept)
}

/// How many end tables the report shows.
fn tables_shown(plan: &crate::scenario::Plan) -> usize {
    if plan.tables {
        plan.nodes.len().min(report::data::TABLES_KEPT)
    } else {
        0
    }
}

/// SHA-256 of a file's contents (what `--check-determinism` keeps of each table file).
fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn first_difference(a: &report::RunFiles, b: &report::RunFiles) -> Option<String> {
    for (path, bytes) in a {
        match b.get(path) {
            None => return Some(format!("{path} (missing from the second run)")),
            Some(other) if other != bytes => return Some(path.clone()),
            Some(_) => {}
        }
    }
    b.keys()
        .find(|p| !a.contains_key(*p))
        .map(|p| format!("{p} (missing from the first run)"))
}

fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.1} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0} ")
    }
}

/// The one-line result: delivery, traffic, and simulated ticks, events, ev/s and wall time.
fn result_line(
    s: &crate::metrics::Summary,
    wall: std::time::Duration,
    dir: &std::path::Path,
) -> String {
    let d = &s.delivery;
    let delivered = match d.ratio {
        Some(r) => format!(
            "delivered {}/{} ({:.1}%)",
            d.delivered,
            d.expected,
            r * 100.0
        ),
        None => "nothing to deliver".to_string(),
    };
    let converged = match d.convergence_tick {
        Some(t) => format!(", converged at tick {t}"),
        None if d.expected > 0 => ", not converged".to_string(),
        None => String::new(),
    };
    let rpc = &s.rpc;
    let rpc = if rpc.started > 0 || rpc.served > 0 {
        let counts: Vec<String> = rpc
            .count_to
            .iter()
            .map(|(peer, c)| {
                format!(
                    "{peer} reached {}",
                    c.reached
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "nothing".into())
                )
            })
            .collect();
        let counts = if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        };
        format!(
            "; rpc {}/{} completed{counts}, {} timed out, {} replays dropped",
            rpc.completed, rpc.started, rpc.timed_out, rpc.replays_dropped
        )
    } else {
        String::new()
    };
    let multiplier = match s.traffic.multiplier_packets {
        Some(m) => format!(", x{m:.1} per delivery"),
        None => String::new(),
    };
    let secs = wall.as_secs_f64();
    let rate = if secs > 0.0 {
        si(s.events as f64 / secs)
    } else {
        "- ".into()
    };
    format!(
        "{} s{}: {delivered}{converged}{rpc}; {} packets, {}B{multiplier}; {} ticks, {} events in {:.1} ms ({rate}ev/s) -> {}",
        s.scenario.name,
        s.seed,
        s.traffic.packets_sent,
        si(s.traffic.bytes_sent as f64),
        s.ticks,
        s.events,
        secs * 1000.0,
        dir.display()
    )
}
