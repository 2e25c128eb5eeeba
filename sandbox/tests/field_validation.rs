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

    let strict = send(
        &c,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Strict"),
        json,
        &invalid_json("s"),
    )
    .await;
    assert_eq!(strict.code, 400, "{}", strict.body);
    assert_eq!(
        strict.message(),
        format!(
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: {}",
            JSON_FINDINGS.join(", ")
        )
    );

    for (query, name) in [("?fieldValidation=Warn", "w"), ("", "default")] {
        let warn = send(
            &c,
            "POST",
            &format!("{DEPLOYMENTS}{query}"),
            json,
            &invalid_json(name),
        )
        .await;
        assert_eq!(warn.code, 201, "{}", warn.body);
        assert_eq!(warn.warnings, JSON_FINDINGS, "{query}");
    }

    let ignore = send(
        &c,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Ignore"),
        json,
        &invalid_json("i"),
    )
    .await;
    assert_eq!(ignore.code, 201, "{}", ignore.body);
    assert!(ignore.warnings.is_empty(), "{:?}", ignore.warnings);
    // The last of repeated fields wins.
    assert_eq!(ignore.body["spec"]["paused"], false);
    assert_eq!(
        ignore.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Never"
    );

    let yaml = "application/yaml";
    let strict = send(
        &c,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Strict"),
        yaml,
        &invalid_yaml("ys"),
    )
    .await;
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
    let warn = send(
        &c,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Warn"),
        yaml,
        &invalid_yaml("yw"),
    )
    .await;
    assert_eq!(warn.code, 201, "{}", warn.body);
    assert_eq!(warn.warnings, YAML_FINDINGS);

    // An update reports the same.
    let put = send(
        &c,
        "PUT",
        &format!("{DEPLOYMENTS}/w?fieldValidation=Strict"),
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
        &format!("{DEPLOYMENTS}/w?fieldValidation=Ignore"),
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
    let created = send(
        &c,
        "POST",
        &format!("{DEPLOYMENTS}?fieldValidation=Ignore"),
        "application/json",
        &valid,
    )
    .await;
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
        let strict = send(
            &c,
            "PATCH",
            &format!("{DEPLOYMENTS}/p?fieldValidation=Strict"),
            ct,
            merge,
        )
        .await;
        assert_eq!(strict.code, 422, "{ct}: {}", strict.body);
        assert!(
            strict
                .message()
                .ends_with(&format!("strict decoding error: {}", expected.join(", "))),
            "{ct}: {}",
            strict.message()
        );
        let warn = send(
            &c,
            "PATCH",
            &format!("{DEPLOYMENTS}/p?fieldValidation=Warn"),
            ct,
            merge,
        )
        .await;
        assert_eq!(warn.code, 200, "{ct}: {}", warn.body);
        assert_eq!(warn.warnings, expected, "{ct}");
    }
    let ignore = send(
        &c,
        "PATCH",
        &format!("{DEPLOYMENTS}/p?fieldValidation=Ignore"),
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
