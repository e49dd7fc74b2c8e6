//! The in-memory Kubernetes API used by the controller tests keeps the semantics controllers rely
//! on: watch streams, finalizers, status subresource, optimistic concurrency, server-side apply,
//! dry runs, and admission policies that deny writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/kube_api/mod.rs"]
mod kube_api;

use flink_lifecycle::api::{FlinkDeployment, FlinkDeploymentSpec};
use futures::{StreamExt, TryStreamExt};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{Controller, WatchStreamExt, controller::Action, watcher};
use kube_api::InMemoryKube;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn deployment(name: &str) -> FlinkDeployment {
    let mut d = FlinkDeployment::new(
        name,
        FlinkDeploymentSpec {
            image: Some("flink:1.20".into()),
            ..Default::default()
        },
    );
    d.metadata.namespace = Some("default".into());
    d
}

#[tokio::test]
async fn watchers_see_creates_updates_and_deletes_in_order() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    // Initial list (empty) ends with InitDone.
    loop {
        if let watcher::Event::InitDone = events.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    api.create(&PostParams::default(), &deployment("a"))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"image": "flink:2.1"}})),
    )
    .await
    .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::Apply(d) => seen.push(format!("apply {}", d.spec.image.unwrap())),
            watcher::Event::Delete(d) => seen.push(format!("delete {}", d.metadata.name.unwrap())),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply flink:1.20", "apply flink:2.1", "delete a"]);
}

/// A watch resumed from a DELETED event's resourceVersion starts after it, as on a real API
/// server, whose DELETED events carry the deletion's resourceVersion rather than the object's
/// last write: every event since that write would be replayed otherwise.
#[tokio::test]
async fn a_watch_resumed_after_a_delete_replays_nothing() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let post = PostParams::default();
    api.create(&post, &deployment("a")).await.unwrap();
    let b = api.create(&post, &deployment("b")).await.unwrap();
    let mut events = api
        .watch(&kube::api::WatchParams::default(), &b.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let deleted_rv = match tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        kube::api::WatchEvent::Deleted(d) => d.resource_version().unwrap(),
        other => panic!("expected the delete, got {other:?}"),
    };
    let b_rv: u64 = b.resource_version().unwrap().parse().unwrap();
    assert!(
        deleted_rv.parse::<u64>().unwrap() >= b_rv,
        "{deleted_rv} < {b_rv}"
    );
    let mut resumed = api
        .watch(&kube::api::WatchParams::default().timeout(1), &deleted_rv)
        .await
        .unwrap()
        .boxed();
    let replayed = tokio::time::timeout(Duration::from_secs(5), resumed.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(replayed.is_none(), "replayed: {replayed:?}");
}

#[tokio::test]
async fn deletion_waits_for_finalizers() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let mut d = deployment("f");
    d.metadata.finalizers = Some(vec!["flinkdeployments.flink.apache.org/finalizer".into()]);
    api.create(&PostParams::default(), &d).await.unwrap();
    api.delete("f", &DeleteParams::default()).await.unwrap();
    let still = api.get("f").await.unwrap();
    assert!(
        still.metadata.deletion_timestamp.is_some(),
        "terminating, not gone"
    );
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        api.get_opt("f").await.unwrap().is_none(),
        "gone once the finalizer is removed"
    );
}

#[tokio::test]
async fn dry_runs_persist_nothing_and_admission_policies_deny_them_too() {
    let kube = InMemoryKube::new().await;
    kube.refuse(
        "flinkdeployments",
        "flink:forbidden",
        "images must come from the mirror",
    );
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let dry = PatchParams::apply("flink-lifecycle").force().dry_run();
    let answered = api
        .patch("d", &dry, &Patch::Apply(&deployment("d")))
        .await
        .unwrap();
    assert_eq!(answered.spec.image.as_deref(), Some("flink:1.20"));
    assert!(
        api.get_opt("d").await.unwrap().is_none(),
        "a dry run stores nothing"
    );
    let mut refused = deployment("d");
    refused.spec.image = Some("flink:forbidden".into());
    for params in [dry, PatchParams::apply("flink-lifecycle").force()] {
        let err = api
            .patch("d", &params, &Patch::Apply(&refused))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, kube::Error::Api(s) if s.code == 400 && s.message.contains("images must come from the mirror")),
            "{err:?}"
        );
    }
    assert!(api.get_opt("d").await.unwrap().is_none());
}

