//! The `sim` command line: the main job, determinism, overrides, and every kind of bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const MOBILE_DESKTOP: &str = "scenarios/mobile_desktop.json";

fn sim() -> Command {
    Command::cargo_bin("sim").unwrap()
}

fn scenario_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(MOBILE_DESKTOP)
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn run_writes_the_outputs_into_the_default_folder_and_prints_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = sim()
        .current_dir(tmp.path())
        .args(["run", scenario_path().to_str().unwrap()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(out).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("mobile_desktop s1: delivered 3/4 (75.0%), not converged;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2000 ticks") && stdout.contains("ev/s") && stdout.contains("ms"),
        "{stdout}"
    );
    let dir = tmp.path().join("out/mobile_desktop-s1");
    let files = tree(&dir);
    for f in [
        "summary.json",
        "deliveries.csv",
        "scenario.json",
        "sync_state/A.txt",
        "sync_state/A.csv",
        "sync_state/C.txt",
        "sync_state/B.t50.txt",
        "sync_state/C.t500.csv",
    ] {
        assert!(files.contains_key(f), "missing {f}: {:?}", files.keys());
    }
    let s = summary(&dir);
    for key in [
        "scenario",
        "seed",
        "fingerprint",
        "ticks",
        "delivery",
        "latency_ticks",
        "traffic",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}");
    }
    for key in ["expected", "delivered", "ratio", "convergence_tick"] {
        assert!(s["delivery"].get(key).is_some(), "delivery lacks {key}");
    }
    for key in [
        "packets_sent",
        "bytes_sent",
        "packets_lost",
        "multiplier_packets",
        "multiplier_bytes",
        "by_kind",
    ] {
        assert!(s["traffic"].get(key).is_some(), "traffic lacks {key}");
    }
}

#[test]
fn a_table_reads_like_the_seeds_print_sync_state() {
    let tmp = tempfile::tempdir().unwrap();
    sim()
        .args(["run", MOBILE_DESKTOP, "--out"])
        .arg(tmp.path().join("r"))
        .assert()
        .success();
    let a = fs::read_to_string(tmp.path().join("r/sync_state/A.txt")).unwrap();
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines[0], "A POV @2000");
    assert_eq!(lines[1], "-".repeat(60));
    assert_eq!(lines.len(), 5, "{a}");
    // A's own message: both peers hold it now, after several sends each.
    let own = lines[2];
    assert!(
        own.contains(" | B: hold @") && own.contains(" | C: hold @"),
        "{own}"
    );
    // B's message at A: A holds it from B, never sent it (the seed's `hold @0(0)`).
    assert!(lines[3].ends_with("| B: hold @0(0) |"), "{}", lines[3]);
    // C never hears of B's message: B and C are not linked and nothing is forwarded.
    let c = fs::read_to_string(tmp.path().join("r/sync_state/C.txt")).unwrap();
    assert_eq!(c.lines().count(), 4, "{c}");
}

/// `--tables` prints every node's end table, as its `sync_state/<node>.txt` holds it, in node
/// order; with `outputs.tables` off no table is written, and `--tables` still prints them.
#[test]
fn tables_prints_every_nodes_end_table_with_or_without_table_files() {
    let tmp = tempfile::tempdir().unwrap();
    let printed = |out: &Path, extra: &[&str]| {
        let o = sim()
            .args(["run", MOBILE_DESKTOP, "--tables", "--out"])
            .arg(out)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let with = printed(&tmp.path().join("with"), &[]);
    let files: Vec<String> = ["A", "B", "C"]
        .iter()
        .map(|n| fs::read_to_string(tmp.path().join(format!("with/sync_state/{n}.txt"))).unwrap())
        .collect();
    assert!(
        with.starts_with(&(files.join("\n") + "\n")),
        "the tables, then the result line: {with}"
    );
    assert_eq!(
        with.lines().filter(|l| l.ends_with(" POV @2000")).count(),
        3
    );
    let without = printed(
        &tmp.path().join("without"),
        &[
            "--set",
            "outputs.tables=false",
            "--set",
            "outputs.tables_at=[]",
        ],
    );
    assert!(!tmp.path().join("without/sync_state").exists());
    assert!(without.starts_with(&(files.join("\n") + "\n")), "{without}");
}

#[test]
fn same_scenario_and_seed_give_a_byte_identical_folder() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["one", "two"] {
        sim()
            .args(["run", MOBILE_DESKTOP, "-q", "--out"])
            .arg(tmp.path().join(name))
            .assert()
            .success()
            .stdout("");
    }
    let one = tree(&tmp.path().join("one"));
    assert!(one.len() > 10);
    assert_eq!(one, tree(&tmp.path().join("two")));
}

