//! Every kube step against an in-process sandbox, through the kube executor as a run drives it.

mod support;

use std::time::Duration;

use meshbook_engine::run::executor::{Executor, Permanence, StepFailure};
use meshbook_steps::kube::{Clients, KubeExecutor, server_dry_run};
use serde_json::json;

use support::{Env, WEB, WIDGETS, indent};

/// The objects a step reported, with what happened to each (`created`, `configured`, ...).
fn changes(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let mut words = l.split(' ');
            let (object, change) = (words.next()?, words.next()?);
            ["created", "configured", "unchanged"]
                .contains(&change)
                .then(|| (object.to_string(), change.to_string()))
        })
        .collect()
}

fn message(failure: &StepFailure) -> String {
    failure.to_string()
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_apply_in_one_step() {
    let env = Env::start(&["c1"]).await;
    // Read discovery before the CRD exists, so the step must refresh it.
    let size = "kube.get: {resource: wdg, name: w1, jsonpath: '{.spec.size}'}\noutputs: {SIZE: {type: int}}";
    let unknown = env.run(size).await.unwrap_err();
    assert!(
        message(&unknown).contains("doesn't have a resource type \"wdg\""),
        "{unknown}"
    );
    assert_eq!(unknown.permanence(), Permanence::Permanent);

    env.apply(WIDGETS).await.unwrap();
    assert_eq!(
        changes(&env.lines()),
        [
            (
                "customresourcedefinition.apiextensions.k8s.io/widgets.example.com".to_string(),
                "created".to_string()
            ),
            ("widget.example.com/w1".to_string(), "created".to_string()),
        ]
    );
    assert!(
        env.lines()
            .iter()
            .any(|l| l
                .starts_with("widget.example.com/w1 created (in namespace default of context c1)")),
        "{:?}",
        env.lines()
    );
    env.clear_lines();
    env.apply(WIDGETS).await.unwrap();
    let again = changes(&env.lines());
    assert!(!again.is_empty(), "the second apply reported nothing");
    assert!(again.iter().all(|(_, c)| c == "unchanged"), "{again:?}");

    env.clear_lines();
    env.apply(&WIDGETS.replace("size: 3", "size: 4"))
        .await
        .unwrap();
    assert_eq!(changes(&env.lines())[1].1, "configured");

    let got = env.run(size).await.unwrap();
    assert_eq!(got["SIZE"], "4");
}

#[tokio::test]
async fn a_deployment_and_load_balancer_become_ready_and_give_their_ip() {
    let env = Env::start(&["c1"]).await;
    env.apply(WEB).await.unwrap();
    env.run("kube.wait: {resource: deploy, name: web, namespace: default}")
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
    env.run(
        "kube.wait: {resource: svc, name: web, jsonpath: '{.status.loadBalancer.ingress[0].ip}'}",
    )
    .await
    .unwrap();
    let got = env
        .run(
            r#"
kube.get:
  resource: services
  selector: ""
  jsonpath: '{.items[?(@.metadata.name=="web")].status.loadBalancer.ingress[0].ip}'
outputs: {LB_IP: {type: ip}}
"#,
        )
        .await
        .unwrap();
    assert!(!got["LB_IP"].is_empty());
    meshbook_engine::model::ValueType::Ip
        .admits(&got["LB_IP"])
        .expect("an IP address");

    // Pods by selector: at least two, all ready.
    env.run("kube.wait: {resource: pods, selector: app=web, condition: Ready, min: 2}")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wait_tolerates_not_found_until_the_object_is_created() {
    let env = Env::start(&["c1"]).await;
    let waiting = env.run(
        "kube.wait: {resource: configmap, name: late, jsonpath: '{.data.k}', equals: v, timeout: 20s}",
    );
    let creating = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {k: x}\n";
        env.apply(cm).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        env.apply(&cm.replace("k: x", "k: v")).await.unwrap();
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
    env.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: x}\n")
        .await
        .unwrap();
    let err = env
        .run("kube.wait: {resource: cm, name: c, condition: Ready=True, timeout: 400ms}")
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "timed out after 400ms waiting for configmap/c in namespace default of context c1: c: no condition Ready yet"
    );
    assert_eq!(err.permanence(), Permanence::Transient);
}

