//! Resource verbs: get, list, create, update, patch (all formats), delete, deletecollection.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::admission::admit;
use crate::cluster::Cluster;
use crate::fields::{self, Findings, Schema, Validation};
use crate::gc::{self, Propagation};
use crate::http::Query;
use crate::patch::{json_patch, merge_patch, strategic_merge};
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::WriteError;
use crate::strict;
use crate::util::{name_of, obj_mut, random_suffix, set_at, str_at, uid_of};
use crate::values;

/// One resource request after routing.
pub struct Req {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// The addressed type.
    pub rt: ResourceType,
    /// Namespace from the path.
    pub ns: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource from the path.
    pub sub: Option<String>,
    /// Query parameters.
    pub query: Query,
    /// Request `Content-Type`.
    pub content_type: String,
    /// Request body.
    pub body: Bytes,
    /// Request `Accept` header.
    pub accept: String,
    /// Who sent the request.
    pub user: crate::cluster::User,
    /// The client's `User-Agent`.
    pub agent: String,
    /// Warnings for the client (`Warning` headers), such as unknown fields.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl Req {
    /// Whether the client asked for a Table and, if so, for full objects in its rows.
    pub fn table(&self) -> Option<bool> {
        crate::table::wanted(&self.accept)
            .then(|| self.query.get("includeObject") == Some("Object"))
    }

    fn key(&self) -> String {
        self.rt.key()
    }
    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
    fn dry_run(&self) -> bool {
        self.query.get("dryRun") == Some("All")
    }
    /// The field manager of a write: `fieldManager`, else the client's name from its
    /// User-Agent, as the API server derives it.
    fn manager(&self) -> String {
        match self.query.get("fieldManager").filter(|m| !m.is_empty()) {
            Some(m) => m.to_string(),
            None => self
                .agent
                .split('/')
                .next()
                .filter(|a| !a.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        }
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.rt.group, &self.rt.plural, self.name())
    }

    fn warn(&self, messages: impl IntoIterator<Item = String>) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(messages);
    }

    /// Runs `f` with the schema of the addressed type: the built-in definition of the
    /// cluster's Kubernetes minor, or the CRD's structural schema. `None` when the type has
    /// none (a CRD without a schema, or one that keeps unknown fields).
    fn with_schema<T>(&self, f: impl FnOnce(&Schema) -> T) -> Option<T> {
        let defs = crate::schemas::builtin(self.cluster.minor());
        let lookup = |n: &str| defs.get(n);
        if self.rt.builtin {
            let root =
                defs.get(defs.of_kind(&self.rt.group, &self.rt.version, &self.rt.kind)?)?;
            return Some(f(&Schema {
                root,
                lookup: &lookup,
            }));
        }
        let crd = self.cluster.store.get(
            "customresourcedefinitions.apiextensions.k8s.io",
            "",
            &format!("{}.{}", self.rt.plural, self.rt.group),
        )?;
        if crd["spec"]["preserveUnknownFields"] == true {
            return None;
        }
        let root = crate::schemas::custom_schema(&crd, &self.rt)?;
        Some(f(&Schema {
            root: &root,
            lookup: &lookup,
        }))
    }

    /// Reports what strict decoding found as the request's `fieldValidation` asks: `Strict`
    /// fails with `error(message)`, `Warn` (the default) adds a warning per finding, `Ignore`
    /// says nothing.
    fn report(
        &self,
        how: Validation,
        found: Findings,
        error: impl FnOnce(String) -> ApiError,
    ) -> Result<(), ApiError> {
        if found.is_empty() {
            return Ok(());
        }
        match how {
            Validation::Strict => Err(error(found.message())),
            Validation::Warn => {
                self.warn(found.warnings());
                Ok(())
            }
            Validation::Ignore => Ok(()),
        }
    }

    /// Checks a body decoded as a whole object (create, update): drops the fields its type
    /// does not declare and reports them with the body's repeated fields, in the order the
    /// API server's decoder meets them (document order for JSON; for YAML, the repeated keys
    /// first, then the unknown fields of the converted, key-sorted document).
    fn check_decoded(&self, body: &mut Body) -> Result<(), ApiError> {
        let how = Validation::parse(self.query.get("fieldValidation"))?;
        let kind = self.rt.kind.clone();
        let version = self.rt.version.clone();
        let failed = |m: String| {
            ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {m}"
            ))
        };
        if let Some(e) = self.decoding_error(&body.value) {
            return Err(failed(e));
        }
        let mut unknown = match self.sub.as_deref() {
            Some("scale") => Vec::new(),
            _ => self
                .with_schema(|s| s.prune(&mut body.value))
                .unwrap_or_default(),
        };
        let found = match &body.keys {
            Some(keys) => Findings {
                yaml: Vec::new(),
                rest: strict::interleave(keys, &unknown),
            },
            None => {
                strict::sort_paths(&mut unknown);
                Findings {
                    yaml: body.yaml.clone(),
                    ..Findings::unknown(&unknown)
                }
            }
        };
        self.report(how, found, failed)
    }

    /// The Go decoding error a built-in kind's body meets (a value of the wrong type).
    fn decoding_error(&self, obj: &Value) -> Option<String> {
        if !self.rt.builtin || self.sub.as_deref() == Some("scale") {
            return None;
        }
        self.with_schema(|s| values::decoding_error(s, &self.rt.kind, obj))
            .flatten()
    }

    /// A custom resource's values against its CRD's structural schema: 422 when any break it.
    fn check_values(&self, obj: &Value) -> Result<(), ApiError> {
        if self.rt.builtin {
            return Ok(());
        }
        let errors = self
            .with_schema(|s| values::validate(s, obj))
            .unwrap_or_default();
        if errors.is_empty() {
            return Ok(());
        }
        Err(values::invalid(
            &self.rt.group,
            &self.rt.kind,
            name_of(obj),
            &errors,
        ))
    }
}

