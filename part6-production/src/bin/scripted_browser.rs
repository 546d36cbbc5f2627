//! `part6-scripted-browser URL`: stands in for a person with a browser.
//!
//! Set `BROWSER=part6-scripted-browser` and the client "opens" the login page
//! with it: it logs in with the demo user, presses Approve (or Deny with
//! `--deny`), follows the redirect to the client's loopback listener and
//! exits 0. It works in the foreground and returns as soon as the redirect
//! is delivered, so the client, which waits a few seconds for a browser
//! command to exit, learns whether it worked.
//!
//! It is the one "log in like a browser" of this part: the demo, the interop
//! run, the benchmark and the client's tests all start this program. With
//! `--print-callback` it stops before the last step and prints the callback
//! URL on stdout instead of loading it, for a test that wants to change the
//! redirect first.
//!
//! Its modules, none of which the client library needs:
//!
//! - [`html_form`]: just enough HTML reading to find forms and buttons;
//! - [`login_form`]: the [`login_form::Person`] filling a form in;
//! - [`walk`]: from page to page until the redirect leaves the
//!   authorization server, and delivering it.

#[path = "scripted_browser/html_form.rs"]
mod html_form;
#[path = "scripted_browser/login_form.rs"]
mod login_form;
#[path = "scripted_browser/walk.rs"]
mod walk;

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use login_form::Person;

// ANCHOR: args
/// Logs in on the authorization server's page and approves (or denies).
#[derive(Debug, Parser)]
#[command(name = "part6-scripted-browser")]
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
    /// Print the callback URL the authorization server redirected to on
    /// stdout instead of loading it.
    #[arg(long)]
    print_callback: bool,
}
// ANCHOR_END: args

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let person = Person {
        username: args.username,
        password: args.password,
        deny: args.deny,
    };
    // No redirects followed by reqwest: the walk decides, page by page.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build an HTTP client")?;
    let callback = walk::visit(&http, &person, &args.url)
        .await
        .context("the scripted browser could not complete the login")?;
    if args.print_callback {
        println!("{callback}");
        return Ok(());
    }
    let delivered = walk::deliver(&http, callback)
        .await
        .context("the scripted browser could not deliver the redirect")?;
    eprintln!(
        "scripted browser: delivered the redirect to {} (HTTP {})",
        redacted(&delivered.callback_url),
        delivered.status
    );
    Ok(())
}

/// The callback URL without its query: the code in it is a credential.
fn redacted(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}
