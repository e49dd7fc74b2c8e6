//! The real server over real TLS with a rustls client: decisions, HTTP-level rejections,
//! protocol versions, readiness, and certificate rotation by a Secret volume's `..data`
//! symlink swap while serving (keeping the last good pair when the new one is broken).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "webhook_support/mod.rs"]
mod support;

use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::webhook::NoSessions;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::{Client, client_config, start};

const UPDATE: &str = include_str!("fixtures/admission/flinkdeployment-update.json");
const ALL: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Lays out `dir` as the kubelet does for a Secret volume: `..<ts>/` with the files, `..data`
/// pointing at it, and `tls.crt`/`tls.key` pointing through `..data`.
fn secret_volume(dir: &Path, generation: &str) -> Vec<u8> {
    let data = dir.join(format!("..{generation}"));
    std::fs::create_dir_all(&data).unwrap();
    let ca = support::write_certs(&data);
    std::os::unix::fs::symlink(format!("..{generation}"), dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::os::unix::fs::symlink(format!("..data/{f}"), dir.join(f)).unwrap();
    }
    ca
}

/// The kubelet's atomic update: new timestamped dir, `..data_tmp` symlink renamed over `..data`.
fn swap_secret(dir: &Path, generation: &str, write: impl FnOnce(&Path)) {
    let data = dir.join(format!("..{generation}"));
    std::fs::create_dir_all(&data).unwrap();
    write(&data);
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{generation}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

#[tokio::test]
async fn decisions_over_tls_with_keep_alive() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write_certs(dir.path());
    let server = start(dir.path(), OperatorConfig::default(), Arc::new(NoSessions)).await;
    assert!(
        server.readiness.is_ready(),
        "ready once the certificate is loaded"
    );
    let mut c = Client::connect(server.addr, client_config(&[&ca], ALL))
        .await
        .unwrap();

    // allowed + warned (one keep-alive connection for everything below)
    let r = c
        .post("/validate", "application/json", UPDATE.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["response"]["allowed"], true);
    assert!(!v["response"]["warnings"].as_array().unwrap().is_empty());

    // denied
    let job = json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {"deploymentName": "s", "job": {"jarURI": "http://10.0.0.1/j.jar", "parallelism": 1}}});
    let r = c
        .post(
            "/validate",
            "application/json",
            &support::review("d-1", "CREATE", &job, None),
        )
        .await
        .unwrap();
    let v = r.json();
    assert_eq!(
        (v["response"]["uid"].as_str(), v["response"]["allowed"].as_bool()),
        (Some("d-1"), Some(false))
    );
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.job.jarURI")
    );

    // patched
    let r = c
        .post(
            "/mutate",
            "application/json; charset=utf-8",
            &support::review("p-1", "CREATE", &job, None),
        )
        .await
        .unwrap();
    assert_eq!(r.json()["response"]["patchType"], "JSONPatch");

    // malformed JSON
    let r = c
        .post("/validate", "application/json", b"{\"request\": ")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not JSON"));

    // wrong content type
    let r = c
        .post("/validate", "application/x-www-form-urlencoded", b"a=b")
        .await
        .unwrap();
    assert_eq!(r.status, 415);

    // still the same connection
    let r = c
        .post("/validate", "application/json", UPDATE.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // oversized: declared length above 3 MiB is refused before reading it
    let mut big = Client::connect(server.addr, client_config(&[&ca], ALL))
        .await
        .unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        4 * 1024 * 1024
    );
    let r = big.raw(head.as_bytes()).await.unwrap();
    assert_eq!(r.status, 413);
    // oversized and actually sent (chunked, no length): cut at the limit
    let mut chunked = Client::connect(server.addr, client_config(&[&ca], ALL))
        .await
        .unwrap();
    let mut req = b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..4 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = chunked.raw_lenient(&req).await.unwrap();
    assert_eq!(r.status, 413);

    // TLS 1.2 is accepted
    let mut tls12 = Client::connect(server.addr, client_config(&[&ca], &[&rustls::version::TLS12]))
        .await
        .unwrap();
    assert_eq!(
        tls12.stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        tls12
            .post("/validate", "application/json", UPDATE.as_bytes())
            .await
            .unwrap()
            .status,
        200
    );

    let metrics = flink_lifecycle::admin::encode(&server.registry);
    assert!(metrics.contains("webhook_requests_total{webhook=\"validate\",kind=\"FlinkDeployment\",operation=\"UPDATE\",allowed=\"true\"} 3"), "{metrics}");
    assert!(
        metrics.contains("webhook_request_duration_seconds_count{webhook=\"validate\"}"),
        "{metrics}"
    );

    server.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), server.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn not_ready_and_no_handshake_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), OperatorConfig::default(), Arc::new(NoSessions)).await;
    assert!(!server.readiness.is_ready());
    let other = tempfile::tempdir().unwrap();
    let ca = support::write_certs(other.path());
    assert!(
        Client::connect(server.addr, client_config(&[&ca], ALL))
            .await
            .is_err()
    );
    // The certificate appears: served within the reload interval, and ready.
    for f in ["tls.crt", "tls.key"] {
        std::fs::copy(other.path().join(f), dir.path().join(f)).unwrap();
    }
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if Client::connect(server.addr, client_config(&[&ca], ALL))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "certificate picked up");
    assert!(server.readiness.is_ready());
    server.shutdown.cancel();
}

