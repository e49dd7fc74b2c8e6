//! The webhook's log lines carry the admission review's span. Alone in its binary: a scoped
//! tracing subscriber (`set_default`) misses events when other tests' threads register the same
//! callsites at the same moment (seen as an empty log about one run in three under load).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use flink_lifecycle::admin::WebhookMetrics;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::webhook::NoSessions;
use flink_lifecycle::webhook::http::{WebhookState, router};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const UPDATE: &str = include_str!("fixtures/admission/flinkdeployment-update.json");

/// Log lines of an admission review carry its span: webhook, kind, operation and uid.
#[tokio::test(flavor = "current_thread")]
async fn admission_logs_carry_the_review_in_a_span() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let review: Value = serde_json::from_str(UPDATE).unwrap();
    let uid = review["request"]["uid"].as_str().unwrap().to_string();
    let req = Request::post("/validate")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&review).unwrap()))
        .unwrap();
    let state = WebhookState {
        operator: Arc::new(OperatorConfig::default()),
        sessions: Arc::new(NoSessions),
        metrics: WebhookMetrics::unregistered(),
        dns: Default::default(),
        budget: Default::default(),
    };
    let resp = router(state).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"answered\""))
        .unwrap_or_else(|| panic!("no 'answered' line in:\n{text}"));
    let v: Value = serde_json::from_str(line).unwrap();
    let span = &v["span"];
    assert_eq!(span["name"], "admission", "{line}");
    assert_eq!(span["webhook"], "validate", "{line}");
    assert_eq!(span["kind"], "FlinkDeployment", "{line}");
    assert_eq!(span["operation"], "UPDATE", "{line}");
    assert_eq!(span["uid"], uid.as_str(), "{line}");
}
