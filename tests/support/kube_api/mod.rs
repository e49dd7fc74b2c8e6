//! An in-memory Kubernetes API for tests and benchmarks, with real semantics where the
//! controllers depend on them.
//!
//! `kube-fake-client` provides the store: resourceVersion conflicts, the status subresource,
//! server-side apply, generations, owner-reference cascades. This layer adds what it lacks and a
//! controller needs: watch streams (every write is an event; watches replay from a
//! resourceVersion and follow live), deletion that honours finalizers (deletionTimestamp until
//! the last finalizer is removed), list resourceVersions, and an optional loopback HTTP endpoint
//! so a separate operator process can use it through a kubeconfig (and be killed and restarted).
#![allow(dead_code)]

mod paths;
mod rbac;
mod selectors;
mod watch;

pub use paths::{ApiPath, Collection};
pub use rbac::{ApiCall, OPERATOR_TOKEN, RbacAudit};

use bytes::Bytes;
use flink_lifecycle::api::{FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use k8s_openapi::api::apps::v1::Deployment;
use kube::client::Body as KubeBody;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use watch::{EventLog, WatchRequest, watch_stream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ResponseBody = BoxBody<Bytes, Infallible>;

/// Collections that may hold objects owned by a deleted object (for DELETED events of cascades).
const DEPENDENT_PATHS: &[(&str, &str, &str)] = &[
    ("apps", "v1", "deployments"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("networking.k8s.io", "v1", "ingresses"),
];

/// The in-memory API. Clone freely: clones share the store.
#[derive(Clone)]
pub struct InMemoryKube {
    store: kube::Client,
    log: Arc<EventLog>,
    /// Object paths whose deletion waits for finalizers, with their deletionTimestamp.
    terminating: Arc<Mutex<HashMap<String, String>>>,
    /// Snapshots of paged lists being read.
    pages: Arc<Pages>,
    /// Checks the calls made with the operator's credentials.
    pub rbac: Arc<RbacAudit>,
    /// Admission policies, as a validating webhook would enforce them: (collection, text the
    /// written object contains, denial message).
    policies: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl InMemoryKube {
    /// An empty cluster that knows the Flink kinds (with status subresources) and built-ins.
    pub async fn new() -> Self {
        let store = kube_fake_client::ClientBuilder::new()
            .with_resource::<FlinkDeployment>()
            .with_status_subresource::<FlinkDeployment>()
            .with_resource::<FlinkSessionJob>()
            .with_status_subresource::<FlinkSessionJob>()
            .with_resource::<FlinkStateSnapshot>()
            .with_status_subresource::<FlinkStateSnapshot>()
            .with_status_subresource::<Deployment>()
            .build()
            .await
            .expect("in-memory API store");
        Self {
            store,
            log: Arc::new(EventLog::default()),
            terminating: Arc::new(Mutex::new(HashMap::new())),
            pages: Arc::new(Pages::default()),
            rbac: Arc::new(RbacAudit::new("default")),
            policies: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// An admission policy: writes to `collection` (e.g. "deployments") whose body contains
    /// `containing` are denied with `message`, dry runs included, as a webhook denies them.
    pub fn refuse(&self, collection: &str, containing: &str, message: &str) {
        if let Ok(mut p) = self.policies.lock() {
            p.push((collection.into(), containing.into(), message.into()));
        }
    }

    /// The denial of the policy that refuses this write, if any.
    fn denial(&self, collection: &str, body: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        let policies = self.policies.lock().ok()?;
        policies
            .iter()
            .find(|(c, containing, _)| c == collection && text.contains(containing.as_str()))
            .map(|(_, _, message)| {
                format!("admission webhook \"policy.example.com\" denied the request: {message}")
            })
    }

    /// The resourceVersion of the latest write (every write bumps it): a cheap write counter.
    pub fn resource_version(&self) -> u64 {
        self.log.current()
    }

    /// A kube client talking to this API in-process.
    pub fn client(&self) -> kube::Client {
        let this = self.clone();
        let svc = tower::service_fn(move |req: Request<KubeBody>| {
            let this = this.clone();
            async move { Ok::<_, BoxError>(this.handle(req).await) }
        });
        kube::Client::new(svc, "default")
    }

    /// A kube client with the operator's identity: its calls are held to the operator's RBAC.
    pub fn operator_client(&self) -> kube::Client {
        let this = self.clone();
        let svc = tower::service_fn(move |mut req: Request<KubeBody>| {
            let this = this.clone();
            async move {
                let bearer = http::HeaderValue::from_str(&format!("Bearer {OPERATOR_TOKEN}"))?;
                req.headers_mut().insert(http::header::AUTHORIZATION, bearer);
                Ok::<_, BoxError>(this.handle(req).await)
            }
        });
        kube::Client::new(svc, "default")
    }

    /// Serves this API over plain HTTP on a loopback port; returns the address.
    pub async fn serve(&self) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let this = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let this = this.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let this = this.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                            let req = Request::from_parts(parts, KubeBody::from(bytes.to_vec()));
                            Ok::<_, Infallible>(this.handle(req).await)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
            }
        });
        Ok((addr, task))
    }

    /// A kubeconfig pointing at [`InMemoryKube::serve`]'s address.
    pub fn kubeconfig(addr: SocketAddr) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: in-memory\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: in-memory\n  context:\n    cluster: in-memory\n    user: test\n    namespace: default\n\
             current-context: in-memory\nusers:\n- name: test\n  user:\n    token: test\n"
        )
    }

    /// A kubeconfig with the operator's identity (held to its RBAC) for [`InMemoryKube::serve`].
    pub fn operator_kubeconfig(addr: SocketAddr) -> String {
        Self::kubeconfig(addr).replace("token: test", &format!("token: {OPERATOR_TOKEN}"))
    }

    async fn handle(&self, req: Request<KubeBody>) -> Response<ResponseBody> {
        let path = req.uri().path().to_string();
        let params = paths::query_pairs(req.uri().query());
        let param = |k: &str| param_of(&params, k);
        let Some(api) = ApiPath::parse(&path) else {
            return self.forward(req).await;
        };
        let is_watch = matches!(param("watch").as_deref(), Some("true" | "1"));
        let operator = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == format!("Bearer {OPERATOR_TOKEN}").as_bytes());
        if operator
            && let Some(call) = ApiCall::of(req.method(), &api, is_watch)
            && let Err(message) = self.rbac.authorise(&call)
        {
            let status = serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": "Forbidden", "code": 403,
            });
            return json_response(StatusCode::FORBIDDEN, &status);
        }
        match *req.method() {
            Method::GET if is_watch => self.watch(api, &params).await,
            Method::GET => self.read(req, &api).await,
            Method::DELETE if api.name.is_some() && api.subresource.is_none() => self.delete(req, &api).await,
            Method::POST | Method::PUT | Method::PATCH => {
                let dry_run = param("dryRun").as_deref() == Some("All");
                self.write(req, &api, dry_run).await
            }
            _ => self.forward(req).await,
        }
    }

    async fn forward(&self, req: Request<KubeBody>) -> Response<ResponseBody> {
        match self.store.send(req).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let bytes = body.collect_bytes().await.unwrap_or_default();
                Response::from_parts(parts, Full::new(bytes).boxed())
            }
            Err(e) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"kind": "Status", "status": "Failure", "code": 500, "message": e.to_string()}),
            ),
        }
    }

    async fn forward_json(&self, req: Request<KubeBody>) -> (StatusCode, Value) {
        let resp = self.forward(req).await;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get_json(&self, path: &str) -> Option<Value> {
        let req = Request::get(path).body(KubeBody::empty()).ok()?;
        match self.forward_json(req).await {
            (s, v) if s.is_success() => Some(v),
            _ => None,
        }
    }

    fn mark_terminating(&self, path: &str, obj: &mut Value) {
        let ts = self.terminating.lock().ok().and_then(|t| t.get(path).cloned());
        if let (Some(ts), Some(meta)) = (ts, obj.get_mut("metadata").and_then(Value::as_object_mut)) {
            meta.insert("deletionTimestamp".into(), Value::String(ts));
        }
    }

    fn object_path_of(api: &ApiPath, obj: &Value) -> Option<String> {
        let name = obj.pointer("/metadata/name")?.as_str()?;
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        Some(api.object_path(ns, name))
    }

    async fn read(&self, req: Request<KubeBody>, api: &ApiPath) -> Response<ResponseBody> {
        let params = paths::query_pairs(req.uri().query());
        let limit = param_of(&params, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let token = param_of(&params, "continue").filter(|c| !c.is_empty());
        if api.name.is_none()
            && let Some(token) = token
        {
            return self.next_page(api, &token, limit);
        }
        // The store truncates at `limit` without a continue token, which would silently hide every
        // object past the first page from kube-runtime watchers (they list in pages of 500): ask
        // it for everything and page here.
        let paged = api.name.is_none() && limit.is_some();
        let req = if paged {
            without_paging_params(req, &params)
        } else {
            req
        };
        let list_rv = self.log.current();
        let (status, mut body) = self.forward_json(req).await;
        if status.is_success() {
            let mut next = None;
            if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
                if let (true, Some(limit)) = (paged, limit) {
                    next = self.pages.first_page(items, limit, list_rv);
                }
                for item in items.iter_mut() {
                    if let Some(p) = Self::object_path_of(api, item) {
                        self.mark_terminating(&p, item);
                    }
                }
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("resourceVersion".into(), Value::String(list_rv.to_string()));
                    if let Some(token) = next {
                        meta.insert("continue".into(), Value::String(token));
                    }
                }
            } else if let Some(p) = Self::object_path_of(api, &body) {
                self.mark_terminating(&p, &mut body);
            }
        }
        json_response(status, &body)
    }

    /// A later page of a paged list, from the snapshot its first page took; 410 Gone when the
    /// token is unknown or expired (the client then lists again, as with a real API server).
    fn next_page(&self, api: &ApiPath, token: &str, limit: Option<usize>) -> Response<ResponseBody> {
        let Some((list_rv, mut items, next)) = self.pages.next_page(token, limit) else {
            return json_response(
                StatusCode::GONE,
                &serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired",
                                    "code": 410, "message": "the continue token has expired"}),
            );
        };
        for item in items.iter_mut() {
            if let Some(p) = Self::object_path_of(api, item) {
                self.mark_terminating(&p, item);
            }
        }
        let mut meta = serde_json::Map::new();
        meta.insert("resourceVersion".into(), Value::String(list_rv.to_string()));
        if let Some(token) = next {
            meta.insert("continue".into(), Value::String(token));
        }
        json_response(
            StatusCode::OK,
            &serde_json::json!({"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items}),
        )
    }

    async fn watch(&self, api: ApiPath, params: &[(String, String)]) -> Response<ResponseBody> {
        let param = |k: &str| param_of(params, k);
        // "0" is a real position here (an empty cluster lists at 0), not "any".
        let since = param("resourceVersion")
            .filter(|v| !v.is_empty())
            .and_then(|v| v.parse().ok());
        let initial = if since.is_none() {
            let list = self.get_json(&api.collection_path()).await;
            let mut items = list
                .and_then(|l| l.get("items").cloned())
                .and_then(|i| i.as_array().cloned())
                .unwrap_or_default();
            for item in items.iter_mut() {
                if let Some(p) = Self::object_path_of(&api, item) {
                    self.mark_terminating(&p, item);
                }
            }
            items
        } else {
            Vec::new()
        };
        let timeout = param("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(290);
        let req = WatchRequest {
            path: api,
            since,
            label_selector: param("labelSelector"),
            field_selector: param("fieldSelector"),
            timeout: Duration::from_secs(timeout),
            initial,
        };
        let stream = watch_stream(&self.log, req);
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(StreamBody::new(stream).boxed())
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
    }

    async fn write(&self, req: Request<KubeBody>, api: &ApiPath, dry_run: bool) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        if let Some(message) = self.denial(&api.collection.resource, &bytes) {
            let status = serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": "BadRequest", "code": 400,
            });
            return json_response(StatusCode::BAD_REQUEST, &status);
        }
        if dry_run {
            // Admitted and not persisted: the answer is the object as sent.
            let obj = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
            return json_response(StatusCode::OK, &obj);
        }
        let req = Request::from_parts(parts, KubeBody::from(bytes.to_vec()));
        let req = self.status_apply_as_replace(req, api).await;
        let method = req.method().clone();
        let object_path = api
            .name
            .as_ref()
            .map(|n| api.object_path(api.namespace.as_deref(), n));
        let existed = match (&method, &object_path) {
            (&Method::PATCH, Some(p)) => self.get_json(p).await.is_some(),
            _ => method != Method::POST,
        };
        let terminating_ts = object_path
            .as_ref()
            .and_then(|p| self.terminating.lock().ok().and_then(|t| t.get(p).cloned()));
        let req = if method == Method::PUT && terminating_ts.is_some() {
            strip_deletion_timestamp(req).await
        } else {
            req
        };
        let (status, mut obj) = self.forward_json(req).await;
        if !status.is_success() {
            return json_response(status, &obj);
        }
        let kind = if existed { "MODIFIED" } else { "ADDED" };
        let path = Self::object_path_of(api, &obj);
        if let Some(p) = &path {
            self.mark_terminating(p, &mut obj);
        }
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.log.record(api.collection.clone(), ns, kind, obj.clone());
        let finalizers_done = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if terminating_ts.is_some()
            && finalizers_done
            && let Some(p) = &path
        {
            if let Ok(mut t) = self.terminating.lock() {
                t.remove(p);
            }
            self.delete_now(api, p, obj.clone()).await;
        }
        json_response(status, &obj)
    }

    /// The store treats server-side apply like a merge patch, so a field the manager stopped
    /// applying would never go away. For the status subresource, whose one owner is the
    /// controller, real SSA means "status becomes what was applied": send it as a replace.
    async fn status_apply_as_replace(&self, req: Request<KubeBody>, api: &ApiPath) -> Request<KubeBody> {
        let is_apply = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("apply-patch"));
        let (Some(name), Some("status")) = (api.name.as_deref(), api.subresource.as_deref()) else {
            return req;
        };
        if req.method() != Method::PATCH || !is_apply {
            return req;
        }
        let object_path = api.object_path(api.namespace.as_deref(), name);
        let uri = req.uri().path().to_string();
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let (Ok(applied), Some(mut current)) = (
            serde_json::from_slice::<Value>(&bytes),
            self.get_json(&object_path).await,
        ) else {
            return Request::from_parts(parts, KubeBody::from(bytes.to_vec()));
        };
        current["status"] = applied.get("status").cloned().unwrap_or(Value::Null);
        // As the apiserver: a resourceVersion in the applied object is a precondition (409 when
        // the object changed since); without one, apply never conflicts on the version.
        let precondition = applied.pointer("/metadata/resourceVersion").cloned();
        if let Some(meta) = current.get_mut("metadata").and_then(Value::as_object_mut) {
            match precondition {
                Some(Value::String(v)) => {
                    meta.insert("resourceVersion".into(), Value::String(v));
                }
                _ => {
                    meta.remove("resourceVersion");
                }
            }
            meta.remove("deletionTimestamp");
        }
        Request::put(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(KubeBody::from(serde_json::to_vec(&current).unwrap_or_default()))
            .unwrap_or_else(|_| Request::from_parts(parts, KubeBody::empty()))
    }

    async fn delete(&self, req: Request<KubeBody>, api: &ApiPath) -> Response<ResponseBody> {
        let path = req.uri().path().to_string();
        let Some(mut obj) = self.get_json(&path).await else {
            return self.forward(req).await;
        };
        let has_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            let newly = self
                .terminating
                .lock()
                .map(|mut t| {
                    let fresh = !t.contains_key(&path);
                    t.entry(path.clone())
                        .or_insert_with(|| jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
                    fresh
                })
                .unwrap_or(false);
            self.mark_terminating(&path, &mut obj);
            if newly {
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.log
                    .record(api.collection.clone(), ns, "MODIFIED", obj.clone());
            }
            return json_response(StatusCode::OK, &obj);
        }
        match self.delete_now(api, &path, obj).await {
            Some(deleted) => json_response(StatusCode::OK, &deleted),
            None => self.forward(req).await,
        }
    }

    /// Deletes in the store, recording DELETED for the object and the dependents it cascaded to.
    async fn delete_now(&self, api: &ApiPath, path: &str, obj: Value) -> Option<Value> {
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut dependents = Vec::new();
        if let (Some(uid), Some(ns)) = (&uid, &ns) {
            for (g, v, r) in DEPENDENT_PATHS {
                let coll = ApiPath {
                    collection: Collection {
                        group: g.to_string(),
                        version: v.to_string(),
                        resource: r.to_string(),
                    },
                    namespace: Some(ns.clone()),
                    name: None,
                    subresource: None,
                };
                let items = self
                    .get_json(&coll.collection_path())
                    .await
                    .and_then(|l| l.get("items").and_then(Value::as_array).cloned())
                    .unwrap_or_default();
                for item in items {
                    let owned = item
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                        });
                    if owned {
                        dependents.push((coll.collection.clone(), item));
                    }
                }
            }
        }
        let req = Request::delete(path).body(KubeBody::empty()).ok()?;
        let (status, _) = self.forward_json(req).await;
        if !status.is_success() {
            return None;
        }
        self.log
            .record(api.collection.clone(), ns.clone(), "DELETED", obj.clone());
        for (coll, item) in dependents {
            self.log.record(coll, ns.clone(), "DELETED", item);
        }
        Some(obj)
    }
}

