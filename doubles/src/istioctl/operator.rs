//! What `istioctl install` and `manifest generate` render from an IstioOperator: the profile's
//! components, overlaid by `-f` files and `--set`, as the objects the real charts make that
//! rehearsals and runbooks read (the real istioctl compiles its charts in; so does the double).
//!
//! Components: `base` (Istio's CRDs, the reader service account), `pilot` (istiod's Deployment,
//! Service, ServiceAccount, `istio` and `istio-sidecar-injector` ConfigMaps, the injection
//! webhook), and every enabled ingress and egress gateway (ServiceAccount, Deployment, Service),
//! with the IstioOperator's `label`, `k8s.env` and `k8s.service` of each gateway, the `revision`
//! suffix and label, and the ports that `values.global.meshExpansion.enabled` adds. The 1.6 demo
//! profile's addons (Prometheus, Grafana, Kiali, tracing) are not rendered.

use serde_json::{Map, Value, json};

/// The components each profile enables.
fn profile(name: &str) -> Option<Value> {
    let (base, pilot, ingress, egress) = match name {
        "default" | "preview" | "openshift" => (true, true, true, false),
        "demo" => (true, true, true, true),
        "minimal" => (true, true, false, false),
        "remote" | "external" => (false, false, true, false),
        "empty" => (false, false, false, false),
        _ => return None,
    };
    Some(json!({
        "components": {
            "base": {"enabled": base},
            "pilot": {"enabled": pilot},
            "ingressGateways": [{"name": "istio-ingressgateway", "enabled": ingress}],
            "egressGateways": [{"name": "istio-egressgateway", "enabled": egress}],
        },
        "values": {},
        "meshConfig": {},
    }))
}

/// Deep merge as IstioOperator overlays merge: maps merge, gateway lists merge by `name`,
/// everything else is replaced.
fn overlay(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(t)) if t.iter().all(|x| x.get("name").is_some()) => {
            for item in t {
                match b.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(slot) => overlay(slot, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

/// The merged IstioOperator `spec`: the profile named by the overlays (else `default`), then
/// each overlay's `spec`, then `--set` paths.
pub fn merge(files: &[Value], sets: &[String]) -> Result<Value, String> {
    let mut user = json!({});
    for f in files {
        if f["kind"] != "IstioOperator" {
            return Err(format!(
                "could not unmarshal IstioOperator: kind is {}, not IstioOperator",
                f["kind"]
            ));
        }
        overlay(&mut user, &f["spec"]);
    }
    for s in sets {
        crate::helm::strvals::set_one(&mut user, s)?;
    }
    let name = user["profile"].as_str().unwrap_or("default").to_string();
    let mut spec = profile(&name)
        .ok_or_else(|| format!("could not read profile {name}: profile {name} does not exist"))?;
    overlay(&mut spec, &user);
    spec["profile"] = Value::String(name);
    Ok(spec)
}

/// The names of a spec's enabled components, as istioctl reports them.
pub fn enabled(spec: &Value) -> Vec<&'static str> {
    let on = |v: &Value| v["enabled"].as_bool().unwrap_or(false);
    let mut out = Vec::new();
    let c = &spec["components"];
    if on(&c["base"]) {
        out.push("Istio core");
    }
    if on(&c["pilot"]) {
        out.push("Istiod");
    }
    if gateways(c, "ingressGateways").next().is_some() {
        out.push("Ingress gateways");
    }
    if gateways(c, "egressGateways").next().is_some() {
        out.push("Egress gateways");
    }
    out
}

fn gateways<'a>(components: &'a Value, kind: &str) -> impl Iterator<Item = &'a Value> {
    components[kind]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["enabled"].as_bool().unwrap_or(false))
}

