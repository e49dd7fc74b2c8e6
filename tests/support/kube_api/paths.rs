//! Parsing of Kubernetes API request paths into the collection they address.

/// A resource collection, e.g. `apps/v1 deployments`, optionally in one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Collection {
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// What one request path points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath {
    pub collection: Collection,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl ApiPath {
    /// `/api/v1/...` or `/apis/<group>/<version>/...`, namespaced or not.
    pub fn parse(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match parts.as_slice() {
            ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
            ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [r] => (r, None, None),
            [r, n] => (r, Some(n.to_string()), None),
            [r, n, s] => (r, Some(n.to_string()), Some(s.to_string())),
            _ => return None,
        };
        Some(Self {
            collection: Collection {
                group,
                version,
                resource: resource.to_string(),
            },
            namespace,
            name,
            subresource,
        })
    }

    /// The path of the collection (namespaced if this path is), without name or subresource.
    pub fn collection_path(&self) -> String {
        let base = if self.collection.group.is_empty() {
            format!("/api/{}", self.collection.version)
        } else {
            format!("/apis/{}/{}", self.collection.group, self.collection.version)
        };
        match &self.namespace {
            Some(ns) => format!("{base}/namespaces/{ns}/{}", self.collection.resource),
            None => format!("{base}/{}", self.collection.resource),
        }
    }

    /// The path of one object of this collection.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        let mut p = self.clone();
        p.namespace = namespace.map(str::to_string);
        format!("{}/{name}", p.collection_path())
    }
}

/// Query parameters as pairs, decoded as form data: kube encodes a space as `+` (the set-based
/// selector `type in (a,b)` arrives as `type+in+%28a%2Cb%29`), a literal `+` as `%2B`.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let v = v.replace('+', " ");
            let v = urlencoding::decode(&v)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| v.to_string());
            (k.to_string(), v)
        })
        .collect()
}