/// Open paged lists. The first page sorts the whole list and keeps the rest as a snapshot; later
/// pages are served from it, so reading N objects in pages costs O(N) (re-listing the store for
/// every page made a 10,000-object list cost 20 full copies), and every page of one list reports
/// the first page's resourceVersion, as etcd's consistent pages do: a watch started from it
/// replays whatever changed while the pages were read.
#[derive(Default)]
struct Pages {
    state: Mutex<PagesState>,
}

#[derive(Default)]
struct PagesState {
    next_id: u64,
    /// Remaining items of each open list, with its resourceVersion, oldest list first.
    open: std::collections::VecDeque<(u64, u64, std::collections::VecDeque<Value>)>,
}

/// Paged lists kept open at once; a client that abandons its list leaves its snapshot here until
/// newer lists push it out (its token then answers 410 Gone).
const OPEN_LISTS: usize = 32;

impl Pages {
    /// Keeps the first `limit` items of `items` (in namespace/name order); returns the continue
    /// token of the rest, if any.
    fn first_page(&self, items: &mut Vec<Value>, limit: usize, list_rv: u64) -> Option<String> {
        let mut keyed: Vec<(String, Value)> = std::mem::take(items)
            .into_iter()
            .map(|v| (list_key(&v), v))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut rest: std::collections::VecDeque<Value> = keyed.into_iter().map(|(_, v)| v).collect();
        *items = rest.drain(..limit.min(rest.len())).collect();
        if rest.is_empty() {
            return None;
        }
        let mut state = self.state.lock().ok()?;
        state.next_id += 1;
        let id = state.next_id;
        state.open.push_back((id, list_rv, rest));
        while state.open.len() > OPEN_LISTS {
            state.open.pop_front();
        }
        Some(format!("{list_rv}-{id}"))
    }

