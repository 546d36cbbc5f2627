//! `browser https login (part 6)`: part 6's authorization server and
//! resource server on `https://localhost` (rule P6-10), with a CA made for
//! the run by `cargo xtask dev-cert`'s code, and a real headless Chromium
//! that trusts that CA, and nothing else of ours, logging in.
//!
//! Chromium on Linux reads the authorities it trusts from the NSS database
//! in `$HOME/.pki/nssdb`, so the check makes a database of its own with
//! `certutil` (Debian's `libnss3-tools`, installed when missing) in a
//! temporary home, adds the CA to it, and starts chromedriver with that
//! `HOME`. The client and the resource server trust the CA through
//! `SSL_CERT_FILE`. The check fails unless:
//!
//! - Chromium shows the login form at the https URL (a certificate it did
//!   not trust would show its warning page instead, with no form);
//! - the browser keeps the session cookie as `__Host-as_session`, `Secure`
//!   and `HttpOnly` (Chromium refuses a `__Host-` cookie that is not
//!   `Secure` or was not set over https);
//! - after Approve, the client exits 0 with a successful `server_time`
//!   call, its token obtained over https.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, ensure};

use super::{
    Setup,
    browser::{ClientRun, LoginForm, server_time_called},
    system::{PASSWORD, USERNAME},
    webdriver::Driver,
};
use crate::{
    dev_cert,
    process::{self, Server},
};

/// The part-6 login over https in Chromium.
pub async fn login(setup: &Setup, chromium: &Path, chromedriver: &Path) -> Result<()> {
    let dir = setup.out.join("https");
    let _ = std::fs::remove_dir_all(&dir);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let certs = dev_cert::make(&dir.join("certs"))?;
    let home = trusting_home(&dir.join("home"), &certs.ca)?;
    let built = process::cargo_build(&[
        "--quiet",
        "--bin",
        "part6-as",
        "--bin",
        "part6-rs",
        "--bin",
        "part6-client",
    ])?;

    let [as_port, rs_port] = process::free_ports()?;
    let issuer = format!("https://localhost:{as_port}");
    let mcp_url = format!("https://localhost:{rs_port}/mcp");
    let path = |file: &PathBuf| file.display().to_string();
    let (cert, key) = (path(&certs.cert), path(&certs.key));
    let as_env: Vec<(&str, String)> = vec![
        ("AS_HOST", "127.0.0.1".into()),
        ("AS_SERVER_PORT", as_port.to_string()),
        ("AS_ISSUER", issuer.clone()),
        ("AS_RESOURCES", mcp_url.clone()),
        ("AS_DATABASE_URL", "sqlite::memory:".into()),
        ("AS_DEMO_USERNAME", USERNAME.into()),
        ("AS_DEMO_PASSWORD", PASSWORD.into()),
        ("AS_TLS_CERT", cert.clone()),
        ("AS_TLS_KEY", key.clone()),
    ];
    let _authorization_server = Server::start(
        "part6-as",
        built.get("part6-as")?,
        &as_env,
        as_port,
        &logs.join("as.log"),
    )?;
    let rs_env: Vec<(&str, String)> = vec![
        ("RS_HOST", "127.0.0.1".into()),
        ("RS_PORT", rs_port.to_string()),
        ("RS_PUBLIC_URL", mcp_url.clone()),
        ("RS_AUTH_SERVER_URL", issuer.clone()),
        ("RS_TLS_CERT", cert),
        ("RS_TLS_KEY", key),
        ("SSL_CERT_FILE", path(&certs.ca)),
    ];
    let _resource_server = Server::start(
        "part6-rs",
        built.get("part6-rs")?,
        &rs_env,
        rs_port,
        &logs.join("rs.log"),
    )?;

    let driver = Driver::start(chromedriver, &logs.join("chromedriver.log"), Some(&home)).await?;
    let session = driver.session(chromium, &dir.join("profile")).await?;
    let result = async {
        let mut command = tokio::process::Command::new(built.get("part6-client")?);
        command
            .args(["--server-url", &mcp_url])
            .env("SSL_CERT_FILE", &certs.ca);
        let client = ClientRun::start(command, "part6-client").await?;
        ensure!(
            client.url.starts_with(&format!("{issuer}/authorize?")),
            "the client sent the browser to {}, not to {issuer}",
            client.url
        );
        session.navigate(&client.url).await?;
        let shown = session.current_url().await?;
        let form = LoginForm::find(&session)
            .await
            .with_context(|| format!("Chromium shows no login form at {shown}"))?;
        host_cookie_kept(&session.cookies().await?)?;
        form.approve(&session).await?;
        let output = client.finish(&session).await?;
        server_time_called(&output)
    }
    .await;
    session.close().await;
    driver.stop().await;
    result
}

/// A home directory whose NSS database trusts `ca` to identify servers.
fn trusting_home(home: &Path, ca: &Path) -> Result<PathBuf> {
    let certutil = process::ensure_debian_program("certutil", "libnss3-tools")?;
    let nssdb = home.join(".pki/nssdb");
    std::fs::create_dir_all(&nssdb)?;
    let database = format!("sql:{}", nssdb.display());
    let run = |args: &[&str]| -> Result<()> {
        let output = Command::new(&certutil)
            .args(args)
            .output()
            .context("cannot run certutil")?;
        ensure!(
            output.status.success(),
            "certutil {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    run(&["-N", "-d", &database, "--empty-password"])?;
    let ca = ca.display().to_string();
    // `C,,`: a trusted authority for servers' certificates, nothing else.
    run(&[
        "-A",
        "-d",
        &database,
        "-n",
        "MCP OAuth tutorial local CA",
        "-t",
        "C,,",
        "-i",
        &ca,
    ])?;
    Ok(home.to_path_buf())
}

/// Chromium holds the session cookie as `__Host-as_session`, `Secure` and
/// `HttpOnly`.
fn host_cookie_kept(cookies: &[serde_json::Value]) -> Result<()> {
    let cookie = cookies
        .iter()
        .find(|cookie| cookie["name"] == "__Host-as_session")
        .with_context(|| {
            let names: Vec<_> = cookies.iter().map(|cookie| &cookie["name"]).collect();
            format!("Chromium holds no __Host-as_session cookie; it holds {names:?}")
        })?;
    ensure!(
        cookie["secure"] == true && cookie["httpOnly"] == true && cookie["path"] == "/",
        "the session cookie should be Secure, HttpOnly, Path=/: {cookie}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::host_cookie_kept;

    #[test]
    fn the_session_cookie_must_be_host_prefixed_secure_and_http_only() {
        let good =
            json!({"name": "__Host-as_session", "secure": true, "httpOnly": true, "path": "/"});
        assert!(host_cookie_kept(&[good]).is_ok());
        let insecure =
            json!({"name": "__Host-as_session", "secure": false, "httpOnly": true, "path": "/"});
        assert!(host_cookie_kept(&[insecure]).is_err());
        let plain = json!({"name": "as_session", "secure": true, "httpOnly": true, "path": "/"});
        assert!(host_cookie_kept(&[plain]).is_err());
    }
}
