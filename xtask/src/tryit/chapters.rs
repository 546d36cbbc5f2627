//! The five Try it sessions, one function per chapter, each command
//! written exactly as the chapter shows it (with the documented ports).
//!
//! Every session starts its own servers on free ports, so the five run in
//! parallel; [`crate::process::Server`] kills them when the function returns.

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result};

use super::session::{Session, header, json_string};
use crate::process::{Built as Binaries, Server, four_digit_ports};

/// Part 1: a public MCP server, spoken to with curl.
pub fn part1(binaries: &Binaries, dir: &Path) -> Result<Session> {
    let mut s = Session::new(1, dir)?;
    let [port] = four_digit_ports::<1>()?;
    s.port(port, 8000);
    let _server = Server::start(
        "part1-rs",
        binaries.get("part1-rs")?,
        &[
            ("RS_HOST", "127.0.0.1".into()),
            ("RS_PORT", port.to_string()),
        ],
        port,
        &dir.join("resource-server.log"),
    )?;
    s.block("endpoint");
    s.assign(&[("MCP", MCP, MCP)]);
    s.block("initialize");
    let response = s.run(INITIALIZE)?;
    let session_id = header(&response.raw, "mcp-session-id")?.to_owned();
    s.block("initialized");
    s.assign(&[("SESSION", &session_id, "<session-id>")]);
    s.run(&format!("curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -d '{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}'"))?;
    s.run(&format!("curl -s \"$MCP\" \\\n{SESSION_HEADERS}    -d '{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}}'"))?;
    s.block("call_tools");
    s.run(&format!(
        "curl -s \"$MCP\" \\\n{SESSION_HEADERS}    -d '{}'",
        call(3, GREET_ADA)
    ))?;
    s.run(&format!(
        "curl -s \"$MCP\" \\\n{SESSION_HEADERS}    -d '{}'",
        call(4, SERVER_TIME)
    ))?;
    s.block("rebinding");
    s.run("curl -si \"$MCP\" -H 'Origin: http://evil.example' \\\n    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{}'")?;
    s.run("curl -si \"$MCP\" -H 'Host: rebind.evil.example' \\\n    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{}'")?;
    s.block("bad_requests");
    s.run("curl -si \"$MCP\" \\\n    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\\n    -H 'Mcp-Session-Id: no-such-session' -H 'MCP-Protocol-Version: 2025-11-25' \\\n    -d '{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}'")?;
    s.run("curl -si \"$MCP\" \\\n    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\\n    -d '{\"jsonrpc\":'")?;
    s.block("delete");
    s.run("curl -si -X DELETE \"$MCP\" -H \"Mcp-Session-Id: $SESSION\" -H 'MCP-Protocol-Version: 2025-11-25'")?;
    s.run("curl -si \"$MCP\" \\\n    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\\n    -H \"Mcp-Session-Id: $SESSION\" -H 'MCP-Protocol-Version: 2025-11-25' \\\n    -d '{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\"}'")?;
    Ok(s)
}

/// Part 2: the authorization server's metadata, and nothing else yet.
pub fn part2(binaries: &Binaries, dir: &Path) -> Result<Session> {
    let mut s = Session::new(2, dir)?;
    let [port] = four_digit_ports::<1>()?;
    let _server = authorization_server(&mut s, binaries.get("part2-as")?, port, None)?;
    s.block("metadata");
    s.run("curl -s http://localhost:9000/.well-known/oauth-authorization-server")?;
    s.run("curl -si -X POST http://localhost:9000/.well-known/oauth-authorization-server")?;
    Ok(s)
}

