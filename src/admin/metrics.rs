//! Prometheus metrics of the webhook and the TLS reloader (bounded labels only).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Prefix of every metric of this process.
pub const METRICS_PREFIX: &str = "flink_lifecycle";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `validate` or `mutate`.
    pub webhook: &'static str,
    /// `FlinkDeployment`, `FlinkSessionJob` or `other`.
    pub kind: &'static str,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `none` (unreadable request).
    pub operation: &'static str,
    /// `true` or `false`.
    pub allowed: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabel {
    pub webhook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `success` or `error`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Certificate refusals: `expired`, `not_yet_valid`, `unparsable`, `key_mismatch`,
    /// `unreadable` or `config`; refused requests: `body_budget`.
    pub reason: &'static str,
}

fn duration_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Webhook metrics, registered into a shared registry.
#[derive(Clone)]
pub struct WebhookMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<WebhookLabel, Histogram, fn() -> Histogram>,
    pub tls_reloads: Family<ResultLabel, Counter>,
    /// Certificate pairs refused by the reloader, by reason (counted once per distinct refusal).
    pub tls_rejections: Family<ReasonLabel, Counter>,
    /// Requests answered 429/503 before their body was read, by reason.
    pub refused: Family<ReasonLabel, Counter>,
    /// Bytes of request bodies reserved by requests being read or answered.
    pub body_bytes_in_flight: Gauge,
}

impl WebhookMetrics {
    /// Registers `webhook_requests_total`, `webhook_request_duration_seconds` and
    /// `tls_reloads_total`, `tls_certificate_rejections_total` (prefixed by the registry's prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            tls_reloads: Family::default(),
            tls_rejections: Family::default(),
            refused: Family::default(),
            body_bytes_in_flight: Gauge::default(),
        };
        registry.register(
            "webhook_requests",
            "Admission reviews answered, by webhook, kind, operation and decision",
            m.requests.clone(),
        );
        registry.register_with_unit(
            "webhook_request_duration",
            "Time to answer one admission review",
            Unit::Seconds,
            m.duration.clone(),
        );
        registry.register(
            "tls_reloads",
            "Serving certificate reloads, by result",
            m.tls_reloads.clone(),
        );
        registry.register(
            "tls_certificate_rejections",
            "New serving certificates refused (the last good one kept serving), by reason",
            m.tls_rejections.clone(),
        );
        registry.register(
            "webhook_refused_requests",
            "Admission requests refused before their body was read (the API server retries), by reason",
            m.refused.clone(),
        );
        registry.register_with_unit(
            "webhook_body_in_flight",
            "Bytes of admission request bodies held now, across connections",
            Unit::Bytes,
            m.body_bytes_in_flight.clone(),
        );
        m
    }

    /// Metrics not exported anywhere (tests, benchmarks, offline use).
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }
}

/// The registry in Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
