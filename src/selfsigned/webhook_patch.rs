//! The JSON patch that makes a webhook configuration trust a CA bundle.

use serde_json::{Value, json};

/// A JSON Patch (RFC 6902) setting `clientConfig.caBundle` of every webhook of a Validating or
/// Mutating WebhookConfiguration (given as JSON) to `bundle_pem`, or None when all already
/// carry it. Each change is guarded by a `test` of the webhook's name, so a concurrent edit of
/// the list makes the patch fail instead of writing the wrong entry.
pub fn ca_bundle_patch(configuration: &Value, bundle_pem: &str) -> Option<json_patch::Patch> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bundle_pem);
    let webhooks = configuration.get("webhooks")?.as_array()?;
    let mut ops = Vec::new();
    for (i, w) in webhooks.iter().enumerate() {
        let current = w.pointer("/clientConfig/caBundle").and_then(Value::as_str);
        if current == Some(encoded.as_str()) {
            continue;
        }
        ops.push(json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": w.get("name")}));
        ops.push(
            json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": encoded}),
        );
    }
    if ops.is_empty() {
        return None;
    }
    serde_json::from_value(Value::Array(ops)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ca: Option<&str>) -> Value {
        let mut client = json!({"service": {"name": "s", "namespace": "n", "path": "/validate"}});
        if let Some(ca) = ca {
            client["caBundle"] = json!(ca);
        }
        json!({"webhooks": [{"name": "validate.flink-lifecycle.io", "clientConfig": client}]})
    }

    #[test]
    fn missing_or_stale_bundle_is_patched_and_applies() {
        for start in [None, Some("b2xk")] {
            let mut cfg = config(start);
            let patch = ca_bundle_patch(&cfg, "PEM").unwrap();
            json_patch::patch(&mut cfg, &patch).unwrap();
            assert_eq!(cfg["webhooks"][0]["clientConfig"]["caBundle"], "UEVN");
            assert!(ca_bundle_patch(&cfg, "PEM").is_none());
        }
    }

    #[test]
    fn patch_fails_when_the_list_changed() {
        let cfg = config(None);
        let patch = ca_bundle_patch(&cfg, "PEM").unwrap();
        let mut other = cfg.clone();
        other["webhooks"][0]["name"] = json!("someone.else.io");
        assert!(json_patch::patch(&mut other, &patch).is_err());
    }

    #[test]
    fn no_webhooks_means_no_patch() {
        assert!(ca_bundle_patch(&json!({}), "PEM").is_none());
    }
}
