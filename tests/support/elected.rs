//! One operator instance as src/run.rs wires it: a Lease elector and, while it leads, the
//! controllers, on a tokio runtime of its own so that it can be killed without any cleanup
//! (`Runtime::shutdown_background()` drops every task at its next await point, as a SIGKILL
//! would: nothing steps down, the Lease must expire).
//!
//! Include with `control_plane` beside it.
#![allow(dead_code)]

use crate::control_plane::ControlPlane;
use flink_lifecycle::config::OperatorConfig;
use flink_lifecycle::controller::leader::LeaderElector;
use flink_lifecycle::controller::{Context, RestUrlResolver};
use futures::FutureExt;
use kube::api::Api;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The operator's namespace and the Lease its Role grants (src/rbac.rs LEADER_LEASE_NAME).
pub const OPERATOR_NS: &str = "flink-lifecycle";
pub const LEASE: &str = "flink-lifecycle";
/// As src/run.rs `elector`.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

pub struct ElectedOperator {
    pub identity: String,
    pub ctx: Arc<Context>,
    runtime: Option<tokio::runtime::Runtime>,
    /// When this instance's elector first reported leadership.
    led_at: Arc<Mutex<Option<Instant>>>,
}

impl ElectedOperator {
    /// Blocks on a runtime of its own: call it outside any runtime, or from async code inside
    /// `tokio::task::block_in_place`.
    pub fn start(
        cp: &ControlPlane,
        identity: &str,
        token: &str,
        config: OperatorConfig,
        rest: Arc<dyn RestUrlResolver>,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(identity)
            .enable_all()
            .build()
            .expect("operator runtime");
        // The client's connection tasks must live on this instance's runtime.
        let ctx = runtime.block_on(async {
            let client = cp.client_with_token(token).await;
            Arc::new(Context::new(client, config, rest))
        });
        let led_at = Arc::new(Mutex::new(None));
        let (c, id, led) = (ctx.clone(), identity.to_string(), led_at.clone());
        runtime.spawn(async move {
            let elector = LeaderElector {
                api: Api::namespaced(c.client.clone(), OPERATOR_NS),
                name: LEASE.into(),
                identity: id,
                lease_duration: LEASE_DURATION,
                renew_every: RENEW_EVERY,
            };
            let shutdown = CancellationToken::new();
            let mut leading = elector.run(shutdown.clone());
            if leading.wait_for(|l| *l).await.is_err() {
                return;
            }
            if let Ok(mut at) = led.lock() {
                *at = Some(Instant::now());
            }
            let lost = shutdown.clone();
            tokio::spawn(async move {
                if leading.wait_for(|l| !*l).await.is_ok() && !lost.is_cancelled() {
                    lost.cancel();
                }
            });
            flink_lifecycle::controller::run(c, shutdown.cancelled_owned().shared()).await;
        });
        Self {
            identity: identity.into(),
            ctx,
            runtime: Some(runtime),
            led_at,
        }
    }

    pub fn led_at(&self) -> Option<Instant> {
        self.led_at.lock().ok().and_then(|l| *l)
    }

    /// Drops every task of this instance without letting any of them run again: no step-down.
    pub fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for ElectedOperator {
    fn drop(&mut self) {
        self.kill();
    }
}
