#!/usr/bin/env python3
"""Rehearsal time of each named runbook, against the time its own critical path needed: the wall clock of
`meshbook run NAME --sandbox` beside the longest chain of dependent steps weighted by each step's recorded
duration (what no scheduler can beat), the part of that chain spent in waits (kube.wait, kube.get) and the part spent in shell steps (real
tools: gcloud, ssh-keygen, kubectl, the doubles), and the ratio wall / critical path (1.0 means no time lost between steps); beside it the same rehearsal
with gcloud run as installed (MESHBOOK_WARM_GCLOUD=0), the peer of the warm gcloud. Median of N
rehearsals each. Then the real tools alone, outside any rehearsal: what a runbook's shell steps cannot take less
than however well meshbook schedules them.

usage: bench/rehearsals.py [path/to/meshbook] [runs]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
meshbook = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/release/meshbook")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
RUNBOOKS = ["split-horizon", "gke-multicluster", "asm-east-west", "vm-expansion"]


def sh(args, env, cwd):
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def rehearse(name, warm=True):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MESHBOOK_STATE_DIR=os.path.join(tmp, "state"),
                   MESHBOOK_KEY_FILE=os.path.join(tmp, "key"),
                   MESHBOOK_WARM_GCLOUD="1" if warm else "0")
        params = os.path.join(root, "runbooks", name, "example-params.yaml")
        t = time.perf_counter()
        done = sh([meshbook, "run", name, "--sandbox", "--params", params, "--workdir",
                   os.path.join(tmp, "work"), "--log-format", "plain"], env, root)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            sys.exit(f"{name}: rehearsal failed\n{done.stdout}\n{done.stderr}")
        status = json.loads(sh([meshbook, "status", "-o", "json"], env, root).stdout)
        graph = json.loads(sh([meshbook, "graph", name, "-o", "json"], env, root).stdout)
    took = {s["id"]: (s.get("duration_ms") or 0) / 1000 for s in status["steps"]}
    kind = {n["id"]: n["kind"] for n in graph["nodes"]}
    needs = {n["id"]: [] for n in graph["nodes"]}
    for e in graph["edges"]:
        needs[e["to"]].append(e["from"])
    best = {}  # step -> (path time, waiting) of the longest chain ending there

    def longest(step):
        if step not in best:
            before = max((longest(n) for n in needs.get(step, [])), default=(0.0, 0.0, 0.0))
            t = took.get(step, 0.0)
            waiting = t if kind.get(step) in ("kube.wait", "kube.get") else 0.0
            shell = t if kind.get(step) == "shell" else 0.0
            best[step] = (before[0] + t, before[1] + waiting, before[2] + shell)
        return best[step]

    path = max((longest(s) for s in needs), default=(0.0, 0.0, 0.0))
    return wall, path[0], path[1], path[2], len(status["steps"])


# What the simulated cloud sets so that gcloud stays off the network (cloud/src/env.rs).
OFFLINE = {
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
}


def alone(args):
    """Median and maximum wall time of `args` run by itself, `runs` times (at least 5)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(max(runs, 5)):
            call = [a.replace("{tmp}", os.path.join(tmp, str(i))) for a in args]
            t = time.perf_counter()
            done = sh(call, dict(os.environ, **OFFLINE, CLOUDSDK_CONFIG=os.path.join(tmp, "gcloud")), tmp)
            times.append(time.perf_counter() - t)
            if done.returncode != 0:
                sys.exit(f"{args[0]} failed: {done.stderr}")
    return statistics.median(times), max(times)


print(f"rehearsals ({runs} runs each, median; {os.cpu_count()} cores)\n")
print("| runbook | steps | wall s | critical path s | waits on it s | shell steps on it s | wall / critical path "
      "| wall s, gcloud as installed | warm / as installed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in RUNBOOKS:
    # Taking turns, so that a noisy moment hits both alike.
    rows, cold = [], []
    for _ in range(runs):
        rows.append(rehearse(name))
        cold.append(rehearse(name, warm=False))
    wall = statistics.median(r[0] for r in rows)
    path = statistics.median(r[1] for r in rows)
    waits = statistics.median(r[2] for r in rows)
    shell = statistics.median(r[3] for r in rows)
    cold_wall = statistics.median(r[0] for r in cold)
    steps = rows[0][4]
    print(f"| {name} | {steps} | {wall:.2f} | {path:.2f} | {waits:.2f} | {shell:.2f} | {wall / path if path else 0:.2f}x "
          f"| {cold_wall:.2f} | {wall / cold_wall:.2f}x |")

print(f"\nreal tools alone ({max(runs, 5)} runs each)\n")
print("| command | median s | max s |")
print("|---|---:|---:|")
for label, args in [
    ("`gcloud config set project p` as installed (its imports, then a local write)",
     ["gcloud", "config", "set", "project", "p"]),
    ("`ssh-keygen -t rsa -N '' -b 4096` (vm-expansion's ssh-key)",
     ["ssh-keygen", "-q", "-t", "rsa", "-N", "", "-b", "4096", "-f", "{tmp}"]),
]:
    median, most = alone(args)
    print(f"| {label} | {median:.2f} | {most:.2f} |")
