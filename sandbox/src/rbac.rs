//! Role-based access control, decided as Kubernetes' RBAC authorizer decides it
//! (`plugin/pkg/auth/authorizer/rbac/rbac.go`, `pkg/registry/rbac/validation/rule.go`,
//! `pkg/apis/rbac/v1/evaluation_helpers.go`).
//!
//! Pure: the policy objects come through [`Policy`], so the decisions are tested without a
//! server. Members of `system:masters` are allowed before any object is read, as the API
//! server's privileged-group authorizer allows them ahead of RBAC.
//!
//! A ClusterRole with an `aggregationRule` counts the rules of the ClusterRoles its selectors
//! match, computed when read ([`Policy::cluster_role_rules`]), so a new aggregated role grants
//! at once; the aggregation controller (`controllers/aggregation.rs`) writes the same rules
//! into the stored object's `rules`, as the real clusterrole-aggregation controller does.

pub mod bootstrap;
pub mod review;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::cluster::User;
use crate::selector::LabelSelector;
use crate::status::{ApiError, qualified};
use crate::util::name_of;

/// The group whose members may do anything, checked before RBAC.
pub const SUPERUSER_GROUP: &str = "system:masters";

/// Store keys of the RBAC kinds.
pub const ROLES: &str = "roles.rbac.authorization.k8s.io";
/// Store key of RoleBindings.
pub const ROLE_BINDINGS: &str = "rolebindings.rbac.authorization.k8s.io";
/// Store key of ClusterRoles.
pub const CLUSTER_ROLES: &str = "clusterroles.rbac.authorization.k8s.io";
/// Store key of ClusterRoleBindings.
pub const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings.rbac.authorization.k8s.io";

/// What a request asks to do, as the API server's request info names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, ... for resources; the lower-case HTTP method for paths.
    pub verb: String,
    /// The resource or path addressed.
    pub target: Target,
}

/// A resource (in a namespace or at the cluster scope) or a non-resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An API resource.
    Resource {
        /// API group (`""` for the core group).
        group: String,
        /// API version, as the request named it (RBAC does not match on it).
        version: String,
        /// Plural resource name.
        resource: String,
        /// Subresource (`status`, `log`, `scale`, ...) or `""`.
        subresource: String,
        /// Object name, `""` for collections.
        name: String,
        /// Namespace, `""` at the cluster scope.
        namespace: String,
    },
    /// A path outside the resource tree (`/version`, `/api`, `/openapi/v3`, ...).
    NonResource {
        /// The URL path.
        path: String,
    },
}

/// `resource/subresource`, or the resource alone.
fn combined(resource: &str, subresource: &str) -> String {
    if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    }
}

impl Attributes {
    /// The namespace whose RoleBindings count (`""` for cluster-scoped and path requests).
    pub fn namespace(&self) -> &str {
        match &self.target {
            Target::Resource { namespace, .. } => namespace,
            Target::NonResource { .. } => "",
        }
    }
}

/// One `PolicyRule`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    /// Verbs, `*` for all.
    pub verbs: Vec<String>,
    /// API groups, `*` for all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources (`pods`, `pods/log`, `*/scale`, `*`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names the rule is limited to (none: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource paths (`/healthz`, `/apis/*`, `*`).
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn has(list: &[String], wanted: &str) -> bool {
    list.iter().any(|x| x == wanted)
}

impl Rule {
    /// The rules of a Role or ClusterRole object (malformed entries are skipped).
    pub fn all_of(role: &Value) -> Vec<Rule> {
        role["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Rule::deserialize(r).ok())
            .collect()
    }

    fn verb_matches(&self, verb: &str) -> bool {
        has(&self.verbs, "*") || has(&self.verbs, verb)
    }

    fn group_matches(&self, group: &str) -> bool {
        has(&self.api_groups, "*") || has(&self.api_groups, group)
    }

    /// `*`, the exact `resource[/subresource]`, or `*/subresource` for a subresource request.
    fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || r == combined
                || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
        })
    }

    /// No names: every object; otherwise only requests naming one of them (so never a list).
    fn name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || has(&self.resource_names, name)
    }

    /// `*`, the exact path, or a prefix given as `prefix*`.
    fn url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
        })
    }

    /// Whether the rule allows the request.
    pub fn allows(&self, a: &Attributes) -> bool {
        if !self.verb_matches(&a.verb) {
            return false;
        }
        match &a.target {
            Target::Resource {
                group,
                resource,
                subresource,
                name,
                ..
            } => {
                self.group_matches(group)
                    && self.resource_matches(&combined(resource, subresource), subresource)
                    && self.name_matches(name)
            }
            Target::NonResource { path } => self.url_matches(path),
        }
    }
}