/// Part 3: register, authorize, sign in, trade the code, introspect,
/// refresh, and the errors on the way.
pub fn part3(binaries: &Binaries, dir: &Path) -> Result<Session> {
    let mut s = Session::new(3, dir)?;
    let [port] = four_digit_ports::<1>()?;
    let _server = authorization_server(&mut s, binaries.get("part3-as")?, port, None)?;
    s.block("metadata");
    s.assign(&[("AS", "http://localhost:9000", "http://localhost:9000")]);
    s.run("curl -s $AS/.well-known/oauth-authorization-server")?;

    s.block("register");
    let registered = s.run("curl -s $AS/register -H 'Content-Type: application/json' \\\n    -d '{\"client_name\":\"curl\",\"redirect_uris\":[\"http://127.0.0.1:3000/callback\"],\"grant_types\":[\"authorization_code\",\"refresh_token\"],\"token_endpoint_auth_method\":\"none\"}'")?;
    let client_id = json_string(&registered.raw, "client_id")?;
    s.assign(&[("CLIENT", &client_id, "<client-id>")]);
    s.assign(&[("VERIFIER", VERIFIER, VERIFIER)]);
    s.assign(&[("CHALLENGE", CHALLENGE, CHALLENGE)]);

    s.block("authorize");
    s.run("curl -s -D - -o page.html -c jar \"$AS/authorize?response_type=code&client_id=$CLIENT&redirect_uri=http://127.0.0.1:3000/callback&code_challenge=$CHALLENGE&code_challenge_method=S256&resource=http://localhost:8000/mcp&scope=mcp:tools&state=a%26b%20c\"")?;
    let page = fs::read_to_string(s.dir.join("page.html")).context("the saved login page")?;
    let pending = form_value(&page, "pending")?;
    let csrf = form_value(&page, "csrf")?;
    s.normalizer
        .replacements
        .push((pending.clone(), "<pending>".into()));
    s.normalizer
        .replacements
        .push((csrf.clone(), "<csrf>".into()));
    s.run("grep -o 'name=\"[a-z]*\" value=\"[^\"]*\"' page.html")?;
    s.assign(&[
        ("PENDING", &pending, "<pending>"),
        ("CSRF", &csrf, "<csrf>"),
    ]);

    s.block("bad_redirect");
    s.run("curl -s -D - -o /dev/null \"$AS/authorize?response_type=code&client_id=$CLIENT&redirect_uri=http://evil.example/callback&code_challenge=$CHALLENGE&code_challenge_method=S256&resource=http://localhost:8000/mcp&scope=mcp:tools&state=x\"")?;

    s.block("login");
    let login = s.run("curl -si -b jar $AS/login --data-urlencode pending=$PENDING --data-urlencode csrf=$CSRF \\\n    -d username=demo_user -d password=demo_password -d action=approve")?;
    let location = header(&login.raw, "location")?;
    let code = location
        .split_once("code=")
        .and_then(|(_, rest)| rest.split('&').next())
        .with_context(|| format!("no code in {location}"))?
        .to_owned();

    s.block("token");
    s.assign(&[("CODE", &code, "<code>")]);
    let tokens = s.run("curl -s $AS/token -d grant_type=authorization_code -d code=$CODE \\\n    -d redirect_uri=http://127.0.0.1:3000/callback -d code_verifier=$VERIFIER \\\n    -d client_id=$CLIENT -d resource=http://localhost:8000/mcp")?;
    let access = json_string(&tokens.raw, "access_token")?;
    let refresh = json_string(&tokens.raw, "refresh_token")?;
    s.assign(&[
        ("ACCESS", &access, "<access-token>"),
        ("REFRESH", &refresh, "<refresh-token>"),
    ]);

    s.block("introspect");
    s.run("curl -s $AS/introspect -u mcp-resource-server:demo-resource-server-secret -d token=$ACCESS")?;

    s.block("refresh");
    s.run("curl -s $AS/token -d grant_type=refresh_token -d refresh_token=$REFRESH -d client_id=$CLIENT")?;
    s.run("curl -s $AS/token -d grant_type=refresh_token -d refresh_token=$REFRESH -d client_id=$CLIENT")?;
    s.run("curl -s $AS/introspect -u mcp-resource-server:demo-resource-server-secret -d token=$ACCESS")?;

    s.block("errors");
    s.run("curl -s $AS/token -d grant_type=password -d client_id=$CLIENT -d username=demo_user -d password=demo_password")?;
    s.run("curl -si $AS/introspect -d token=$ACCESS")?;
    s.run("curl -si -X GET $AS/token")?;
    Ok(s)
}

