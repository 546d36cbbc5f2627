//! The chart of the run: requests per second each instance answered, from
//! its own `/metrics` scraped every 500 ms, with the kill, the balancer's
//! mark-down, the restart and the mark-up as vertical lines, on the
//! bench's hand-written SVG frame.

use std::fmt::Write as _;

use super::scrape::{INTERVAL, Sample, rates};
use crate::bench::svg::{LineFrame, escape};

const COLORS: [&str; 2] = ["#4e79a7", "#f28e2b"];

/// An event of the run, drawn as a vertical line.
#[derive(Debug, Clone)]
pub struct Event {
    pub seconds: f64,
    pub label: String,
}

/// The chart as an SVG document: one line per instance of `pair` (indexes
/// into the samples' columns and into `names`), under `title`. A line
/// breaks where its instance did not answer a scrape: the gap is the time
/// it was dead.
pub fn requests_chart(
    samples: &[Sample],
    names: &[String],
    pair: &[usize],
    events: &[Event],
    title: &str,
) -> String {
    let names: Vec<String> = pair.iter().map(|&i| names[i].clone()).collect();
    let series: Vec<Vec<(f64, f64)>> = pair.iter().map(|&i| rates(samples, i)).collect();
    let peak = (series.iter().flatten())
        .map(|(_, rate)| *rate)
        .fold(1.0, f64::max);
    let end = samples.last().map_or(1.0, |sample| sample.seconds);
    let frame = LineFrame::new(400.0, 44.0, end, peak * 1.1);
    let mut svg = String::new();
    frame.open(
        &mut svg,
        title,
        "seconds since the load started",
        "requests/s",
    );
    let bottom = frame.top + frame.plot_height();
    for (index, event) in events.iter().enumerate() {
        let ex = frame.x(event.seconds);
        let _ = writeln!(
            svg,
            r##"<line x1="{ex:.1}" y1="{}" x2="{ex:.1}" y2="{bottom:.1}" stroke="#e15759" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#e15759">{}</text>"##,
            frame.top,
            ex + 3.0,
            frame.top + 12.0 + 13.0 * (index % 4) as f64,
            escape(&event.label)
        );
    }
    let gap = INTERVAL.as_secs_f64() * 1.5;
    for ((points, name), color) in series.iter().zip(&names).zip(COLORS.iter().cycle()) {
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut last = f64::NEG_INFINITY;
        for &(seconds, rate) in points {
            match runs.last_mut() {
                Some(run) if seconds - last <= gap => run.push((seconds, rate)),
                _ => runs.push(vec![(seconds, rate)]),
            }
            last = seconds;
        }
        for run in runs {
            frame.line(&mut svg, &run, color, name);
        }
    }
    let legend: Vec<(&str, &str)> = (names.iter().map(String::as_str))
        .zip(COLORS.iter().copied().cycle())
        .collect();
    frame.close(&mut svg, &legend, 90.0);
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_instance_and_run_and_one_per_event() {
        let sample = |seconds: f64, value: Option<f64>| Sample {
            seconds,
            requests: vec![Some(seconds * 10.0), value],
        };
        // The second instance misses the scrape at 1.0 s: two runs.
        let samples = [
            sample(0.0, Some(0.0)),
            sample(0.5, Some(10.0)),
            sample(1.0, None),
            sample(1.5, Some(5.0)),
            sample(2.0, Some(25.0)),
        ];
        let names = ["as1".to_owned(), "as2".to_owned()];
        let events = [Event {
            seconds: 1.2,
            label: "as2 killed <9>".into(),
        }];
        let svg = requests_chart(&samples, &names, &[0, 1], &events, "title <&>");
        assert!(svg.contains("title &lt;&amp;&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("as2 killed &lt;9&gt;"));
        assert!(svg.ends_with("</svg>\n"));
    }
}
