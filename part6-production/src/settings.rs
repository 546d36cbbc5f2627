//! Configuration of the resource server: flags with environment fallbacks,
//! checked once at start-up so that a typo stops the server with a clear
//! message instead of surfacing as a 401 on every request.

use std::time::Duration;

use url::Url;

use crate::{clock::Clock, limits::ConnectionLimits, tls};

// ANCHOR: config
/// Configuration of the resource server: flags with environment fallbacks.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = concat!(
    env!("CARGO_PKG_NAME"),
    ": the MCP server (greet public, server_time protected) behind OAuth 2.1"
))]
pub struct Config {
    /// Address to bind. Keep the loopback default unless a proxy in front of
    /// the server checks Origin and Host for you (rule TR-01).
    #[arg(long, env = "RS_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free port and the bound address is logged.
    #[arg(long, env = "RS_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Name the server reports in the MCP `initialize` result.
    #[arg(
        long,
        env = "RS_SERVER_NAME",
        default_value = "mcp-demo-resource-server"
    )]
    pub server_name: String,
    /// Log filter, in `RUST_LOG` syntax (`info`, `debug`, `info,tower_http=debug`).
    /// rmcp logs three lines at `info` for every request of protocol
    /// 2026-07-28, which has no sessions: too many for a busy server, so
    /// its `info` is off unless asked for.
    #[arg(long, env = "RS_LOG_LEVEL", default_value = "info,rmcp=warn")]
    pub log_level: String,
    /// Extra browser origins allowed to call the endpoint, comma-separated
    /// (`https://app.example.com`). Loopback origins on any port are always allowed.
    #[arg(long, env = "RS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Protect tools with OAuth. `false` makes every tool public and serves
    /// no protected-resource metadata.
    #[arg(long, env = "RS_AUTH_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_enabled: bool,
    /// Base URL of the authorization server; its `/introspect` endpoint
    /// validates every token.
    #[arg(
        long,
        env = "RS_AUTH_SERVER_URL",
        default_value = "http://localhost:9000"
    )]
    pub auth_server_url: String,
    /// Tools that need a token, comma-separated, each with the scope it
    /// needs (`server_time=time:read`); a tool without `=scope` needs
    /// `RS_REQUIRED_SCOPE`. `*` protects the whole endpoint, `initialize`
    /// and `tools/list` included, with `RS_REQUIRED_SCOPE` (rule P6-05).
    #[arg(
        long,
        env = "RS_REQUIRE_AUTH_FOR_TOOLS",
        value_delimiter = ',',
        default_value = "server_time=time:read,whoami=account:read"
    )]
    pub require_auth_for_tools: Vec<String>,
    /// The canonical URL of this MCP endpoint (RFC 8707 resource indicator):
    /// tokens must be issued for exactly this URL (rule RS-03, RS-07).
    #[arg(
        long,
        env = "RS_PUBLIC_URL",
        default_value = "http://localhost:8000/mcp"
    )]
    pub public_url: String,
    /// Client id this server authenticates with at the introspection endpoint.
    #[arg(long, env = "RS_CLIENT_ID", default_value = "mcp-resource-server")]
    pub client_id: String,
    /// Client secret for the introspection endpoint (demo default; change it).
    #[arg(
        long,
        env = "RS_CLIENT_SECRET",
        default_value = "demo-resource-server-secret",
        hide_default_value = true
    )]
    pub client_secret: String,
    /// Scope a token needs to call a protected tool that names none of
    /// its own, and any call when `*` protects the whole endpoint.
    #[arg(long, env = "RS_REQUIRED_SCOPE", default_value = "mcp:tools")]
    pub required_scope: String,
    /// How long an introspection result is reused, in seconds (`60`) or
    /// milliseconds (`500ms`); 0 asks the authorization server on every
    /// request. Never longer than the token's own lifetime.
    #[arg(long, env = "RS_INTROSPECTION_CACHE_TTL", default_value = "60", value_parser = duration)]
    pub introspection_cache_ttl: Duration,
    /// How a signed access token (a JWT, RFC 9068) is checked: `local`,
    /// with the authorization server's published keys and no call to it
    /// (a revoked token then lives until it expires), or `introspection`,
    /// asking it every TTL as for any other token.
    #[arg(long, env = "RS_TOKEN_CHECK", value_enum, default_value = "local")]
    pub token_check: TokenCheck,
    /// Tools whose calls check every token by introspection even when
    /// `RS_TOKEN_CHECK` is `local`, comma-separated: the calls for which a
    /// revoked token must stop working at once, not when it expires.
    #[arg(long, env = "RS_INTROSPECT_TOOLS", value_delimiter = ',')]
    pub introspect_tools: Vec<String>,
    /// How long to wait for the authorization server before failing closed,
    /// in seconds (`5`) or milliseconds (`500ms`).
    #[arg(long, env = "RS_INTROSPECTION_TIMEOUT", default_value = "5", value_parser = duration)]
    pub introspection_timeout: Duration,
    /// The clock token expiry is read from. Not a setting: the system
    /// clock, which tests move forward instead of sleeping.
    #[arg(skip)]
    pub clock: Clock,
    /// Port of the admin listener, on `RS_HOST`: `/metrics` (Prometheus),
    /// `/healthz` and `/readyz` (rule P6-07). Unset: no admin listener.
    #[arg(long, env = "RS_ADMIN_PORT")]
    pub admin_port: Option<u16>,
    /// Serve HTTPS with this certificate chain (a PEM file, the server's
    /// certificate first), with `--tls-key`; `RS_PUBLIC_URL` must then be
    /// https (rule P6-10). `cargo xtask dev-cert` makes one for localhost.
    #[arg(long, env = "RS_TLS_CERT", value_parser = tls::cert_chain)]
    pub tls_cert: Option<tls::CertChain>,
    /// The private key of `--tls-cert`'s certificate (a PEM file).
    #[arg(long, env = "RS_TLS_KEY", value_parser = tls::private_key)]
    pub tls_key: Option<tls::PrivateKey>,
    /// Load balancers in front of this server, comma-separated IP
    /// addresses: their connections must begin with a PROXY protocol v2
    /// header naming the client, whose address the limits then count
    /// (rule P6-11). A header from anyone else is never read.
    #[arg(long, env = "RS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connection limits (rule AS-19).
    #[command(flatten)]
    pub limits: Limits,
}
// ANCHOR_END: config

