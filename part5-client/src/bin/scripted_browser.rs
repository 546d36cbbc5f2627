//! `part5-scripted-browser URL`: stands in for a person with a browser.
//!
//! Set `BROWSER=part5-scripted-browser` and the client "opens" the login page
//! with it: it logs in with the demo user, presses Approve (or Deny with
//! `--deny`), follows the redirect to the client's loopback listener and
//! exits 0. It works in the foreground and returns as soon as the redirect
//! is delivered, so the client, which waits a few seconds for a browser
//! command to exit, learns whether it worked. See
//! [`part5_client::client::scripted_browser`].

use anyhow::Context as _;
use clap::Parser;
use part5_client::client::scripted_browser::ScriptedBrowser;

// ANCHOR: args
/// Logs in on the authorization server's page and approves (or denies).
#[derive(Debug, Parser)]
#[command(name = "part5-scripted-browser")]
struct Args {
    /// The authorization URL the client wants opened.
    url: String,
    /// The user to log in as.
    #[arg(long, env = "AS_DEMO_USERNAME", default_value = "demo_user")]
    username: String,
    /// Their password.
    #[arg(
        long,
        env = "AS_DEMO_PASSWORD",
        default_value = "demo_password",
        hide_env_values = true
    )]
    password: String,
    /// Press Deny instead of Approve.
    #[arg(long)]
    deny: bool,
}
// ANCHOR_END: args

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let browser = ScriptedBrowser {
        username: args.username,
        password: args.password,
        deny: args.deny,
    };
    let delivered = browser
        .visit(&args.url)
        .await
        .context("the scripted browser could not complete the login")?;
    eprintln!(
        "scripted browser: delivered the redirect to {} (HTTP {})",
        delivered.callback_url.split('?').next().unwrap_or_default(),
        delivered.status
    );
    Ok(())
}
