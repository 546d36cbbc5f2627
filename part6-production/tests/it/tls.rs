//! HTTPS on both servers (rule P6-10): a CA made for the test, a
//! certificate for `localhost` signed by it, and clients that trust that CA
//! only. The whole flow runs over https with the real binaries; the
//! in-process tests look at what a browser and a misconfigured start see.

// Helpers outside `#[test]` functions may fail loudly too: this is test code.
#![allow(clippy::expect_used)]

use std::{
    io::Read as _,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use this_part::{Config, authorization_server, serve, tls};
use tokio::net::TcpListener;

use crate::support::{ACCEPT, Pkce, REDIRECT_URI, http, initialize_body};

/// A CA, and a certificate for `localhost` and 127.0.0.1 signed by it,
/// as PEM files in a temporary directory.
struct Certs {
    dir: tempfile::TempDir,
    ca: String,
}

impl Certs {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_pem = ca.self_signed(&ca_key).expect("CA certificate").pem();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("leaf parameters");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_pem = leaf
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate")
            .pem();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).expect("write");
        std::fs::write(dir.path().join("localhost.pem"), leaf_pem).expect("write");
        std::fs::write(
            dir.path().join("localhost-key.pem"),
            leaf_key.serialize_pem(),
        )
        .expect("write");
        Self { dir, ca: ca_pem }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn chain(&self) -> tls::CertChain {
        tls::cert_chain(&self.file("localhost.pem")).expect("the chain reads")
    }

    fn key(&self) -> tls::PrivateKey {
        tls::private_key(&self.file("localhost-key.pem")).expect("the key reads")
    }

    /// A client that trusts this CA and nothing else.
    fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca.as_bytes()).expect("CA PEM");
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }
}

/// The authorization server, in this process, serving https on
/// `https://localhost:<port>` with `header_read_timeout` seconds.
async fn https_as(certs: &Certs, header_read_timeout: u64) -> (String, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let issuer = format!("https://localhost:{port}");
    let mut config = authorization_server::Config::for_tests(&issuer);
    config.tls_cert = Some(certs.chain());
    config.tls_key = Some(certs.key());
    config.limits.header_read_timeout = header_read_timeout;
    tokio::spawn(authorization_server::serve(
        listener,
        config,
        std::future::pending(),
    ));
    (issuer, port)
}

