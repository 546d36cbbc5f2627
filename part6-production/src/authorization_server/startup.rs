//! Starting the authorization server from the command line, and saying
//! plainly why it could not start.
//!
//! The failures a person meets when starting a server — the port is taken, a
//! setting is mistyped — are expected, so each gets two plain lines on
//! stderr: what happened, and what to do ([`StartupError`]). The binary stays
//! thin: it calls [`parse_args`], then [`run`], then [`exit_code`].
//!
//! The resource server of part 4 has its own copy of these few helpers: the
//! two servers share no code, as they would not in production.

use std::{future::Future, io, process::ExitCode};

use clap::{CommandFactory, Parser, error::ErrorKind};
use tokio::net::TcpListener;
use url::Url;

use super::{Config, error::StartupError, serve};

/// Reads the command line and the environment. `--help` and `--version`
/// print and exit here; a value that does not parse is an
/// [`StartupError::Arguments`] naming both the flag and its variable.
pub fn parse_args() -> Result<Config, StartupError> {
    Config::try_parse().map_err(|error| match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => error.exit(),
        _ => StartupError::Arguments(explain(&error)),
    })
}

/// Checks the configuration, binds, and serves until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    check(&config)?;
    let listener = bind(&config.host, config.port).await?;
    serve(listener, config, shutdown).await.map_err(|error| {
        // `serve` wraps the provider's own refusal in an I/O error.
        match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<StartupError>())
        {
            Some(refusal) => refusal.clone(),
            None => StartupError::Serve(plain(&error)),
        }
    })
}

/// Prints `result`'s error, if any, on stderr and returns the exit status:
/// 2 for a command line that does not parse (as clap does), else 1.
pub fn exit_code(result: Result<(), StartupError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            match error {
                StartupError::Arguments(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// The settings that parse but cannot work, caught before anything binds.
/// The issuer is an https URL without query or fragment (RFC 8414 §2; http
/// is accepted for local demos); each resource an absolute URL without
/// fragment (RFC 8707 §2).
pub fn check(config: &Config) -> Result<(), StartupError> {
    let issuer = web_url("AS_ISSUER", &config.issuer)?;
    if issuer.query().is_some() || issuer.fragment().is_some() {
        return Err(StartupError::Setting {
            problem: format!(
                "AS_ISSUER has a query or fragment (\"{}\"), which an issuer may not have (RFC 8414 §2)",
                config.issuer
            ),
            fix: "set --issuer or AS_ISSUER to the plain URL of this server, such as http://localhost:9000".into(),
        });
    }
    if config.token_lifetime == 0 {
        return Err(StartupError::Setting {
            problem: "AS_TOKEN_LIFETIME is 0: tokens would expire as they are issued".into(),
            fix: "set --token-lifetime or AS_TOKEN_LIFETIME to a number of seconds, such as 3600"
                .into(),
        });
    }
    for resource in config.resources.iter().filter(|r| !r.trim().is_empty()) {
        let url = web_url("AS_RESOURCES", resource.trim())?;
        if url.fragment().is_some() {
            return Err(StartupError::Setting {
                problem: format!("AS_RESOURCES lists \"{resource}\", which has a fragment"),
                fix: "list the MCP servers' URLs without #fragment (RFC 8707 §2)".into(),
            });
        }
    }
    Ok(())
}

/// Binds `host:port`, turning the usual failures into their explanation.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, StartupError> {
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpListener::bind((host, port))
        .await
        .map_err(|error| match error.kind() {
            io::ErrorKind::AddrInUse => StartupError::AddressInUse(address),
            io::ErrorKind::PermissionDenied => StartupError::PermissionDenied(address),
            io::ErrorKind::AddrNotAvailable => {
                StartupError::Host(address, "no interface of this machine has it".into())
            }
            _ => StartupError::Host(address, plain(&error)),
        })
}

/// `value` as an absolute `http` or `https` URL with a host: `localhost:9000`
/// parses as a URL of scheme `localhost`, which no client can reach.
fn web_url(name: &str, value: &str) -> Result<Url, StartupError> {
    let problem = |reason: String| StartupError::Setting {
        problem: format!("{name} is not an http or https URL (\"{value}\"): {reason}"),
        fix: format!("set {name} (or its flag) to a full URL, such as http://localhost:9000"),
    };
    let url = Url::parse(value).map_err(|error| problem(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(problem("it has no http:// or https:// scheme".into()));
    }
    Ok(url)
}

/// The first line of clap's message, with the environment variable named
/// beside the flag (the person may have set either).
fn explain(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let mut what = first.trim_start_matches("error: ").to_owned();
    if let Some(clap::error::ContextValue::String(flag)) =
        error.get(clap::error::ContextKind::InvalidArg)
        && let Some(env) = env_of(flag)
    {
        let quoted = format!("'{flag}'");
        what = what.replacen(&quoted, &format!("{quoted} (or {env})"), 1);
    }
    format!("{what}\nrun with --help to see every setting and its accepted values")
}

/// The environment variable of a flag as clap names it (`--port <PORT>`).
fn env_of(flag: &str) -> Option<String> {
    let long = flag.split_whitespace().next()?.strip_prefix("--")?;
    Config::command()
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
}

/// An I/O error's message without the `(os error N)` suffix.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_resources_must_be_web_urls() {
        let good = Config::for_tests("http://127.0.0.1:9000");
        assert_eq!(check(&good), Ok(()));
        for issuer in ["localhost:9000", "not a url", "http://localhost:9000/?x=1"] {
            let error = check(&Config::for_tests(issuer)).expect_err(issuer);
            assert!(error.to_string().starts_with("AS_ISSUER "), "{error}");
            assert_eq!(error.to_string().lines().count(), 2, "{error}");
        }
        let mut config = Config::for_tests("http://127.0.0.1:9000");
        config.resources = vec!["mcp.example.com/mcp".into()];
        let error = check(&config).expect_err("no scheme");
        assert!(error.to_string().contains("AS_RESOURCES"), "{error}");
    }

    #[test]
    fn a_bad_number_names_the_flag_and_its_variable() {
        let error = Config::try_parse_from(["as", "--port", "abc"]).expect_err("not a number");
        let message = explain(&error);
        assert!(
            message.contains("'--port <PORT>' (or AS_SERVER_PORT)"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 2, "{message}");
    }
}
