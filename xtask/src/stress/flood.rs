//! The wrk floods: one script each, built on the bench's script (which
//! sets the request and prints the latency sketch that
//! [`wrk::run`] insists on) plus a tail that makes each request different
//! where the flood needs it and counts the answers by kind.
//!
//! wrk itself only tells 2xx/3xx from the rest; the tail's `response` hook
//! counts refusals (429 and 503) apart from other 4xx and other 5xx, and
//! its `done` hook prints the totals on one [`STATUS_PREFIX`] line.

use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::{Context, Result};
use url::form_urlencoded;

use crate::bench::{
    oauth,
    wrk::{self, RequestSpec},
};

/// The line of the `done` hook that carries the answer counts.
pub const STATUS_PREFIX: &str = "xtask-status:";

/// A flood wrk can send: where, what, and with how many connections.
#[derive(Debug, Clone)]
pub struct Flood {
    pub base_url: String,
    /// The whole Lua script.
    pub script: String,
    pub connections: u32,
    pub threads: u32,
}

/// What one flood's answers were.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Answers {
    pub requests: u64,
    pub seconds: f64,
    /// 1xx, 2xx and 3xx: the server did what was asked.
    pub ok: u64,
    /// 429 and 503: the server refused the load.
    pub refused: u64,
    /// Other 4xx: the server refused the request itself (a bad code, a
    /// wrong password).
    pub rejected: u64,
    /// Other 5xx.
    pub server_errors: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
}

impl Answers {
    pub fn per_second(&self, count: u64) -> f64 {
        if self.seconds > 0.0 {
            count as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// `POST /register` with the same anonymous metadata every time.
pub fn register(issuer: &str, connections: u32) -> Flood {
    let body = serde_json::json!({
        "redirect_uris": [oauth::REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "client_name": "xtask stress",
    });
    let spec = RequestSpec {
        method: "POST",
        path: "/register".into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string(),
    };
    flood(issuer, &spec, "", connections, 2)
}

/// `GET /authorize` for `client_id`: a valid request each time, so each
/// one asks the server to open a sign-in.
pub fn authorize(issuer: &str, client_id: &str, resource: &str, connections: u32) -> Flood {
    let request = oauth::AuthorizeRequest::new(client_id, resource);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(request.query())
        .finish();
    let spec = RequestSpec {
        method: "GET",
        path: format!("/authorize?{query}"),
        headers: Vec::new(),
        body: String::new(),
    };
    flood(issuer, &spec, "", connections, 2)
}

/// `POST /token` with a random 43-character code for `client_id` each
/// time: none of them was ever issued.
pub fn junk_codes(issuer: &str, client_id: &str, resource: &str, connections: u32) -> Flood {
    let request = oauth::AuthorizeRequest::new(client_id, resource);
    let form = |code: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", oauth::REDIRECT_URI)
            .append_pair("client_id", client_id)
            .append_pair("code_verifier", &request.verifier)
            .append_pair("resource", resource)
            .finish()
    };
    let (before, after) = split_marker(&form(MARKER));
    let lua = format!(
        "local before, after = {}, {}\nfunction request()\n  return wrk.format(nil, nil, nil, before .. random_token(43) .. after)\nend\n",
        lua_string(&before),
        lua_string(&after)
    );
    flood(
        issuer,
        &form_spec("/token", &form(MARKER)),
        &lua,
        connections,
        2,
    )
}

/// `POST /login` on a real login page (its cookie, sign-in id and CSRF
/// token): a random user name and password each time, so the password
/// check runs for every request until a throttle stops it.
pub fn logins(issuer: &str, page: &oauth::LoginPage, connections: u32) -> Flood {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("pending", &page.pending)
        .append_pair("csrf", &page.csrf)
        .append_pair("action", "approve")
        .finish();
    let lua = format!(
        "local fixed = {}\nfunction request()\n  return wrk.format(nil, nil, nil, fixed .. \"&username=u\" .. random_token(12) .. \"&password=p\" .. random_token(16))\nend\n",
        lua_string(&form)
    );
    let mut spec = form_spec("/login", &form);
    spec.headers.push(("Cookie".into(), page.cookie.clone()));
    flood(issuer, &spec, &lua, connections, 2)
}

/// `grant_type=refresh_token` for `client_id`, one connection, each
/// request carrying the refresh token the previous answer returned: one
/// client refreshing as fast as the server lets it. A refused request
/// keeps the token it had.
pub fn refresh(issuer: &str, client_id: &str, refresh_token: &str) -> Flood {
    let form = |token: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", client_id)
            .append_pair("refresh_token", token)
            .finish()
    };
    let (before, after) = split_marker(&form(MARKER));
    let lua = format!(
        r#"local before, after = {}, {}
current = {}
function request()
  return wrk.format(nil, nil, nil, before .. current .. after)
end
function on_response(status, body)
  if status == 200 then
    local next_token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if next_token then current = next_token end
  end
end
"#,
        lua_string(&before),
        lua_string(&after),
        lua_string(refresh_token)
    );
    flood(
        issuer,
        &form_spec("/token", &form(refresh_token)),
        &lua,
        1,
        1,
    )
}

/// Writes the script next to the logs and runs wrk for `duration`.
pub fn run(flood: &Flood, script_path: &Path, duration: Duration) -> Result<Answers> {
    std::fs::write(script_path, &flood.script)
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    let report = wrk::run(
        &flood.base_url,
        script_path,
        flood.connections,
        flood.threads,
        duration,
    )?;
    let mut answers =
        parse_status_line(&report.stdout).context("the wrk script printed no answer counts")?;
    answers.requests = report.requests;
    answers.seconds = report.seconds;
    answers.socket_errors = report.socket_errors;
    Ok(answers)
}

/// Reads `xtask-status: ok=1 refused=2 rejected=3 server_errors=4`.
pub fn parse_status_line(text: &str) -> Option<Answers> {
    let line = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(STATUS_PREFIX))?;
    let mut answers = Answers::default();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=')?;
        let value: u64 = value.parse().ok()?;
        match key {
            "ok" => answers.ok = value,
            "refused" => answers.refused = value,
            "rejected" => answers.rejected = value,
            "server_errors" => answers.server_errors = value,
            _ => return None,
        }
    }
    Some(answers)
}

