//! Resource names as kubectl accepts them (`deploy`, `svc`, `deployments.apps`,
//! `gateways.networking.istio.io`) and manifest kinds, resolved through the cluster's discovery.
//!
//! kube's `Discovery` drops short and singular names, so the catalog is built from the same
//! discovery documents (`/api/v1`, `/apis/<group>/<version>`) read through kube's client.

use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::core::ApiResource;
use meshbook_engine::run::executor::Permanence;
use tokio::sync::RwLock;

use super::request::{ApiFailure, retrying};

/// Why a resource type could not be resolved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    /// Discovery itself failed.
    #[error("cannot read the API resources of context {context:?}")]
    Discovery {
        /// The context.
        context: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
    /// No resource type has this name.
    #[error("the server of context {context:?} doesn't have a resource type {name:?}")]
    UnknownName {
        /// The context.
        context: String,
        /// The name as written.
        name: String,
    },
    /// No resource type serves this kind.
    #[error("no resource of kind {kind:?} in {api_version:?} on the server of context {context:?}")]
    UnknownKind {
        /// The context.
        context: String,
        /// The manifest's apiVersion.
        api_version: String,
        /// The manifest's kind.
        kind: String,
    },
}

impl ResolveError {
    /// Whether trying again can help: discovery may pass later; a name or kind the cluster does
    /// not serve stays unserved (a CRD the same run applies is found by the step that applies it).
    pub(crate) fn permanence(&self) -> Permanence {
        match self {
            ResolveError::Discovery { source, .. } => source.permanence(),
            ResolveError::UnknownName { .. } | ResolveError::UnknownKind { .. } => {
                Permanence::Permanent
            }
        }
    }
}

/// A resolved resource type: how to reach it and whether it lives in namespaces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    /// Group, version, kind and plural.
    pub(crate) resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub(crate) namespaced: bool,
    /// Singular name, for messages (`deployment.apps/web`).
    pub(crate) singular: String,
}

impl Resolved {
    /// kubectl's name for the type in messages: `deployment.apps`, `service`.
    pub(crate) fn display_name(&self) -> String {
        let kind = if self.singular.is_empty() {
            self.resource.kind.to_lowercase()
        } else {
            self.singular.clone()
        };
        if self.resource.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", self.resource.group)
        }
    }

    /// `deployment.apps/web`, as kubectl names an object.
    pub(crate) fn object_name(&self, name: &str) -> String {
        format!("{}/{name}", self.display_name())
    }
}

#[derive(Debug, Clone)]
struct Entry {
    resolved: Resolved,
    short_names: Vec<String>,
    /// Whether this version is its group's preferred one.
    preferred: bool,
}

/// A cluster's catalog of resource types, read on first use and again when a name is missing
/// (new CRDs) or after [`Resolver::invalidate`].
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    catalog: RwLock<Option<Arc<Vec<Entry>>>>,
}

impl Resolver {
    /// Forgets the catalog, so that the next lookup reads discovery again (after CRDs are applied).
    pub(crate) async fn invalidate(&self) {
        *self.catalog.write().await = None;
    }

    async fn catalog(
        &self,
        client: &Client,
        context: &str,
        fresh: bool,
    ) -> Result<Arc<Vec<Entry>>, ResolveError> {
        if !fresh && let Some(c) = self.catalog.read().await.as_ref() {
            return Ok(Arc::clone(c));
        }
        let entries = Arc::new(
            discover(client)
                .await
                .map_err(|e| ResolveError::Discovery {
                    context: context.to_string(),
                    source: e.into(),
                })?,
        );
        *self.catalog.write().await = Some(Arc::clone(&entries));
        Ok(entries)
    }

    /// Resolves a kubectl-style resource name.
    pub(crate) async fn resolve(
        &self,
        client: &Client,
        context: &str,
        name: &str,
    ) -> Result<Resolved, ResolveError> {
        for fresh in [false, true] {
            let catalog = self.catalog(client, context, fresh).await?;
            if let Some(r) = by_name(&catalog, name) {
                return Ok(r);
            }
        }
        Err(ResolveError::UnknownName {
            context: context.to_string(),
            name: name.to_string(),
        })
    }

    /// Resolves a manifest's `apiVersion` and `kind`.
    pub(crate) async fn resolve_kind(
        &self,
        client: &Client,
        context: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Resolved, ResolveError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        for fresh in [false, true] {
            let catalog = self.catalog(client, context, fresh).await?;
            if let Some(e) = catalog.iter().find(|e| {
                let r = &e.resolved.resource;
                r.group == group && r.version == version && r.kind == kind
            }) {
                return Ok(e.resolved.clone());
            }
        }
        Err(ResolveError::UnknownKind {
            context: context.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
    }
}

/// Finds a type by `name[.version][.group]`, preferring the core group, then discovery order,
/// and each group's preferred version.
fn by_name(catalog: &[Entry], name: &str) -> Option<Resolved> {
    let name = name.trim().to_lowercase();
    let (head, rest) = match name.split_once('.') {
        Some((h, r)) => (h, r),
        None => (name.as_str(), ""),
    };
    let named = |e: &Entry| {
        let r = &e.resolved;
        r.resource.plural == head
            || r.singular == head
            || r.resource.kind.to_lowercase() == head
            || e.short_names.iter().any(|s| s == head)
    };
    let in_group = |e: &Entry| {
        let r = &e.resolved.resource;
        rest.is_empty() || r.group == rest || format!("{}.{}", r.version, r.group) == rest
    };
    let mut matches: Vec<&Entry> = catalog.iter().filter(|e| named(e) && in_group(e)).collect();
    // A version given explicitly wins over the preferred one.
    matches.sort_by_key(|e| {
        let explicit = format!(
            "{}.{}",
            e.resolved.resource.version, e.resolved.resource.group
        ) == rest;
        (!explicit, !e.preferred)
    });
    matches.first().map(|e| e.resolved.clone())
}

fn entries(list: &APIResourceList, group: &str, preferred: bool) -> Vec<Entry> {
    let version = match list.group_version.rsplit_once('/') {
        Some((_, v)) => v,
        None => list.group_version.as_str(),
    };
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| Entry {
            resolved: Resolved {
                resource: ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    api_version: list.group_version.clone(),
                    kind: r.kind.clone(),
                    plural: r.name.clone(),
                },
                namespaced: r.namespaced,
                singular: if r.singular_name.is_empty() {
                    r.kind.to_lowercase()
                } else {
                    r.singular_name.clone()
                },
            },
            short_names: r.short_names.clone().unwrap_or_default(),
            preferred,
        })
        .collect()
}

