//! `report.html`: one self-contained page (no network access needed) with the summary tables,
//! every plot inline as SVG, and the nodes' final sync-state tables.

use super::data::RunData;
use serde_json::Value;
use std::fmt::Write as _;

/// At most this many nodes get a row in the per-node table and a sync-state table.
pub const HTML_NODES: usize = 40;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn v(x: &Value) -> String {
    match x {
        Value::Null => "—".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// The page, with `plots` as `(name, svg)` pairs.
pub fn report(data: &RunData, plots: &[(String, String)]) -> String {
    let s = &data.summary;
    let mut h = String::new();
    let name = esc(data.plan.name());
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name} (seed {seed}) — syncsim</title>
<style>
body {{ font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.6em 0; }} td, th {{ border: 1px solid #ccc; padding: 3px 10px; text-align: right; }}
th {{ background: #f2f2f2; }} td:first-child, th:first-child {{ text-align: left; }}
.plot svg {{ max-width: 100%; height: auto; border: 1px solid #eee; margin: 0.5em 0; }}
pre {{ background: #f8f8f8; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }}
.muted {{ color: #777; }}
</style></head><body>
<h1>{name}</h1>
<p class="muted">{desc}</p>
"#,
        seed = v(&s["seed"]),
        desc = esc(&data.plan.scenario.description),
    );
    let row = |h: &mut String, k: &str, x: String| {
        let _ = writeln!(h, "<tr><td>{k}</td><td>{x}</td></tr>");
    };
    h.push_str("<h2 id=\"summary\">Summary</h2>\n<table>\n");
    row(&mut h, "scenario hash", v(&s["scenario"]["hash"]));
    row(&mut h, "seed", v(&s["seed"]));
    row(&mut h, "fingerprint", v(&s["fingerprint"]));
    row(
        &mut h,
        "ticks (ms per tick)",
        format!("{} ({})", v(&s["ticks"]), v(&s["tick_ms"])),
    );
    row(&mut h, "events", v(&s["events"]));
    let d = &s["delivery"];
    row(
        &mut h,
        "delivered / expected",
        format!("{} / {}", v(&d["delivered"]), v(&d["expected"])),
    );
    row(&mut h, "delivery ratio", v(&d["ratio"]));
    row(&mut h, "convergence tick", v(&d["convergence_tick"]));
    let l = &s["latency_ticks"];
    row(
        &mut h,
        "latency p50 / p90 / p99 / max (ticks)",
        format!(
            "{} / {} / {} / {}",
            v(&l["p50"]),
            v(&l["p90"]),
            v(&l["p99"]),
            v(&l["max"])
        ),
    );
    let t = &s["traffic"];
    row(
        &mut h,
        "packets sent (bytes)",
        format!("{} ({})", v(&t["packets_sent"]), v(&t["bytes_sent"])),
    );
    row(
        &mut h,
        "packets lost: link / offline / in flight",
        format!(
            "{} / {} / {}",
            v(&t["packets_lost_link"]),
            v(&t["packets_lost_offline"]),
            v(&t["packets_in_flight"])
        ),
    );
    row(
        &mut h,
        "multiplier: packets / bytes per delivery",
        format!(
            "{} / {}",
            v(&t["multiplier_packets"]),
            v(&t["multiplier_bytes"])
        ),
    );
    h.push_str("</table>\n<table>\n<tr><th>kind</th><th>items sent</th><th>bytes</th><th>lost</th><th>received</th><th>duplicates</th></tr>\n");
    if let Some(kinds) = t["by_kind"].as_object() {
        for (k, c) in kinds {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(k),
                v(&c["sent"]),
                v(&c["bytes"]),
                v(&c["lost"]),
                v(&c["received"]),
                v(&c["duplicates"])
            );
        }
    }
    h.push_str("</table>\n");

    h.push_str("<h2 id=\"nodes\">Nodes</h2>\n<table>\n<tr><th>node</th><th>delivered / expected</th><th>convergence tick</th><th>packets sent</th><th>bytes sent</th><th>received</th><th>lost offline</th><th>held</th></tr>\n");
    if let Some(nodes) = s["nodes"].as_object() {
        for (n, x) in nodes.iter().take(HTML_NODES) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(n),
                v(&x["delivery"]["delivered"]),
                v(&x["delivery"]["expected"]),
                v(&x["delivery"]["convergence_tick"]),
                v(&x["packets_sent"]),
                v(&x["bytes_sent"]),
                v(&x["packets_received"]),
                v(&x["packets_lost_offline"]),
                v(&x["messages_held"])
            );
        }
        if nodes.len() > HTML_NODES {
            let _ = writeln!(
                h,
                "<tr><td colspan=\"8\" class=\"muted\">… and {} more nodes: see summary.json</td></tr>",
                nodes.len() - HTML_NODES
            );
        }
    }
    h.push_str("</table>\n");

    h.push_str("<h2 id=\"plots\">Plots</h2>\n");
    for (name, svg) in plots {
        let body = svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg);
        let _ = writeln!(h, "<div class=\"plot\" id=\"plot-{name}\">{body}</div>");
    }

    h.push_str("<h2 id=\"sync-state\">Sync-state tables</h2>\n");
    if data.table_count == 0 {
        h.push_str(
            "<p class=\"muted\">Not written: the scenario sets <code>outputs.tables</code> to false.</p>\n",
        );
    }
    for (node, table) in data.tables.iter().take(HTML_NODES) {
        let _ = writeln!(h, "<pre id=\"table-{}\">{}</pre>", esc(node), esc(table));
    }
    if data.table_count > HTML_NODES {
        let _ = writeln!(
            h,
            "<p class=\"muted\">… and {} more nodes: see sync_state/.</p>",
            data.table_count - HTML_NODES
        );
    }
    h.push_str("</body></html>\n");
    h
}
