//! The committed CRDs are what the Rust types generate, and each stays small enough for
//! client-side `kubectl apply` (and Argo CD without ServerSideApply).

use flink_lifecycle::crd;

#[test]
fn committed_crds_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/crds");
    for g in crd::all() {
        let generated = crd::to_yaml(&g.crd).unwrap();
        let path = dir.join(g.file_name);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} missing ({e}); run `make crds`", path.display()));
        assert!(
            committed == generated,
            "{} is stale: run `make crds` and commit the result",
            path.display()
        );
    }
}

#[test]
fn each_crd_fits_client_side_apply() {
    for g in crd::all() {
        let size = crd::to_yaml(&g.crd).unwrap().len();
        // The annotation holds the JSON form, which is larger than YAML; check that one.
        let json_size = serde_json::to_string(&g.crd).unwrap().len();
        println!("{}: {size} bytes YAML, {json_size} bytes JSON", g.file_name);
        assert!(
            json_size < crd::CLIENT_SIDE_APPLY_LIMIT / 4,
            "{} is {json_size} bytes",
            g.file_name
        );
    }
}

#[test]
fn crds_have_the_reference_names_columns_and_subresources() {
    let all = crd::all();
    let dep = &all[0].crd;
    assert_eq!(dep.spec.group, "flink.apache.org");
    assert_eq!(
        dep.spec.names.short_names.as_deref(),
        Some(&["flinkdep".to_string()][..])
    );
    let v = &dep.spec.versions[0];
    assert_eq!(v.name, "v1beta1");
    assert!(v.served && v.storage);
    let subs = v.subresources.as_ref().unwrap();
    assert!(subs.status.is_some());
    let scale = subs.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.taskManager.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.taskManager.labelSelector")
    );
    let cols: Vec<_> = v
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(cols, ["Job Status", "Lifecycle State", "Age"]);

    let job = &all[1].crd;
    assert_eq!(
        job.spec.names.short_names.as_deref(),
        Some(&["sessionjob".to_string()][..])
    );
    assert_eq!(job.spec.scope, "Namespaced");
}

/// The reference operator's canary resources have no spec, and its CRDs do not require one: the
/// committed CRDs leave `spec` optional and their schemas accept both canaries as written.
#[test]
fn spec_less_canaries_pass_the_committed_crd_schemas() {
    use flink_lifecycle::validation::{FlinkKind, validate_schema};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for g in crd::all().iter().take(2) {
        let committed: serde_json::Value = serde_saphyr::from_str(
            &std::fs::read_to_string(dir.join("manifests/crds").join(g.file_name)).unwrap(),
        )
        .unwrap();
        let root = &committed["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert!(root["properties"]["spec"].is_object(), "{}", g.file_name);
        let required = root["required"].as_array().cloned().unwrap_or_default();
        assert!(
            !required.iter().any(|f| f == "spec"),
            "{} requires spec",
            g.file_name
        );
    }
    for (file, kind) in [
        ("canary-deployment.yaml", FlinkKind::Deployment),
        ("canary-session-job.yaml", FlinkKind::SessionJob),
    ] {
        let text = std::fs::read_to_string(dir.join("tests/fixtures/resources").join(file)).unwrap();
        let canary: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert!(canary.get("spec").is_none(), "{file}");
        validate_schema(kind, &canary).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