#[tokio::test]
async fn status_subresource_conflicts_and_server_side_apply() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let created = api
        .create(&PostParams::default(), &deployment("s"))
        .await
        .unwrap();
    let status = json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
                        "status": {"lifecycleState": "CREATED"}});
    let pp = PatchParams::apply("flink-lifecycle").force();
    let patched = api.patch_status("s", &pp, &Patch::Apply(&status)).await.unwrap();
    assert_eq!(
        serde_json::to_value(patched.status.unwrap().lifecycle_state).unwrap(),
        json!("CREATED")
    );
    // Applying a status without a field removes it (the manager no longer owns it).
    let smaller = json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
                         "status": {"error": "x"}});
    let patched = api.patch_status("s", &pp, &Patch::Apply(&smaller)).await.unwrap();
    let status = patched.status.unwrap();
    assert_eq!(status.error.as_deref(), Some("x"));
    assert!(
        status.lifecycle_state.is_none(),
        "a field no longer applied is gone"
    );
    // A spec write does not touch status; a stale resourceVersion conflicts.
    let mut stale = created.clone();
    stale.spec.image = Some("flink:2.0".into());
    let err = api
        .replace("s", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 409), "{err:?}");
    let fresh = api.get("s").await.unwrap();
    assert!(fresh.status.is_some(), "status survives spec writes");
}

#[tokio::test]
async fn a_kube_runtime_controller_reconciles_on_events() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::all(kube.client());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let controller = tokio::spawn(
        Controller::new(api.clone(), watcher::Config::default())
            .run(
                move |_obj, ctx: Arc<AtomicUsize>| async move {
                    ctx.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, kube::Error>(Action::await_change())
                },
                |_obj, _err, _ctx| Action::await_change(),
                counter,
            )
            .for_each(|_| async {}),
    );
    let ns_api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    ns_api
        .create(&PostParams::default(), &deployment("c"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while calls.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        calls.load(Ordering::SeqCst) >= 1,
        "the controller reconciled the new object"
    );
    controller.abort();
}

#[tokio::test]
async fn lists_are_paged_with_continue_tokens_so_watchers_see_every_object() {
    let kube = InMemoryKube::new().await;
    let api: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    for i in 0..12 {
        api.create(&PostParams::default(), &deployment(&format!("job-{i:02}")))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(5)).await.unwrap();
    assert_eq!(first.items.len(), 5);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let mut names: Vec<String> = first.items.iter().map(|d| d.name_any()).collect();
    let mut next = Some(token);
    while let Some(token) = next {
        let page = api
            .list(&ListParams::default().limit(5).continue_token(&token))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version, first.metadata.resource_version,
            "every page reports the list's resourceVersion"
        );
        names.extend(page.items.iter().map(|d| d.name_any()));
        next = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    let expected: Vec<String> = (0..12).map(|i| format!("job-{i:02}")).collect();
    assert_eq!(names, expected, "pages in name order, none lost or repeated");

    // A kube-runtime watcher (pages of 500 by default) sees all of them with small pages too.
    let seen = watcher(api, watcher::Config::default().page_size(5))
        .try_take_while(|e| futures::future::ready(Ok(!matches!(e, watcher::Event::InitDone))))
        .try_fold(0, |n, e| async move {
            Ok(n + usize::from(matches!(e, watcher::Event::InitApply(_))))
        })
        .await
        .unwrap();
    assert_eq!(seen, 12);
}

