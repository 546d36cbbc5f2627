//! The slow-headers flood: connections that send the first half of a
//! request header and then nothing, each held by a tokio task until the
//! server closes it (rule AS-19: a half-sent request is dropped within
//! 15 s).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    task::JoinSet,
};

/// The bound: every half-sent request is dropped within this.
pub const BOUND: Duration = Duration::from_secs(15);

/// How long a connection may take to be accepted before it counts as
/// refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a stalled connection sends: a request line and one header, cut
/// off in the middle of the next header, with no blank line.
const HALF_REQUEST: &[u8] = b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applica";

/// How one stalled connection ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
    /// The server did not accept it, or reset it before the half request
    /// was sent.
    Refused,
    /// The server closed it this long after the half request was sent.
    Closed(Duration),
}

/// The stalled connections to one server.
#[derive(Debug)]
pub struct Stalled {
    pub server: String,
    pub opened: usize,
    opened_at: Instant,
    tasks: JoinSet<Ending>,
    endings: Vec<Ending>,
}

/// What became of one server's stalled connections.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowResult {
    pub server: String,
    pub opened: usize,
    pub refused: usize,
    /// Still open when the watch ended.
    pub still_open: usize,
    /// When the last one the server closed was closed, after its half
    /// request.
    pub last_closed: Option<Duration>,
    /// How long after they were opened the watch ended.
    pub watched: Duration,
}

impl SlowResult {
    /// Whether every connection was refused or closed within [`BOUND`].
    pub fn within_bound(&self) -> bool {
        self.still_open == 0 && self.last_closed.is_none_or(|last| last <= BOUND)
    }
}

impl Stalled {
    /// Opens `count` connections to `address` (from the default source,
    /// 127.0.0.1) and sends each the half request.
    pub fn open(server: &str, address: SocketAddr, count: usize) -> Self {
        let mut tasks = JoinSet::new();
        for _ in 0..count {
            tasks.spawn(stall(address));
        }
        Self {
            server: server.to_owned(),
            opened: count,
            opened_at: Instant::now(),
            tasks,
            endings: Vec::new(),
        }
    }

    /// Waits until every connection ended or `deadline` passed; what is
    /// still open then is dropped (closed by us) and counted.
    pub async fn watch_until(mut self, deadline: tokio::time::Instant) -> SlowResult {
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => match joined {
                    Some(Ok(ending)) => self.endings.push(ending),
                    Some(Err(_)) => self.endings.push(Ending::Refused),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let still_open = self.tasks.len();
        self.tasks.abort_all();
        let last_closed = (self.endings.iter())
            .filter_map(|ending| match ending {
                Ending::Closed(after) => Some(*after),
                Ending::Refused => None,
            })
            .max();
        SlowResult {
            server: self.server,
            opened: self.opened,
            refused: (self.endings.iter())
                .filter(|ending| **ending == Ending::Refused)
                .count(),
            still_open,
            last_closed,
            watched: self.opened_at.elapsed(),
        }
    }
}

/// One stalled connection: connect, send half a header, then read until
/// the server closes it. Anything the server answers (a 408, say) is read
/// and ignored; only the close counts.
async fn stall(address: SocketAddr) -> Ending {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
    else {
        return Ending::Refused;
    };
    if stream.write_all(HALF_REQUEST).await.is_err() {
        return Ending::Refused;
    }
    let sent = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return Ending::Closed(sent.elapsed()),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener that closes after 200 ms passes; one that never closes
    /// leaves the connection open at the deadline.
    #[tokio::test]
    async fn closed_and_still_open_connections_are_told_apart() {
        let closing = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let closing_address = closing.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((stream, _)) = closing.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    drop(stream);
                });
            }
        });
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let silent_address = silent.local_addr().expect("address");
        let held = tokio::spawn(async move {
            let mut streams = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                streams.push(stream);
            }
        });

        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let closed = Stalled::open("closing", closing_address, 3)
            .watch_until(deadline)
            .await;
        assert_eq!(
            (closed.opened, closed.refused, closed.still_open),
            (3, 0, 0)
        );
        assert!(
            closed
                .last_closed
                .is_some_and(|last| last >= Duration::from_millis(150))
        );
        assert!(closed.within_bound());

        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let open = Stalled::open("silent", silent_address, 2)
            .watch_until(deadline)
            .await;
        assert_eq!((open.still_open, open.last_closed), (2, None));
        assert!(!open.within_bound());
        held.abort();
    }
}