// ANCHOR: rs_limits
/// Connection limits: flags with environment fallbacks.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Seconds a client has to send a request header; idle keep-alive
    /// connections are closed after as long (an open event stream is not
    /// idle: it is a response being written).
    #[arg(long, env = "RS_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request body.
    #[arg(long, env = "RS_BODY_READ_TIMEOUT", default_value_t = 10)]
    pub body_read_timeout: u64,
    /// Connections open at once, in all.
    #[arg(long, env = "RS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections open at once from one address (IPv6: one /64).
    #[arg(long, env = "RS_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 256)]
    pub max_connections_per_source: usize,
}
// ANCHOR_END: rs_limits

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: 10,
            body_read_timeout: 10,
            max_connections: 4096,
            max_connections_per_source: 256,
        }
    }
}

impl Limits {
    /// What [`crate::limits::serve`] applies to each connection.
    pub fn connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout.max(1)),
            body_read_timeout: Duration::from_secs(self.body_read_timeout.max(1)),
            max_connections: self.max_connections.max(1),
            max_connections_per_source: self.max_connections_per_source.max(1),
        }
    }
}

impl Config {
    /// The defaults, as if no flag and no environment variable were given,
    /// but on a free port and with the authorization server at `auth_server_url`.
    pub fn for_tests(auth_server_url: &str) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            server_name: "mcp-demo-resource-server".into(),
            log_level: "info".into(),
            allowed_origins: Vec::new(),
            auth_enabled: true,
            auth_server_url: auth_server_url.into(),
            // One scope for every protected tool, as in part 5; the tests
            // of per-tool scopes (rule P6-05) name them.
            require_auth_for_tools: vec!["server_time".into(), "whoami".into()],
            public_url: "http://localhost:8000/mcp".into(),
            client_id: "mcp-resource-server".into(),
            client_secret: "demo-resource-server-secret".into(),
            required_scope: "mcp:tools".into(),
            introspection_cache_ttl: Duration::from_secs(60),
            token_check: TokenCheck::Local,
            introspect_tools: Vec::new(),
            introspection_timeout: Duration::from_secs(5),
            clock: Clock::default(),
            admin_port: None,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
        }
    }

    // ANCHOR: validate
    /// Checks the configuration and derives the URLs the server needs.
    pub fn validate(&self) -> Result<AuthSettings, ConfigError> {
        let public_url = web_url("RS_PUBLIC_URL", &self.public_url)?;
        if public_url.fragment().is_some() || public_url.query().is_some() {
            return Err(ConfigError::Invalid(
                "RS_PUBLIC_URL",
                "a resource indicator has no query or fragment (RFC 8707 §2)",
            ));
        }
        let auth_server = web_url("RS_AUTH_SERVER_URL", &self.auth_server_url)?;
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::Invalid("RS_CLIENT_ID", "must not be empty"));
        }
        if self.client_secret.is_empty() {
            return Err(ConfigError::Invalid(
                "RS_CLIENT_SECRET",
                "must not be empty",
            ));
        }
        if self.introspection_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "RS_INTROSPECTION_TIMEOUT",
                "must be more than zero",
            ));
        }
        let required_scope = self.required_scope.trim();
        if !is_scope_token(required_scope) {
            return Err(ConfigError::Invalid(
                "RS_REQUIRED_SCOPE",
                "must be one scope (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)",
            ));
        }
        let mut tools: Vec<(String, String)> = Vec::new();
        let mut protect_everything = false;
        for entry in (self.require_auth_for_tools.iter()).map(|entry| entry.trim()) {
            let (tool, scope) = match entry.split_once('=') {
                Some((tool, scope)) => (tool.trim(), scope.trim()),
                None => (entry, required_scope),
            };
            if entry.is_empty() {
                continue;
            }
            if tool == "*" {
                if scope != required_scope {
                    return Err(ConfigError::Invalid(
                        "RS_REQUIRE_AUTH_FOR_TOOLS",
                        "`*` takes RS_REQUIRED_SCOPE; give it no scope of its own",
                    ));
                }
                protect_everything = true;
                continue;
            }
            if tool.is_empty() || !is_scope_token(scope) {
                return Err(ConfigError::Invalid(
                    "RS_REQUIRE_AUTH_FOR_TOOLS",
                    "each entry is a tool name, or `tool=scope` with one scope (RFC 6749 §3.3)",
                ));
            }
            if tools.iter().any(|(known, _)| known == tool) {
                return Err(ConfigError::Invalid(
                    "RS_REQUIRE_AUTH_FOR_TOOLS",
                    "a tool is named twice",
                ));
            }
            tools.push((tool.to_owned(), scope.to_owned()));
        }
        // RFC 9728 §3.1: the metadata of `https://host/mcp` lives at
        // `https://host/.well-known/oauth-protected-resource/mcp`.
        // The normalised form (lower-case host, no default port) is the one
        // the metadata, the challenge and the audience check all use.
        let resource = public_url.as_str().trim_end_matches('/').to_owned();
        let mut metadata_url = public_url.clone();
        let path = public_url.path().trim_end_matches('/');
        metadata_url.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
        let introspection_url =
            format!("{}/introspect", self.auth_server_url.trim_end_matches('/'));
        let jwks_url = format!("{}/jwks.json", self.auth_server_url.trim_end_matches('/'));
        Ok(AuthSettings {
            resource,
            resource_metadata_url: metadata_url.to_string(),
            authorization_server: auth_server.as_str().trim_end_matches('/').to_owned(),
            introspection_url,
            jwks_url,
            local_jwt: self.token_check == TokenCheck::Local,
            introspect_tools: (self.introspect_tools.iter())
                .map(|tool| tool.trim().to_owned())
                .filter(|tool| !tool.is_empty())
                .collect(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            required_scope: required_scope.to_owned(),
            protect_everything,
            protected_tools: tools,
            cache_ttl: self.introspection_cache_ttl,
            timeout: self.introspection_timeout,
            clock: self.clock.clone(),
        })
    }
    // ANCHOR_END: validate
}

