//! Cloud Resource Manager (projects, their numbers and IAM policy) and Service Usage (which
//! APIs a project has enabled: gcloud asks before `container clusters create`).

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::service::{self, Call, Service};
use crate::state::State;

fn v1_project(state: &State, id: &str) -> Value {
    let p = &state.projects[id];
    json!({"projectNumber": p.number, "projectId": id, "lifecycleState": "ACTIVE", "name": id,
           "createTime": p.created})
}

fn v3_project(state: &State, id: &str) -> Value {
    let p = &state.projects[id];
    json!({"name": format!("projects/{}", p.number), "projectId": id, "state": "ACTIVE",
           "displayName": id, "createTime": p.created, "updateTime": p.created,
           "etag": format!("W/\"{}\"", p.fingerprint)})
}

/// Serves Cloud Resource Manager v1 and v3 (`version`, then the segments after it).
pub fn resource_manager(svc: &Service, version: &str, call: &Call) -> ApiResult {
    let parts = call.parts();
    let mut state = svc.lock();
    let out = match (call.method.as_str(), parts.as_slice(), call.verb.as_deref()) {
        ("GET", ["projects"], None) => {
            let ids: Vec<String> = state.projects.keys().cloned().collect();
            let list: Vec<Value> = ids
                .iter()
                .map(|id| {
                    if version == "v3" {
                        v3_project(&state, id)
                    } else {
                        v1_project(&state, id)
                    }
                })
                .collect();
            Ok(json!({"projects": list}))
        }
        ("GET", ["projects", id], None) => {
            service::project(&mut state, id).map_err(|_| denied())?;
            let id = service::project_id(&state, id);
            Ok(if version == "v3" {
                v3_project(&state, &id)
            } else {
                v1_project(&state, &id)
            })
        }
        ("POST", ["projects", id], Some("getIamPolicy")) => {
            service::project(&mut state, id).map_err(|_| denied())?;
            Ok(json!({"version": 1, "etag": "BwXhqDsx8Q0=", "bindings": [
                {"role": "roles/owner", "members": [format!("user:{}", svc.account)]}]}))
        }
        ("POST", ["projects", id], Some("testIamPermissions")) => {
            service::project(&mut state, id).map_err(|_| denied())?;
            Ok(json!({"permissions": call.body["permissions"]}))
        }
        _ => Err(call.unsupported()),
    };
    if out.is_ok() {
        svc.save(&state)?;
    }
    out
}

/// What Resource Manager answers for a project the caller cannot see.
fn denied() -> ApiError {
    ApiError::denied("The caller does not have permission")
}

fn service_resource(number: &str, name: &str, enabled: bool) -> Value {
    json!({
        "name": format!("projects/{number}/services/{name}"),
        "config": {"name": name, "title": name.split('.').next().unwrap_or(name)},
        "state": if enabled { "ENABLED" } else { "DISABLED" },
        "parent": format!("projects/{number}"),
    })
}

fn done_operation(response: Value) -> Value {
    json!({"name": "operations/noop.DONE_OPERATION", "done": true, "response": response})
}

fn check_service(name: &str) -> ApiResult<()> {
    if name.ends_with(".googleapis.com") && name.len() > ".googleapis.com".len() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Not found or permission denied for service(s): {name}."
        )))
    }
}

/// Serves Service Usage v1 (segments after `v1/`).
pub fn service_usage(svc: &Service, call: &Call) -> ApiResult {
    let parts = call.parts();
    let mut state = svc.lock();
    let out = match (call.method.as_str(), parts.as_slice(), call.verb.as_deref()) {
        ("GET", ["operations", name], None) => {
            Ok(json!({"name": format!("operations/{name}"), "done": true}))
        }
        ("GET", ["projects", id, "services"], None) => {
            let p = service::project(&mut state, id)?;
            // Every listed service is enabled, so `filter=state:ENABLED` changes nothing.
            let list: Vec<Value> = p
                .services
                .iter()
                .map(|s| service_resource(&p.number, s, true))
                .collect();
            Ok(json!({"services": list}))
        }
        ("GET", ["projects", id, "services", name], None) => {
            check_service(name)?;
            let p = service::project(&mut state, id)?;
            Ok(service_resource(
                &p.number,
                name,
                p.services.contains(*name),
            ))
        }
        ("POST", ["projects", id, "services", name], Some(verb @ ("enable" | "disable"))) => {
            check_service(name)?;
            let p = service::project(&mut state, id)?;
            if verb == "enable" {
                p.services.insert(name.to_string());
            } else {
                p.services.remove(*name);
            }
            let service = service_resource(&p.number, name, verb == "enable");
            Ok(done_operation(json!({"service": service})))
        }
        ("POST", ["projects", id, "services"], Some("batchEnable")) => {
            let names: Vec<String> = call.body["serviceIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            for n in &names {
                check_service(n)?;
            }
            let p = service::project(&mut state, id)?;
            p.services.extend(names.iter().cloned());
            let services: Vec<Value> = names
                .iter()
                .map(|n| service_resource(&p.number, n, true))
                .collect();
            Ok(done_operation(json!({"services": services})))
        }
        _ => Err(call.unsupported()),
    };
    if out.is_ok() && call.method != "GET" {
        svc.save(&state)?;
    }
    out
}
