//! Config-key spelling for messages: Flink 2.x reads only the new names, 1.x both.

use crate::api::FlinkVersion;

/// The checkpoint-directory key(s) to name in a message for this Flink version.
pub fn checkpoint_dir_keys(version: Option<FlinkVersion>) -> &'static str {
    if version.is_some_and(FlinkVersion::is_2x) {
        "execution.checkpointing.dir"
    } else {
        "execution.checkpointing.dir (Flink 1.x also reads state.checkpoints.dir)"
    }
}

/// The savepoint-directory key(s) to name in a message for this Flink version.
pub fn savepoint_dir_keys(version: Option<FlinkVersion>) -> &'static str {
    if version.is_some_and(FlinkVersion::is_2x) {
        "execution.checkpointing.savepoint-dir"
    } else {
        "execution.checkpointing.savepoint-dir (Flink 1.x also reads state.savepoints.dir)"
    }
}

/// How to turn on high availability, for messages.
pub const ENABLE_HA: &str = "Enable high availability in spec.flinkConfiguration, e.g. \
     high-availability.type: kubernetes and high-availability.storageDir: <durable path>";

/// A Flink config key as a location in a message.
pub fn conf_location(key: &str) -> String {
    format!("spec.flinkConfiguration[{key}]")
}