/// Where the RBAC objects come from.
pub trait Policy {
    /// Every ClusterRoleBinding.
    fn cluster_role_bindings(&self) -> Vec<Value>;
    /// The RoleBindings of one namespace.
    fn role_bindings(&self, namespace: &str) -> Vec<Value>;
    /// A Role.
    fn role(&self, namespace: &str, name: &str) -> Option<Value>;
    /// Every ClusterRole.
    fn cluster_roles(&self) -> Vec<Value>;

    /// A ClusterRole by name.
    fn cluster_role(&self, name: &str) -> Option<Value> {
        self.cluster_roles()
            .into_iter()
            .find(|r| name_of(r) == name)
    }

    /// The rules a ClusterRole grants: its own, or for an aggregated one those of the roles
    /// its selectors match.
    fn cluster_role_rules(&self, role: &Value) -> Vec<Rule> {
        if role["aggregationRule"].is_object() {
            aggregated_rules(&self.cluster_roles(), role, &mut Vec::new())
        } else {
            Rule::all_of(role)
        }
    }
}

/// The rules of aggregated `role` as the clusterrole-aggregation controller computes them:
/// for each selector in turn, the roles it matches by name (never the role itself), each
/// rule once. Nested aggregated roles count with their own aggregated rules; `seen` stops
/// cycles.
pub fn aggregated_rules(all: &[Value], role: &Value, seen: &mut Vec<String>) -> Vec<Rule> {
    let me = name_of(role).to_string();
    seen.push(me.clone());
    let mut sorted: Vec<&Value> = all.iter().collect();
    sorted.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let mut out: Vec<Rule> = Vec::new();
    let selectors = role["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for sel in selectors.iter().map(LabelSelector::from_object) {
        for other in sorted.iter().filter(|o| name_of(o) != me && sel.matches(o)) {
            let rules = if other["aggregationRule"].is_object() {
                if seen.iter().any(|s| s == name_of(other)) {
                    Rule::all_of(other)
                } else {
                    aggregated_rules(all, other, seen)
                }
            } else {
                Rule::all_of(other)
            };
            for r in rules {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
    }
    out
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Why: the binding that allowed it, or the errors met while resolving roles.
    pub reason: String,
}

/// Whether `user` is a member of the superuser group.
pub fn is_superuser(user: &User) -> bool {
    user.groups.iter().any(|g| g == SUPERUSER_GROUP)
}

/// Decides a request.
pub fn authorize(policy: &impl Policy, user: &User, a: &Attributes) -> Decision {
    if is_superuser(user) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut allowed_by = None;
    let errors = visit_rules(policy, user, a.namespace(), &mut |source, rule| {
        if rule.allows(a) {
            allowed_by = Some(format!("RBAC: allowed by {source}"));
            false
        } else {
            true
        }
    });
    match allowed_by {
        Some(reason) => Decision {
            allowed: true,
            reason,
        },
        None => Decision {
            allowed: false,
            reason: error_reason(&errors),
        },
    }
}

/// Every rule that applies to `user` in `namespace`, and the resolution errors (as a
/// SelfSubjectRulesReview reports them).
pub fn rules_for(policy: &impl Policy, user: &User, namespace: &str) -> (Vec<Rule>, String) {
    let mut rules = Vec::new();
    let errors = visit_rules(policy, user, namespace, &mut |_, rule| {
        rules.push(rule.clone());
        true
    });
    (rules, error_reason(&errors))
}

fn error_reason(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

/// Visits the rules of the ClusterRoleBindings, then the namespace's RoleBindings, whose
/// subjects include `user`, until `visit` returns false; returns the roles that could not be
/// resolved.
fn visit_rules(
    policy: &impl Policy,
    user: &User,
    namespace: &str,
    visit: &mut dyn FnMut(&str, &Rule) -> bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut bindings: Vec<(Value, &str)> = policy
        .cluster_role_bindings()
        .into_iter()
        .map(|b| (b, ""))
        .collect();
    if !namespace.is_empty() {
        bindings.extend(
            policy
                .role_bindings(namespace)
                .into_iter()
                .map(|b| (b, namespace)),
        );
    }
    for (binding, ns) in &bindings {
        let Some(subject) = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| applies_to(user, s, ns))
        else {
            continue;
        };
        let role_ref = &binding["roleRef"];
        let (kind, role_name) = (
            role_ref["kind"].as_str().unwrap_or_default(),
            role_ref["name"].as_str().unwrap_or_default(),
        );
        let rules = match kind {
            "Role" => policy.role(ns, role_name).map(|r| Rule::all_of(&r)),
            "ClusterRole" => policy
                .cluster_role(role_name)
                .map(|r| policy.cluster_role_rules(&r)),
            other => {
                errors.push(format!("unsupported role reference kind: \"{other}\""));
                continue;
            }
        };
        let Some(rules) = rules else {
            errors.push(format!(
                "{}.rbac.authorization.k8s.io \"{role_name}\" not found",
                kind.to_lowercase()
            ));
            continue;
        };
        let source = describe(binding, ns, kind, role_name, subject);
        for rule in &rules {
            if !visit(&source, rule) {
                return errors;
            }
        }
    }
    errors
}

/// Whether a binding's subject names `user`. A ServiceAccount subject without a namespace
/// means the binding's own namespace (none for a ClusterRoleBinding: it then matches nobody).
fn applies_to(user: &User, subject: &Value, binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = account_namespace(subject, binding_ns);
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// A ServiceAccount subject's namespace: its own, else the binding's.
fn account_namespace<'a>(subject: &'a Value, binding_ns: &'a str) -> &'a str {
    match subject["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => ns,
        _ => binding_ns,
    }
}

/// The binding as the real authorizer names it in a reason, e.g. `ClusterRoleBinding "x" of
/// ClusterRole "y" to ServiceAccount "sa/ns"` (name before namespace, as the real one writes).
fn describe(binding: &Value, ns: &str, kind: &str, role: &str, subject: &Value) -> String {
    let subject_kind = subject["kind"].as_str().unwrap_or_default();
    let subject_name = subject["name"].as_str().unwrap_or_default();
    let who = if subject_kind == "ServiceAccount" {
        let sa_ns = account_namespace(subject, ns);
        format!("{subject_kind} \"{subject_name}/{sa_ns}\"")
    } else {
        format!("{subject_kind} \"{subject_name}\"")
    };
    if ns.is_empty() {
        format!(
            "ClusterRoleBinding \"{}\" of {kind} \"{role}\" to {who}",
            name_of(binding)
        )
    } else {
        format!(
            "RoleBinding \"{}/{ns}\" of {kind} \"{role}\" to {who}",
            name_of(binding)
        )
    }
}

/// The 403 the API server answers for a denied request (`responsewriters.Forbidden`).
pub fn forbidden(user: &User, a: &Attributes, reason: &str) -> ApiError {
    let verb = &a.verb;
    let who = &user.name;
    let (msg, resource, group, name) = match &a.target {
        Target::NonResource { path } => (
            format!("User \"{who}\" cannot {verb} path \"{path}\""),
            "",
            "",
            "",
        ),
        Target::Resource {
            group,
            resource,
            subresource,
            name,
            namespace,
            ..
        } => {
            let shown = combined(resource, subresource);
            let scope = if namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace \"{namespace}\"")
            };
            (
                format!(
                    "User \"{who}\" cannot {verb} resource \"{shown}\" in API group \"{group}\" {scope}"
                ),
                resource.as_str(),
                group.as_str(),
                name.as_str(),
            )
        }
    };
    let msg = if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    };
    // apierrors.NewForbidden: the qualified resource (and name) lead the message.
    let message = match (resource.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {msg}"),
        (false, true) => format!("{} is forbidden: {msg}", qualified(group, resource)),
        (false, false) => format!(
            "{} \"{name}\" is forbidden: {msg}",
            qualified(group, resource)
        ),
    };
    let mut details = serde_json::Map::new();
    for (k, v) in [("name", name), ("group", group), ("kind", resource)] {
        if !v.is_empty() {
            details.insert(k.into(), json!(v));
        }
    }
    let mut e = ApiError::forbidden(message);
    e.details = Some(Box::new(Value::Object(details)));
    e
}

/// The policy held in a cluster's store.
pub struct StorePolicy<'a>(pub &'a crate::store::Store);

impl Policy for StorePolicy<'_> {
    fn cluster_role_bindings(&self) -> Vec<Value> {
        self.0.list(CLUSTER_ROLE_BINDINGS, None).0
    }
    fn role_bindings(&self, namespace: &str) -> Vec<Value> {
        self.0.list(ROLE_BINDINGS, Some(namespace)).0
    }
    fn role(&self, namespace: &str, name: &str) -> Option<Value> {
        self.0.get(ROLES, namespace, name)
    }
    fn cluster_roles(&self) -> Vec<Value> {
        self.0.list(CLUSTER_ROLES, None).0
    }
    fn cluster_role(&self, name: &str) -> Option<Value> {
        self.0.get(CLUSTER_ROLES, "", name)
    }
}

#[cfg(test)]
mod tests;
