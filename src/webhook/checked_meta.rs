//! Object metadata as the decision reads it. k8s-openapi's `ObjectMeta` types everything,
//! including `managedFields`: a tree of JSON values per field manager, kilobytes on a real
//! cluster (Argo CD, the operator's status writes, kubectl), which no admission decision reads.
//! Typing them was most of a review's cost on such objects. Nor does any decision read
//! `annotations`, where `kubectl apply` keeps the whole object again as escaped JSON text
//! (`kubectl.kubernetes.io/last-applied-configuration`). [`DecisionMeta`] is the new object's
//! metadata with those two checked but not kept; [`CheckedMeta`] checks the stored object's
//! metadata without keeping any of it.
//!
//! Each type here accepts exactly what the k8s-openapi type it stands for accepts: the same
//! fields, read through the same `Deserializer` calls, so serde_json validates strings (escapes,
//! surrogates), numbers and nesting as it does for the real types. Unknown fields are ignored,
//! and a repeated field is read again (the last one kept), as there.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// `ObjectMeta`, checked.
#[derive(Debug, Default)]
pub struct CheckedMeta;

/// `ObjectMeta` typed, but for `managedFields` and `annotations`, which are checked and left
/// out: no rule, warning or change line reads them.
#[derive(Debug, Default)]
pub struct DecisionMeta(pub ObjectMeta);

/// `ManagedFieldsEntry`, checked.
struct CheckedManagedFields;

/// A `String`, checked (read into serde_json's scratch buffer, not allocated).
struct CheckedString;

/// A `String` that may be long and full of escapes (an annotation holding a whole object as
/// JSON text), checked by skipping it as serde_json skips an ignored value: no copy, no
/// unescaping. Skipping does not pair `\u` surrogates, which a `String` must; text with a `\u`
/// escape is read as a [`CheckedString`] instead.
struct CheckedText;

/// A `BTreeMap<String, String>`, checked.
struct CheckedStringMap;

/// A `serde_json::Value` (what `FieldsV1` holds), checked.
struct CheckedValue;

/// `FieldsV1`, a newtype around a `Value`, checked.
struct CheckedFieldsV1;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum MetaField {
    Annotations,
    CreationTimestamp,
    DeletionGracePeriodSeconds,
    DeletionTimestamp,
    Finalizers,
    GenerateName,
    Generation,
    Labels,
    ManagedFields,
    Name,
    Namespace,
    OwnerReferences,
    ResourceVersion,
    SelfLink,
    Uid,
    #[serde(other)]
    Other,
}

const META_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// How a reading of `ObjectMeta` takes each field: kept, or only checked.
trait MetaFields: Default {
    fn read<'de, A: MapAccess<'de>>(&mut self, field: MetaField, map: &mut A) -> Result<(), A::Error>;
}

/// k8s-openapi's `ObjectMeta` visitor: a map only, each known field read by `M`, others ignored.
struct MetaVisitor<M>(std::marker::PhantomData<M>);

impl<'de, M: MetaFields> Visitor<'de> for MetaVisitor<M> {
    type Value = M;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ObjectMeta")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<M, A::Error> {
        let mut meta = M::default();
        while let Some(field) = map.next_key::<MetaField>()? {
            meta.read(field, &mut map)?;
        }
        Ok(meta)
    }
}

impl<'de> Deserialize<'de> for DecisionMeta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(
            "ObjectMeta",
            META_FIELDS,
            MetaVisitor::<Self>(std::marker::PhantomData),
        )
    }
}

impl<'de> Deserialize<'de> for CheckedMeta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(
            "ObjectMeta",
            META_FIELDS,
            MetaVisitor::<Self>(std::marker::PhantomData),
        )
    }
}

