//! Plots and report.html: produced, valid, sensible, data-dependent, and redrawn identically by
//! `sim plot`.

use assert_cmd::Command;
use std::fs;
use std::path::Path;

const PLOTS: [&str; 5] = [
    "latency_cdf",
    "deliveries",
    "traffic",
    "availability",
    "propagation",
];

fn sim() -> Command {
    Command::cargo_bin("sim").unwrap()
}

fn run(scenario: &str, out: &Path, extra: &[&str]) {
    sim()
        .args(["run", scenario, "-q", "--out"])
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().expect("a valid PNG");
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn every_plot_is_a_valid_png_and_svg_of_sensible_size() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    run("scenarios/churn_groups.json", &out, &[]);
    for p in PLOTS {
        let png = fs::read(out.join(format!("plots/{p}.png"))).unwrap();
        let (w, h) = png_size(&png);
        assert!(w >= 800 && h >= 250, "{p}: {w}x{h}");
        assert!(
            (5_000..5_000_000).contains(&png.len()),
            "{p}.png is {} bytes",
            png.len()
        );
        let svg = fs::read_to_string(out.join(format!("plots/{p}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{p}.svg"
        );
        assert!(
            svg.contains("<text"),
            "{p}.svg has no text: titles and labels are missing"
        );
        assert!(
            (2_000..20_000_000).contains(&svg.len()),
            "{p}.svg is {} bytes",
            svg.len()
        );
    }
    let cdf = fs::read_to_string(out.join("plots/latency_cdf.svg")).unwrap();
    for label in [
        "Delivery latency (CDF)",
        "fraction of deliveries",
        "ticks of 1000 ms",
        "relay",
        "all (",
    ] {
        assert!(cdf.contains(label), "latency_cdf.svg lacks {label:?}");
    }
    let traffic = fs::read_to_string(out.join("plots/traffic.svg")).unwrap();
    for label in ["message", "ack", "items per", "kB per"] {
        assert!(traffic.contains(label), "traffic.svg lacks {label:?}");
    }
}

/// The expected total is drawn last and dashed: where the "so far" line or a converged run's
/// deliveries reach it, it stays in sight instead of lying under them.
#[test]
fn the_deliveries_plot_draws_the_expected_total_dashed_on_top() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    run("scenarios/batch_payload.json", &out, &[]);
    let svg = fs::read_to_string(out.join("plots/deliveries.svg")).unwrap();
    let (red, blue, grey) = (
        "stroke=\"#E15759\"",
        "stroke=\"#4E79A7\"",
        "stroke=\"#969696\"",
    );
    // Dashes: many short red segments (a solid line is one polyline, plus its legend sample).
    assert!(
        svg.matches(red).count() > 20,
        "{}",
        svg.matches(red).count()
    );
    // Drawn after both other lines (the legend, drawn last, has a sample of each).
    let first_red = svg.find(red).unwrap();
    assert!(svg.find(blue).unwrap() < first_red && svg.find(grey).unwrap() < first_red);
}

/// The SVG of plot `plot` in the run folder `out`.
fn plot_svg(out: &Path, plot: &str) -> String {
    fs::read_to_string(out.join(format!("plots/{plot}.svg"))).unwrap()
}

/// The numbers an SVG plot writes as text of its own (axis labels), in order.
fn svg_numbers(svg: &str) -> Vec<f64> {
    svg.split("</text>")
        .filter_map(|part| part.rsplit('>').next())
        .filter_map(|text| text.trim().parse::<f64>().ok())
        .collect()
}

/// A count of deliveries is a whole number, and so is every label of its axis: a run of four
/// expected deliveries gets 0, 1, 2, 3, 4, not the halves plotters picks by default.
#[test]
fn a_small_count_axis_is_labelled_in_whole_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    run("scenarios/mobile_desktop.json", &out, &[]);
    let numbers = svg_numbers(&plot_svg(&out, "deliveries"));
    for y in [0.0, 1.0, 2.0, 3.0, 4.0] {
        assert!(numbers.contains(&y), "no label {y} in {numbers:?}");
    }
    assert!(
        numbers.iter().all(|x| x.fract() == 0.0),
        "a label that is not a whole number: {numbers:?}"
    );
    // The kB axis of the traffic plot is no count: it keeps its fractions.
    let kb = svg_numbers(&plot_svg(&out, "traffic"));
    assert!(kb.iter().any(|x| x.fract() != 0.0), "{kb:?}");
}

/// The propagation heat map labels each shown message once, at its row: mobile_desktop's two
/// messages are 1 and 2, and no label is written twice.
#[test]
fn the_heat_map_labels_each_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    run("scenarios/mobile_desktop.json", &out, &[]);
    let numbers = svg_numbers(&plot_svg(&out, "propagation"));
    assert!(
        numbers.contains(&1.0) && numbers.contains(&2.0),
        "{numbers:?}"
    );
    let mut sorted = numbers.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        numbers.len(),
        "a label written twice: {numbers:?}"
    );
}

