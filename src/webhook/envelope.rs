//! The fast reading of an AdmissionReview body: one pass over the bytes into a small envelope
//! with the metadata of `object` and `oldObject` typed and their `spec` and `status` borrowed as
//! raw JSON text. The reference reading types them as
//! kube-core `DynamicObject`s, whose flattened fields make serde buffer every object through its
//! generic `Content` and then copy it again into a `serde_json::Value`; that was a third of a
//! decision's CPU.
//!
//! Every other field has the type kube-core's `AdmissionRequest` gives it, in the same order, so
//! a body this reading accepts is one the reference reading accepts too; a body it rejects goes
//! to the reference reading, which explains what is wrong.

use super::checked_meta::{CheckedMeta, DecisionMeta};
use super::decode::ADMISSION_API_VERSION;
use crate::validation::FlinkKind;
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::core::admission::{AdmissionResponse, Operation};
use kube::core::{GroupVersionKind, GroupVersionResource};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The parts of a readable `admission.k8s.io/v1` review the decision needs.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub operation: Operation,
    pub object: Option<RawObject<'a>>,
    /// The stored object, its metadata only checked: the decision does not read it.
    pub old_object: Option<RawObject<'a, CheckedMeta>>,
}

/// An object as a custom resource's derived `Deserialize` reads it (`metadata` and `spec`
/// required, `status` optional, other fields ignored, a repeated field an error), with `spec`
/// and `status` left as raw text. Only a JSON object is one: serde would also read a struct
/// from an array, which the reference reading (a `DynamicObject`) rejects.
#[derive(Debug)]
pub struct RawObject<'a, M = DecisionMeta> {
    pub metadata: M,
    pub spec: &'a RawValue,
    pub status: Option<&'a RawValue>,
}

impl<'de: 'a, 'a, M: Deserialize<'de>> Deserialize<'de> for RawObject<'a, M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawObjectVisitor(std::marker::PhantomData))
    }
}

struct RawObjectVisitor<'a, M>(std::marker::PhantomData<(&'a (), M)>);

/// A key of an object, read without allocating.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Metadata,
    Spec,
    Status,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a, M: Deserialize<'de>> Visitor<'de> for RawObjectVisitor<'a, M> {
    type Value = RawObject<'a, M>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut metadata, mut spec, mut status) = (None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Metadata if metadata.is_some() => return Err(A::Error::duplicate_field("metadata")),
                Field::Metadata => metadata = Some(map.next_value::<M>()?),
                Field::Spec if spec.is_some() => return Err(A::Error::duplicate_field("spec")),
                Field::Spec => spec = Some(map.next_value::<&'a RawValue>()?),
                Field::Status if status.is_some() => return Err(A::Error::duplicate_field("status")),
                Field::Status => status = Some(map.next_value::<Option<&'a RawValue>>()?),
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RawObject {
            metadata: metadata.ok_or_else(|| A::Error::missing_field("metadata"))?,
            spec: spec.ok_or_else(|| A::Error::missing_field("spec"))?,
            status: status.flatten(),
        })
    }
}

impl Envelope<'_> {
    /// The kind of the request if this webhook handles it.
    pub fn flink_kind(&self) -> Option<FlinkKind> {
        (self.kind.group == crate::api::GROUP)
            .then(|| FlinkKind::from_kind(&self.kind.kind))
            .flatten()
    }
}

/// Reads `body` as an `admission.k8s.io/v1` AdmissionReview with a request; `None` for anything
/// else (the reference reading then answers it).
pub fn read_envelope(body: &[u8]) -> Option<Envelope<'_>> {
    // serde would also read a struct from a JSON array; the reference (a flattened struct) only
    // from an object.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let review: Review<'_> = serde_json::from_str(text).ok()?;
    if review.api_version != ADMISSION_API_VERSION || review.kind != "AdmissionReview" {
        return None;
    }
    let r = review.request?;
    Some(Envelope {
        uid: r.uid,
        kind: r.kind,
        sub_resource: r.sub_resource,
        namespace: r.namespace,
        operation: r.operation,
        object: r.object,
        old_object: r.old_object,
    })
}

/// kube-core's `AdmissionReview` with the request below.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review<'a> {
    api_version: String,
    kind: String,
    #[serde(borrow)]
    request: Option<Request<'a>>,
    // Read only so that a body the reference reading rejects is rejected here too.
    #[serde(default, rename = "response")]
    _response: Option<AdmissionResponse>,
}

/// kube-core's `AdmissionRequest`, field for field and in its order (serde also reads a struct
/// from an array, by position), with the objects left as raw text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    uid: String,
    kind: GroupVersionKind,
    #[serde(rename = "resource")]
    _resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default, rename = "requestKind")]
    _request_kind: Option<GroupVersionKind>,
    #[serde(default, rename = "requestResource")]
    _request_resource: Option<GroupVersionResource>,
    #[serde(default, rename = "requestSubResource")]
    _request_sub_resource: Option<String>,
    #[serde(default, rename = "name")]
    _name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    #[serde(rename = "userInfo")]
    _user_info: UserInfo,
    #[serde(borrow)]
    object: Option<RawObject<'a>>,
    #[serde(borrow)]
    old_object: Option<RawObject<'a, CheckedMeta>>,
    #[serde(default, rename = "dryRun")]
    _dry_run: bool,
    #[serde(default, rename = "options")]
    _options: Option<RawExtension>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATE: &[u8] = include_bytes!("../../tests/fixtures/admission/flinkdeployment-update.json");

    #[test]
    fn reads_the_realistic_update() {
        let e = read_envelope(UPDATE).expect("readable");
        assert_eq!(e.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(e.flink_kind(), Some(FlinkKind::Deployment));
        assert_eq!(e.operation, Operation::Update);
        let object = e.object.expect("object");
        assert_eq!(object.metadata.0.name.as_deref(), Some("orders"));
        assert!(object.spec.get().starts_with('{'));
        assert!(object.status.is_some());
        assert!(e.old_object.is_some());
    }

    #[test]
    fn leaves_odd_bodies_to_the_reference_reading() {
        for body in [
            &b"{nope"[..],
            b"[]",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"EXPLODE"}}"#,
        ] {
            assert!(read_envelope(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn raw_objects_read_as_the_derived_deserialize_does() {
        fn read(text: &str) -> Result<RawObject<'_>, serde_json::Error> {
            serde_json::from_str(text)
        }
        let o = read(r#"{"kind":"X","metadata":{"name":"a"},"spec":{"k":1},"status":null,"x":[1]}"#)
            .expect("readable");
        assert_eq!(o.spec.get(), r#"{"k":1}"#);
        assert!(o.status.is_none(), "a null status is none");
        for (text, why) in [
            (r#"[{"name":"a"},{}]"#, "an array is not an object"),
            (r#"{"spec":{}}"#, "metadata is required"),
            (r#"{"metadata":{}}"#, "spec is required"),
            (r#"{"metadata":{},"spec":{},"spec":{}}"#, "a repeated field"),
            (
                r#"{"metadata":{"labels":{"a":1}},"spec":{}}"#,
                "metadata is typed",
            ),
        ] {
            assert!(read(text).is_err(), "{why}: {text}");
        }
    }
}