/// Part 4: the protected MCP server, with part 3's authorization server.
pub fn part4(binaries: &Binaries, dir: &Path) -> Result<Session> {
    let mut s = Session::new(4, dir)?;
    let [rs_port, as_port] = four_digit_ports::<2>()?;
    let (mut authorization_server, _resource_server) =
        both_servers(&mut s, binaries, rs_port, as_port)?;
    s.block("endpoint");
    s.assign(&[("MCP", MCP, MCP)]);
    s.block("metadata");
    s.run("curl -si http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp")?;
    s.run("curl -s http://127.0.0.1:8000/.well-known/oauth-protected-resource")?;
    s.block("session");
    let response = s.run(INITIALIZE)?;
    let session_id = header(&response.raw, "mcp-session-id")?.to_owned();
    s.assign(&[("SESSION", &session_id, "<session-id>")]);
    s.run(&format!("curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -d '{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}'"))?;
    s.block("greet_public");
    s.run(&format!(
        "curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -d '{}'",
        call(2, GREET_ADA)
    ))?;
    s.block("server_time_401");
    s.run(&format!(
        "curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -d '{}'",
        call(3, SERVER_TIME)
    ))?;
    s.block("invalid_token");
    s.run(&format!("curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -H 'Authorization: Bearer not-a-real-token' \\\n    -d '{}'", call(4, GREET_ADA)))?;
    s.block("two_headers");
    s.run(&format!("curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -H 'Authorization: Bearer not-a-real-token' -H 'Authorization: Bearer another' \\\n    -d '{}'", call(5, GREET_ADA)))?;
    authorization_server.stop();
    s.block("as_down");
    s.run(&format!("curl -si \"$MCP\" \\\n{SESSION_HEADERS}    -H 'Authorization: Bearer another-made-up-token' \\\n    -d '{}'", call(6, SERVER_TIME)))?;
    s.block("cached");
    s.run(&format!("curl -s -o /dev/null -w '%{{http_code}}\\n' \"$MCP\" \\\n{SESSION_HEADERS}    -H 'Authorization: Bearer not-a-real-token' \\\n    -d '{}'", call(7, GREET_ADA)))?;
    authorization_server.restart()?;
    s.block("as_back");
    s.run(&format!("curl -s -o /dev/null -w '%{{http_code}}\\n' \"$MCP\" \\\n{SESSION_HEADERS}    -H 'Authorization: Bearer another-made-up-token' \\\n    -d '{}'", call(8, SERVER_TIME)))?;
    Ok(s)
}

/// Part 5: the client, with the scripted browser, against parts 3 and 4.
pub fn part5(binaries: &Binaries, dir: &Path) -> Result<Session> {
    let mut s = Session::new(5, dir)?;
    let [rs_port, as_port] = four_digit_ports::<2>()?;
    let _servers = both_servers(&mut s, binaries, rs_port, as_port)?;
    s.normalizer.callback_port_varies = true;
    s.normalizer.drop_log_lines = true;
    let browser = binaries
        .get("part5-scripted-browser")?
        .display()
        .to_string();
    s.alias(&browser, "target/debug/part5-scripted-browser");
    let cache = s.dir.join("p5demo");
    s.alias(&cache.display().to_string(), "/tmp/p5demo");
    let client = binaries.get("part5-client")?;
    let run_client = |s: &mut Session, browser: Option<&str>, args: &str| {
        let mut shown = String::new();
        let mut command = Command::new(client);
        if let Some(browser) = browser {
            let quoted = if browser.contains(' ') {
                format!("\"{browser}\"")
            } else {
                browser.to_owned()
            };
            shown.push_str(&format!("BROWSER={quoted} "));
            command.env("BROWSER", s.actual(browser));
        }
        shown.push_str("cargo run -p part5-client -- ");
        shown.push_str(args);
        command.args(args.split(' ').map(|arg| s.actual(arg)));
        s.run_as(&shown, command)
    };
    const SCRIPTED: &str = "target/debug/part5-scripted-browser";
    const URL: &str = "--server-url http://localhost:8000/mcp";

    s.block("run");
    run_client(&mut s, Some(SCRIPTED), URL)?;

    s.block("deny");
    s.tail = Some(4);
    let denied = run_client(&mut s, Some(&format!("{SCRIPTED} --deny")), URL)?;
    s.print(&format!("$ echo $?\n{}\n", denied.code));

    s.block("token_cache");
    s.run("mkdir -p /tmp/p5demo")?;
    s.tail = Some(0);
    let cache_args = format!("{URL} --token-cache /tmp/p5demo/tokens.json");
    run_client(&mut s, Some(SCRIPTED), &cache_args)?;
    s.run("stat -c '%a %n' /tmp/p5demo/tokens.json")?;
    run_client(&mut s, None, &format!("{cache_args} --name Ada"))?;

    s.block("cache_refused");
    s.run("chmod 644 /tmp/p5demo/tokens.json")?;
    let refused = run_client(&mut s, None, &cache_args)?;
    s.print(&format!("$ echo $?\n{}\n", refused.code));
    Ok(s)
}

