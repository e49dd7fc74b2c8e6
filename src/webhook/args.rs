//! The flags of `flink-lifecycle webhook` (and of the webhook inside `flink-lifecycle run`).

use crate::config::OperatorConfig;
use crate::tls::ServerTimeouts;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags of the HTTPS webhook listener.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Address of the HTTPS admission endpoint.
    #[arg(
        id = "webhook_addr",
        long = "webhook-addr",
        env = "FLINK_LIFECYCLE_WEBHOOK_ADDR",
        default_value = "0.0.0.0:9443"
    )]
    pub addr: SocketAddr,
    /// Directory with `tls.crt` and `tls.key` (a mounted Kubernetes TLS Secret); reloaded on change.
    #[arg(long, env = "FLINK_LIFECYCLE_TLS_DIR", default_value = "/certs")]
    pub tls_dir: PathBuf,
    /// Look up the FlinkDeployments of session jobs and of snapshots in the cluster (needs
    /// list/watch on flinkdeployments).
    #[arg(long, env = "FLINK_LIFECYCLE_SESSION_LOOKUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub session_lookup: bool,
    /// Bytes of admission request bodies over 64 KiB held at once across all connections;
    /// beyond it a request is answered 429 (the API server retries).
    #[arg(long, env = "FLINK_LIFECYCLE_MAX_BODY_BYTES_IN_FLIGHT", default_value_t = crate::webhook::budget::MAX_BODY_BYTES_IN_FLIGHT)]
    pub max_body_bytes_in_flight: usize,
    /// Open connections the HTTPS listener serves at once; beyond it a new one is closed.
    #[arg(long, env = "FLINK_LIFECYCLE_MAX_CONNECTIONS", default_value_t = crate::tls::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Bodies up to this many bytes are read without counting against the body budget.
    #[arg(long, env = "FLINK_LIFECYCLE_SMALL_BODY_BYTES", default_value_t = crate::webhook::budget::SMALL_BODY_BYTES)]
    pub small_body_bytes: usize,
    /// Time for a TLS handshake (Flink duration syntax: `10 s`, `500 ms`, `1 min`).
    #[arg(long, env = "FLINK_LIFECYCLE_HANDSHAKE_TIMEOUT", default_value = "10 s", value_parser = duration_arg)]
    pub handshake_timeout: std::time::Duration,
    /// Time for a request's headers, and between requests on a kept-alive connection.
    #[arg(long, env = "FLINK_LIFECYCLE_HEADER_READ_TIMEOUT", default_value = "30 s", value_parser = duration_arg)]
    pub header_read_timeout: std::time::Duration,
    /// Time to receive a whole body once the headers arrived.
    #[arg(long, env = "FLINK_LIFECYCLE_BODY_READ_TIMEOUT", default_value = "10 s", value_parser = duration_arg)]
    pub body_read_timeout: std::time::Duration,
    /// How long requests in flight may finish after SIGTERM.
    #[arg(long, env = "FLINK_LIFECYCLE_DRAIN_TIMEOUT", default_value = "10 s", value_parser = duration_arg)]
    pub drain_timeout: std::time::Duration,
}

impl WebhookArgs {
    /// The flags' defaults for a listener on `addr` with the certificate in `tls_dir`.
    pub fn new(addr: SocketAddr, tls_dir: PathBuf, session_lookup: bool) -> Self {
        let d = ServerTimeouts::default();
        Self {
            addr,
            tls_dir,
            session_lookup,
            max_body_bytes_in_flight: crate::webhook::budget::MAX_BODY_BYTES_IN_FLIGHT,
            max_connections: crate::tls::MAX_CONNECTIONS,
            small_body_bytes: crate::webhook::budget::SMALL_BODY_BYTES,
            handshake_timeout: d.handshake,
            header_read_timeout: d.header_read,
            body_read_timeout: crate::webhook::budget::BODY_READ_TIMEOUT,
            drain_timeout: d.drain,
        }
    }
}

/// A duration flag in Flink's syntax, as the operator configuration takes them.
pub fn duration_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_flink_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration; {}", crate::config::DURATION_FORMS))
}

/// Flags of the plain-HTTP admin listener.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Address of /livez, /readyz and /metrics.
    #[arg(
        id = "admin_addr",
        long = "admin-addr",
        env = "FLINK_LIFECYCLE_ADMIN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub addr: SocketAddr,
    /// Open admin connections at once; beyond it a new one is closed.
    #[arg(long, env = "FLINK_LIFECYCLE_ADMIN_MAX_CONNECTIONS", default_value_t = crate::admin::ADMIN_MAX_CONNECTIONS)]
    pub admin_max_connections: usize,
    /// Time for an admin request's headers.
    #[arg(long, env = "FLINK_LIFECYCLE_ADMIN_HEADER_READ_TIMEOUT", default_value = "5 s", value_parser = duration_arg)]
    pub admin_header_read_timeout: std::time::Duration,
    /// Longest an admin connection stays open.
    #[arg(long, env = "FLINK_LIFECYCLE_ADMIN_CONNECTION_LIFETIME", default_value = "30 s", value_parser = duration_arg)]
    pub admin_connection_lifetime: std::time::Duration,
}

impl AdminArgs {
    pub fn limits(&self) -> crate::admin::AdminLimits {
        crate::admin::AdminLimits {
            max_connections: self.admin_max_connections,
            header_read_timeout: self.admin_header_read_timeout,
            connection_lifetime: self.admin_connection_lifetime,
        }
    }
}

/// The operator configuration file flag.
#[derive(clap::Args, Debug, Clone)]
pub struct OperatorConfigArgs {
    /// Operator configuration (flat or nested YAML of kubernetes.operator.* and default Flink keys).
    #[arg(
        id = "operator_config",
        long = "operator-config",
        env = "FLINK_LIFECYCLE_OPERATOR_CONFIG"
    )]
    pub file: Option<PathBuf>,
}

impl OperatorConfigArgs {
    pub fn load(&self) -> Result<OperatorConfig, String> {
        match &self.file {
            None => Ok(OperatorConfig::default()),
            Some(path) => OperatorConfig::from_file(path).map_err(|e| e.to_string()),
        }
    }
}

/// Everything `flink-lifecycle webhook` takes.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookCommand {
    #[command(flatten)]
    pub webhook: WebhookArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub operator_config: OperatorConfigArgs,
}