impl MetaFields for DecisionMeta {
    fn read<'de, A: MapAccess<'de>>(&mut self, field: MetaField, map: &mut A) -> Result<(), A::Error> {
        let m = &mut self.0;
        match field {
            MetaField::Annotations => {
                map.next_value::<Option<CheckedStringMap>>()?;
            }
            MetaField::CreationTimestamp => m.creation_timestamp = map.next_value()?,
            MetaField::DeletionGracePeriodSeconds => m.deletion_grace_period_seconds = map.next_value()?,
            MetaField::DeletionTimestamp => m.deletion_timestamp = map.next_value()?,
            MetaField::Finalizers => m.finalizers = map.next_value()?,
            MetaField::GenerateName => m.generate_name = map.next_value()?,
            MetaField::Generation => m.generation = map.next_value()?,
            MetaField::Labels => m.labels = map.next_value()?,
            MetaField::ManagedFields => {
                map.next_value::<Option<Vec<CheckedManagedFields>>>()?;
            }
            MetaField::Name => m.name = map.next_value()?,
            MetaField::Namespace => m.namespace = map.next_value()?,
            MetaField::OwnerReferences => m.owner_references = map.next_value()?,
            MetaField::ResourceVersion => m.resource_version = map.next_value()?,
            MetaField::SelfLink => m.self_link = map.next_value()?,
            MetaField::Uid => m.uid = map.next_value()?,
            MetaField::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl MetaFields for CheckedMeta {
    fn read<'de, A: MapAccess<'de>>(&mut self, field: MetaField, map: &mut A) -> Result<(), A::Error> {
        match field {
            MetaField::Annotations | MetaField::Labels => {
                map.next_value::<Option<CheckedStringMap>>()?;
            }
            MetaField::CreationTimestamp | MetaField::DeletionTimestamp => {
                map.next_value::<Option<Time>>()?;
            }
            MetaField::DeletionGracePeriodSeconds | MetaField::Generation => {
                map.next_value::<Option<i64>>()?;
            }
            MetaField::Finalizers => {
                map.next_value::<Option<Vec<CheckedString>>>()?;
            }
            MetaField::ManagedFields => {
                map.next_value::<Option<Vec<CheckedManagedFields>>>()?;
            }
            MetaField::OwnerReferences => {
                map.next_value::<Option<Vec<OwnerReference>>>()?;
            }
            MetaField::GenerateName
            | MetaField::Name
            | MetaField::Namespace
            | MetaField::ResourceVersion
            | MetaField::SelfLink
            | MetaField::Uid => {
                map.next_value::<Option<CheckedString>>()?;
            }
            MetaField::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ManagedField {
    ApiVersion,
    FieldsType,
    FieldsV1,
    Manager,
    Operation,
    Subresource,
    Time,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for CheckedManagedFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FIELDS: &[&str] = &[
            "apiVersion",
            "fieldsType",
            "fieldsV1",
            "manager",
            "operation",
            "subresource",
            "time",
        ];
        deserializer.deserialize_struct("ManagedFieldsEntry", FIELDS, ManagedFieldsVisitor)
    }
}

struct ManagedFieldsVisitor;

impl<'de> Visitor<'de> for ManagedFieldsVisitor {
    type Value = CheckedManagedFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ManagedFieldsEntry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CheckedManagedFields, A::Error> {
        while let Some(field) = map.next_key::<ManagedField>()? {
            match field {
                ManagedField::FieldsV1 => {
                    map.next_value::<Option<CheckedFieldsV1>>()?;
                }
                ManagedField::Time => {
                    map.next_value::<Option<Time>>()?;
                }
                ManagedField::ApiVersion
                | ManagedField::FieldsType
                | ManagedField::Manager
                | ManagedField::Operation
                | ManagedField::Subresource => {
                    map.next_value::<Option<CheckedString>>()?;
                }
                ManagedField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(CheckedManagedFields)
    }
}

impl<'de> Deserialize<'de> for CheckedFieldsV1 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NewtypeVisitor;
        impl<'de> Visitor<'de> for NewtypeVisitor {
            type Value = CheckedFieldsV1;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("FieldsV1")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<CheckedFieldsV1, D::Error> {
                CheckedValue::deserialize(d).map(|_| CheckedFieldsV1)
            }
        }
        deserializer.deserialize_newtype_struct("FieldsV1", NewtypeVisitor)
    }
}

impl<'de> Deserialize<'de> for CheckedString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringVisitor;
        impl Visitor<'_> for StringVisitor {
            type Value = CheckedString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<CheckedString, E> {
                Ok(CheckedString)
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<CheckedString, E> {
                std::str::from_utf8(v)
                    .map(|_| CheckedString)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(v), &self))
            }
        }
        deserializer.deserialize_string(StringVisitor)
    }
}

impl<'de> Deserialize<'de> for CheckedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if !text.starts_with('"') {
            return Err(D::Error::invalid_type(
                serde::de::Unexpected::Other(text),
                &"a string",
            ));
        }
        if text.contains("\\u") {
            CheckedString::deserialize(&mut serde_json::Deserializer::from_str(text))
                .map_err(D::Error::custom)?;
        }
        Ok(CheckedText)
    }
}