/// A decoded request body and what strict decoding needs to know of its text.
struct Body {
    value: Value,
    /// Every key of a JSON body, in document order (`None` for YAML and protobuf).
    keys: Option<Vec<strict::Key>>,
    /// The repeated keys of a YAML body.
    yaml: Vec<String>,
}

/// A handler result: HTTP code and body.
pub type Reply = Result<(u16, Value), ApiError>;

fn decode_body(r: &Req) -> Result<Value, ApiError> {
    decode(r).map(|b| b.value)
}

/// Decodes a request body by its content type: protobuf, JSON, or YAML (also the fallback
/// for a body that is not JSON).
fn decode(r: &Req) -> Result<Body, ApiError> {
    if r.content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        return Ok(Body {
            value: crate::protobuf::decode(&r.body)?,
            keys: None,
            yaml: Vec::new(),
        });
    }
    if !r.content_type.contains("yaml")
        && let Ok((value, keys)) = strict::decode_json(&r.body)
    {
        return Ok(Body {
            value,
            keys: Some(keys),
            yaml: Vec::new(),
        });
    }
    let value = serde_yaml::from_slice::<Value>(&r.body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    Ok(Body {
        value,
        keys: None,
        yaml: strict::yaml_duplicates(&String::from_utf8_lossy(&r.body)),
    })
}

