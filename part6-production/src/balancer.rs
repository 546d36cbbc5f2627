//! Connections from a load balancer: the client's address from the PROXY
//! protocol (rule P6-11).
//!
//! Behind a load balancer every connection comes from the balancer's
//! address, so the per-source limits (rules AS-16, AS-17, AS-19) would
//! count every client as one source, and one script could spend
//! everybody's allowance. A balancer can pass the client's address on: in
//! an HTTP header (`X-Forwarded-For`, which any client can also send, so a
//! server must know which hop wrote it) or, before the first byte of the
//! connection, in the PROXY protocol's binary header (version 2, HAProxy's
//! `send-proxy-v2`), which is part of the connection rather than of the
//! request and covers TLS connections too.
//!
//! Part 6 reads the PROXY header, and only from the addresses named in
//! `AS_TRUSTED_PROXIES` / `RS_TRUSTED_PROXIES`:
//!
//! - A connection from a trusted balancer must begin with a valid v2
//!   header, within the header-read timeout, or it is closed; the client
//!   address in it becomes the connection's source for every limit and
//!   for `ConnectInfo`. The balancer's own connections (`LOCAL`, as for
//!   health checks) count as the balancer's.
//! - A connection from anyone else is served as before: a PROXY header
//!   from an untrusted peer is not read, so nobody can choose their own
//!   source address by sending one.
//!
//! The header is parsed by the `ppp` crate; this module only reads the
//! advertised number of bytes from the socket, no more, so the request
//! that follows is left for hyper (or the TLS handshake).

use std::{io, net::SocketAddr};

use ppp::v2;
use tokio::{io::AsyncReadExt as _, net::TcpStream};

/// The fixed part of a v2 header: the 12-byte signature, version and
/// command, family and protocol, and the length of what follows.
const FIXED: usize = 16;

/// The most a header may carry after its fixed part: IPv6 addresses (36
/// bytes) and the TLVs a balancer adds (HAProxy sends a few, such as the
/// TLS version and the client certificate's common name).
const MAX_PAYLOAD: usize = 1024;

/// Why a trusted balancer's connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("cannot read the PROXY header: {0}")]
    Io(#[from] io::Error),
    #[error("not a PROXY protocol v2 header: {0}")]
    Parse(#[from] v2::ParseError),
    #[error("the PROXY header announces {0} bytes, more than {MAX_PAYLOAD}")]
    TooLong(usize),
}

// ANCHOR: client_address
/// Reads the PROXY protocol v2 header that begins a connection from the
/// trusted balancer at `peer`, and returns the client's address: the
/// header's source for a proxied TCP connection, `peer` for the balancer's
/// own (`LOCAL`) connections and for addresses that are not IP.
pub async fn client_address(
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    let mut header = vec![0u8; FIXED];
    stream.read_exact(&mut header).await?;
    // The signature and version are checked before reading any further.
    match v2::Header::try_from(&header[..]) {
        Ok(_) | Err(v2::ParseError::Partial(..) | v2::ParseError::Incomplete(_)) => {}
        Err(error) => return Err(error.into()),
    }
    let payload = usize::from(u16::from_be_bytes([header[14], header[15]]));
    if payload > MAX_PAYLOAD {
        return Err(HeaderError::TooLong(payload));
    }
    header.resize(FIXED + payload, 0);
    stream.read_exact(&mut header[FIXED..]).await?;
    let parsed = v2::Header::try_from(&header[..])?;
    Ok(match (parsed.command, parsed.addresses) {
        (v2::Command::Proxy, v2::Addresses::IPv4(ip)) => {
            SocketAddr::from((ip.source_address, ip.source_port))
        }
        (v2::Command::Proxy, v2::Addresses::IPv6(ip)) => {
            SocketAddr::from((ip.source_address, ip.source_port))
        }
        _ => peer,
    })
}
// ANCHOR_END: client_address

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncWriteExt as _, net::TcpListener};

    use super::*;

    /// What `client_address` makes of `bytes` sent first on a connection,
    /// and the bytes it left unread.
    async fn read(bytes: Vec<u8>) -> (Result<SocketAddr, HeaderError>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let writer = tokio::spawn(async move {
            let mut client = TcpStream::connect(address).await.expect("connect");
            client.write_all(&bytes).await.expect("write");
        });
        let (mut stream, peer) = listener.accept().await.expect("accept");
        let result = client_address(&mut stream, peer).await;
        writer.await.expect("written");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        (result, rest)
    }

    fn proxied(source: &str) -> Vec<u8> {
        let source: SocketAddr = source.parse().expect("address");
        let destination: SocketAddr = match source {
            SocketAddr::V4(_) => "10.0.0.1:443",
            SocketAddr::V6(_) => "[2001:db8::1]:443",
        }
        .parse()
        .expect("address");
        v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (source, destination),
        )
        .build()
        .expect("header")
    }

    #[tokio::test]
    async fn p611_the_source_address_of_a_proxied_connection_is_the_client() {
        let mut bytes = proxied("203.0.113.7:51000");
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (client, rest) = read(bytes).await;
        assert_eq!(
            client.expect("parsed"),
            "203.0.113.7:51000".parse().expect("address")
        );
        assert_eq!(rest, b"GET / HTTP/1.1\r\n", "the request is left unread");

        let (client, _) = read(proxied("[2001:db8::7]:51000")).await;
        assert_eq!(
            client.expect("parsed"),
            "[2001:db8::7]:51000".parse().expect("address")
        );
    }

    #[tokio::test]
    async fn p611_the_balancers_own_connections_count_as_the_balancer() {
        let local = v2::Builder::new(
            v2::Version::Two | v2::Command::Local,
            v2::AddressFamily::Unspecified | v2::Protocol::Unspecified,
        )
        .build()
        .expect("header");
        let (client, _) = read(local).await;
        assert!(client.expect("parsed").ip().is_loopback());
    }

    #[tokio::test]
    async fn p611_anything_else_is_refused() {
        let (http, _) = read(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
        assert!(matches!(
            http,
            Err(HeaderError::Parse(v2::ParseError::Prefix))
        ));
        let (short, _) = read(proxied("203.0.113.7:1")[..10].to_vec()).await;
        assert!(matches!(short, Err(HeaderError::Io(_))), "{short:?}");
        let mut long = proxied("203.0.113.7:1");
        long[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        let (long, _) = read(long).await;
        assert!(matches!(long, Err(HeaderError::TooLong(65535))), "{long:?}");
    }
}
