//! `spec.flinkConfiguration`: accepted as a flat string map (`a.b.c: "1"`) or as nested YAML
//! (`a: {b: {c: 1}}`), stored exactly as written, and read through [`FlinkConfiguration::flatten`].

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Flink configuration overrides as written by the user.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct FlinkConfiguration(pub Map<String, Value>);

impl FlinkConfiguration {
    /// Builds a configuration from flat `key: value` pairs.
    pub fn from_flat<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), Value::String(v.into())))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The configuration as Flink reads it: nested maps joined with `.`, lists joined with `;`,
    /// scalars as text, nulls dropped. Where a nested and a flat spelling name the same key, the
    /// one written later wins, as in the reference.
    pub fn flatten(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        flatten_into(&mut out, None, &self.0);
        out
    }

    /// The flat value of one key, if set.
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(v) = self.0.get(key) {
            return scalar_text(v);
        }
        self.flatten().remove(key)
    }

    /// Sets a flat key, replacing any previous value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), Value::String(value.into()));
    }
}

fn flatten_into(out: &mut BTreeMap<String, String>, prefix: Option<&str>, map: &Map<String, Value>) {
    for (k, v) in map {
        let key = match prefix {
            Some(p) => format!("{p}.{k}"),
            None => k.clone(),
        };
        match v {
            Value::Object(inner) => flatten_into(out, Some(&key), inner),
            other => {
                if let Some(text) = scalar_text(other) {
                    out.insert(key, text);
                }
            }
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(items.iter().filter_map(scalar_text).collect::<Vec<_>>().join(";")),
        Value::Object(_) => None,
    }
}

impl JsonSchema for FlinkConfiguration {
    fn schema_name() -> Cow<'static, str> {
        "FlinkConfiguration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Flink configuration overrides: a flat map of Flink keys to values, or the same keys as nested YAML.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_and_nested_spellings_flatten_alike() {
        let flat: FlinkConfiguration = serde_json::from_value(json!({
            "state.checkpoints.dir": "file:///c",
            "taskmanager.numberOfTaskSlots": "2"
        }))
        .unwrap();
        let nested: FlinkConfiguration = serde_json::from_value(json!({
            "state": {"checkpoints": {"dir": "file:///c"}},
            "taskmanager": {"numberOfTaskSlots": 2}
        }))
        .unwrap();
        assert_eq!(flat.flatten(), nested.flatten());
        assert_eq!(nested.get("state.checkpoints.dir").as_deref(), Some("file:///c"));
    }

    #[test]
    fn lists_join_with_semicolons_and_nulls_vanish() {
        let c: FlinkConfiguration = serde_json::from_value(json!({
            "env": {"java": {"opts": ["-Xa", "-Xb"]}},
            "x": null,
            "b": true
        }))
        .unwrap();
        let f = c.flatten();
        assert_eq!(f.get("env.java.opts").map(String::as_str), Some("-Xa;-Xb"));
        assert_eq!(f.get("b").map(String::as_str), Some("true"));
        assert!(!f.contains_key("x"));
    }
}
