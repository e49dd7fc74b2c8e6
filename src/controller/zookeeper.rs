//! Flink's ZooKeeper HA metadata of one cluster, under `<path.root>/<cluster-id>` (Flink 1.20:
//! `jobgraphs/<job id>`, `jobs/<job id>/checkpoints/<n>`, `leader/...`; Flink 2.x keeps job graphs
//! in `execution_plans/`). The operator reads it for the same decisions Kubernetes HA ConfigMaps
//! feed (is there HA metadata, which jobs have a checkpoint in it), removes stale job graphs
//! before a deploy, and deletes it where it deletes Kubernetes HA data.

use super::error::{Error, Result};
use crate::config::flink_keys;
use std::collections::BTreeMap;
use std::time::Duration;
use zookeeper_client as zk;

const QUORUM_KEY: &str = "high-availability.zookeeper.quorum";
const ROOT_KEY: &str = "high-availability.zookeeper.path.root";
const CLUSTER_ID_KEY: &str = "high-availability.cluster-id";
const DEFAULT_ROOT: &str = "/flink";
const JOB_GRAPH_DIRS: [&str; 2] = ["jobgraphs", "execution_plans"];
/// Bounds one reconcile's wait on an unreachable quorum.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a cluster keeps its ZooKeeper HA metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZooKeeperHa {
    pub quorum: String,
    /// `<path.root>/<cluster-id>`.
    pub cluster_path: String,
}

/// What the HA metadata holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZooKeeperHaMetadata {
    /// Job graphs or job entries exist (leader nodes alone are not metadata to restore from,
    /// as Kubernetes HA's cluster ConfigMap alone is not).
    pub present: bool,
    /// Jobs with at least one checkpoint pointer.
    pub checkpoint_job_ids: Vec<String>,
}

impl ZooKeeperHa {
    /// The location from a cluster's effective Flink configuration, if it uses ZooKeeper HA.
    pub fn from_config(conf: &BTreeMap<String, String>, cluster: &str) -> Option<Self> {
        let ha = flink_keys::ha_type(conf)?;
        if !ha.eq_ignore_ascii_case("zookeeper") {
            return None;
        }
        let quorum = conf.get(QUORUM_KEY)?.trim().to_string();
        let root = conf.get(ROOT_KEY).map(String::as_str).unwrap_or(DEFAULT_ROOT);
        let cluster_id = conf.get(CLUSTER_ID_KEY).map(String::as_str).unwrap_or(cluster);
        Some(Self {
            quorum,
            cluster_path: join(root, cluster_id),
        })
    }

    async fn connect(&self) -> Result<zk::Client> {
        zk::Client::connector()
            .with_connection_timeout(CONNECT_TIMEOUT)
            .with_session_timeout(CONNECT_TIMEOUT * 2)
            .with_fail_eagerly()
            .connect(&self.quorum)
            .await
            .map_err(|e| self.error("connect", &e))
    }

    fn error(&self, what: &str, e: &zk::Error) -> Error {
        Error::ZooKeeper {
            quorum: self.quorum.clone(),
            path: self.cluster_path.clone(),
            action: what.to_string(),
            reason: e.to_string(),
        }
    }

    /// Reads which jobs have checkpoints in the HA metadata.
    pub async fn observe(&self) -> Result<ZooKeeperHaMetadata> {
        let client = self.connect().await?;
        let mut meta = ZooKeeperHaMetadata::default();
        for dir in JOB_GRAPH_DIRS {
            let graphs = self.children(&client, &join(&self.cluster_path, dir)).await?;
            meta.present |= !graphs.is_empty();
        }
        let jobs_path = join(&self.cluster_path, "jobs");
        for job in self.children(&client, &jobs_path).await? {
            meta.present = true;
            let checkpoints = join(&join(&jobs_path, &job), "checkpoints");
            if !self.children(&client, &checkpoints).await?.is_empty() {
                meta.checkpoint_job_ids.push(job);
            }
        }
        Ok(meta)
    }

    /// Removes the stored job graphs (the checkpoint pointers stay): an application cluster
    /// would recover the old graph instead of running the new spec's `main()`.
    pub async fn remove_job_graphs(&self) -> Result<()> {
        let client = self.connect().await?;
        for dir in JOB_GRAPH_DIRS {
            let path = join(&self.cluster_path, dir);
            for graph in self.children(&client, &path).await? {
                self.delete_tree(&client, &join(&path, &graph)).await?;
            }
        }
        Ok(())
    }

    /// Deletes the cluster's whole HA subtree.
    pub async fn delete_all(&self) -> Result<()> {
        let client = self.connect().await?;
        self.delete_tree(&client, &self.cluster_path).await
    }

    async fn children(&self, client: &zk::Client, path: &str) -> Result<Vec<String>> {
        match client.list_children(path).await {
            Ok(c) => Ok(c),
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(self.error(&format!("list {path}"), &e)),
        }
    }

    /// Depth-first delete; nodes already gone are fine.
    async fn delete_tree(&self, client: &zk::Client, path: &str) -> Result<()> {
        let mut stack = vec![(path.to_string(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if !expanded {
                stack.push((node.clone(), true));
                for child in self.children(client, &node).await? {
                    stack.push((join(&node, &child), false));
                }
                continue;
            }
            match client.delete(&node, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(self.error(&format!("delete {node}"), &e)),
            }
        }
        Ok(())
    }
}

fn join(parent: &str, child: &str) -> String {
    let parent = parent.trim_end_matches('/');
    let child = child.trim_start_matches('/');
    format!("{parent}/{child}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn location_from_flink_configuration() {
        let c = conf(&[
            ("high-availability.type", "zookeeper"),
            ("high-availability.zookeeper.quorum", "zk-0:2181,zk-1:2181"),
        ]);
        assert_eq!(
            ZooKeeperHa::from_config(&c, "orders"),
            Some(ZooKeeperHa {
                quorum: "zk-0:2181,zk-1:2181".into(),
                cluster_path: "/flink/orders".into()
            })
        );
        let c = conf(&[
            ("high-availability", "ZOOKEEPER"),
            ("high-availability.zookeeper.quorum", "zk:2181"),
            ("high-availability.zookeeper.path.root", "/teams/a/"),
            ("high-availability.cluster-id", "/orders-1"),
        ]);
        assert_eq!(
            ZooKeeperHa::from_config(&c, "orders").map(|z| z.cluster_path),
            Some("/teams/a/orders-1".into())
        );
        assert_eq!(
            ZooKeeperHa::from_config(&conf(&[("high-availability.type", "kubernetes")]), "x"),
            None
        );
        // Validation refuses ZooKeeper HA without a quorum; nothing to look at here either.
        assert_eq!(
            ZooKeeperHa::from_config(&conf(&[("high-availability.type", "zookeeper")]), "x"),
            None
        );
    }
}
