//! Every kube step against an in-process sandbox.

mod kube_support;

use std::time::Duration;

use meshbook_engine::model::{
    KubeAnnotate, KubeApply, KubeDelete, KubeExec, KubeGet, KubeKubeconfig, KubeLabel, KubePatch,
    KubeSecret, KubeWait, OutputSpec, PatchType, ValueType, YamlIn,
};
use meshbook_steps::kube::apply::{self, Change};
use meshbook_steps::kube::client::ClientError;
use meshbook_steps::kube::objects::Target;
use meshbook_steps::kube::{Clients, delete, exec, get, kubeconfig, meta, patch, secret, wait};
use serde_json::json;

use kube_support::{Env, WEB, WIDGETS, none, outputs};

fn manifest(text: &str) -> KubeApply {
    KubeApply {
        namespace: Some("default".into()),
        manifest: Some(text.into()),
        ..KubeApply::default()
    }
}

async fn object(env: &Env, resource: &str, ns: &str, name: &str) -> Option<serde_json::Value> {
    let cluster = env.clients.cluster(None).await.unwrap();
    let target = Target::new(&cluster, resource, Some(ns)).await.unwrap();
    target.get(name).await.unwrap()
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_apply_in_one_step() {
    let env = Env::start(&["c1"]).await;
    // Read discovery before the CRD exists, so the step must refresh it.
    let cluster = env.clients.cluster(None).await.unwrap();
    assert!(Target::new(&cluster, "widgets", None).await.is_err());

    let report = apply::apply(&env.clients, &manifest(WIDGETS), &env.env)
        .await
        .unwrap();
    let got: Vec<(&str, Change)> = report
        .iter()
        .map(|a| (a.object.as_str(), a.change))
        .collect();
    assert_eq!(
        got,
        [
            (
                "customresourcedefinition.apiextensions.k8s.io/widgets.example.com",
                Change::Created
            ),
            ("widget.example.com/w1", Change::Created),
        ]
    );
    let again = apply::apply(&env.clients, &manifest(WIDGETS), &env.env)
        .await
        .unwrap();
    assert!(!again.is_empty(), "the second apply reported nothing");
    assert!(
        again.iter().all(|a| a.change == Change::Unchanged),
        "{again:?}"
    );

    let changed = WIDGETS.replace("size: 3", "size: 4");
    let third = apply::apply(&env.clients, &manifest(&changed), &env.env)
        .await
        .unwrap();
    assert_eq!(third[1].change, Change::Configured);

    let size = get::run(
        &env.clients,
        &KubeGet {
            resource: "wdg".into(),
            name: Some("w1".into()),
            jsonpath: Some("{.spec.size}".into()),
            allow_missing_keys: true,
            ..KubeGet::default()
        },
        &outputs(&[("SIZE", ValueType::Int, None)]),
        &env.env,
    )
    .await
    .unwrap();
    assert_eq!(size["SIZE"], "4");
    assert!(
        env.lines()
            .iter()
            .any(|l| l
                .starts_with("widget.example.com/w1 created (in namespace default of context c1)")),
        "{:?}",
        env.lines()
    );
}

#[tokio::test]
async fn a_deployment_and_load_balancer_become_ready_and_give_their_ip() {
    let env = Env::start(&["c1"]).await;
    apply::run(&env.clients, &manifest(WEB), &none(), &env.env)
        .await
        .unwrap();
    wait::run(
        &env.clients,
        &KubeWait {
            resource: "deploy".into(),
            name: Some("web".into()),
            namespace: Some("default".into()),
            ..KubeWait::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    // The wait showed what it saw on the way.
    assert!(
        env.lines().iter().any(|l| l.starts_with(
            "waiting for deployment.apps/web in namespace default of context c1: web: InProgress"
        )),
        "{:?}",
        env.lines()
    );
    wait::run(
        &env.clients,
        &KubeWait {
            resource: "svc".into(),
            name: Some("web".into()),
            jsonpath: Some("{.status.loadBalancer.ingress[0].ip}".into()),
            ..KubeWait::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    let decl = outputs(&[("LB_IP", ValueType::Ip, None)]);
    let got = get::run(
        &env.clients,
        &KubeGet {
            resource: "services".into(),
            selector: Some("".into()),
            jsonpath: Some(
                "{.items[?(@.metadata.name==\"web\")].status.loadBalancer.ingress[0].ip}".into(),
            ),
            allow_missing_keys: true,
            ..KubeGet::default()
        },
        &decl,
        &env.env,
    )
    .await
    .unwrap();
    assert!(!got["LB_IP"].is_empty());
    ValueType::Ip.check(&got["LB_IP"]).expect("an IP address");

    // Pods by selector: at least two, all ready.
    wait::run(
        &env.clients,
        &KubeWait {
            resource: "pods".into(),
            selector: Some("app=web".into()),
            condition: Some("Ready".into()),
            min: Some(2),
            ..KubeWait::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_wait_tolerates_not_found_until_the_object_is_created() {
    let env = Env::start(&["c1"]).await;
    let spec = KubeWait {
        resource: "configmap".into(),
        name: Some("late".into()),
        jsonpath: Some("{.data.k}".into()),
        equals: Some("v".into()),
        timeout: Some(meshbook_engine::model::Duration(Duration::from_secs(20))),
        ..KubeWait::default()
    };
    let no_outputs = none();
    let waiting = wait::run(&env.clients, &spec, &no_outputs, &env.env);
    let creating = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {k: x}\n";
        apply::run(&env.clients, &manifest(cm), &none(), &env.env)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        apply::run(
            &env.clients,
            &manifest(&cm.replace("k: x", "k: v")),
            &none(),
            &env.env,
        )
        .await
        .unwrap();
    };
    let (waited, ()) = tokio::join!(waiting, creating);
    waited.unwrap();
    let lines = env.lines();
    let seen: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("waiting for"))
        .collect();
    assert!(seen[0].ends_with(": not found yet"), "{seen:?}");
    assert!(
        seen.iter().any(|l| l.ends_with("late: {.data.k} is \"x\"")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_last_saw() {
    let env = Env::start(&["c1"]).await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: x}\n";
    apply::run(&env.clients, &manifest(cm), &none(), &env.env)
        .await
        .unwrap();
    let err = wait::run(
        &env.clients,
        &KubeWait {
            resource: "cm".into(),
            name: Some("c".into()),
            condition: Some("Ready=True".into()),
            timeout: Some(meshbook_engine::model::Duration(Duration::from_millis(400))),
            ..KubeWait::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 400ms waiting for configmap/c in namespace default of context c1: c: no condition Ready yet"
    );
}

#[tokio::test]
async fn secrets_are_created_then_updated_without_showing_values() {
    let env = Env::start(&["c1"]).await;
    env.write("ca-key.pem", "PRIVATE-KEY-MATERIAL");
    let mut spec = KubeSecret {
        namespace: Some("istio-system".into()),
        name: "cacerts".into(),
        from_files: vec!["ca-key.pem".into()],
        literals: [("mode".to_string(), "hunter2".to_string())]
            .into_iter()
            .collect(),
        labels: [("app".to_string(), "istio".to_string())]
            .into_iter()
            .collect(),
        ..KubeSecret::default()
    };
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n";
    apply::run(&env.clients, &manifest(ns), &none(), &env.env)
        .await
        .unwrap();
    assert_eq!(
        secret::write(&env.clients, &spec, &env.env).await.unwrap(),
        Change::Created
    );
    assert_eq!(
        secret::write(&env.clients, &spec, &env.env).await.unwrap(),
        Change::Unchanged
    );
    spec.literals.insert("mode".into(), "other".into());
    assert_eq!(
        secret::write(&env.clients, &spec, &env.env).await.unwrap(),
        Change::Configured
    );
    let s = object(&env, "secret", "istio-system", "cacerts")
        .await
        .unwrap();
    assert_eq!(s["data"]["ca-key.pem"], "UFJJVkFURS1LRVktTUFURVJJQUw=");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["metadata"]["labels"]["app"], "istio");
    let all = env.lines().join("\n");
    assert!(all.contains("secret/cacerts created with 2 keys"), "{all}");
    assert!(
        !all.contains("hunter2") && !all.contains("PRIVATE"),
        "{all}"
    );
}

#[tokio::test]
async fn labels_and_annotations_are_set_refused_and_removed() {
    let env = Env::start(&["c1"]).await;
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {istio-injection: disabled}}\n";
    apply::run(&env.clients, &manifest(ns), &none(), &env.env)
        .await
        .unwrap();
    let mut spec = KubeLabel {
        resource: "namespace".into(),
        name: Some("demo".into()),
        labels: vec!["istio-injection=enabled".into()],
        ..KubeLabel::default()
    };
    let err = meta::label(&env.clients, &spec, &none(), &env.env)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespace/demo in context c1: 'istio-injection' already has a value (disabled), and overwrite is false"
    );
    spec.overwrite = true;
    meta::label(&env.clients, &spec, &none(), &env.env)
        .await
        .unwrap();
    let got = object(&env, "ns", "", "demo").await.unwrap();
    assert_eq!(got["metadata"]["labels"]["istio-injection"], "enabled");
    spec.labels = vec!["istio-injection-".into()];
    meta::label(&env.clients, &spec, &none(), &env.env)
        .await
        .unwrap();
    let got = object(&env, "ns", "", "demo").await.unwrap();
    assert!(
        got["metadata"]["labels"]["istio-injection"].is_null(),
        "{got}"
    );

    meta::annotate(
        &env.clients,
        &KubeAnnotate {
            resource: "ns".into(),
            selector: Some("kubernetes.io/metadata.name=demo".into()),
            annotations: vec!["owner=mesh-team".into()],
            ..KubeAnnotate::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    let got = object(&env, "ns", "", "demo").await.unwrap();
    assert_eq!(got["metadata"]["annotations"]["owner"], "mesh-team");
}

#[tokio::test]
async fn patches_merge_json_and_yaml_in_a_configmap_key() {
    let env = Env::start(&["c1"]).await;
    let cm = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: default}
data:
  mode: a
  meshNetworks: |-
    networks:
      network1:
        endpoints:
        - fromRegistry: Kubernetes
        gateways:
        - address: 0.0.0.0
          port: 443
"#;
    apply::run(&env.clients, &manifest(cm), &none(), &env.env)
        .await
        .unwrap();
    let base = KubePatch {
        resource: "configmap".into(),
        name: "istio".into(),
        ..KubePatch::default()
    };
    patch::run(
        &env.clients,
        &KubePatch {
            patch: Some(json!({"data": {"mode": "b"}})),
            ..base.clone()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    patch::run(
        &env.clients,
        &KubePatch {
            patch_type: PatchType::Json,
            patch: Some(json!([{"op": "add", "path": "/data/extra", "value": "1"}])),
            ..base.clone()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    patch::run(
        &env.clients,
        &KubePatch {
            yaml_in: Some(YamlIn {
                key: "meshNetworks".into(),
                set: [(
                    "networks.network1.gateways.0.address".to_string(),
                    json!("172.18.0.10"),
                )]
                .into_iter()
                .collect(),
            }),
            ..base.clone()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    let got = object(&env, "cm", "default", "istio").await.unwrap();
    assert_eq!(got["data"]["mode"], "b");
    assert_eq!(got["data"]["extra"], "1");
    let nets: serde_json::Value =
        serde_yaml::from_str(got["data"]["meshNetworks"].as_str().unwrap()).unwrap();
    assert_eq!(
        nets["networks"]["network1"]["gateways"][0]["address"],
        "172.18.0.10"
    );
    assert_eq!(nets["networks"]["network1"]["gateways"][0]["port"], 443);

    let err = patch::run(
        &env.clients,
        &KubePatch {
            name: "absent".into(),
            patch: Some(json!({"data": {}})),
            ..base
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmap/absent in namespace default of context c1 not found"
    );
}

#[tokio::test]
async fn deletes_wait_until_objects_are_gone() {
    let env = Env::start(&["c1"]).await;
    let cms = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {t: x}}\n---\n\
               apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, labels: {t: x}}\n---\n\
               apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n";
    apply::run(&env.clients, &manifest(cms), &none(), &env.env)
        .await
        .unwrap();
    let spec = KubeDelete {
        context: None,
        namespace: None,
        resource: "cm".into(),
        name: None,
        selector: Some("t=x".into()),
        wait: true,
        ignore_not_found: true,
    };
    delete::run(&env.clients, &spec, &none(), &env.env)
        .await
        .unwrap();
    assert!(object(&env, "cm", "default", "a").await.is_none());
    assert!(object(&env, "cm", "default", "b").await.is_none());
    assert!(object(&env, "cm", "default", "keep").await.is_some());
    let by_name = KubeDelete {
        name: Some("a".into()),
        selector: None,
        ignore_not_found: false,
        ..spec
    };
    let err = delete::run(&env.clients, &by_name, &none(), &env.env)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmap/a in namespace default of context c1 not found"
    );
}

#[tokio::test]
async fn exec_runs_in_a_selected_pod_repeats_and_checks_output() {
    let env = Env::start(&["c1"]).await;
    apply::run(&env.clients, &manifest(WEB), &none(), &env.env)
        .await
        .unwrap();
    wait::run(
        &env.clients,
        &KubeWait {
            resource: "deployment".into(),
            name: Some("web".into()),
            ..KubeWait::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    let spec = KubeExec {
        context: None,
        namespace: None,
        pod: None,
        selector: Some("app=web".into()),
        container: Some("web".into()),
        command: vec!["sh".into(), "-c".into(), "echo hello from $POD_NAME".into()],
        repeat: 3,
        contains: vec!["hello from web-".into()],
    };
    let out = exec::run(
        &env.clients,
        &spec,
        &outputs(&[("OUT", ValueType::String, None)]),
        &env.env,
    )
    .await
    .unwrap();
    assert_eq!(out["OUT"].lines().count(), 3, "{out:?}");
    assert!(out["OUT"].starts_with("hello from web-"), "{out:?}");

    let failing = KubeExec {
        command: vec!["sh".into(), "-c".into(), "exit 3".into()],
        repeat: 1,
        contains: vec![],
        ..spec.clone()
    };
    let err = exec::run(&env.clients, &failing, &none(), &env.env)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("command \"sh\" failed in pod/web-"),
        "{err}"
    );
    assert!(err.contains("exit status 3"), "{err}");

    let missing = KubeExec {
        contains: vec!["goodbye".into()],
        repeat: 1,
        ..spec
    };
    let err = exec::run(&env.clients, &missing, &none(), &env.env)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("does not contain \"goodbye\""), "{err}");
}

#[tokio::test]
async fn a_service_account_kubeconfig_reaches_the_cluster() {
    // The step reads the account's token Secret, which Kubernetes made by itself before 1.24.
    let env = Env::with_config(meshbook_sandbox::SandboxConfig {
        kube_version: meshbook_sandbox::KubeVersion::new(23),
        ..kube_support::config(&["c1"])
    })
    .await;
    let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader, namespace: default}\n";
    apply::run(&env.clients, &manifest(sa), &none(), &env.env)
        .await
        .unwrap();
    let spec = KubeKubeconfig {
        namespace: Some("default".into()),
        service_account: "reader".into(),
        cluster_name: "n2-k8s-config".into(),
        file: Some("n2.kubeconfig".into()),
        ..KubeKubeconfig::default()
    };
    let plain = outputs(&[("CFG", ValueType::String, None)]);
    let err = kubeconfig::run(&env.clients, &spec, &plain, &env.env)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "output `CFG` holds a service-account token: declare it with `secret: true`"
    );

    let mut secret = plain.clone();
    secret["CFG"] = OutputSpec {
        secret: true,
        ..OutputSpec::default()
    };
    let out = kubeconfig::run(&env.clients, &spec, &secret, &env.env)
        .await
        .unwrap();
    let path = env.dir.path().join("n2.kubeconfig");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), out["CFG"]);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let theirs = Clients::from_path(&path).unwrap();
    let cluster = theirs.cluster(Some("n2-k8s-config")).await.unwrap();
    let ours = env.clients.cluster(None).await.unwrap();
    assert_eq!(
        cluster.identity().await.unwrap(),
        ours.identity().await.unwrap()
    );
    assert!(!env.lines().join("\n").contains("token:"));
}

#[tokio::test]
async fn each_context_is_its_own_cluster_and_a_changed_cluster_is_refused() {
    let env = Env::start(&["c1", "c2"]).await;
    let one = env.clients.cluster(Some("c1")).await.unwrap();
    let two = env.clients.cluster(Some("c2")).await.unwrap();
    let (id1, id2) = (
        one.identity().await.unwrap().to_string(),
        two.identity().await.unwrap().to_string(),
    );
    assert!(!id1.is_empty() && id1 != id2);
    assert_eq!(
        env.clients
            .identities()
            .await
            .into_iter()
            .collect::<Vec<_>>(),
        [
            ("c1".to_string(), id1.clone()),
            ("c2".to_string(), id2.clone())
        ]
    );

    let kubeconfig = env.dir.path().join("kubeconfig");
    let resumed = Clients::from_path(&kubeconfig).unwrap();
    resumed.expect_identities([("c1".to_string(), id2.clone())].into_iter().collect());
    let err = resumed.cluster(Some("c1")).await.unwrap_err();
    assert!(matches!(err, ClientError::ClusterChanged { .. }), "{err}");
    assert!(resumed.cluster(Some("c2")).await.is_ok());
    let err = resumed.cluster(Some("nope")).await.unwrap_err().to_string();
    assert!(
        err.starts_with("context \"nope\" is not in the kubeconfig"),
        "{err}"
    );
}

#[tokio::test]
async fn waits_fail_early_when_pods_crash() {
    let env = Env::start(&["c1"]).await;
    apply::run(&env.clients, &manifest(WEB), &none(), &env.env)
        .await
        .unwrap();
    let mut pods_ready = KubeWait {
        resource: "pods".into(),
        selector: Some("app=web".into()),
        min: Some(2),
        ..KubeWait::default()
    };
    wait::run(&env.clients, &pods_ready, &none(), &env.env)
        .await
        .unwrap();
    // One pod starts crash-looping, as a kubelet would report it.
    let cluster = env.clients.cluster(None).await.unwrap();
    let pods = Target::new(&cluster, "pods", None).await.unwrap();
    let (items, _) = pods
        .list(&meshbook_steps::kube::objects::Selection::Selector {
            labels: "app=web".into(),
            fields: String::new(),
        })
        .await
        .unwrap();
    let victim = items[0]["metadata"]["name"].as_str().unwrap().to_string();
    let crash = json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": "web", "ready": false, "restartCount": 5, "image": "nginx:1.27", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
    pods.api()
        .patch_status(
            &victim,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&crash),
        )
        .await
        .unwrap();
    pods_ready.timeout = Some(meshbook_engine::model::Duration(Duration::from_secs(20)));
    let err = wait::run(&env.clients, &pods_ready, &none(), &env.env)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&format!(
            "failed: {victim}: Containers in CrashLoop state: web"
        )),
        "{err}"
    );

    // The Deployment notices one pod less ready, and its wait fails because of that pod.
    let one_ready = KubeWait {
        resource: "deploy".into(),
        name: Some("web".into()),
        jsonpath: Some("{.status.readyReplicas}".into()),
        equals: Some("1".into()),
        ..KubeWait::default()
    };
    wait::run(&env.clients, &one_ready, &none(), &env.env)
        .await
        .unwrap();
    let deploy = KubeWait {
        resource: "deploy".into(),
        name: Some("web".into()),
        timeout: Some(meshbook_engine::model::Duration(Duration::from_secs(20))),
        ..KubeWait::default()
    };
    let err = wait::run(&env.clients, &deploy, &none(), &env.env)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "deployment.apps/web in namespace default of context c1 failed: 1 pods have failed ({victim}: Containers in CrashLoop state: web)"
        )
    );
}

#[tokio::test]
async fn a_server_dry_run_changes_nothing_and_secret_exec_output_stays_out_of_logs() {
    let env = Env::start(&["c1"]).await;
    let mut dry = env.env.clone();
    dry.dry_run = true;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {k: v}\n";
    let report = apply::apply(&env.clients, &manifest(cm), &dry)
        .await
        .unwrap();
    assert_eq!(report[0].change, Change::Created);
    assert!(object(&env, "cm", "default", "dry").await.is_none());
    assert!(
        env.lines()
            .iter()
            .any(|l| l
                == "configmap/dry created (server dry run) (in namespace default of context c1)"),
        "{:?}",
        env.lines()
    );

    // A dry run creates neither namespaces nor CRDs: what depends on them is reported, not refused.
    let fresh = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: fresh}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: fresh}}\n---\n{WIDGETS}"
    );
    let report = apply::apply(&env.clients, &manifest(&fresh), &dry)
        .await
        .unwrap();
    let names: Vec<&str> = report.iter().map(|a| a.object.as_str()).collect();
    assert_eq!(
        names,
        [
            "namespace/fresh",
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com"
        ]
    );
    assert!(object(&env, "ns", "", "fresh").await.is_none());
    let lines = env.lines();
    assert!(
        lines.contains(
            &"configmap/c not checked (server dry run): namespace fresh is created by this step"
                .to_string()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"Widget w1 not checked (server dry run): its CRD is applied by this step".to_string()
        ),
        "{lines:?}"
    );

    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: box}\nspec: {containers: [{name: c, image: busybox}]}\n";
    apply::run(&env.clients, &manifest(pod), &none(), &env.env)
        .await
        .unwrap();
    wait::run(
        &env.clients,
        &KubeWait {
            resource: "po".into(),
            name: Some("box".into()),
            ..KubeWait::default()
        },
        &none(),
        &env.env,
    )
    .await
    .unwrap();
    let mut decl = outputs(&[("TOKEN", ValueType::String, None)]);
    decl["TOKEN"].secret = true;
    let spec = KubeExec {
        context: None,
        namespace: None,
        pod: Some("box".into()),
        selector: None,
        container: None,
        command: vec!["echo".into(), "s3cr3t-value".into()],
        repeat: 1,
        contains: vec![],
    };
    let out = exec::run(&env.clients, &spec, &decl, &env.env)
        .await
        .unwrap();
    assert_eq!(out["TOKEN"], "s3cr3t-value");
    assert!(
        !env.lines().join("\n").contains("s3cr3t"),
        "{:?}",
        env.lines()
    );
}

