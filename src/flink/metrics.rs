//! `GET /jobs/<id>/metrics?get=a,b`: `[{"id":"a","value":"1"}]`. Values are strings; the REST
//! metric fetcher fills lazily, so a missing metric (or `[]`) means "unknown", never 0.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::wire;

pub const NUM_RESTARTS: &str = "numRestarts";
/// 1.x name of the restart counter; dropped in 2.x.
pub const FULL_RESTARTS: &str = "fullRestarts";
pub const COMPLETED_CHECKPOINTS: &str = "numberOfCompletedCheckpoints";

#[derive(Deserialize)]
pub(crate) struct MetricValue {
    pub id: String,
    #[serde(default, deserialize_with = "wire::opt_string")]
    pub value: Option<String>,
}

/// Raw metric values by name; a name Flink did not return is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricValues(pub BTreeMap<String, String>);

impl MetricValues {
    pub(crate) fn from_wire(values: Vec<MetricValue>) -> Self {
        Self(
            values
                .into_iter()
                .filter_map(|m| Some((m.id, m.value?)))
                .collect(),
        )
    }

    /// Parses a `GET /jobs/<id>/metrics?get=...` body.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let values: Vec<MetricValue> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(Self::from_wire(values))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// An integer metric; `None` when absent or not an integer (`"NaN"`).
    pub fn count(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(wire::parse_i64)
    }
}

/// The metrics the lifecycle's health checks read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobHealthMetrics {
    /// `numRestarts`, else 1.x `fullRestarts`; `None` when Flink has not reported it yet.
    pub num_restarts: Option<i64>,
    pub completed_checkpoints: Option<i64>,
}

impl JobHealthMetrics {
    pub fn from_values(values: &MetricValues) -> Self {
        Self {
            num_restarts: values.count(NUM_RESTARTS).or_else(|| values.count(FULL_RESTARTS)),
            completed_checkpoints: values.count(COMPLETED_CHECKPOINTS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(json: &str) -> MetricValues {
        MetricValues::from_wire(serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn empty_answer_is_unknown_not_zero() {
        assert_eq!(
            JobHealthMetrics::from_values(&values("[]")),
            JobHealthMetrics {
                num_restarts: None,
                completed_checkpoints: None
            }
        );
    }

    #[test]
    fn full_restarts_is_the_fallback_and_nan_is_unknown() {
        let m = values(
            r#"[{"id":"fullRestarts","value":"2"},{"id":"numberOfCompletedCheckpoints","value":"NaN"}]"#,
        );
        assert_eq!(
            JobHealthMetrics::from_values(&m),
            JobHealthMetrics {
                num_restarts: Some(2),
                completed_checkpoints: None
            }
        );
        let m = values(
            r#"[{"id":"fullRestarts","value":"2"},{"id":"numRestarts","value":"3"},{"id":"numberOfCompletedCheckpoints","value":"0"}]"#,
        );
        assert_eq!(
            JobHealthMetrics::from_values(&m),
            JobHealthMetrics {
                num_restarts: Some(3),
                completed_checkpoints: Some(0)
            }
        );
    }
}