fn check_namespace(r: &Req) -> Result<(), ApiError> {
    if !r.rt.namespaced {
        return Ok(());
    }
    match r.cluster.store.get("namespaces", "", r.ns()) {
        None => Err(ApiError::not_found("", "namespaces", r.ns())),
        Some(ns) if ns["metadata"]["deletionTimestamp"].is_string() => {
            Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                crate::status::qualified(&r.rt.group, &r.rt.plural),
                r.name.as_deref().unwrap_or_default(),
                r.ns()
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Forces identity fields of a request body to match the path.
fn prepare(r: &Req, obj: &mut Value, allow_generate: bool) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    if let Some(kind) = obj["kind"].as_str()
        && !kind.is_empty()
        && kind != r.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            r.rt.kind
        )));
    }
    obj["apiVersion"] = json!(r.rt.api_version());
    obj["kind"] = json!(r.rt.kind);
    let meta = obj_mut(obj, "metadata");
    if r.rt.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != r.ns() => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(r.ns()));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if allow_generate && !prefix.is_empty() => {
                let generated = format!("{prefix}{}", random_suffix(5));
                meta.insert("name".into(), json!(generated));
            }
            _ => {
                return Err(ApiError::invalid(
                    &r.rt.group,
                    &r.rt.kind,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
        }
    }
    if let Some(path_name) = &r.name
        && name_of(obj) != path_name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({path_name})",
            name_of(obj)
        )));
    }
    Ok(())
}

/// GET of one object or subresource.
pub fn get(r: &Req) -> Reply {
    let obj = r
        .cluster
        .store
        .get(&r.key(), r.ns(), r.name())
        .ok_or_else(|| r.not_found())?;
    match r.sub.as_deref() {
        None | Some("status") => Ok((200, obj)),
        Some("scale") if r.rt.scale.is_some() => Ok((200, scale_of(&r.rt, &obj))),
        _ => Err(ApiError::no_route()),
    }
}

/// Objects of a request's type in scope that match the selectors.
pub fn select(r: &Req) -> Result<(Vec<Value>, u64), ApiError> {
    let labels = LabelSelector::parse(r.query.get("labelSelector").unwrap_or_default())?;
    let fields =
        FieldSelector::parse_for(&r.rt.kind, r.query.get("fieldSelector").unwrap_or_default())?;
    let (items, rv) = r.cluster.store.list(&r.key(), r.ns.as_deref());
    Ok((
        items
            .into_iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .collect(),
        rv,
    ))
}

/// LIST of a collection, a page at a time when the client gives `limit` (then `continue`
/// names where the next page starts, as the API server's continue tokens do).
pub fn list(r: &Req) -> Reply {
    let (mut items, rv) = select(r)?;
    let key = |o: &Value| format!("{}/{}", crate::util::namespace_of(o), name_of(o));
    if let Some(token) = r.query.get("continue").filter(|t| !t.is_empty()) {
        let bad = || ApiError::bad_request("continue key is not valid: the token is malformed");
        let doc: Value = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, token)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad)?;
        let (Some(from_rv), Some(start)) = (doc["rv"].as_u64(), doc["start"].as_str()) else {
            return Err(bad());
        };
        if from_rv < r.cluster.store.floor() {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        }
        items.retain(|o| key(o).as_str() > start);
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    let limit = match r.query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    if limit > 0 && items.len() > limit {
        let rest = items.split_off(limit);
        let last = items.last().map(key).unwrap_or_default();
        let token = json!({"rv": rv, "start": last}).to_string();
        meta["continue"] = json!(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            token
        ));
        meta["remainingItemCount"] = json!(rest.len());
    }
    Ok((
        200,
        json!({"kind": format!("{}List", r.rt.kind), "apiVersion": r.rt.api_version(),
               "metadata": meta, "items": items}),
    ))
}

/// POST of a new object.
pub fn create(r: &Req) -> Reply {
    if r.rt.kind == "ServiceAccount" && r.sub.as_deref() == Some("token") {
        let sa = r
            .cluster
            .store
            .get(&r.key(), r.ns(), r.name())
            .ok_or_else(|| r.not_found())?;
        let request = decode_body(r).unwrap_or(Value::Null);
        return Ok((201, token_request(&r.cluster, &sa, &request)));
    }
    if !r.rt.serves("get") {
        return review(r);
    }
    if r.sub.is_some() || r.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let mut body = decode(r)?;
    r.check_decoded(&mut body)?;
    create_object(r, &mut body.value, None)
}

