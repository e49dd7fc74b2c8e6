//! The axum shell of the webhook: content type and size checks, body read timeout, DNS for the
//! jarURI rule, metrics; the decision itself is [`super::review`].
//!
//! DNS: only `/validate` looks the jarURI host up (`/mutate` never does). A failed or timed-out
//! lookup never denies on its own: the restricted-host check is skipped for that review and the
//! answer carries a warning naming the host and what went wrong.

use super::answer::encode_review;
use super::budget::{BodyBudget, Reservation};
use super::decode::{BadReview, host_to_lookup, parse_review, request_kind};
use super::review::{Endpoint, review};
use super::rules::ReviewContext;
use super::sessions::SessionLookup;
use crate::admin::{ReasonLabel, RequestLabels, WebhookLabel, WebhookMetrics};
use crate::config::OperatorConfig;
use crate::validation::HostResolver;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;
use kube::core::admission::{AdmissionResponse, Operation};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest accepted body: the API server's own request limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
pub use super::budget::BODY_READ_TIMEOUT;
/// Time allowed for the jarURI host lookup.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(2);

/// Looks a host name up (asynchronously, for the jarURI rule of `/validate`).
pub trait LookupHost: Send + Sync {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (`getaddrinfo` on the blocking pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemLookup;

impl LookupHost for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 443)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// DNS of the webhook: the resolver and how long one lookup may take.
#[derive(Clone)]
pub struct WebhookDns {
    pub lookup: Arc<dyn LookupHost>,
    pub timeout: Duration,
}

impl Default for WebhookDns {
    fn default() -> Self {
        Self {
            lookup: Arc::new(SystemLookup),
            timeout: DNS_TIMEOUT,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct WebhookState {
    pub operator: Arc<OperatorConfig>,
    pub sessions: Arc<dyn SessionLookup>,
    pub metrics: WebhookMetrics,
    pub dns: WebhookDns,
    /// Bytes of request bodies held at once, across connections.
    pub budget: BodyBudget,
}

/// `POST /validate`, `POST /mutate`; anything else gets a 404/405 with a message.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST")],
                format!("method {method} not allowed: /validate and /mutate take POST\n"),
            )
        })
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "unknown path: this webhook serves POST /validate and POST /mutate\n",
            )
        })
        .with_state(state)
}

async fn validate(State(s): State<WebhookState>, headers: HeaderMap, body: Body) -> Response {
    handle(Endpoint::Validate, s, headers, body).await
}

