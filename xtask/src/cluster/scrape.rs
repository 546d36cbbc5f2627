//! What the run reads from the instances while it runs: each one's
//! `/metrics` (the Prometheus text of rule P6-07) every [`INTERVAL`], and
//! HAProxy's view of them when asked.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::haproxy;

/// How often the sampler scrapes.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// One instance, as the sampler reaches it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub admin_port: u16,
}

/// One scrape of every instance.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the load started.
    pub seconds: f64,
    /// `http_requests_total`, summed over routes and statuses, per
    /// instance; `None` when the instance did not answer.
    pub requests: Vec<Option<f64>>,
}

/// The sum of every series of the counter `name` (`http_requests_total`)
/// in a Prometheus text page.
pub fn sum(text: &str, name: &str) -> f64 {
    by_label(text, name, None)
        .iter()
        .map(|(_, value)| value)
        .sum()
}

/// Each series of `name` with the value of its label `label` (or `""`).
pub fn by_label(text: &str, name: &str, label: Option<&str>) -> Vec<(String, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let value: f64 = value.parse().ok()?;
            let key = label
                .and_then(|label| {
                    labels.split(',').find_map(|pair| {
                        let (key, value) = pair.split_once('=')?;
                        (key == label).then(|| value.trim_matches('"').to_owned())
                    })
                })
                .unwrap_or_default();
            Some((key, value))
        })
        .collect()
}

/// Scrapes `target`'s `/metrics`; `None` when it does not answer.
pub async fn metrics(http: &reqwest::Client, target: &Target) -> Option<String> {
    let url = format!("http://127.0.0.1:{}/metrics", target.admin_port);
    let response = http
        .get(url)
        .timeout(Duration::from_millis(400))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// HAProxy's status of each of `names`, in order (`?` when unknown).
pub async fn statuses(http: &reqwest::Client, stats_port: u16, names: &[String]) -> Vec<String> {
    let url = format!("http://127.0.0.1:{stats_port}/stats;csv");
    let csv = match http.get(url).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let found = haproxy::statuses(&csv).unwrap_or_default();
    (names.iter())
        .map(|name| {
            (found.iter())
                .find(|(server, _)| server == name)
                .map_or_else(|| "?".to_owned(), |(_, status)| status.clone())
        })
        .collect()
}

/// Scrapes every target every [`INTERVAL`] into `samples`
/// until dropped.
pub async fn sample(
    http: reqwest::Client,
    targets: Vec<Target>,
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut ticks = tokio::time::interval(INTERVAL);
    loop {
        ticks.tick().await;
        let seconds = started.elapsed().as_secs_f64();
        let mut requests = Vec::new();
        for target in &targets {
            let text = metrics(&http, target).await;
            requests.push(text.map(|text| sum(&text, "http_requests_total")));
        }
        (samples.lock().unwrap_or_else(PoisonError::into_inner)).push(Sample { seconds, requests });
    }
}

/// Requests per second of instance `index` between consecutive samples
/// that both reached it, at the later sample's time. A counter that went
/// down was reset by a restart: the new value is what the new process
/// served. Samples that did not reach it leave a gap.
pub fn rates(samples: &[Sample], index: usize) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter_map(|pair| {
            let (before, after) = (&pair[0], &pair[1]);
            let now = after.requests.get(index).copied().flatten()?;
            let then = before.requests.get(index).copied().flatten()?;
            let served = if now >= then { now - then } else { now };
            let dt = after.seconds - before.seconds;
            (dt > 0.0).then(|| (after.seconds, served / dt))
        })
        .collect()
}

/// What instance `index` served over the whole sampling: the sum of the
/// increases of its counter (restarts included).
pub fn served(samples: &[Sample], index: usize) -> f64 {
    let values: Vec<f64> = (samples.iter())
        .filter_map(|sample| sample.requests.get(index).copied().flatten())
        .collect();
    values
        .windows(2)
        .map(|pair| {
            if pair[1] >= pair[0] {
                pair[1] - pair[0]
            } else {
                pair[1]
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP http_requests HTTP requests\n\
        # TYPE http_requests counter\n\
        http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 7\n\
        http_requests_total{route=\"/register\",method=\"POST\",status=\"201\"} 3\n\
        oauth_tokens_issued_total{kind=\"authorization_code\"} 5\n\
        oauth_tokens_issued_total{kind=\"refresh_token\"} 2\n\
        oauth_revocations_total 4\n\
        # EOF\n";

    #[test]
    fn counters_sum_over_their_series() {
        assert_eq!(sum(PAGE, "http_requests_total"), 10.0);
        assert_eq!(sum(PAGE, "oauth_revocations_total"), 4.0);
        assert_eq!(sum(PAGE, "missing_total"), 0.0);
        assert_eq!(
            by_label(PAGE, "oauth_tokens_issued_total", Some("kind")),
            [
                ("authorization_code".to_owned(), 5.0),
                ("refresh_token".to_owned(), 2.0)
            ]
        );
    }

    #[test]
    fn a_restart_resets_the_counter_without_a_negative_rate() {
        let at = |seconds: f64, value: Option<f64>| Sample {
            seconds,
            requests: vec![value],
        };
        let samples = [
            at(0.0, Some(100.0)),
            at(1.0, Some(300.0)),
            at(2.0, None),
            at(3.0, Some(50.0)),
            at(4.0, Some(150.0)),
        ];
        assert_eq!(rates(&samples, 0), [(1.0, 200.0), (4.0, 100.0)]);
        assert_eq!(served(&samples, 0), 200.0 + 50.0 + 100.0);
    }
}
