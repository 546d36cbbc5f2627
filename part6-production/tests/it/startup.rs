//! Start-up failures of this part's real binaries: each says in two plain
//! lines what happened and what to do, and exits non-zero.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{AS, RS};

/// Runs `binary` with `args` and only the environment in `env`, and returns
/// its exit code and stderr. A server that starts instead of refusing is
/// stopped after 10 s and fails the test.
fn refused(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(binary)
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
            panic!("{binary} {args:?} kept running instead of refusing to start");
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

/// A port someone else listens on, held while the returned listener lives.
fn taken_port() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    (listener, port)
}

/// The resource server on a taken port names it and suggests --port.
#[test]
fn rs_port_in_use_is_explained() {
    let (_held, port) = taken_port();
    let (code, stderr) = refused(RS, &["--port", &port], &[("RUST_BACKTRACE", "1")]);
    assert_eq!(code, 1);
    assert_plain(&stderr);
    assert!(
        stderr.starts_with(&format!(
            "cannot listen on 127.0.0.1:{port}: the address is already in use"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--port or RS_PORT"), "{stderr}");
}

/// A URL without its scheme, the usual slip, is refused with the fix.
#[test]
fn rs_bad_url_is_explained() {
    let env = [("RS_AUTH_SERVER_URL", "localhost:9000"), ("RS_PORT", "0")];
    let (code, stderr) = refused(RS, &[], &env);
    assert_eq!(code, 1);
    assert_plain(&stderr);
    assert!(stderr.contains("RS_AUTH_SERVER_URL"), "{stderr}");
    assert!(stderr.contains("http://localhost:9000"), "{stderr}");
}

/// A number that does not parse names the flag and its variable.
#[test]
fn rs_bad_number_is_explained() {
    let env = [("RS_INTROSPECTION_TIMEOUT", "five")];
    let (code, stderr) = refused(RS, &[], &env);
    assert_eq!(code, 2);
    assert_plain(&stderr);
    assert!(stderr.contains("'five'"), "{stderr}");
    assert!(stderr.contains("RS_INTROSPECTION_TIMEOUT"), "{stderr}");
    assert!(stderr.contains("--help"), "{stderr}");
}

/// The authorization server of this part on a taken port says the same kind of thing.
#[test]
fn as_port_in_use_is_explained() {
    let (_held, port) = taken_port();
    let (code, stderr) = refused(AS, &["--port", &port], &[("RUST_BACKTRACE", "1")]);
    assert_eq!(code, 1);
    assert_plain(&stderr);
    assert!(
        stderr.starts_with(&format!(
            "cannot listen on 127.0.0.1:{port}: the address is already in use"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--port or AS_SERVER_PORT"), "{stderr}");
}
