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
    y_grid(&mut svg, (LEFT, WIDTH - RIGHT), (step, top), y);
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

/// The frame of a line chart over time, shared by the stress and cluster
/// charts: the document, its title, the grid with the y ticks, the x
/// ticks, the axis labels, then (in [`LineFrame::close`]) the x axis and
/// the legend.
#[derive(Debug, Clone, Copy)]
pub struct LineFrame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    x_step: f64,
    x_top: f64,
    y_step: f64,
    y_top: f64,
}

impl LineFrame {
    /// A 760 × `height` frame whose axes reach `x_max` and `y_max`, with
    /// `top` pixels above the plot for the title and labels.
    pub fn new(height: f64, top: f64, x_max: f64, y_max: f64) -> Self {
        let (x_step, x_top) = axis(x_max);
        let (y_step, y_top) = axis(y_max);
        Self {
            width: WIDTH,
            height,
            left: LEFT,
            right: RIGHT,
            top,
            bottom: BOTTOM,
            x_step,
            x_top,
            y_step,
            y_top,
        }
    }

    pub fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }

    pub fn plot_height(&self) -> f64 {
        self.height - self.top - self.bottom
    }

    /// The x pixel of `value`.
    pub fn x(&self, value: f64) -> f64 {
        self.left + self.plot_width() * value / self.x_top
    }

    /// The y pixel of `value`.
    pub fn y(&self, value: f64) -> f64 {
        self.top + self.plot_height() * (1.0 - value / self.y_top)
    }

    /// Opens the document: background, title, grid and ticks, axis labels.
    pub fn open(&self, svg: &mut String, title: &str, x_label: &str, y_label: &str) {
        let (width, height) = (self.width, self.height);
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect width="{width}" height="{height}" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
            width / 2.0,
            escape(title)
        );
        y_grid(
            svg,
            (self.left, width - self.right),
            (self.y_step, self.y_top),
            |value| self.y(value),
        );
        let bottom = self.top + self.plot_height();
        let mut tick = 0.0;
        while tick <= self.x_top + self.x_step / 2.0 {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                self.x(tick),
                bottom + 16.0,
                trim(tick)
            );
            tick += self.x_step;
        }
        let _ = writeln!(
            svg,
            r#"<text x="16" y="{0:.1}" transform="rotate(-90 16 {0:.1})" text-anchor="middle">{1}</text><text x="{2:.1}" y="{3:.1}" text-anchor="middle">{4}</text>"#,
            self.top + self.plot_height() / 2.0,
            escape(y_label),
            self.left + self.plot_width() / 2.0,
            bottom + 32.0,
            escape(x_label)
        );
    }

    /// A polyline through `points` (data values), titled `name`.
    pub fn line(&self, svg: &mut String, points: &[(f64, f64)], color: &str, name: &str) {
        let points: Vec<String> = (points.iter())
            .map(|(x, y)| format!("{:.1},{:.1}", self.x(*x), self.y(*y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(name)
        );
    }

    /// Closes the document: the x axis, and a legend entry per series,
    /// `spacing` pixels apart.
    pub fn close(&self, svg: &mut String, legend: &[(&str, &str)], spacing: f64) {
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#333"/>"##,
            self.left,
            self.top + self.plot_height(),
            self.width - self.right
        );
        for (index, (label, color)) in legend.iter().enumerate() {
            let lx = self.left + spacing * index as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                self.height - 18.0,
                lx + 16.0,
                self.height - 8.0,
                escape(label)
            );
        }
        svg.push_str("</svg>\n");
    }
}

/// A horizontal grid line and its label at every `step` up to `top`,
/// from x `from` to `to`, `y` giving each value's pixel.
fn y_grid(
    svg: &mut String,
    (from, to): (f64, f64),
    (step, top): (f64, f64),
    y: impl Fn(f64) -> f64,
) {
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let ty = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{from}" y1="{ty:.1}" x2="{to}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            from - 6.0,
            ty + 4.0,
            trim(tick)
        );
        tick += step;
    }
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
