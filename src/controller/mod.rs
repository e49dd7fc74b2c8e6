//! The controllers: kube-runtime watches of FlinkDeployments and FlinkSessionJobs (and the
//! Deployments the operator owns) driving observe → plan → status → one step → requeue.

pub mod access;
mod artifacts;
mod backoff;
mod context;
mod deployment;
mod dispose;
mod error;
mod events;
mod execute;
mod fresh;
pub mod leader;
mod metrics;
mod observe;
mod preflight;
mod reconcile;
mod session_job;
mod snapshot;
mod snapshot_records;
mod status;
mod trigger;
pub mod zookeeper;

pub use backoff::delay as backoff_delay;
pub use context::{Context, RestUrlResolver, ServiceDns};
pub use error::{Error, Result};
pub use events::publish as publish_event;
pub use fresh::KnownVersions;
pub use metrics::ControllerMetrics;
pub use snapshot::SNAPSHOT_FINALIZER;
pub use status::{DEPLOYMENT_FINALIZER, SESSION_JOB_FINALIZER, StatusLog};

use crate::api::{FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Label selector of the Deployments the operator renders.
const OWNED_DEPLOYMENTS: &str = "type in (flink-native-kubernetes,flink-standalone-kubernetes)";

fn key<K: Resource>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        std::any::type_name::<K>(),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

async fn timed<K, F, Fut>(obj: Arc<K>, ctx: Arc<Context>, kind: &'static str, f: F) -> Result<Action>
where
    K: Resource,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action>>,
{
    let start = Instant::now();
    let k = key(obj.as_ref());
    let result = f(obj, ctx.clone()).await;
    ctx.metrics
        .reconcile_duration
        .get_or_create(&metrics::KindLabel { kind })
        .observe(start.elapsed().as_secs_f64());
    match &result {
        Ok(_) => ctx.backoff.succeeded(&k),
        // The read-your-writes guard at work, not a failure (`error_policy`): the next reconcile
        // plans from the newer status.
        Err(Error::StaleStatus(_)) => {}
        Err(e) => {
            ctx.metrics
                .reconcile_errors
                .get_or_create(&metrics::ErrorLabels {
                    kind,
                    error: e.metric_label(),
                })
                .inc();
        }
    }
    result
}

fn error_policy<K: Resource>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    if let Error::StaleStatus(_) = err {
        // Not a failure: the next reconcile reads the newer status and plans from it.
        tracing::debug!(error = %err, "status write lost a race");
        return Action::requeue(STALE_STATUS_REPLAN);
    }
    let op = &ctx.operator;
    let delay = ctx.backoff.failed(
        &key(obj.as_ref()),
        op.retry_initial_interval,
        op.retry_interval_multiplier,
        op.retry_max_interval,
    );
    tracing::warn!(
        object = %obj.meta().name.as_deref().unwrap_or_default(),
        namespace = %obj.meta().namespace.as_deref().unwrap_or_default(),
        error = %err,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// How soon a reconcile whose status write found a newer status plans again.
const STALE_STATUS_REPLAN: std::time::Duration = std::time::Duration::from_millis(100);

/// The reference operator's health canaries ([`crate::api::is_canary`]) are not reconciled, as
/// there: nothing is deployed, submitted or written to their status, and no finalizer is added.
/// One of ours that an object got before it was labelled is removed on deletion, so the
/// deletion does not wait for a cleanup that will never run.
async fn leave_canary<K>(api: &Api<K>, known: &KnownVersions, obj: &K, finalizer: &str) -> Result<Action>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if obj.meta().deletion_timestamp.is_some() {
        status::remove_finalizer(api, known, obj, finalizer).await?;
    }
    tracing::debug!("a canary resource: not reconciled");
    Ok(Action::await_change())
}

/// What the planner decided and why (`RUST_LOG=flink_lifecycle=debug`), in the reconcile's span.
fn trace_plan(plan: &crate::lifecycle::Plan) {
    tracing::debug!(
        phases = ?plan.phases,
        step = plan.step.name(),
        reasons = ?plan.reasons,
        requeue = ?plan.requeue,
        "planned"
    );
}

fn api_for<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs both controllers for one namespace (or all) until `shutdown` completes.
async fn run_scope<S>(ctx: Arc<Context>, namespace: Option<String>, shutdown: S)
where
    S: Future<Output = ()> + Send + Sync + Clone + 'static,
{
    let client = ctx.client.clone();
    let ns_owned = namespace.clone();
    let (ctx_snapshots, ns_snapshots, shutdown_snapshots) =
        (ctx.clone(), namespace.clone(), shutdown.clone());
    let ns = namespace.as_deref();
    let concurrency = u16::try_from(ctx.operator.reconcile_parallelism).unwrap_or(u16::MAX);
    let cfg = controller::Config::default().concurrency(concurrency);

    let deployments = trigger::controller(api_for::<FlinkDeployment>(&client, ns))
        .owns(
            api_for::<Deployment>(&client, ns),
            watcher::Config::default().labels(OWNED_DEPLOYMENTS),
        )
        .with_config(cfg.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            |obj, ctx| {
                timed(
                    obj,
                    ctx,
                    "FlinkDeployment",
                    reconcile::reconcile::<FlinkDeployment>,
                )
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(move |r| {
            if let Err(e) = r {
                access::report_stream_error("FlinkDeployments", ns_owned.as_deref(), &e);
            }
            async {}
        });

    let job_controller = trigger::controller(api_for::<FlinkSessionJob>(&client, ns));
    let jobs = job_controller.store();
    let session_jobs = job_controller
        .watches(
            // Only the cluster's name and namespace map it to its session jobs: decode the
            // metadata of each FlinkDeployment event, not a third full copy of every object.
            api_for::<PartialObjectMeta<FlinkDeployment>>(&client, ns),
            watcher::Config::default(),
            move |cluster: PartialObjectMeta<FlinkDeployment>| {
                let name = cluster.name_any();
                let cluster_ns = cluster.namespace();
                jobs.state()
                    .into_iter()
                    .filter(|j| {
                        j.spec.deployment_name.as_deref() == Some(name.as_str())
                            && j.namespace() == cluster_ns
                    })
                    .map(|j| ObjectRef::from_obj(j.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(cfg)
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| {
                timed(
                    obj,
                    ctx,
                    "FlinkSessionJob",
                    reconcile::reconcile::<FlinkSessionJob>,
                )
            },
            error_policy,
            ctx,
        )
        .for_each(move |r| {
            if let Err(e) = r {
                access::report_stream_error("FlinkSessionJobs", namespace.as_deref(), &e);
            }
            async {}
        });
    let snapshots = run_snapshots(ctx_snapshots, ns_snapshots, shutdown_snapshots);
    futures::join!(deployments, session_jobs, snapshots);
}

/// Runs the FlinkStateSnapshot controller, unless its CRD is not installed (an install from
/// before the kind existed): then the other kinds are managed as before, and the log says why
/// snapshot resources are not.
async fn run_snapshots<S>(ctx: Arc<Context>, namespace: Option<String>, shutdown: S)
where
    S: Future<Output = ()> + Send + Sync + Clone + 'static,
{
    let api = api_for::<FlinkStateSnapshot>(&ctx.client, namespace.as_deref());
    if let Err(kube::Error::Api(s)) = api
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
        && s.code == 404
    {
        tracing::warn!(
            "the FlinkStateSnapshot CRD is not installed (manifests/crds/flinkstatesnapshots.flink.apache.org.yaml): snapshot resources are not managed"
        );
        return;
    }
    let concurrency = u16::try_from(ctx.operator.reconcile_parallelism).unwrap_or(u16::MAX);
    trigger::controller(api)
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| timed(obj, ctx, "FlinkStateSnapshot", snapshot::reconcile),
            error_policy,
            ctx,
        )
        .for_each(move |r| {
            if let Err(e) = r {
                access::report_stream_error("FlinkStateSnapshots", namespace.as_deref(), &e);
            }
            async {}
        })
        .await;
}

/// Runs the controllers over the watched namespaces (all when empty) until `shutdown` completes.
pub async fn run<S>(ctx: Arc<Context>, shutdown: S)
where
    S: Future<Output = ()> + Send + Sync + Clone + 'static,
{
    let namespaces = ctx.operator.watched_namespaces.clone();
    if namespaces.is_empty() {
        run_scope(ctx, None, shutdown).await;
    } else {
        let scopes = namespaces
            .into_iter()
            .map(|ns| run_scope(ctx.clone(), Some(ns), shutdown.clone()));
        futures::future::join_all(scopes).await;
    }
}