/// What the protection needs, checked and derived from [`Config`].
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The canonical resource URL: the only accepted audience (rule RS-03).
    pub resource: String,
    /// Absolute URL of our protected-resource metadata (rule RS-04).
    pub resource_metadata_url: String,
    /// The authorization server, as listed in our metadata.
    pub authorization_server: String,
    pub introspection_url: String,
    /// The authorization server's published keys (`jwks_uri`).
    pub jwks_url: String,
    /// Whether signed access tokens are checked here, with those keys.
    pub local_jwt: bool,
    /// Tools whose calls introspect every token all the same.
    pub introspect_tools: Vec<String>,
    pub client_id: String,
    pub client_secret: String,
    /// The scope of `*` and of protected tools that name none.
    pub required_scope: String,
    /// Each protected tool and the scope it needs (rule P6-05).
    pub protected_tools: Vec<(String, String)>,
    pub protect_everything: bool,
    pub cache_ttl: Duration,
    pub timeout: Duration,
    pub clock: Clock,
}

/// `RS_TOKEN_CHECK`: where a signed access token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenCheck {
    /// Here, with the published keys (rule P6-04).
    Local,
    /// At the authorization server, by introspection (rule RS-13).
    Introspection,
}

impl AuthSettings {
    /// Whether calling `tool` needs a token.
    pub fn is_protected(&self, tool: &str) -> bool {
        self.protect_everything || self.scope_of(tool).is_some()
    }