/// The bytes panel names what its bytes are: 2/MVDS payloads alone, or with the discovery and
/// peer-store messages a run also sends.
#[test]
fn the_bytes_panel_says_which_messages_it_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (sync, mixed) = (tmp.path().join("sync"), tmp.path().join("mixed"));
    run("scenarios/mobile_desktop.json", &sync, &[]);
    run("scenarios/discovery_crash.json", &mixed, &[]);
    let title = "bytes sent (encoded 2/MVDS payloads and other wire messages, kB = 1000 bytes)";
    let (sync_svg, mixed_svg) = (plot_svg(&sync, "traffic"), plot_svg(&mixed, "traffic"));
    assert!(sync_svg.contains("bytes sent (encoded 2/MVDS payloads, kB = 1000 bytes)"));
    assert!(!sync_svg.contains(title));
    assert!(mixed_svg.contains(title));
}

#[test]
fn plots_change_when_the_data_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run("scenarios/batch_payload.json", &a, &[]);
    run("scenarios/batch_payload.json", &b, &["--seed", "2"]);
    for p in PLOTS {
        let x = fs::read(a.join(format!("plots/{p}.png"))).unwrap();
        let y = fs::read(b.join(format!("plots/{p}.png"))).unwrap();
        assert_ne!(x, y, "{p}.png is the same for two seeds");
    }
}

#[test]
fn sim_plot_redraws_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    run("scenarios/mobile_desktop.json", &out, &[]);
    let before: Vec<(String, Vec<u8>)> = PLOTS
        .iter()
        .flat_map(|p| [format!("plots/{p}.png"), format!("plots/{p}.svg")])
        .chain(["report.html".to_string()])
        .map(|f| (f.clone(), fs::read(out.join(&f)).unwrap()))
        .collect();
    fs::remove_dir_all(out.join("plots")).unwrap();
    fs::remove_file(out.join("report.html")).unwrap();
    sim().arg("plot").arg(&out).assert().success();
    for (f, bytes) in before {
        assert_eq!(
            fs::read(out.join(&f)).unwrap(),
            bytes,
            "{f} differs after sim plot"
        );
    }
}

#[test]
fn report_html_is_self_contained_and_has_every_section() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    run("scenarios/mobile_desktop.json", &out, &[]);
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    for section in [
        "id=\"summary\"",
        "id=\"nodes\"",
        "id=\"plots\"",
        "id=\"sync-state\"",
    ] {
        assert!(html.contains(section), "report.html lacks {section}");
    }
    for p in PLOTS {
        assert!(
            html.contains(&format!("id=\"plot-{p}\"><svg")),
            "report.html lacks the {p} plot"
        );
    }
    for node in ["A", "B", "C"] {
        assert!(
            html.contains(&format!("id=\"table-{node}\">{node} POV @2000")),
            "report.html lacks {node}'s table"
        );
    }
    assert!(
        html.contains("delivered / expected</td><td>3 / 4"),
        "summary figures"
    );
    for external in ["<script", "<link", "src=\"http", "href=\"http", "@import"] {
        assert!(
            !html.contains(external),
            "report.html refers outside itself: {external}"
        );
    }
}

#[test]
fn large_runs_plot_per_template_and_skip_the_availability_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    run(
        "scenarios/large_mobile.json",
        &out,
        &["--set", "duration=600"],
    );
    assert!(
        !out.join("plots/availability.png").exists(),
        "more than 50 nodes: no availability timeline"
    );
    let cdf = fs::read_to_string(out.join("plots/latency_cdf.svg")).unwrap();
    assert!(
        cdf.contains("@phone") && cdf.contains("@server"),
        "per-template lines"
    );
    let heat = fs::read_to_string(out.join("plots/propagation.svg")).unwrap();
    assert!(
        heat.contains("first 200 messages") || heat.contains("first 100 nodes"),
        "the heat map says it is cut"
    );
}

