//! Schema helpers that keep the CRDs lean: embedded Kubernetes structures are stored as
//! `x-kubernetes-preserve-unknown-fields` objects and checked by the webhook instead.

use schemars::{Schema, SchemaGenerator, json_schema};

/// An open object whose unknown fields the API server keeps (podTemplate, resources, ...).
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// A map of strings to strings.
pub fn string_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string" }
    })
}