    /// The scope a call of `tool` needs, when the tool is protected by name.
    pub fn scope_of(&self, tool: &str) -> Option<&str> {
        (self.protected_tools.iter())
            .find(|(name, _)| name == tool)
            .map(|(_, scope)| scope.as_str())
    }

    /// Every scope some call needs, each once: what the protected-resource
    /// metadata lists as `scopes_supported` (RFC 9728 §2).
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        let everything = self
            .protect_everything
            .then_some(self.required_scope.as_str());
        for scope in everything
            .into_iter()
            .chain(self.protected_tools.iter().map(|(_, s)| s.as_str()))
        {
            if !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
        if scopes.is_empty() {
            scopes.push(self.required_scope.clone());
        }
        scopes
    }
}

/// One scope token of RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`, so that it
/// can stand inside a quoted `scope="…"` challenge unescaped.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A configuration that cannot work; start-up stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not an http or https URL (\"{1}\"): {2}")]
    Url(&'static str, String, String),
    #[error("{0}: {1}")]
    Invalid(&'static str, &'static str),
}

/// `value` as an absolute `http` or `https` URL with a host: `localhost:9000`
/// parses as a URL of scheme `localhost`, and would fail on every request.
fn web_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value)
        .map_err(|error| ConfigError::Url(name, value.to_owned(), error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        let reason = format!("write it with its scheme, as in http://{value}");
        return Err(ConfigError::Url(name, value.to_owned(), reason));
    }
    Ok(url)
}