#[test]
fn different_seeds_give_different_fingerprints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fingerprints = std::collections::BTreeSet::new();
    for seed in ["1", "2", "3"] {
        let dir = tmp.path().join(seed);
        sim()
            .args(["run", MOBILE_DESKTOP, "-q", "--seed", seed, "--out"])
            .arg(&dir)
            .assert()
            .success();
        let s = summary(&dir);
        assert_eq!(s["seed"].as_u64().unwrap().to_string(), seed);
        fingerprints.insert(s["fingerprint"].as_str().unwrap().to_string());
    }
    assert_eq!(fingerprints.len(), 3);
}

#[test]
fn check_determinism_passes() {
    let tmp = tempfile::tempdir().unwrap();
    sim()
        .args(["run", MOBILE_DESKTOP, "--check-determinism", "--out"])
        .arg(tmp.path().join("r"))
        .assert()
        .success()
        .stdout(predicate::str::contains("determinism: ok, two runs gave"));
}

#[test]
fn set_overrides_a_nested_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    sim()
        .args([
            "run",
            MOBILE_DESKTOP,
            "-q",
            "--set",
            "sync.backoff.interval=7",
            "--set",
            "nodes.B.availability.p=1",
            "--out",
        ])
        .arg(&dir)
        .assert()
        .success();
    let effective: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("scenario.json")).unwrap()).unwrap();
    assert_eq!(effective["sync"]["backoff"]["interval"], 7);
    assert_eq!(effective["nodes"][1]["availability"]["p"], 1.0);
    // With B always processing, A's first send reaches B at once; A resends every 7 ticks.
    let deliveries = fs::read_to_string(dir.join("deliveries.csv")).unwrap();
    let b_row = deliveries.lines().find(|l| l.starts_with("B,")).unwrap();
    let latency: u64 = b_row.rsplit(',').next().unwrap().parse().unwrap();
    assert!(latency <= 3, "{b_row}");
    let a = fs::read_to_string(dir.join("sync_state/A.csv")).unwrap();
    for row in a
        .lines()
        .skip(1)
        .filter(|r| r.contains(",chat,B,1,0,0,") && !r.ends_with(",0,0"))
    {
        let fields: Vec<u64> = row
            .rsplit(',')
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        let (send_time, send_count) = (fields[0], fields[1]);
        assert_eq!(
            (send_time - 1) % 7,
            0,
            "send times are 1 + 7k: {row} ({send_count} sends)"
        );
    }
    let default = tmp.path().join("d");
    sim()
        .args(["run", MOBILE_DESKTOP, "-q", "--out"])
        .arg(&default)
        .assert()
        .success();
    assert_ne!(
        summary(&dir)["scenario"]["hash"],
        summary(&default)["scenario"]["hash"]
    );
}

#[test]
fn validate_and_schema() {
    sim()
        .args(["validate", MOBILE_DESKTOP])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok: 3 nodes, 1 group, 2 links, 2 appends; 2000 ticks of 1000 ms; seed 1",
        ));
    // A full mesh counts every pair, though the plan does not list them.
    sim()
        .args(["validate", "scenarios/discovery_1000.json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1000 nodes, 0 groups, 499500 links",
        ));
    let out = sim()
        .arg("schema")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let schema: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let props = &schema["properties"];
    for key in [
        "name", "seed", "tick_ms", "duration", "nodes", "groups", "links", "sync", "workload",
        "outputs",
    ] {
        assert!(props.get(key).is_some(), "schema lacks {key}");
    }
    assert_eq!(
        schema["required"],
        serde_json::json!(["name", "duration", "nodes"])
    );
}

