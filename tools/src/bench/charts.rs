//! The report's two charts, as plain SVG: throughput against concurrency
//! on each server, and a histogram of the stream path's latency.

use std::fmt::Write as _;

use crate::servers::Servers;
use crate::stats::percentile;
use crate::throughput::{Capacities, ThroughputFigures, TARGET_CONCURRENCY};

/// One line (or set of marks) of a chart.
struct Series {
    label: String,
    colour: &'static str,
    /// SVG `stroke-dasharray` (empty: solid).
    dash: &'static str,
    kind: Kind,
    /// (x position index, value).
    points: Vec<(usize, f64)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Measured points joined by a line.
    Measured,
    /// A bound drawn thin; cut where it leaves the top of the chart.
    Ceiling,
    /// Measured points without a line (a square each).
    Mark,
}

impl Series {
    /// Ceilings are drawn thin.
    fn stroke_width(&self) -> u32 {
        if self.kind == Kind::Ceiling {
            1
        } else {
            2
        }
    }
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 50.0;
const TOP: f64 = 30.0;
/// The line chart's right margin, where its legend goes.
const RIGHT: f64 = 230.0;
/// The histogram has no legend.
const HISTOGRAM_RIGHT: f64 = 30.0;

/// The chart's background, title and axes; `right` is the margin kept
/// for a legend.
fn frame(title: &str, right: f64) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"14\">{title}</text>"
    );
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{0}\" stroke=\"black\"/>",
        HEIGHT - BOTTOM,
        WIDTH - right
    );
    svg
}

fn y_of(value: f64, max: f64) -> f64 {
    HEIGHT - BOTTOM - (value.min(max) / max) * (HEIGHT - BOTTOM - TOP)
}

/// A round top for an axis that reaches `max`, and its tick step (1, 2 or 5
/// times a power of ten, four to ten ticks).
fn nice(max: f64) -> (f64, f64) {
    let magnitude = 10f64.powf((max.max(1.0) / 4.0).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| max / step <= 10.0)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn y_axis(svg: &mut String, max: f64, label: &str) {
    let (_, step) = nice(max);
    let ticks = (max / step).round() as usize;
    for i in 0..=ticks {
        let v = step * i as f64;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
            LEFT - 6.0,
            y_of(v, max) + 4.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {0:.1})\" text-anchor=\"middle\">{label}</text>",
        (HEIGHT - BOTTOM + TOP) / 2.0
    );
}

/// Grades per second against concurrency: a line per server and latency
/// (solid for the measured server, dotted for moto), ceilings dashed, and
/// a square for the simulator's own capacity at the concurrency it was
/// measured at: no run can pass the lower of the two.
pub(super) fn throughput_chart(
    servers: &Servers,
    capacities: &Capacities,
    f: &ThroughputFigures,
) -> String {
    let concurrencies = distinct_sorted(f.points.iter().map(|p| p.concurrency));
    let latencies = distinct_sorted(f.points.iter().map(|p| p.latency_ms));
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let mut series = Vec::new();
    for (i, latency) in latencies.iter().enumerate() {
        let colour = colours[i % colours.len()];
        series.extend(latency_series(
            servers,
            capacities,
            f,
            &concurrencies,
            *latency,
            colour,
        ));
    }
    let measured_max = f.points.iter().map(|p| p.rate).fold(1.0_f64, f64::max);
    let simulator_max = capacities
        .simulator
        .iter()
        .map(|(_, rate)| *rate)
        .fold(0.0_f64, f64::max);
    // Tall enough for every measurement and the simulator's capacity;
    // ceilings far above both would flatten the lines, so they are cut.
    let (max, _) = nice(measured_max.max(simulator_max) * 1.1);
    line_chart(
        "Sync throughput against concurrency",
        "grades per second",
        "concurrency (per-platform limit lifted)",
        &concurrencies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        &series,
        max,
    )
}