const CRDS: [(&str, &str, &str, &str); 14] = [
    ("networking.istio.io", "Gateway", "gateways", "v1alpha3"),
    (
        "networking.istio.io",
        "VirtualService",
        "virtualservices",
        "v1alpha3",
    ),
    (
        "networking.istio.io",
        "DestinationRule",
        "destinationrules",
        "v1alpha3",
    ),
    (
        "networking.istio.io",
        "ServiceEntry",
        "serviceentries",
        "v1alpha3",
    ),
    ("networking.istio.io", "Sidecar", "sidecars", "v1alpha3"),
    (
        "networking.istio.io",
        "EnvoyFilter",
        "envoyfilters",
        "v1alpha3",
    ),
    (
        "networking.istio.io",
        "WorkloadEntry",
        "workloadentries",
        "v1alpha3",
    ),
    (
        "networking.istio.io",
        "WorkloadGroup",
        "workloadgroups",
        "v1alpha3",
    ),
    (
        "security.istio.io",
        "PeerAuthentication",
        "peerauthentications",
        "v1beta1",
    ),
    (
        "security.istio.io",
        "RequestAuthentication",
        "requestauthentications",
        "v1beta1",
    ),
    (
        "security.istio.io",
        "AuthorizationPolicy",
        "authorizationpolicies",
        "v1beta1",
    ),
    ("telemetry.istio.io", "Telemetry", "telemetries", "v1alpha1"),
    (
        "install.istio.io",
        "IstioOperator",
        "istiooperators",
        "v1alpha1",
    ),
    (
        "extensions.istio.io",
        "WasmPlugin",
        "wasmplugins",
        "v1alpha1",
    ),
];

fn crd(group: &str, kind: &str, plural: &str, version: &str, minor: u32) -> Value {
    // networking kinds are served as v1beta1 too from Istio 1.8 on (the ASM samples use it).
    let mut versions = vec![json!({"name": version, "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})];
    if group == "networking.istio.io" && minor >= 8 {
        versions.push(json!({"name": "v1beta1", "served": true, "storage": false,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}));
    }
    let names = json!({"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")});
    let name = format!("{plural}.{group}");
    // Istio's CRDs were apiextensions.k8s.io/v1beta1 until 1.8 (istio/istio#18771), which is
    // why Istio 1.6 installs on Kubernetes 1.14 and fails on 1.22 and later.
    if minor < 8 {
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| json!({"name": v["name"], "served": true, "storage": v["storage"]}))
            .collect();
        return json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "labels": {"release": "istio"}},
            "spec": {"group": group, "scope": "Namespaced", "names": names, "version": version, "versions": versions},
        });
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "labels": {"release": "istio"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": names,
            "versions": versions,
        }
    })
}

/// What renders need besides the spec.
pub struct Release<'a> {
    /// The Istio version played (`1.6.5`).
    pub version: &'a str,
    /// Its minor (6).
    pub minor: u32,
    /// The mesh's root certificate (PEM) that istiod publishes as `istio-ca-root-cert`.
    pub root_cert: &'a str,
}

/// Every object the spec's enabled components make.
pub fn render(spec: &Value, rel: &Release<'_>) -> Vec<Value> {
    let ns = spec["namespace"]
        .as_str()
        .unwrap_or("istio-system")
        .to_string();
    let revision = spec["revision"].as_str().unwrap_or_default().to_string();
    let suffix = if revision.is_empty() {
        String::new()
    } else {
        format!("-{revision}")
    };
    let rev_label = if revision.is_empty() {
        "default".to_string()
    } else {
        revision.clone()
    };
    let hub = spec["values"]["global"]["hub"]
        .as_str()
        .unwrap_or("docker.io/istio")
        .to_string();
    let tag = spec["values"]["global"]["tag"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| rel.version.to_string());
    let c = &spec["components"];
    let mut out = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})];
    if c["base"]["enabled"].as_bool().unwrap_or(false) {
        for (g, k, p, v) in CRDS {
            // Kinds that came later: WorkloadGroup in 1.8, Telemetry and WasmPlugin in 1.12.
            let since = match (g, k) {
                ("telemetry.istio.io" | "extensions.istio.io", _) => 12,
                (_, "WorkloadGroup") => 8,
                _ => 0,
            };
            if rel.minor < since {
                continue;
            }
            out.push(crd(g, k, p, v, rel.minor));
        }
        out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "istio-reader-service-account", "namespace": ns, "labels": {"app": "istio-reader", "release": "istio"}}}));
    }
    if c["pilot"]["enabled"].as_bool().unwrap_or(false) {
        out.extend(istiod(spec, &ns, &suffix, &rev_label, &hub, &tag, rel));
    }
    let mesh_expansion = spec["values"]["global"]["meshExpansion"]["enabled"]
        .as_bool()
        .unwrap_or(false);
    for (kind, istio) in [
        ("ingressGateways", "ingressgateway"),
        ("egressGateways", "egressgateway"),
    ] {
        for g in gateways(c, kind) {
            out.extend(gateway(
                g,
                istio,
                &ns,
                &revision,
                &hub,
                &tag,
                mesh_expansion && istio == "ingressgateway",
            ));
        }
    }
    out
}