/// Over https the issuer is https, and the login page's session cookie is
/// `__Host-` and `Secure`; plain http to the same port gets no answer, and
/// a client that does not trust the CA gets none either.
#[tokio::test]
async fn p610_the_authorization_server_serves_https_with_a_host_cookie() {
    let certs = Certs::new();
    let (issuer, port) = https_as(&certs, 10).await;
    let client = certs.client();

    let metadata: Value = (client.get(format!("{issuer}/.well-known/oauth-authorization-server")))
        .send()
        .await
        .expect("metadata over https")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metadata["issuer"], issuer.as_str());
    for endpoint in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        let url = metadata[endpoint].as_str().expect(endpoint);
        assert!(url.starts_with(&format!("{issuer}/")), "{endpoint}: {url}");
    }

    let registered: Value = (client.post(format!("{issuer}/register")))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "client_name": "tls test",
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    let client_id = registered["client_id"].as_str().expect("client_id");
    let pkce = Pkce::new();
    let page = (client.get(format!("{issuer}/authorize")))
        .query(&crate::support::authorize_params(
            client_id,
            &pkce,
            "state-0123456789",
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let cookie = (page.headers().get("set-cookie"))
        .and_then(|value| value.to_str().ok())
        .expect("a session cookie");
    assert!(cookie.starts_with("__Host-as_session="), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for wanted in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(attributes.contains(&wanted), "{cookie}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");

    let plain = http()
        .get(format!(
            "http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await;
    assert!(plain.is_err(), "plain http got an answer: {plain:?}");
    let untrusted = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await;
    assert!(untrusted.is_err(), "a CA nobody trusts was accepted");
    let again = client
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("still served after the failed handshakes");
    assert_eq!(again.status(), reqwest::StatusCode::OK);
}

/// A connection that never starts its handshake is closed after the
/// header-read timeout (rule AS-19), like one that never sends a request.
#[tokio::test]
async fn p610_a_silent_connection_is_closed_after_the_header_timeout() {
    let certs = Certs::new();
    let (_, port) = https_as(&certs, 1).await;
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buffer = [0u8; 64];
        silent.read(&mut buffer)
    })
    .await
    .expect("joined");
    assert!(matches!(closed, Ok(0)), "{closed:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

/// The resource server over https, with HTTP/2 chosen by ALPN.
#[tokio::test]
async fn p610_the_resource_server_serves_https_and_http2() {
    let certs = Certs::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut config = Config::for_tests("https://localhost:9");
    config.auth_enabled = false;
    config.public_url = format!("https://localhost:{port}/mcp");
    config.tls_cert = Some(certs.chain());
    config.tls_key = Some(certs.key());
    tokio::spawn(serve(listener, config, std::future::pending()));

    let response = (certs.client().post(format!("https://localhost:{port}/mcp")))
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&initialize_body())
        .send()
        .await
        .expect("initialize over https");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(response.headers().contains_key("mcp-session-id"));
}

/// A free port on 127.0.0.1, for a server binary to bind.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A server binary, killed when dropped.
struct Server(Child);

impl Server {
    fn start(binary: &str, port: u16, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{binary} exited: {status}");
            }
            assert!(Instant::now() < deadline, "{binary} did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `part6-as`, `part6-rs` and `part6-client` (with the scripted browser) on
/// `https://localhost`: discovery, registration, the login, the token
/// exchange, the key set and every tool call cross TLS, and each process
/// trusts the test CA through `SSL_CERT_FILE` alone. Without it the client
/// refuses the server.
#[test]
fn p610_the_whole_flow_runs_on_https() {
    let certs = Certs::new();
    let (as_port, rs_port) = (free_port(), free_port());
    let issuer = format!("https://localhost:{as_port}");
    let mcp_url = format!("https://localhost:{rs_port}/mcp");
    let (cert, key, ca) = (
        certs.file("localhost.pem"),
        certs.file("localhost-key.pem"),
        certs.file("ca.pem"),
    );
    let (as_port_text, rs_port_text) = (as_port.to_string(), rs_port.to_string());
    let _as = Server::start(
        crate::AS,
        as_port,
        &[
            ("AS_SERVER_PORT", &as_port_text),
            ("AS_ISSUER", &issuer),
            ("AS_RESOURCES", &mcp_url),
            ("AS_SCOPES", "mcp:tools,time:read,account:read"),
            ("AS_DATABASE_URL", "sqlite::memory:"),
            ("AS_TLS_CERT", &cert),
            ("AS_TLS_KEY", &key),
            ("AS_LOG_LEVEL", "warn"),
        ],
    );
    let _rs = Server::start(
        crate::RS,
        rs_port,
        &[
            ("RS_PORT", &rs_port_text),
            ("RS_PUBLIC_URL", &mcp_url),
            ("RS_AUTH_SERVER_URL", &issuer),
            ("RS_TLS_CERT", &cert),
            ("RS_TLS_KEY", &key),
            ("RS_LOG_LEVEL", "warn"),
            ("SSL_CERT_FILE", &ca),
        ],
    );
    let cache = certs.path("tokens.json");
    let run = |trust: Option<&str>| {
        let mut client = Command::new(crate::CLIENT);
        client
            .env_clear()
            .args(["--server-url", &mcp_url, "--json", "--login-timeout", "30"])
            .args(["--call", "greet,server_time,whoami"])
            .env("BROWSER", crate::SCRIPTED_BROWSER)
            .env("MCP_TOKEN_CACHE", &cache);
        if let Some(ca) = trust {
            client.env("SSL_CERT_FILE", ca);
        }
        client.output().expect("the client runs")
    };
    let output = run(Some(&ca));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let tools: Vec<&str> = (outcome["calls"].as_array().expect("calls").iter())
        .map(|call| call["tool"].as_str().expect("tool"))
        .collect();
    assert_eq!(tools, ["greet", "server_time", "whoami"]);
    assert_eq!(
        outcome["calls"][2]["result"]["structuredContent"]["scopes"],
        json!(["time:read", "account:read"]),
        "{outcome}"
    );
    assert!(stderr.contains(&issuer), "{stderr}");

    let refused = run(None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}

/// Runs `binary` with `args` and `env` until it exits; (code, stderr).
fn refusal(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(binary)
        .env_clear()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// A TLS setting that cannot work stops the start with a plain message:
/// one file without the other, a file that is not PEM, a key that is not
/// the certificate's, and an http URL on a server that serves https.
#[test]
fn p610_tls_settings_are_checked_at_start() {
    let certs = Certs::new();
    let other = Certs::new();
    let (cert, key) = (certs.file("localhost.pem"), certs.file("localhost-key.pem"));
    let port = "--port=0";

    let database = "--database-url=sqlite::memory:";
    let (code, stderr) = refusal(crate::AS, &[port, database, "--tls-cert", &cert], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("only one of --tls-cert and --tls-key"),
        "{stderr}"
    );

    let not_pem = certs.path("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    let not_pem = not_pem.display().to_string();
    let (code, stderr) = refusal(
        crate::AS,
        &[port],
        &[("AS_TLS_CERT", &not_pem), ("AS_TLS_KEY", &key)],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("AS_TLS_CERT"), "{stderr}");
    assert!(stderr.contains("holds no PEM certificate"), "{stderr}");

    let issuer = "--issuer=https://localhost:9000";
    let wrong_key = other.file("localhost-key.pem");
    let (code, stderr) = refusal(
        crate::AS,
        &[
            port,
            issuer,
            database,
            "--tls-cert",
            &cert,
            "--tls-key",
            &wrong_key,
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot serve https"), "{stderr}");
    assert!(stderr.contains("cargo xtask dev-cert"), "{stderr}");

    let (code, stderr) = refusal(
        crate::AS,
        &[port, database, "--tls-cert", &cert, "--tls-key", &key],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("publishes the URL http://localhost:9000"),
        "{stderr}"
    );
    assert!(stderr.contains("AS_ISSUER"), "{stderr}");

    let (code, stderr) = refusal(
        crate::RS,
        &[port, "--tls-cert", &cert, "--tls-key", &key],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("publishes the URL http://localhost:8000/mcp"),
        "{stderr}"
    );
    assert!(stderr.contains("RS_PUBLIC_URL"), "{stderr}");
}
