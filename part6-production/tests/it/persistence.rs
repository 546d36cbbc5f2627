//! Part 6's promise, through the real HTTP interface: the authorization
//! server forgets nothing when it restarts, and several instances on one
//! database serve one flow, with single use holding across them (rule
//! AS-03, AS-08, P6-01, P6-02).
//!
//! The SQLite tests run everywhere. The PostgreSQL ones need a server:
//! `cargo xtask test` starts one and passes its URL in
//! `PART6_POSTGRES_URL`; each test creates a database of its own there.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection as _;

use crate::support::{
    Pkce, RESOURCE, RegisteredClient, TestAs, TokenResponse, authorize_code, exchange_code, http,
    introspect, obtain_tokens, register_public_client, token_request,
};

// ANCHOR: restart
/// kill -9 after the login and before the token exchange, then start again
/// on the same SQLite file: the code still redeems, and a refresh token
/// issued before the kill still works (rule P6-01).
#[tokio::test]
async fn p601_a_killed_server_forgets_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}", dir.path().join("as.db").display());
    let mut server = RealAs::start(&database);
    let issuer = server.issuer.clone();

    let before = obtain_tokens(&issuer, RESOURCE, "mcp:tools").await;
    let client = register_public_client(&issuer).await;
    let pkce = Pkce::new();
    let code = authorize_code(&issuer, &client, &pkce).await;

    server.kill_and_restart();

    let response = exchange_code(&issuer, &client, &code, &pkce).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the code redeems after the restart"
    );
    let after = refresh(&issuer, &before.client, &before.tokens).await;
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "the refresh token works after the restart"
    );
    let after: TokenResponse = after.json().await.expect("token JSON");
    assert_eq!(
        introspect(&issuer, &after.access_token).await["active"],
        true
    );
    assert_eq!(
        introspect(&issuer, &before.tokens.access_token).await["active"],
        true,
        "an access token issued before the kill is still known"
    );
}
// ANCHOR_END: restart

/// Two instances on one SQLite file serve one flow alternately.
#[tokio::test]
async fn p602_two_instances_share_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}", dir.path().join("as.db").display());
    two_instances_serve_one_flow(&database).await;
}

/// Two instances on one PostgreSQL database serve one flow alternately.
#[tokio::test]
async fn p602_two_instances_share_one_postgres_database() {
    let Some(database) = postgres_database().await else {
        return;
    };
    two_instances_serve_one_flow(&database).await;
}

// ANCHOR: two_instances
/// Authorize and log in at A, redeem at B, refresh at A, introspect at B; a
/// code replayed at the other instance is refused and revokes what it
/// gave; a refresh token replayed at the other instance revokes its grant;
/// two instances racing on one code issue exactly one token set (rule
/// AS-03, AS-08, P6-02).
async fn two_instances_serve_one_flow(database: &str) {
    let a = TestAs::start_with(|config| config.database_url = database.into()).await;
    let b = TestAs::start_with(|config| config.database_url = database.into()).await;
    let (a, b) = (a.issuer.clone(), b.issuer.clone());

    let client = register_public_client(&a).await;
    let pkce = Pkce::new();
    let code = authorize_code(&a, &client, &pkce).await;
    let first = exchange_code(&b, &client, &code, &pkce).await;
    assert_eq!(first.status(), StatusCode::OK, "a code from A redeems at B");
    let first: TokenResponse = first.json().await.expect("token JSON");
    let refresh_token = first.refresh_token.clone().expect("a refresh token");

    let rotated = refresh(&a, &client, &first).await;
    assert_eq!(
        rotated.status(),
        StatusCode::OK,
        "B's refresh token rotates at A"
    );
    let rotated: TokenResponse = rotated.json().await.expect("token JSON");
    assert_eq!(introspect(&b, &rotated.access_token).await["active"], true);

    // The retired refresh token, replayed at B: refused, and the grant goes.
    let replay = token_request(
        &b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &client.client_id),
        ],
    )
    .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(introspect(&a, &rotated.access_token).await["active"], false);

    // The code, replayed at A: refused, and the tokens of its first use go.
    let pkce = Pkce::new();
    let code = authorize_code(&b, &client, &pkce).await;
    let issued = exchange_code(&a, &client, &code, &pkce).await;
    let issued: TokenResponse = issued.json().await.expect("token JSON");
    let replay = exchange_code(&b, &client, &code, &pkce).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let error: Value = replay.json().await.expect("error JSON");
    assert_eq!(error["error"], "invalid_grant");
    assert_eq!(introspect(&a, &issued.access_token).await["active"], false);

    // Two instances racing on one code: exactly one token set.
    for _ in 0..5 {
        let pkce = Pkce::new();
        let code = authorize_code(&a, &client, &pkce).await;
        let (at_a, at_b) = tokio::join!(
            exchange_code(&a, &client, &code, &pkce),
            exchange_code(&b, &client, &code, &pkce)
        );
        let statuses = [at_a.status(), at_b.status()];
        let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(won, 1, "exactly one redemption wins: {statuses:?}");
    }
}
// ANCHOR_END: two_instances