/// Parses a duration written as whole seconds (`5`) or milliseconds
/// (`250ms`), the value of a duration flag.
pub fn duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.strip_suffix("ms") {
        Some(millis) => (millis, Duration::from_millis(1)),
        None => (
            value.strip_suffix('s').unwrap_or(value),
            Duration::from_secs(1),
        ),
    };
    number
        .trim()
        .parse::<u32>()
        .map(|count| unit * count)
        .map_err(|_| "expected whole seconds (5) or milliseconds (250ms)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_is_path_inserted() {
        let settings = Config::for_tests("http://localhost:9000/")
            .validate()
            .expect("valid");
        assert_eq!(settings.resource, "http://localhost:8000/mcp");
        assert_eq!(
            settings.resource_metadata_url,
            "http://localhost:8000/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            settings.introspection_url,
            "http://localhost:9000/introspect"
        );
        assert!(settings.is_protected("server_time"));
        assert!(!settings.is_protected("greet"));
    }

    /// P6-05: the defaults give each protected tool its own scope, and the
    /// metadata lists each scope once.
    #[test]
    fn p605_each_tool_names_its_scope() {
        use clap::Parser;
        let config = Config::try_parse_from(["rs"]).expect("defaults parse");
        let settings = config.validate().expect("valid");
        assert_eq!(settings.scope_of("server_time"), Some("time:read"));
        assert_eq!(settings.scope_of("whoami"), Some("account:read"));
        assert_eq!(settings.scope_of("greet"), None);
        assert_eq!(settings.scopes_supported(), ["time:read", "account:read"]);

        let mut config = Config::for_tests("http://localhost:9000");
        config.require_auth_for_tools = ["*", "whoami=account:read", "server_time"]
            .map(str::to_owned)
            .to_vec();
        let settings = config.validate().expect("valid");
        assert!(settings.is_protected("greet"));
        assert_eq!(settings.scope_of("server_time"), Some("mcp:tools"));
        assert_eq!(settings.scopes_supported(), ["mcp:tools", "account:read"]);
    }

    /// P6-05: a scope that could break out of the quoted `scope="…"` of a
    /// challenge, a tool named twice, or `*` with its own scope stop start-up.
    #[test]
    fn p605_bad_tool_scopes_are_refused() {
        for entries in [
            vec!["server_time=time read"],
            vec!["server_time=a\"b"],
            vec!["server_time="],
            vec!["=time:read"],
            vec!["server_time=a", "server_time=b"],
            vec!["*=admin"],
        ] {
            let mut config = Config::for_tests("http://localhost:9000");
            config.require_auth_for_tools = entries.iter().map(|e| (*e).to_owned()).collect();
            let error = config.validate().expect_err("refused");
            assert!(
                error.to_string().contains("RS_REQUIRE_AUTH_FOR_TOOLS"),
                "{entries:?}: {error}"
            );
        }
        let mut config = Config::for_tests("http://localhost:9000");
        config.required_scope = "a\"b".into();
        let error = config.validate().expect_err("refused");
        assert!(error.to_string().contains("RS_REQUIRED_SCOPE"), "{error}");
    }

    #[test]
    fn bad_configuration_is_refused() {
        let mut config = Config::for_tests("http://localhost:9000");
        config.public_url = "not a url".into();
        assert!(config.validate().is_err());
        let mut config = Config::for_tests("http://localhost:9000");
        config.client_secret = String::new();
        let error = config.validate().expect_err("empty secret");
        assert!(error.to_string().contains("RS_CLIENT_SECRET"));
        let mut config = Config::for_tests("::nope");
        config.auth_server_url = "::nope".into();
        assert!(config.validate().is_err());
    }

    #[test]
    fn a_url_without_scheme_is_refused() {
        let config = Config::for_tests("localhost:9000");
        let error = config.validate().expect_err("no scheme");
        assert!(
            error.to_string().contains("http://localhost:9000"),
            "{error}"
        );
    }

    #[test]
    fn durations_are_seconds_or_milliseconds() {
        assert_eq!(duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(duration("five").is_err());
        assert!(duration("-1").is_err());
        assert!(duration("1.5").is_err());
    }

    #[test]
    fn star_protects_everything() {
        let mut config = Config::for_tests("http://localhost:9000");
        config.require_auth_for_tools = vec!["*".into()];
        let settings = config.validate().expect("valid");
        assert!(settings.protect_everything);
        assert!(settings.is_protected("greet"));
    }
}