async fn served_leaf(addr: std::net::SocketAddr, cas: &[&[u8]]) -> Vec<u8> {
    Client::connect(addr, client_config(cas, ALL))
        .await
        .unwrap()
        .server_leaf()
}

#[tokio::test]
async fn rotation_by_symlink_swap_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca_a = secret_volume(dir.path(), "2026_11_23_a");
    let server = start(dir.path(), OperatorConfig::default(), Arc::new(NoSessions)).await;
    let leaf_a = served_leaf(server.addr, &[&ca_a]).await;

    // A connection open across the swap keeps working.
    let mut long_lived = Client::connect(server.addr, client_config(&[&ca_a], ALL))
        .await
        .unwrap();

    let mut ca_b = Vec::new();
    swap_secret(dir.path(), "2026_11_23_b", |d| ca_b = support::write_certs(d));
    let mut leaf_b = leaf_a.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        leaf_b = served_leaf(server.addr, &[&ca_a, &ca_b]).await;
        if leaf_b != leaf_a {
            break;
        }
    }
    assert_ne!(leaf_b, leaf_a, "the swapped certificate is served");
    // New clients trusting only the new CA connect.
    served_leaf(server.addr, &[&ca_b]).await;
    assert_eq!(
        long_lived
            .post("/validate", "application/json", UPDATE.as_bytes())
            .await
            .unwrap()
            .status,
        200
    );

    // A broken pair (key of another certificate) is refused; the last good one stays.
    swap_secret(dir.path(), "2026_11_23_c", |d| {
        let scratch = tempfile::tempdir().unwrap();
        support::write_certs(scratch.path());
        std::fs::copy(dir.path().join("..2026_11_23_b/tls.crt"), d.join("tls.crt")).unwrap();
        std::fs::copy(scratch.path().join("tls.key"), d.join("tls.key")).unwrap();
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(served_leaf(server.addr, &[&ca_b]).await, leaf_b);
    let metrics = flink_lifecycle::admin::encode(&server.registry);
    assert!(
        metrics.contains("tls_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tls_reloads_total{result=\"success\"} 2"),
        "{metrics}"
    );
    assert!(server.readiness.is_ready());
    server.shutdown.cancel();
}

#[tokio::test]
async fn idle_and_slow_clients_are_cut_off() {
    use flink_lifecycle::tls::{CertStore, ServerTimeouts, load_pair, serve_tls, server_config};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    support::install_ring();
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write_certs(dir.path());
    let store = Arc::new(CertStore::new());
    store.store(load_pair(dir.path()).unwrap().1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeouts = ServerTimeouts {
        handshake: Duration::from_millis(300),
        header_read: Duration::from_millis(300),
        drain: Duration::from_secs(1),
        ..ServerTimeouts::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let app = axum::Router::new().route("/validate", axum::routing::post(|| async { "ok" }));
    tokio::spawn(serve_tls(
        listener,
        Arc::new(server_config(store).unwrap()),
        app,
        timeouts,
        shutdown.clone(),
    ));

    // No TLS handshake at all: closed.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), raw.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "silent TCP client is disconnected");

    // Idle keep-alive connection after a request: closed.
    let mut c = Client::connect(addr, client_config(&[&ca], ALL)).await.unwrap();
    assert_eq!(
        c.post("/validate", "application/json", b"{}")
            .await
            .unwrap()
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        c.post("/validate", "application/json", b"{}").await.is_err(),
        "idle connection was closed"
    );

    // Headers trickling in: closed.
    let mut slow = Client::connect(addr, client_config(&[&ca], ALL)).await.unwrap();
    slow.stream
        .write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    slow.stream.flush().await.unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(3), slow.stream.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(read, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).contains("408"),
        "slow headers cut off"
    );
    shutdown.cancel();
}

/// A self-signed pair for localhost whose validity is `[not_before, not_after]` (years).
fn dated_pair(dir: &Path, not_before: i32, not_after: i32) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(not_before, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn an_expired_certificate_swapped_in_is_refused_and_the_old_one_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca_a = secret_volume(dir.path(), "2026_11_23_a");
    let server = start(dir.path(), OperatorConfig::default(), Arc::new(NoSessions)).await;
    let leaf_a = served_leaf(server.addr, &[&ca_a]).await;

    // Expired (2020..2021), and a not-yet-valid one (2090..2091): both refused.
    for (generation, from, to, reason) in [
        ("2026_11_23_b", 2020, 2021, "expired"),
        ("2026_11_23_c", 2090, 2091, "not_yet_valid"),
    ] {
        swap_secret(dir.path(), generation, |d| dated_pair(d, from, to));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // The served certificate is still the first one (a client trusting only its CA connects).
        assert_eq!(served_leaf(server.addr, &[&ca_a]).await, leaf_a, "{reason}");
        let metrics = flink_lifecycle::admin::encode(&server.registry);
        assert!(
            metrics.contains(&format!(
                "tls_certificate_rejections_total{{reason=\"{reason}\"}} 1"
            )),
            "{metrics}"
        );
        let detail = server.readiness.details()["tls-certificate"].clone();
        assert!(detail.ready, "the previous certificate still serves");
        let text = detail.detail.unwrap_or_default();
        let word = if reason == "expired" {
            "expired"
        } else {
            "not valid before"
        };
        assert!(text.contains(word) && text.contains("tls.crt"), "{text}");
    }
    assert!(server.readiness.is_ready());

    // A valid pair again: served, and the detail is cleared.
    let mut ca_d = Vec::new();
    swap_secret(dir.path(), "2026_11_23_d", |d| ca_d = support::write_certs(d));
    let mut served = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if Client::connect(server.addr, client_config(&[&ca_d], ALL))
            .await
            .is_ok()
        {
            served = true;
            break;
        }
    }
    assert!(served, "the valid certificate is picked up");
    assert_eq!(server.readiness.details()["tls-certificate"].detail, None);
    server.shutdown.cancel();
}

#[tokio::test]
async fn starting_with_an_expired_certificate_is_an_error_naming_the_file() {
    support::install_ring();
    let dir = tempfile::tempdir().unwrap();
    dated_pair(dir.path(), 2020, 2021);
    let args = flink_lifecycle::webhook::WebhookArgs::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        false,
    );
    let readiness = flink_lifecycle::admin::Readiness::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let err = flink_lifecycle::webhook::start_webhook(
        &args,
        Arc::new(OperatorConfig::default()),
        Arc::new(NoSessions),
        &readiness,
        &mut registry,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    let file = dir.path().join("tls.crt").display().to_string();
    assert!(err.contains(&file) && err.contains("expired"), "{err}");

    // The binary exits non-zero with that message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flink-lifecycle"))
        .args([
            "webhook",
            "--session-lookup=false",
            "--webhook-addr=127.0.0.1:0",
            "--admin-addr=127.0.0.1:0",
            "--tls-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&file) && stderr.contains("expired"), "{stderr}");
}

#[tokio::test]
async fn every_client_error_has_a_body_saying_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write_certs(dir.path());
    let server = start(dir.path(), OperatorConfig::default(), Arc::new(NoSessions)).await;
    let config = client_config(&[&ca], ALL);
    let long_uri = format!("/validate?{}", "a".repeat(70 * 1024));
    let many_headers: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"GET /validate HTTP/1.1\r\nhost: localhost\r\n\r\n".to_vec(),
            405,
            "not allowed",
        ),
        (
            format!("POST {long_uri} HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n").into_bytes(),
            414,
            "URI too long",
        ),
        (
            format!("POST /validate HTTP/1.1\r\nhost: localhost\r\n{many_headers}content-length: 0\r\n\r\n")
                .into_bytes(),
            431,
            "too many headers",
        ),
        (b"BROKEN\r\n\r\n".to_vec(), 400, "cannot be parsed"),
        (
            b"POST /nowhere HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n".to_vec(),
            404,
            "unknown path",
        ),
        (
            b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n"
                .to_vec(),
            415,
            "application/json",
        ),
    ];
    for (request, status, text) in cases {
        let mut c = Client::connect(server.addr, config.clone()).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), c.raw_lenient(&request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, status, "{}", r.text());
        assert!(r.text().contains(text), "{status}: '{}'", r.text());
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("text/plain")),
            "{status}: {:?}",
            r.headers
        );
    }
    server.shutdown.cancel();
}

