//! The plots of a run, drawn with plotters from [`RunData`] only, each as PNG and SVG:
//!
//! | file | what it shows |
//! |---|---|
//! | `plots/latency_cdf` | CDF of delivery latency: all deliveries, and per node (up to 12 nodes) or per template |
//! | `plots/deliveries` | cumulative deliveries over time against the expected total |
//! | `plots/traffic` | items and bytes sent per time bucket, stacked by kind |
//! | `plots/availability` | one row per node, its online spans (up to 50 nodes) |
//! | `plots/propagation` | a heat map: for each message (row), when each node (column) got it |
//!
//! Text uses DejaVu Sans, compiled into the binary, so pictures look the same everywhere.

use super::data::RunData;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::sync::Once;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FONT, style, FONT_BYTES).is_err() {
                unreachable!("the bundled font is a valid TrueType file");
            }
        }
    });
}

type Res = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Kind colours: message, ack, offer, request, rpc_request, rpc_response, discovery (and
/// overhead last).
const KIND_COLORS: [RGBColor; 9] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(156, 117, 95),
    RGBColor(160, 160, 160),
];
const KIND_NAMES: [&str; crate::metrics::KINDS] = crate::metrics::KIND_NAMES;

/// Twelve distinguishable line colours.
const PALETTE: [RGBColor; 12] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
    RGBColor(31, 119, 180),
    RGBColor(148, 103, 189),
];

/// A plot: its file stem, size, and how to draw it.
struct PlotSpec {
    name: &'static str,
    size: (u32, u32),
}

/// Draws every plot that applies to `data`, as `(relative path, bytes)` pairs (PNG and SVG).
pub fn render_all(data: &RunData) -> Result<Vec<(String, Vec<u8>)>, String> {
    register_font();
    let mut out = Vec::new();
    let mut specs = vec![
        PlotSpec {
            name: "latency_cdf",
            size: (1000, 600),
        },
        PlotSpec {
            name: "deliveries",
            size: (1000, 600),
        },
        PlotSpec {
            name: "traffic",
            size: (1000, 760),
        },
    ];
    if !data.availability.is_empty() {
        let h = (140 + 22 * data.availability.len() as u32).max(300);
        specs.push(PlotSpec {
            name: "availability",
            size: (1000, h),
        });
    }
    // Plots drawn only when the run has their data, with their heights.
    let optional = [
        (!data.messages.is_empty(), "propagation", 700),
        (!data.rpc.is_empty(), "rpc_rtt", 600),
        (!data.rpc.is_empty(), "rpc_outcomes", 600),
        (!data.discovery.is_empty(), "discovery_peers", 600),
        (!data.peer_states.is_empty(), "peer_states", 600),
        (!restart_rows(data).is_empty(), "restarts", 600),
    ];
    for (name, h) in optional.into_iter().filter(|o| o.0).map(|o| (o.1, o.2)) {
        specs.push(PlotSpec {
            name,
            size: (1000, h),
        });
    }
    if data.messages.is_empty() {
        // No sync traffic: latency and delivery plots would be empty.
        specs.retain(|p| p.name != "latency_cdf" && p.name != "deliveries");
    }
    for spec in specs {
        let (w, h) = spec.size;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            draw(spec.name, &root, data)?;
            root.present().map_err(err)?;
        }
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            draw(spec.name, &root, data)?;
            root.present().map_err(err)?;
        }
        out.push((format!("plots/{}.png", spec.name), encode_png(&rgb, w, h)?));
        out.push((format!("plots/{}.svg", spec.name), svg.into_bytes()));
    }
    Ok(out)
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
    }
    Ok(bytes)
}

fn draw<DB: DrawingBackend>(name: &str, root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    root.fill(&WHITE).map_err(err)?;
    match name {
        "latency_cdf" => latency_cdf(root, data),
        "deliveries" => deliveries(root, data),
        "traffic" => traffic(root, data),
        "availability" => availability(root, data),
        "propagation" => propagation(root, data),
        "rpc_rtt" => rpc_rtt(root, data),
        "discovery_peers" => discovery_peers(root, data),
        "peer_states" => peer_states(root, data),
        "rpc_outcomes" => rpc_outcomes(root, data),
        "restarts" => restarts(root, data),
        _ => unreachable!("known plots only"),
    }
}

fn tick_unit(data: &RunData) -> String {
    format!("ticks of {} ms", data.plan.tick_ms)
}

fn subtitle(data: &RunData) -> String {
    format!(
        "{} (seed {}, fingerprint {})",
        data.plan.name(),
        data.plan.seed,
        data.summary["fingerprint"].as_str().unwrap_or("?")
    )
}

fn title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    data: &RunData,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (top, rest) = root.split_vertically(58);
    top.draw(&Text::new(
        title.to_string(),
        (16, 8),
        (FONT, 22).into_font().style(FontStyle::Bold),
    ))
    .map_err(err)?;
    top.draw(&Text::new(
        subtitle(data),
        (16, 34),
        (FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
    ))
    .map_err(err)?;
    Ok(rest)
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, what: &str) -> Res {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        what.to_string(),
        (w as i32 / 2 - 120, h as i32 / 2),
        (FONT, 18),
    ))
    .map_err(err)
}