/// Answers a review (access reviews, SelfSubjectRulesReview, SelfSubjectReview): computed
/// from the authorizer and the caller, never stored. A body that cannot be decoded gets the
/// 400 or 415 a real server answers, never a guessed answer.
fn review(r: &Req) -> Reply {
    let mut obj = decode_body(r)?;
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    obj["apiVersion"] = json!(r.rt.api_version());
    obj["kind"] = json!(r.rt.kind);
    let policy = crate::rbac::StorePolicy(&r.cluster.store);
    let status = match r.rt.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" => {
            crate::rbac::review::access(&policy, &r.user, &obj, None)?
        }
        "LocalSubjectAccessReview" => {
            let ns = r.ns();
            let given = obj["metadata"]["namespace"].as_str().unwrap_or(ns);
            if given != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            let status = crate::rbac::review::access(&policy, &r.user, &obj, Some(ns))?;
            obj["metadata"]["namespace"] = json!(ns);
            status
        }
        "SelfSubjectRulesReview" => crate::rbac::review::rules(&policy, &r.user, &obj)?,
        _ => {
            let mut info = json!({"username": r.user.name, "groups": r.user.groups});
            if !r.user.uid.is_empty() {
                info["uid"] = json!(r.user.uid);
            }
            json!({"userInfo": info})
        }
    };
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    obj["status"] = status;
    Ok((201, obj))
}

/// The TokenRequest answer for a service account: a bound token (10 minutes to 48 hours).
fn token_request(cluster: &Cluster, sa: &Value, request: &Value) -> Value {
    let ns = crate::util::namespace_of(sa);
    let name = name_of(sa);
    let seconds = request["spec"]["expirationSeconds"]
        .as_u64()
        .unwrap_or(3600)
        .clamp(600, 48 * 3600);
    let (token, exp) = cluster.minter.bound(ns, name, seconds);
    let audiences = match &request["spec"]["audiences"] {
        Value::Array(a) if !a.is_empty() => Value::Array(a.clone()),
        _ => json!(["https://kubernetes.default.svc.cluster.local"]),
    };
    json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
           "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": null},
           "status": {"token": token, "expirationTimestamp": crate::util::format_rfc3339(exp)}})
}

/// Creates `obj`; `applied` is the configuration when the create comes from server-side apply.
fn create_object(r: &Req, obj: &mut Value, applied: Option<&Value>) -> Reply {
    prepare(r, obj, true)?;
    crate::version::convert::to_storage(&r.rt, obj);
    check_namespace(r)?;
    if r.rt.status_sub
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(k);
        }
    }
    r.check_values(obj)?;
    admit(&r.cluster, &r.rt, obj, None)?;
    match applied {
        Some(applied) => {
            let manager = r.query.get("fieldManager").unwrap_or_default();
            crate::ssa::on_create(obj, applied, manager, &r.rt.api_version());
        }
        None => crate::ssa::on_update(None, obj, &r.manager(), &r.rt.api_version()),
    }
    let mut created = r
        .cluster
        .store
        .create(&r.key(), obj.clone(), r.dry_run())
        .map_err(|_| ApiError::already_exists(&r.rt.group, &r.rt.plural, name_of(obj)))?;
    if r.dry_run()
        && let Some(m) = created["metadata"].as_object_mut()
    {
        // Nothing was stored, so there is no version to report.
        m.remove("resourceVersion");
    }
    Ok((201, created))
}