#[tokio::test]
async fn secrets_are_created_then_updated_without_showing_values() {
    let env = Env::start(&["c1"]).await;
    env.write("ca-key.pem", "PRIVATE-KEY-MATERIAL");
    env.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n")
        .await
        .unwrap();
    let secret = |mode: &str| {
        format!(
            "kube.secret:\n  namespace: istio-system\n  name: cacerts\n  from_files: [ca-key.pem]\n  literals: {{mode: {mode}}}\n  labels: {{app: istio}}\n"
        )
    };
    let said = |env: &Env| env.lines().last().cloned().unwrap_or_default();
    env.run(&secret("hunter2")).await.unwrap();
    assert!(
        said(&env).starts_with("secret/cacerts created with 2 keys"),
        "{}",
        said(&env)
    );
    env.run(&secret("hunter2")).await.unwrap();
    assert!(
        said(&env).starts_with("secret/cacerts unchanged"),
        "{}",
        said(&env)
    );
    env.run(&secret("other")).await.unwrap();
    assert!(
        said(&env).starts_with("secret/cacerts configured"),
        "{}",
        said(&env)
    );
    let s = env
        .object("/api/v1/namespaces/istio-system/secrets/cacerts")
        .await
        .unwrap();
    assert_eq!(s["data"]["ca-key.pem"], "UFJJVkFURS1LRVktTUFURVJJQUw=");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["metadata"]["labels"]["app"], "istio");
    let all = env.lines().join("\n");
    assert!(
        !all.contains("hunter2") && !all.contains("PRIVATE"),
        "{all}"
    );
}

#[tokio::test]
async fn labels_and_annotations_are_set_refused_and_removed() {
    let env = Env::start(&["c1"]).await;
    env.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {istio-injection: disabled}}\n")
        .await
        .unwrap();
    let err = env
        .run("kube.label: {resource: namespace, name: demo, labels: [istio-injection=enabled]}")
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "namespace/demo in context c1: 'istio-injection' already has a value (disabled), and overwrite is false"
    );
    assert_eq!(err.permanence(), Permanence::Permanent);
    env.run("kube.label: {resource: namespace, name: demo, labels: [istio-injection=enabled], overwrite: true}")
        .await
        .unwrap();
    let got = env.object("/api/v1/namespaces/demo").await.unwrap();
    assert_eq!(got["metadata"]["labels"]["istio-injection"], "enabled");
    env.run("kube.label: {resource: namespace, name: demo, labels: [istio-injection-]}")
        .await
        .unwrap();
    let got = env.object("/api/v1/namespaces/demo").await.unwrap();
    assert!(
        got["metadata"]["labels"]["istio-injection"].is_null(),
        "{got}"
    );

    env.run("kube.annotate: {resource: ns, selector: kubernetes.io/metadata.name=demo, annotations: [owner=mesh-team]}")
        .await
        .unwrap();
    let got = env.object("/api/v1/namespaces/demo").await.unwrap();
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
    env.apply(cm).await.unwrap();
    env.run("kube.patch: {resource: configmap, name: istio, patch: {data: {mode: b}}}")
        .await
        .unwrap();
    env.run(r#"kube.patch: {resource: configmap, name: istio, type: json, patch: [{op: add, path: /data/extra, value: "1"}]}"#)
        .await
        .unwrap();
    env.run(
        r#"
kube.patch:
  resource: configmap
  name: istio
  yaml_in:
    key: meshNetworks
    set: {networks.network1.gateways.0.address: 172.18.0.10}
"#,
    )
    .await
    .unwrap();
    let got = env
        .object("/api/v1/namespaces/default/configmaps/istio")
        .await
        .unwrap();
    assert_eq!(got["data"]["mode"], "b");
    assert_eq!(got["data"]["extra"], "1");
    let nets: serde_json::Value =
        serde_yaml::from_str(got["data"]["meshNetworks"].as_str().unwrap()).unwrap();
    assert_eq!(
        nets["networks"]["network1"]["gateways"][0]["address"],
        "172.18.0.10"
    );
    assert_eq!(nets["networks"]["network1"]["gateways"][0]["port"], 443);

    let err = env
        .run("kube.patch: {resource: configmap, name: absent, patch: {data: {}}}")
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "configmap/absent in namespace default of context c1 not found"
    );
}

#[tokio::test]
async fn deletes_wait_until_objects_are_gone() {
    let env = Env::start(&["c1"]).await;
    let cms = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {t: x}}\n---\n\
               apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, labels: {t: x}}\n---\n\
               apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\n";
    env.apply(cms).await.unwrap();
    env.run("kube.delete: {resource: cm, selector: t=x}")
        .await
        .unwrap();
    let cm = |name: &str| format!("/api/v1/namespaces/default/configmaps/{name}");
    assert!(env.object(&cm("a")).await.is_none());
    assert!(env.object(&cm("b")).await.is_none());
    assert!(env.object(&cm("keep")).await.is_some());
    let err = env
        .run("kube.delete: {resource: cm, name: a, ignore_not_found: false}")
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "configmap/a in namespace default of context c1 not found"
    );
}

