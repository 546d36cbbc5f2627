//! The flags of `cargo xtask bench`.

use std::time::Duration;

use anyhow::{Context, Result, bail};

pub const USAGE: &str = "usage: cargo xtask bench [--quick] [--part N] [--as-part N] [--seconds S] [--rounds R] [--connections C] [--flows F] [--book]

  --quick          5 s per scenario with 16 connections (CI); fails on any error or non-2xx
  --part N         take part{N}-as and part{N}-rs (default: the newest part with both)
  --as-part N      take the AS from part N instead (while part N's copy is missing)
  --seconds S      seconds of load per scenario, split into the rounds (default 30)
  --rounds R       round-robin slices per scenario (default 3, quick 5); memory is compared
                   after the first and the third
  --connections C  wrk connections (default 64)
  --flows F        full OAuth flows measured (default 300, quick 50)
  --book           also copy the chart to book/src/generated/bench-latency.svg";

/// What to measure, and how long.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub part: Option<u32>,
    pub as_part: Option<u32>,
    pub seconds: u64,
    pub rounds: u32,
    pub connections: u32,
    pub flows: u32,
    pub book: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut options = Self {
            quick,
            part: None,
            as_part: None,
            seconds: if quick { 5 } else { 30 },
            rounds: if quick { 5 } else { 3 },
            connections: if quick { 16 } else { 64 },
            flows: if quick { 50 } else { 300 },
            book: false,
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
                "--book" => options.book = true,
                "--part" => options.part = Some(u32::try_from(value("--part")?)?),
                "--as-part" => options.as_part = Some(u32::try_from(value("--as-part")?)?),
                "--seconds" => options.seconds = value("--seconds")?,
                "--rounds" => options.rounds = u32::try_from(value("--rounds")?)?,
                "--connections" => options.connections = u32::try_from(value("--connections")?)?,
                "--flows" => options.flows = u32::try_from(value("--flows")?)?,
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unexpected argument `{other}`\n\n{USAGE}"),
            }
        }
        if options.rounds == 0 || options.seconds < u64::from(options.rounds) {
            bail!("--seconds must give every one of the --rounds at least one second");
        }
        if options.connections == 0 || options.flows == 0 {
            bail!("--connections and --flows must be positive");
        }
        Ok(options)
    }

    /// The length of one wrk slice (wrk counts in whole seconds).
    pub fn slice(&self) -> Duration {
        Duration::from_secs(self.seconds / u64::from(self.rounds))
    }

    /// The round after which memory is compared with the first.
    pub fn memory_round(&self) -> usize {
        (self.rounds as usize).min(3)
    }

    pub fn mode(&self) -> &'static str {
        if self.quick { "quick" } else { "full" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        Options::parse(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn quick_shortens_everything_and_flags_still_win() {
        let full = parse(&[]).expect("defaults");
        assert_eq!((full.seconds, full.rounds, full.connections), (30, 3, 64));
        assert_eq!(full.slice(), Duration::from_secs(10));
        let quick = parse(&["--quick", "--part", "4"]).expect("quick");
        assert_eq!(
            (quick.seconds, quick.connections, quick.part),
            (5, 16, Some(4))
        );
        assert_eq!(quick.slice(), Duration::from_secs(1));
        assert_eq!(quick.memory_round(), 3);
        assert!(parse(&["--seconds", "2", "--rounds", "3"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
