//! The latency chart, written by hand: grouped bars of p50, p90 and p99
//! per scenario on a linear millisecond axis.
//!
//! A plotting crate (plotters) would be a new workspace dependency with a
//! font stack behind its text rendering; this chart needs rectangles, lines
//! and text, which SVG has, in about a hundred lines.

use std::fmt::Write as _;

use super::stats::{Percentiles, format_ms};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 56.0;
const SERIES: [(&str, &str); 3] = [("p50", "#4e79a7"), ("p90", "#f28e2b"), ("p99", "#e15759")];

/// The chart as an SVG document; `bars` are scenario names with latencies
/// in microseconds.
pub fn latency_chart(title: &str, bars: &[(String, Percentiles)]) -> String {
    let max = bars.iter().map(|(_, p)| p.p99).fold(0.0, f64::max);
    let (step, top) = axis(max / 1000.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |ms: f64| TOP + plot_h * (1.0 - ms / top);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let ty = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0,
            trim(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">latency (ms)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let group = plot_w / bars.len().max(1) as f64;
    let bar = group * 0.8 / SERIES.len() as f64;
    for (index, (name, p)) in bars.iter().enumerate() {
        let x0 = LEFT + group * index as f64 + group * 0.1;
        for (series, (value, (_, color))) in [p.p50, p.p90, p.p99].iter().zip(SERIES).enumerate() {
            let ms = value / 1000.0;
            let x = x0 + bar * series as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {}: {}</title></rect>"#,
                y(ms),
                bar - 1.0,
                (TOP + plot_h - y(ms)).max(0.5),
                escape(name),
                SERIES[series].0,
                format_ms(*value)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + group * 0.4,
            TOP + plot_h + 18.0,
            escape(name)
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#333"/>"##,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h
    );
    for (index, (label, color)) in SERIES.iter().enumerate() {
        let x = LEFT + 70.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{label}</text>"#,
            HEIGHT - 22.0,
            x + 16.0,
            HEIGHT - 12.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A tick step of 1, 2 or 5 × 10ⁿ giving at most about six ticks, and the
/// axis top: the first tick at or above `max`.
pub fn axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    (step, (max / step).ceil() * step)
}

pub fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(axis(9.3), (2.0, 10.0));
        assert_eq!(axis(0.42), (0.1, 0.5));
        assert_eq!(axis(23.0), (5.0, 25.0));
    }

    #[test]
    fn chart_has_one_bar_per_percentile_and_scenario() {
        let p = Percentiles {
            p50: 1_000.0,
            p90: 2_000.0,
            p99: 3_000.0,
        };
        let svg = latency_chart("t <&>", &[("a".into(), p), ("b".into(), p)]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<title>").count(), 6);
        assert!(svg.contains("t &lt;&amp;&gt;"));
    }
}