/// `outputs.tables` false: no `sync_state/`, the other files as with tables, a report that
/// says why it shows no tables, and `sim plot` redraws the folder as it was.
#[test]
fn a_run_without_tables_writes_everything_else() {
    let tmp = tempfile::tempdir().unwrap();
    let (with, without) = (tmp.path().join("with"), tmp.path().join("without"));
    run("scenarios/mobile_desktop.json", &with, &[]);
    run(
        "scenarios/mobile_desktop.json",
        &without,
        &[
            "--set",
            "outputs.tables=false",
            "--set",
            "outputs.tables_at=[]",
        ],
    );
    assert!(with.join("sync_state/A.txt").exists());
    assert!(!without.join("sync_state").exists());
    for file in ["deliveries.csv", "messages.csv", "series.csv", "links.csv"] {
        assert_eq!(
            fs::read(with.join(file)).unwrap(),
            fs::read(without.join(file)).unwrap(),
            "{file} does not depend on the tables"
        );
    }
    let html = fs::read_to_string(without.join("report.html")).unwrap();
    assert!(
        html.contains("<code>outputs.tables</code> to false"),
        "the report says why"
    );
    assert!(!html.contains("<pre id=\"table-"), "and shows no table");
    let before = syncsim::report::output::read_run_dir(&without).unwrap();
    sim().arg("plot").arg(&without).assert().success();
    let after = syncsim::report::output::read_run_dir(&without).unwrap();
    assert!(before == after, "sim plot redraws the same folder");
}

/// `sim run` gives the plots the deliveries from the run instead of reading back the
/// `deliveries.csv` it streams to disk; they are the rows `sim plot` reads from that file, for
/// runs with many deliveries, several groups and ephemeral or lost messages alike.
#[test]
fn the_deliveries_sim_run_plots_are_those_deliveries_csv_holds() {
    for scenario in [
        "scenarios/large_mobile.json",
        "scenarios/churn_groups.json",
        "scenarios/published_interactive.json",
    ] {
        let text = fs::read_to_string(scenario).unwrap();
        let plan = syncsim::scenario::parse(scenario, &text, &[], None).expect("valid");
        let run = syncsim::simulate(&plan);
        let from_file = syncsim::report::data::RunData::from_files("r", &run.files)
            .expect("reads back")
            .deliveries;
        let tables = syncsim::report::TableFiles::new(&plan, &run.output);
        assert!(!from_file.is_empty(), "{scenario} delivers something");
        assert_eq!(tables.delivery_rows(), from_file, "{scenario}");
        assert_eq!(
            tables.deliveries(),
            run.files["deliveries.csv"],
            "{scenario}"
        );
    }
}

/// `sim plot DIR` fails with exit 2 and `expected` on stderr.
fn plot_refused(dir: &Path, expected: &str) {
    sim()
        .arg("plot")
        .arg(dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(expected));
}

#[test]
fn sim_plot_refuses_what_is_not_a_complete_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    plot_refused(tmp.path(), "not a run folder");
    let out = tmp.path().join("r");
    run("scenarios/mobile_desktop.json", &out, &[]);
    fs::remove_file(out.join("series.csv")).unwrap();
    plot_refused(&out, "series.csv is missing");
    fs::write(out.join("series.csv"), "tick,oops\n").unwrap();
    plot_refused(&out, "series.csv:1: expected the header");
    // A row with fields missing, named by its line.
    let out = tmp.path().join("r2");
    run("scenarios/mobile_desktop.json", &out, &[]);
    let deliveries = fs::read_to_string(out.join("deliveries.csv")).unwrap();
    let mut lines: Vec<&str> = deliveries.lines().collect();
    assert!(lines.len() >= 3, "{deliveries}");
    lines[2] = "A,00";
    fs::write(out.join("deliveries.csv"), lines.join("\n") + "\n").unwrap();
    plot_refused(&out, "deliveries.csv:3: expected 7 fields, got 2");
    // A delivery names a node of the scenario and a message of messages.csv.
    let third: Vec<&str> = deliveries.lines().nth(2).unwrap().split(',').collect();
    let with_third = |node: &str, message: &str| {
        let mut row = third.clone();
        (row[0], row[1]) = (node, message);
        let mut all: Vec<String> = deliveries.lines().map(String::from).collect();
        all[2] = row.join(",");
        all.join("\n") + "\n"
    };
    fs::write(out.join("deliveries.csv"), with_third("Z", third[1])).unwrap();
    plot_refused(
        &out,
        "deliveries.csv:3: expected a node of the scenario, got \"Z\"",
    );
    fs::write(out.join("deliveries.csv"), with_third(third[0], "00ff")).unwrap();
    plot_refused(
        &out,
        "deliveries.csv:3: expected a message of messages.csv, got \"00ff\"",
    );
    fs::write(out.join("deliveries.csv"), &deliveries).unwrap();
    // Each message once.
    let messages = fs::read_to_string(out.join("messages.csv")).unwrap();
    let mut rows: Vec<&str> = messages.lines().collect();
    assert!(rows.len() >= 3, "{messages}");
    rows[2] = rows[1];
    fs::write(out.join("messages.csv"), rows.join("\n") + "\n").unwrap();
    plot_refused(&out, "messages.csv:3: expected each message once, got");
    fs::write(out.join("messages.csv"), &messages).unwrap();
    // Every node's table must be there.
    fs::remove_file(out.join("sync_state/C.txt")).unwrap();
    plot_refused(&out, "sync_state/C.txt is missing");
}

