//! The real kubectl against the sandbox's OpenAPI schemas: `explain`, server-side field
//! validation (strict, warn, ignore) and custom resources described by their CRD.

mod common;

use common::Env;

const BAD_DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  replicaz: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: main, image: example.invalid/web:1, imagePolicy: Always}
"#;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size: {type: integer, description: How many sprockets the widget has.}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn explain_reads_the_schemas_of_built_in_kinds() {
    let env = Env::start(&["c1"]).await;
    let out = env
        .kubectl("c1", &["explain", "deployment.spec.replicas"])
        .await
        .ok();
    assert!(out.stdout.contains("FIELD: replicas <integer>"), "{out:?}");
    assert!(out.stdout.contains("Number of desired pods"), "{out:?}");
    let out = env
        .kubectl("c1", &["explain", "pods.spec.containers"])
        .await
        .ok();
    assert!(out.stdout.contains("imagePullPolicy"), "{out:?}");
    // The Swagger 2.0 document serves the same definitions (kubectl reads its protobuf form).
    let out = env
        .kubectl(
            "c1",
            &[
                "explain",
                "service.spec.type",
                "--output=plaintext-openapiv2",
            ],
        )
        .await
        .ok();
    assert!(out.stdout.contains("FIELD:    type <string>"), "{out:?}");
    let missing = env
        .kubectl("c1", &["explain", "deployment.spec.nope"])
        .await;
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("field \"nope\" does not exist"),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_fail_strict_warn_otherwise_and_are_dropped() {
    let env = Env::start(&["c1"]).await;
    let file = env.write("bad.yaml", BAD_DEPLOY);
    let path = file.to_str().unwrap();
    let strict = env.kubectl("c1", &["apply", "-f", path]).await;
    assert_eq!(strict.code, 1, "{strict:?}");
    assert!(
        strict.stderr.contains(
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replicaz\", unknown field \"spec.template.spec.containers[0].imagePolicy\""
        ),
        "{strict:?}"
    );
    let warn = env
        .kubectl("c1", &["apply", "--validate=warn", "-f", path])
        .await
        .ok();
    assert!(
        warn.stderr
            .contains("Warning: unknown field \"spec.replicaz\""),
        "{warn:?}"
    );
    assert!(
        warn.stdout.contains("deployment.apps/web created"),
        "{warn:?}"
    );
    // Dropped from the object (the last-applied annotation keeps what was sent, as on a real
    // server).
    let stored = env
        .kubectl("c1", &["get", "deploy", "web", "-o", "jsonpath={.spec}"])
        .await
        .ok();
    assert!(stored.stdout.contains("\"replicas\":1"), "{stored:?}");
    assert!(!stored.stdout.contains("replicaz"), "{stored:?}");
    assert!(!stored.stdout.contains("imagePolicy"), "{stored:?}");
    // Server-side apply converts to the typed schema, which has no place for the field.
    let ssa = env
        .kubectl("c1", &["apply", "--server-side", "-f", path])
        .await;
    assert_eq!(ssa.code, 1, "{ssa:?}");
    assert!(
        ssa.stderr
            .contains(".spec.replicaz: field not declared in schema"),
        "{ssa:?}"
    );
    // `kubectl patch` sends no fieldValidation: the server's default warns.
    let patch = env
        .kubectl(
            "c1",
            &[
                "patch",
                "deploy",
                "web",
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"paused":true,"bogus":1}}"#,
            ],
        )
        .await
        .ok();
    assert!(
        patch
            .stderr
            .contains("Warning: unknown field \"spec.bogus\""),
        "{patch:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_resources_are_explained_and_pruned_by_their_crd_schema() {
    let env = Env::start(&["c1"]).await;
    let crd = env.write("crd.yaml", CRD);
    env.kubectl("c1", &["apply", "-f", crd.to_str().unwrap()])
        .await
        .ok();
    let out = env
        .kubectl("c1", &["explain", "widgets.spec.size"])
        .await
        .ok();
    assert!(out.stdout.contains("FIELD: size <integer>"), "{out:?}");
    assert!(out.stdout.contains("How many sprockets"), "{out:?}");
    let cr = env.write(
        "cr.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3, colour: red, extra: {any: thing}}\n",
    );
    let strict = env
        .kubectl("c1", &["apply", "-f", cr.to_str().unwrap()])
        .await;
    assert_eq!(strict.code, 1, "{strict:?}");
    assert!(
        strict.stderr.contains("unknown field \"spec.colour\""),
        "{strict:?}"
    );
    env.kubectl(
        "c1",
        &["apply", "--validate=false", "-f", cr.to_str().unwrap()],
    )
    .await
    .ok();
    let stored = env
        .kubectl("c1", &["get", "widget", "w1", "-o", "jsonpath={.spec}"])
        .await
        .ok();
    assert_eq!(stored.stdout, r#"{"extra":{"any":"thing"},"size":3}"#);
}
