//! The shipped scenarios: every one runs and is deterministic; the published-result scenarios
//! land, over many seeds, in the bands derived for them in the README ("Published results").

use syncsim::experiment::check;
use syncsim::scenario::{Plan, load};
use syncsim::{Executed, execute, simulate};

fn plan(name: &str, seed: Option<u64>, sets: &[&str]) -> Plan {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load(format!("scenarios/{name}.json").as_ref(), &sets, seed).expect("a shipped scenario loads")
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Latency of the one expected delivery to `node`, and the run's packet multiplier, per seed.
fn over_seeds(
    name: &str,
    seeds: u64,
    sets: &[&str],
    node: &str,
) -> (Vec<f64>, Vec<f64>, Vec<Executed>) {
    let (mut lat, mut mult, mut runs) = (vec![], vec![], vec![]);
    for seed in 1..=seeds {
        let p = plan(name, Some(seed), sets);
        let r = simulate(&p);
        let id = p.nodes.iter().position(|n| n.name == node).unwrap() as u32;
        let d = r
            .output
            .metrics
            .deliveries
            .iter()
            .find(|d| d.node.0 == id)
            .unwrap_or_else(|| panic!("{name} seed {seed}: {node} got nothing"));
        lat.push((d.tick - r.output.messages[d.msg.idx()].authored) as f64);
        mult.push(r.summary.traffic.multiplier_packets.unwrap());
        runs.push(r);
    }
    (lat, mult, runs)
}

#[test]
fn every_shipped_scenario_runs_and_is_deterministic() {
    let mut names: Vec<String> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        let p = plan(&name, None, &[]);
        assert_eq!(p.name(), name, "a scenario's name matches its file");
        let a = execute(&p);
        let b = execute(&p);
        assert_eq!(a.files, b.files, "{name}: two runs differ");
        assert!(
            a.summary.delivery.delivered > 0
                || a.summary.rpc.completed > 0
                || a.summary
                    .discovery
                    .as_ref()
                    .is_some_and(|d| d.reached_target > 0),
            "{name}: nothing delivered, answered or discovered"
        );
        assert!(a.summary.traffic.packets_sent > 0, "{name}");
        meets_its_baseline(&name, &a.files["summary.json"]);
    }
}

/// The run's delivery metrics are within the tolerances of `baselines/<name>.json`, as
/// `sim check` judges them (what `scripts/check-baselines` does through the command line; the
/// suite does it on the run it already has).
fn meets_its_baseline(name: &str, summary_json: &[u8]) {
    let path = format!("baselines/{name}.json");
    let baseline = check::load_baseline(path.as_ref())
        .unwrap_or_else(|e| panic!("{name}: every shipped scenario has a baseline: {e}"));
    assert!(!baseline.checks.is_empty(), "{path}: no checks");
    let summary = serde_json::from_slice(summary_json).expect("summary.json is JSON");
    let rows = check::check(&check::Subject::Summary(summary), &baseline, &path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(rows.len(), baseline.checks.len(), "{path}");
    assert!(
        rows.iter().all(|r| r.verdict != check::Verdict::Regressed),
        "{name} regressed against {path}:\n{}",
        check::table(&rows)
    );
}

#[test]
fn published_batch_about_10_epochs_and_x111() {
    // README: latency mean 10 (sd 9.5), multiplier mean 111 (sd about 110); bands are the
    // mean +- 4 standard errors over 200 seeds.
    let (lat, mult, _) = over_seeds("published_batch", 200, &[], "B");
    let (l, m) = (mean(&lat), mean(&mult));
    assert!((7.3..=12.7).contains(&l), "mean latency {l}");
    assert!((80.0..=142.0).contains(&m), "mean multiplier {m}");
}

#[test]
fn published_interactive_bsp_about_x1000_and_go_far_less() {
    // README: BSP (one request per offer): latency mean 1002 (sd 1000), multiplier mean 1214
    // (sd about 1200); bands: mean +- 4 standard errors over 100 seeds.
    let (lat, mult, runs) = over_seeds("published_interactive", 100, &[], "B");
    let (l, m) = (mean(&lat), mean(&mult));
    assert!((602.0..=1402.0).contains(&l), "BSP mean latency {l}");
    assert!((734.0..=1694.0).contains(&m), "BSP mean multiplier {m}");
    let offers = mean(
        &runs
            .iter()
            .map(|r| r.summary.traffic.by_kind["offer"].sent as f64)
            .collect::<Vec<_>>(),
    );
    assert!(offers > 700.0, "offers {offers}");
    // Go (requests retransmitted every epoch): latency mean 111 (sd 100), multiplier mean 324
    // (sd about 230).
    let (lat_go, mult_go, _) = over_seeds("published_interactive_go", 100, &[], "B");
    let (lg, mg) = (mean(&lat_go), mean(&mult_go));
    assert!((71.0..=151.0).contains(&lg), "Go mean latency {lg}");
    assert!((232.0..=416.0).contains(&mg), "Go mean multiplier {mg}");
    assert!(m > 2.5 * mg, "BSP {m} vs Go {mg}");
}

#[test]
fn published_always_on_b_gets_it_in_about_8_epochs_after_about_7_retransmissions_by_c() {
    // README: E[latency of B] = sum_t 0.9^n(t) = 8.09 epochs (sd about 8); C sends B the message
    // at every tick from 1 until B has it: E[sends before delivery] = E[latency] - 1 = 7.09.
    // Bands: mean +- 4 standard errors over 200 seeds.
    let (lat, mult, runs) = over_seeds("published_always_on", 200, &["outputs.trace=true"], "B");
    let l = mean(&lat);
    assert!((5.8..=10.4).contains(&l), "mean latency {l}");
    let before: Vec<f64> = runs
        .iter()
        .map(|r| {
            let trace = String::from_utf8(r.files["trace.jsonl"].clone()).unwrap();
            let events: Vec<serde_json::Value> = trace
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let delivered = events
                .iter()
                .find(|e| e["event"] == "deliver" && e["node"] == "B")
                .unwrap()["tick"]
                .as_u64()
                .unwrap();
            events
                .iter()
                .filter(|e| {
                    e["event"] == "send"
                        && e["from"] == "C"
                        && e["to"] == "B"
                        && e["tick"].as_u64().unwrap() < delivered
                })
                .filter(|e| e["items"][0].as_str().unwrap().starts_with("message:"))
                .count() as f64
        })
        .collect();
    let c = mean(&before);
    assert!(
        (4.8..=9.4).contains(&c),
        "C sent B the message {c} times before B had it"
    );
    // Every packet of the run counts in the multiplier: it is well above the C->B leg alone.
    assert!(mean(&mult) > c, "{}", mean(&mult));
}

#[test]
fn the_accumulating_backoff_stops_retransmitting() {
    let acc = simulate(&plan("backoff_accumulating", None, &[])).summary;
    let lin = simulate(&plan("backoff_linear", None, &[])).summary;
    let exp = simulate(&plan("backoff_exponential", None, &[])).summary;
    assert_eq!(lin.delivery.ratio, Some(1.0));
    assert_eq!(exp.delivery.ratio, Some(1.0));
    assert!(acc.delivery.ratio.unwrap() < 1.0, "{:?}", acc.delivery);
    assert!(acc.traffic.packets_sent < lin.traffic.packets_sent);
}
