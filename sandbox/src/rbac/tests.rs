use serde_json::{Value, json};

use super::*;

/// Policy objects held in memory.
#[derive(Default)]
struct Objects {
    roles: Vec<Value>,
    role_bindings: Vec<Value>,
    cluster_roles: Vec<Value>,
    cluster_role_bindings: Vec<Value>,
}

impl Policy for Objects {
    fn cluster_role_bindings(&self) -> Vec<Value> {
        self.cluster_role_bindings.clone()
    }
    fn role_bindings(&self, namespace: &str) -> Vec<Value> {
        let ns = |o: &&Value| o["metadata"]["namespace"] == namespace;
        self.role_bindings.iter().filter(ns).cloned().collect()
    }
    fn role(&self, namespace: &str, name: &str) -> Option<Value> {
        self.roles
            .iter()
            .find(|r| r["metadata"]["namespace"] == namespace && name_of(r) == name)
            .cloned()
    }
    fn cluster_roles(&self) -> Vec<Value> {
        self.cluster_roles.clone()
    }
}

fn sa(ns: &str, name: &str) -> User {
    User::service_account(ns, name, "uid")
}

fn res(verb: &str, group: &str, resource: &str, name: &str, ns: &str) -> Attributes {
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    Attributes {
        verb: verb.into(),
        target: Target::Resource {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: ns.into(),
        },
    }
}

fn path(verb: &str, p: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        target: Target::NonResource { path: p.into() },
    }
}

fn rule(v: Value) -> Rule {
    Rule::deserialize(&v).unwrap()
}

#[test]
fn rules_match_verbs_groups_resources_and_subresources() {
    let r = rule(json!({"verbs": ["get", "list"], "apiGroups": ["", "apps"],
                        "resources": ["pods", "pods/log", "*/scale"]}));
    assert!(r.allows(&res("list", "", "pods", "", "a")));
    assert!(r.allows(&res("get", "", "pods/log", "p", "a")));
    assert!(!r.allows(&res("watch", "", "pods", "", "a")));
    assert!(!r.allows(&res("get", "batch", "pods", "", "a")));
    // A subresource needs its own entry; `*/scale` matches any resource's scale.
    assert!(!r.allows(&res("get", "", "pods/exec", "p", "a")));
    assert!(r.allows(&res("get", "apps", "deployments/scale", "d", "a")));
    assert!(!r.allows(&res("get", "apps", "deployments", "d", "a")));
    let all = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
    assert!(all.allows(&res("deletecollection", "x.io", "things/status", "", "")));
    // Resource rules never grant paths, and path rules never grant resources.
    assert!(!all.allows(&path("get", "/version")));
    let urls = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}));
    assert!(!urls.allows(&res("get", "", "pods", "", "")));
}

#[test]
fn resource_names_limit_only_named_requests() {
    let r = rule(
        json!({"verbs": ["get", "list", "update"], "apiGroups": [""],
                        "resources": ["configmaps"], "resourceNames": ["cfg"]}),
    );
    assert!(r.allows(&res("get", "", "configmaps", "cfg", "a")));
    assert!(!r.allows(&res("get", "", "configmaps", "other", "a")));
    // A list names nothing, so a rule limited to names never grants it.
    assert!(!r.allows(&res("list", "", "configmaps", "", "a")));
}

#[test]
fn non_resource_urls_match_exactly_or_by_trailing_star() {
    let r =
        rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*", "/openapi*"]}));
    assert!(r.allows(&path("get", "/healthz")));
    assert!(!r.allows(&path("get", "/healthz/etcd")));
    assert!(r.allows(&path("get", "/apis/apps/v1")));
    assert!(!r.allows(&path("get", "/apis")));
    assert!(r.allows(&path("get", "/openapi/v3")));
    assert!(!r.allows(&path("post", "/healthz")));
    let any = rule(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    assert!(any.allows(&path("delete", "/anything")));
}

fn binding(kind: &str, ns: Option<&str>, name: &str, role: (&str, &str), subjects: Value) -> Value {
    let mut meta = json!({"name": name});
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    json!({"kind": kind, "metadata": meta,
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.0, "name": role.1},
           "subjects": subjects})
}

