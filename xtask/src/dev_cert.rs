//! `cargo xtask dev-cert [--out DIR]`: a local certificate authority and a
//! certificate for `localhost` signed by it, so part 6 runs on
//! `https://localhost` (rule P6-10).
//!
//! It writes three PEM files (default `target/dev-cert/`):
//!
//! - `ca.pem`: the CA's certificate, which clients are told to trust
//!   (`SSL_CERT_FILE` for the part-6 binaries, an NSS database for
//!   Chromium);
//! - `localhost.pem` and `localhost-key.pem`: the servers' certificate
//!   (for `localhost`, `127.0.0.1` and `::1`) and its private key, for
//!   `--tls-cert` and `--tls-key`.
//!
//! The CA's private key is never written: once the command ends, nobody can
//! sign another certificate with that CA, so trusting it trusts these
//! servers only. Run it again for a new pair (and a new CA).

use std::{
    fs,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};

use crate::workspace;

/// The files [`make`] wrote.
#[derive(Debug, Clone)]
pub struct DevCert {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    let out = match args {
        [] => workspace::root().join("target/dev-cert"),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask dev-cert [--out DIR]"),
    };
    let made = make(&out)?;
    let show = |path: &Path| {
        path.strip_prefix(workspace::root())
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let (ca, cert, key) = (show(&made.ca), show(&made.cert), show(&made.key));
    println!(
        "wrote {ca} (the CA to trust), {cert} and {key} (for localhost, 127.0.0.1 and ::1)

part 6 on https://localhost, one command per terminal:

  AS_ISSUER=https://localhost:9000 AS_RESOURCES=https://localhost:8000/mcp \\
    AS_TLS_CERT={cert} AS_TLS_KEY={key} \\
    cargo run -p part6-production --bin part6-as
  RS_PUBLIC_URL=https://localhost:8000/mcp RS_AUTH_SERVER_URL=https://localhost:9000 \\
    RS_TLS_CERT={cert} RS_TLS_KEY={key} SSL_CERT_FILE={ca} \\
    cargo run -p part6-production --bin part6-rs
  SSL_CERT_FILE={ca} cargo run -p part6-production --bin part6-client -- \\
    --server-url https://localhost:8000/mcp

SSL_CERT_FILE makes a process trust {ca} instead of the system's CAs.
For your browser, import {ca} as an authority (Chromium: Settings, Privacy
and security, Security, Manage certificates); remove it when you are done."
    );
    Ok(())
}

/// Makes a new CA and a certificate for localhost signed by it in `out`.
pub fn make(out: &Path) -> Result<DevCert> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let year = current_year();
    let (not_before, not_after) = (date_time_ymd(year - 1, 1, 1), date_time_ymd(year + 1, 1, 1));

    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    (ca.distinguished_name).push(DnType::CommonName, "MCP OAuth tutorial local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca_key = KeyPair::generate().context("cannot make the CA's key")?;
    let ca_cert = ca.self_signed(&ca_key).context("cannot sign the CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let names = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let mut leaf = CertificateParams::new(names).context("bad certificate names")?;
    (leaf.distinguished_name).push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (leaf.not_before, leaf.not_after) = (not_before, not_after);
    let leaf_key = KeyPair::generate().context("cannot make the server's key")?;
    let leaf_cert = (leaf.signed_by(&leaf_key, &issuer)).context("cannot sign the certificate")?;

    let made = DevCert {
        ca: out.join("ca.pem"),
        cert: out.join("localhost.pem"),
        key: out.join("localhost-key.pem"),
    };
    write(&made.ca, &ca_cert.pem(), false)?;
    write(&made.cert, &leaf_cert.pem(), false)?;
    write(&made.key, &leaf_key.serialize_pem(), true)?;
    Ok(made)
}

/// Writes `text` to `path`; a private key readable by its owner only.
fn write(path: &Path, text: &str, private: bool) -> Result<()> {
    let _ = fs::remove_file(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file =
        (options.open(path)).with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// This year, from the system clock (a certificate valid from the start of
/// last year to the start of next year survives a wrong clock by months).
fn current_year() -> i32 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // 365.2425 days per Gregorian year.
    1970 + i32::try_from(seconds / 31_556_952).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files are PEM, the key is private, and the CA is a CA.
    #[test]
    fn makes_a_ca_and_a_localhost_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = make(dir.path()).expect("made");
        let ca = fs::read_to_string(&made.ca).expect("ca");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        let key = fs::read_to_string(&made.key).expect("key");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&made.key)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
        }
        reqwest::Certificate::from_pem(ca.as_bytes()).expect("the CA parses");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("listing")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(
            names.len(),
            3,
            "only the three files, never the CA's key: {names:?}"
        );
    }
}