/// Every command's help names each default once: where an option's text already says its
/// default (with what it means), clap does not print a second one.
#[test]
fn help_names_each_default_once() {
    for command in [
        "run", "validate", "plot", "sweep", "expand", "merge", "check", "schema", "bench",
    ] {
        let out = sim()
            .args([command, "--help"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        // An option's help runs from its line (starting with `-`) to the next option's.
        let mut options: Vec<String> = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with('-') {
                options.push(String::new());
            }
            if let Some(option) = options.last_mut() {
                option.push_str(line);
            }
        }
        assert!(!options.is_empty(), "sim {command} --help lists no option");
        for option in &options {
            assert!(
                option.matches("[default:").count() <= 1,
                "sim {command} --help names a default twice: {option}"
            );
        }
    }
}

/// A bad scenario: exit 2, one line on stderr with the expected text, nothing written, and an
/// earlier run folder at the same place untouched.
fn refused(scenario: &str, args: &[&str], expected: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    sim()
        .args(["run", MOBILE_DESKTOP, "-q", "--out"])
        .arg(&out)
        .assert()
        .success();
    let before = tree(&out);
    let path = tmp.path().join("bad.json");
    fs::write(&path, scenario).unwrap();
    let assert = sim()
        .current_dir(tmp.path())
        .arg("run")
        .arg(&path)
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}", path.display()))
            || stderr.starts_with("error: --set"),
        "{stderr}"
    );
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in {stderr}");
    }
    assert_eq!(tree(&out), before, "the earlier results were touched");
    assert!(
        !tmp.path().join("out").exists(),
        "something was written to the default folder"
    );
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

fn good() -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(MOBILE_DESKTOP).unwrap()).unwrap()
}

fn good_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = good();
    edit(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn bad_input_syntax_error() {
    refused(
        "{\n  \"name\": \"x\",\n  \"duration\": 10,\n  \"nodes\": [\n}\n",
        &[],
        &[":5:1: not valid JSON"],
    );
}

#[test]
fn bad_input_unknown_field() {
    refused(
        &good_with(|v| v["sync"]["backof"] = serde_json::json!(1)),
        &[],
        &[
            "at `sync.backof`",
            "unknown field `backof`, expected one of `mode`",
        ],
    );
}

#[test]
fn bad_input_wrong_type() {
    refused(
        &good_with(|v| v["duration"] = serde_json::json!(true)),
        &[],
        &[
            "at `duration`",
            "invalid type: boolean `true`",
            "a number of ticks",
        ],
    );
}

#[test]
fn bad_input_unknown_node() {
    refused(
        &good_with(|v| v["links"]["list"][1]["between"][1] = serde_json::json!("D")),
        &[],
        &["at `links.list[1].between[1]`", "unknown node \"D\""],
    );
}

#[test]
fn bad_input_probability_outside_zero_one() {
    refused(
        &good_with(|v| v["nodes"][0]["availability"]["p"] = serde_json::json!(1.1)),
        &[],
        &[
            "at `nodes[0].availability.p`",
            "expected a probability in [0, 1], got 1.1",
        ],
    );
}

#[test]
fn bad_input_min_greater_than_max() {
    refused(
        &good_with(|v| {
            v["links"]["latency"] = serde_json::json!({"kind": "uniform", "min": 3, "max": 1})
        }),
        &[],
        &["at `links.latency.max`", "expected max >= min"],
    );
}

#[test]
fn bad_input_bad_set() {
    refused(
        &good_with(|_| {}),
        &["--set", "nodes.Q.availability.p=0.5"],
        &["--set nodes.Q.availability.p=0.5", "no element named \"Q\""],
    );
    refused(
        &good_with(|_| {}),
        &["--set", "links.latency.min=0"],
        &[
            "at `links.latency.min`",
            "(the value comes from --set links.latency.min=0)",
        ],
    );
}

#[test]
fn bad_input_unreadable_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.json");
    sim()
        .current_dir(tmp.path())
        .arg("run")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(format!(
            "error: {}: cannot read the file:",
            missing.display()
        )));
    // A folder is not a scenario either.
    sim()
        .current_dir(tmp.path())
        .arg("validate")
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the file"));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn an_out_folder_that_is_not_a_run_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("thesis.tex"), "years of work").unwrap();
    sim()
        .args(["run", MOBILE_DESKTOP, "--out"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "refusing to replace a folder that is not a syncsim run folder",
        ));
    assert_eq!(
        fs::read_to_string(tmp.path().join("thesis.tex")).unwrap(),
        "years of work"
    );
}

