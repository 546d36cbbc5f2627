//! What keeps a server up under floods and slow clients: who a request
//! comes from ([`Source`]), serving with connection limits and timeouts
//! ([`serve`], rule AS-19), and per-source rate limits ([`RateLimit`],
//! rule AS-17).
//!
//! One rule runs through all of it (rule AS-16): a bound may refuse or
//! evict the source that is over it, never somebody else. So every limit is
//! counted per [`Source`], and a source that has used nothing is never
//! turned away because another one used everything.
//!
//! `axum::serve` runs hyper without a timer: a client that sends half a
//! request header holds its connection forever, and a thousand such
//! clients hold a thousand. [`serve`] builds each connection with hyper's
//! own builder instead, with a timer for the header-read timeout (which
//! also closes keep-alive connections that stay idle that long), a
//! body-read timeout, and caps on connections in all and per source.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Router,
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock as _};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use tower::ServiceExt as _;
use tower_http::timeout::RequestBodyTimeoutLayer;

// ANCHOR: source
/// Where a request comes from, as far as limits are concerned: an IPv4
/// address, or the /64 prefix of an IPv6 address, because one IPv6 host is
/// usually handed a whole /64 and could otherwise take a fresh address for
/// every request. An IPv4 address mapped into IPv6 counts as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source(IpAddr);

impl Source {
    /// The source of a peer address.
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = v6.to_bits() & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from_bits(prefix)))
                }
            },
        }
    }
}
// ANCHOR_END: source

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The limits [`serve`] applies to every connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client must send a whole request header within this time, and an
    /// idle keep-alive connection is closed after it.
    pub header_read_timeout: Duration,
    /// A client must send a whole request body within this time.
    pub body_read_timeout: Duration,
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one [`Source`].
    pub max_connections_per_source: usize,
}

// ANCHOR: serve_with_limits
/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// connections finish for up to ten seconds.
///
/// A connection over a cap is closed as soon as it is accepted: the
/// per-source cap refuses only the source that holds too many, and the
/// total cap (set well above the per-source one) keeps the process under
/// its file-descriptor limit. Accepted connections get `TCP_NODELAY`, so a
/// response written in two pieces does not wait for a delayed ACK.
///
/// With `arrival.tls`, each connection is served HTTPS (rule P6-10). A
/// connection from one of `arrival.balancers` must first name its client
/// in a PROXY protocol header (rule P6-11), and is admitted, capped and
/// rate-limited as that client. The header and the TLS handshake run in
/// the connection's own task and must end within the header-read timeout,
/// so a silent client holds only its own slot, and only that long.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    arrival: Arrival,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let open = OpenConnections::default();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little, go on.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A balancer's connection is admitted once its header has named
        // the client; any other at once.
        let admitted = if arrival.balancers.contains(&peer.ip()) {
            None
        } else {
            let Some(slot) = open.admit(Source::of(peer.ip()), &limits) else {
                tracing::debug!(source = %Source::of(peer.ip()), "connection refused: over the cap");
                continue;
            };
            Some(slot)
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let (app, builder, watcher) = (app.clone(), builder.clone(), graceful.watcher());
        let (arrival, open) = (arrival.clone(), open.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + limits.header_read_timeout;
            let (mut tcp, mut client) = (tcp, peer);
            let _slot = match admitted {
                Some(slot) => slot,
                None => {
                    let header = crate::balancer::client_address(&mut tcp, peer);
                    client = match tokio::time::timeout_at(deadline, header).await {
                        Ok(Ok(client)) => client,
                        Ok(Err(error)) => {
                            tracing::warn!(%error, balancer = %peer, "connection from a trusted balancer refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(balancer = %peer, "no PROXY header in time");
                            return;
                        }
                    };
                    let Some(slot) = open.admit(Source::of(client.ip()), &limits) else {
                        tracing::debug!(source = %Source::of(client.ip()), "connection refused: over the cap");
                        return;
                    };
                    slot
                }
            };
            let io = match arrival.tls {
                None => Either::Left(tcp),
                Some(tls) => match tokio::time::timeout_at(deadline, tls.accept(tcp)).await {
                    Ok(Ok(stream)) => Either::Right(stream),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
            };
            let service = app.map_request(move |mut request: Request<_>| {
                request.extensions_mut().insert(ConnectInfo(client));
                request
            });
            let connection =
                builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("connections still open after 10 s; closing them");
    }
    Ok(())
}
// ANCHOR_END: serve_with_limits

/// How connections reach a server: over TLS or not (rule P6-10), and from
/// which load balancers, if any, that name their clients in a PROXY
/// protocol header (rule P6-11).
#[derive(Clone, Default)]
pub struct Arrival {
    pub tls: Option<TlsAcceptor>,
    pub balancers: Arc<[IpAddr]>,
}

impl fmt::Debug for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arrival")
            .field("tls", &self.tls.is_some())
            .field("balancers", &self.balancers)
            .finish()
    }
}

