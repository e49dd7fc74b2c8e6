//! Keeps the served certificate in step with its directory: polls every interval, compares the
//! file contents (so a Secret volume's `..data` symlink swap, an in-place write and a rename are
//! all seen), and stores a new pair only if it parses, its key matches and it is valid now
//! (notBefore <= now < notAfter); a refused pair leaves the last good one serving, and the refusal
//! is logged (warn), counted (`tls_certificate_rejections_total{reason}`) and shown as the
//! readiness detail of `tls-certificate`.

use super::store::{CertStore, PairBytes, TlsError, parse_pair, read_pair};
use crate::admin::{ReadinessHandle, ReasonLabel, ResultLabel, WebhookMetrics};
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
        let key = parse_pair(&bytes).map_err(|e| e.in_dir(&self.dir))?;
        self.store.store(key);
        self.last = Some(bytes);
        self.ready.set_ready(true);
        self.ready.set_detail(None);
        Ok(true)
    }

    /// The first look at startup: a pair that is present but unusable (unparsable, key
    /// mismatch, expired, not yet valid) is an error; a missing one is waited for.
    pub fn load_at_startup(&mut self) -> Result<(), TlsError> {
        let missing = matches!(
            read_pair(&self.dir),
            Err(TlsError::Read { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        );
        if missing {
            self.poll_and_record();
            return Ok(());
        }
        let outcome = self.poll();
        if let Err(e) = &outcome {
            self.record_error(e);
        }
        self.record_success(&outcome);
        outcome.map(|_| ())
    }

    fn record_success(&mut self, outcome: &Result<bool, TlsError>) {
        if let Ok(false) = outcome
            && self.last_error.take().is_some()
        {
            // Back to the pair being served.
            self.ready.set_detail(None);
        }
        if let Ok(true) = outcome {
            self.last_error = None;
            self.metrics
                .tls_reloads
                .get_or_create(&ResultLabel { result: "success" })
                .inc();
            tracing::info!(dir = %self.dir.display(), "serving certificate loaded");
        }
    }

    fn record_error(&mut self, e: &TlsError) {
        let text = e.to_string();
        if self.store.is_loaded() {
            self.ready.set_detail(Some(format!(
                "new certificate refused, the previous one keeps serving: {text}"
            )));
        } else {
            self.ready.set_ready(false);
            self.ready
                .set_detail(Some(format!("no usable serving certificate: {text}")));
        }
        if self.last_error.as_deref() == Some(text.as_str()) {
            return;
        }
        self.metrics
            .tls_reloads
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
        self.metrics
            .tls_rejections
            .get_or_create(&ReasonLabel { reason: e.reason() })
            .inc();
        if self.store.is_loaded() {
            tracing::warn!(error = %text, reason = e.reason(), "new certificate refused; keeping the last good one");
        } else {
            tracing::warn!(error = %text, reason = e.reason(), "no usable serving certificate yet");
        }
        self.last_error = Some(text);
    }

    /// Polls and records the outcome in metrics and logs (each distinct error logged once).
    pub fn poll_and_record(&mut self) {
        let outcome = self.poll();
        match &outcome {
            Ok(_) => self.record_success(&outcome),
            Err(e) => self.record_error(e),
        }
    }

    /// Loads the pair at startup ([`Self::load_at_startup`]) and keeps polling in a task of its
    /// own until `shutdown`.
    pub fn start(mut self, shutdown: CancellationToken) -> Result<(), TlsError> {
        self.load_at_startup()?;
        tokio::spawn(self.run(shutdown));
        Ok(())
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
