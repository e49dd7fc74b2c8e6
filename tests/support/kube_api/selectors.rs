//! Label and field selector matching for watch streams (equality-based selectors and existence).

use serde_json::Value;

fn labels(obj: &Value) -> Option<&serde_json::Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

/// Whether `obj` matches a label selector such as `app=x,component!=tm,type,!other`.
pub fn matches_labels(obj: &Value, selector: &str) -> bool {
    let labels = labels(obj);
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                get(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                get(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                get(k.trim()).is_none()
            } else {
                get(term).is_some()
            }
        })
}

/// Whether `obj` matches a field selector on `metadata.name` / `metadata.namespace`.
pub fn matches_fields(obj: &Value, selector: &str) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let (negate, (k, v)) = match term.split_once("!=") {
                Some(kv) => (true, kv),
                None => (
                    false,
                    term.split_once("==")
                        .or_else(|| term.split_once('='))
                        .unwrap_or((term, "")),
                ),
            };
            let actual = match k.trim() {
                "metadata.name" => obj.pointer("/metadata/name"),
                "metadata.namespace" => obj.pointer("/metadata/namespace"),
                _ => return true,
            }
            .and_then(Value::as_str);
            (actual == Some(v.trim())) != negate
        })
}