/// The values once each, in order.
fn distinct_sorted<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut values: Vec<T> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// The series of one latency, in its colour: each server's measured line,
/// the ceiling, and the simulator's capacity when it was measured at one
/// of the charted `concurrencies`.
fn latency_series(
    servers: &Servers,
    capacities: &Capacities,
    f: &ThroughputFigures,
    concurrencies: &[usize],
    latency: u64,
    colour: &'static str,
) -> Vec<Series> {
    let index = |c: usize| concurrencies.iter().position(|v| *v == c).unwrap_or(0);
    let mut series = Vec::new();
    let mut servers_seen: Vec<&str> = f.points.iter().map(|p| p.server.as_str()).collect();
    servers_seen.dedup();
    for server in servers_seen {
        let dash = if server == servers.fast.name() {
            ""
        } else {
            "2,3"
        };
        series.push(Series {
            label: format!("{server}, {latency} ms"),
            colour,
            dash,
            kind: Kind::Measured,
            points: f
                .points
                .iter()
                .filter(|p| p.server == server && p.latency_ms == latency)
                .map(|p| (index(p.concurrency), p.rate))
                .collect(),
        });
    }
    series.push(Series {
        label: format!("ceiling, {latency} ms"),
        colour,
        dash: "6,4",
        kind: Kind::Ceiling,
        points: concurrencies
            .iter()
            .enumerate()
            .map(|(x, c)| (x, *c as f64 * 1000.0 / latency as f64))
            .collect(),
    });
    let measured_at = concurrencies.iter().position(|c| *c == TARGET_CONCURRENCY);
    if let (Some(x), Some(rate)) = (measured_at, capacities.simulator_at(latency)) {
        series.push(Series {
            label: format!("simulator alone, {latency} ms"),
            colour,
            dash: "",
            kind: Kind::Mark,
            points: vec![(x, rate)],
        });
    }
    series
}

fn line_chart(
    title: &str,
    y_label: &str,
    x_label: &str,
    xs: &[String],
    series: &[Series],
    max: f64,
) -> String {
    let mut svg = frame(title, RIGHT);
    x_axis(&mut svg, xs, x_label);
    y_axis(&mut svg, max, y_label);
    for (n, s) in series.iter().enumerate() {
        draw_series(&mut svg, s, xs.len(), max);
        legend_entry(&mut svg, s, n);
    }
    svg.push_str("</svg>\n");
    svg
}

/// Where the `i`-th of `count` x values goes on the line chart.
fn x_of(i: f64, count: usize) -> f64 {
    LEFT + 20.0 + i * (WIDTH - LEFT - RIGHT - 40.0) / (count.max(2) - 1) as f64
}

fn x_axis(svg: &mut String, xs: &[String], x_label: &str) {
    for (i, x) in xs.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x}</text>",
            x_of(i as f64, xs.len()),
            HEIGHT - BOTTOM + 18.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 10.0
    );
}

/// One series on a line chart of `count` x values up to `max`.
fn draw_series(svg: &mut String, s: &Series, count: usize, max: f64) {
    let at = |(x, v): (usize, f64)| (x_of(x as f64, count), y_of(v, max));
    match s.kind {
        Kind::Measured => {
            polyline(svg, s, s.stroke_width(), s.points.iter().map(|p| at(*p)));
            for (x, y) in s.points.iter().map(|p| at(*p)) {
                let _ = write!(
                    svg,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\"/>",
                    s.colour
                );
            }
        }
        Kind::Ceiling => {
            let visible = cut_at_top(&s.points, max);
            let visible = visible
                .into_iter()
                .map(|(x, v)| (x_of(x, count), y_of(v, max)));
            polyline(svg, s, s.stroke_width(), visible);
        }
        Kind::Mark => {
            for (x, y) in s.points.iter().map(|p| at(*p)) {
                square(svg, x, y, s.colour);
            }
        }
    }
}

/// The `n`-th entry of the legend, in the right margin.
fn legend_entry(svg: &mut String, s: &Series, n: usize) {
    let ly = TOP + 16.0 + 22.0 * n as f64;
    let lx = WIDTH - RIGHT + 15.0;
    if s.kind == Kind::Mark {
        square(svg, lx + 12.0, ly, s.colour);
    } else {
        let _ = write!(
            svg,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{}\" stroke-width=\"{}\" stroke-dasharray=\"{}\"/>",
            lx + 24.0,
            s.colour,
            s.stroke_width(),
            s.dash,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\">{}</text>",
        lx + 30.0,
        ly + 4.0,
        s.label
    );
}

fn polyline(svg: &mut String, s: &Series, width: u32, points: impl Iterator<Item = (f64, f64)>) {
    let points: Vec<String> = points.map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\" stroke-dasharray=\"{}\" points=\"{}\"/>",
        s.colour,
        s.dash,
        points.join(" ")
    );
}

