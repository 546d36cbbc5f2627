//! The memory chart: the RSS of the AS and of the RS over the whole run,
//! one shaded band per flood, and the 64 MiB bound as a dashed line.
//! Written by hand like the bench's chart, with its axis and escaping.

use std::fmt::Write as _;

use super::{report::RSS_BOUND_KIB, run::Results, sampler::Sample};
use crate::bench::svg::{axis, escape, trim};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 56.0;
const SERIES: [(&str, &str); 2] = [("AS", "#4e79a7"), ("RS", "#f28e2b")];

/// The chart as an SVG document.
pub fn rss_chart(results: &Results) -> String {
    let samples = &results.samples;
    let peak_mib = (samples.iter())
        .flat_map(|s| [s.as_kib, s.rs_kib])
        .flatten()
        .max()
        .unwrap_or(0)
        .max(RSS_BOUND_KIB) as f64
        / 1024.0;
    let (y_step, y_top) = axis(peak_mib * 1.05);
    let end = (results.floods.last())
        .map(|flood| flood.window.1)
        .into_iter()
        .chain(samples.last().map(|s| s.seconds))
        .fold(1.0, f64::max);
    let (x_step, x_top) = axis(end);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |seconds: f64| LEFT + plot_w * seconds / x_top;
    let y = |mib: f64| TOP + plot_h * (1.0 - mib / y_top);

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
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">Resident memory under each flood (sampled every 250 ms)</text>"#,
        WIDTH / 2.0
    );
    for (index, flood) in results.floods.iter().enumerate() {
        let (start, stop) = flood.window;
        let fill = if index % 2 == 0 { "#f2f2f2" } else { "#e6e6e6" };
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="{fill}"/><text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(start),
            (x(stop) - x(start)).max(0.5),
            (x(start) + x(stop)) / 2.0,
            TOP - 6.0 - 12.0 * (index % 2) as f64,
            escape(flood.name)
        );
    }
    let mut tick = 0.0;
    while tick <= y_top + y_step / 2.0 {
        let ty = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{}" y2="{ty:.1}" stroke="#ccc"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0,
            trim(tick)
        );
        tick += y_step;
    }
    let mut tick = 0.0;
    while tick <= x_top + x_step / 2.0 {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(tick),
            TOP + plot_h + 16.0,
            trim(tick)
        );
        tick += x_step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{0:.1}" transform="rotate(-90 16 {0:.1})" text-anchor="middle">RSS (MiB)</text><text x="{1:.1}" y="{2:.1}" text-anchor="middle">seconds</text>"#,
        TOP + plot_h / 2.0,
        LEFT + plot_w / 2.0,
        TOP + plot_h + 32.0
    );
    let bound = y(RSS_BOUND_KIB as f64 / 1024.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{bound:.1}" x2="{}" y2="{bound:.1}" stroke="#e15759" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#e15759">64 MiB bound</text>"##,
        WIDTH - RIGHT,
        WIDTH - RIGHT - 4.0,
        bound - 4.0
    );
    let pick: [fn(&Sample) -> Option<u64>; 2] = [|s| s.as_kib, |s| s.rs_kib];
    for ((label, color), pick) in SERIES.iter().zip(pick) {
        let points: Vec<String> = (samples.iter())
            .filter_map(|s| pick(s).map(|kib| (s.seconds, kib as f64 / 1024.0)))
            .map(|(seconds, mib)| format!("{:.1},{:.1}", x(seconds), y(mib)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"><title>{label}</title></polyline>"#,
            points.join(" ")
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#333"/>"##,
        TOP + plot_h,
        WIDTH - RIGHT
    );
    for (index, (label, color)) in SERIES.iter().enumerate() {
        let lx = LEFT + 70.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{label}</text>"#,
            HEIGHT - 18.0,
            lx + 16.0,
            HEIGHT - 8.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::run::FloodResult;

    #[test]
    fn one_line_per_server_and_one_band_per_flood() {
        let samples = (0..8u8)
            .map(|i| Sample {
                seconds: f64::from(i) * 0.25,
                as_kib: Some(10_000 + u64::from(i) * 100),
                rs_kib: (i < 6).then_some(8_000),
            })
            .collect();
        let floods = [(0.0, 1.0), (1.0, 1.75)]
            .into_iter()
            .map(|window| FloodResult {
                name: "flood&",
                window,
                ..FloodResult::default()
            })
            .collect();
        let svg = rss_chart(&Results {
            floods,
            samples,
            cpus: 2,
        });
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("flood&amp;").count(), 2);
        assert!(svg.contains("64 MiB bound"));
    }
}