async fn mutate(State(s): State<WebhookState>, headers: HeaderMap, body: Body) -> Response {
    handle(Endpoint::Mutate, s, headers, body).await
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

async fn read_body(
    s: &WebhookState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Reservation), Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .or_else(|| {
            axum::body::HttpBody::size_hint(&body)
                .exact()
                .and_then(|n| usize::try_from(n).ok())
        });
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    // A body of unknown length may grow to the largest accepted one.
    let Some(reservation) = s.budget.reserve(declared.unwrap_or(MAX_BODY_BYTES)).await else {
        s.metrics
            .refused
            .get_or_create(&ReasonLabel {
                reason: "body_budget",
            })
            .inc();
        let mut r = plain(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "the webhook is reading {} bytes of other requests' bodies (its limit is {}); retry",
                s.budget.in_flight(),
                s.budget.total()
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Err(r);
    };
    s.metrics.body_bytes_in_flight.set(s.budget.in_flight() as i64);
    match tokio::time::timeout(s.budget.read_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
        .map(|r| r.map(|bytes| (bytes, reservation)))
    {
        Err(_) => Err(plain(
            StatusCode::REQUEST_TIMEOUT,
            "the body was not received in time",
        )),
        Ok(Err(e)) => {
            let length_limit =
                std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if length_limit {
                Err(too_large())
            } else {
                Err(plain(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                ))
            }
        }
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// One admission request; its log lines carry the review in a span (kind, operation and uid
/// once the body is read).
#[tracing::instrument(
    name = "admission",
    skip_all,
    fields(
        webhook = endpoint.as_str(),
        kind = tracing::field::Empty,
        operation = tracing::field::Empty,
        uid = tracing::field::Empty,
    )
)]
async fn handle(endpoint: Endpoint, s: WebhookState, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let response = answer(endpoint, &s, &headers, body).await;
    s.metrics.body_bytes_in_flight.set(s.budget.in_flight() as i64);
    s.metrics
        .duration
        .get_or_create(&WebhookLabel {
            webhook: endpoint.as_str(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn answer(endpoint: Endpoint, s: &WebhookState, headers: &HeaderMap, body: Body) -> Response {
    let count = |kind: &'static str, operation: &'static str, allowed: bool| {
        s.metrics
            .requests
            .get_or_create(&RequestLabels {
                webhook: endpoint.as_str(),
                kind,
                operation,
                allowed: if allowed { "true" } else { "false" },
            })
            .inc();
    };
    if !is_json(headers) {
        count("other", "none", false);
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be an AdmissionReview as application/json",
        );
    }
    // The reservation is held until the answer is built: the body stays in memory until then.
    let (bytes, _reservation) = match read_body(s, headers, body).await {
        Ok(b) => b,
        Err(r) => {
            count("other", "none", false);
            return r;
        }
    };
    let req = match parse_review(&bytes) {
        Ok(req) => req,
        Err(bad) => return bad_review(bad, count),
    };
    let kind = request_kind(&req).map_or("other", |k| k.as_str());
    let operation = match req.operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    };
    tracing::Span::current()
        .record("kind", kind)
        .record("operation", operation)
        .record("uid", req.uid.as_str());
    // Only validation looks hosts up; the mutation never needs an address.
    let host = match endpoint {
        Endpoint::Validate => host_to_lookup(&req, &s.operator),
        Endpoint::Mutate => None,
    };
    let resolver = resolve(&s.dns, host).await;
    let ctx = ReviewContext {
        operator: &s.operator,
        sessions: s.sessions.as_ref(),
        resolver: &resolver,
    };
    // The decision runs right here on the runtime worker. On the blocking pool it cost ~80 µs
    // more CPU per review in thread hand-offs (bench-results/webhook.md) and only looked faster
    // on a shared machine by taking a larger share of its cores.
    let mut resp = review(endpoint, &req, &ctx);
    tracing::debug!(allowed = resp.allowed, "answered");
    if let Some(warning) = resolver.warning() {
        resp.warnings.get_or_insert_with(Vec::new).push(warning);
    }
    count(kind, operation, resp.allowed);
    json_review(resp)
}

/// A body that is not an admissible review: a 400, or an answer without a usable request.
fn bad_review(bad: BadReview, count: impl Fn(&'static str, &'static str, bool)) -> Response {
    count("other", "none", false);
    match bad {
        BadReview::Malformed(message) => plain(StatusCode::BAD_REQUEST, message),
        BadReview::NoRequest(resp) | BadReview::Unreadable(resp) => json_review(*resp),
    }
}

/// The answer of the one lookup a review may need. A failed lookup makes the rule skip host
/// names (as `validate --no-dns` does) instead of denying: DNS trouble is not the user's error.
#[derive(Debug)]
struct Lookup {
    host: Option<String>,
    answer: Result<Vec<IpAddr>, String>,
}

impl Lookup {
    fn failed(&self) -> bool {
        self.host.is_some() && !matches!(&self.answer, Ok(a) if !a.is_empty())
    }

    /// The warning of a failed lookup.
    fn warning(&self) -> Option<String> {
        if !self.failed() {
            return None;
        }
        let host = self.host.as_deref().unwrap_or_default();
        let why = match &self.answer {
            Ok(_) => "the lookup returned no addresses".to_string(),
            Err(e) => e.clone(),
        };
        Some(format!(
            "spec.job.jarURI: the DNS lookup of host '{host}' failed ({why}); the restricted-host check was skipped for this change"
        ))
    }
}

impl HostResolver for Lookup {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        match (&self.host, &self.answer) {
            (Some(h), answer) if h == host => answer.clone(),
            _ => Err("no DNS answer available".into()),
        }
    }
}

/// Resolves the jarURI host (if any) before the pure review runs.
async fn resolve(dns: &WebhookDns, host: Option<String>) -> Lookup {
    let Some(host) = host else {
        return Lookup {
            host: None,
            answer: Ok(Vec::new()),
        };
    };
    let answer = match tokio::time::timeout(dns.timeout, dns.lookup.lookup(host.clone())).await {
        Err(_) => Err(format!("timed out after {} ms", dns.timeout.as_millis())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(addrs)) => Ok(addrs),
    };
    Lookup {
        host: Some(host),
        answer,
    }
}

fn json_review(resp: AdmissionResponse) -> Response {
    match encode_review(resp) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        ),
    }
}
