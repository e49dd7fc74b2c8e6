//! Retry and error semantics of the Flink REST client against a scripted HTTP server: GETs are
//! retried on 503 (leader election) within the timeout, other methods and other errors are not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use flink_lifecycle::flink::{
    FlinkClientOptions, FlinkError, FlinkRestClient, RetryPolicy, SavepointRequest,
};

const LEADER_ELECTION: &str =
    r#"{"errors":["Service temporarily unavailable due to an ongoing leader election. Please refresh."]}"#;

/// Serves `failures` answers of `status` + `body`, then `{"jobs":[]}`; counts requests.
async fn scripted(failures: usize, status: StatusCode, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let app = Router::new().fallback(any(move || {
        let seen = seen.clone();
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) < failures {
                (status, body)
            } else {
                (StatusCode::OK, r#"{"jobs":[]}"#)
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

fn client(url: &str, timeout: Duration) -> FlinkRestClient {
    FlinkRestClient::new(
        url,
        FlinkClientOptions {
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
            },
            ..FlinkClientOptions::with_timeout(timeout)
        },
    )
    .unwrap()
}

#[tokio::test]
async fn get_is_retried_through_a_leader_election() {
    let (url, count) = scripted(2, StatusCode::SERVICE_UNAVAILABLE, LEADER_ELECTION).await;
    let jobs = client(&url, Duration::from_secs(5))
        .jobs_overview()
        .await
        .unwrap();
    assert!(jobs.jobs.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_flinks_text() {
    let (url, count) = scripted(10, StatusCode::SERVICE_UNAVAILABLE, LEADER_ELECTION).await;
    let err = client(&url, Duration::from_secs(5))
        .jobs_overview()
        .await
        .unwrap_err();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    match err {
        FlinkError::Http {
            status,
            message,
            endpoint,
        } => {
            assert_eq!(status, 503);
            assert_eq!(endpoint, "GET /jobs/overview");
            assert!(message.contains("ongoing leader election"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn retries_never_outlast_the_timeout() {
    let (url, count) = scripted(10, StatusCode::SERVICE_UNAVAILABLE, LEADER_ELECTION).await;
    let slow_backoff = FlinkRestClient::new(
        &url,
        FlinkClientOptions {
            retry: RetryPolicy {
                max_attempts: 10,
                initial_backoff: Duration::from_millis(400),
                max_backoff: Duration::from_secs(5),
            },
            ..FlinkClientOptions::with_timeout(Duration::from_millis(500))
        },
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        slow_backoff.jobs_overview().await.unwrap_err().status(),
        Some(503)
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "the 400 ms backoff fits in 500 ms, the next (800 ms) does not"
    );
}

#[tokio::test]
async fn writes_and_permanent_errors_are_not_retried() {
    let (url, count) = scripted(10, StatusCode::SERVICE_UNAVAILABLE, LEADER_ELECTION).await;
    let err = client(&url, Duration::from_secs(5))
        .trigger_savepoint("0123456789abcdef0123456789abcdef", &SavepointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        err.endpoint(),
        "POST /jobs/0123456789abcdef0123456789abcdef/savepoints"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let (url, count) = scripted(10, StatusCode::NOT_FOUND, r#"{"errors":["Not found: /nope"]}"#).await;
    let err = client(&url, Duration::from_secs(5))
        .jobs_overview()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unexpected_body_is_a_decode_error_not_a_panic() {
    let (url, _) = scripted(10, StatusCode::OK, "<html>proxy login</html>").await;
    let err = client(&url, Duration::from_secs(5))
        .jobs_overview()
        .await
        .unwrap_err();
    match err {
        FlinkError::Decode {
            endpoint,
            status,
            reason,
        } => {
            assert_eq!((endpoint.as_str(), status), ("GET /jobs/overview", 200));
            assert!(reason.contains("proxy login"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// Clients the controller context hands out share one connection pool: two reconciles' REST
/// calls to the same JobManager reuse one TCP connection instead of opening one each.
#[tokio::test]
async fn the_controller_context_reuses_one_connection_per_jobmanager() {
    use axum::extract::ConnectInfo;
    use flink_lifecycle::config::OperatorConfig;
    use flink_lifecycle::controller::{Context, RestUrlResolver};
    use std::collections::BTreeSet;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    struct Fixed(String);
    impl RestUrlResolver for Fixed {
        fn rest_url(&self, _: &str, _: &str) -> Option<String> {
            Some(self.0.clone())
        }
    }

    let peers: Arc<Mutex<BTreeSet<u16>>> = Arc::default();
    let seen = peers.clone();
    let app = Router::new().fallback(any(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().insert(peer.port());
            (StatusCode::OK, r#"{"jobs":[]}"#)
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kube = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let ctx = Context::new(kube, OperatorConfig::default(), Arc::new(Fixed(url)));
    for _ in 0..5 {
        ctx.flink("ns", "cluster").unwrap().jobs_overview().await.unwrap();
    }
    assert_eq!(peers.lock().unwrap().len(), 1, "one connection for five calls");
}
