"""Drives a sandbox cluster with the official Kubernetes Python client (issue 14).

Usage: python client_checks.py KUBECONFIG CONTEXT
Prints one line per check, `ok NAME` or `FAIL NAME: why`, then `N passed, M failed`.
Exits 1 if any check failed.
"""

import base64
import sys
import time

from kubernetes import client, config, stream
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1], context=sys.argv[2])
core = client.CoreV1Api()
apps = client.AppsV1Api()
coord = client.CoordinationV1Api()
custom = client.CustomObjectsApi()
ext = client.ApiextensionsV1Api()
NS = "pyclient"
results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            results.append((name, f"{type(e).__name__}: {e}"[:400]))
        return fn

    return wrap


def expect_status(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        assert e.status == code, f"expected {code}, got {e.status}: {e.body}"
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


def wait_for(what, pred, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))


@check("nodes list loads (nodeInfo complete)")
def _():
    nodes = core.list_node()
    info = nodes.items[0].status.node_info
    assert info.kernel_version and info.os_image and info.machine_id


@check("namespace defaults: spec.finalizers, name limit 63")
def _():
    ns = core.read_namespace(NS)
    assert ns.spec.finalizers == ["kubernetes"], ns.spec
    expect_status(422, core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name="a" * 64)))


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "box"},
    "spec": {"containers": [{"name": "main", "image": "example.invalid/box:1"}]},
}


@check("pod defaults (pull policy, token volume, tolerations)")
def _():
    p = core.create_namespaced_pod(NS, POD)
    c = p.spec.containers[0]
    assert c.image_pull_policy == "IfNotPresent", c.image_pull_policy
    assert any(v.name.startswith("kube-api-access-") for v in p.spec.volumes)
    assert any(t.key == "node.kubernetes.io/not-ready" for t in p.spec.tolerations)
    wait_for("pod running", lambda: core.read_namespaced_pod("box", NS).status.phase == "Running")


@check("exec with stdin as text frames")
def _():
    ws = stream.stream(
        core.connect_get_namespaced_pod_exec, "box", NS, command=["cat"],
        stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False,
    )
    ws.write_stdin("hello from python\n")
    out = ""
    deadline = time.time() + 10
    while time.time() < deadline and "hello" not in out:
        ws.update(timeout=1)
        out += ws.read_stdout(timeout=1) or ""
    ws.close()
    assert "hello from python" in out, out


@check("delete with a stale uid precondition is a 409")
def _():
    cm = core.create_namespaced_config_map(NS, {"metadata": {"name": "pre"}, "data": {"a": "1"}})
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000"))
    expect_status(409, core.delete_namespaced_config_map, "pre", NS, body=body)
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=cm.metadata.uid))
    core.delete_namespaced_config_map("pre", NS, body=body)


@check("immutable ConfigMap, Deployment selector, Service clusterIP")
def _():
    core.create_namespaced_config_map(NS, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    expect_status(422, core.patch_namespaced_config_map, "frozen", NS, {"data": {"a": "2"}})
    svc = core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    ip = svc.spec.cluster_ip
    other = ".".join(ip.split(".")[:3] + [str((int(ip.split(".")[3]) + 7) % 250 + 2)])
    expect_status(422, core.patch_namespaced_service, "web", NS, {"spec": {"clusterIP": other, "clusterIPs": [other]}})
    dep = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
           "template": {"metadata": {"labels": {"app": "web", "v": "1"}}, "spec": {"containers": [{"name": "c", "image": "example.invalid/web:1"}]}}}}
    apps.create_namespaced_deployment(NS, dep)
    expect_status(422, apps.patch_namespaced_deployment, "web", NS, {"spec": {"selector": {"matchLabels": {"app": "web", "v": "1"}}}})


@check("invalid ConfigMap keys and a portless ClusterIP Service are 422")
def _():
    expect_status(422, core.create_namespaced_config_map, NS, {"metadata": {"name": "bad"}, "data": {"a b": "1"}})
    expect_status(422, core.create_namespaced_service, NS, {"metadata": {"name": "noports"}, "spec": {"selector": {"a": "b"}}})


@check("service status conditions are kept")
def _():
    cond = {"type": "Probed", "status": "True", "reason": "Test", "message": "m", "lastTransitionTime": "2024-01-01T00:00:00Z"}
    core.patch_namespaced_service_status("web", NS, {"status": {"conditions": [cond]}})
    s = core.read_namespaced_service_status("web", NS)
    assert s.status.conditions and s.status.conditions[0].type == "Probed", s.status


@check("DELETE of a service and a serviceaccount returns the object")
def _():
    core.create_namespaced_service_account(NS, {"metadata": {"name": "robot"}})
    sa = core.delete_namespaced_service_account("robot", NS)
    assert sa.kind == "ServiceAccount", sa
    svc = core.delete_namespaced_service("web", NS)
    assert svc.kind == "Service", svc


@check("dryRun=Bogus is a 400, dry-run create reports no resourceVersion")
def _():
    expect_status(400, core.create_namespaced_config_map, NS, {"metadata": {"name": "dry"}}, dry_run="Bogus")
    cm = core.create_namespaced_config_map(NS, {"metadata": {"name": "dry"}}, dry_run="All")
    assert not cm.metadata.resource_version, cm.metadata
    expect_status(404, core.read_namespaced_config_map, "dry", NS)