/// Stands in a form for the part a Lua `request()` fills in.
const MARKER: &str = "XTASKMARKER";

fn split_marker(text: &str) -> (String, String) {
    match text.split_once(MARKER) {
        Some((before, after)) => (before.to_owned(), after.to_owned()),
        None => (text.to_owned(), String::new()),
    }
}

fn form_spec(path: &str, body: &str) -> RequestSpec {
    RequestSpec {
        method: "POST",
        path: path.into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.to_owned(),
    }
}

/// The bench's script for `spec`, then `extra` (which may define
/// `request()` and `on_response(status, body)`), then the counting tail.
fn flood(base_url: &str, spec: &RequestSpec, extra: &str, connections: u32, threads: u32) -> Flood {
    let mut script = wrk::script(spec);
    script.push_str("\n-- added by `cargo xtask stress`\n");
    script.push_str(RANDOM_TOKEN);
    script.push_str(extra);
    let _ = write!(script, "{}", counting_tail());
    Flood {
        base_url: base_url.to_owned(),
        script,
        connections: connections.max(threads),
        threads,
    }
}

/// A Lua helper: `n` random characters of the URL-safe base64 alphabet.
const RANDOM_TOKEN: &str = r#"local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
function random_token(n)
  local out = {}
  for i = 1, n do
    local k = math.random(1, #alphabet)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end
"#;

/// Counts answers per thread and prints the sums in `done`, after the
/// bench's sketch line (the bench's `done` is kept and called first).
fn counting_tail() -> String {
    format!(
        r#"
local stress_threads = {{}}
local stress_seeds = 0
function setup(thread)
  stress_seeds = stress_seeds + 1
  thread:set("seed", stress_seeds)
  table.insert(stress_threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
  ok, refused, rejected, server_errors = 0, 0, 0, 0
end

function response(status, headers, body)
  if status == 429 or status == 503 then
    refused = refused + 1
  elseif status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    rejected = rejected + 1
  else
    ok = ok + 1
  end
  if on_response then on_response(status, body) end
end

local sketch_done = done
function done(summary, latency, requests)
  sketch_done(summary, latency, requests)
  local sums = {{ ok = 0, refused = 0, rejected = 0, server_errors = 0 }}
  for _, thread in ipairs(stress_threads) do
    for key, _ in pairs(sums) do
      sums[key] = sums[key] + (thread:get(key) or 0)
    end
  end
  io.write(string.format("{STATUS_PREFIX} ok=%d refused=%d rejected=%d server_errors=%d\n",
    sums.ok, sums.refused, sums.rejected, sums.server_errors))
end
"#
    )
}

/// A Lua long string holding `text`, at a level nothing in it can close.
fn lua_string(text: &str) -> String {
    let mut level = 0;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{text}]{eq}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_counts_are_read_from_the_status_line() {
        let text = "Requests/sec: 10\nxtask-sketch: 1 2\nxtask-status: ok=5 refused=7 rejected=2 server_errors=1\n";
        assert_eq!(
            parse_status_line(text),
            Some(Answers {
                ok: 5,
                refused: 7,
                rejected: 2,
                server_errors: 1,
                ..Answers::default()
            })
        );
        assert_eq!(parse_status_line("xtask-status: ok=x\n"), None);
        assert_eq!(parse_status_line("no counts\n"), None);
    }

    #[test]
    fn junk_codes_fill_the_code_in_lua_and_keep_the_bench_sketch() {
        let flood = junk_codes("http://127.0.0.1:9", "client-1", "http://r/mcp", 8);
        assert!(flood.script.contains("before .. random_token(43) .. after"));
        assert!(
            flood
                .script
                .contains("local before, after = [[grant_type=authorization_code&code=]]")
        );
        assert!(flood.script.contains(wrk::SKETCH_PREFIX));
        assert!(flood.script.contains("local sketch_done = done"));
    }

    #[test]
    fn the_refresh_flood_is_one_chain_on_one_connection() {
        let flood = refresh("http://127.0.0.1:9", "c", "rt-0");
        assert_eq!((flood.connections, flood.threads), (1, 1));
        assert!(flood.script.contains("current = [[rt-0]]"));
        assert!(
            flood
                .script
                .contains("if next_token then current = next_token end")
        );
    }

    #[test]
    fn lua_strings_cannot_be_closed_by_their_text() {
        assert_eq!(lua_string("a"), "[[a]]");
        assert_eq!(lua_string("x]]y"), "[=[x]]y]=]");
    }
}