impl<'de> Deserialize<'de> for CheckedStringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = CheckedStringMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CheckedStringMap, A::Error> {
                while map.next_entry::<CheckedString, CheckedText>()?.is_some() {}
                Ok(CheckedStringMap)
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

impl<'de> Deserialize<'de> for CheckedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// What `serde_json::Value`'s visitor accepts: anything JSON, its strings and keys read as
/// strings and its numbers as numbers.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = CheckedValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_i64<E>(self, _: i64) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_u64<E>(self, _: u64) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_f64<E>(self, _: f64) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_str<E>(self, _: &str) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_none<E>(self) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_unit<E>(self) -> Result<CheckedValue, E> {
        Ok(CheckedValue)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<CheckedValue, D::Error> {
        CheckedValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CheckedValue, A::Error> {
        while seq.next_element::<CheckedValue>()?.is_some() {}
        Ok(CheckedValue)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CheckedValue, A::Error> {
        while map.next_entry::<CheckedString, CheckedValue>()?.is_some() {}
        Ok(CheckedValue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// Both readings accept what `ObjectMeta` accepts, and the typed one gives the same
    /// metadata without its managedFields and annotations.
    fn same_verdict(text: &str) {
        let real = serde_json::from_str::<ObjectMeta>(text);
        let checked = serde_json::from_str::<CheckedMeta>(text).is_ok();
        assert_eq!(checked, real.is_ok(), "{text}");
        let typed = serde_json::from_str::<DecisionMeta>(text).map(|m| m.0);
        assert_eq!(typed.is_ok(), real.is_ok(), "{text}");
        if let (Ok(mut real), Ok(typed)) = (real, typed) {
            real.managed_fields = None;
            real.annotations = None;
            assert_eq!(typed, real, "{text}");
        }
    }

    const FIELDS: &[&str] = &[
        "annotations",
        "labels",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "finalizers",
        "managedFields",
        "ownerReferences",
        "name",
        "uid",
        "unknown",
    ];

    #[test]
    fn reads_what_object_meta_reads() {
        let managed = |fields_v1: &str| {
            format!(
                r#"{{"managedFields":[{{"manager":"kubectl","operation":"Update","time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{fields_v1}}}]}}"#
            )
        };
        for text in [
            r#"{"name":"a","annotations":{"k":"v \" \\ \u00e9"},"labels":{}}"#.to_string(),
            r#"{"name":"a","name":"b","generation":1}"#.to_string(),
            r#"{"name":"a","namespace":"n","uid":"u","resourceVersion":"1","generateName":"g","selfLink":"/x","deletionGracePeriodSeconds":3,"deletionTimestamp":"2026-01-01T00:00:00Z","finalizers":["f"],"labels":{"a":"b"}}"#.to_string(),
            r#"{"annotations":{"k":"\ud800"}}"#.to_string(),
            // Annotation values are checked by skipping them: what a `String` refuses is refused.
            "{\"annotations\":{\"k\":\"tab\there\"}}".to_string(),
            r#"{"annotations":{"k":"bad \x escape"}}"#.to_string(),
            r#"{"annotations":{"k":"\\u is a backslash and a u"}}"#.to_string(),
            r#"{"annotations":{"k":"\u00"}}"#.to_string(),
            r#"{"annotations":{"k":1}}"#.to_string(),
            r#"{"annotations":{"k":{"a":"b"}}}"#.to_string(),
            r#"{"annotations":{"k":["v"]}}"#.to_string(),
            r#"{"annotations":{"k":null}}"#.to_string(),
            r#"{"annotations":{"k":"\ud83d\ude00"}}"#.to_string(),
            r#"{"labels":{"\udc00":"v"}}"#.to_string(),
            r#"{"creationTimestamp":"yesterday"}"#.to_string(),
            r#"{"creationTimestamp":null,"finalizers":null}"#.to_string(),
            r#"{"generation":1.5}"#.to_string(),
            r#"{"generation":9223372036854775808}"#.to_string(),
            r#"{"finalizers":["a",1]}"#.to_string(),
            r#"["a"]"#.to_string(),
            r#"{"ownerReferences":[{"apiVersion":"v1","kind":"X","name":"n","uid":"u"}]}"#.to_string(),
            r#"{"ownerReferences":[{"kind":"X"}]}"#.to_string(),
            managed(r#"{"f:spec":{"f:image":{},".":{}}}"#),
            managed(r#"{"f:spec":[1,2.5,-3,true,null,"\ud800"]}"#),
            managed("1e400"),
            managed(r#"{"k\ud800":1}"#),
            managed("[1,]"),
            r#"{"managedFields":[["kubectl"]]}"#.to_string(),
            r#"{"managedFields":[{"time":"now"}]}"#.to_string(),
            r#"{"unknown":{"deep":[1,{"x":"\ud800"}]}}"#.to_string(),
        ] {
            same_verdict(&text);
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON in any field, at the top or inside a managedFields entry.
        #[test]
        fn any_field_value_gets_the_same_verdict(
            field in prop::sample::select(FIELDS),
            managed_field in prop::sample::select(&["manager", "time", "fieldsV1", "operation", "x"][..]),
            value in json_value(),
            nested in any::<bool>(),
        ) {
            let text = if nested {
                json!({"managedFields": [{ managed_field: value }]}).to_string()
            } else {
                json!({ field: value }).to_string()
            };
            same_verdict(&text);
        }
    }
}