/// Step-function points of a running total that rises by `add` at each `(tick, add)` (sorted by
/// tick), from `(0, 0)` to `(end, total)`: one rise per distinct tick, so a line has at most two
/// points a tick however many events share it (a point per event made the `large` workload's
/// `deliveries.svg` tens of megabytes for the same picture).
fn running_total_points(events: impl IntoIterator<Item = (u64, u64)>, end: u64) -> Vec<(f64, f64)> {
    let mut pts = vec![(0.0, 0.0)];
    let mut total = 0u64;
    let mut events = events.into_iter().peekable();
    while let Some((tick, add)) = events.next() {
        let before = total;
        total += add;
        while let Some((_, more)) = events.next_if(|&(t, _)| t == tick) {
            total += more;
        }
        pts.push((tick as f64, before as f64));
        pts.push((tick as f64, total as f64));
    }
    pts.push((end as f64, total as f64));
    pts
}

/// Above this many distinct values a CDF is drawn through its points instead of as steps: a
/// plot is about 900 pixels wide, so the steps would be narrower than a pixel and a thick line
/// of them rasterises into a ragged, hatched band.
const CDF_STEPS_UP_TO: usize = 300;

/// Points of the empirical CDF of `values` (sorted): a step function, or with more than
/// [`CDF_STEPS_UP_TO`] distinct values the curve through `(value, fraction at or below it)`.
fn cdf_points(sorted: &[u64]) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let mut at = Vec::new();
    for (i, &v) in sorted.iter().enumerate() {
        if sorted.get(i + 1) != Some(&v) {
            at.push((v as f64, (i + 1) as f64 / n));
        }
    }
    let steps = at.len() <= CDF_STEPS_UP_TO;
    let mut pts = vec![(0.0, 0.0)];
    for (v, fraction) in at {
        if steps {
            let before = pts.last().map(|p| p.1).unwrap_or(0.0);
            pts.push((v, before));
        }
        pts.push((v, fraction));
    }
    pts
}

fn latency_cdf<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Delivery latency (CDF)", data)?;
    let mut all: Vec<u64> = data
        .deliveries
        .iter()
        .map(|d| d.delivered - d.authored)
        .collect();
    if all.is_empty() {
        return no_data(&area, "no deliveries");
    }
    all.sort_unstable();
    // Lines per node when there are few, else per template: each node's line, by index into
    // the lines' names in sorted order.
    let per_node = data.plan.nodes.len() <= 12;
    let key_of: Vec<String> = data
        .plan
        .nodes
        .iter()
        .map(|n| {
            if per_node {
                n.name.clone()
            } else {
                format!("@{}", n.template.as_deref().unwrap_or("(no template)"))
            }
        })
        .collect();
    let mut keys: Vec<&str> = key_of.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let line_of: Vec<usize> = key_of
        .iter()
        .map(|k| keys.binary_search(&k.as_str()).expect("a key of a node"))
        .collect();
    let mut lines: Vec<Vec<u64>> = vec![Vec::new(); keys.len()];
    for d in &data.deliveries {
        lines[line_of[d.node as usize]].push(d.delivered - d.authored);
    }
    // The lines that have deliveries: nodes in node order, templates in name order.
    let mut order: Vec<usize> = if per_node {
        line_of
            .iter()
            .copied()
            .filter(|&l| !lines[l].is_empty())
            .collect()
    } else {
        (0..keys.len()).filter(|&l| !lines[l].is_empty()).collect()
    };
    if order.len() > PALETTE.len() || order.len() < 2 {
        order.clear();
    }
    let xmax = (*all.last().expect("non-empty") as f64 * 1.04).max(1.0);
    let mut chart = chart(&area, 70)
        .build_cartesian_2d(0f64..xmax, 0f64..1.02)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "latency from append to delivery ({})",
            tick_unit(data)
        ))
        .y_desc("fraction of deliveries")
        .x_label_formatter(&|x: &f64| {
            if xmax >= 20.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        })
        .house(14)
        .draw()
        .map_err(err)?;
    // All deliveries first, so that a line of the nodes or template that has most of them
    // (drawn over it) is not hidden under it.
    chart
        .draw_series(LineSeries::new(cdf_points(&all), BLACK.stroke_width(3)))
        .map_err(err)?
        .label(format!("all ({} deliveries)", all.len()))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BLACK.stroke_width(3)));
    for (i, &l) in order.iter().enumerate() {
        let key = keys[l];
        let mut v = std::mem::take(&mut lines[l]);
        v.sort_unstable();
        let color = PALETTE[i];
        chart
            .draw_series(LineSeries::new(cdf_points(&v), color.stroke_width(2)))
            .map_err(err)?
            .label(format!("{key} ({})", v.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight, 14)
}

fn deliveries<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Deliveries over time", data)?;
    let expected = data.summary["delivery"]["expected"].as_u64().unwrap_or(0);
    let duration = data.plan.duration;
    let mut ticks: Vec<u64> = data.deliveries.iter().map(|d| d.delivered).collect();
    ticks.sort_unstable();
    let ymax = (expected.max(ticks.len() as u64) as f64 * 1.08).max(1.0);
    let mut chart = chart(&area, 80)
        .build_cartesian_2d(0f64..duration as f64, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("time ({})", tick_unit(data)))
        .y_desc("deliveries so far")
        .y_labels(whole_labels(ymax))
        .x_label_formatter(&|x: &f64| format!("{x:.0}"))
        .y_label_formatter(&|y: &f64| {
            if y.fract() == 0.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            }
        })
        .house(14)
        .draw()
        .map_err(err)?;
    // Expected so far: each message's expected deliveries from its append on.
    let mut appended: Vec<(u64, u64)> = data
        .messages
        .iter()
        .map(|m| (m.authored, m.expected))
        .collect();
    appended.sort_unstable();
    let so_far = running_total_points(appended, duration);
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(LineSeries::new(so_far, grey.stroke_width(2)))
        .map_err(err)?
        .label("expected of the messages appended so far")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], grey.stroke_width(2)));
    let pts = running_total_points(ticks.iter().map(|&t| (t, 1)), duration);
    let blue = KIND_COLORS[0];
    chart
        .draw_series(LineSeries::new(pts, blue.stroke_width(3)))
        .map_err(err)?
        .label(format!("delivered ({})", ticks.len()))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], blue.stroke_width(3)));
    // The target last and dashed: once every message is appended it lies on the grey line,
    // and on the blue one when the run converges, which would hide it if drawn solid below.
    let target = RGBColor(225, 87, 89);
    chart
        .draw_series(DashedLineSeries::new(
            vec![(0.0, expected as f64), (duration as f64, expected as f64)],
            8,
            5,
            target.stroke_width(2),
        ))
        .map_err(err)?
        .label(format!("expected in all ({expected})"))
        .legend(move |(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 22, y)], 8, 5, target.stroke_width(2))
        });
    legend(&mut chart, SeriesLabelPosition::LowerRight, 14)
}

