//! `cargo xtask stress [--quick]`: the release authorization server (AS)
//! and resource server (RS) of part 5 under six floods, one after the
//! other, while real users keep signing in.
//!
//! | flood | what the attacker sends |
//! |---|---|
//! | `register` | anonymous `POST /register`, as fast as wrk can |
//! | `authorize` | `GET /authorize` for one valid client (each opens a sign-in) |
//! | `junk-codes` | `POST /token` with random authorization codes |
//! | `logins` | `POST /login` on a real login page, random user names, wrong passwords |
//! | `refresh` | one client's refresh token, refreshed in a loop (each answer's new token is the next request's) |
//! | `slow-headers` | ~1,000 connections per server that send half a request header and stall |
//!
//! During and after each flood, real full flows run (register, authorize,
//! fetch and submit the login page, token, a protected MCP call at the RS)
//! with the bench's one login implementation ([`crate::bench::oauth`]).
//! Every source gets its own loopback address, because the servers limit
//! per source and Linux routes all of 127.0.0.0/8 to `lo`: the flood comes
//! from 127.0.0.1, the real users from 127.0.0.2, and the attacker's own
//! setup (a client, a refresh token, a login page) from 127.0.0.3, so the
//! limits an earlier flood earned on 127.0.0.1 cannot refuse the setup.
//!
//! The resident memory of both servers is sampled every 250 ms. The bounds
//! (rules AS-16, AS-17, AS-19): no real flow fails, each server stays at
//! or under 64 MiB at every sample, and every slow connection is closed
//! within 15 s.
//!
//! Modules: [`flood`](self::flood) (the wrk floods and their scripts),
//! [`slow`](self::slow) (the stalled connections), [`flows`](self::flows)
//! (the real users), [`sampler`](self::sampler) (RSS), [`run`](self::run)
//! (the sequence), [`report`](self::report) (table and bounds) and
//! [`chart`](self::chart) (the SVG).

mod chart;
mod flood;
mod flows;
mod report;
mod run;
mod sampler;
mod slow;

use std::time::Duration;

use anyhow::{Context, Result, bail};

pub const USAGE: &str =
    "usage: cargo xtask stress [--quick] [--seconds S] [--connections C] [--slow N]

  --quick          3 s per flood (CI); figures go to target/stress/ only
  --seconds S      seconds of each flood (default 15)
  --connections C  wrk connections per flood (default 64, quick 32)
  --slow N         stalled connections per server in the slow-headers flood (default 1000)

Without --quick the table and chart are also written to book/src/generated/stress-*.
Exits with an error when a bound fails.";

/// What to run, and for how long.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub seconds: u64,
    pub connections: u32,
    pub slow: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut options = Self {
            quick,
            seconds: if quick { 3 } else { 15 },
            connections: if quick { 32 } else { 64 },
            slow: 1000,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> Result<u64> {
                let text = args
                    .next()
                    .with_context(|| format!("{name} needs a value"))?;
                text.parse()
                    .with_context(|| format!("{name}: `{text}` is not a number"))
            };
            match arg.as_str() {
                "--quick" => {}
                "--seconds" => options.seconds = value("--seconds")?.max(1),
                "--connections" => {
                    options.connections = u32::try_from(value("--connections")?)?.max(2);
                }
                "--slow" => options.slow = usize::try_from(value("--slow")?)?,
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown argument `{other}`\n\n{USAGE}"),
            }
        }
        Ok(options)
    }

    pub fn flood(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

/// Runs every flood, prints the figures and the bounds, writes the table
/// and the chart; fails when a bound failed.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let results = run::stress(&options)?;
    let report = report::Report::new(&options, &results);
    report.print();
    report.write()?;
    let failed = report.failed();
    if failed > 0 {
        bail!("{failed} stress bounds failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        Options::parse(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn quick_is_short_and_flags_override() {
        let quick = parse(&["--quick"]).expect("parses");
        assert_eq!(
            (quick.seconds, quick.connections, quick.slow),
            (3, 32, 1000)
        );
        let custom = parse(&["--seconds", "7", "--slow", "10"]).expect("parses");
        assert_eq!((custom.seconds, custom.slow, custom.quick), (7, 10, false));
        assert!(parse(&["--seconds"]).is_err());
        assert!(parse(&["--fast"]).is_err());
    }
}
