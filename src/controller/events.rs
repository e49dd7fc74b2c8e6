//! Kubernetes Events for the planner's transitions.

use super::context::Context;
use crate::lifecycle::{Event, EventType};
use kube::Resource;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder};

/// Publishes one event; a failure to publish is logged, never fatal.
pub async fn publish<K>(ctx: &Context, obj: &K, ev: &Event)
where
    K: Resource<DynamicType = ()>,
{
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
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
    if let Err(e) = recorder.publish(&kube_event, &obj.object_ref(&())).await {
        tracing::warn!(reason = %ev.reason, error = %e, "cannot publish event");
    }
}
