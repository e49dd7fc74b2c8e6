//! Shutdown of the serving process as Kubernetes drives it (SIGTERM): `/readyz` turns false at
//! once and stays answering while the requests in flight drain, a new webhook connection is
//! refused at once, and the process exits within the drain period.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flink-lifecycle");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` on a plain-HTTP port, if it answers.
fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn sigterm_turns_readiness_false_refuses_new_connections_and_drains() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "certs",
            "--out",
            dir.path().to_str().unwrap(),
            "--dns",
            "localhost",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (port, admin) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .args(["webhook", "--tls-dir", dir.path().to_str().unwrap()])
        .args(["--webhook-addr", &format!("127.0.0.1:{port}")])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
        .args(["--session-lookup", "false"])
        // The connection held below would last the handshake timeout; the drain flag cuts it.
        .args(["--handshake-timeout", "60 s", "--drain-timeout", "2 s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_status(admin, "/readyz") != Some(200) {
        assert!(Instant::now() < deadline, "the webhook never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A connection in flight (no TLS handshake yet): the drain waits for it (handshake timeout).
    let _inflight = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get_status(admin, "/readyz"),
        Some(503),
        "not ready while draining (and the admin port still answers)"
    );
    let attempt = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    );
    assert!(
        attempt.is_err(),
        "a new webhook connection is refused during the drain"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "both answers came at once: {:?}",
        signalled.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            assert!(
                signalled.elapsed() < Duration::from_secs(6),
                "--drain-timeout 2 s bounds the drain: exited {:?} after SIGTERM",
                signalled.elapsed()
            );
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within the drain");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
