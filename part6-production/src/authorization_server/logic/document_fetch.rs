//! Fetching Client ID Metadata Documents: the one place where this server
//! makes an outbound request (draft-ietf-oauth-client-id-metadata-document).
//!
//! A `client_id` URL is chosen by whoever wrote the authorization link, so
//! fetching it is a server-side request forgery risk: the link could point
//! the server at its own admin port, a cloud metadata service or a host on
//! the private network. [`HttpFetcher`] therefore connects only to public
//! addresses, and it checks the addresses it actually connects to: IP
//! literals before the request, names in its own resolver, whose answer is
//! what the connection uses (so a name cannot resolve to a public address
//! when checked and a private one when connected to). It sends no
//! credentials, uses no proxy, follows no redirect, gives up after a few
//! seconds and reads at most [`MAX_DOCUMENT_BYTES`].
//!
//! The provider sees only the [`FetchDocument`] trait, so a test can put a
//! fake in its place, and the logic layer never touches an HTTP type.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    header,
    redirect::Policy,
};
use tokio::sync::Semaphore;
use url::{Host, Url};

use crate::authorization_server::error::DocumentError;

/// The largest document read: 5 KiB, far more than a client's metadata
/// needs. Reading stops as soon as the body passes it.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// The whole fetch, connection and body included, must finish within this.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting must finish within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many fetches run at once; more wait their turn, so a flood
/// of links to slow hosts cannot open unbounded outbound connections.
static FETCHES: Semaphore = Semaphore::const_new(16);

/// A fetched document: the body, and how long its server said it may be
/// kept (`Cache-Control: max-age`; `Some(0)` for `no-store` / `no-cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDocument {
    pub body: Vec<u8>,
    pub max_age: Option<u64>,
}

/// What [`FetchDocument::fetch`] returns: a boxed future, so the trait can
/// be used as `dyn FetchDocument`.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FetchedDocument, DocumentError>> + Send + 'a>>;

// ANCHOR: fetch_document
/// Gets the document at a `client_id` URL the provider has already checked
/// (draft §4). [`HttpFetcher`] does it over the network; a test may use
/// anything else.
pub trait FetchDocument: std::fmt::Debug + Send + Sync {
    fn fetch<'a>(&'a self, url: &'a Url) -> FetchFuture<'a>;
}

/// The real fetcher: `GET` with `Accept: application/json`, the SSRF guards
/// of this module, a 5 s deadline (2 s to connect) and a 5 KiB limit.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl HttpFetcher {
    /// A fetcher that connects only to public addresses, or also to
    /// loopback ones when `allow_loopback` is set (tests and local demos:
    /// `--cimd-allow-loopback-http`).
    pub fn new(allow_loopback: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(CheckedResolver { allow_loopback })
            .user_agent(concat!(env!("CARGO_PKG_NAME"), " authorization server"))
            .build()?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }

    async fn get(&self, url: &Url) -> Result<FetchedDocument, DocumentError> {
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
            None => return Err(DocumentError::BadUrl("the client_id URL has no host")),
        };
        if literal.is_some_and(|ip| !may_connect(ip, self.allow_loopback)) {
            return Err(DocumentError::ForbiddenAddress);
        }
        let _turn = FETCHES
            .acquire()
            .await
            .map_err(|_| DocumentError::Unreachable)?;
        let mut response = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| classify(&error))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(DocumentError::Status);
        }
        if (response.content_length()).is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64) {
            return Err(DocumentError::TooLarge);
        }
        let max_age = (response.headers().get(header::CACHE_CONTROL))
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| classify(&error))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(DocumentError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { body, max_age })
    }
}

impl FetchDocument for HttpFetcher {
    fn fetch<'a>(&'a self, url: &'a Url) -> FetchFuture<'a> {
        Box::pin(self.get(url))
    }
}
// ANCHOR_END: fetch_document

