//! `cargo bench --bench webhook_memory` (part of `make bench`): the webhook process under 100
//! concurrent slow senders of ~3 MiB AdmissionReview bodies. The release binary runs as its own
//! process (`flink-lifecycle webhook`), so its resident memory is what a Pod's limit would see.
//! Measures peak RSS (VmHWM), how the slow requests were answered (429 when over the body
//! budget), and an ordinary review on a new connection answered meanwhile. Writes
//! bench-results/webhook-memory.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/webhook_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Client, client_config};
use tokio::io::AsyncWriteExt;

const REVIEW: &[u8] = include_bytes!("../tests/fixtures/admission/flinkdeployment-update.json");
const SENDERS: usize = 100;
const BODY_BYTES: usize = 3 * 1024 * 1024 - 4096;
const CHUNK: usize = 64 * 1024;
/// 48 chunks in ~6 s: slow, but inside the server's 10 s body timeout.
const CHUNK_PAUSE: Duration = Duration::from_millis(125);

fn binary() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(p) = std::env::var_os("FLINK_LIFECYCLE_BIN") {
        return PathBuf::from(p);
    }
    // make bench copies the release build aside (the bench profile writes the same path).
    [
        repo.join("target/flink-lifecycle.release"),
        repo.join("target/release/flink-lifecycle"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("build the release binary first (make bench does)")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn memory_kb(pid: u32) -> BTreeMap<String, u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb = v.trim().strip_suffix(" kB")?.trim().parse().ok()?;
            Some((k.to_string(), kb))
        })
        .collect()
}

/// Sends the head of a ~3 MiB review, then its body slowly; the status the server answered.
async fn slow_sender(addr: SocketAddr, ca: Vec<u8>) -> u16 {
    let Ok(mut c) = Client::connect(addr, client_config(&[&ca], &[&rustls::version::TLS13])).await else {
        return 0;
    };
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {BODY_BYTES}\r\n\r\n"
    );
    let mut body = REVIEW.to_vec();
    body.truncate(REVIEW.len() - 1);
    body.resize(BODY_BYTES - 1, b' ');
    body.push(b'}');
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    let mut sent = 0;
    for chunk in request.chunks(CHUNK) {
        if c.stream.write_all(chunk).await.is_err() || c.stream.flush().await.is_err() {
            break;
        }
        sent += chunk.len();
        if sent < request.len() {
            tokio::time::sleep(CHUNK_PAUSE).await;
        }
    }
    match c.raw(b"").await {
        Ok(r) => r.status,
        Err(_) => 0,
    }
}

/// `webhook_refused_requests_total{reason="body_budget"}` from the admin port.
async fn refused_by_budget(admin: u16) -> String {
    use tokio::io::AsyncReadExt;
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", admin)).await else {
        return "admin port unreachable".into();
    };
    let _ = s
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text).await;
    text.lines()
        .find(|l| l.contains("webhook_refused_requests_total") && l.contains("body_budget"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("0")
        .to_string()
}

fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("webhook memory benchmark: run it with `make bench`");
        return;
    }
    support::install_ring();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write_certs(dir.path());
    let (port, admin) = (free_port(), free_port());
    let mut server = Command::new(binary())
        .args(["webhook", "--webhook-addr", &format!("127.0.0.1:{port}")])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
        .arg("--tls-dir")
        .arg(dir.path())
        // No cluster here: session jobs' targets are not looked up.
        .args(["--session-lookup", "false"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flink-lifecycle webhook");
    let pid = server.id();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = client_config(&[&ca], &[&rustls::version::TLS13]);
    let report = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = Client::connect(addr, config.clone()).await
                && c.post("/validate", "application/json", REVIEW).await.is_ok()
            {
                break;
            }
            assert!(Instant::now() < deadline, "the webhook did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let idle = memory_kb(pid);
        let attack_started = Instant::now();
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| tokio::spawn(slow_sender(addr, ca.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // An ordinary review on a new connection, in the middle of the attack.
        let t = Instant::now();
        let mut c = Client::connect(addr, config.clone())
            .await
            .expect("connect during the attack");
        let ordinary = c
            .post("/validate", "application/json", REVIEW)
            .await
            .expect("ordinary review");
        let ordinary_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for s in senders {
            *statuses.entry(s.await.unwrap()).or_default() += 1;
        }
        let attack_s = attack_started.elapsed().as_secs_f64();
        let after = memory_kb(pid);
        let refused = refused_by_budget(admin).await;
        (
            idle,
            after,
            ordinary.status,
            ordinary_ms,
            statuses,
            attack_s,
            refused,
        )
    });
    let _ = server.kill();
    let _ = server.wait();
    let (idle, after, ordinary_status, ordinary_ms, statuses, attack_s, refused) = report;
    let mb = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0) as f64 / 1024.0;
    let statuses_text = statuses
        .iter()
        .map(|(s, n)| {
            format!(
                "{n} × {}",
                if *s == 0 {
                    "no answer".to_string()
                } else {
                    s.to_string()
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "# The webhook under slow large bodies (bench `webhook_memory`)\n\n\
         `cargo bench --bench webhook_memory`: the release binary as its own process \
         (`flink-lifecycle webhook`), {SENDERS} TLS connections each sending the head of a \
         {BODY_BYTES}-byte AdmissionReview and then its body in 64 KiB chunks every \
         {} ms (~6 s each, inside the 10 s body timeout); 2 s in, an ordinary 22 KB review on a \
         new connection. Memory from `/proc/<pid>/status`; the body budget is 24 MiB \
         (`src/webhook/budget.rs`).\n\n\
         | | value |\n|---|---:|\n\
         | RSS idle, after the first review (MB) | {:.1} |\n\
         | peak RSS during the attack, VmHWM (MB) | {:.1} |\n\
         | RSS after the attack (MB) | {:.1} |\n\
         | slow senders, as the client saw them | {statuses_text} |\n\
         | refused by the body budget (429, server's `webhook_refused_requests_total`) | {refused} |\n\
         | attack wall time (s) | {attack_s:.1} |\n\
         | ordinary review during the attack: status, latency (ms) | {ordinary_status}, {ordinary_ms:.1} |\n\n\
         The issue's target: peak RSS ≤ 128 MiB with an ordinary review answered meanwhile (before \
         the budget: ~334 MB). A refused sender is answered 429 before its body is read and the \
         connection closed; a client still writing its body then sees the reset rather than the \
         answer (\"no answer\" above). A client that has written its whole body when the answer comes (the API server sends a review in one write) reads the 429.\n",
        CHUNK_PAUSE.as_millis(),
        mb(&idle, "VmRSS"),
        mb(&after, "VmHWM"),
        mb(&after, "VmRSS"),
    );
    print!("{text}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-results/webhook-memory.md");
    std::fs::write(out, text).unwrap();
}
