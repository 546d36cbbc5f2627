//! Start-up failures of this part's real authorization server binary: each
//! says in two plain lines what happened and what to do, and exits non-zero.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The authorization server binary of this part, as cargo built it.
const AS: &str = env!("CARGO_BIN_EXE_part3-as");

/// Runs the binary with `args` and only the environment in `env`, and
/// returns its exit code and stderr. A server that starts instead of
/// refusing is stopped after 10 s and fails the test.
fn refused(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(AS)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{args:?} {env:?}: the server kept running instead of refusing to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    (output.status.code().expect("an exit code"), stderr)
}

/// Two lines, no Debug dump, no backtrace, no Rust type or `os error` code.
fn assert_plain(stderr: &str) {
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    for noise in ["Error:", "Caused by", "backtrace", "{", "::", "os error"] {
        assert!(!stderr.contains(noise), "{noise:?} in {stderr}");
    }
}

/// A taken port is named, with the likely cause and the flag that fixes it.
#[test]
fn port_in_use_is_explained() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("address").port().to_string();
    let (code, stderr) = refused(&["--port", &port], &[("RUST_BACKTRACE", "1")]);
    assert_eq!(code, 1);
    assert_plain(&stderr);
    assert!(
        stderr.starts_with(&format!(
            "cannot listen on 127.0.0.1:{port}: the address is already in use"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("another authorization server running?"),
        "{stderr}"
    );
    assert!(stderr.contains("--port or AS_SERVER_PORT"), "{stderr}");
}

/// An issuer without its scheme is refused before anything binds.
#[test]
fn bad_issuer_is_explained() {
    let env = [("AS_ISSUER", "localhost:9000"), ("AS_SERVER_PORT", "0")];
    let (code, stderr) = refused(&[], &env);
    assert_eq!(code, 1);
    assert_plain(&stderr);
    assert!(
        stderr.starts_with("AS_ISSUER is not an http or https URL (\"localhost:9000\")"),
        "{stderr}"
    );
    assert!(stderr.contains("http://localhost:9000"), "{stderr}");
}

/// A number that does not parse names the flag, its variable and --help.
#[test]
fn bad_number_is_explained() {
    let env = [("AS_TOKEN_LIFETIME", "1h")];
    let (code, stderr) = refused(&[], &env);
    assert_eq!(code, 2);
    assert_plain(&stderr);
    assert!(stderr.contains("'1h'"), "{stderr}");
    assert!(stderr.contains("AS_TOKEN_LIFETIME"), "{stderr}");
    assert!(stderr.contains("--help"), "{stderr}");
}

/// A setting that parses but cannot work is named, with what to set instead.
#[test]
fn zero_token_lifetime_is_explained() {
    let env = [("AS_TOKEN_LIFETIME", "0"), ("AS_SERVER_PORT", "0")];
    let (code, stderr) = refused(&[], &env);
    assert_eq!(code, 1);
    assert_plain(&stderr);
    assert!(stderr.starts_with("AS_TOKEN_LIFETIME is 0"), "{stderr}");
}