/// Counts open connections in all and per source.
#[derive(Debug, Clone, Default)]
struct OpenConnections(Arc<Mutex<(usize, HashMap<Source, usize>)>>);

impl OpenConnections {
    /// A slot for one more connection from `source`, or `None` over a cap.
    fn admit(&self, source: Source, limits: &ConnectionLimits) -> Option<Slot> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_source) = &mut *guard;
        let mine = per_source.get(&source).copied().unwrap_or(0);
        if *total >= limits.max_connections || mine >= limits.max_connections_per_source {
            return None;
        }
        *total += 1;
        per_source.insert(source, mine + 1);
        Some(Slot {
            open: self.clone(),
            source,
        })
    }
}

/// One open connection; dropping it frees the slot.
#[derive(Debug)]
struct Slot {
    open: OpenConnections,
    source: Source,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = (self.open.0).lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_source) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(count) = per_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                per_source.remove(&self.source);
            }
        }
    }
}

// ANCHOR: rate_limit
/// A per-source rate limit for one group of routes (rule AS-17): `per_minute`
/// requests a minute with bursts of as many, refilled evenly. Over it, the
/// answer is `429 Too Many Requests` with `Retry-After`, before any other
/// work is done. Built on `governor`'s keyed GCRA limiter.
#[derive(Debug, Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<Source>>,
    name: &'static str,
}

impl RateLimit {
    /// A limit of `per_minute` requests a minute per source; 0 turns it off.
    pub fn per_minute(name: &'static str, per_minute: u32) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        Some(Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                per_minute,
            ))),
            name,
        })
    }

    /// Forgets sources whose bucket is full again, so the limiter's memory
    /// follows the sources seen in the last minute.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// The axum middleware: `route.layer(from_fn_with_state(limit, RateLimit::layer))`.
    pub async fn layer(
        State(limit): State<Self>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        request: Request,
        next: Next,
    ) -> Response {
        let source = Source::of(peer.ip());
        match limit.limiter.check_key(&source) {
            Ok(()) => next.run(request).await,
            Err(not_until) => {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                tracing::debug!(%source, limit = limit.name, "rate limited");
                too_many_requests(wait)
            }
        }
    }
}
// ANCHOR_END: rate_limit

/// `429` with `Retry-After` in whole seconds (at least 1) and an OAuth-style
/// JSON body a client can show.
pub fn too_many_requests(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let body = serde_json::json!({
        "error": "slow_down",
        "error_description": format!("too many requests from this address; retry in {seconds} s"),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as16_ipv6_sources_are_slash_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        assert_eq!(Source::of(a).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let plain: IpAddr = "127.0.0.1".parse().expect("ip");
        assert_eq!(Source::of(mapped), Source::of(plain));
        assert_ne!(
            Source::of(plain),
            Source::of("127.0.0.2".parse().expect("ip"))
        );
    }

    #[test]
    fn as19_connection_caps_count_per_source() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            max_connections: 3,
            max_connections_per_source: 2,
        };
        let open = OpenConnections::default();
        let a = Source::of("10.0.0.1".parse().expect("ip"));
        let b = Source::of("10.0.0.2".parse().expect("ip"));
        let first = open.admit(a, &limits).expect("first");
        let _second = open.admit(a, &limits).expect("second");
        assert!(open.admit(a, &limits).is_none(), "a is at its own cap");
        let _third = open.admit(b, &limits).expect("b has nothing open");
        assert!(open.admit(b, &limits).is_none(), "the total cap");
        drop(first);
        assert!(
            open.admit(b, &limits).is_some(),
            "a closed one frees a slot"
        );
    }

    #[test]
    fn as17_retry_after_is_whole_seconds_at_least_one() {
        let response = too_many_requests(Duration::from_millis(1_200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = too_many_requests(Duration::ZERO);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
