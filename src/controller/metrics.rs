//! Controller metrics: reconcile duration by kind, errors by kind and error, Flink operations in
//! flight by step. Labels are bounded (no object names).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    pub step: &'static str,
}

/// The controller's metrics.
#[derive(Clone)]
pub struct ControllerMetrics {
    pub reconcile_duration: Family<KindLabel, Histogram>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub operations_in_flight: Family<StepLabel, Gauge>,
    pub steps: Family<StepLabel, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            reconcile_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_1, 4.0, 10))
            }),
            reconcile_errors: Family::default(),
            operations_in_flight: Family::default(),
            steps: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Registers the metrics (the admin registry adds the `flink_lifecycle_` prefix).
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry;
        sub.register_with_unit(
            "reconcile_duration",
            "Duration of one reconcile",
            Unit::Seconds,
            self.reconcile_duration.clone(),
        );
        sub.register(
            "reconcile_errors",
            "Failed reconciles",
            self.reconcile_errors.clone(),
        );
        sub.register(
            "operations_in_flight",
            "Side effects being executed",
            self.operations_in_flight.clone(),
        );
        sub.register("lifecycle_steps", "Lifecycle steps executed", self.steps.clone());
    }
}
