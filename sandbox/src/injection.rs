//! Istio's sidecar injection, as its mutating webhook performs it on a real cluster.
//!
//! The sandbox calls no webhooks, but the runbooks' success condition is Istio's: a workload in a
//! namespace labelled for injection runs with an `istio-proxy` sidecar (READY 2/2). A real
//! cluster injects only when Istio's injector is registered, so the simulation follows the
//! cluster's own `MutatingWebhookConfiguration`s: a pod is injected when one named like Istio's
//! injector (`istio-sidecar-injector`, or `istio-sidecar-injector-REV` for a revisioned control
//! plane) has a webhook for pod creation whose `namespaceSelector` matches the pod's namespace
//! and whose `objectSelector` (if any) matches the pod. No webhook, no injection; a namespace
//! labelled `istio.io/rev=asm-1` with only `asm-2`'s injector installed gets none either.

use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::selector::LabelSelector;

const WEBHOOKS: &str = "mutatingwebhookconfigurations.admissionregistration.k8s.io";
/// The injector configurations Istio's charts, istioctl and asmcli install.
const INJECTOR: &str = "istio-sidecar-injector";
/// The sidecar's container name, which `kubectl logs POD istio-proxy` and the runbooks' checks use.
pub const PROXY: &str = "istio-proxy";

/// Adds Istio's sidecar (and its `istio-init` init container) to a new pod of namespace `ns`
/// when the cluster's injector webhook selects it.
pub fn inject(cluster: &Cluster, ns: &str, pod: &mut Value) {
    if opted_out(pod) || has_proxy(pod) || pod["spec"]["hostNetwork"] == true {
        return;
    }
    let Some(namespace) = cluster.store.get("namespaces", "", ns) else {
        return;
    };
    let Some(image) = injector_image(cluster, &namespace, pod) else {
        return;
    };
    let spec = crate::util::obj_mut(pod, "spec");
    push(spec, "initContainers", init_container(&image));
    push(spec, "containers", proxy_container(&image));
    let annotations = crate::util::obj_mut(&mut pod["metadata"], "annotations");
    annotations.insert(
        "sidecar.istio.io/status".into(),
        json!(
            json!({"initContainers": ["istio-init"], "containers": [PROXY], "volumes": [],
                   "imagePullSecrets": null})
            .to_string()
        ),
    );
}

/// `sidecar.istio.io/inject: "false"` on the pod (annotation or label) turns injection off.
fn opted_out(pod: &Value) -> bool {
    ["annotations", "labels"].iter().any(|f| {
        pod["metadata"][*f]["sidecar.istio.io/inject"]
            .as_str()
            .is_some_and(|v| matches!(v, "false" | "n" | "no" | "off"))
    })
}

fn has_proxy(pod: &Value) -> bool {
    pod["spec"]["containers"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["name"] == PROXY))
}

/// The proxy image of the first Istio injector whose webhook selects the pod, if any.
fn injector_image(cluster: &Cluster, namespace: &Value, pod: &Value) -> Option<String> {
    let (configs, _) = cluster.store.list(WEBHOOKS, None);
    configs.iter().find_map(|config| {
        let name = config["metadata"]["name"].as_str()?;
        if name != INJECTOR && !name.starts_with(&format!("{INJECTOR}-")) {
            return None;
        }
        let selects = config["webhooks"]
            .as_array()?
            .iter()
            .any(|hook| creates_pods(hook) && selects(hook, namespace, pod));
        // The proxy of the control plane's revision: the one the configuration is labelled with.
        let tag = config["metadata"]["labels"]["istio.io/rev"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "default")
            .unwrap_or("sandbox");
        selects.then(|| format!("docker.io/istio/proxyv2:{tag}"))
    })
}

/// Whether one of the webhook's rules covers `CREATE` of core `pods`.
fn creates_pods(hook: &Value) -> bool {
    let has = |list: &Value, want: &str| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|x| x == want || x == "*"))
    };
    hook["rules"].as_array().is_some_and(|rules| {
        rules.iter().any(|r| {
            has(&r["operations"], "CREATE")
                && has(&r["apiGroups"], "")
                && has(&r["resources"], "pods")
        })
    })
}

/// A webhook's `namespaceSelector` and `objectSelector`; an absent one selects everything.
fn selects(hook: &Value, namespace: &Value, pod: &Value) -> bool {
    let matches = |selector: &Value, obj: &Value| {
        selector.is_null() || LabelSelector::from_object(selector).matches(obj)
    };
    matches(&hook["namespaceSelector"], namespace) && matches(&hook["objectSelector"], pod)
}

fn push(spec: &mut Map<String, Value>, list: &str, item: Value) {
    match spec.get_mut(list) {
        Some(Value::Array(items)) => items.push(item),
        _ => {
            spec.insert(list.into(), json!([item]));
        }
    }
}

fn init_container(image: &str) -> Value {
    json!({"name": "istio-init", "image": image,
           "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                    "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"],
           "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                               "runAsUser": 0, "runAsNonRoot": false}})
}

fn proxy_container(image: &str) -> Value {
    json!({"name": PROXY, "image": image,
           "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
           "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                   {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}],
           "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
           "securityContext": {"runAsUser": 1337, "runAsGroup": 1337}})
}
