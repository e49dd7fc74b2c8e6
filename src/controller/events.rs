//! Kubernetes Events for the planner's transitions. One recorder serves the whole process: it
//! keeps the events it published, so an event repeated for the same object (a deletion blocked
//! every second, a savepoint retried) updates one Event's series count instead of creating a
//! new Event each time.

use super::context::Context;
use crate::lifecycle::{Event, EventType};
use kube::Resource;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};

/// Publishes one event; a failure to publish is logged, never fatal.
pub async fn publish<K>(ctx: &Context, obj: &K, ev: &Event)
where
    K: Resource<DynamicType = ()>,
{
    let kube_event = KubeEvent {
        type_: match ev.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: ev.reason.clone(),
        note: Some(ev.message.clone()),
        action: ev.reason.clone(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&kube_event, &obj.object_ref(&())).await {
        tracing::warn!(reason = %ev.reason, error = %e, "cannot publish event");
    }
}
