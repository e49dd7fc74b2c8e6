//! The admission webhook: `POST /validate` and `POST /mutate` for FlinkDeployment,
//! FlinkSessionJob and FlinkStateSnapshot. A review is decoded ([`decode`]), decided by the
//! rules ([`rules`], applied to a request by [`review`]) and answered ([`answer`]); [`http`] is
//! the axum shell around it.

mod answer;
mod args;
pub mod budget;
mod decode;
pub mod http;
mod mutate;
mod review;
mod rules;
pub mod run;
mod session_store;
mod sessions;
mod snapshot_target;

/// Label that exempts the operator's health canaries from validation (as the reference).
pub use crate::api::CANARY_LABEL;
pub use answer::encode_review;
pub use args::{AdminArgs, OperatorConfigArgs, WebhookArgs, WebhookCommand, duration_arg};
pub use decode::{BadReview, host_to_lookup, parse_review, request_kind};
pub use mutate::{TARGET_SESSION_LABEL, mutate_session_job, session_job_patch};
pub use review::{Endpoint, review};
pub use rules::{ReviewContext, SchemaScope, validate_value};
pub use run::start_webhook;
pub use session_store::{session_store, slim_for_session_lookups};
pub use sessions::{KnownSessions, NamespacedStores, NoSessions, SessionLookup};