/// Reads the run folder `out` back and checks it holds exactly the files of `expected`, byte
/// for byte, `tables` of them under `sync_state/`; `label` names the case in failures.
fn same_folder(
    out: &Path,
    expected: &syncsim::report::RunFiles,
    tables: usize,
    label: &str,
) -> syncsim::report::RunFiles {
    let on_disk = syncsim::report::output::read_run_dir(out).unwrap();
    assert_eq!(
        on_disk.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{label}"
    );
    assert!(on_disk == *expected, "{label}: some file differs");
    assert_eq!(
        on_disk
            .keys()
            .filter(|k| k.starts_with("sync_state/"))
            .count(),
        tables,
        "{label}"
    );
    on_disk
}

/// `sim run` renders the sync-state tables one node at a time as it writes the folder; the
/// folder is exactly what the library renders all at once (`syncsim::execute`), for a run of
/// more nodes than the report shows tables of, with table snapshots.
#[test]
fn the_folder_of_sim_run_is_what_the_library_renders_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("many.json");
    let doc = serde_json::json!({
        "name": "many", "duration": 200,
        "templates": {"phone": {"availability": {"kind": "reliability", "p": 0.7}}},
        "nodes": [{"name": "n", "template": "phone", "count": 45}],
        "groups": [{"name": "g", "members": ["@phone"]}],
        "links": {"topology": {"kind": "random_regular", "k": 4}},
        "workload": {"generators": [{"nodes": ["@phone"], "group": "g", "mean_interval": 100}]},
        "outputs": {"tables_at": [50]}
    });
    fs::write(&scenario, doc.to_string()).unwrap();
    let out = tmp.path().join("r");
    run(scenario.to_str().unwrap(), &out, &[]);
    let plan = syncsim::scenario::parse("many.json", &doc.to_string(), &[], None).expect("valid");
    let expected = syncsim::execute(&plan).files;
    let on_disk = same_folder(&out, &expected, 45 * 4, "");
    let html = String::from_utf8(on_disk["report.html"].clone()).unwrap();
    assert!(
        html.contains("… and 5 more nodes"),
        "the report counts every node's table"
    );
}

/// A run of several independent components hands each component's tables to the folder as the
/// component ends (on one thread or two, in whatever order they end); the folder is still
/// exactly what the library renders all at once from the whole run's output.
#[test]
fn a_split_run_writes_each_components_tables_as_it_ends_and_the_folder_is_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("islands.json");
    // Three groups of 15 on rings of their own: three components, 45 nodes (more than the
    // report shows tables of), with a snapshot of the tables at tick 50.
    let (groups, size) = (3, 15);
    let name = |g: usize, i: usize| format!("n-{}", g * size + i);
    let mut links = Vec::new();
    let mut group_docs = Vec::new();
    let mut generators = Vec::new();
    for g in 0..groups {
        let members: Vec<String> = (0..size).map(|i| name(g, i)).collect();
        for i in 0..size {
            links.push(serde_json::json!({"between": [name(g, i), name(g, (i + 1) % size)]}));
        }
        group_docs.push(serde_json::json!({"name": format!("g{g}"), "members": members}));
        generators.push(serde_json::json!({
            "nodes": members, "group": format!("g{g}"), "mean_interval": 60
        }));
    }
    let doc = serde_json::json!({
        "name": "islands", "duration": 300,
        "templates": {"phone": {"availability": {"kind": "markov", "mean_on": 40, "mean_off": 20}}},
        "nodes": [{"name": "n", "template": "phone", "count": groups * size}],
        "groups": group_docs,
        "links": {"topology": {"kind": "explicit"}, "latency": {"kind": "uniform", "min": 1, "max": 3},
                  "loss": {"kind": "bernoulli", "p": 0.05}, "list": links},
        "sync": {"mode": "batch", "packing": "payload", "forwarding": true},
        "workload": {"generators": generators},
        "outputs": {"tables_at": [50]}
    });
    fs::write(&scenario, doc.to_string()).unwrap();
    let plan =
        syncsim::scenario::parse("islands.json", &doc.to_string(), &[], None).expect("valid");
    let expected = syncsim::execute(&plan).files;
    let tables = expected
        .iter()
        .filter(|(k, v)| k.starts_with("sync_state/") && k.ends_with(".csv") && v.len() > 80)
        .count();
    assert!(
        tables > groups * size,
        "rows in the tables of every group: {tables}"
    );
    for jobs in ["1", "2"] {
        let out = tmp.path().join(format!("r{jobs}"));
        run(scenario.to_str().unwrap(), &out, &["-j", jobs]);
        same_folder(&out, &expected, groups * size * 4, &format!("-j {jobs}"));
    }
}