    /// The next page of an open list: its resourceVersion, items and the following token.
    fn next_page(&self, token: &str, limit: Option<usize>) -> Option<(u64, Vec<Value>, Option<String>)> {
        let id: u64 = token.split_once('-')?.1.parse().ok()?;
        let mut state = self.state.lock().ok()?;
        let index = state.open.iter().position(|(i, _, _)| *i == id)?;
        let (_, list_rv, rest) = state.open.get_mut(index)?;
        let list_rv = *list_rv;
        let page: Vec<Value> = rest
            .drain(..limit.unwrap_or(usize::MAX).min(rest.len()))
            .collect();
        if rest.is_empty() {
            state.open.remove(index);
            return Some((list_rv, page, None));
        }
        Some((list_rv, page, Some(token.to_string())))
    }
}

/// `namespace/name`, the order of list pages.
fn list_key(obj: &Value) -> String {
    let field = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    format!("{}/{}", field("/metadata/namespace"), field("/metadata/name"))
}

/// The request without `limit` and `continue` (the store would truncate without a token).
fn without_paging_params(req: Request<KubeBody>, params: &[(String, String)]) -> Request<KubeBody> {
    let (mut parts, body) = req.into_parts();
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "limit" && k != "continue")
        .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
        .collect();
    let path = parts.uri.path().to_string();
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    if let Ok(uri) = uri.parse() {
        parts.uri = uri;
    }
    Request::from_parts(parts, body)
}

fn param_of(params: &[(String, String)], key: &str) -> Option<String> {
    params.iter().find(|(n, _)| n == key).map(|(_, v)| v.clone())
}

async fn strip_deletion_timestamp(req: Request<KubeBody>) -> Request<KubeBody> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect_bytes().await.unwrap_or_default();
    let bytes = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut v) => {
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("deletionTimestamp");
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Err(_) => bytes.to_vec(),
    };
    Request::from_parts(parts, KubeBody::from(bytes))
}

fn json_response(status: StatusCode, body: &Value) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}
