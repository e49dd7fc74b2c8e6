//! Keeps the served certificate in step with its directory: polls every interval, compares the
//! file contents (so a Secret volume's `..data` symlink swap, an in-place write and a rename are
//! all seen), and stores a new pair only if it parses; a broken pair leaves the last good one.

use super::store::{CertStore, PairBytes, TlsError, parse_pair, read_pair};
use crate::admin::{ReadinessHandle, ResultLabel, WebhookMetrics};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the directory is read.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Watches one certificate directory.
pub struct Reloader {
    pub dir: PathBuf,
    pub store: Arc<CertStore>,
    pub metrics: WebhookMetrics,
    pub ready: ReadinessHandle,
    last: Option<PairBytes>,
    last_error: Option<String>,
}

impl Reloader {
    pub fn new(dir: PathBuf, store: Arc<CertStore>, metrics: WebhookMetrics, ready: ReadinessHandle) -> Self {
        Self {
            dir,
            store,
            metrics,
            ready,
            last: None,
            last_error: None,
        }
    }

    /// One look at the directory: `Ok(true)` when a new pair is now served.
    pub fn poll(&mut self) -> Result<bool, TlsError> {
        let bytes = read_pair(&self.dir)?;
        if self.last.as_ref() == Some(&bytes) {
            return Ok(false);
        }
        let key = parse_pair(&bytes)?;
        self.store.store(key);
        self.last = Some(bytes);
        self.ready.set_ready(true);
        Ok(true)
    }

    /// Polls and records the outcome in metrics and logs (each distinct error logged once).
    pub fn poll_and_record(&mut self) {
        match self.poll() {
            Ok(false) => {}
            Ok(true) => {
                self.last_error = None;
                self.metrics
                    .tls_reloads
                    .get_or_create(&ResultLabel { result: "success" })
                    .inc();
                tracing::info!(dir = %self.dir.display(), "serving certificate loaded");
            }
            Err(e) => {
                let text = e.to_string();
                if self.last_error.as_deref() != Some(text.as_str()) {
                    self.metrics
                        .tls_reloads
                        .get_or_create(&ResultLabel { result: "error" })
                        .inc();
                    if self.store.is_loaded() {
                        tracing::warn!(error = %text, "new certificate rejected; keeping the last good one");
                    } else {
                        tracing::warn!(error = %text, "no usable serving certificate yet");
                    }
                    self.last_error = Some(text);
                }
            }
        }
    }

    /// Polls until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => self.poll_and_record(),
            }
        }
    }
}
