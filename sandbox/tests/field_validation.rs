//! Server-side field validation of duplicate fields, as the API server's own integration test
//! (kubernetes/kubernetes `test/integration/apiserver/field_validation_test.go`) expects it:
//! `Strict` fails with every finding, `Warn` answers with one `Warning` each, `Ignore` keeps
//! the last value silently. Raw requests, so the exact bodies and headers are what is sent.

mod common;

use common::Env;
use http_body_util::BodyExt;
use serde_json::Value;

struct Answer {
    code: u16,
    warnings: Vec<String>,
    body: Value,
}

impl Answer {
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
}

async fn send(client: &kube::Client, method: &str, path: &str, ct: &str, body: &str) -> Answer {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", ct)
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let resp = client.send(req).await.expect("the sandbox answers");
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| {
            let v = v.to_str().unwrap();
            let text = v
                .strip_prefix("299 - \"")
                .unwrap()
                .strip_suffix('"')
                .unwrap();
            text.replace("\\\"", "\"").replace("\\\\", "\\")
        })
        .collect();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        code,
        warnings,
        body,
    }
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// `path` with `fieldValidation=how` (the server's default when `how` is empty).
fn url(path: &str, how: &str) -> String {
    match how {
        "" => path.to_string(),
        how => format!("{path}?fieldValidation={how}"),
    }
}

/// A PATCH of Deployment `name` with `fieldValidation=how`.
async fn patch(c: &kube::Client, name: &str, how: &str, ct: &str, body: &str) -> Answer {
    send(
        c,
        "PATCH",
        &url(&format!("{DEPLOYMENTS}/{name}"), how),
        ct,
        body,
    )
    .await
}

/// A Deployment created with `fieldValidation=how`.
async fn post(c: &kube::Client, how: &str, ct: &str, body: &str) -> Answer {
    send(c, "POST", &url(DEPLOYMENTS, how), ct, body).await
}

fn invalid_json(name: &str) -> String {
    format!(
        r#"{{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {{"name": "{name}", "name": "{name}", "unknownMeta": "x", "labels": {{"app": "nginx"}}}},
  "spec": {{
    "unknown1": "val1",
    "unknownDupe": "valDupe",
    "unknownDupe": "valDupe2",
    "paused": true,
    "paused": false,
    "selector": {{"matchLabels": {{"app": "nginx"}}}},
    "template": {{
      "metadata": {{"labels": {{"app": "nginx"}}}},
      "spec": {{"containers": [{{"name": "nginx", "image": "nginx:latest", "unknownNested": "val1",
                                 "imagePullPolicy": "Always", "imagePullPolicy": "Never"}}]}}
    }}
  }}
}}"#
    )
}

fn invalid_yaml(name: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  name: {name}
  unknownMeta: x
  labels:
    app: nginx
spec:
  unknown1: val1
  unknownDupe: valDupe
  unknownDupe: valDupe2
  paused: true
  paused: false
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:latest
        unknownNested: val1
        imagePullPolicy: Always
        imagePullPolicy: Never
"
    )
}

const JSON_FINDINGS: [&str; 7] = [
    "duplicate field \"metadata.name\"",
    "unknown field \"metadata.unknownMeta\"",
    "unknown field \"spec.unknown1\"",
    "unknown field \"spec.unknownDupe\"",
    "duplicate field \"spec.paused\"",
    "unknown field \"spec.template.spec.containers[0].unknownNested\"",
    "duplicate field \"spec.template.spec.containers[0].imagePullPolicy\"",
];

