//! Cluster health check (reference §4.9): too many restarts within a window, or no checkpoint
//! progress within a window. The bookkeeping lives in `status.clusterInfo.ClusterHealthInfo`
//! (same JSON field names as the reference), so it survives operator restarts.

use super::observation::HealthCounters;
use crate::config::{OperatorConfig, flink_keys, parse_flink_duration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Key in `status.clusterInfo`.
pub const HEALTH_INFO_KEY: &str = "ClusterHealthInfo";

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct HealthInfo {
    pub time_stamp: i64,
    /// Restart count at the start of the current restart window.
    pub num_restarts: i64,
    pub num_restarts_evaluation_time_stamp: i64,
    pub num_completed_checkpoints: i64,
    pub num_completed_checkpoints_increased_time_stamp: i64,
    pub health_result: Option<HealthResult>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct HealthResult {
    pub healthy: bool,
    pub error: Option<String>,
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The checkpoint-progress window: configured, else `max(interval, timeout) × (tolerable + 2)`;
/// `None` when checkpointing is off and no window is configured.
fn checkpoint_window_ms(op: &OperatorConfig, conf: &BTreeMap<String, String>) -> Option<i64> {
    let interval = flink_keys::first_set(conf, flink_keys::CHECKPOINT_INTERVAL_KEYS)
        .and_then(|(_, v)| parse_flink_duration(v))
        .map(millis);
    let timeout = conf
        .get("execution.checkpointing.timeout")
        .and_then(|v| parse_flink_duration(v))
        .map_or(600_000, millis);
    let tolerable: i64 = conf
        .get("execution.checkpointing.tolerable-failed-checkpoints")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let derived = interval.map(|i| i.max(timeout).saturating_mul(tolerable.saturating_add(2)));
    match (op.health_check_checkpoint_progress_window.map(millis), derived) {
        (Some(w), Some(min)) => Some(w.max(min)),
        (Some(w), None) => Some(w),
        (None, d) => d,
    }
}

/// Updates the bookkeeping with new counters; returns the new info and, when unhealthy, why.
pub(crate) fn evaluate(
    previous: Option<&str>,
    counters: HealthCounters,
    op: &OperatorConfig,
    conf: &BTreeMap<String, String>,
    now_ms: i64,
) -> (HealthInfo, Option<String>) {
    let prev: Option<HealthInfo> = previous.and_then(|p| serde_json::from_str(p).ok());
    let Some(prev) = prev else {
        let info = HealthInfo {
            time_stamp: now_ms,
            num_restarts: counters.num_restarts,
            num_restarts_evaluation_time_stamp: now_ms,
            num_completed_checkpoints: counters.completed_checkpoints,
            num_completed_checkpoints_increased_time_stamp: now_ms,
            health_result: Some(HealthResult {
                healthy: true,
                error: None,
            }),
        };
        return (info, None);
    };
    let mut info = prev.clone();
    info.time_stamp = now_ms;
    let window = millis(op.health_check_restarts_window);
    let mut problem = None;
    // A counter that went down means a new job: start over.
    if counters.num_restarts < prev.num_restarts || now_ms - prev.num_restarts_evaluation_time_stamp > window
    {
        info.num_restarts = counters.num_restarts;
        info.num_restarts_evaluation_time_stamp = now_ms;
    } else {
        let restarts = counters.num_restarts - prev.num_restarts;
        if restarts > i64::from(op.health_check_restarts_threshold) {
            problem = Some(format!(
                "{restarts} restarts within {} exceed kubernetes.operator.cluster.health-check.restarts.threshold ({})",
                crate::config::format_flink_duration(op.health_check_restarts_window),
                op.health_check_restarts_threshold
            ));
        }
    }
    if counters.completed_checkpoints != prev.num_completed_checkpoints {
        info.num_completed_checkpoints = counters.completed_checkpoints;
        info.num_completed_checkpoints_increased_time_stamp = now_ms;
    } else if op.health_check_checkpoint_progress_enabled
        && let Some(w) = checkpoint_window_ms(op, conf)
        && now_ms - prev.num_completed_checkpoints_increased_time_stamp > w
        && problem.is_none()
    {
        problem = Some(format!(
            "no checkpoint completed within {} ms (kubernetes.operator.cluster.health-check.checkpoint-progress.window)",
            w
        ));
    }
    info.health_result = Some(HealthResult {
        healthy: problem.is_none(),
        error: problem.clone(),
    });
    (info, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> OperatorConfig {
        OperatorConfig {
            health_check_enabled: true,
            health_check_restarts_threshold: 3,
            ..OperatorConfig::default()
        }
    }

    #[test]
    fn restarts_over_threshold_within_window_are_unhealthy() {
        let conf = BTreeMap::new();
        let (info, p) = evaluate(None, HealthCounters::default(), &op(), &conf, 0);
        assert!(p.is_none());
        let text = serde_json::to_string(&info).unwrap();
        let (_, p) = evaluate(
            Some(&text),
            HealthCounters {
                num_restarts: 4,
                completed_checkpoints: 0,
            },
            &op(),
            &conf,
            60_000,
        );
        assert!(p.unwrap().contains("4 restarts"));
        let (_, p) = evaluate(
            Some(&text),
            HealthCounters {
                num_restarts: 3,
                completed_checkpoints: 0,
            },
            &op(),
            &conf,
            60_000,
        );
        assert!(p.is_none());
    }

    #[test]
    fn no_checkpoint_progress_within_window_is_unhealthy() {
        let mut conf = BTreeMap::new();
        conf.insert("execution.checkpointing.interval".to_string(), "10 s".to_string());
        conf.insert("execution.checkpointing.timeout".to_string(), "10 s".to_string());
        let (info, _) = evaluate(None, HealthCounters::default(), &op(), &conf, 0);
        let text = serde_json::to_string(&info).unwrap();
        let (_, p) = evaluate(Some(&text), HealthCounters::default(), &op(), &conf, 19_000);
        assert!(p.is_none());
        let (_, p) = evaluate(Some(&text), HealthCounters::default(), &op(), &conf, 21_000);
        assert!(p.unwrap().contains("no checkpoint"));
    }
}
