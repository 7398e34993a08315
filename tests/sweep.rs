//! Sweeps from the command line: identical results whatever -j, shards (run as separate
//! processes with Slurm's variables) or resumes; sim check passing and failing.

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const SWEEP: &str = "sweeps/batch_reliability.json";

fn sim() -> Command {
    Command::cargo_bin("sim").unwrap()
}

/// The result files of a sweep folder (plots included).
fn results(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for f in ["sweep.json", "runs.jsonl", "aggregate.csv"] {
        out.insert(
            f.to_string(),
            fs::read(dir.join(f)).unwrap_or_else(|_| panic!("{} lacks {f}", dir.display())),
        );
    }
    for e in fs::read_dir(dir.join("plots")).unwrap() {
        let p = e.unwrap().path();
        out.insert(
            format!("plots/{}", p.file_name().unwrap().to_string_lossy()),
            fs::read(&p).unwrap(),
        );
    }
    out
}

fn sweep(out: &Path, extra: &[&str]) {
    sim()
        .args(["sweep", SWEEP, "-q", "--out"])
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

#[test]
fn jobs_shards_and_merges_give_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("j1");
    let two = tmp.path().join("j2");
    sweep(&one, &["-j", "1"]);
    sweep(&two, &["-j", "2"]);
    let reference = results(&one);
    assert_eq!(reference, results(&two), "-j 1 and -j 2 differ");
    let runs = String::from_utf8(reference["runs.jsonl"].clone()).unwrap();
    assert_eq!(runs.lines().count(), 240);
    assert!(reference.keys().any(|k| k.ends_with(".png")));

    // Slurm: four array tasks as separate processes, then a merge.
    let sim_bin = assert_cmd::cargo::cargo_bin("sim");
    for task in 0..4 {
        let status = std::process::Command::new("examples/slurm/shard.sh")
            .env("SWEEP", SWEEP)
            .env("SIM", &sim_bin)
            .env("OUT", tmp.path())
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "4")
            .env("SLURM_CPUS_PER_TASK", "1")
            .status()
            .unwrap();
        assert!(status.success());
    }
    let shard0 =
        fs::read_to_string(tmp.path().join("batch_reliability-shards/0/runs.jsonl")).unwrap();
    assert_eq!(shard0.lines().count(), 60);
    assert!(shard0.lines().all(|l| {
        l.starts_with("{\"run\":")
            && serde_json::from_str::<serde_json::Value>(l).unwrap()["run"]
                .as_u64()
                .unwrap()
                .is_multiple_of(4)
    }));
    let merged = tmp.path().join("merged");
    let shards: Vec<PathBuf> = (0..4)
        .map(|i| tmp.path().join(format!("batch_reliability-shards/{i}")))
        .collect();
    sim()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .assert()
        .success();
    assert_eq!(
        reference,
        results(&merged),
        "merged shards differ from one process"
    );

    // Run ranges compose too.
    let ranged = tmp.path().join("ranged");
    sweep(&ranged, &["--runs", "0-99"]);
    sweep(&ranged, &["--runs", "100-239", "--resume"]);
    assert_eq!(reference, results(&ranged));
}

