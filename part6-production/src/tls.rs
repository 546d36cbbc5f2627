//! HTTPS for both servers, with rustls (rule P6-10).
//!
//! OAuth 2.1 §1.5 asks for TLS on every endpoint: codes, tokens, client
//! secrets and passwords cross them. Until part 6 the servers spoke plain
//! http on loopback, the development exception. Here each server can serve
//! HTTPS itself from a certificate chain and a private key in PEM files
//! (`--tls-cert` / `--tls-key`, or `AS_TLS_CERT` / `AS_TLS_KEY` and
//! `RS_TLS_CERT` / `RS_TLS_KEY`); `cargo xtask dev-cert` makes a local CA and
//! a certificate for `localhost` signed by it.
//!
//! - Both files are read when the command line is parsed, so a wrong path
//!   or a file without a certificate or key is a plain start-up error naming
//!   the flag and its variable.
//! - A server that serves HTTPS must say so in the URL it publishes: the
//!   authorization server's issuer (RFC 8414 §2: an https URL) and the
//!   resource server's public URL, which its tokens' audience and its
//!   metadata name (RFC 9728 §2). A server with TLS and an http URL refuses
//!   to start.
//! - With an https issuer the login page's cookie is `__Host-as_session`,
//!   `Secure` (see `login_page::cookie_name`).
//! - The handshake runs in the connection's own task, within the header-read
//!   timeout (rule AS-19), so a client that opens a connection and sends
//!   nothing holds one slot of its own source for that long, and nobody
//!   else's. `TCP_NODELAY` is set on the TCP socket before the handshake and
//!   stays on under TLS.
//! - ALPN offers `h2` and `http/1.1`.
//! - The admin listener (`/metrics`, `/healthz`, `/readyz`) stays plain
//!   http: it is meant for a private network or loopback.

use std::{fmt, sync::Arc};

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{
            CertificateDer, PrivateKeyDer,
            pem::{self, PemObject},
        },
    },
};

// ANCHOR: files
/// A certificate chain read from a PEM file: the server's certificate
/// first, then any intermediates.
#[derive(Debug, Clone)]
pub struct CertChain(Arc<Vec<CertificateDer<'static>>>);

/// A private key read from a PEM file (PKCS#8, PKCS#1 or SEC1). Its
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct PrivateKey(Arc<PrivateKeyDer<'static>>);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// Reads `--tls-cert`: clap's value parser, so a bad file is an argument
/// error that names the flag and its variable.
pub fn cert_chain(path: &str) -> Result<CertChain, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("cannot read certificates from {path}: {error}"))?;
    if chain.is_empty() {
        return Err(format!(
            "{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(CertChain(Arc::new(chain)))
}

/// Reads `--tls-key`, as [`cert_chain`] reads `--tls-cert`.
pub fn private_key(path: &str) -> Result<PrivateKey, String> {
    match PrivateKeyDer::from_pem_file(path) {
        Ok(key) => Ok(PrivateKey(Arc::new(key))),
        Err(pem::Error::NoItemsFound) => Err(format!(
            "{path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
        )),
        Err(error) => Err(format!("cannot read a private key from {path}: {error}")),
    }
}
// ANCHOR_END: files

/// Why TLS cannot be served as configured: what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}\n{fix}")]
pub struct TlsRefusal {
    pub problem: String,
    pub fix: String,
}

// ANCHOR: acceptor
/// The TLS side of a server: `None` without a certificate and key (plain
/// http), or the acceptor for `cert` and `key`; one without the other is
/// refused. `url` is the URL the server publishes
/// and `url_setting` the flag and variable that set it; it must be https
/// when TLS is on.
pub fn acceptor(
    cert: Option<&CertChain>,
    key: Option<&PrivateKey>,
    url: &str,
    url_setting: &str,
) -> Result<Option<TlsAcceptor>, TlsRefusal> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) | (None, Some(_)) => {
            return Err(TlsRefusal {
                problem: "only one of --tls-cert and --tls-key is set".into(),
                fix: "give both (the certificate chain and its private key) to serve https, \
                      or neither to serve plain http"
                    .into(),
            });
        }
    };
    if !url.starts_with("https://") {
        return Err(TlsRefusal {
            problem: format!("this server serves https, but it publishes the URL {url}"),
            fix: format!("set {url_setting} to the https URL clients reach it at"),
        });
    }
    let refused = |error: rustls::Error| TlsRefusal {
        problem: format!("cannot serve https with this certificate and key: {error}"),
        fix: "give --tls-key the private key of the first certificate in --tls-cert \
              (`cargo xtask dev-cert` makes a matching pair for localhost)"
            .into(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(cert.0.to_vec(), key.0.clone_key())
        .map_err(refused)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}
// ANCHOR_END: acceptor