/// Runs `compute` against the current object and stores its result, retrying when another
/// writer got in between (unless the caller pinned a resourceVersion).
fn write(r: &Req, compute: impl Fn(&Value) -> Result<Value, ApiError>) -> Result<Value, ApiError> {
    let key = r.key();
    for _ in 0..16 {
        let cur = r
            .cluster
            .store
            .get(&key, r.ns(), r.name())
            .ok_or_else(|| r.not_found())?;
        let cur_rv = str_at(&cur, "metadata.resourceVersion")
            .unwrap_or_default()
            .to_string();
        let mut new = compute(&cur)?;
        r.check_values(&new)?;
        let asked = str_at(&new, "metadata.resourceVersion")
            .unwrap_or_default()
            .to_string();
        let retryable = asked.is_empty() || asked == cur_rv;
        obj_mut(&mut new, "metadata").insert(
            "resourceVersion".into(),
            json!(if asked.is_empty() { cur_rv } else { asked }),
        );
        admit(&r.cluster, &r.rt, &mut new, Some(&cur))?;
        match r
            .cluster
            .store
            .modify::<()>(&key, r.ns(), r.name(), r.dry_run(), |_| Ok(new))
        {
            Ok((obj, _)) => {
                if !r.dry_run() {
                    gc::finish_if_released(&r.cluster, &key, &obj);
                }
                return Ok(obj);
            }
            Err(WriteError::Conflict) if retryable => continue,
            Err(WriteError::NotFound) => return Err(r.not_found()),
            Err(_) => return Err(ApiError::conflict(&r.rt.group, &r.rt.plural, r.name())),
        }
    }
    Err(ApiError::conflict(&r.rt.group, &r.rt.plural, r.name()))
}

/// Combines a computed object with the current one according to the addressed subresource.
fn merge_sub(r: &Req, cur: &Value, mut new: Value) -> Result<Value, ApiError> {
    match r.sub.as_deref() {
        Some("status") => {
            let mut out = cur.clone();
            out["status"] = new["status"].clone();
            out["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"].clone();
            Ok(out)
        }
        Some("scale") if r.rt.scale.is_some() => {
            let replicas = new["spec"]["replicas"].as_i64().unwrap_or(0);
            let mut out = cur.clone();
            let path =
                r.rt.scale
                    .as_ref()
                    .map_or(".spec.replicas", |s| s.spec_replicas.as_str());
            let segs: Vec<&str> = path.trim_start_matches('.').split('.').collect();
            set_at(&mut out, &segs, json!(replicas));
            set_at(
                &mut out,
                &["metadata", "resourceVersion"],
                new["metadata"]["resourceVersion"].clone(),
            );
            Ok(out)
        }
        Some(_) => Err(ApiError::no_route()),
        None => {
            prepare(r, &mut new, false)?;
            crate::version::convert::to_storage(&r.rt, &mut new);
            if r.rt.status_sub {
                match cur.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            // Server-owned metadata is not the client's to change.
            match cur["metadata"].get("managedFields") {
                Some(v) => new["metadata"]["managedFields"] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove("managedFields");
                    }
                }
            }
            if !is_apply(r) {
                crate::ssa::on_update(Some(cur), &mut new, &r.manager(), &r.rt.api_version());
            }
            Ok(new)
        }
    }
}

fn respond(r: &Req, obj: Value) -> Value {
    if r.sub.as_deref() == Some("scale") {
        scale_of(&r.rt, &obj)
    } else {
        obj
    }
}

fn is_apply(r: &Req) -> bool {
    r.content_type.starts_with("application/apply-patch")
}

/// PUT of a whole object or subresource.
pub fn update(r: &Req) -> Reply {
    let mut body = decode(r)?;
    r.check_decoded(&mut body)?;
    if r.sub.as_deref() == Some("scale") && r.rt.scale.is_none() {
        return Err(ApiError::no_route());
    }
    let obj = write(r, |cur| merge_sub(r, cur, body.value.clone()))?;
    Ok((200, respond(r, obj)))
}