#[tokio::test]
async fn idle_admin_connections_cannot_starve_the_webhook() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write_certs(dir.path());
    // The server runs with 256 file descriptors, so 1,000 held admin connections would run it out.
    let script = format!(
        "ulimit -n 256 && exec '{}' webhook --session-lookup=false --webhook-addr=127.0.0.1:0 --admin-addr=127.0.0.1:0 --tls-dir '{}'",
        env!("CARGO_BIN_EXE_flink-lifecycle"),
        dir.path().display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Logs share standard output: keep the two address lines.
        for line in std::io::BufReader::new(stdout).lines().take(50) {
            let line = line.unwrap_or_default();
            if line.starts_with("webhook:") || line.starts_with("admin:") {
                let _ = tx.send(line);
            }
        }
    });
    let port_after = |line: &str, prefix: &str| -> std::net::SocketAddr {
        let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
        rest[..rest.find('/').unwrap()].parse().unwrap()
    };
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let webhook = port_after(&first, "https://");
    let admin = port_after(&second, "http://");

    let mut idle = Vec::new();
    for _ in 0..1_000 {
        match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(admin)).await {
            Ok(Ok(s)) => idle.push(s),
            _ => break,
        }
    }
    assert!(idle.len() >= 500, "opened {} idle connections", idle.len());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = std::time::Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        let mut c = Client::connect(webhook, client_config(&[&ca], ALL)).await?;
        c.post("/validate", "application/json", UPDATE.as_bytes()).await
    })
    .await;
    let ok = matches!(&answered, Ok(Ok(r)) if r.status == 200);
    drop(idle);
    // The admin port answers again once the idle connections are gone.
    let mut livez = false;
    for _ in 0..30 {
        if let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(admin)).await
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s
                .write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut buf)).await;
            if String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200") {
                livez = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "webhook review under idle admin load: {answered:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(livez, "admin port answers again");
}

