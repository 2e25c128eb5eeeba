//! One simulated cluster: its store, identity, address pools and resource types.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Faults;
use crate::resources::{self, ResourceType};
use crate::store::Store;
use crate::tokens::{Minter, constant_eq};
use crate::util::{name_of, now_rfc3339, short_hash, str_at, uid_of};
use crate::version::KubeVersion;

/// A running simulated cluster.
pub struct Cluster {
    /// Cluster (and kubeconfig context) name.
    pub name: String,
    /// Position in the sandbox, used to keep address pools apart.
    pub index: usize,
    /// The administrator bearer token.
    pub token: String,
    /// PEM of the CA that signed the serving certificate.
    pub ca_pem: String,
    /// The objects.
    pub store: Store,
    /// Delay before a new Pod becomes Ready.
    pub pod_ready_delay: Duration,
    /// Delay before a LoadBalancer Service gets an ingress IP.
    pub lb_ip_delay: Duration,
    /// Injected faults.
    pub faults: Faults,
    /// Request, connection and history limits.
    pub limits: crate::Limits,
    /// Root of the per-pod scratch directories used by exec.
    pub scratch: PathBuf,
    /// Addresses handed out by this process, so concurrent writers never get the same one.
    pub allocated: Mutex<BTreeSet<String>>,
    /// Mints and checks service-account tokens.
    pub minter: Minter,
    /// Bearer tokens accepted besides the admin token (for example a simulated cloud's
    /// access token).
    pub extra_tokens: RwLock<Vec<String>>,
    /// The Kubernetes minor the cluster simulates.
    pub version: KubeVersion,
    /// Faults injected so far.
    pub injected: Injected,
}

/// Counters of injected faults.
#[derive(Debug, Default)]
pub struct Injected {
    /// Error answers.
    pub errors: std::sync::atomic::AtomicU64,
    /// 429 answers.
    pub throttled: std::sync::atomic::AtomicU64,
    /// Writes carried out whose answer was dropped.
    pub lost_answers: std::sync::atomic::AtomicU64,
}

/// An authenticated client, as SelfSubjectReview reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// User name.
    pub name: String,
    /// The user's uid (service accounts).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
}