/// Stacked areas of `layers` (bottom first) over the series' ticks.
fn stacked<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &RunData,
    layers: &[(String, RGBColor, Vec<f64>)],
    y_desc: &str,
    panel_title: &str,
    whole: bool,
) -> Res {
    let xs: Vec<f64> = data.series.iter().map(|r| r.tick as f64).collect();
    let width = data.series.first().map(|r| r.bucket_ticks).unwrap_or(1) as f64;
    let xmax = xs.last().map(|x| x + width).unwrap_or(1.0);
    let totals: Vec<f64> = (0..xs.len())
        .map(|i| layers.iter().map(|(_, _, v)| v[i]).sum())
        .collect();
    // Headroom for the legend in the upper right, a line a layer, so that it does not hide the
    // tallest bars.
    let headroom = 1.12 + 0.06 * layers.len() as f64;
    let ymax = totals.iter().copied().fold(0.0, f64::max).max(1.0) * headroom;
    let mut chart = ChartBuilder::on(area)
        .caption(panel_title, (FONT, 16))
        .margin_left(10)
        .margin_right(30)
        .margin_bottom(6)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("time ({})", tick_unit(data)))
        .y_desc(y_desc)
        .y_labels(if whole { whole_labels(ymax) } else { 10 })
        .x_label_formatter(&|x: &f64| format!("{x:.0}"))
        .y_label_formatter(&|y: &f64| {
            if y.fract() == 0.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            }
        })
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(err)?;
    // One stacked bar per bucket, layers bottom first.
    let mut base = vec![0.0; xs.len()];
    for (name, color, values) in layers {
        let c = *color;
        let bars: Vec<Rectangle<(f64, f64)>> = xs
            .iter()
            .enumerate()
            .filter(|&(i, _)| values[i] > 0.0)
            // Widened by a pixel's worth so that neighbouring bars leave no seam.
            .map(|(i, &x)| {
                Rectangle::new(
                    [
                        (x, base[i]),
                        (x + width + xmax / 900.0, base[i] + values[i]),
                    ],
                    c.filled(),
                )
            })
            .collect();
        for (b, v) in base.iter_mut().zip(values) {
            *b += v;
        }
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 13)
}

fn traffic<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Traffic over time, by kind", data)?;
    if data.series.iter().all(|r| r.packets == 0) {
        return no_data(&area, "nothing was sent");
    }
    let width = data.series.first().map(|r| r.bucket_ticks).unwrap_or(1);
    let (top, bottom) = area.split_vertically(area.dim_in_pixel().1 / 2);
    let present: Vec<usize> = (0..crate::metrics::KINDS)
        .filter(|&k| data.series.iter().any(|r| r.items[k] > 0))
        .collect();
    let items: Vec<(String, RGBColor, Vec<f64>)> = present
        .iter()
        .map(|&k| {
            (
                KIND_NAMES[k].to_string(),
                KIND_COLORS[k],
                data.series.iter().map(|r| r.items[k] as f64).collect(),
            )
        })
        .collect();
    stacked(
        &top,
        data,
        &items,
        &format!("items per {width} ticks"),
        "items sent",
        true,
    )?;
    let mut bytes: Vec<(String, RGBColor, Vec<f64>)> = present
        .iter()
        .map(|&k| {
            (
                KIND_NAMES[k].to_string(),
                KIND_COLORS[k],
                data.series
                    .iter()
                    .map(|r| r.bytes[k] as f64 / 1000.0)
                    .collect(),
            )
        })
        .collect();
    let overhead: Vec<f64> = data
        .series
        .iter()
        .map(|r| (r.packet_bytes - r.bytes.iter().sum::<u64>()) as f64 / 1000.0)
        .collect();
    if overhead.iter().any(|&x| x > 0.0) {
        bytes.push(("packet overhead".into(), KIND_COLORS[8], overhead));
    }
    stacked(
        &bottom,
        data,
        &bytes,
        &format!("kB per {width} ticks"),
        // The kinds before the request/response ones are the sync items; the others are
        // request/response, discovery and peer-store messages, each its own wire message.
        if present.iter().all(|&k| k < crate::metrics::RPC_REQUEST) {
            "bytes sent (encoded 2/MVDS payloads, kB = 1000 bytes)"
        } else {
            "bytes sent (encoded 2/MVDS payloads and other wire messages, kB = 1000 bytes)"
        },
        false,
    )
}