/// PATCH in any supported format, including server-side apply.
pub fn patch(r: &Req) -> Reply {
    let ct = r
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if ct == "application/apply-patch+yaml" {
        crate::version::check_server_side_apply(r.cluster.version)?;
        return apply(r);
    }
    let (doc, keys) = strict::decode_json(&r.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request was in an unknown format: {e}"
        ))
    })?;
    let how = Validation::parse(r.query.get("fieldValidation"))?;
    let of_patch = patch_findings(&ct, &keys);
    // What the last attempt found (a retried write recomputes it).
    let found = std::sync::Mutex::new(Findings::default());
    let obj = write(r, |cur| {
        let base = if r.sub.as_deref() == Some("scale") {
            scale_of(&r.rt, cur)
        } else {
            crate::version::convert::to_served(&r.rt, cur.clone())
        };
        let patched = match ct.as_str() {
            "application/merge-patch+json" => merge_patch(&base, &doc),
            "application/json-patch+json" => json_patch(&base, &doc).map_err(|e| {
                ApiError::invalid(&r.rt.group, &r.rt.kind, r.name(), "patch", &e.to_string())
            })?,
            "application/strategic-merge-patch+json" => {
                if r.rt.group.contains('.') && !r.rt.group.ends_with(".k8s.io") {
                    return Err(ApiError::unsupported_media(
                        "strategic merge patch is not supported for custom resources; use a merge or JSON patch",
                    ));
                }
                strategic_merge(&base, &doc).map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            other => {
                return Err(ApiError::unsupported_media(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other})"
                )));
            }
        };
        let mut patched = patched;
        if str_at(&patched, "metadata.resourceVersion") == str_at(&base, "metadata.resourceVersion")
        {
            patched["metadata"]["resourceVersion"] =
                json!(str_at(cur, "metadata.resourceVersion").unwrap_or_default());
        }
        let before = patched.to_string();
        if let Some(e) = r.decoding_error(&patched) {
            // Decoding the patched object failed: the API server reports it about the patch.
            let detail = format!("Invalid value: {before:?}: {e}");
            return Err(ApiError::invalid("", "", "", "patch", &detail));
        }
        let mut unknown = match r.sub.as_deref() {
            Some("scale") => Vec::new(),
            _ => r.with_schema(|s| s.prune(&mut patched)).unwrap_or_default(),
        };
        // The patched object is re-encoded with sorted keys before the API server decodes
        // it, so its unknown fields follow the patch's own findings in key order.
        strict::sort_paths(&mut unknown);
        let mut findings = of_patch.clone();
        findings
            .rest
            .extend(unknown.iter().map(|p| fields::warning(p)));
        if how == Validation::Strict && !findings.is_empty() {
            // As the API server words it: an Invalid error about the patch, with no kind.
            return Err(ApiError::invalid(
                "",
                "",
                "",
                "patch",
                &format!("Invalid value: {before:?}: {}", findings.message()),
            ));
        }
        *found.lock().unwrap_or_else(|e| e.into_inner()) = findings;
        merge_sub(r, cur, patched)
    })?;
    let found = std::mem::take(&mut *found.lock().unwrap_or_else(|e| e.into_inner()));
    r.report(how, found, ApiError::bad_request)?;
    Ok((200, respond(r, obj)))
}

/// What strict decoding finds in a patch body itself: the repeated fields of a merge or
/// strategic merge patch; for a JSON patch, the operations' unknown and repeated fields
/// (`json patch unknown field "[0].foo"`), as the API server decodes operations into a type
/// with `op`, `path`, `from` and `value` only.
fn patch_findings(content_type: &str, keys: &[strict::Key]) -> Findings {
    let rest = if content_type == "application/json-patch+json" {
        keys.iter()
            .filter_map(|k| {
                let (op, field) = k.path.split_once("].")?;
                if field.contains(['.', '[']) || !op.starts_with('[') {
                    return None;
                }
                if !matches!(field, "op" | "path" | "from" | "value") {
                    Some(format!("json patch {}", fields::warning(&k.path)))
                } else if k.duplicate {
                    Some(format!("json patch {}", strict::duplicate(&k.path)))
                } else {
                    None
                }
            })
            .collect()
    } else {
        strict::duplicates(keys).map(strict::duplicate).collect()
    };
    Findings {
        yaml: Vec::new(),
        rest,
    }
}

