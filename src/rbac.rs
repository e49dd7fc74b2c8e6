//! Every Kubernetes API call the operator makes, as RBAC rules. The controllers, the webhook and
//! the self-signed certificate manager are written against this list, and the install manifests
//! are tested against it (`tests/manifests_rbac.rs`): the rendered Roles and ClusterRoles must
//! grant exactly these rules, no more, no fewer. Change a call, change this list, and the test
//! says which manifest to change.

/// Where a rule is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// In every namespace whose Flink resources are managed: cluster-wide when all namespaces are
    /// watched, else in each watched namespace.
    Watched,
    /// Only in the operator's own namespace.
    OperatorNamespace,
    /// Cluster-scoped objects.
    Cluster,
}

/// Which install needs a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Every install.
    Always,
    /// Only when the operator manages its own webhook certificate (`--self-signed`).
    SelfSigned,
}

/// One RBAC rule the operator needs.
#[derive(Clone, Copy, Debug)]
pub struct Permission {
    pub api_group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    /// Empty: any object of the resource.
    pub resource_names: &'static [&'static str],
    pub scope: Scope,
    pub feature: Feature,
    /// The call(s) that need it.
    pub why: &'static str,
}

/// Name of the webhook configurations (both kinds) in the install manifests.
pub const WEBHOOK_CONFIGURATION_NAME: &str = "flink-lifecycle";
/// Name of the Secret holding the self-signed CA and serving certificate.
pub const SELF_SIGNED_SECRET_NAME: &str = "flink-lifecycle-webhook-tls";
/// Name of the leader-election Lease.
pub const LEADER_LEASE_NAME: &str = "flink-lifecycle";

const FLINK: &str = "flink.apache.org";
const READ: &[&str] = &["get", "list", "watch"];
/// Children the operator owns: created, kept in shape, removed.
const OWN: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];

const fn rule(
    api_group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    why: &'static str,
) -> Permission {
    Permission {
        api_group,
        resource,
        verbs,
        resource_names: &[],
        scope: Scope::Watched,
        feature: Feature::Always,
        why,
    }
}

const fn scoped(mut p: Permission, scope: Scope, feature: Feature) -> Permission {
    p.scope = scope;
    p.feature = feature;
    p
}

const fn named(mut p: Permission, names: &'static [&'static str]) -> Permission {
    p.resource_names = names;
    p
}

/// Every API call of the operator, as rules.
pub const REQUIRED_PERMISSIONS: &[Permission] = &[
    rule(
        FLINK,
        "flinkdeployments",
        &["get", "list", "watch", "patch", "update"],
        "watch resources; add/remove the finalizer; webhook looks up a session job's cluster",
    ),
    rule(
        FLINK,
        "flinkdeployments/status",
        &["get", "patch", "update"],
        "write status",
    ),
    rule(
        FLINK,
        "flinkdeployments/finalizers",
        &["update"],
        "owner references with blockOwnerDeletion on children",
    ),
    rule(
        FLINK,
        "flinksessionjobs",
        &["get", "list", "watch", "patch", "update"],
        "watch resources; add/remove the finalizer",
    ),
    rule(
        FLINK,
        "flinksessionjobs/status",
        &["get", "patch", "update"],
        "write status",
    ),
    rule(
        FLINK,
        "flinksessionjobs/finalizers",
        &["update"],
        "owner references with blockOwnerDeletion",
    ),
    rule(
        FLINK,
        "flinkstatesnapshots",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
        "watch snapshots; add/remove the finalizer; keep the snapshot.* filter labels; \
         record savepoints as snapshots and remove retired records (snapshot.resource.enabled)",
    ),
    rule(
        FLINK,
        "flinkstatesnapshots/status",
        &["get", "patch", "update"],
        "write status",
    ),
    rule(
        "apps",
        "deployments",
        OWN,
        "JobManager/TaskManager Deployments of each cluster",
    ),
    rule("", "services", OWN, "JobManager REST and RPC Services"),
    rule(
        "",
        "configmaps",
        OWN,
        "Flink configuration of each cluster; read and clean up Kubernetes HA metadata",
    ),
    rule(
        "",
        "pods",
        READ,
        "JobManager pod errors (image pull, crash loop) for status",
    ),
    rule(
        "networking.k8s.io",
        "ingresses",
        OWN,
        "spec.ingress of a FlinkDeployment",
    ),
    rule(
        "events.k8s.io",
        "events",
        &["create", "patch"],
        "lifecycle Events on the Flink resources",
    ),
    scoped(
        rule(
            "coordination.k8s.io",
            "leases",
            &["create"],
            "create the leader-election Lease",
        ),
        Scope::OperatorNamespace,
        Feature::Always,
    ),
    scoped(
        named(
            rule(
                "coordination.k8s.io",
                "leases",
                &["get", "update"],
                "renew the leader-election Lease",
            ),
            &[LEADER_LEASE_NAME],
        ),
        Scope::OperatorNamespace,
        Feature::Always,
    ),
    scoped(
        rule(
            "",
            "secrets",
            &["create"],
            "create the self-signed CA and serving certificate Secret",
        ),
        Scope::OperatorNamespace,
        Feature::SelfSigned,
    ),
    scoped(
        named(
            rule(
                "",
                "secrets",
                &["get", "update"],
                "read and rotate the self-signed certificate Secret",
            ),
            &[SELF_SIGNED_SECRET_NAME],
        ),
        Scope::OperatorNamespace,
        Feature::SelfSigned,
    ),
    scoped(
        named(
            rule(
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                &["get", "patch"],
                "keep the caBundle current",
            ),
            &[WEBHOOK_CONFIGURATION_NAME],
        ),
        Scope::Cluster,
        Feature::SelfSigned,
    ),
    scoped(
        named(
            rule(
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                &["get", "patch"],
                "keep the caBundle current",
            ),
            &[WEBHOOK_CONFIGURATION_NAME],
        ),
        Scope::Cluster,
        Feature::SelfSigned,
    ),
];

/// The rules an install with the given features needs.
pub fn required(features: &[Feature]) -> impl Iterator<Item = &'static Permission> + '_ {
    REQUIRED_PERMISSIONS
        .iter()
        .filter(move |p| features.contains(&p.feature))
}
