//! Admission rules for FlinkDeployment, FlinkSessionJob and FlinkStateSnapshot: the reference
//! validator's rules (reference §2.1–2.6, in its order, first error wins), risky-spec warnings,
//! and schema checks.
//! Pure functions shared by the webhook, the offline `validate` command and the reconciler.

mod api_server_values;
mod autoscaler;
mod components;
mod container_rules;
pub(crate) mod cron;
mod deployment;
mod error;
mod facts;
mod jar_uri;
mod job;
mod keys;
mod names;
mod pod_references;
mod pod_templates;
mod previous;
mod quantity;
mod schema;
mod session_job;
mod snapshot;
mod warnings;

pub use autoscaler::{autoscaler_enabled, validate_autoscaler};
pub use deployment::{validate_deployment, validate_deployment_facts};
pub use error::ValidationError;
pub use facts::{DeploymentConfig, DeploymentFacts, deployment_config, recorded_in, recorded_text};
pub use jar_uri::{
    HostResolver, NoDns, ResolvedHosts, SystemResolver, host_to_resolve, is_restricted, validate_jar_uri,
};
pub use job::validate_job_spec;
pub use names::{MAX_NAME_LEN, is_dns_subdomain, is_valid_cluster_name};
pub use previous::{last_reconciled_deployment_spec, last_reconciled_session_job_spec};
pub use quantity::{parse_flink_memory, parse_memory_bytes, parse_quantity};
pub use schema::{FlinkKind, validate_schema, warm_up};
pub use session_job::{session_job_flink_config, validate_session_job};
pub use snapshot::{SnapshotTarget, validate_state_snapshot};
pub use warnings::{deployment_warnings, deployment_warnings_facts, session_job_warnings};
