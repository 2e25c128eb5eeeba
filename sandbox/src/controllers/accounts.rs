//! Default ServiceAccounts per namespace and their legacy token Secrets.

use serde_json::{Value, json};

use super::*;

impl Controllers {
    pub(super) fn ensure_default_sa(&self, ns: &str) {
        if self.store().get("serviceaccounts", ns, "default").is_none() {
            self.create(
                "serviceaccounts",
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
            );
        }
    }

    pub(super) fn ensure_sa_token(&self, sa: &Value) {
        if sa["secrets"].as_array().is_some_and(|s| !s.is_empty()) || is_deleting(sa) {
            return;
        }
        let ns = namespace_of(sa).to_string();
        let name = name_of(sa).to_string();
        let existing = self
            .store()
            .list("secrets", Some(&ns))
            .0
            .into_iter()
            .find(|s| {
                str_at(s, "type") == Some("kubernetes.io/service-account-token")
                    && s["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                        == name.as_str()
            });
        let secret_name = match existing {
            Some(s) => name_of(&s).to_string(),
            None => {
                let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                    "metadata": {"name": format!("{name}-token-{}", random_suffix(5)), "namespace": ns,
                                 "annotations": {"kubernetes.io/service-account.name": name,
                                                 "kubernetes.io/service-account.uid": uid_of(sa)}}});
                match self.create("secrets", secret) {
                    Some(s) => name_of(&s).to_string(),
                    None => return,
                }
            }
        };
        self.set_field("serviceaccounts", &ns, &name, |c| {
            c["secrets"] = json!([{"name": secret_name}])
        });
    }
}
