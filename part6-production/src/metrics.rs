//! What an operator watches: Prometheus metrics and health checks, served
//! on an admin listener of their own, apart from the routes clients reach
//! (rule P6-07).
//!
//! - `GET /metrics`: the registry in the OpenMetrics text format, which
//!   Prometheus scrapes. Every server counts its requests by route, method
//!   and status and times them by route; the authorization server adds the
//!   tokens it issued, refreshed and revoked, failed logins, requests
//!   refused by a rate limit and its database pool; the resource server the
//!   calls it made to the authorization server.
//! - `GET /healthz`: 200 while the process serves at all (liveness).
//! - `GET /readyz`: 200 when the server can do its work, 503 with the reason
//!   when it cannot (readiness): the authorization server needs its database
//!   and a signing key, the resource server the authorization server's keys.
//!
//! The admin listener is off unless `AS_ADMIN_PORT` / `RS_ADMIN_PORT` is
//! set, and binds the same host as the server: metrics name routes and
//! counts, never a token or a user, but they are still for operators only.
//!
//! The registry belongs to one server, not to the process
//! (`prometheus-client` keeps no global state), so two servers in one test
//! process keep their counts apart.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tokio::net::TcpListener;

/// Labels of a request count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/token`), never the path a client sent: a
    /// client could otherwise make one series per path it invents.
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// Labels of a latency histogram or a throttled count: the route.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// Labels of the counts of things that happened: which kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

/// What `/readyz` asks: `Ok` when ready, or why not.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Sets gauges and catches up counters kept elsewhere, just before a scrape.
pub type BeforeScrape = Arc<dyn Fn(&Metrics) + Send + Sync>;

// ANCHOR: metrics
/// One server's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    throttled: Family<RouteLabels, Counter>,
    /// Access tokens issued, by grant type (`authorization_code`,
    /// `refresh_token`).
    pub tokens_issued: Family<KindLabels, Counter>,
    /// Revocation requests accepted: RFC 7009 §2.2 answers 200 whether or
    /// not the token was known, and so does this count.
    pub revocations: Counter,
    /// Failed logins, by why (`password`, `throttled`).
    pub login_failures: Family<KindLabels, Counter>,
    /// Calls from this resource server to the authorization server, by
    /// kind (`introspection`, `jwks`).
    pub as_calls: Family<KindLabels, Counter>,
    /// Database pool connections, by state (`idle`, `in_use`).
    pub db_connections: Family<KindLabels, Gauge>,
}

impl Metrics {
    /// An empty registry with this project's metric families.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms to about 4 s: a cached tool call to a login with its
            // password hash, and a stalled database.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0005, 2.0, 14,
            ))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route",
            latency.clone(),
        );
        let throttled = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_throttled_requests",
            "Requests refused with 429 by a per-source rate limit, by route",
            throttled.clone(),
        );
        let tokens_issued = Family::<KindLabels, Counter>::default();
        registry.register(
            "oauth_tokens_issued",
            "Access tokens issued, by grant type",
            tokens_issued.clone(),
        );
        let revocations = Counter::default();
        registry.register(
            "oauth_revocations",
            "Revocation requests accepted",
            revocations.clone(),
        );
        let login_failures = Family::<KindLabels, Counter>::default();
        registry.register(
            "oauth_login_failures",
            "Failed logins, by reason",
            login_failures.clone(),
        );
        let as_calls = Family::<KindLabels, Counter>::default();
        registry.register(
            "authorization_server_calls",
            "Requests this resource server made to the authorization server, by kind",
            as_calls.clone(),
        );
        let db_connections = Family::<KindLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state",
            db_connections.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            latency,
            throttled,
            tokens_issued,
            revocations,
            login_failures,
            as_calls,
            db_connections,
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }

    /// Middleware that counts and times every request by its route.
    pub async fn record(State(metrics): State<Self>, request: Request, next: Next) -> Response {
        let route = (request.extensions().get::<MatchedPath>())
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned();
        let method = request.method().as_str().to_owned();
        let started = Instant::now();
        let response = next.run(request).await;
        let status = response.status();
        let labels = RouteLabels { route };
        metrics
            .latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        if status == StatusCode::TOO_MANY_REQUESTS {
            metrics.throttled.get_or_create(&labels).inc();
        }
        let labels = RequestLabels {
            route: labels.route,
            method,
            status: status.as_u16(),
        };
        metrics.requests.get_or_create(&labels).inc();
        response
    }
}
// ANCHOR_END: metrics

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What the admin routes need.
#[derive(Clone)]
struct Admin {
    metrics: Metrics,
    ready: ReadyCheck,
    before_scrape: BeforeScrape,
}

// ANCHOR: admin_router
/// The admin listener's routes: `/metrics`, `/healthz`, `/readyz`.
pub fn admin_router(metrics: Metrics, ready: ReadyCheck, before_scrape: BeforeScrape) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Admin {
            metrics,
            ready,
            before_scrape,
        })
}

async fn scrape(State(admin): State<Admin>) -> Response {
    (admin.before_scrape)(&admin.metrics);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        admin.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(admin): State<Admin>) -> Response {
    match (admin.ready)().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}
// ANCHOR_END: admin_router

/// The admin listener on `host:port`, when a port is configured.
pub async fn bind_admin(host: &str, port: Option<u16>) -> std::io::Result<Option<TcpListener>> {
    match port {
        Some(port) => TcpListener::bind((host, port)).await.map(Some),
        None => Ok(None),
    }
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "admin listener (metrics, healthz, readyz)");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
#[allow(clippy::expect_used)] // A failed `expect` is how a test reports an unexpected state.
mod tests {
    use super::*;

    /// The text names each family with its type and the project's labels;
    /// a family nobody touched is left out.
    #[test]
    fn p607_metrics_render_as_openmetrics_text() {
        let metrics = Metrics::new();
        metrics
            .tokens_issued
            .get_or_create(&KindLabels {
                kind: "authorization_code",
            })
            .inc();
        metrics.revocations.inc();
        let text = metrics.render();
        assert!(
            text.contains("oauth_tokens_issued_total{kind=\"authorization_code\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("oauth_revocations_total 1\n"), "{text}");
        assert!(
            text.contains("# TYPE oauth_revocations counter\n"),
            "{text}"
        );
        assert!(!text.contains("http_requests"), "no series yet: {text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