fn availability<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Node availability (online spans)", data)?;
    let rows = &data.availability;
    let n = rows.len();
    let duration = data.plan.duration as f64;
    let names: Vec<String> = rows
        .iter()
        .map(|r| {
            let p = data
                .plan
                .nodes
                .iter()
                .find(|n| n.name == r.node)
                .and_then(|n| match n.availability {
                    crate::net::Availability::Reliability { p } => Some(p.value()),
                    _ => None,
                });
            match p {
                Some(p) => format!("{} (p={p})", r.node),
                None => r.node.clone(),
            }
        })
        .collect();
    let any_reliability = rows.iter().any(|r| r.kind == "reliability");
    let longest = names.iter().map(|s| s.len()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(&area)
        .margin_left(10)
        .margin_right(30)
        .margin_bottom(if any_reliability { 30 } else { 10 })
        .x_label_area_size(50)
        .y_label_area_size(20 + 8 * longest)
        .build_cartesian_2d(0f64..duration, (0..n as i32 - 1).into_segmented())
        .map_err(err)?;
    let label_names = names.clone();
    chart
        .configure_mesh()
        .x_desc(format!("time ({})", tick_unit(data)))
        .x_label_formatter(&|x: &f64| format!("{x:.0}"))
        .y_labels(n)
        .y_label_formatter(&move |y: &SegmentValue<i32>| match y {
            // Row i (from the top) is segment n - 1 - i.
            SegmentValue::CenterOf(v) if (*v as usize) < label_names.len() => {
                label_names[label_names.len() - 1 - *v as usize].clone()
            }
            _ => String::new(),
        })
        .disable_y_mesh()
        .house(13)
        .draw()
        .map_err(err)?;
    let on = RGBColor(89, 161, 79);
    let partial = RGBColor(237, 201, 72);
    for (i, r) in rows.iter().enumerate() {
        let y = (n - 1 - i) as i32;
        let color = if r.kind == "reliability" { partial } else { on };
        chart
            .draw_series(r.spans.iter().map(|&(a, b)| {
                Rectangle::new(
                    [
                        (a as f64, SegmentValue::Exact(y)),
                        (b as f64, SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                )
            }))
            .map_err(err)?;
    }
    // White rules between rows, so that neighbouring rows read apart.
    let gap = ((area.dim_in_pixel().1 as usize / (n + 1)) / 4).clamp(2, 8) as u32;
    for y in 0..=n as i32 {
        chart
            .draw_series(LineSeries::new(
                [
                    (0.0, SegmentValue::Exact(y)),
                    (duration, SegmentValue::Exact(y)),
                ],
                WHITE.stroke_width(gap),
            ))
            .map_err(err)?;
    }
    if any_reliability {
        let (_, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            "yellow: reliability p, online throughout but processes each incoming packet only with probability p".to_string(),
            (16, (h as i32) - 20),
            (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

fn discovery_peers<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Verified peers per node over time", data)?;
    let pts = &data.discovery;
    let ymax = pts.iter().map(|p| p.3 as f64).fold(1.0, f64::max) * 1.12;
    let xmax = data.plan.duration as f64;
    let mut chart = chart(&area, 70)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("time ({})", tick_unit(data)))
        .y_desc("verified peers")
        .x_label_formatter(&|x: &f64| nice(*x))
        .y_label_formatter(&|y: &f64| nice(*y))
        .house(14)
        .draw()
        .map_err(err)?;
    let c = KIND_COLORS[0];
    let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0 as f64, p.3 as f64)).collect();
    band.extend(pts.iter().rev().map(|p| (p.0 as f64, p.2 as f64)));
    chart
        .draw_series(std::iter::once(Polygon::new(band, c.mix(0.2))))
        .map_err(err)?
        .label("p10 to p90 of nodes")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.mix(0.2).filled()));
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.0 as f64, p.1)),
            c.stroke_width(3),
        ))
        .map_err(err)?
        .label("mean")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
    legend(&mut chart, SeriesLabelPosition::LowerRight, 14)
}

fn peer_states<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(
        root,
        "Peer store: peers per connection state over time",
        data,
    )?;
    let names = crate::metrics::PEER_STATE_NAMES;
    let colors = [
        RGBColor(186, 176, 172),
        RGBColor(237, 201, 72),
        RGBColor(89, 161, 79),
        RGBColor(118, 183, 178),
        RGBColor(242, 142, 43),
        RGBColor(225, 87, 89),
    ];
    // Sampled states, laid on the series' buckets (one sample per bucket start).
    let buckets = data.series.len().max(1);
    let width = data
        .series
        .first()
        .map(|r| r.bucket_ticks)
        .unwrap_or(1)
        .max(1);
    let layers: Vec<(String, RGBColor, Vec<f64>)> = (0..6)
        .map(|k| {
            let mut v = vec![0.0; buckets];
            for (t, c) in &data.peer_states {
                let i = ((t / width) as usize).min(buckets - 1);
                v[i] = c[k] as f64;
            }
            (names[k].to_string(), colors[k], v)
        })
        .filter(|(_, _, v)| v.iter().any(|&x| x > 0.0))
        .collect();
    stacked(&area, data, &layers, "peers (all stores)", "", true)
}

