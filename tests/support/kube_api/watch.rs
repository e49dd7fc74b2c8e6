//! The watch side of the in-memory API: every write that passes through is recorded as an event
//! in one ordered log; watch requests replay the log after the requested resourceVersion and then
//! follow it live, so kube-runtime watchers and controllers see real event streams.

use super::paths::{ApiPath, Collection};
use super::selectors::{matches_fields, matches_labels};
use bytes::Bytes;
use http_body::Frame;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Events kept for replay; a watcher asking for something older gets 410 Gone and re-lists.
const RETAINED_EVENTS: usize = 50_000;

/// One change to one object.
#[derive(Debug)]
pub struct WatchEvent {
    pub seq: u64,
    pub collection: Collection,
    pub namespace: Option<String>,
    pub kind: &'static str,
    pub object: Value,
}

struct LogState {
    last_seq: u64,
    first_retained_seq: u64,
    recent: VecDeque<Arc<WatchEvent>>,
}

type Subscription = (Vec<Arc<WatchEvent>>, broadcast::Receiver<Arc<WatchEvent>>);

/// The ordered log of changes.
pub struct EventLog {
    state: Mutex<LogState>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

impl Default for EventLog {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(RETAINED_EVENTS);
        Self {
            state: Mutex::new(LogState {
                last_seq: 0,
                first_retained_seq: 0,
                recent: VecDeque::new(),
            }),
            tx,
        }
    }
}

fn resource_version(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion")?.as_str()?.parse().ok()
}

impl EventLog {
    /// The resourceVersion a list taken now is consistent with.
    pub fn current(&self) -> u64 {
        self.state.lock().map(|s| s.last_seq).unwrap_or(0)
    }

    /// Records one change. The sequence follows the store's resourceVersions so that watchers
    /// resuming from an object's resourceVersion resume at the right place; deletions reuse the
    /// latest sequence number (the store does not bump versions on delete), and the deleted
    /// object carries it as its resourceVersion, as a real API server's DELETED event carries
    /// the deletion's: a watcher resumes from the last event it saw, not from the deleted
    /// object's last write (which replayed everything since).
    pub fn record(
        &self,
        collection: Collection,
        namespace: Option<String>,
        kind: &'static str,
        mut object: Value,
    ) {
        let Ok(mut s) = self.state.lock() else { return };
        let seq = resource_version(&object)
            .filter(|rv| *rv > s.last_seq)
            .unwrap_or(s.last_seq);
        if kind == "DELETED"
            && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("resourceVersion".into(), Value::String(seq.to_string()));
        }
        s.last_seq = seq;
        let ev = Arc::new(WatchEvent {
            seq,
            collection,
            namespace,
            kind,
            object,
        });
        s.recent.push_back(ev.clone());
        while s.recent.len() > RETAINED_EVENTS {
            if let Some(old) = s.recent.pop_front() {
                s.first_retained_seq = old.seq;
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    /// Events after `since` (None: only live ones) and a receiver for what follows, atomically.
    fn subscribe(&self, since: Option<u64>) -> Result<Subscription, ()> {
        let s = self.state.lock().map_err(|_| ())?;
        let replay = match since {
            None => Vec::new(),
            Some(rv) if rv < s.first_retained_seq => return Err(()),
            Some(rv) => s.recent.iter().filter(|e| e.seq > rv).cloned().collect(),
        };
        Ok((replay, self.tx.subscribe()))
    }
}

/// What one watch request asked for.
pub struct WatchRequest {
    pub path: ApiPath,
    pub since: Option<u64>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub timeout: Duration,
    /// Objects that exist now, sent as ADDED first (a watch without resourceVersion).
    pub initial: Vec<Value>,
}

impl WatchRequest {
    fn wants(&self, ev: &WatchEvent) -> bool {
        ev.collection == self.path.collection
            && (self.path.namespace.is_none() || self.path.namespace == ev.namespace)
            && self.object_matches(&ev.object)
    }

    fn object_matches(&self, obj: &Value) -> bool {
        self.label_selector
            .as_deref()
            .is_none_or(|s| matches_labels(obj, s))
            && self
                .field_selector
                .as_deref()
                .is_none_or(|s| matches_fields(obj, s))
    }
}

fn line(kind: &str, object: &Value) -> Result<Frame<Bytes>, Infallible> {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Ok(Frame::data(Bytes::from(text)))
}

/// The response body of a watch: newline-delimited watch events until the timeout.
pub fn watch_stream(
    log: &EventLog,
    req: WatchRequest,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + use<> {
    let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
                      "message": "too old resource version"});
    let subscription = log.subscribe(req.since);
    let deadline = tokio::time::Instant::now() + req.timeout;
    async_stream_like(move |emit| async move {
        let (replay, mut rx) = match subscription {
            Ok(s) => s,
            Err(()) => {
                emit.send(line("ERROR", &gone)).await.ok();
                return;
            }
        };
        for obj in req.initial.iter().filter(|o| req.object_matches(o)) {
            if emit.send(line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        let mut last_sent = req.since.unwrap_or(0);
        for ev in replay.iter().filter(|e| req.wants(e)) {
            last_sent = last_sent.max(ev.seq);
            if emit.send(line(ev.kind, &ev.object)).await.is_err() {
                return;
            }
        }
        loop {
            let next = tokio::time::timeout_at(deadline, rx.recv()).await;
            match next {
                Err(_) => return,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    emit.send(line("ERROR", &gone)).await.ok();
                    return;
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Ok(Ok(ev)) => {
                    // Replayed events may also arrive live; the sequence orders them.
                    if ev.seq < last_sent || !req.wants(&ev) {
                        continue;
                    }
                    if emit.send(line(ev.kind, &ev.object)).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// A stream fed by an async producer through a small channel (the producer stops when the
/// consumer goes away).
fn async_stream_like<T, F, Fut>(producer: F) -> impl futures::Stream<Item = T> + Send
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(producer(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