const YAML_FINDINGS: [&str; 8] = [
    "line 5: key \"name\" already set in map",
    "line 12: key \"unknownDupe\" already set in map",
    "line 14: key \"paused\" already set in map",
    "line 28: key \"imagePullPolicy\" already set in map",
    "unknown field \"metadata.unknownMeta\"",
    "unknown field \"spec.template.spec.containers[0].unknownNested\"",
    "unknown field \"spec.unknown1\"",
    "unknown field \"spec.unknownDupe\"",
];

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_fields_in_creates_and_updates() {
    let env = Env::start(&["c1"]).await;
    let c = env.client("c1").await;
    let json = "application/json";

    let strict = post(&c, "Strict", json, &invalid_json("s")).await;
    assert_eq!(strict.code, 400, "{}", strict.body);
    assert_eq!(
        strict.message(),
        format!(
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: {}",
            JSON_FINDINGS.join(", ")
        )
    );

    for (how, name) in [("Warn", "w"), ("", "default")] {
        let warn = post(&c, how, json, &invalid_json(name)).await;
        assert_eq!(warn.code, 201, "{}", warn.body);
        assert_eq!(warn.warnings, JSON_FINDINGS, "{how}");
    }

    let ignore = post(&c, "Ignore", json, &invalid_json("i")).await;
    assert_eq!(ignore.code, 201, "{}", ignore.body);
    assert!(ignore.warnings.is_empty(), "{:?}", ignore.warnings);
    // The last of repeated fields wins.
    assert_eq!(ignore.body["spec"]["paused"], false);
    assert_eq!(
        ignore.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Never"
    );

    let yaml = "application/yaml";
    let strict = post(&c, "Strict", yaml, &invalid_yaml("ys")).await;
    assert_eq!(strict.code, 400, "{}", strict.body);
    assert!(
        strict.message().ends_with(&format!(
            "strict decoding error: yaml: unmarshal errors:\n  {}, {}",
            YAML_FINDINGS[..4].join("\n  "),
            YAML_FINDINGS[4..].join(", ")
        )),
        "{}",
        strict.message()
    );
    let warn = post(&c, "Warn", yaml, &invalid_yaml("yw")).await;
    assert_eq!(warn.code, 201, "{}", warn.body);
    assert_eq!(warn.warnings, YAML_FINDINGS);

    // An update reports the same.
    let put = send(
        &c,
        "PUT",
        &url(&format!("{DEPLOYMENTS}/w"), "Strict"),
        json,
        &invalid_json("w"),
    )
    .await;
    assert_eq!(put.code, 400, "{}", put.body);
    assert!(
        put.message().ends_with(&JSON_FINDINGS.join(", ")),
        "{}",
        put.message()
    );
    let put = send(
        &c,
        "PUT",
        &url(&format!("{DEPLOYMENTS}/w"), "Ignore"),
        json,
        &invalid_json("w"),
    )
    .await;
    assert_eq!((put.code, put.warnings.len()), (200, 0), "{}", put.body);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_fields_in_patches_and_applies() {
    let env = Env::start(&["c1"]).await;
    let c = env.client("c1").await;
    let valid = invalid_json("p").replace("\"unknownMeta\": \"x\", ", "");
    let created = post(&c, "Ignore", "application/json", &valid).await;
    assert_eq!(created.code, 201, "{}", created.body);
    let merge = r#"{"spec": {"unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
        "paused": true, "paused": false,
        "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "unknownNested": "val1",
            "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"#;
    let expected = [
        "duplicate field \"spec.unknownDupe\"",
        "duplicate field \"spec.paused\"",
        "duplicate field \"spec.template.spec.containers[0].imagePullPolicy\"",
        "unknown field \"spec.template.spec.containers[0].unknownNested\"",
        "unknown field \"spec.unknown1\"",
        "unknown field \"spec.unknownDupe\"",
    ];
    for ct in [
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ] {
        let strict = patch(&c, "p", "Strict", ct, merge).await;
        assert_eq!(strict.code, 422, "{ct}: {}", strict.body);
        assert!(
            strict
                .message()
                .ends_with(&format!("strict decoding error: {}", expected.join(", "))),
            "{ct}: {}",
            strict.message()
        );
        let warn = patch(&c, "p", "Warn", ct, merge).await;
        assert_eq!(warn.code, 200, "{ct}: {}", warn.body);
        assert_eq!(warn.warnings, expected, "{ct}");
    }
    let ignore = patch(
        &c,
        "p",
        "Ignore",
        "application/merge-patch+json",
        r#"{"spec": {"paused": false, "paused": true}}"#,
    )
    .await;
    assert_eq!(
        (ignore.code, ignore.warnings.len()),
        (200, 0),
        "{}",
        ignore.body
    );
    assert_eq!(ignore.body["spec"]["paused"], true);

    let json_patch = r#"[
        {"op": "add", "path": "/spec/unknown1", "value": "val1", "foo": "bar"},
        {"op": "add", "path": "/spec/unknown2", "path": "/spec/unknown3", "value": "val1"},
        {"op": "replace", "path": "/spec/paused", "value": false}
    ]"#;
    let warn = send(
        &c,
        "PATCH",
        &format!("{DEPLOYMENTS}/p"),
        "application/json-patch+json",
        json_patch,
    )
    .await;
    assert_eq!(warn.code, 200, "{}", warn.body);
    assert_eq!(
        warn.warnings,
        [
            "json patch unknown field \"[0].foo\"",
            "json patch duplicate field \"[1].path\"",
            "unknown field \"spec.unknown1\"",
            "unknown field \"spec.unknown3\"",
        ]
    );

    // Server-side apply reads YAML (JSON included): repeated keys by line.
    let apply = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  paused: false\n  paused: true\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: a}\n    spec:\n      containers:\n      - name: c\n        image: i\n        imagePullPolicy: Never\n        imagePullPolicy: Always\n";
    let ct = "application/apply-patch+yaml";
    let url = |v: &str| format!("{DEPLOYMENTS}/a?fieldManager=mgr&fieldValidation={v}");
    let strict = send(&c, "PATCH", &url("Strict"), ct, apply).await;
    assert_eq!(strict.code, 400, "{}", strict.body);
    assert_eq!(
        strict.message(),
        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  line 7: key \"paused\" already set in map\n  line 18: key \"imagePullPolicy\" already set in map"
    );
    let warn = send(&c, "PATCH", &url("Warn"), ct, apply).await;
    assert_eq!(warn.code, 201, "{}", warn.body);
    assert_eq!(
        warn.warnings,
        [
            "line 7: key \"paused\" already set in map",
            "line 18: key \"imagePullPolicy\" already set in map"
        ]
    );
    let ignore = send(&c, "PATCH", &url("Ignore"), ct, apply).await;
    assert_eq!(
        (ignore.code, ignore.warnings.len()),
        (200, 0),
        "{}",
        ignore.body
    );
    assert_eq!(ignore.body["spec"]["paused"], true);
    assert_eq!(
        ignore.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    env.shutdown().await;
}