/// Server-side apply: creates the object if missing (201), otherwise merges the applied
/// configuration into it (fields the manager stopped applying are kept; see docs/sandbox.md).
fn apply(r: &Req) -> Reply {
    let text = std::str::from_utf8(&r.body)
        .map_err(|_| ApiError::bad_request("apply body is not UTF-8"))?;
    let applied: Value = serde_yaml::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() || !applied["metadata"].is_object() {
        return Err(ApiError::bad_request(
            "an applied configuration is an object with metadata",
        ));
    }
    if r.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PATCH with apply requires a fieldManager",
        ));
    }
    if r.sub.is_some() && r.sub.as_deref() != Some("status") {
        return Err(ApiError::no_route());
    }
    // An applied configuration is read as YAML (JSON included), so repeated keys are
    // reported by line; a `Strict` request fails with the YAML decoder's error.
    let lines = strict::yaml_duplicates(text);
    let message = format!(
        "error strict decoding YAML: error converting YAML to JSON: {}",
        strict::yaml_error(&lines)
    );
    let repeated = Findings {
        yaml: lines,
        rest: Vec::new(),
    };
    let how = Validation::parse(r.query.get("fieldValidation"))?;
    r.report(how, repeated, |_| ApiError::bad_request(message))?;
    let mut applied = applied;
    let found = r.with_schema(|s| s.prune(&mut applied)).unwrap_or_default();
    // A built-in type's apply converts to its typed schema, which has no place for an
    // unknown field whatever `fieldValidation` says (a custom resource's is pruned), nor for
    // a number that is not one.
    if r.rt.builtin {
        let typed = |errors: Vec<String>| {
            let ns = r.ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
            format!(
                "failed to create typed patch object ({ns}{}; {}, Kind={}): {}",
                r.name(),
                r.rt.api_version(),
                r.rt.kind,
                match errors.as_slice() {
                    [one] => one.clone(),
                    many => format!("errors:\n  {}", many.join("\n  ")),
                }
            )
        };
        if !found.is_empty() {
            let errors = found
                .iter()
                .map(|p| format!(".{p}: field not declared in schema"))
                .collect();
            return Err(ApiError::bad_request(typed(errors)));
        }
        let errors = r
            .with_schema(|s| values::apply_type_errors(s, &applied))
            .unwrap_or_default();
        if !errors.is_empty() {
            // Not a status error in the API server: it answers 500 with the message as is.
            return Err(ApiError::internal(typed(errors)));
        }
    }
    let applied = applied;
    for _ in 0..4 {
        if r.cluster.store.get(&r.key(), r.ns(), r.name()).is_none() {
            if r.sub.is_some() {
                return Err(r.not_found());
            }
            let mut obj = applied.clone();
            match create_object(r, &mut obj, Some(&applied)) {
                Err(e) if e.code == 409 => continue,
                other => return other,
            }
        }
        let res = write(r, |cur| {
            let view = crate::version::convert::to_served(&r.rt, cur.clone());
            let mut merged = strategic_merge(&view, &applied)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let rv = json!(
                str_at(&applied, "metadata.resourceVersion").unwrap_or_else(|| str_at(
                    cur,
                    "metadata.resourceVersion"
                )
                .unwrap_or_default())
            );
            set_at(&mut merged, &["metadata", "resourceVersion"], rv);
            let mut out = merge_sub(r, cur, merged)?;
            if r.sub.is_none() {
                let manager = r.query.get("fieldManager").unwrap_or_default();
                let force = r.query.flag("force");
                crate::ssa::on_apply(cur, &mut out, &applied, manager, &r.rt.api_version(), force)?;
            }
            Ok(out)
        });
        match res {
            Err(e) if e.code == 404 => continue,
            other => return other.map(|o| (200, o)),
        }
    }
    Err(ApiError::conflict(&r.rt.group, &r.rt.plural, r.name()))
}

