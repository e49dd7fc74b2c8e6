//! Where a resource's JobManager REST endpoint lives. The reconciler asks a resolver per
//! resource; tests inject one that points at a local cluster.

/// Maps a Flink cluster (resource name and namespace) to its REST base URL.
pub trait RestUrlResolver: Send + Sync {
    fn rest_url(&self, name: &str, namespace: &str) -> String;
}

/// In-cluster: the `<name>-rest` Service in the resource's namespace.
#[derive(Clone, Copy, Debug)]
pub struct InClusterResolver {
    pub port: u16,
}

impl Default for InClusterResolver {
    fn default() -> Self {
        Self { port: 8081 }
    }
}

impl RestUrlResolver for InClusterResolver {
    fn rest_url(&self, name: &str, namespace: &str) -> String {
        format!("http://{name}-rest.{namespace}:{}", self.port)
    }
}

impl<F> RestUrlResolver for F
where
    F: Fn(&str, &str) -> String + Send + Sync,
{
    fn rest_url(&self, name: &str, namespace: &str) -> String {
        self(name, namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_cluster_url_is_the_rest_service() {
        assert_eq!(
            InClusterResolver::default().rest_url("orders", "streaming"),
            "http://orders-rest.streaming:8081"
        );
        let fixed = |_: &str, _: &str| "http://127.0.0.1:9000".to_string();
        assert_eq!(fixed.rest_url("a", "b"), "http://127.0.0.1:9000");
    }
}