/// The database going away while the server runs: 503 with
/// `Retry-After`, never a 500; service resumes when it returns (rule
/// P6-08).
#[tokio::test]
async fn p608_a_lost_database_is_503_then_service_resumes() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let server = TestAs::start_with(|config| config.database_url = database.clone()).await;
    let issuer = server.issuer.clone();
    let before = obtain_tokens(&issuer, RESOURCE, "mcp:tools").await;

    let name = database
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    take_database_away(&name).await;

    let response = http()
        .post(format!("{issuer}/introspect"))
        .basic_auth(
            crate::support::RS_CLIENT_ID,
            Some(crate::support::RS_CLIENT_SECRET),
        )
        .form(&[("token", before.tokens.access_token.as_str())])
        .send()
        .await
        .expect("introspect");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let error: Value = response.json().await.expect("error JSON");
    assert_eq!(error["error"], "temporarily_unavailable");
    let page = http()
        .get(format!(
            "{issuer}/authorize?client_id={}",
            before.client.client_id
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers().contains_key("retry-after"));

    give_database_back(&name).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = introspect_status(&issuer, &before.tokens.access_token).await;
        if answer == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        introspect(&issuer, &before.tokens.access_token).await["active"],
        true
    );
}

/// A database it cannot reach, or a schema newer than it knows: the
/// binary says so in two lines and exits 1 (rule P6-08).
#[tokio::test]
async fn p608_an_unusable_database_stops_the_start_with_a_plain_message() {
    let (code, stderr) = run_to_exit(&[("AS_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(stderr.contains("AS_DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");

    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}", dir.path().join("as.db").display());
    this_part::authorization_server::logic::store::open(&database)
        .await
        .expect("a fresh database");
    let mut connection = sqlx::SqliteConnection::connect(&database)
        .await
        .expect("connect");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer server', TRUE, X'00', 0)",
    )
    .execute(&mut connection)
    .await
    .expect("a newer migration recorded");
    connection.close().await.expect("close");
    let (code, stderr) = run_to_exit(&[("AS_DATABASE_URL", &database)]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("newer than this server knows"), "{stderr}");
}

/// `POST /token` with the refresh grant, for `client`.
async fn refresh(
    issuer: &str,
    client: &RegisteredClient,
    tokens: &TokenResponse,
) -> reqwest::Response {
    let refresh_token = tokens.refresh_token.as_deref().expect("a refresh token");
    token_request(
        issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &client.client_id),
        ],
    )
    .await
}

async fn introspect_status(issuer: &str, token: &str) -> StatusCode {
    http()
        .post(format!("{issuer}/introspect"))
        .basic_auth(
            crate::support::RS_CLIENT_ID,
            Some(crate::support::RS_CLIENT_SECRET),
        )
        .form(&[("token", token)])
        .send()
        .await
        .map_or(StatusCode::BAD_GATEWAY, |response| response.status())
}

/// A fresh database on the PostgreSQL of `PART6_POSTGRES_URL`, or `None`
/// (after saying so) when the variable is not set. Under CI a missing
/// server is a failure, never a skip.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("PART6_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests: run them with `cargo xtask test`, which starts PostgreSQL"
        );
        eprintln!("skipped: PART6_POSTGRES_URL is not set (`cargo xtask test` sets it)");
        return None;
    };
    let name = format!("part6_{}", uuid::Uuid::new_v4().simple());
    admin(&format!("CREATE DATABASE {name}")).await;
    let mut url = url::Url::parse(&admin_url).expect("PART6_POSTGRES_URL is a URL");
    url.set_path(&name);
    Some(url.to_string())
}

/// Makes database `name` refuse new connections and ends the open ones,
/// as a database that went away would.
pub async fn take_database_away(name: &str) {
    admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .await;
}

/// Lets database `name` take connections again.
pub async fn give_database_back(name: &str) {
    admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
}

/// Runs one statement on the PostgreSQL of `PART6_POSTGRES_URL`.
async fn admin(statement: &str) {
    let admin_url = std::env::var("PART6_POSTGRES_URL").expect("PART6_POSTGRES_URL");
    let mut connection = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut connection)
        .await
        .expect(statement);
    connection.close().await.expect("close");
}

/// The real `part6-as` binary on a free port, restartable on the same one.
struct RealAs {
    issuer: String,
    port: String,
    database: String,
    child: Child,
}

impl RealAs {
    fn start(database: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port()
            .to_string();
        let issuer = format!("http://127.0.0.1:{port}");
        let child = Self::spawn(&port, &issuer, database);
        Self {
            issuer,
            port,
            database: database.to_owned(),
            child,
        }
    }

    fn spawn(port: &str, issuer: &str, database: &str) -> Child {
        let mut child = Command::new(crate::AS)
            .args(["--port", port, "--issuer", issuer])
            .env("AS_DATABASE_URL", database)
            .env("AS_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("part6-as starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the authorization server exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the authorization server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// SIGKILL: no shutdown, no flush; then the same binary, port and file.
    fn kill_and_restart(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
        self.child = Self::spawn(&self.port, &self.issuer, &self.database);
    }
}

impl Drop for RealAs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `part6-as` with `env` until it exits, or fails the test if it is
/// still running after 20 s; (exit code, stderr).
fn run_to_exit(env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(crate::AS)
        .args(["--port", "0"])
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("part6-as runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("part6-as kept running instead of refusing to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    (output.status.code().expect("an exit code"), stderr)
}