const CRD: &str = r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
    "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
          "size": {"type": "integer", "minimum": 1, "maximum": 10},
          "colour": {"type": "string", "enum": ["red", "blue"]},
          "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
          "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}}}},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn values_are_checked_against_their_schema() {
    let env = Env::start(&["c1"]).await;
    let c = env.client("c1").await;
    let json = "application/json";

    // Built-in kinds: Go's decoding error, 400 on create, 422 about the patch.
    let body = invalid_json("t").replace("\"paused\": true,", "\"replicas\": \"three\",");
    let bad = post(&c, "", json, &body).await;
    assert_eq!(bad.code, 400, "{}", bad.body);
    assert_eq!(
        bad.message(),
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    let ok = post(&c, "", json, &invalid_json("t")).await;
    assert_eq!(ok.code, 201, "{}", ok.body);
    let merge = "application/merge-patch+json";
    let labels = patch(&c, "t", "", merge, r#"{"metadata": {"labels": ["a"]}}"#).await;
    assert_eq!(labels.code, 422, "{}", labels.body);
    assert!(
        labels.message().ends_with("json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
        "{}",
        labels.message()
    );

    // A server-side apply fails building its typed patch, as structured-merge-diff words it.
    let apply =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: t}\nspec: {replicas: three}\n";
    let path = format!("{DEPLOYMENTS}/t?fieldManager=mgr");
    let typed = send(&c, "PATCH", &path, "application/apply-patch+yaml", apply).await;
    assert_eq!(typed.code, 500, "{}", typed.body);
    assert_eq!(
        typed.message(),
        "failed to create typed patch object (default/t; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string"
    );

    // Custom resources: every violation of the CRD's structural schema, 422 with causes.
    let crd = send(
        &c,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        json,
        CRD,
    )
    .await;
    assert_eq!(crd.code, 201, "{}", crd.body);
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let bad = send(&c, "POST", widgets, json, r#"{"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": "three", "colour": "purple", "name": "Not-OK", "tags": []}}"#).await;
    assert_eq!(bad.code, 422, "{}", bad.body);
    assert_eq!(bad.body["reason"], "Invalid");
    assert_eq!(
        bad.message(),
        "Widget.example.com \"w\" is invalid: [spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\", spec.colour: Unsupported value: \"purple\": supported values: \"red\", \"blue\", spec.name: Invalid value: \"Not-OK\": spec.name in body should match '^[a-z]+$', spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items]"
    );
    let causes = bad.body["details"]["causes"].as_array().unwrap();
    assert_eq!(causes[0]["reason"], "FieldValueTypeInvalid");
    assert_eq!(causes[1]["reason"], "FieldValueNotSupported");
    assert_eq!(causes[1]["field"], "spec.colour");
    let missing = send(&c, "POST", widgets, json,
        r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}"#).await;
    assert_eq!(missing.code, 422, "{}", missing.body);
    assert_eq!(
        missing.message(),
        "Widget.example.com \"w\" is invalid: spec.size: Required value"
    );
    let good = send(
        &c,
        "POST",
        widgets,
        json,
        r#"{"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 3, "colour": "red", "tags": ["a"]}}"#,
    )
    .await;
    assert_eq!(good.code, 201, "{}", good.body);

    // Updates are checked too: a patch, and the status subresource.
    let w = format!("{widgets}/w");
    let body = r#"{"spec": {"size": 11, "tags": ["a", "b", "c"], "name": "abcdefghij"}}"#;
    let spec = send(&c, "PATCH", &w, merge, body).await;
    assert_eq!(spec.code, 422, "{}", spec.body);
    assert_eq!(
        spec.message(),
        "Widget.example.com \"w\" is invalid: [spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10, spec.tags: Too many: 3: must have at most 2 items, spec.name: Too long: may not be more than 8 bytes]"
    );
    let body = r#"{"status": {"ready": "yes"}}"#;
    let status = send(&c, "PATCH", &format!("{w}/status"), merge, body).await;
    assert_eq!(status.code, 422, "{}", status.body);

    // kubectl shows the causes as it does for a real server.
    let cr = env.write(
        "cr.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: k, namespace: default}\nspec: {size: 0, colour: green}\n",
    );
    let out = env
        .kubectl("c1", &["apply", "-f", cr.to_str().unwrap()])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "spec.colour: Unsupported value: \"green\": supported values: \"red\", \"blue\""
        ) && out.stderr.contains(
            "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        ),
        "{out:?}"
    );
    env.shutdown().await;
}