/// Shutdown stops accepting first: while an in-flight request drains, a new connection is
/// refused at once instead of waiting in the listen backlog.
#[tokio::test]
async fn after_shutdown_new_connections_are_refused_while_requests_drain() {
    use flink_lifecycle::tls::{CertStore, ServerTimeouts, load_pair, serve_tls, server_config};
    support::install_ring();
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write_certs(dir.path());
    let store = Arc::new(CertStore::new());
    store.store(load_pair(dir.path()).unwrap().1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeouts = ServerTimeouts {
        drain: Duration::from_secs(5),
        ..ServerTimeouts::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    // A request that takes 2 s: the drain waits for it.
    let app = axum::Router::new().route(
        "/validate",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "ok"
        }),
    );
    let server = tokio::spawn(serve_tls(
        listener,
        Arc::new(server_config(store).unwrap()),
        app,
        timeouts,
        shutdown.clone(),
    ));
    let mut inflight = Client::connect(addr, client_config(&[&ca], ALL)).await.unwrap();
    let request = tokio::spawn(async move { inflight.post("/validate", "application/json", b"{}").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = std::time::Instant::now();
    let attempt = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await;
    assert!(
        matches!(attempt, Ok(Err(_))),
        "a connection after shutdown is refused at once: {attempt:?} after {:?}",
        started.elapsed()
    );
    let answered = request.await.unwrap().expect("the in-flight request is answered");
    assert_eq!(answered.status, 200, "in-flight requests drain");
    tokio::time::timeout(Duration::from_secs(6), server)
        .await
        .expect("the server ends after the drain")
        .unwrap();
}