impl User {
    /// The cluster administrator (the kubeconfig's user).
    pub fn admin() -> Self {
        User {
            name: "kubernetes-admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    /// A service account.
    pub fn service_account(ns: &str, name: &str, uid: &str) -> Self {
        User {
            name: format!("system:serviceaccount:{ns}:{name}"),
            uid: uid.to_string(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
        }
    }
}

const BASE_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Cluster {
    fn octet(&self) -> usize {
        self.index % 200
    }

    /// The single simulated node's name.
    pub fn node_name(&self) -> String {
        format!("{}-node-1", self.name)
    }

    /// The node's IP, reported as every pod's hostIP. Loopback, so a host tool that dials it
    /// never leaves the machine.
    pub fn host_ip(&self) -> String {
        format!("127.168.{}.10", self.octet() + 1)
    }

    /// The Kubernetes minor this cluster simulates; it picks the API's schemas.
    pub fn minor(&self) -> u32 {
        self.version.minor()
    }

    /// All served resource types: the built-in ones this cluster's minor serves plus CRD-defined ones.
    pub fn types(&self) -> Vec<ResourceType> {
        let mut t = crate::version::registry::served_types(self.version);
        // CRDs can be large (schemas); read the few fields needed without copying them.
        let defined = self.store.map_list(
            "customresourcedefinitions.apiextensions.k8s.io",
            resources::from_crd,
        );
        t.extend(defined.into_iter().flatten());
        t
    }

    /// The type served at group/version/plural.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        resources::find(&self.types(), group, version, plural).cloned()
    }

    /// Who `token` authenticates as: the admin token or an extra accepted token (an
    /// administrator), or a token this cluster minted whose service account (and, for legacy
    /// tokens, Secret) still exists. Tokens written into Secrets by clients never authenticate.
    pub fn authenticate(&self, token: &str) -> Option<User> {
        if token.is_empty() {
            return None;
        }
        if constant_eq(token.as_bytes(), self.token.as_bytes())
            || self
                .extra_tokens
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|t| constant_eq(t.as_bytes(), token.as_bytes()))
        {
            return Some(User::admin());
        }
        let claims = self.minter.verify(token)?;
        let account = self
            .store
            .get("serviceaccounts", &claims.namespace, &claims.account)?;
        let secret_ok = claims.secret.as_ref().is_none_or(|name| {
            self.store
                .get("secrets", &claims.namespace, name)
                .is_some_and(|s| {
                    str_at(&s, "type") == Some("kubernetes.io/service-account-token")
                        && s["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                            == claims.account.as_str()
                })
        });
        secret_ok
            .then(|| User::service_account(&claims.namespace, &claims.account, uid_of(&account)))
    }

    fn used(&self, key: &str, path: &str) -> BTreeSet<String> {
        self.store
            .list(key, None)
            .0
            .iter()
            .filter_map(|o| str_at(o, path).map(str::to_string))
            .collect()
    }

    /// A free pod IP.
    pub fn alloc_pod_ip(&self) -> String {
        let used = self.used("pods", "status.podIP");
        self.pick(&used, |n| {
            format!("10.{}.{}.{}", 10 + self.octet(), n / 254, n % 254 + 1)
        })
    }

    /// A free ClusterIP (x.x.0.1 is the `kubernetes` Service).
    pub fn alloc_cluster_ip(&self) -> String {
        let used = self.used("services", "spec.clusterIP");
        self.pick(&used, |n| {
            format!(
                "10.{}.{}.{}",
                100 + self.octet(),
                (n + 1) / 254,
                (n + 1) % 254 + 1
            )
        })
    }

    /// A free LoadBalancer ingress IP from this cluster's pool (in 127.0.0.0/8, like every
    /// address a host tool could dial).
    pub fn alloc_lb_ip(&self) -> String {
        let (svcs, _) = self.store.list("services", None);
        let used: BTreeSet<String> = svcs
            .iter()
            .filter_map(|s| {
                str_at(&s["status"]["loadBalancer"]["ingress"][0], "ip").map(str::to_string)
            })
            .collect();
        self.pick(&used, |n| {
            format!("127.18.{}.{}", self.octet() + 1, n % 240 + 10)
        })
    }

    /// NodePorts in use.
    pub fn used_node_ports(&self) -> BTreeSet<u64> {
        let (svcs, _) = self.store.list("services", None);
        svcs.iter()
            .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["nodePort"].as_u64())
            .collect()
    }

    /// Creates the objects every cluster starts with (skipped for those already present).
    pub fn bootstrap(&self) {
        for ns in BASE_NAMESPACES {
            if self.store.get("namespaces", "", ns).is_some() {
                continue;
            }
            let mut obj = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            if crate::version::labels_namespace_names(self.version) {
                obj["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": ns});
            }
            if *ns == "kube-system" {
                // A stable uid: some tools derive a cluster id from it.
                obj["metadata"]["uid"] = json!(stable_uid(&format!("kube-system/{}", self.name)));
            }
            self.store.insert_raw("namespaces", obj);
        }
        for (key, obj) in crate::rbac::bootstrap::objects() {
            if self
                .store
                .get(key, "", crate::util::name_of(&obj))
                .is_none()
            {
                self.store.insert_raw(key, obj);
            }
        }
        let node = self.node_name();
        if self.store.get("nodes", "", &node).is_none() {
            let now = now_rfc3339();
            let obj = json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node,
                    "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/region": format!("{}-region", self.name),
                    "topology.kubernetes.io/zone": format!("{}-zone-a", self.name)}},
                "spec": {"podCIDR": format!("10.{}.0.0/16", 10 + self.octet())},
                "status": {"addresses": [{"type": "InternalIP", "address": self.host_ip()},
                                         {"type": "Hostname", "address": node}],
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status",
                                           "lastHeartbeatTime": now, "lastTransitionTime": now}],
                           "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                           "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                           "nodeInfo": self.node_info()}});
            self.store.insert_raw("nodes", obj);
        } else {
            // Nodes saved by an older sandbox get every field the API declares required.
            let info = self.node_info();
            let _ = self.store.modify::<()>("nodes", "", &node, false, |c| {
                let mut c = c.clone();
                c["status"]["nodeInfo"] = info;
                Ok(c)
            });
        }
        if self
            .store
            .get("services", "default", "kubernetes")
            .is_none()
        {
            let obj = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": format!("10.{}.0.1", 100 + self.octet()),
                         "clusterIPs": [format!("10.{}.0.1", 100 + self.octet())],
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                         "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
                "status": {"loadBalancer": {}}});
            self.store.insert_raw("services", obj);
        }
    }

    /// `status.nodeInfo` with all ten fields the API declares required.
    fn node_info(&self) -> Value {
        let id = short_hash(&json!(self.name));
        json!({"machineID": format!("{id}{id}{id}"), "systemUUID": stable_uid(&format!("node/{}", self.name)),
               "bootID": stable_uid(&format!("boot/{}", self.name)), "kernelVersion": "6.1.0-sandbox",
               "osImage": "Sandbox Linux", "containerRuntimeVersion": "containerd://1.7.0",
               "kubeletVersion": crate::version::git_version(self.version), "kubeProxyVersion": crate::version::git_version(self.version),
               "operatingSystem": "linux", "architecture": "amd64"})
    }

    /// The scratch directory of one pod, used as the working directory of exec.
    pub fn pod_dir(&self, ns: &str, pod: &Value) -> PathBuf {
        self.scratch.join(&self.name).join(ns).join(name_of(pod))
    }
}

impl Cluster {
    fn pick(&self, used: &BTreeSet<String>, f: impl Fn(usize) -> String) -> String {
        let mut mine = self.allocated.lock().unwrap_or_else(|e| e.into_inner());
        let ip = (0..60_000)
            .map(&f)
            .find(|ip| !used.contains(ip) && !mine.contains(ip))
            .unwrap_or_else(|| f(0));
        mine.insert(ip.clone());
        ip
    }
}

/// A uid derived from a seed, so it is the same every time the cluster is created.
pub fn stable_uid(seed: &str) -> String {
    let h = |s: &str| short_hash(&Value::String(s.to_string()));
    let hex: String = format!(
        "{}{}{}{}",
        h(seed),
        h(&format!("{seed}1")),
        h(&format!("{seed}2")),
        h(&format!("{seed}3"))
    )
    .bytes()
    .map(|b| format!("{:x}", b % 16))
    .collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