fn pod_reader() -> Value {
    json!({"metadata": {"name": "pod-reader"},
           "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]})
}

#[test]
fn a_role_binding_to_a_cluster_role_grants_in_its_namespace_only() {
    let p = Objects {
        cluster_roles: vec![pod_reader()],
        role_bindings: vec![binding(
            "RoleBinding",
            Some("a"),
            "read",
            ("ClusterRole", "pod-reader"),
            // No namespace on the subject: the binding's own.
            json!([{"kind": "ServiceAccount", "name": "robot"}]),
        )],
        ..Default::default()
    };
    let robot = sa("a", "robot");
    let d = authorize(&p, &robot, &res("list", "", "pods", "", "a"));
    assert_eq!(
        d,
        Decision {
            allowed: true,
            reason: "RBAC: allowed by RoleBinding \"read/a\" of ClusterRole \"pod-reader\" to ServiceAccount \"robot/a\"".into()
        }
    );
    assert!(!authorize(&p, &robot, &res("list", "", "pods", "", "b")).allowed);
    assert!(!authorize(&p, &robot, &res("list", "", "pods", "", "")).allowed);
    // The same account name in another namespace is another account.
    assert!(!authorize(&p, &sa("b", "robot"), &res("list", "", "pods", "", "a")).allowed);
}

#[test]
fn subjects_match_users_groups_and_namespaced_service_accounts() {
    let crb = |name: &str, subject: Value| {
        binding(
            "ClusterRoleBinding",
            None,
            name,
            ("ClusterRole", "pod-reader"),
            json!([subject]),
        )
    };
    let all_pods = res("list", "", "pods", "", "");
    let with = |b: Value| Objects {
        cluster_roles: vec![pod_reader()],
        cluster_role_bindings: vec![b],
        ..Default::default()
    };
    // A ServiceAccount subject of a ClusterRoleBinding needs its namespace.
    let p = with(crb("x", json!({"kind": "ServiceAccount", "name": "robot"})));
    assert!(!authorize(&p, &sa("a", "robot"), &all_pods).allowed);
    let p = with(crb(
        "x",
        json!({"kind": "ServiceAccount", "name": "robot", "namespace": "a"}),
    ));
    let d = authorize(&p, &sa("a", "robot"), &all_pods);
    assert_eq!(
        d.reason,
        "RBAC: allowed by ClusterRoleBinding \"x\" of ClusterRole \"pod-reader\" to ServiceAccount \"robot/a\""
    );
    let p = with(crb(
        "x",
        json!({"kind": "Group", "name": "system:serviceaccounts:a"}),
    ));
    assert!(authorize(&p, &sa("a", "robot"), &all_pods).allowed);
    assert!(!authorize(&p, &sa("b", "robot"), &all_pods).allowed);
    let p = with(crb(
        "x",
        json!({"kind": "User", "name": "system:serviceaccount:a:robot"}),
    ));
    assert!(authorize(&p, &sa("a", "robot"), &all_pods).allowed);
}

#[test]
fn superusers_need_no_binding_and_missing_roles_are_reported() {
    let admin = User::admin();
    assert!(authorize(&Objects::default(), &admin, &path("get", "/x")).allowed);
    let p = Objects {
        role_bindings: vec![binding(
            "RoleBinding",
            Some("a"),
            "b",
            ("Role", "gone"),
            json!([{"kind": "ServiceAccount", "name": "robot"}]),
        )],
        ..Default::default()
    };
    let d = authorize(&p, &sa("a", "robot"), &res("get", "", "pods", "p", "a"));
    assert_eq!(
        d,
        Decision {
            allowed: false,
            reason: "RBAC: role.rbac.authorization.k8s.io \"gone\" not found".into()
        }
    );
}

#[test]
fn aggregated_roles_grant_what_their_selectors_gather() {
    let by_name = |n: &str| {
        bootstrap::objects()
            .into_iter()
            .map(|(_, o)| o)
            .find(|o| name_of(o) == n)
            .unwrap()
    };
    let extra = json!({"metadata": {"name": "istio-view",
                                    "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                       "rules": [{"verbs": ["get"], "apiGroups": ["networking.istio.io"],
                                  "resources": ["virtualservices"]}]});
    let roles: Vec<Value> = bootstrap::objects()
        .into_iter()
        .filter(|(k, _)| *k == CLUSTER_ROLES)
        .map(|(_, o)| o)
        .chain([extra])
        .collect();
    let p = Objects {
        cluster_roles: roles.clone(),
        role_bindings: vec![binding(
            "RoleBinding",
            Some("a"),
            "b",
            ("ClusterRole", "admin"),
            json!([{"kind": "User", "name": "jo"}]),
        )],
        ..Default::default()
    };
    let jo = User {
        name: "jo".into(),
        uid: String::new(),
        groups: vec!["system:authenticated".into()],
    };
    // admin gathers edit, which gathers view, which gathers the new role.
    for (verb, group, resource) in [
        ("get", "networking.istio.io", "virtualservices"),
        ("create", "rbac.authorization.k8s.io", "rolebindings"),
        ("delete", "apps", "deployments"),
        ("get", "", "pods/log"),
    ] {
        assert!(
            authorize(&p, &jo, &res(verb, group, resource, "x", "a")).allowed,
            "{verb} {resource}"
        );
    }
    assert!(!authorize(&p, &jo, &res("create", "", "namespaces", "", "")).allowed);
    let view = aggregated_rules(&roles, &by_name("view"), &mut Vec::new());
    assert!(
        view.iter()
            .any(|r| has(&r.api_groups, "networking.istio.io"))
    );
    assert!(!view.iter().any(|r| r.verbs.iter().any(|v| v == "create")));
    // A cycle of aggregated roles ends.
    let a = json!({"metadata": {"name": "a", "labels": {"x": "b"}},
                   "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "a"}}]}});
    let b = json!({"metadata": {"name": "b", "labels": {"x": "a"}},
                   "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "b"}}]}});
    assert!(aggregated_rules(&[a.clone(), b], &a, &mut Vec::new()).is_empty());
}

#[test]
fn forbidden_answers_read_as_the_api_servers() {
    let robot = sa("ns", "sa");
    let status = |a: &Attributes| forbidden(&robot, a, "").to_status();
    assert_eq!(
        serde_json::to_string(&status(&res("list", "", "pods", "", ""))).unwrap(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource \"pods\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"pods"},"code":403}"#
    );
    let named = status(&res("get", "apps", "deployments/scale", "web", "demo"));
    assert_eq!(
        named["message"],
        "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource \"deployments/scale\" in API group \"apps\" in the namespace \"demo\""
    );
    assert_eq!(
        named["details"],
        json!({"name": "web", "group": "apps", "kind": "deployments"})
    );
    let p = status(&path("get", "/version"));
    assert_eq!(
        p["message"],
        "forbidden: User \"system:serviceaccount:ns:sa\" cannot get path \"/version\""
    );
    assert_eq!(p["details"], json!({}));
    let with_reason = forbidden(
        &robot,
        &path("get", "/x"),
        "RBAC: role.rbac.authorization.k8s.io \"r\" not found",
    );
    assert!(
        with_reason
            .message
            .ends_with("path \"/x\": RBAC: role.rbac.authorization.k8s.io \"r\" not found")
    );
}
