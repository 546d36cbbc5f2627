//! What runs inside the xtask process, each on its own tokio runtime:
//!
//! - [`Baseline`]: a bare axum handler answering a small JSON body, the
//!   fastest answer an HTTP server on this machine can give: the practical
//!   limit every other scenario is compared with. It gets as many worker
//!   threads as `#[tokio::main]` gives the real servers.
//! - [`CountingProxy`]: a TCP forwarder between a resource server and the
//!   authorization server that counts the request lines going through that
//!   ask the AS about a token: `POST /introspect`, and `GET /jwks.json` for
//!   a resource server that checks signed tokens itself. It does not parse HTTP, so it adds a copy per request
//!   and nothing else, and neither server needs a test-only hook.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    runtime::Runtime,
};

/// The request lines the proxy counts: every way a resource server asks the
/// AS about a token.
const NEEDLES: [&[u8]; 2] = [b"POST /introspect", b"GET /jwks.json"];

/// The baseline server; it stops when dropped.
#[derive(Debug)]
pub struct Baseline {
    pub address: SocketAddr,
    _runtime: Runtime,
}

impl Baseline {
    /// Serves `POST /` (and `GET /`) with a small JSON body on a free
    /// loopback port, on a runtime of `workers` threads.
    pub fn start(workers: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("bench-baseline")
            .enable_all()
            .build()
            .context("cannot start the baseline runtime")?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("cannot bind the baseline server")?;
        let address = listener.local_addr()?;
        let app = axum::Router::new().route(
            "/",
            axum::routing::any(|| async {
                axum::Json(serde_json::json!({
                    "jsonrpc": "2.0", "id": 2, "result": { "greeting": "Hello, bench!" }
                }))
            }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            address,
            _runtime: runtime,
        })
    }
}

/// A counting TCP forwarder to one upstream; it stops when dropped.
#[derive(Debug)]
pub struct CountingProxy {
    pub address: SocketAddr,
    count: Arc<AtomicU64>,
    _runtime: Runtime,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-proxy")
            .enable_all()
            .build()
            .context("cannot start the proxy runtime")?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("cannot bind the counting proxy")?;
        let address = listener.local_addr()?;
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = forward(client, server, counter).await;
                    }
                });
            }
        });
        Ok(Self {
            address,
            count,
            _runtime: runtime,
        })
    }

    /// `POST /introspect` and `GET /jwks.json` requests forwarded so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Copies both ways; counts [`NEEDLES`] in the client's bytes.
async fn forward(client: TcpStream, server: TcpStream, count: Arc<AtomicU64>) -> Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut counter = NeedleCounter::default();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            count.fetch_add(counter.feed(&buffer[..read]), Ordering::Relaxed);
            server_write.write_all(&buffer[..read]).await?;
        }
        server_write.shutdown().await
    };
    let downstream = async move {
        tokio::io::copy(&mut server_read, &mut client_write).await?;
        client_write.shutdown().await
    };
    tokio::try_join!(upstream, downstream)?;
    Ok(())
}

/// Counts [`NEEDLES`] in a byte stream that arrives in pieces, matches that
/// straddle two pieces included.
#[derive(Debug, Default)]
pub struct NeedleCounter {
    tail: Vec<u8>,
}

impl NeedleCounter {
    pub fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut window = std::mem::take(&mut self.tail);
        let carried = window.len();
        window.extend_from_slice(bytes);
        // A match that lies wholly in the carried tail was counted already.
        let found: usize = (NEEDLES.iter())
            .map(|needle| {
                (window.windows(needle.len()).enumerate())
                    .filter(|(at, c)| c == needle && at + needle.len() > carried)
                    .count()
            })
            .sum();
        let longest = NEEDLES.iter().map(|needle| needle.len()).max().unwrap_or(1);
        let keep = (longest - 1).min(window.len());
        self.tail = window[window.len() - keep..].to_vec();
        found as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_are_counted_across_reads() {
        let mut counter = NeedleCounter::default();
        assert_eq!(counter.feed(b"POST /introspect HTTP/1.1\r\n\r\ntoken=a"), 1);
        assert_eq!(counter.feed(b"POST /intro"), 0);
        assert_eq!(counter.feed(b"spect HTTP/1.1\r\n"), 1);
        assert_eq!(counter.feed(b"POST /token HTTP/1.1\r\n"), 0);
        assert_eq!(counter.feed(b"POST /introspectPOST /introspect"), 2);
        assert_eq!(counter.feed(b"GET /jwks.js"), 0);
        assert_eq!(counter.feed(b"on HTTP/1.1\r\n"), 1);
        assert_eq!(
            counter.feed(b"GET /.well-known/oauth-authorization-server"),
            0
        );
        // The shorter needle whole in the bytes kept for the next read is
        // not counted twice.
        assert_eq!(counter.feed(b"xGET /jwks.json"), 1);
        assert_eq!(counter.feed(b" HTTP/1.1\r\n"), 0);
    }
}
