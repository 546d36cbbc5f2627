//! Percentiles and how they are printed.
//!
//! wrk reports percentiles per run, and percentiles of several runs cannot
//! be averaged. Each wrk slice therefore prints a quantile sketch (1000
//! quantiles, each standing for 0.1 % of its requests, see [`super::wrk`]);
//! the slices of a scenario are merged by weighting every point with the
//! requests it stands for. The error is at most one sketch step (0.1 % of a
//! slice's requests), far below run-to-run noise.

/// A set of latency samples in microseconds, each with a weight (how many
/// requests it stands for).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    points: Vec<(f64, f64)>,
}

impl Samples {
    /// Adds one exact sample (a measured flow).
    pub fn push(&mut self, micros: f64) {
        self.points.push((micros, 1.0));
    }

    /// Adds a slice's quantile sketch: `quantiles` evenly spaced quantiles
    /// of a run of `requests` requests.
    pub fn push_sketch(&mut self, quantiles: &[f64], requests: u64) {
        if quantiles.is_empty() {
            return;
        }
        let weight = requests as f64 / quantiles.len() as f64;
        self.points
            .extend(quantiles.iter().map(|&value| (value, weight)));
    }

    /// The `p`-th percentile (0–100): the smallest value whose cumulative
    /// weight reaches `p` % of the total. `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let mut points = self.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = points.iter().map(|(_, weight)| weight).sum();
        if total <= 0.0 {
            return None;
        }
        let rank = total * p / 100.0;
        let mut seen = 0.0;
        for (value, weight) in &points {
            seen += weight;
            if seen >= rank {
                return Some(*value);
            }
        }
        points.last().map(|(value, _)| *value)
    }

    /// The largest sample.
    pub fn max(&self) -> Option<f64> {
        self.points.iter().map(|(value, _)| *value).reduce(f64::max)
    }
}

/// p50, p90 and p99 in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Percentiles {
    pub fn of(samples: &Samples) -> Option<Self> {
        Some(Self {
            p50: samples.percentile(50.0)?,
            p90: samples.percentile(90.0)?,
            p99: samples.percentile(99.0)?,
        })
    }
}

/// A latency for people: milliseconds with two decimals below 10 ms, one
/// below 100 ms, none above, so a column of them lines up by magnitude.
pub fn format_ms(micros: f64) -> String {
    let ms = micros / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A rate for people: whole numbers with comma-separated thousands.
pub fn format_rate(per_second: f64) -> String {
    let whole = per_second.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_samples_give_nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for value in 1..=100 {
            samples.push(f64::from(value));
        }
        assert_eq!(samples.percentile(50.0), Some(50.0));
        assert_eq!(samples.percentile(90.0), Some(90.0));
        assert_eq!(samples.percentile(99.0), Some(99.0));
        assert_eq!(samples.max(), Some(100.0));
        assert_eq!(Samples::default().percentile(50.0), None);
    }

    #[test]
    fn sketches_are_weighted_by_their_requests() {
        // A slow slice with few requests must not move the median of a
        // fast slice with many.
        let mut samples = Samples::default();
        samples.push_sketch(&[100.0; 10], 9_000);
        samples.push_sketch(&[5_000.0; 10], 1_000);
        assert_eq!(samples.percentile(50.0), Some(100.0));
        assert_eq!(samples.percentile(90.0), Some(100.0));
        assert_eq!(samples.percentile(95.0), Some(5_000.0));
    }

    #[test]
    fn latencies_are_printed_in_milliseconds() {
        assert_eq!(format_ms(850.0), "0.85 ms");
        assert_eq!(format_ms(1_234.0), "1.23 ms");
        assert_eq!(format_ms(12_340.0), "12.3 ms");
        assert_eq!(format_ms(123_400.0), "123 ms");
    }

    #[test]
    fn rates_get_thousands_separators() {
        assert_eq!(format_rate(999.4), "999");
        assert_eq!(format_rate(12_345.6), "12,346");
        assert_eq!(format_rate(1_234_567.0), "1,234,567");
    }
}
