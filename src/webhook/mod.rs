//! The admission webhook: `POST /validate` and `POST /mutate` for FlinkDeployment and
//! FlinkSessionJob. [`review`] is the pure decision, [`http`] the axum shell around it.

pub mod http;
mod mutate;
mod review;
pub mod run;
mod sessions;

pub use mutate::{TARGET_SESSION_LABEL, mutate_session_job, session_job_patch};
pub use review::{
    BadReview, CANARY_LABEL, Endpoint, ReviewContext, encode_review, host_to_lookup, parse_review,
    request_kind, review, validate_value,
};
pub use run::{AdminArgs, OperatorConfigArgs, WebhookArgs, WebhookCommand, start_webhook};
pub use sessions::{KnownSessions, NamespacedStores, NoSessions, SessionLookup};
