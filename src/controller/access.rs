//! What the operator says when its ServiceAccount may not watch where it is told to: a watch
//! refused with 403 would otherwise retry silently forever, and the namespace's jobs would look
//! unmanaged with no reason given.

use kube::runtime::{controller, watcher};

/// The HTTP status of a watch failure, when the apiserver answered one.
pub fn watch_error_code(err: &watcher::Error) -> Option<u16> {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => api_code(e),
        watcher::Error::WatchError(status) => Some(status.code),
        _ => None,
    }
}

/// The HTTP status of an API error, when the apiserver answered one.
pub fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// The sentence for a refused watch or list of `kind` in `namespace` (all namespaces when
/// `None`): what is missing and the two ways to fix it.
pub fn forbidden_message(kind: &str, namespace: Option<&str>, detail: &str) -> String {
    match namespace {
        Some(ns) => format!(
            "the operator may not watch {kind} in namespace {ns} (403 Forbidden: {detail}): its ServiceAccount has no Role there. Grant one (manifests/components/watch-namespaces/roles.yaml has the Role and RoleBinding to copy for each namespace), or remove {ns} from kubernetes.operator.watched.namespaces (--namespaces). Resources in {ns} are not managed until then."
        ),
        None => format!(
            "the operator may not watch {kind} in all namespaces (403 Forbidden: {detail}): its ServiceAccount lacks the ClusterRole binding of manifests/base/rbac-watched.yaml. Apply it, or install with the watch-namespaces component and list the namespaces to manage in kubernetes.operator.watched.namespaces."
        ),
    }
}

/// Logs a failure of a controller's watch stream; a 403 gets [`forbidden_message`]. The
/// watcher retries with back-off, so a Role granted later is picked up without a restart.
pub fn report_stream_error<E: std::error::Error>(
    kind: &str,
    namespace: Option<&str>,
    err: &controller::Error<E, watcher::Error>,
) {
    let controller::Error::QueueError(watch) = err else {
        // Reconcile failures are reported by the error policy, with their back-off.
        return;
    };
    match watch_error_code(watch) {
        Some(403) => tracing::error!(
            kind,
            namespace = namespace.unwrap_or("*"),
            "{}",
            forbidden_message(kind, namespace, &watch.to_string())
        ),
        _ => tracing::warn!(
            kind,
            namespace = namespace.unwrap_or("*"),
            error = %watch,
            "watch failed; retrying with back-off"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden() -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(
            kube::core::Status::failure("flinkdeployments.flink.apache.org is forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        ))
    }

    #[test]
    fn a_refused_watch_is_named_with_its_namespace_and_the_fix() {
        assert_eq!(watch_error_code(&forbidden()), Some(403));
        let m = forbidden_message("FlinkDeployments", Some("team-a"), "x");
        assert!(m.contains("namespace team-a"), "{m}");
        assert!(m.contains("watch-namespaces/roles.yaml"), "{m}");
        assert!(m.contains("kubernetes.operator.watched.namespaces"), "{m}");
        let all = forbidden_message("FlinkDeployments", None, "x");
        assert!(all.contains("rbac-watched.yaml"), "{all}");
    }

    #[test]
    fn errors_without_an_answer_have_no_code() {
        assert_eq!(watch_error_code(&watcher::Error::NoResourceVersion), None);
    }
}