#[tokio::test]
async fn a_wait_ends_when_the_watched_value_changes() {
    let env = Env::start(&["c1"]).await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flag}\ndata: {state: off}\n";
    apply::run(&env.clients, &manifest(cm), &none(), &env.env)
        .await
        .unwrap();
    let spec = KubeWait {
        resource: "cm".into(),
        name: Some("flag".into()),
        jsonpath: Some("{.data.state}".into()),
        equals: Some("on".into()),
        ..KubeWait::default()
    };
    let no_outputs = none();
    let waiting = async {
        wait::run(&env.clients, &spec, &no_outputs, &env.env)
            .await
            .unwrap();
        std::time::Instant::now()
    };
    let flipping = async {
        // Long enough for the wait to be watching.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cluster = env.clients.cluster(None).await.unwrap();
        let cms = Target::new(&cluster, "cm", None).await.unwrap();
        // Taken before the patch is sent: the watch event may reach the wait before the
        // patch's own answer reaches this task.
        let flipping_at = std::time::Instant::now();
        cms.merge_patch("flag", &json!({"data": {"state": "on"}}))
            .await
            .unwrap();
        flipping_at
    };
    let (done, flipped) = tokio::join!(waiting, flipping);
    // How fast it reacts is measured by `cargo bench -p meshbook-steps --bench wait_reaction`.
    assert!(done >= flipped, "the wait ended before the value changed");
}

#[tokio::test]
async fn a_get_by_selector_that_matches_nothing_gives_empty_values() {
    let env = Env::start(&["c1"]).await;
    let spec = KubeGet {
        resource: "svc".into(),
        selector: Some("app=istio-ingressgateway".into()),
        jsonpath: Some("{.items[0].status.loadBalancer.ingress[0].ip}".into()),
        allow_missing_keys: true,
        ..KubeGet::default()
    };
    let decl = outputs(&[("GW", ValueType::Ip, None)]);
    let got = get::run(&env.clients, &spec, &decl, &env.env)
        .await
        .unwrap();
    assert_eq!(got["GW"], "");
    assert_eq!(
        env.lines(),
        [
            "no service objects with labels app=istio-ingressgateway in namespace default of context c1 yet: outputs are empty"
        ]
    );
}
