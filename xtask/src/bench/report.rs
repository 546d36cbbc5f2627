//! What a run prints and writes: the table (Markdown, so the book can take
//! it as is), the targets with PASS or MISS, `target/bench/results.json`
//! and the chart `target/bench/latency.svg`.

use std::{fmt::Write as _, fs};

use anyhow::{Context, Result};

use super::{
    oauth,
    options::Options,
    run::{DEFAULT_CACHE_TTL, JWT_SCENARIO, PEER_SCENARIO, Results, ScenarioResult, output_dir},
    stats::{Percentiles, format_ms, format_rate},
    svg,
};
use crate::workspace;

/// One target of the issue, checked against one run.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    pub pass: bool,
    pub detail: String,
}

/// A finished run, ready to be shown.
#[derive(Debug)]
pub struct Report<'a> {
    options: &'a Options,
    results: &'a Results,
    targets: Vec<Target>,
}

impl<'a> Report<'a> {
    pub fn new(options: &'a Options, results: &'a Results) -> Self {
        let targets = targets(options, results);
        Self {
            options,
            results,
            targets,
        }
    }

    pub fn print(&self) {
        println!("{}", self.markdown());
    }

    /// The machine, the scenarios, memory and the targets, as Markdown.
    pub fn markdown(&self) -> String {
        let r = self.results;
        let o = self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Machine: {} CPUs ({}); part {} ({} + {}); {} mode: {} s per scenario in {} rounds, {} connections, {} full flows.\n",
            r.cpus,
            r.cpu_model,
            r.binaries.part,
            r.binaries.authorization_server.bin,
            r.binaries.resource_server.bin,
            o.mode(),
            o.seconds,
            o.rounds,
            o.connections,
            o.flows
        );
        out.push_str("| scenario | requests/s | p50 | p90 | p99 | errors | AS calls |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for scenario in r.scenarios.iter().chain(r.flows()) {
            let calls = scenario
                .introspections
                .map_or_else(|| "–".to_owned(), |calls| calls.to_string());
            let rate = if scenario.name.starts_with("full-flow") {
                format!("{} flows/s", format_rate(scenario.requests_per_second()))
            } else {
                format_rate(scenario.requests_per_second())
            };
            let (p50, p90, p99) = match Percentiles::of(&scenario.samples) {
                Some(p) => (format_ms(p.p50), format_ms(p.p90), format_ms(p.p99)),
                None => ("–".into(), "–".into(), "–".into()),
            };
            let _ = writeln!(
                out,
                "| `{}` | {rate} | {p50} | {p90} | {p99} | {} | {calls} |",
                scenario.name,
                scenario.errors()
            );
        }
        if !r.full_flow.steps.is_empty() {
            out.push_str("\n| full-flow step | p50 | p90 | p99 |\n|---|---:|---:|---:|\n");
            for (name, samples) in oauth::STEPS.iter().zip(&r.full_flow.steps) {
                if let Some(p) = Percentiles::of(samples) {
                    let _ = writeln!(
                        out,
                        "| {name} | {} | {} | {} |",
                        format_ms(p.p50),
                        format_ms(p.p90),
                        format_ms(p.p99)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "\n| server | RSS after round 1 | RSS after round {} | peak RSS (VmHWM) |",
            o.memory_round()
        );
        out.push_str("|---|---:|---:|---:|\n");
        for row in &r.memory {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.server,
                mib(row.rss_first_kib),
                mib(row.rss_later_kib),
                mib(row.peak_kib)
            );
        }
        out.push_str("\n| target | result | measured |\n|---|---|---|\n");
        for target in &self.targets {
            let verdict = if target.pass { "PASS" } else { "MISS" };
            let _ = writeln!(out, "| {} | {verdict} | {} |", target.name, target.detail);
        }
        out
    }

    /// Writes `results.json`, `results.md` and `latency.svg` to
    /// `target/bench/`, and with `--book` the chart into the book.
    pub fn write(&self) -> Result<()> {
        let dir = output_dir();
        fs::create_dir_all(&dir)?;
        let json = serde_json::to_string_pretty(&self.json())?;
        fs::write(dir.join("results.json"), json + "\n")?;
        fs::write(dir.join("results.md"), self.markdown())?;
        let bars: Vec<(String, Percentiles)> = self
            .results
            .scenarios
            .iter()
            .chain(self.results.flows())
            .filter_map(|s| Some((s.name.clone(), Percentiles::of(&s.samples)?)))
            .collect();
        let title = format!(
            "Latency per scenario ({} CPUs, {} connections, {} mode)",
            self.results.cpus,
            self.options.connections,
            self.options.mode()
        );
        let chart = svg::latency_chart(&title, &bars);
        fs::write(dir.join("latency.svg"), &chart)?;
        eprintln!(
            "bench: wrote {}/results.json, results.md and latency.svg",
            dir.display()
        );
        if self.options.book {
            let generated = workspace::root().join("book/src/generated");
            fs::create_dir_all(&generated)?;
            let path = generated.join("bench-latency.svg");
            fs::write(&path, &chart).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("bench: wrote {}", path.display());
        }
        Ok(())
    }

    fn json(&self) -> serde_json::Value {
        let r = self.results;
        let scenario = |s: &ScenarioResult| {
            let p = Percentiles::of(&s.samples);
            serde_json::json!({
                "name": s.name,
                "requests": s.requests,
                "seconds": s.seconds,
                "requests_per_second": s.requests_per_second(),
                "p50_ms": p.map(|p| p.p50 / 1e3),
                "p90_ms": p.map(|p| p.p90 / 1e3),
                "p99_ms": p.map(|p| p.p99 / 1e3),
                "max_ms": s.samples.max().map(|max| max / 1e3),
                "socket_errors": s.socket_errors,
                "status_errors": s.status_errors,
                "introspection_calls": s.introspections,
                "steps": oauth::STEPS.iter().zip(&s.steps).map(|(name, samples)| {
                    let p = Percentiles::of(samples);
                    serde_json::json!({
                        "step": name,
                        "p50_ms": p.map(|p| p.p50 / 1e3),
                        "p99_ms": p.map(|p| p.p99 / 1e3),
                    })
                }).collect::<Vec<_>>(),
            })
        };
        serde_json::json!({
            "machine": { "cpus": r.cpus, "cpu_model": r.cpu_model },
            "part": r.binaries.part,
            "authorization_server": r.binaries.authorization_server.bin,
            "resource_server": r.binaries.resource_server.bin,
            "mode": self.options.mode(),
            "seconds_per_scenario": self.options.seconds,
            "rounds": self.options.rounds,
            "connections": self.options.connections,
            "scenarios": r.scenarios.iter().chain(r.flows()).map(scenario).collect::<Vec<_>>(),
            "memory": r.memory.iter().map(|m| serde_json::json!({
                "server": m.server,
                "rss_first_round_kib": m.rss_first_kib,
                "rss_compared_round_kib": m.rss_later_kib,
                "peak_kib": m.peak_kib,
            })).collect::<Vec<_>>(),
            "targets": self.targets.iter().map(|t| serde_json::json!({
                "target": t.name, "pass": t.pass, "measured": t.detail,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The targets, checked against `results`.
pub fn targets(options: &Options, results: &Results) -> Vec<Target> {
    let rate = |name: &str| {
        results
            .scenario(name)
            .map_or(0.0, ScenarioResult::requests_per_second)
    };
    let (baseline, public, warm) = (rate("baseline"), rate("public"), rate("protected-warm"));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let mut targets = vec![
        Target {
            name: "protected-warm ≥ 50 % of baseline requests/s",
            pass: ratio(warm, baseline) >= 0.5,
            detail: format!("{:.1} %", 100.0 * ratio(warm, baseline)),
        },
        Target {
            name: "protected-warm ≥ 85 % of public requests/s",
            pass: ratio(warm, public) >= 0.85,
            detail: format!("{:.1} %", 100.0 * ratio(warm, public)),
        },
    ];
    let warm_calls = results
        .scenario("protected-warm")
        .and_then(|s| s.introspections);
    let warm_calls = warm_calls.unwrap_or(0);
    targets.push(Target {
        name: "protected-warm: no AS call after the first (but one per cache TTL that ran out)",
        pass: warm_calls <= results.warm_ttl_expiries,
        detail: format!(
            "{warm_calls} introspections during the load; the {} s TTL ran out {} times",
            DEFAULT_CACHE_TTL.as_secs(),
            results.warm_ttl_expiries
        ),
    });
    if let Some(cold) = results.scenario("protected-cold") {
        let calls = cold.introspections.unwrap_or(0);
        // Requests still in flight when a slice ends were introspected but
        // not counted by wrk: at most one per connection and slice.
        let slack = u64::from(options.connections) * u64::from(options.rounds);
        targets.push(Target {
            name: "protected-cold: exactly one AS call per request",
            pass: calls >= cold.requests && calls <= cold.requests + slack,
            detail: format!(
                "{calls} introspections for {} requests ({:.4} per request; up to {slack} more allowed for requests in flight at slice ends)",
                cold.requests,
                ratio(calls as f64, cold.requests as f64)
            ),
        });
    }
    if let Some(jwt) = results.scenario(JWT_SCENARIO) {
        let (rate, calls) = (jwt.requests_per_second(), jwt.introspections.unwrap_or(0));
        targets.push(Target {
            name: "protected-cold-jwt (part 6: signed tokens checked in the RS, introspection cache off) ≥ 95 % of protected-warm requests/s",
            pass: ratio(rate, warm) >= 0.95,
            detail: format!("{:.1} %", 100.0 * ratio(rate, warm)),
        });
        targets.push(Target {
            name: "protected-cold-jwt: no AS call during the load",
            pass: calls == 0,
            detail: format!(
                "{calls} introspections or key fetches for {} requests",
                jwt.requests
            ),
        });
    }
    if let (Some(ours), Some(peer)) = (
        results.scenario("protected-2026"),
        results.scenario(PEER_SCENARIO),
    ) {
        let (ours, peer) = (ours.requests_per_second(), peer.requests_per_second());
        targets.push(Target {
            name: "protected-2026 (a token checked) ≥ the Python SDK's public greet requests/s",
            pass: ours >= peer,
            detail: format!("{:.1} × the Python SDK's", ratio(ours, peer)),
        });
    }
    if let Some(stateless) = results.scenario("protected-2026") {
        let rate = stateless.requests_per_second();
        targets.push(Target {
            name: "protected-2026 (part 6, no session, plain JSON) ≥ 25 % of baseline requests/s",
            pass: ratio(rate, baseline) >= 0.25,
            detail: format!(
                "{:.1} % (the stateful protected-warm: {:.1} %)",
                100.0 * ratio(rate, baseline),
                100.0 * ratio(warm, baseline)
            ),
        });
    }
    targets.push(Target {
        name: "zero errors (socket errors, non-2xx, failed flows)",
        pass: results.errors() == 0,
        detail: format!("{} errors", results.errors()),
    });
    for row in results.memory.iter().filter(|row| row.checked) {
        let growth = row.rss_later_kib as f64 / row.rss_first_kib.max(1) as f64 - 1.0;
        targets.push(Target {
            name: "RS resident memory does not grow between the first and third round (≤ 5 %)",
            pass: growth <= 0.05,
            detail: format!(
                "{}: {} → {} ({:+.1} %)",
                row.server,
                mib(row.rss_first_kib),
                mib(row.rss_later_kib),
                100.0 * growth
            ),
        });
    }
    let flow = Percentiles::of(&results.full_flow.samples);
    targets.push(Target {
        name: "full-flow under 10 ms each (p99)",
        pass: flow.is_some_and(|p| p.p99 < 10_000.0),
        detail: match (flow, results.full_flow.samples.max()) {
            (Some(p), Some(max)) => format!("p99 {}, max {}", format_ms(p.p99), format_ms(max)),
            _ => "no flow completed".into(),
        },
    });
    targets
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