/// Crashes of summary.json: `(node, crashed_at, known_before, remembered or None if still down)`.
fn restart_rows(data: &RunData) -> Vec<(String, u64, u64, Option<u64>)> {
    let each = &data.summary["peer_store"]["restarts"]["each"];
    each.as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["node"].as_str().unwrap_or("?").to_string(),
                        c["crashed_at"].as_u64().unwrap_or(0),
                        c["known_before"].as_u64().unwrap_or(0),
                        c["restarted_at"]
                            .as_u64()
                            .map(|_| c["remembered"].as_u64().unwrap_or(0)),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn restarts<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(
        root,
        "Crashes: peers known at the crash and remembered after the restart",
        data,
    )?;
    let rows = restart_rows(data);
    let ymax = rows.iter().map(|r| r.2).max().unwrap_or(1).max(1) as f64 * 1.15;
    let n = rows.len();
    let mut chart = chart(&area, 60)
        .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
        .map_err(err)?;
    let labels: Vec<String> = rows
        .iter()
        .map(|(node, at, _, _)| format!("{node} @{at}"))
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.clamp(1, 40) * 2 + 1)
        .x_label_formatter(&|x: &f64| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        })
        .x_desc(format!("crashed node @ crash tick ({})", tick_unit(data)))
        .y_desc("peers in the node's store")
        .y_label_formatter(&|y: &f64| nice(*y))
        .house(14)
        .draw()
        .map_err(err)?;
    let known_c = RGBColor(186, 176, 172);
    let kept_c = RGBColor(89, 161, 79);
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            let x = i as f64;
            Rectangle::new([(x + 0.12, 0.0), (x + 0.48, r.2 as f64)], known_c.filled())
        }))
        .map_err(err)?
        .label("known at the crash")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], known_c.filled()));
    chart
        .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
            let x = i as f64;
            r.3.map(|m| Rectangle::new([(x + 0.52, 0.0), (x + 0.88, m as f64)], kept_c.filled()))
        }))
        .map_err(err)?
        .label("remembered after the restart (last sync)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], kept_c.filled()));
    legend(&mut chart, SeriesLabelPosition::UpperRight, 14)
}

fn rpc_rtt<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Request round trips (CDF)", data)?;
    let mut rtts: Vec<u64> = data.rpc.iter().filter_map(|r| r.rtt).collect();
    if rtts.is_empty() {
        return no_data(&area, "no request completed");
    }
    rtts.sort_unstable();
    let xmax = (*rtts.last().expect("non-empty") as f64 * 1.04).max(1.0);
    let mut chart = chart(&area, 70)
        .build_cartesian_2d(0f64..xmax, 0f64..1.02)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "round trip from request to response ({})",
            tick_unit(data)
        ))
        .y_desc("fraction of completed requests")
        .x_label_formatter(&|x: &f64| nice(*x))
        .house(14)
        .draw()
        .map_err(err)?;
    let timed_out = data.rpc.iter().filter(|r| r.outcome == "timed_out").count();
    chart
        .draw_series(LineSeries::new(cdf_points(&rtts), BLACK.stroke_width(3)))
        .map_err(err)?
        .label(format!(
            "{} completed ({} timed out, not shown)",
            rtts.len(),
            timed_out
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BLACK.stroke_width(3)));
    legend(&mut chart, SeriesLabelPosition::LowerRight, 14)
}

fn rpc_outcomes<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(root, "Requests completed and timed out over time", data)?;
    let width = data
        .series
        .first()
        .map(|r| r.bucket_ticks)
        .unwrap_or(1)
        .max(1);
    let buckets = data.series.len().max(1);
    let mut completed = vec![0.0; buckets];
    let mut timed_out = vec![0.0; buckets];
    for r in &data.rpc {
        if let Some(t) = r.ended {
            let i = ((t / width) as usize).min(buckets - 1);
            match r.outcome.as_str() {
                "completed" => completed[i] += 1.0,
                "timed_out" => timed_out[i] += 1.0,
                _ => {}
            }
        }
    }
    let layers = vec![
        ("completed".to_string(), KIND_COLORS[2], completed),
        ("timed out".to_string(), KIND_COLORS[3], timed_out),
    ];
    stacked(
        &area,
        data,
        &layers,
        &format!("requests ending per {width} ticks"),
        "",
        true,
    )
}

/// A colour for `x` in [0, 1] on a dark-blue → green → yellow scale (viridis-like).
fn heat(x: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (68.0, 1.0, 84.0)),
        (0.25, (59.0, 82.0, 139.0)),
        (0.5, (33.0, 145.0, 140.0)),
        (0.75, (94.0, 201.0, 98.0)),
        (1.0, (253.0, 231.0, 37.0)),
    ];
    let x = x.clamp(0.0, 1.0);
    let i = STOPS
        .iter()
        .rposition(|s| s.0 <= x)
        .unwrap_or(0)
        .min(STOPS.len() - 2);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let t = (x - a.0) / (b.0 - a.0);
    let mix = |p: f64, q: f64| (p + (q - p) * t).round() as u8;
    RGBColor(mix(a.1.0, b.1.0), mix(a.1.1, b.1.1), mix(a.1.2, b.1.2))
}

/// At most this many messages (rows) and nodes (columns) in the propagation heat map.
pub const HEAT_ROWS: usize = 200;
/// See [`HEAT_ROWS`].
pub const HEAT_COLUMNS: usize = 100;

