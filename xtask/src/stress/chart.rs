//! The memory chart: the RSS of the AS and of the RS over the whole run,
//! one shaded band per flood, and the 64 MiB bound as a dashed line, on
//! the bench's hand-written SVG frame.

use std::fmt::Write as _;

use super::{report::RSS_BOUND_KIB, run::Results, sampler::Sample};
use crate::bench::svg::{LineFrame, escape};

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
    let end = (results.floods.last())
        .map(|flood| flood.window.1)
        .into_iter()
        .chain(samples.last().map(|s| s.seconds))
        .fold(1.0, f64::max);
    let frame = LineFrame::new(380.0, 56.0, end, peak_mib * 1.05);
    let mut svg = String::new();
    frame.open(
        &mut svg,
        "Resident memory under each flood (sampled every 250 ms)",
        "seconds",
        "RSS (MiB)",
    );
    // Translucent, so the grid shows through.
    for (index, flood) in results.floods.iter().enumerate() {
        let (start, stop) = flood.window;
        let fill = if index % 2 == 0 { "#f2f2f2" } else { "#e6e6e6" };
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{}" width="{:.1}" height="{}" fill="{fill}" fill-opacity="0.7"/><text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            frame.x(start),
            frame.top,
            (frame.x(stop) - frame.x(start)).max(0.5),
            frame.plot_height(),
            (frame.x(start) + frame.x(stop)) / 2.0,
            frame.top - 6.0 - 12.0 * (index % 2) as f64,
            escape(flood.name)
        );
    }
    let bound = frame.y(RSS_BOUND_KIB as f64 / 1024.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{bound:.1}" x2="{}" y2="{bound:.1}" stroke="#e15759" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#e15759">64 MiB bound</text>"##,
        frame.left,
        frame.width - frame.right,
        frame.width - frame.right - 4.0,
        bound - 4.0
    );
    let pick: [fn(&Sample) -> Option<u64>; 2] = [|s| s.as_kib, |s| s.rs_kib];
    for ((label, color), pick) in SERIES.iter().zip(pick) {
        let points: Vec<(f64, f64)> = (samples.iter())
            .filter_map(|s| pick(s).map(|kib| (s.seconds, kib as f64 / 1024.0)))
            .collect();
        frame.line(&mut svg, &points, color, label);
    }
    frame.close(&mut svg, &SERIES, 70.0);
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
