//! The load balancer: Debian's HAProxy, one frontend per pair of servers,
//! its configuration written for the run, and its statistics page read to
//! learn when a health check has marked an instance down or up again.

use std::fmt::Write as _;

use anyhow::{Context, Result};

/// One backend server: its name, its port and its admin port (where
/// HAProxy asks `/readyz`).
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub port: u16,
    pub admin_port: u16,
}

/// The ports HAProxy listens on.
#[derive(Debug, Clone, Copy)]
pub struct Fronts {
    pub authorization: u16,
    pub resource: u16,
    pub stats: u16,
}

/// How often HAProxy checks each instance, in milliseconds, and after how
/// many failed (or passed) checks in a row it marks one down (or up).
pub const CHECK_INTERVAL_MS: u64 = 250;
pub const FALL: u32 = 2;
pub const RISE: u32 = 2;

/// The configuration.
///
/// - Both pairs are checked with `GET /readyz` on their admin listener, so
///   an instance gets no traffic until it can work (rule P6-07), and a dead
///   one none after `FALL` failed checks.
/// - The authorization servers share one database: round robin, any
///   instance serves any step of a flow (rule P6-02).
/// - The resource servers: round robin too, except for protocol 2025-11-25
///   sessions, which live in one instance's memory. A stick table learns
///   each session's instance from the `Mcp-Session-Id` of the response
///   that created it and sends the session's later requests there.
/// - Every connection to an instance begins with a PROXY protocol v2
///   header naming the client (`send-proxy-v2`), which the instances read
///   from 127.0.0.1 only (`AS_TRUSTED_PROXIES`, rule P6-11): their
///   per-source limits count clients, not the balancer. The health checks
///   go to the admin listener, without one.
/// - A request whose connection to an instance fails before anything was
///   sent is retried on the other one (`retry-on conn-failure`,
///   `option redispatch`); a request already sent is never replayed, since
///   a token redemption must not run twice.
pub fn config(fronts: Fronts, authorization: &[Backend], resource: &[Backend]) -> String {
    let mut text = String::from(
        "# written by `cargo xtask cluster` for one run
global
    maxconn 8192

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    option redispatch
    retries 2
    retry-on conn-failure
",
    );
    let backend = |text: &mut String, name: &str, servers: &[Backend], sticky: bool| {
        let _ = writeln!(text, "\nbackend {name}\n    balance roundrobin");
        if sticky {
            text.push_str(
                "    stick-table type string len 64 size 100k expire 30m\n\
                 \x20   stick on req.hdr(mcp-session-id)\n\
                 \x20   stick store-response res.hdr(mcp-session-id)\n",
            );
        }
        let _ = writeln!(
            text,
            "    option httpchk GET /readyz\n    http-check expect status 200\n    \
             default-server inter {CHECK_INTERVAL_MS}ms fall {FALL} rise {RISE}"
        );
        for server in servers {
            let _ = writeln!(
                text,
                "    server {} 127.0.0.1:{} check port {} send-proxy-v2",
                server.name, server.port, server.admin_port
            );
        }
    };
    let _ = write!(
        text,
        "\nfrontend authorization\n    bind 127.0.0.1:{}\n    default_backend authorization_servers\n",
        fronts.authorization
    );
    backend(&mut text, "authorization_servers", authorization, false);
    let _ = write!(
        text,
        "\nfrontend resource\n    bind 127.0.0.1:{}\n    default_backend resource_servers\n",
        fronts.resource
    );
    backend(&mut text, "resource_servers", resource, true);
    let _ = write!(
        text,
        "\nfrontend stats\n    bind 127.0.0.1:{}\n    stats enable\n    stats uri /stats\n",
        fronts.stats
    );
    text
}

/// The status HAProxy gives each backend server (`UP`, `DOWN`, `UP 1/2`
/// while failing, `DOWN 1/2` while recovering, …), from its CSV page.
pub fn statuses(csv: &str) -> Result<Vec<(String, String)>> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .context("the stats page has no CSV header")?;
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| {
        (columns.iter())
            .position(|column| *column == name)
            .with_context(|| format!("the stats CSV has no `{name}` column"))
    };
    let (server, status) = (column("svname")?, column("status")?);
    Ok(lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|fields| {
            fields
                .get(server)
                .is_some_and(|name| !matches!(*name, "FRONTEND" | "BACKEND"))
        })
        .map(|fields| {
            (
                fields[server].to_owned(),
                fields.get(status).copied().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Whether HAProxy sends traffic to a server with this status: `UP`, and
/// `UP 1/2` (one check has failed, not yet `FALL`).
pub fn takes_traffic(status: &str) -> bool {
    status.starts_with("UP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_checks_readiness_and_sticks_sessions() {
        let pair = |prefix: &str, base: u16| {
            (1..=2)
                .map(|n| Backend {
                    name: format!("{prefix}{n}"),
                    port: base + n,
                    admin_port: base + 10 + n,
                })
                .collect::<Vec<_>>()
        };
        let text = config(
            Fronts {
                authorization: 9000,
                resource: 8000,
                stats: 7000,
            },
            &pair("as", 9100),
            &pair("rs", 8100),
        );
        assert!(text.contains("server as1 127.0.0.1:9101 check port 9111 send-proxy-v2"));
        assert!(text.contains("server rs2 127.0.0.1:8102 check port 8112 send-proxy-v2"));
        assert_eq!(text.matches("option httpchk GET /readyz").count(), 2);
        assert_eq!(text.matches("stick on req.hdr(mcp-session-id)").count(), 1);
        assert!(text.contains("stick store-response res.hdr(mcp-session-id)"));
        assert!(text.contains("retry-on conn-failure"));
    }

    #[test]
    fn statuses_come_from_the_csv_columns() {
        let csv = "# pxname,svname,qcur,status,weight\n\
                   authorization,FRONTEND,,OPEN,\n\
                   authorization_servers,as1,0,UP,1\n\
                   authorization_servers,as2,0,DOWN 1/2,1\n\
                   authorization_servers,BACKEND,0,UP,2\n";
        let found = statuses(csv).expect("parsed");
        assert_eq!(
            found,
            [
                ("as1".to_owned(), "UP".to_owned()),
                ("as2".to_owned(), "DOWN 1/2".to_owned())
            ]
        );
        assert!(takes_traffic("UP 1/2") && !takes_traffic("DOWN 1/2"));
    }
}
