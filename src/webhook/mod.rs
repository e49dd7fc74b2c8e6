//! The admission webhook: `POST /validate` and `POST /mutate` for FlinkDeployment,
//! FlinkSessionJob and FlinkStateSnapshot. [`Incoming`] reads a review (fast, with [`review`] as
//! the reference for odd requests), [`rules`] is the typed decision, [`http`] the axum shell
//! around it.

pub mod budget;
mod checked_meta;
mod envelope;
mod fast;
pub mod http;
mod mutate;
mod review;
mod rules;
pub mod run;
mod sessions;
mod snapshot_target;

pub use checked_meta::CheckedMeta;
pub use envelope::{Envelope, RawObject, read_envelope};
pub use fast::{Incoming, read_deployment};
pub use mutate::{TARGET_SESSION_LABEL, mutate_session_job, session_job_patch};
pub use review::{
    BadReview, CANARY_LABEL, Endpoint, ReviewContext, encode_review, host_to_lookup, parse_review,
    request_kind, review,
};
pub use rules::{SchemaScope, validate_value};
pub use run::{AdminArgs, OperatorConfigArgs, WebhookArgs, WebhookCommand, start_webhook};
pub use sessions::{KnownSessions, NamespacedStores, NoSessions, SessionLookup};