async fn discover(client: &Client) -> Result<Vec<Entry>, kube::Error> {
    let mut out = Vec::new();
    let core = retrying(|| client.list_core_api_versions()).await?;
    for (i, v) in core.versions.iter().enumerate() {
        let list = retrying(|| client.list_core_api_resources(v)).await?;
        out.extend(entries(&list, "", i == 0));
    }
    let groups = retrying(|| client.list_api_groups()).await?;
    let mut wanted = Vec::new();
    for g in &groups.groups {
        let preferred = g
            .preferred_version
            .as_ref()
            .map(|p| p.group_version.clone())
            .or_else(|| g.versions.first().map(|v| v.group_version.clone()))
            .unwrap_or_default();
        for v in &g.versions {
            wanted.push((
                g.name.clone(),
                v.group_version.clone(),
                v.group_version == preferred,
            ));
        }
    }
    let lists = join_all(wanted.iter().map(|(_, gv, _)| {
        let gv = gv.clone();
        async move { retrying(|| client.list_api_group_resources(&gv)).await }
    }))
    .await;
    for ((group, _, preferred), list) in wanted.iter().zip(lists) {
        // One unavailable aggregated API must not hide every other type (kubectl only warns).
        if let Ok(list) = list {
            out.extend(entries(&list, group, *preferred));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    fn list(gv: &str, resources: &[(&str, &str, &str, &[&str])]) -> APIResourceList {
        APIResourceList {
            group_version: gv.to_string(),
            resources: resources
                .iter()
                .map(|(name, singular, kind, short)| APIResource {
                    name: name.to_string(),
                    singular_name: singular.to_string(),
                    kind: kind.to_string(),
                    namespaced: true,
                    short_names: Some(short.iter().map(|s| s.to_string()).collect()),
                    verbs: vec!["get".into()],
                    ..APIResource::default()
                })
                .collect(),
        }
    }

    fn catalog() -> Vec<Entry> {
        let mut c = entries(
            &list(
                "v1",
                &[
                    ("services", "service", "Service", &["svc"]),
                    ("pods", "pod", "Pod", &["po"]),
                ],
            ),
            "",
            true,
        );
        c.extend(entries(
            &list(
                "apps/v1",
                &[("deployments", "deployment", "Deployment", &["deploy"])],
            ),
            "apps",
            true,
        ));
        c.extend(entries(
            &list(
                "networking.istio.io/v1",
                &[("gateways", "gateway", "Gateway", &["gw"])],
            ),
            "networking.istio.io",
            true,
        ));
        c.extend(entries(
            &list(
                "networking.istio.io/v1beta1",
                &[("gateways", "gateway", "Gateway", &["gw"])],
            ),
            "networking.istio.io",
            false,
        ));
        c.extend(entries(
            &list(
                "gateway.networking.k8s.io/v1",
                &[("gateways", "gateway", "Gateway", &[])],
            ),
            "gateway.networking.k8s.io",
            true,
        ));
        c
    }

    fn gv(name: &str) -> Option<String> {
        by_name(&catalog(), name).map(|r| r.resource.api_version)
    }

    #[test]
    fn kubectl_names_resolve() {
        assert_eq!(gv("svc").as_deref(), Some("v1"));
        assert_eq!(gv("Service").as_deref(), Some("v1"));
        assert_eq!(gv("deploy").as_deref(), Some("apps/v1"));
        assert_eq!(gv("deployments.apps").as_deref(), Some("apps/v1"));
        assert_eq!(gv("deployment.v1.apps").as_deref(), Some("apps/v1"));
        assert_eq!(
            gv("gateways.networking.istio.io").as_deref(),
            Some("networking.istio.io/v1")
        );
        assert_eq!(
            gv("gateways.v1beta1.networking.istio.io").as_deref(),
            Some("networking.istio.io/v1beta1")
        );
        assert_eq!(
            gv("gateways.gateway.networking.k8s.io").as_deref(),
            Some("gateway.networking.k8s.io/v1")
        );
        assert_eq!(gv("deployments.extensions"), None);
        assert_eq!(gv("nope"), None);
    }

    #[test]
    fn display_names_follow_kubectl() {
        let d = by_name(&catalog(), "deploy").unwrap();
        assert_eq!(d.object_name("web"), "deployment.apps/web");
        let s = by_name(&catalog(), "svc").unwrap();
        assert_eq!(s.object_name("web"), "service/web");
    }
}