#[tokio::test]
async fn exec_runs_in_a_selected_pod_repeats_and_checks_output() {
    let env = Env::start(&["c1"]).await;
    env.apply(WEB).await.unwrap();
    env.run("kube.wait: {resource: deployment, name: web}")
        .await
        .unwrap();
    let exec = |command: &str, repeat: u32, contains: &str| {
        format!(
            "kube.exec: {{selector: app=web, container: web, command: {command}, repeat: {repeat}, contains: {contains}}}\noutputs: {{OUT: {{}}}}"
        )
    };
    let out = env
        .run(&exec(
            r#"[sh, -c, "echo hello from $POD_NAME"]"#,
            3,
            r#"["hello from web-"]"#,
        ))
        .await
        .unwrap();
    assert_eq!(out["OUT"].lines().count(), 3, "{out:?}");
    assert!(out["OUT"].starts_with("hello from web-"), "{out:?}");

    let err = message(
        &env.run(&exec("[sh, -c, exit 3]", 1, "[]"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.starts_with("command \"sh\" failed in pod/web-"),
        "{err}"
    );
    assert!(err.contains("exit status 3"), "{err}");

    let err = message(
        &env.run(&exec(
            r#"[sh, -c, "echo hello from $POD_NAME"]"#,
            1,
            "[goodbye]",
        ))
        .await
        .unwrap_err(),
    );
    assert!(err.ends_with("does not contain \"goodbye\""), "{err}");
}

#[tokio::test]
async fn a_service_account_kubeconfig_reaches_the_cluster() {
    // The step reads the account's token Secret, which Kubernetes made by itself before 1.24.
    let env = Env::with_config(meshbook_sandbox::SandboxConfig {
        kube_version: meshbook_sandbox::KubeVersion::new(23),
        ..support::config(&["c1"])
    })
    .await;
    // The account may read what it is bound to read, as on a real cluster (the sandbox enforces
    // RBAC): `view` everywhere, which lets it read namespaces, kube-system's uid among them, by
    // which a client knows which cluster a context reaches.
    env.apply(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader, namespace: default}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: reader-view}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: reader, namespace: default}]\n",
    )
    .await
    .unwrap();
    let step = |secret: bool| {
        format!(
            "kube.kubeconfig: {{namespace: default, service_account: reader, cluster_name: n2-k8s-config, file: n2.kubeconfig}}\noutputs: {{CFG: {{secret: {secret}}}}}"
        )
    };
    let refused = support::invalid(&step(false));
    assert!(
        refused
            .contains("output `CFG` holds a service-account token: declare it with `secret: true`"),
        "{refused}"
    );

    let out = env.run(&step(true)).await.unwrap();
    let path = env.dir.path().join("n2.kubeconfig");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), out["CFG"]);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The kubeconfig reaches the same cluster: the same identity through its own context.
    let theirs = std::sync::Arc::new(Clients::deferred(Some(&path)));
    let mut request =
        env.request("kube.get: {context: n2-k8s-config, resource: ns, name: default, jsonpath: '{.metadata.name}'}\noutputs: {N: {}}");
    request.log = request.log.unechoed();
    KubeExecutor::new(theirs.clone())
        .execute(request)
        .await
        .unwrap();
    let ours = env.clients.identities().await;
    assert_eq!(
        theirs.identities().await.get("n2-k8s-config"),
        ours.get("c1")
    );
    assert!(!env.lines().join("\n").contains("token:"));
}

