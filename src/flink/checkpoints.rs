//! Checkpoint statistics: `GET /jobs/<id>/checkpoints`.

use serde::Deserialize;

use super::wire;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CheckpointStatistics {
    #[serde(default)]
    pub counts: CheckpointCounts,
    #[serde(default)]
    pub latest: LatestCheckpoints,
    /// Newest first; may start with an IN_PROGRESS entry.
    #[serde(default, deserialize_with = "wire::vec_or_null")]
    pub history: Vec<CheckpointEntry>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CheckpointCounts {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub restored: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub total: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub in_progress: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub completed: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub failed: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct LatestCheckpoints {
    #[serde(default)]
    pub completed: Option<CheckpointEntry>,
    #[serde(default)]
    pub savepoint: Option<CheckpointEntry>,
    #[serde(default)]
    pub failed: Option<CheckpointEntry>,
    #[serde(default)]
    pub restored: Option<RestoredCheckpoint>,
}

/// One checkpoint or savepoint (a `history` entry or `latest.completed|savepoint|failed`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CheckpointEntry {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub id: Option<i64>,
    /// IN_PROGRESS, COMPLETED or FAILED.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_savepoint: bool,
    /// CHECKPOINT, SAVEPOINT, SYNC_SAVEPOINT, ...
    #[serde(default, deserialize_with = "wire::opt_string")]
    pub checkpoint_type: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub trigger_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub latest_ack_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub state_size: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub checkpointed_size: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub end_to_end_duration: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_string")]
    pub external_path: Option<String>,
    #[serde(default)]
    pub discarded: bool,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub failure_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_string")]
    pub failure_message: Option<String>,
}

impl CheckpointEntry {
    pub fn is_in_progress(&self) -> bool {
        self.status == "IN_PROGRESS"
    }
}

/// `latest.restored`: the snapshot the current execution started from.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RestoredCheckpoint {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub restore_timestamp: Option<i64>,
    /// Reflects the claim mode (true in NO_CLAIM mode even for a retained checkpoint), not what
    /// the snapshot is.
    #[serde(default)]
    pub is_savepoint: bool,
    #[serde(default, deserialize_with = "wire::opt_string")]
    pub external_path: Option<String>,
}

/// The newest snapshot the job can be restored from, whatever produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestSnapshot {
    pub id: i64,
    pub external_path: String,
    /// Trigger time of a checkpoint/savepoint, restore time of a restored snapshot.
    pub timestamp: Option<i64>,
}

impl CheckpointStatistics {
    /// The highest-id snapshot with an external path among `latest.completed`,
    /// `latest.savepoint` and `latest.restored` (what the reference operator treats as "last
    /// checkpoint" for last-state upgrades).
    pub fn latest_snapshot(&self) -> Option<LatestSnapshot> {
        let completed = [&self.latest.completed, &self.latest.savepoint]
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some(LatestSnapshot {
                    id: c.id?,
                    external_path: c.external_path.clone().filter(|p| !p.is_empty())?,
                    timestamp: c.trigger_timestamp,
                })
            });
        let restored = self.latest.restored.iter().filter_map(|r| {
            Some(LatestSnapshot {
                id: r.id?,
                external_path: r.external_path.clone().filter(|p| !p.is_empty())?,
                timestamp: r.restore_timestamp,
            })
        });
        completed.chain(restored).max_by_key(|s| s.id)
    }

    /// The checkpoint or savepoint being taken now, if any.
    pub fn in_progress(&self) -> Option<&CheckpointEntry> {
        self.history.first().filter(|c| c.is_in_progress())
    }

    /// Where the current execution restored from.
    pub fn restored_path(&self) -> Option<&str> {
        self.latest.restored.as_ref()?.external_path.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(json: &str) -> CheckpointStatistics {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn latest_snapshot_is_the_highest_id_with_a_path() {
        let s = stats(
            r#"{"latest":{
                "completed":{"id":21,"status":"COMPLETED","external_path":"file:/c/chk-21","trigger_timestamp":5},
                "savepoint":{"id":19,"status":"COMPLETED","external_path":"file:/s/savepoint-1"},
                "restored":{"id":20,"restore_timestamp":3,"is_savepoint":true,"external_path":"file:/s/savepoint-0"}},
              "history":[{"id":22,"status":"IN_PROGRESS"},{"id":21,"status":"COMPLETED"}]}"#,
        );
        assert_eq!(
            s.latest_snapshot(),
            Some(LatestSnapshot {
                id: 21,
                external_path: "file:/c/chk-21".into(),
                timestamp: Some(5)
            })
        );
        assert_eq!(s.in_progress().and_then(|c| c.id), Some(22));
        assert_eq!(s.restored_path(), Some("file:/s/savepoint-0"));
    }

    #[test]
    fn a_restored_snapshot_counts_and_pathless_entries_do_not() {
        let s = stats(
            r#"{"latest":{"completed":{"id":30,"external_path":null},
                "restored":{"id":20,"restore_timestamp":3,"external_path":"file:/c/chk-20"}},
              "history":[{"id":30,"status":"COMPLETED"}]}"#,
        );
        assert_eq!(s.latest_snapshot().map(|l| l.id), Some(20));
        assert_eq!(s.in_progress().map(|c| c.id), None);
        assert_eq!(stats("{}").latest_snapshot(), None);
    }
}