fn propagation<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &RunData) -> Res {
    let area = title(
        root,
        "Message propagation: when each node got each message",
        data,
    )?;
    let msgs: Vec<_> = data.messages.iter().take(HEAT_ROWS).collect();
    let nodes: Vec<&str> = data
        .plan
        .nodes
        .iter()
        .take(HEAT_COLUMNS)
        .map(|n| n.name.as_str())
        .collect();
    // Rows are the first messages, columns the first nodes, both by index.
    let mut latency: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    for d in &data.deliveries {
        let (r, c) = (d.message as usize, d.node as usize);
        if r < msgs.len() && c < nodes.len() {
            latency.insert((r, c), d.delivered - d.authored);
        }
    }
    let max_latency = latency.values().copied().max().unwrap_or(1).max(1) as f64;
    let group_members: BTreeMap<&str, Vec<&str>> = data
        .plan
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.final_members
                    .iter()
                    .map(|m| data.plan.nodes[m.idx()].name.as_str())
                    .collect(),
            )
        })
        .collect();
    let (main, legend) = area.split_horizontally(area.dim_in_pixel().0 - 150);
    let (rows_n, cols_n) = (msgs.len().max(1), nodes.len().max(1));
    let mut chart = ChartBuilder::on(&main)
        .margin_left(10)
        .margin_right(10)
        .margin_bottom(10)
        .x_label_area_size(if cols_n <= 30 { 60 } else { 50 })
        .y_label_area_size(70)
        .build_cartesian_2d(
            (0..cols_n as i32 - 1).into_segmented(),
            // Two units a row, so that a row's middle is a whole number.
            (0..2 * rows_n as i32).with_key_points(row_labels(rows_n)),
        )
        .map_err(err)?;
    let col_names: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    let note = match (
        data.messages.len() > HEAT_ROWS,
        data.plan.nodes.len() > HEAT_COLUMNS,
    ) {
        (false, false) => String::new(),
        (a, b) => format!(
            " (first {}{}{})",
            if a {
                format!("{HEAT_ROWS} messages")
            } else {
                String::new()
            },
            if a && b { ", " } else { "" },
            if b {
                format!("{HEAT_COLUMNS} nodes")
            } else {
                String::new()
            }
        ),
    };
    let x_desc = if cols_n <= 30 {
        format!("node{note}")
    } else {
        format!("node, by index in the scenario{note}")
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc("message, in append order (1 the first, at the top)")
        .x_labels(cols_n.min(30))
        .x_label_formatter(&move |x: &SegmentValue<i32>| match x {
            SegmentValue::CenterOf(i) if cols_n <= 30 && (*i as usize) < col_names.len() => {
                col_names[*i as usize].clone()
            }
            SegmentValue::CenterOf(i) if cols_n > 30 => format!("{i}"),
            _ => String::new(),
        })
        // Rows labelled at their middle with their place in append order ([`row_labels`]).
        .y_label_formatter(&move |y: &i32| format!("{}", rows_n - (*y / 2) as usize))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(err)?;
    let author_color = RGBColor(20, 20, 20);
    let missing = RGBColor(215, 215, 215);
    let mut cells = Vec::with_capacity(rows_n * cols_n);
    for (r, m) in msgs.iter().enumerate() {
        let members = group_members.get(m.group.as_str());
        for (c, &node) in nodes.iter().enumerate() {
            let color = if node == m.author {
                author_color
            } else if let Some(&l) = latency.get(&(r, c)) {
                heat(libm::log1p(l as f64) / libm::log1p(max_latency))
            } else if members.is_some_and(|ms| ms.contains(&node)) {
                missing
            } else {
                WHITE
            };
            let y = 2 * (rows_n - 1 - r) as i32;
            let (x0, x1) = (
                SegmentValue::Exact(c as i32),
                SegmentValue::Exact(c as i32 + 1),
            );
            cells.push(Rectangle::new([(x0, y), (x1, y + 2)], color.filled()));
        }
    }
    chart.draw_series(cells).map_err(err)?;
    // Legend: the colour scale (log of latency) and the special cells.
    let lx = 20;
    legend
        .draw(&Text::new(
            "latency (ticks)".to_string(),
            (lx - 6, 14),
            (FONT, 13),
        ))
        .map_err(err)?;
    let (bar_top, bar_h) = (40i32, 220i32);
    for i in 0..bar_h {
        let x = 1.0 - i as f64 / bar_h as f64;
        legend
            .draw(&Rectangle::new(
                [(lx, bar_top + i), (lx + 24, bar_top + i + 1)],
                heat(x).filled(),
            ))
            .map_err(err)?;
    }
    for (frac, label) in [
        (0.0, format!("{}", max_latency as u64)),
        (
            0.5,
            format!("{:.0}", libm::expm1(0.5 * libm::log1p(max_latency))),
        ),
        (1.0, "0".to_string()),
    ] {
        let y = bar_top + (frac * bar_h as f64) as i32;
        legend
            .draw(&Text::new(label, (lx + 30, y - 6), (FONT, 12)))
            .map_err(err)?;
    }
    for (i, (color, label)) in [
        (author_color, "author"),
        (missing, "not delivered"),
        (WHITE, "not a member"),
    ]
    .into_iter()
    .enumerate()
    {
        let y = bar_top + bar_h + 24 + 24 * i as i32;
        legend
            .draw(&Rectangle::new(
                [(lx, y), (lx + 16, y + 16)],
                color.filled(),
            ))
            .map_err(err)?;
        legend
            .draw(&Rectangle::new(
                [(lx, y), (lx + 16, y + 16)],
                RGBColor(150, 150, 150).stroke_width(1),
            ))
            .map_err(err)?;
        legend
            .draw(&Text::new(label.to_string(), (lx + 22, y + 1), (FONT, 12)))
            .map_err(err)?;
    }
    Ok(())
}