#[tokio::test]
async fn each_context_is_its_own_cluster_and_a_changed_cluster_is_refused() {
    let env = Env::start(&["c1", "c2"]).await;
    let namespaces = |ctx: &str| {
        format!(
            "kube.get: {{context: {ctx}, resource: ns, name: default, jsonpath: '{{.metadata.uid}}'}}\noutputs: {{UID: {{}}}}"
        )
    };
    env.run(&namespaces("c1")).await.unwrap();
    env.run(&namespaces("c2")).await.unwrap();
    let ids: Vec<(String, String)> = env.clients.identities().await.into_iter().collect();
    assert_eq!(
        ids.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    let (id1, id2) = (ids[0].1.clone(), ids[1].1.clone());
    assert!(!id1.is_empty() && id1 != id2);

    let resumed = std::sync::Arc::new(Clients::deferred(Some(&env.kubeconfig())));
    resumed.expect_identities([("c1".to_string(), id2.clone())].into_iter().collect());
    let executor = KubeExecutor::new(resumed);
    let err = executor
        .execute(env.request(&namespaces("c1")))
        .await
        .unwrap_err();
    assert!(
        message(&err).contains("now points at a different cluster"),
        "{err}"
    );
    assert_eq!(err.permanence(), Permanence::Permanent);
    assert!(
        executor
            .execute(env.request(&namespaces("c2")))
            .await
            .is_ok()
    );
    let err = executor
        .execute(env.request(&namespaces("nope")))
        .await
        .unwrap_err();
    assert!(
        message(&err).starts_with("context \"nope\" is not in the kubeconfig"),
        "{err}"
    );
}

#[tokio::test]
async fn waits_fail_early_when_pods_crash() {
    let env = Env::start(&["c1"]).await;
    env.apply(WEB).await.unwrap();
    let pods_ready = "kube.wait: {resource: pods, selector: app=web, min: 2, timeout: 20s}";
    env.run(pods_ready).await.unwrap();
    // One pod starts crash-looping, as a kubelet would report it.
    let pods = env
        .object("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        .await
        .unwrap();
    let victim = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let crash = json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": "web", "ready": false, "restartCount": 5, "image": "nginx:1.27", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
    env.merge_patch(
        &format!("/api/v1/namespaces/default/pods/{victim}/status"),
        &crash,
    )
    .await;
    let err = message(&env.run(pods_ready).await.unwrap_err());
    assert!(
        err.ends_with(&format!(
            "failed: {victim}: Containers in CrashLoop state: web"
        )),
        "{err}"
    );

    // The Deployment notices one pod less ready, and its wait fails because of that pod.
    env.run("kube.wait: {resource: deploy, name: web, jsonpath: '{.status.readyReplicas}', equals: '1'}")
        .await
        .unwrap();
    let err = message(
        &env.run("kube.wait: {resource: deploy, name: web, timeout: 20s}")
            .await
            .unwrap_err(),
    );
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
    let dry = |manifest: &str| {
        let step = format!(
            "kube.apply:\n  namespace: default\n  manifest: |\n{}",
            indent(manifest, 4)
        );
        let request = env.request(&step);
        let clients = env.clients.clone();
        let dir = env.dir.path().to_path_buf();
        async move { server_dry_run(&clients, &request.action, &dir).await }
    };
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {k: v}\n";
    let (lines, result) = dry(cm).await;
    result.unwrap();
    assert_eq!(
        changes(&lines),
        [("configmap/dry".to_string(), "created".to_string())]
    );
    assert!(
        env.object("/api/v1/namespaces/default/configmaps/dry")
            .await
            .is_none()
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                == "configmap/dry created (server dry run) (in namespace default of context c1)"),
        "{lines:?}"
    );

    // A dry run creates neither namespaces nor CRDs: what depends on them is reported, not refused.
    let fresh = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: fresh}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: fresh}}\n---\n{WIDGETS}"
    );
    let (lines, result) = dry(&fresh).await;
    result.unwrap();
    let names: Vec<String> = changes(&lines).into_iter().map(|(o, _)| o).collect();
    assert_eq!(
        names,
        [
            "namespace/fresh",
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com"
        ]
    );
    assert!(env.object("/api/v1/namespaces/fresh").await.is_none());
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

    env.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: box}\nspec: {containers: [{name: c, image: busybox}]}\n")
        .await
        .unwrap();
    env.run("kube.wait: {resource: po, name: box}")
        .await
        .unwrap();
    let out = env
        .run("kube.exec: {pod: box, command: [echo, s3cr3t-value]}\noutputs: {TOKEN: {secret: true}}")
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
    env.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flag}\ndata: {state: off}\n")
        .await
        .unwrap();
    let waiting = async {
        env.run("kube.wait: {resource: cm, name: flag, jsonpath: '{.data.state}', equals: on}")
            .await
            .unwrap();
        std::time::Instant::now()
    };
    let flipping = async {
        // Long enough for the wait to be watching.
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Taken before the patch is sent: the watch event may reach the wait before the
        // patch's own answer reaches this task.
        let sent = std::time::Instant::now();
        env.merge_patch(
            "/api/v1/namespaces/default/configmaps/flag",
            &json!({"data": {"state": "on"}}),
        )
        .await;
        sent
    };
    let (done, flipped) = tokio::join!(waiting, flipping);
    // How fast it reacts is measured by `cargo bench -p meshbook-steps --bench wait_reaction`.
    assert!(done >= flipped, "the wait ended before the value changed");
}

