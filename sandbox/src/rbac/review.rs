//! The authorization reviews (`authorization.k8s.io/v1`): SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview, answered from the
//! authorizer as the API server's review endpoints answer them.

use serde_json::{Map, Value, json};

use super::{Attributes, Decision, Policy, Rule, Target, authorize, rules_for};
use crate::cluster::User;
use crate::status::ApiError;

const GROUP: &str = "authorization.k8s.io";

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// The status of an access review of `review` (its kind and spec) asked by `asker` in
/// `namespace` (the path's, for a LocalSubjectAccessReview).
pub fn access(
    policy: &impl Policy,
    asker: &User,
    review: &Value,
    namespace: Option<&str>,
) -> Result<Value, ApiError> {
    let kind = review["kind"].as_str().unwrap_or("SelfSubjectAccessReview");
    let spec = &review["spec"];
    let invalid = |field: &str, detail: &str| ApiError::invalid(GROUP, kind, "", field, detail);
    let resource = &spec["resourceAttributes"];
    let non_resource = &spec["nonResourceAttributes"];
    let attrs = match (resource.is_object(), non_resource.is_object()) {
        (true, true) => {
            return Err(invalid(
                "spec.nonResourceAttributes",
                "Invalid value: \"object\": cannot be specified in combination with resourceAttributes",
            ));
        }
        (false, false) => {
            return Err(invalid(
                "spec.resourceAttributes",
                "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        (true, false) => Attributes {
            verb: text(resource, "verb"),
            target: Target::Resource {
                group: text(resource, "group"),
                version: text(resource, "version"),
                resource: text(resource, "resource"),
                subresource: text(resource, "subresource"),
                name: text(resource, "name"),
                namespace: text(resource, "namespace"),
            },
        },
        (false, true) => Attributes {
            verb: text(non_resource, "verb"),
            target: Target::NonResource {
                path: text(non_resource, "path"),
            },
        },
    };
    if let Some(ns) = namespace {
        if non_resource.is_object() {
            return Err(invalid(
                "spec.nonResourceAttributes",
                "Invalid value: \"object\": disallowed on this kind of request",
            ));
        }
        if attrs.namespace() != ns {
            return Err(invalid(
                "spec.resourceAttributes.namespace",
                &format!(
                    "Invalid value: \"{}\": must match metadata.namespace",
                    attrs.namespace()
                ),
            ));
        }
    }
    let user = if kind == "SelfSubjectAccessReview" {
        asker.clone()
    } else {
        let user = User {
            name: text(spec, "user"),
            uid: text(spec, "uid"),
            groups: spec["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
        };
        if user.name.is_empty() && user.groups.is_empty() {
            return Err(invalid(
                "spec.user",
                "Invalid value: \"\": at least one of user or group must be specified",
            ));
        }
        user
    };
    let Decision { allowed, reason } = authorize(policy, &user, &attrs);
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    Ok(status)
}

/// The status of a SelfSubjectRulesReview: the rules `user` holds in `spec.namespace`, split
/// into resource and non-resource rules.
pub fn rules(policy: &impl Policy, user: &User, review: &Value) -> Result<Value, ApiError> {
    let ns = review["spec"]["namespace"].as_str().unwrap_or_default();
    if ns.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let (rules, error) = rules_for(policy, user, ns);
    let pick = |r: &Rule, keys: &[(&str, &Vec<String>)]| {
        let mut m = Map::new();
        m.insert("verbs".into(), json!(r.verbs));
        for (k, v) in keys {
            if !v.is_empty() {
                m.insert((*k).into(), json!(v));
            }
        }
        Value::Object(m)
    };
    let resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.resources.is_empty())
        .map(|r| {
            pick(
                r,
                &[
                    ("apiGroups", &r.api_groups),
                    ("resources", &r.resources),
                    ("resourceNames", &r.resource_names),
                ],
            )
        })
        .collect();
    let non_resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.non_resource_urls.is_empty())
        .map(|r| pick(r, &[("nonResourceURLs", &r.non_resource_urls)]))
        .collect();
    let mut status = json!({"resourceRules": resource_rules,
                            "nonResourceRules": non_resource_rules, "incomplete": false});
    if !error.is_empty() {
        status["evaluationError"] = json!(error);
    }
    Ok(status)
}