@check("unsupported field selector is a 400")
def _():
    expect_status(400, core.list_namespaced_config_map, NS, field_selector="data.a=1")
    core.list_namespaced_pod(NS, field_selector="status.phase=Running")


@check("pagination with limit and continue")
def _():
    for i in range(5):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"page-{i}", "labels": {"page": "y"}}})
    first = core.list_namespaced_config_map(NS, label_selector="page=y", limit=2)
    assert len(first.items) == 2 and first.metadata._continue, first.metadata
    names = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(NS, label_selector="page=y", limit=2, _continue=token)
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert names == [f"page-{i}" for i in range(5)], names


@check("generation only on kinds that have it")
def _():
    cm = core.read_namespaced_config_map("page-0", NS)
    assert cm.metadata.generation is None, cm.metadata.generation
    assert apps.read_namespaced_deployment("web", NS).metadata.generation == 1


@check("deployment template defaults")
def _():
    c = apps.read_namespaced_deployment("web", NS).spec.template.spec.containers[0]
    assert c.termination_message_path == "/dev/termination-log" and c.image_pull_policy == "IfNotPresent"


@check("lease update with a stale resourceVersion is a 409")
def _():
    lease = coord.create_namespaced_lease(NS, {"metadata": {"name": "run-lock"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})
    lease.spec.holder_identity = "b"
    coord.replace_namespaced_lease("run-lock", NS, lease)
    lease.spec.holder_identity = "c"
    expect_status(409, coord.replace_namespaced_lease, "run-lock", NS, lease)
    assert coord.read_namespaced_lease("run-lock", NS).spec.holder_identity == "b"


@check("server-side apply records ownership and conflicts")
def _():
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "v"}}
    core.create_namespaced_config_map(NS, body)
    # The same value applied by a new manager: nothing changes but ownership is recorded.
    core.patch_namespaced_config_map("ssa", NS, body, field_manager="first", _content_type="application/apply-patch+yaml")
    cm = core.read_namespaced_config_map("ssa", NS)
    assert any(m.manager == "first" and m.operation == "Apply" for m in cm.metadata.managed_fields), cm.metadata.managed_fields
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "w"}}
    e = expect_status(409, core.patch_namespaced_config_map, "ssa", NS, other, field_manager="second", _content_type="application/apply-patch+yaml")
    assert "conflict" in e.body


@check("custom resource scale follows labelSelectorPath")
def _():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                                  "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                   "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}}}]}}
    ext.create_custom_resource_definition(crd)
    custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"replicas": 2}})
    custom.patch_namespaced_custom_object_status("example.com", "v1", NS, "widgets", "w", {"status": {"replicas": 2, "selector": "app=w"}})
    scale = custom.get_namespaced_custom_object_scale("example.com", "v1", NS, "widgets", "w")
    assert scale["status"]["selector"] == "app=w", scale
    assert scale["spec"]["replicas"] == 2, scale


@check("endpointslices follow the service")
def _():
    core.create_namespaced_service(NS, {"metadata": {"name": "boxes"}, "spec": {"selector": {"app": "box"}, "ports": [{"port": 80}]}})
    core.patch_namespaced_pod("box", NS, {"metadata": {"labels": {"app": "box"}}})
    disc = client.DiscoveryV1Api()
    slices = wait_for("a slice with the pod", lambda: [s for s in disc.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=boxes").items if s.endpoints])
    assert slices[0].endpoints[0].conditions.ready


@check("self subject access review and self subject review")
def _():
    authz = client.AuthorizationV1Api()
    r = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": NS}}})
    assert r.status.allowed
    who = client.AuthenticationV1Api().create_self_subject_review({})
    assert who.status.user_info.username, who


@check("newly served kinds: cronjobs, pvs, storageclasses, priorityclasses, quotas")
def _():
    client.BatchV1Api().create_namespaced_cron_job(NS, {"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}})
    core.create_persistent_volume({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/x"}}})
    client.StorageV1Api().create_storage_class({"metadata": {"name": "fast"}, "provisioner": "example.com/none"})
    client.SchedulingV1Api().create_priority_class({"metadata": {"name": "high"}, "value": 1000})
    core.create_namespaced_resource_quota(NS, {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}}})
    core.create_namespaced_limit_range(NS, {"metadata": {"name": "l"}, "spec": {"limits": [{"type": "Container"}]}})
    client.NetworkingV1Api().create_namespaced_ingress(NS, {"metadata": {"name": "ing"}, "spec": {"defaultBackend": {"service": {"name": "boxes", "port": {"number": 80}}}}})
    client.EventsV1Api().create_namespaced_event(NS, {"metadata": {"name": "ev"}, "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "x/y", "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal"})


@check("DELETE of a pod returns the pod")
def _():
    p = core.delete_namespaced_pod("box", NS)
    assert p.kind == "Pod" and p.metadata.name == "box", p


failed = [r for r in results if r[1]]
for name, err in results:
    print(f"ok {name}" if err is None else f"FAIL {name}: {err}")
print(f"python-client: {len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