#[tokio::test]
async fn a_get_by_selector_that_matches_nothing_gives_empty_values() {
    let env = Env::start(&["c1"]).await;
    let got = env
        .run("kube.get: {resource: svc, selector: app=istio-ingressgateway, jsonpath: '{.items[0].status.loadBalancer.ingress[0].ip}'}\noutputs: {GW: {type: ip}}")
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

#[tokio::test]
async fn a_get_that_waits_watches_for_an_object_not_there_yet_and_its_value() {
    let env = Env::start(&["c1"]).await;
    // The interval is far longer than the test may take: only a watch can see the change.
    let step = "kube.get: {resource: cm, name: gw, jsonpath: '{.data.ip}'}\noutputs: {GW: {type: ip}}\nwait: {until: nonempty, interval: 10m, timeout: 1m}";
    let waiting = async { env.run(step).await.unwrap() };
    let creating = async {
        // Long enough for the read to be watching.
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gw}\ndata: {}\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.merge_patch(
            "/api/v1/namespaces/default/configmaps/gw",
            &json!({"data": {"ip": "127.0.0.9"}}),
        )
        .await;
    };
    let (got, ()) = tokio::join!(waiting, creating);
    assert_eq!(got["GW"], "127.0.0.9");
    let lines = env.lines();
    assert!(
        lines.iter().any(|l| l.contains("nothing selected yet"))
            && lines.iter().any(|l| l.contains("GW empty")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_get_that_waits_gives_back_what_it_saw_when_its_time_is_up() {
    let env = Env::start(&["c1"]).await;
    let step = "kube.get: {resource: cm, name: never, jsonpath: '{.data.ip}'}\noutputs: {GW: {type: ip}}\nwait: {until: nonempty, interval: 1s, timeout: 1s}";
    let got = env.run(step).await.unwrap();
    assert_eq!(got["GW"], "", "a missing object is a value not there yet");
}

#[tokio::test]
async fn before_server_side_apply_objects_are_applied_client_side() {
    // Kubernetes 1.13 answers an apply patch with 415, as kube-apiserver did before 1.16.
    let env = Env::with_config(meshbook_sandbox::SandboxConfig {
        kube_version: meshbook_sandbox::KubeVersion::new(13),
        ..support::config(&["c1"])
    })
    .await;
    let manifest = |data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: mesh}}\ndata: {{{data}}}\n---\n\
             apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {{name: web}}\n\
             spec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: nginx}}]}}\n"
        )
    };
    env.apply(&manifest("a: '1', b: '2'")).await.unwrap();
    assert_eq!(
        changes(&env.lines()),
        [
            ("configmap/mesh".to_string(), "created".to_string()),
            (
                "deployment.extensions/web".to_string(),
                "created".to_string()
            )
        ]
    );
    let cm = env
        .object("/api/v1/namespaces/default/configmaps/mesh")
        .await
        .unwrap();
    let record = cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(record).unwrap()["data"],
        json!({"a": "1", "b": "2"})
    );

    env.clear_lines();
    env.apply(&manifest("a: '1', b: '2'")).await.unwrap();
    let again = changes(&env.lines());
    assert!(again.iter().all(|(_, c)| c == "unchanged"), "{again:?}");

    // A key the manifest drops goes; one another writer added stays, as with kubectl apply.
    env.merge_patch(
        "/api/v1/namespaces/default/configmaps/mesh",
        &json!({"data": {"theirs": "x"}}),
    )
    .await;
    env.clear_lines();
    env.apply(&manifest("a: '10'")).await.unwrap();
    assert_eq!(changes(&env.lines())[0].1, "configured");
    let cm = env
        .object("/api/v1/namespaces/default/configmaps/mesh")
        .await
        .unwrap();
    assert_eq!(cm["data"], json!({"a": "10", "theirs": "x"}));

    // kube.secret writes through the same path.
    let secret = "kube.secret: {name: s, literals: {k: v}}";
    env.run(secret).await.unwrap();
    env.run(secret).await.unwrap();
    let said = env.lines();
    assert!(
        said[said.len() - 2].starts_with("secret/s created")
            && said[said.len() - 1].starts_with("secret/s unchanged"),
        "{said:?}"
    );
}