// ANCHOR: may_connect
/// True when this server may connect to `ip` to fetch a document: a public
/// unicast address, or a loopback one when `allow_loopback` is set.
///
/// Refused: unspecified, loopback, private (RFC 1918, RFC 4193), shared
/// (RFC 6598), link-local (where cloud metadata services live), multicast,
/// broadcast, documentation, benchmarking and reserved ranges. An IPv6
/// address that embeds an IPv4 one (mapped, NAT64, 6to4) is judged by it.
pub fn may_connect(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(ip) => may_connect_v4(ip, allow_loopback),
        IpAddr::V6(ip) => match embedded_v4(ip) {
            Some(v4) => may_connect_v4(v4, allow_loopback),
            None if ip.is_loopback() => allow_loopback,
            None => {
                let first = ip.segments()[0];
                !(ip.is_unspecified()
                    || ip.is_multicast()
                    || first & 0xfe00 == 0xfc00 // unique local, fc00::/7
                    || first & 0xffc0 == 0xfe80 // link-local, fe80::/10
                    || first & 0xffc0 == 0xfec0 // site-local, fec0::/10
                    || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
                    || first == 0x2001 && ip.segments()[1] < 0x0200) // Teredo, ORCHID, benchmarking
            }
        },
    }
}

fn may_connect_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || ip.is_private()                     // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (64..128).contains(&b)) // shared address space, 100.64/10
        || ip.is_link_local()                  // 169.254/16
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19))  // benchmarking, 198.18/15
        || ip.is_multicast()
        || a >= 240) // reserved, and the broadcast address
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(from(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(from(s[1], s[2]))
    } else {
        None
    }
}
// ANCHOR_END: may_connect

/// The DNS resolver of [`HttpFetcher`]: it resolves a name, and refuses it
/// when any of its addresses is one [`may_connect`] refuses. reqwest
/// connects to the addresses returned here, and only to them.
#[derive(Debug, Clone, Copy)]
struct CheckedResolver {
    allow_loopback: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err("the name has no address".into());
            }
            if !(addresses.iter()).all(|address| may_connect(address.ip(), allow_loopback)) {
                return Err(ForbiddenAddress.into());
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The error [`CheckedResolver`] gives, found again in reqwest's error.
#[derive(Debug, thiserror::Error)]
#[error("the name resolves to an address this server does not connect to")]
struct ForbiddenAddress;

/// Turns a reqwest error into the reason shown to the user.
fn classify(error: &reqwest::Error) -> DocumentError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<ForbiddenAddress>() {
            return DocumentError::ForbiddenAddress;
        }
        source = cause.source();
    }
    DocumentError::Unreachable
}

/// The `max-age` of a `Cache-Control` header (RFC 9111 §5.2.2.1), or 0 for
/// `no-store` and `no-cache`; `None` when it says neither.
fn max_age(cache_control: &str) -> Option<u64> {
    let directives = cache_control.split(',').map(str::trim);
    let mut max_age = None;
    for directive in directives {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(0),
            "max-age" => max_age = value.trim().trim_matches('"').parse().ok(),
            _ => {}
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn cimd_public_addresses_only() {
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            // Just outside the refused ranges below.
            "100.63.255.255",
            "100.128.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "2001:200::1",
            "2001:db9::1",
            "fbff::1",
        ] {
            assert!(may_connect(ip(public), false), "{public}");
        }
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            // Every other range, one address each.
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "ff02::1",
            "fc00::1",
            "febf::1",
            "fec0::1",
            "2001:db8::1",
            "2001::1",
            "2001:1ff::1",
        ] {
            assert!(!may_connect(ip(refused), false), "{refused}");
        }
    }

    #[test]
    fn cimd_loopback_only_with_the_flag() {
        for loopback in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(may_connect(ip(loopback), true), "{loopback}");
        }
        for still_refused in ["10.0.0.1", "169.254.169.254", "fd00::1"] {
            assert!(!may_connect(ip(still_refused), true), "{still_refused}");
        }
    }

    #[test]
    fn cimd_cache_control_max_age() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("Max-Age=\"60\""), Some(60));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("max-age=600, no-cache"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