#[test]
fn mobile_desktop_summary_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    sim()
        .args(["run", MOBILE_DESKTOP, "-q", "--out"])
        .arg(&dir)
        .assert()
        .success();
    insta::assert_snapshot!(fs::read_to_string(dir.join("summary.json")).unwrap());
}

/// Two islands that share nothing: the run is simulated one component at a time, on any number
/// of threads, and the folder is the same byte for byte.
#[test]
fn a_run_of_independent_components_is_the_same_on_one_or_more_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("islands.json");
    let doc = serde_json::json!({
        "name": "islands", "duration": 400,
        "nodes": [{"name": "a1"}, {"name": "b1"}, {"name": "a2"}, {"name": "b2"}],
        "groups": [{"name": "ga", "members": ["a1", "a2"]}, {"name": "gb", "members": ["b1", "b2"]}],
        "links": {"topology": {"kind": "explicit"},
                  "list": [{"between": ["a1", "a2"]}, {"between": ["b1", "b2"]}],
                  "latency": {"kind": "uniform", "min": 1, "max": 4},
                  "loss": {"kind": "bernoulli", "p": 0.2}},
        "workload": {"generators": [
            {"nodes": ["a1", "a2"], "group": "ga", "mean_interval": 10},
            {"nodes": ["b1", "b2"], "group": "gb", "mean_interval": 15}]},
        "outputs": {"trace": true, "tables_at": [100]}
    });
    fs::write(&scenario, doc.to_string()).unwrap();
    for jobs in ["1", "2"] {
        sim()
            .arg("run")
            .arg(&scenario)
            .args(["-q", "-j", jobs, "--out"])
            .arg(tmp.path().join(jobs))
            .assert()
            .success();
    }
    let one = tree(&tmp.path().join("1"));
    assert!(one.contains_key("trace.jsonl"), "{:?}", one.keys());
    assert_eq!(one, tree(&tmp.path().join("2")));
    let s = summary(&tmp.path().join("1"));
    assert!(s["delivery"]["delivered"].as_u64().unwrap() > 20, "{s}");
    sim()
        .arg("run")
        .arg(&scenario)
        .args(["-j", "0", "--out"])
        .arg(tmp.path().join("0"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("-j: expected at least 1"));
}

#[test]
fn bench_repeat_reports_the_fastest_run_and_the_median_with_one_fingerprint() {
    let figures = |args: &[&str]| -> serde_json::Value {
        let out = sim().arg("bench").args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let once = figures(&["sparse", "--json"]);
    let thrice = figures(&["sparse", "--json", "--repeat", "3"]);
    assert_eq!(once["repeats"], 1);
    assert_eq!(thrice["repeats"], 3);
    assert_eq!(thrice["fingerprint"], once["fingerprint"]);
    assert_eq!(thrice["events"], once["events"]);
    let (best, median) = (
        thrice["seconds"].as_f64().unwrap(),
        thrice["median_seconds"].as_f64().unwrap(),
    );
    assert!(best > 0.0 && best <= median, "best {best}, median {median}");
    assert_eq!(once["seconds"], once["median_seconds"]);
    // The figures say what kind of build measured them (this suite's: no profile flags).
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert_eq!(once["build"], build);
    // And the machine: at least the cores this process may use.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let machine = once["machine"].as_str().unwrap().to_string();
    assert!(machine.contains(&format!(", {cores} core")), "{machine}");
    // The text line names both, the build and the machine.
    sim()
        .args(["bench", "sparse", "--repeat", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(best of 2, median "))
        .stdout(predicate::str::ends_with(format!(
            "; {build} build on {machine}\n"
        )));
}

#[test]
fn bench_rejects_an_impossible_repeat_and_an_unknown_workload() {
    for (args, expected) in [
        (
            &["bench", "sparse", "--repeat", "0"][..],
            "--repeat must be at least 1",
        ),
        (
            &["bench", "sweep", "--repeat", "2"][..],
            "sweep already reports the best of its own rounds",
        ),
        (
            &["bench", "soak", "--repeat", "2"][..],
            "soak measures memory over one run",
        ),
        (&["bench", "nosuch"][..], "bench nosuch: unknown workload"),
    ] {
        sim()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(expected));
    }
}
