//! The `kube-root-ca.crt` ConfigMap that kube-controller-manager's root-CA publisher keeps in
//! every namespace from 1.20 on: recreated when deleted, restored when changed.

use serde_json::json;

use super::*;

/// The ConfigMap's name.
pub(super) const NAME: &str = "kube-root-ca.crt";

impl Controllers {
    pub(super) fn ensure_root_ca(&self, ns: &str) {
        if !crate::version::publishes_root_ca(self.cluster.version) {
            return;
        }
        let Some(namespace) = self.store().get("namespaces", "", ns) else {
            return;
        };
        if is_deleting(&namespace) {
            return;
        }
        let data = json!({"ca.crt": self.cluster.ca_pem});
        match self.store().get("configmaps", ns, NAME) {
            None => {
                self.create(
                    "configmaps",
                    json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": NAME, "namespace": ns,
                                        "annotations": {"kubernetes.io/description": DESCRIPTION}},
                           "data": data}),
                );
            }
            Some(cm) if cm["data"] != data => {
                self.set_field("configmaps", ns, NAME, |c| c["data"] = data.clone());
            }
            Some(_) => {}
        }
    }
}

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