#[tokio::test]
async fn watches_honour_set_based_label_selectors() {
    use k8s_openapi::api::apps::v1::Deployment;
    let kube = InMemoryKube::new().await;
    let api: Api<Deployment> = Api::namespaced(kube.client(), "default");
    // The selector the controllers use for the Deployments they own.
    let selector = "type in (flink-native-kubernetes,flink-standalone-kubernetes)";
    let mut events = watcher(api.clone(), watcher::Config::default().labels(selector))
        .applied_objects()
        .boxed();
    for (name, kind) in [("other", "something-else"), ("owned", "flink-native-kubernetes")] {
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default", "labels": {"type": kind}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}}}
        }))
        .unwrap();
        api.create(&PostParams::default(), &d).await.unwrap();
    }
    let first = tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .expect("an event for the owned Deployment")
        .unwrap()
        .unwrap();
    assert_eq!(
        first.name_any(),
        "owned",
        "the non-matching Deployment is filtered out"
    );
}

#[tokio::test]
async fn a_separate_process_can_reach_it_over_http_with_a_kubeconfig() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kube = InMemoryKube::new().await;
    let (addr, server) = kube.serve().await.unwrap();
    let kubeconfig: kube::config::Kubeconfig =
        serde_saphyr::from_str(&InMemoryKube::kubeconfig(addr)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<FlinkDeployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("h"))
        .await
        .unwrap();
    let local: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    assert_eq!(
        local.get("h").await.unwrap().spec.image.as_deref(),
        Some("flink:1.20")
    );
    server.abort();
}