/// The house style of a chart's mesh: label sizes and light grid lines.
trait House {
    /// Labels of `label_size` points, axis descriptions of 16, light grey grid lines.
    fn house(&mut self, label_size: u32) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> House
    for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
{
    fn house(&mut self, label_size: u32) -> &mut Self {
        self.label_style((FONT, label_size))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
    }
}

/// The middles of the rows of a heat map of `rows` rows (row 0 at the bottom, two units a row)
/// whose place in append order (1 the first message, at the top) is labelled: the first, then
/// every multiple of the smallest step of 1, 2 or 5 times a power of ten with at most twenty
/// multiples up to `rows`.
fn row_labels(rows: usize) -> Vec<i32> {
    let mut power = 1;
    let step = loop {
        if let Some(step) = [power, 2 * power, 5 * power]
            .into_iter()
            .find(|&step| rows / step <= 20)
        {
            break step;
        }
        power *= 10;
    };
    // (With a step of 1 the first place is also the first multiple.)
    let mut places: Vec<usize> = std::iter::once(1)
        .chain((1..=rows / step).map(|k| k * step))
        .collect();
    places.dedup();
    // The middle of the row of place `p`, at two units a row.
    places.iter().map(|&p| 2 * (rows - p) as i32 + 1).collect()
}

/// The number of y labels for an axis of whole counts from 0 to `ymax`: one a whole number
/// while there are fewer than ten (so plotters labels 0, 1, 2, ... rather than halves of a
/// count), else plotters' default ten, whose steps are whole numbers from there on.
fn whole_labels(ymax: f64) -> usize {
    (ymax.floor() as usize + 1).clamp(2, 10)
}

/// A chart builder with the house margins and label areas (`y_area` pixels for y labels).
fn chart<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin_left(10)
        .margin_right(30)
        .margin_bottom(10)
        .x_label_area_size(50)
        .y_label_area_size(y_area);
    b
}

/// Draws a chart's legend in the house style.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
    size: u32,
) -> Res {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, size))
        .draw()
        .map_err(err)
}

