//! Spawns the real server on `127.0.0.1:0` for one test.

use part5_client::{Config, serve};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running server: its MCP URL, and the means to stop it.
pub struct TestServer {
    pub mcp_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Binds a free loopback port and serves the default configuration.
    pub async fn start() -> Self {
        Self::start_with(Config::for_tests()).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            mcp_url: format!("http://{address}/mcp"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// An HTTP client that never follows redirects or uses a proxy.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The body of an MCP `initialize` request.
pub fn initialize_body() -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "raw-http-test", "version": "0" }
        }
    })
}