fn square(svg: &mut String, x: f64, y: f64, colour: &str) {
    let _ = write!(
        svg,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" fill=\"white\" stroke=\"{colour}\" stroke-width=\"2\"/>",
        x - 4.0,
        y - 4.0
    );
}

/// The part of a rising line that stays at or below `max`: its points up
/// to the first that is higher, then the point (at a fractional x) where it
/// crosses `max`.
fn cut_at_top(points: &[(usize, f64)], max: f64) -> Vec<(f64, f64)> {
    let mut visible: Vec<(f64, f64)> = points
        .first()
        .map(|(x, v)| (*x as f64, v.min(max)))
        .into_iter()
        .collect();
    for pair in points.windows(2) {
        let ((x0, v0), (x1, v1)) = (pair[0], pair[1]);
        if v0 >= max {
            break;
        }
        if v1 > max {
            let t = (max - v0) / (v1 - v0);
            visible.push((x0 as f64 + t * (x1 - x0) as f64, max));
            break;
        }
        visible.push((x1 as f64, v1));
    }
    visible
}

/// How many grades took how long from `PutItem` to the LMS, in bins of
/// equal width.
pub(super) fn latency_histogram(latencies_ms: &[f64]) -> String {
    let mut svg = frame("Stream path: PutItem to score at the LMS", HISTOGRAM_RIGHT);
    let max_latency = latencies_ms.iter().copied().fold(0.0_f64, f64::max);
    let bins = 20usize;
    let width_ms = (max_latency / bins as f64).ceil().max(1.0);
    let mut counts = vec![0usize; bins];
    for l in latencies_ms {
        counts[((l / width_ms) as usize).min(bins - 1)] += 1;
    }
    let (max_count, _) = nice(counts.iter().copied().max().unwrap_or(1).max(1) as f64);
    let plot = WIDTH - LEFT - HISTOGRAM_RIGHT;
    let bar = plot / bins as f64;
    for (i, count) in counts.iter().enumerate() {
        let top = y_of(*count as f64, max_count);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#1f77b4\"/>",
            LEFT + i as f64 * bar + 1.0,
            bar - 2.0,
            HEIGHT - BOTTOM - top
        );
        if i % 4 == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0}</text>",
                LEFT + i as f64 * bar,
                HEIGHT - BOTTOM + 18.0,
                i as f64 * width_ms
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">milliseconds ({width_ms:.0} ms bins)</text>",
        LEFT + plot / 2.0,
        HEIGHT - 10.0
    );
    y_axis(&mut svg, max_count, "grades");
    for (n, (q, name)) in [(0.5, "p50"), (0.95, "p95")].iter().enumerate() {
        if let Some(v) = percentile(latencies_ms, *q) {
            let x = LEFT + v / (width_ms * bins as f64) * plot;
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#d62728\" stroke-dasharray=\"4,3\"/>\
                 <text x=\"{:.1}\" y=\"{}\" fill=\"#d62728\">{name} {v:.0} ms</text>",
                HEIGHT - BOTTOM,
                x + 4.0,
                TOP + 12.0 + 14.0 * n as f64
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::cut_at_top;

    #[test]
    fn a_ceiling_is_cut_where_it_leaves_the_top() {
        let ceiling = [(0, 50.0), (1, 200.0), (2, 800.0), (3, 1600.0), (4, 3200.0)];
        assert_eq!(
            cut_at_top(&ceiling, 1200.0),
            vec![(0.0, 50.0), (1.0, 200.0), (2.0, 800.0), (2.5, 1200.0)]
        );
    }

    #[test]
    fn a_ceiling_below_the_top_is_drawn_whole() {
        let ceiling = [(0, 10.0), (1, 40.0), (2, 160.0)];
        assert_eq!(
            cut_at_top(&ceiling, 1200.0),
            vec![(0.0, 10.0), (1.0, 40.0), (2.0, 160.0)]
        );
        assert_eq!(
            cut_at_top(&[(0, 2000.0), (1, 4000.0)], 1200.0),
            vec![(0.0, 1200.0)]
        );
    }
}