/// A number for an axis label: at most 4 decimals, trailing zeros trimmed.
fn nice(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

fn file_stem(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Plots of a sweep (`<metric>_vs_<parameter>.png`/`.svg`): the mean of each parameter point
/// with its 95% confidence band, one line per combination of the other parameters.
pub fn sweep_plots(
    sweep: &crate::experiment::Sweep,
    table: &[crate::experiment::runner::AggregateRow],
) -> Result<Vec<(String, Vec<u8>)>, String> {
    register_font();
    let specs: Vec<(String, String)> = if !sweep.spec.plots.is_empty() {
        sweep
            .spec
            .plots
            .iter()
            .map(|p| (p.metric.clone(), p.x.clone()))
            .collect()
    } else if let Some(first) = sweep.spec.parameters.first() {
        sweep
            .spec
            .metrics
            .iter()
            .map(|m| (m.clone(), first.path.clone()))
            .collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for (metric, x) in specs {
        let (w, h) = (1000, 600);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            sweep_plot(&root, sweep, table, &metric, &x)?;
            root.present().map_err(err)?;
        }
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            sweep_plot(&root, sweep, table, &metric, &x)?;
            root.present().map_err(err)?;
        }
        let stem = format!("{}_vs_{}", file_stem(&metric), file_stem(&x));
        out.push((format!("{stem}.png"), encode_png(&rgb, w, h)?));
        out.push((format!("{stem}.svg"), svg.into_bytes()));
    }
    Ok(out)
}

fn sweep_plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sweep: &crate::experiment::Sweep,
    table: &[crate::experiment::runner::AggregateRow],
    metric: &str,
    x: &str,
) -> Res {
    root.fill(&WHITE).map_err(err)?;
    let (top, area) = root.split_vertically(58);
    top.draw(&Text::new(
        format!("{metric} against {x}"),
        (16, 8),
        (FONT, 22).into_font().style(FontStyle::Bold),
    ))
    .map_err(err)?;
    let sub = format!(
        "sweep {}: mean and 95% confidence interval over {} replications per point",
        sweep.spec.name, sweep.spec.replications
    );
    top.draw(&Text::new(
        sub,
        (16, 34),
        (FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
    ))
    .map_err(err)?;
    let xi = sweep
        .spec
        .parameters
        .iter()
        .position(|p| p.path == x)
        .ok_or("unknown x parameter")?;
    let xs_values = &sweep.values[xi];
    let numeric = xs_values.iter().all(|v| v.is_number());
    let xpos = |v: &serde_json::Value| -> f64 {
        if numeric {
            v.as_f64().unwrap_or(0.0)
        } else {
            xs_values.iter().position(|u| u == v).unwrap_or(0) as f64
        }
    };
    // Series: the other parameters' values.
    let mut series: BTreeMap<String, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
    for r in table.iter().filter(|r| r.metric == metric) {
        let Some(st) = r.stats else { continue };
        let key: Vec<String> = r
            .parameters
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != xi)
            .map(|(_, (p, v))| format!("{p}={v}"))
            .collect();
        let (lo, hi) = if st.ci_low.is_finite() {
            (st.ci_low, st.ci_high)
        } else {
            (st.mean, st.mean)
        };
        series.entry(key.join(", ")).or_default().push((
            xpos(&r.parameters[xi].1),
            st.mean,
            lo,
            hi,
        ));
    }
    if series.is_empty() {
        return no_data(&area, "no values of this metric");
    }
    let all: Vec<f64> = series.values().flatten().flat_map(|p| [p.2, p.3]).collect();
    let (ymin, ymax) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    let pad = ((ymax - ymin) * 0.08).max(ymax.abs() * 0.02).max(1e-9);
    let xr: Vec<f64> = xs_values.iter().map(xpos).collect();
    let (xmin, xmax) = xr
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let xpad = if xmax > xmin {
        (xmax - xmin) * 0.05
    } else {
        0.5
    };
    let mut chart = chart(&area, 90)
        .build_cartesian_2d((xmin - xpad)..(xmax + xpad), (ymin - pad)..(ymax + pad))
        .map_err(err)?;
    let labels: Vec<String> = xs_values.iter().map(|v| v.to_string()).collect();
    chart
        .configure_mesh()
        .x_desc(x.to_string())
        .y_desc(format!("{metric} (mean, 95% CI)"))
        .y_label_formatter(&|v: &f64| nice(*v))
        .x_label_formatter(&|v: &f64| {
            if numeric {
                nice(*v)
            } else {
                let i = v.round();
                if (v - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            }
        })
        .house(14)
        .draw()
        .map_err(err)?;
    for (i, (name, mut pts)) in series.into_iter().enumerate() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = PALETTE[i % PALETTE.len()];
        let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
        band.extend(pts.iter().rev().map(|p| (p.0, p.2)));
        chart
            .draw_series(std::iter::once(Polygon::new(band, color.mix(0.18))))
            .map_err(err)?;
        let label = if name.is_empty() {
            "mean".to_string()
        } else {
            name
        };
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
            )
            .map_err(err)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 13)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_map_rows_are_labelled_at_their_middles_in_round_steps() {
        // Two rows: place 1 (the top row, row 1 from the bottom) at 3, place 2 at 1.
        assert_eq!(row_labels(2), vec![3, 1]);
        assert_eq!(row_labels(1), vec![1]);
        // Up to twenty rows, every row.
        assert_eq!(row_labels(20).len(), 20);
        // 146 rows: 1, 10, 20, ..., 140.
        let places: Vec<usize> = row_labels(146)
            .iter()
            .map(|&y| 146 - (y / 2) as usize)
            .collect();
        let mut expected = vec![1];
        expected.extend((10..=140).step_by(10));
        assert_eq!(places, expected);
        // 200 rows (the most a heat map shows): steps of 10; 40 rows: steps of 2 (twenty
        // multiples); 42 rows: steps of 5 (twenty-one multiples of 2 would be too many).
        assert_eq!(row_labels(200).len(), 21);
        assert_eq!(row_labels(40)[1], 2 * (40 - 2) + 1);
        assert_eq!(row_labels(42)[1], 2 * (42 - 5) + 1);
        // Every label is the middle of a row, inside the axis.
        for rows in 1..=200 {
            for y in row_labels(rows) {
                assert!(y % 2 == 1 && (y as usize) < 2 * rows, "{rows}: {y}");
            }
        }
    }

    #[test]
    fn a_running_total_rises_once_per_distinct_tick() {
        // Two deliveries at tick 1, one at 3, none after: the same steps as a point pair per
        // delivery would draw, with one rise per tick.
        assert_eq!(
            running_total_points([(1, 1), (1, 1), (3, 1)], 5),
            [
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 2.0),
                (3.0, 2.0),
                (3.0, 3.0),
                (5.0, 3.0)
            ]
        );
        // Increments of any size, zero included, and events at tick 0.
        assert_eq!(
            running_total_points([(0, 4), (0, 0), (2, 0), (2, 3)], 2),
            [
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 4.0),
                (2.0, 4.0),
                (2.0, 7.0),
                (2.0, 7.0)
            ]
        );
        assert_eq!(running_total_points([], 9), [(0.0, 0.0), (9.0, 0.0)]);
        // A thousand events on ten ticks: 2 points a tick and the two ends.
        let many = (0..1000u64).map(|i| (i / 100 * 7, 1));
        let pts = running_total_points(many, 100);
        assert_eq!(pts.len(), 2 * 10 + 2);
        assert_eq!(pts.last(), Some(&(100.0, 1000.0)));
    }

    #[test]
    fn a_cdf_is_steps_when_few_values_and_a_curve_through_them_when_many() {
        // 1, 1, 4: steps up at 1 (to 2/3) and at 4 (to 1).
        assert_eq!(
            cdf_points(&[1, 1, 4]),
            [
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 2.0 / 3.0),
                (4.0, 2.0 / 3.0),
                (4.0, 1.0)
            ]
        );
        assert_eq!(cdf_points(&[]), [(0.0, 0.0)]);
        // Exactly the limit of distinct values: still steps (two points each).
        let limit: Vec<u64> = (1..=CDF_STEPS_UP_TO as u64).collect();
        assert_eq!(cdf_points(&limit).len(), 1 + 2 * CDF_STEPS_UP_TO);
        // One more: one point per distinct value, at the fraction at or below it.
        let many: Vec<u64> = (0..=CDF_STEPS_UP_TO as u64).flat_map(|v| [v, v]).collect();
        let pts = cdf_points(&many);
        assert_eq!(pts.len(), 1 + CDF_STEPS_UP_TO + 1);
        assert_eq!(pts[1], (0.0, 2.0 / many.len() as f64));
        assert_eq!(pts.last(), Some(&(CDF_STEPS_UP_TO as f64, 1.0)));
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
