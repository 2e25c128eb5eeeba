//! `kubectl --as` / `--as-group` / `--as-uid`: the `Impersonate-*` headers, handled as the API
//! server's impersonation filter handles them
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`). Each thing asked for
//! must be allowed to the caller with the verb `impersonate` (users, groups, service accounts,
//! uids, user extras); the request then goes on as the impersonated user.

use http::HeaderMap;

use crate::cluster::User;
use crate::rbac::{Attributes, Policy, Target, authorize, forbidden};
use crate::status::ApiError;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA: &str = "impersonate-extra-";

/// What a request is refused for.
#[derive(Debug)]
pub enum Refusal {
    /// A Status answer (403 for what the caller may not impersonate).
    Api(ApiError),
    /// The plain-text 500 the real filter answers for groups, a uid or extras without a user.
    Internal(String),
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

fn impersonate(resource: &str, group: &str, sub: &str, name: &str, namespace: &str) -> Attributes {
    Attributes {
        verb: "impersonate".into(),
        target: Target::Resource {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: namespace.into(),
        },
    }
}

/// The user a request acts as: `caller`, or the one its `Impersonate-*` headers name once
/// each of them is allowed to the caller.
pub fn acting_user(
    policy: &impl Policy,
    caller: User,
    headers: &HeaderMap,
    path: &str,
) -> Result<User, Refusal> {
    let user = headers
        .get(USER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let groups = values(headers, GROUP);
    let uid = headers.get(UID).and_then(|v| v.to_str().ok()).unwrap_or("");
    let extras: Vec<(String, &str)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix(EXTRA)?;
            Some((crate::http::percent_decode(key), v.to_str().ok()?))
        })
        .collect();
    if user.is_empty() {
        if groups.is_empty() && uid.is_empty() && extras.is_empty() {
            return Ok(caller);
        }
        return Err(Refusal::Internal(format!(
            "Internal Server Error: \"{path}\": requested impersonation without impersonating a user"
        )));
    }
    let mut asks = Vec::new();
    let account = user
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains(':'));
    let mut acting = match account {
        Some((ns, name)) => {
            asks.push(impersonate("serviceaccounts", "", "", name, ns));
            let mut u = User::service_account(ns, name, "");
            if !groups.is_empty() {
                u.groups.clear();
            } else {
                // The fixed groups of an account, system:authenticated added below.
                u.groups.retain(|g| g != "system:authenticated");
            }
            u
        }
        None => {
            asks.push(impersonate("users", "", "", user, ""));
            User {
                name: user.to_string(),
                uid: String::new(),
                groups: Vec::new(),
            }
        }
    };
    for g in &groups {
        asks.push(impersonate("groups", "", "", g, ""));
        acting.groups.push(g.to_string());
    }
    if !uid.is_empty() {
        asks.push(impersonate("uids", "authentication.k8s.io", "", uid, ""));
        acting.uid = uid.to_string();
    }
    for (key, value) in &extras {
        asks.push(impersonate(
            "userextras",
            "authentication.k8s.io",
            key,
            value,
            "",
        ));
    }
    for ask in &asks {
        let d = authorize(policy, &caller, ask);
        if !d.allowed {
            return Err(Refusal::Api(forbidden(&caller, ask, &d.reason)));
        }
    }
    let marked = acting
        .groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated");
    if groups.is_empty() && acting.name != "system:anonymous" && !marked {
        acting.groups.push("system:authenticated".into());
    }
    Ok(acting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    struct Policy1(Vec<Value>, Vec<Value>);
    impl Policy for Policy1 {
        fn cluster_role_bindings(&self) -> Vec<Value> {
            self.1.clone()
        }
        fn role_bindings(&self, _: &str) -> Vec<Value> {
            vec![]
        }
        fn role(&self, _: &str, _: &str) -> Option<Value> {
            None
        }
        fn cluster_roles(&self) -> Vec<Value> {
            self.0.clone()
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn impersonation_takes_a_grant_and_gives_the_impersonated_groups() {
        let none = Policy1(vec![], vec![]);
        let admin = User::admin();
        let as_sa = headers(&[("Impersonate-User", "system:serviceaccount:ns:robot")]);
        let u = acting_user(&none, admin.clone(), &as_sa, "/api").unwrap();
        assert_eq!(u.name, "system:serviceaccount:ns:robot");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        let with_group = headers(&[("Impersonate-User", "jo"), ("Impersonate-Group", "devs")]);
        let u = acting_user(&none, admin.clone(), &with_group, "/api").unwrap();
        assert_eq!(
            (u.name.as_str(), u.groups.clone()),
            ("jo", vec!["devs".to_string()])
        );
        // Without a user, groups are refused outright.
        let groups_only = headers(&[("Impersonate-Group", "devs")]);
        assert!(matches!(
            acting_user(&none, admin, &groups_only, "/api"),
            Err(Refusal::Internal(_))
        ));
        // A service account may impersonate only what a binding grants.
        let robot = User::service_account("ns", "robot", "u");
        let Err(Refusal::Api(e)) = acting_user(
            &none,
            robot.clone(),
            &headers(&[("Impersonate-User", "jo")]),
            "/api",
        ) else {
            panic!("allowed without a grant")
        };
        assert_eq!(
            e.message,
            "users \"jo\" is forbidden: User \"system:serviceaccount:ns:robot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
        let granted = Policy1(
            vec![json!({"metadata": {"name": "imp"},
                        "rules": [{"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"], "resourceNames": ["jo"]}]})],
            vec![
                json!({"metadata": {"name": "imp"}, "roleRef": {"kind": "ClusterRole", "name": "imp"},
                        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "ns"}]}),
            ],
        );
        let u = acting_user(
            &granted,
            robot.clone(),
            &headers(&[("Impersonate-User", "jo")]),
            "/api",
        )
        .unwrap();
        assert_eq!(
            (u.name.as_str(), u.groups.clone()),
            ("jo", vec!["system:authenticated".to_string()])
        );
        assert!(
            acting_user(
                &granted,
                robot,
                &headers(&[("Impersonate-User", "al")]),
                "/api"
            )
            .is_err()
        );
    }
}