fn istiod(
    spec: &Value,
    ns: &str,
    suffix: &str,
    rev: &str,
    hub: &str,
    tag: &str,
    rel: &Release<'_>,
) -> Vec<Value> {
    let name = format!("istiod{suffix}");
    let labels =
        json!({"app": "istiod", "istio": "pilot", "istio.io/rev": rev, "release": "istio"});
    let mut mesh = json!({"defaultConfig": {"discoveryAddress": format!("{name}.{ns}.svc:15012")}, "trustDomain": "cluster.local"});
    if let Some(m) = spec["meshConfig"].as_object()
        && !m.is_empty()
    {
        overlay(&mut mesh, &spec["meshConfig"]);
    }
    let networks = spec["values"]["global"]["meshNetworks"].clone();
    let mesh_networks =
        json!({"networks": if networks.is_object() { networks } else { json!({}) }});
    let yaml = |v: &Value| serde_yaml::to_string(v).unwrap_or_default();
    let sa = if rel.minor >= 8 {
        "istiod".to_string()
    } else {
        "istiod-service-account".to_string()
    };
    let sa = if suffix.is_empty() {
        sa
    } else {
        format!("istiod{suffix}")
    };
    // Like its CRDs, Istio's injector webhook was a v1beta1 object until 1.8 (1.6 supports
    // Kubernetes 1.15, which has no admissionregistration.k8s.io/v1).
    let webhook_api = if rel.minor >= 8 {
        "admissionregistration.k8s.io/v1"
    } else {
        "admissionregistration.k8s.io/v1beta1"
    };
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns, "labels": {"app": "istiod", "release": "istio"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("istio{suffix}"), "namespace": ns, "labels": {"istio.io/rev": rev, "release": "istio"}},
            "data": {"mesh": yaml(&mesh), "meshNetworks": yaml(&mesh_networks)}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("istio-sidecar-injector{suffix}"), "namespace": ns, "labels": {"istio.io/rev": rev, "release": "istio"}},
            "data": {"config": "policy: enabled\n", "values": serde_json::to_string(&spec["values"]).unwrap_or_default()}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "istio-ca-root-cert", "namespace": ns, "labels": {"istio.io/config": "true"}},
            "data": {"root-cert.pem": rel.root_cert}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1,
                "selector": {"matchLabels": {"app": "istiod", "istio.io/rev": rev}},
                "template": {"metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                    "spec": {"serviceAccountName": sa, "containers": [{"name": "discovery", "image": format!("{hub}/pilot:{tag}"),
                        "env": [{"name": "REVISION", "value": rev}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": rev, "release": "istio"}},
            "spec": {"selector": {"app": "istiod", "istio.io/rev": rev}, "ports": [
                {"name": "grpc-xds", "port": 15010, "protocol": "TCP"},
                {"name": "https-dns", "port": 15012, "protocol": "TCP"},
                {"name": "https-webhook", "port": 443, "targetPort": 15017, "protocol": "TCP"},
                {"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]}}),
        json!({"apiVersion": webhook_api, "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": format!("istio-sidecar-injector{suffix}"), "labels": {"app": "sidecar-injector", "istio.io/rev": rev, "release": "istio"}},
            "webhooks": [{"name": "sidecar-injector.istio.io", "admissionReviewVersions": ["v1beta1", "v1"], "sideEffects": "None",
                "clientConfig": {"service": {"name": name, "namespace": ns, "path": "/inject", "port": 443}},
                "namespaceSelector": if suffix.is_empty() {
                    json!({"matchLabels": {"istio-injection": "enabled"}})
                } else {
                    json!({"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": [rev]}]})
                },
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]}),
    ]
}

fn gateway(
    g: &Value,
    istio: &str,
    ns: &str,
    revision: &str,
    hub: &str,
    tag: &str,
    mesh_expansion: bool,
) -> Vec<Value> {
    let name = g["name"]
        .as_str()
        .unwrap_or("istio-ingressgateway")
        .to_string();
    let ns = g["namespace"].as_str().unwrap_or(ns).to_string();
    let mut labels = Map::new();
    labels.insert("app".into(), json!(name));
    labels.insert("istio".into(), json!(istio));
    if let Some(extra) = g["label"].as_object() {
        labels.extend(extra.clone());
    }
    if !revision.is_empty() {
        labels.insert("istio.io/rev".into(), json!(revision));
    }
    let selector: Map<String, Value> = labels
        .iter()
        .filter(|(k, _)| k.as_str() == "app" || k.as_str() == "istio")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let k8s = &g["k8s"];
    let mut ports: Vec<Value> = match k8s["service"]["ports"].as_array() {
        Some(p) => p.clone(),
        None if istio == "ingressgateway" => vec![
            json!({"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"}),
            json!({"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"}),
            json!({"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}),
            json!({"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP"}),
        ],
        None => vec![
            json!({"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"}),
            json!({"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}),
            json!({"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP"}),
        ],
    };
    if mesh_expansion {
        ports.push(
            json!({"name": "tcp-istiod", "port": 15012, "targetPort": 15012, "protocol": "TCP"}),
        );
        ports.push(
            json!({"name": "tcp-webhook", "port": 15017, "targetPort": 15017, "protocol": "TCP"}),
        );
    }
    let svc_type = k8s["service"]["type"]
        .as_str()
        .unwrap_or(if istio == "ingressgateway" {
            "LoadBalancer"
        } else {
            "ClusterIP"
        });
    let env = k8s["env"].as_array().cloned().unwrap_or_default();
    let sa = format!("{name}-service-account");
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns, "labels": labels}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                "template": {"metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                    "spec": {"serviceAccountName": sa, "containers": [{"name": "istio-proxy", "image": format!("{hub}/proxyv2:{tag}"), "env": env}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"type": svc_type, "selector": selector, "ports": ports}}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eastwest_overlay_on_the_empty_profile_makes_only_that_gateway() {
        let iop: Value = serde_yaml::from_str(
            "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  revision: asm-1134-4\n  profile: empty\n  components:\n    ingressGateways:\n    - name: istio-eastwestgateway\n      label: {istio: eastwestgateway, app: istio-eastwestgateway, topology.istio.io/network: net1}\n      enabled: true\n      k8s:\n        env: [{name: ISTIO_META_REQUESTED_NETWORK_VIEW, value: net1}]\n        service:\n          ports: [{name: tls, port: 15443, targetPort: 15443}]\n",
        )
        .unwrap();
        let spec = merge(&[iop], &[]).unwrap();
        let objects = render(
            &spec,
            &Release {
                version: "1.13.4",
                minor: 13,
                root_cert: "",
            },
        );
        let names: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "Namespace/istio-system",
                "ServiceAccount/istio-eastwestgateway-service-account",
                "Deployment/istio-eastwestgateway",
                "Service/istio-eastwestgateway"
            ]
        );
        let svc = &objects[3];
        assert_eq!(
            svc["spec"]["selector"],
            json!({"app": "istio-eastwestgateway", "istio": "eastwestgateway"})
        );
        assert_eq!(
            svc["metadata"]["labels"]["topology.istio.io/network"],
            "net1"
        );
        assert_eq!(svc["metadata"]["labels"]["istio.io/rev"], "asm-1134-4");
        assert_eq!(svc["spec"]["type"], "LoadBalancer");
    }

    #[test]
    fn demo_with_mesh_expansion_exposes_istiod_on_the_ingress_gateway() {
        let spec = merge(
            &[],
            &[
                "profile=demo".into(),
                "values.global.meshExpansion.enabled=true".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            enabled(&spec),
            vec![
                "Istio core",
                "Istiod",
                "Ingress gateways",
                "Egress gateways"
            ]
        );
        let objects = render(
            &spec,
            &Release {
                version: "1.6.5",
                minor: 6,
                root_cert: "PEM",
            },
        );
        let ingress = objects
            .iter()
            .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "istio-ingressgateway")
            .unwrap();
        assert!(
            ingress["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == 15012)
        );
        assert!(
            objects
                .iter()
                .any(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "istiod")
        );
        assert!(merge(&[], &["profile=bogus".into()]).is_err());
    }
}