#[test]
fn a_killed_sweep_resumes_with_nothing_lost_or_doubled() {
    let tmp = tempfile::tempdir().unwrap();
    // Runs slow enough (a few hundred ms each) to be killed in the middle.
    let file = tmp.path().join("slow.json");
    let spec = serde_json::json!({
        "name": "slow",
        "scenario": format!("{}/scenarios/batch_payload.json", env!("CARGO_MANIFEST_DIR")),
        "parameters": [{"path": "links.loss.p", "values": [0.0, 0.1]}],
        "replications": 6,
        "metrics": ["delivery.ratio", "traffic.packets_sent"]
    });
    fs::write(&file, spec.to_string()).unwrap();
    let reference = tmp.path().join("ref");
    sim()
        .arg("sweep")
        .arg(&file)
        .args(["-q", "--out"])
        .arg(&reference)
        .assert()
        .success();
    let dir = tmp.path().join("killed");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sim"))
        .arg("sweep")
        .arg(&file)
        .args(["-q", "-j", "1", "--out"])
        .arg(&dir)
        .spawn()
        .unwrap();
    let runs = dir.join("runs.jsonl");
    // Poll for two finished runs (at most 2 minutes: a watchdog, not a timing assertion).
    for _ in 0..120_000 {
        if fs::read_to_string(&runs)
            .map(|t| t.lines().count())
            .unwrap_or(0)
            >= 2
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever the kill left, add a torn last line as a crash mid-write would.
    let mut text = fs::read_to_string(&runs).unwrap();
    // The kill may itself land mid-line: only newline-terminated lines are finished runs (the
    // torn rest is dropped here, as `--resume` drops it).
    text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    let complete = text.lines().count();
    assert!(
        (2..12).contains(&complete),
        "{complete} runs done when killed"
    );
    text.push_str("{\"run\":11,\"point\":1,\"repl");
    fs::write(&runs, text).unwrap();
    assert!(
        !dir.join("aggregate.csv").exists(),
        "the aggregate is written only at the end"
    );
    // Without --resume the folder is not touched.
    sim()
        .arg("sweep")
        .arg(&file)
        .args(["-q", "--out"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("use --resume"));
    let out = sim()
        .arg("sweep")
        .arg(&file)
        .args(["--resume", "--out"])
        .arg(&dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    assert!(
        line.contains(&format!(
            "{} runs computed, {complete} already done, 12 of 12 recorded",
            12 - complete
        )),
        "{line}"
    );
    assert_eq!(results(&reference), results(&dir));
}

#[test]
fn a_folder_of_another_sweep_or_of_something_else_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    sim()
        .args(["sweep", SWEEP, "-q", "--out"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not a sweep folder"));
    let dir = tmp.path().join("s");
    sweep(&dir, &["--runs", "0-9"]);
    sim()
        .args([
            "sweep",
            "sweeps/batch_reliability.json",
            "-q",
            "--resume",
            "--out",
        ])
        .arg(&dir)
        .assert()
        .success();
    let other = tmp.path().join("other.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(SWEEP).unwrap()).unwrap();
    spec["replications"] = 3.into();
    spec["scenario"] = format!(
        "{}/scenarios/published_batch.json",
        env!("CARGO_MANIFEST_DIR")
    )
    .into();
    fs::write(&other, spec.to_string()).unwrap();
    sim()
        .arg("sweep")
        .arg(&other)
        .args(["-q", "--resume", "--out"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("holds another sweep"));
    sim()
        .args(["sweep", SWEEP, "--shard", "4/4"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--shard: expected 0 <= I < N"));
}

#[test]
fn expand_prints_the_run_table() {
    let out = sim()
        .args(["expand", SWEEP])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 240);
    assert_eq!(lines[21]["point"], 1);
    assert_eq!(lines[21]["replication"], 1);
    assert_eq!(lines[21]["parameters"]["sync.backoff.interval"], 2);
    assert_eq!(lines[21]["parameters"]["nodes.B.availability.p"], 0.1);
}

#[test]
fn check_passes_within_tolerance_and_fails_on_regression() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("r");
    sim()
        .args(["run", "scenarios/mobile_desktop.json", "-q", "--out"])
        .arg(&run)
        .assert()
        .success();
    let summary = run.join("summary.json");
    let baseline = tmp.path().join("b.json");
    sim()
        .arg("check")
        .arg(&summary)
        .arg("--baseline")
        .arg(&baseline)
        .arg("--update")
        .assert()
        .success();
    let out = sim()
        .arg("check")
        .arg(&summary)
        .arg("--baseline")
        .arg(&baseline)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(table.starts_with("metric"), "{table}");
    assert!(
        table.contains("delivery.ratio") && table.contains("0.75") && table.contains("ok"),
        "{table}"
    );
    // A baseline that expects better delivery than the run gives: regression, exit 1.
    let mut b: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&baseline).unwrap()).unwrap();
    b["checks"][0]["baseline"] = 0.9.into();
    fs::write(&baseline, b.to_string()).unwrap();
    let out = sim()
        .arg("check")
        .arg(&summary)
        .arg("--baseline")
        .arg(&baseline)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(
        table.contains("REGRESSED") && table.contains("1 of 6 metrics regressed"),
        "{table}"
    );
    // An unknown metric is bad input.
    b["checks"][0]["metric"] = "delivery.speed".into();
    fs::write(&baseline, b.to_string()).unwrap();
    sim()
        .arg("check")
        .arg(&summary)
        .arg("--baseline")
        .arg(&baseline)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "summary.json has no metric \"delivery.speed\"",
        ));
}

#[test]
fn check_an_aggregate_by_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    sweep(&dir, &[]);
    let baseline = tmp.path().join("b.json");
    let agg = fs::read_to_string(dir.join("aggregate.csv")).unwrap();
    let row = agg
        .lines()
        .find(|l| l.starts_with("0,0.1,1,delivery.ratio,"))
        .unwrap();
    let mean: f64 = row.split(',').nth(6).unwrap().parse().unwrap();
    let b = serde_json::json!({"checks": [{"metric": "delivery.ratio", "point": {"nodes.B.availability.p": 0.1, "sync.backoff.interval": 1}, "baseline": mean, "absolute": 0.0}]});
    fs::write(&baseline, b.to_string()).unwrap();
    sim()
        .arg("check")
        .arg(dir.join("aggregate.csv"))
        .arg("--baseline")
        .arg(&baseline)
        .assert()
        .success();
    let b = serde_json::json!({"checks": [{"metric": "delivery.ratio", "point": {"nodes.B.availability.p": 0.1, "sync.backoff.interval": 1}, "baseline": mean + 0.5}]});
    fs::write(&baseline, b.to_string()).unwrap();
    sim()
        .arg("check")
        .arg(dir.join("aggregate.csv"))
        .arg("--baseline")
        .arg(&baseline)
        .assert()
        .code(1);
}
