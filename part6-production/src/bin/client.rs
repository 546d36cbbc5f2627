//! `part6-client`: the MCP client (part 5's, unchanged). Everything happens in
//! [`part6_production::client::run`]; this file reads flags, picks the browser,
//! prints the results and turns the outcome into an exit code
//! (0 success, 1 error, 2 authorization failed or denied, 130 Ctrl-C).

use std::{process::ExitCode, sync::Arc};

use clap::{CommandFactory, FromArgMatches};
use part6_production::client::{
    BrowserOpener, NoBrowser, Options, Outcome, StderrTranscript, SystemBrowser,
    printable::{Printable, printable_json},
    run,
};

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    // The binary's own name in `--help` and errors: the library's `Options`
    // is carried from part 5 and does not know it.
    let options = Options::command()
        .name(env!("CARGO_BIN_NAME"))
        .get_matches();
    let options = match Options::from_arg_matches(&options) {
        Ok(options) => options,
        Err(error) => error.exit(),
    };
    if let Err(message) = init_logging(&options.log_level) {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }
    let browser: Arc<dyn BrowserOpener> = if options.no_browser {
        Arc::new(NoBrowser)
    } else {
        Arc::new(SystemBrowser::from_environment())
    };
    let outcome = tokio::select! {
        outcome = run(&options, Arc::new(StderrTranscript), browser) => outcome,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(outcome) => match print(&outcome, options.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        },
        Err(error) => {
            // The message may quote a server (an `error_description`, a
            // tool's error): no control character of it reaches the terminal.
            eprintln!("error: {}", Printable(&error.to_string()));
            ExitCode::from(error.exit_code())
        }
    }
}
// ANCHOR_END: main

/// Logs to stderr, filtered by `--log-level` (`MCP_CLIENT_LOG`), or by
/// `RUST_LOG` when that is set. A filter that does not parse is a mistake
/// worth saying, not a reason to log everything.
fn init_logging(filter: &str) -> Result<(), String> {
    let (name, filter) = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => ("RUST_LOG", value),
        _ => ("--log-level", filter.to_owned()),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).map_err(|error| {
        format!(
            "{name} `{filter}` is not a log filter ({error}) — use a level such as warn or \
             debug, or `RUST_LOG` syntax such as part6_production=debug"
        )
    })?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// Tool results on stdout: one JSON document with `--json`, else each result
/// pretty-printed (its structured content when there is some, else its text).
/// Results come from the server, so no control character of theirs is
/// printed (rule CL-07): JSON escapes them, text shows U+FFFD.
fn print(outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", printable_json(outcome)?);
        return Ok(());
    }
    for call in &outcome.calls {
        println!("{}:", Printable(&call.tool));
        match &call.result.structured_content {
            Some(structured) => println!("{}", printable_json(structured)?),
            None => {
                for block in &call.result.content {
                    if let Some(text) = block.as_text() {
                        println!("{}", Printable(&text.text));
                    }
                }
            }
        }
    }
    Ok(())
}