const MCP: &str = "http://127.0.0.1:8000/mcp";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const INITIALIZE: &str = "curl -si \"$MCP\" \\\n    -H 'Content-Type: application/json' \\\n    -H 'Accept: application/json, text/event-stream' \\\n    -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"curl\",\"version\":\"0\"}}}'";
/// The headers of every request in a session, one per line.
const SESSION_HEADERS: &str = "    -H 'Content-Type: application/json' \\\n    -H 'Accept: application/json, text/event-stream' \\\n    -H \"Mcp-Session-Id: $SESSION\" \\\n    -H 'MCP-Protocol-Version: 2025-11-25' \\\n";
const GREET_ADA: &str = r#""name":"greet","arguments":{"name":"Ada"}"#;
const SERVER_TIME: &str = r#""name":"server_time","arguments":{}"#;

/// A `tools/call` request body.
fn call(id: u32, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{{params}}}}}"#)
}

/// An authorization server on `port`, shown as the default 9000, its
/// issuer `http://localhost:9000`; `resource` for the MCP server it serves.
fn authorization_server(
    s: &mut Session,
    binary: &Path,
    port: u16,
    resource: Option<String>,
) -> Result<Server> {
    s.port(port, 9000);
    let mut env = vec![
        ("AS_HOST", "127.0.0.1".to_owned()),
        ("AS_SERVER_PORT", port.to_string()),
        ("AS_ISSUER", format!("http://localhost:{port}")),
    ];
    if let Some(resource) = resource {
        env.push(("AS_RESOURCES", resource));
    }
    let log = s.dir.join("authorization-server.log");
    Server::start("the authorization server", binary, &env, port, &log)
}

/// Part 3's authorization server and part 4's resource server, configured
/// for each other as their defaults are (9000 and 8000).
fn both_servers(
    s: &mut Session,
    binaries: &Binaries,
    rs_port: u16,
    as_port: u16,
) -> Result<(Server, Server)> {
    let public_url = format!("http://localhost:{rs_port}/mcp");
    let authorization_server = authorization_server(
        s,
        binaries.get("part3-as")?,
        as_port,
        Some(public_url.clone()),
    )?;
    s.port(rs_port, 8000);
    let resource_server = Server::start(
        "part4-rs",
        binaries.get("part4-rs")?,
        &[
            ("RS_HOST", "127.0.0.1".into()),
            ("RS_PORT", rs_port.to_string()),
            ("RS_PUBLIC_URL", public_url),
            ("RS_AUTH_SERVER_URL", format!("http://localhost:{as_port}")),
        ],
        rs_port,
        &s.dir.join("resource-server.log"),
    )?;
    Ok((authorization_server, resource_server))
}

/// The `value` of the form field `name` in the login page.
fn form_value(page: &str, name: &str) -> Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    page.split_once(&marker)
        .and_then(|(_, rest)| rest.split('"').next())
        .map(str::to_owned)
        .with_context(|| format!("no field `{name}` in the login page"))
}
