//! Label and field selector matching for watch streams (equality-based selectors and existence).

use serde_json::Value;

fn labels(obj: &Value) -> Option<&serde_json::Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

/// Whether `obj` matches a label selector such as `app=x,component!=tm,type,!other` or the
/// set-based `type in (a,b)` / `tier notin (x)` the controllers use for owned Deployments.
pub fn matches_labels(obj: &Value, selector: &str) -> bool {
    let labels = labels(obj);
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector_terms(selector).into_iter().all(|term| {
        if let Some((k, set)) = set_term(term, " notin ") {
            get(k).is_none_or(|v| !set.contains(&v))
        } else if let Some((k, set)) = set_term(term, " in ") {
            get(k).is_some_and(|v| set.contains(&v))
        } else if let Some((k, v)) = term.split_once("!=") {
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

/// The comma-separated terms of a selector; commas inside `(...)` belong to a set-based term.
fn selector_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(selector[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(selector[start..].trim());
    terms.retain(|t| !t.is_empty());
    terms
}

/// `key in (a,b)` split into the key and its values (`op` is ` in ` or ` notin `).
fn set_term<'a>(term: &'a str, op: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let (k, rest) = term.split_once(op)?;
    let values = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some((k.trim(), values.split(',').map(str::trim).collect()))
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
