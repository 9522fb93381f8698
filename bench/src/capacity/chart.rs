//! The rate sweep drawn as SVG by hand (no plotting dependency): p99 (thick)
//! and p50 (thin, dashed) latency against offered rate, one colour per
//! server and protocol, latency on a log scale, the p99 limit as a line.
use std::fmt::Write as _;

use super::Results;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 470.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 730.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 410.0;
/// Per server, dark over Thrift and light through the gateway.
fn colour(server: &str, protocol: &str) -> &'static str {
    match (server, protocol) {
        ("rust", "thrift") => "#c2410c",
        ("rust", _) => "#fb923c",
        ("go", "thrift") => "#1d4ed8",
        ("go", _) => "#60a5fa",
        _ => "#495057",
    }
}

/// A round axis end at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(max: f64) -> f64 {
    let power = 10f64.powf(max.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&v| v >= max)
        .unwrap_or(10.0 * power)
}

pub fn svg(results: &Results) -> String {
    let max_rate = results
        .sweep
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.target_rps))
        .fold(0.0, f64::max);
    let x_max = nice_ceiling(max_rate);
    let max_ms = results
        .sweep
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.p99_us as f64 / 1e3))
        .fold(results.p99_limit_ms * 10.0, f64::max);
    // Log scale from 0.1 ms to a power of ten above every point.
    let (y_min, y_max) = (-1.0, max_ms.log10().ceil());
    let x = |rate: f64| LEFT + (RIGHT - LEFT) * rate / x_max;
    let y = |ms: f64| {
        let v = ms.max(0.1).log10().clamp(y_min, y_max);
        BOTTOM - (BOTTOM - TOP) * (v - y_min) / (y_max - y_min)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let m = &results.machine;
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">Latency against offered rate, open loop (mixed: 20% Send, Pull of 10)</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="40" fill="#555">{}, {} cores, load average {} at the start; thick: p99, thin dashed: p50</text>"##,
        results.started, m.cores, m.load_start
    );
    // Grid and axes.
    for i in 0..=5 {
        let rate = x_max * f64::from(i) / 5.0;
        let px = x(rate);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{BOTTOM}" stroke="#e9ecef"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            BOTTOM + 18.0,
            rate_label(rate)
        );
    }
    let mut decade = y_min;
    while decade <= y_max {
        let ms = 10f64.powf(decade);
        let py = y(ms);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{RIGHT}" y2="{py:.1}" stroke="#e9ecef"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            py + 4.0,
            ms_label(ms)
        );
        decade += 1.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#868e96"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">offered rate (requests per second)</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 40.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">latency, ms (log scale)</text>"#,
        (TOP + BOTTOM) / 2.0
    );
    let limit = y(results.p99_limit_ms);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{limit:.1}" x2="{RIGHT}" y2="{limit:.1}" stroke="#e03131" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" fill="#e03131" text-anchor="end">p99 limit {} ms</text>"##,
        RIGHT - 4.0,
        limit + 15.0,
        results.p99_limit_ms
    );
    for (i, series) in results.sweep.iter().enumerate() {
        let colour = colour(&series.server, &series.protocol);
        let line = |value: fn(&super::sweep::SweepPoint) -> u64| {
            series
                .points
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.target_rps), y(value(p) as f64 / 1e3)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5"/>"#,
            line(|p| p.p99_us)
        );
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.2" stroke-dasharray="4 3"/>"#,
            line(|p| p.p50_us)
        );
        for p in &series.points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(p.target_rps),
                y(p.p99_us as f64 / 1e3)
            );
        }
        let legend_y = TOP + 18.0 + 18.0 * i as f64;
        let sustained = series.sustained().map_or("none".into(), rate_label);
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{legend_y:.1}" x2="{}" y2="{legend_y:.1}" stroke="{colour}" stroke-width="2.5"/><text x="{}" y="{:.1}">{} over {} (p99 within {} ms up to {} req/s)</text>"#,
            LEFT + 10.0,
            LEFT + 34.0,
            LEFT + 40.0,
            legend_y + 4.0,
            series.server,
            series.protocol,
            results.p99_limit_ms,
            sustained
        );
    }
    s += "</svg>\n";
    s
}

fn rate_label(rate: f64) -> String {
    if rate >= 1000.0 {
        format!("{}k", (rate / 100.0).round() / 10.0)
    } else {
        format!("{rate:.0}")
    }
}

fn ms_label(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_ceiling(17_000.0), 20_000.0);
        assert_eq!(nice_ceiling(4_100.0), 5_000.0);
        assert_eq!(nice_ceiling(10_000.0), 10_000.0);
        assert_eq!(rate_label(12_500.0), "12.5k");
        assert_eq!(ms_label(0.1), "0.1");
    }
}