fn forbidden(e: kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

#[tokio::test]
async fn the_operators_identity_is_held_to_the_rbac_the_install_grants() {
    use k8s_openapi::api::core::v1::Secret;
    let kube = InMemoryKube::new().await;
    let admin: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    admin
        .create(&PostParams::default(), &deployment("r"))
        .await
        .unwrap();

    let operator: Api<FlinkDeployment> = Api::namespaced(kube.operator_client(), "default");
    assert_eq!(operator.list(&Default::default()).await.unwrap().items.len(), 1);
    let status = Patch::Merge(json!({"status": {"lifecycleState": "CREATED"}}));
    operator
        .patch_status("r", &PatchParams::default(), &status)
        .await
        .unwrap();
    // Users create and delete FlinkDeployments; the operator never does.
    assert!(forbidden(
        operator.delete("r", &DeleteParams::default()).await.unwrap_err()
    ));
    assert!(forbidden(
        operator
            .create(&PostParams::default(), &deployment("s"))
            .await
            .unwrap_err()
    ));
    // Secrets: only the webhook certificate's, by name, in the operator's namespace.
    let secrets: Api<Secret> = Api::namespaced(kube.operator_client(), "default");
    let other = secrets.get("someone-elses").await.unwrap_err();
    assert!(forbidden(other));
    let own = secrets
        .get(flink_lifecycle::rbac::SELF_SIGNED_SECRET_NAME)
        .await
        .unwrap_err();
    assert!(
        matches!(own, kube::Error::Api(s) if s.code == 404),
        "granted, just absent"
    );
    let elsewhere: Api<Secret> = Api::namespaced(kube.operator_client(), "team-a");
    assert!(forbidden(
        elsewhere
            .get(flink_lifecycle::rbac::SELF_SIGNED_SECRET_NAME)
            .await
            .unwrap_err()
    ));

    let refused = kube.rbac.refused();
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(
        refused[0].starts_with("delete flink.apache.org/flinkdeployments"),
        "{refused:?}"
    );
    // Calls without the operator's credentials (tests acting as users) are not checked.
    admin.delete("r", &DeleteParams::default()).await.unwrap();
    assert_eq!(kube.rbac.refused().len(), 4);
}

#[tokio::test]
async fn the_operators_kubeconfig_carries_its_identity_over_http() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kube = InMemoryKube::new().await;
    let (addr, server) = kube.serve().await.unwrap();
    let kubeconfig: kube::config::Kubeconfig =
        serde_saphyr::from_str(&InMemoryKube::operator_kubeconfig(addr)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let api: Api<FlinkDeployment> = Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    assert!(api.list(&Default::default()).await.is_ok());
    assert!(forbidden(
        api.create(&PostParams::default(), &deployment("h"))
            .await
            .unwrap_err()
    ));
    assert_eq!(kube.rbac.refused().len(), 1);
    server.abort();
}

#[tokio::test]
async fn the_webhooks_session_lookup_stays_inside_the_watched_namespaces() {
    use flink_lifecycle::admin::Readiness;
    use flink_lifecycle::webhook::run::session_store;
    let mut kube = InMemoryKube::new().await;
    kube.rbac = Arc::new(kube_api::RbacAudit::watching("default", &["team-a"]));
    let admin: Api<FlinkDeployment> = Api::namespaced(kube.client(), "team-a");
    let mut session = deployment("session");
    session.metadata.namespace = Some("team-a".into());
    admin.create(&PostParams::default(), &session).await.unwrap();

    let readiness = Readiness::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let sessions = session_store(
        kube.operator_client(),
        &["team-a".to_string()],
        &readiness,
        stop.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sessions.find("team-a", "session").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session not found; refused: {:?}",
            kube.rbac.refused()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(readiness.is_ready(), "ready once the watched namespace is listed");
    assert!(sessions.find("team-b", "session").is_none());
    assert!(kube.rbac.refused().is_empty(), "{:?}", kube.rbac.refused());
    stop.cancel();
}

struct NoRest;

impl flink_lifecycle::controller::RestUrlResolver for NoRest {
    fn rest_url(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// The operator's controllers against `kube` with the default configuration and no Flink.
struct Controllers {
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Controllers {
    fn start(kube: &InMemoryKube) -> Self {
        let ctx = Arc::new(flink_lifecycle::controller::Context::new(
            kube.operator_client(),
            flink_lifecycle::config::OperatorConfig::default(),
            Arc::new(NoRest),
        ));
        let token = tokio_util::sync::CancellationToken::new();
        let stop = futures::FutureExt::shared(token.clone().cancelled_owned());
        let task = tokio::spawn(flink_lifecycle::controller::run(ctx, stop));
        Self { token, task }
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = self.task.await;
    }
}

/// A spec that was never valid (created without the webhook, or before a rule existed) gets the
/// operator's finalizer and a ValidationError, and nothing is deployed. Deleting it must not hang
/// on that finalizer: with nothing deployed there is nothing to clean up.
#[tokio::test]
async fn a_never_valid_resource_is_released_on_deletion() {
    use flink_lifecycle::api::{FlinkSessionJob, FlinkSessionJobSpec};
    let kube = InMemoryKube::new().await;
    let controllers = Controllers::start(&kube);
    let deployments: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let jobs: Api<FlinkSessionJob> = Api::namespaced(kube.client(), "default");
    // No flinkVersion, no serviceAccount: denied by the rules; a session job without a job.
    deployments
        .create(&PostParams::default(), &deployment("never-valid"))
        .await
        .unwrap();
    let mut job = FlinkSessionJob::new("never-valid-job", FlinkSessionJobSpec::default());
    job.metadata.namespace = Some("default".into());
    jobs.create(&PostParams::default(), &job).await.unwrap();

    let rejected = |error: Option<&String>, finalizers: &[String]| {
        error.is_some_and(|e| e.contains("ValidationError")) && !finalizers.is_empty()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = deployments.get("never-valid").await.unwrap();
        let j = jobs.get("never-valid-job").await.unwrap();
        let d_error = d.status.as_ref().and_then(|s| s.error.as_ref());
        let j_error = j.status.as_ref().and_then(|s| s.error.as_ref());
        if rejected(d_error, d.finalizers()) && rejected(j_error, j.finalizers()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not rejected: {d:?} {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    deployments
        .delete("never-valid", &DeleteParams::default())
        .await
        .unwrap();
    jobs.delete("never-valid-job", &DeleteParams::default())
        .await
        .unwrap();
    loop {
        let gone = deployments.get_opt("never-valid").await.unwrap().is_none()
            && jobs.get_opt("never-valid-job").await.unwrap().is_none();
        if gone {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still terminating on the operator's finalizer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    controllers.stop().await;
}

/// The reference operator's spec-less health canaries are not reconciled, as there: the watch
/// decodes them (a resource reconciled after them shows it is not broken), nothing is deployed
/// or written for them, they get no finalizer, and deleting one that carries our finalizer
/// (labelled after the operator added it) does not hang.
#[tokio::test]
async fn spec_less_canaries_are_left_alone() {
    use flink_lifecycle::api::FlinkSessionJob;
    use flink_lifecycle::controller::{DEPLOYMENT_FINALIZER, SESSION_JOB_FINALIZER};
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::core::{ApiResource, DynamicObject};
    let kube = InMemoryKube::new().await;
    let dynamic = |ar: &ApiResource| Api::<DynamicObject>::namespaced_with(kube.client(), "default", ar);
    let dep_resource = ApiResource::erase::<FlinkDeployment>(&());
    let job_resource = ApiResource::erase::<FlinkSessionJob>(&());
    let canary = |kind: &str, name: &str, finalizer: Option<&str>| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": {"flink.apache.org/canary": "true"},
                "finalizers": finalizer.into_iter().collect::<Vec<_>>(),
            }
        }))
        .unwrap()
    };
    let created = [
        (&dep_resource, canary("FlinkDeployment", "canary", None)),
        (
            &dep_resource,
            canary("FlinkDeployment", "canary-finalized", Some(DEPLOYMENT_FINALIZER)),
        ),
        (&job_resource, canary("FlinkSessionJob", "canary", None)),
        (
            &job_resource,
            canary("FlinkSessionJob", "canary-finalized", Some(SESSION_JOB_FINALIZER)),
        ),
    ];
    for (ar, object) in &created {
        assert!(object.data.get("spec").is_none());
        dynamic(ar).create(&PostParams::default(), object).await.unwrap();
    }
    let controllers = Controllers::start(&kube);
    // A resource created after the canaries is reconciled: the watch read past them.
    let deployments: Api<FlinkDeployment> = Api::namespaced(kube.client(), "default");
    let jobs: Api<FlinkSessionJob> = Api::namespaced(kube.client(), "default");
    deployments
        .create(&PostParams::default(), &deployment("control"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while deployments
        .get("control")
        .await
        .unwrap()
        .status
        .is_none_or(|s| s.error.is_none())
    {
        assert!(tokio::time::Instant::now() < deadline, "control not reconciled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give any reconcile of the canaries time to act.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for name in ["canary", "canary-finalized"] {
        let d = deployments.get(name).await.unwrap();
        assert_eq!(d.spec, Default::default(), "{name}");
        assert!(d.status.is_none(), "{name}: {:?}", d.status);
        let j = jobs.get(name).await.unwrap();
        assert!(j.status.is_none(), "{name}: {:?}", j.status);
    }
    assert!(deployments.get("canary").await.unwrap().finalizers().is_empty());
    assert!(jobs.get("canary").await.unwrap().finalizers().is_empty());
    let workloads: Api<Deployment> = Api::namespaced(kube.client(), "default");
    let rendered = workloads.list(&ListParams::default()).await.unwrap();
    assert!(
        rendered.items.is_empty(),
        "{:?}",
        rendered.items.iter().map(|d| d.name_any()).collect::<Vec<_>>()
    );

    for name in ["canary", "canary-finalized"] {
        deployments.delete(name, &DeleteParams::default()).await.unwrap();
        jobs.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["canary", "canary-finalized"] {
        while deployments.get_opt(name).await.unwrap().is_some()
            || jobs.get_opt(name).await.unwrap().is_some()
        {
            assert!(tokio::time::Instant::now() < deadline, "{name} still terminating");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    controllers.stop().await;
}
