//! Spawns the real servers on `127.0.0.1:0` for one test.

use part2_as_metadata::{Config, authorization_server, serve};
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

/// A running authorization server: its issuer URL, and the means to stop it.
pub struct TestAs {
    /// `http://127.0.0.1:<port>`, also the configured issuer.
    pub issuer: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestAs {
    /// Binds a free loopback port and serves the default configuration,
    /// with the issuer set to the bound URL.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestAs::start`], after `configure` has changed the
    /// configuration (the issuer is already set when it runs).
    pub async fn start_with(configure: impl FnOnce(&mut authorization_server::Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let mut config = authorization_server::Config::for_tests(&issuer);
        configure(&mut config);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(authorization_server::serve(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            issuer,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
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