fn delete_options(r: &Req) -> (Propagation, bool) {
    let opts: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let policy = opts["propagationPolicy"]
        .as_str()
        .map(str::to_string)
        .or_else(|| r.query.get("propagationPolicy").map(str::to_string));
    let dry = r.dry_run()
        || opts["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    (
        Propagation::parse(policy.as_deref(), opts["orphanDependents"].as_bool()),
        dry,
    )
}

/// DELETE of one object.
pub fn delete(r: &Req) -> Reply {
    if r.sub.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let (how, dry) = delete_options(r);
    let cur = r
        .cluster
        .store
        .get(&r.key(), r.ns(), r.name())
        .ok_or_else(|| r.not_found())?;
    check_preconditions(r, &cur)?;
    if dry {
        return Ok((200, cur));
    }
    match gc::delete(&r.cluster, &r.key(), r.ns(), r.name(), how) {
        Some(marked) => Ok((200, marked)),
        // Some kinds answer with the deleted object, as their API server storage does.
        None if r.rt.delete_returns_object => Ok((200, cur)),
        None => Ok((
            200,
            status::success(&r.rt.group, &r.rt.plural, r.name(), uid_of(&cur)),
        )),
    }
}

/// DeleteOptions `preconditions`: a uid or resourceVersion that no longer matches is a 409.
fn check_preconditions(r: &Req, cur: &Value) -> Result<(), ApiError> {
    let opts: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let pre = &opts["preconditions"];
    for (field, have) in [
        ("UID", uid_of(cur)),
        (
            "ResourceVersion",
            str_at(cur, "metadata.resourceVersion").unwrap_or_default(),
        ),
    ] {
        let key = if field == "UID" {
            "uid"
        } else {
            "resourceVersion"
        };
        if let Some(want) = pre[key].as_str()
            && want != have
        {
            let mut e = ApiError::conflict(&r.rt.group, &r.rt.plural, r.name());
            e.message = format!(
                "Operation cannot be fulfilled on {} \"{}\": Precondition failed: {field} in precondition: {want}, {field} in object meta: {have}",
                crate::status::qualified(&r.rt.group, &r.rt.plural),
                r.name()
            );
            return Err(e);
        }
    }
    Ok(())
}

/// DELETE of a collection (with selectors).
pub fn delete_collection(r: &Req) -> Reply {
    let (how, dry) = delete_options(r);
    let (items, rv) = select(r)?;
    if !dry {
        for o in &items {
            gc::delete(
                &r.cluster,
                &r.key(),
                crate::util::namespace_of(o),
                name_of(o),
                how,
            );
        }
    }
    Ok((
        200,
        json!({"kind": format!("{}List", r.rt.kind), "apiVersion": r.rt.api_version(),
               "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

/// The `autoscaling/v1` Scale view of an object, read where its type keeps replicas and
/// selector (for custom resources, the CRD's scale paths).
pub fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let at = |path: &str| {
        let segs: Vec<&str> = path.trim_start_matches('.').split('.').collect();
        segs.iter().try_fold(obj, |v, s| v.get(*s)).cloned()
    };
    let paths = rt.scale.clone().unwrap_or_default();
    let selector = match &paths.label_selector {
        Some(p) => at(p)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        None => match &obj["spec"]["selector"] {
            s if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() => {
                LabelSelector::from_object(s).to_query()
            }
            // ReplicationControllers select with a plain map.
            s if s.is_object() => LabelSelector::from_map(s).to_query(),
            _ => String::new(),
        },
    };
    let spec_path = if paths.spec_replicas.is_empty() {
        ".spec.replicas"
    } else {
        &paths.spec_replicas
    };
    let status_path = if paths.status_replicas.is_empty() {
        ".status.replicas"
    } else {
        &paths.status_replicas
    };
    let m = &obj["metadata"];
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
           "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                        "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
           "spec": {"replicas": at(spec_path).and_then(|v| v.as_i64()).unwrap_or(0)},
           "status": {"replicas": at(status_path).and_then(|v| v.as_i64()).unwrap_or(0), "selector": selector}})
}
