#!/usr/bin/env python3
"""Rehearsal time of each named runbook, against the time its own critical path needed: the wall clock of
`meshbook run NAME --sandbox` beside the longest chain of dependent steps weighted by each step's recorded
duration (what no scheduler can beat), the part of that chain spent in waits (kube.wait, kube.get),
and the ratio wall / critical path (1.0 means no time lost between steps); beside it the same rehearsal
with gcloud run as installed (MESHBOOK_WARM_GCLOUD=0), the peer of the warm gcloud. Median of N
rehearsals each.

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
            before = max((longest(n) for n in needs.get(step, [])), default=(0.0, 0.0))
            t = took.get(step, 0.0)
            waiting = t if kind.get(step) in ("kube.wait", "kube.get") else 0.0
            best[step] = (before[0] + t, before[1] + waiting)
        return best[step]

    path = max((longest(s) for s in needs), default=(0.0, 0.0))
    return wall, path[0], path[1], len(status["steps"])


print(f"rehearsals ({runs} runs each, median; {os.cpu_count()} cores)\n")
print("| runbook | steps | wall s | critical path s | waits on it s | wall / critical path "
      "| wall s, gcloud as installed | warm / as installed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name in RUNBOOKS:
    # Taking turns, so that a noisy moment hits both alike.
    rows, cold = [], []
    for _ in range(runs):
        rows.append(rehearse(name))
        cold.append(rehearse(name, warm=False))
    wall = statistics.median(r[0] for r in rows)
    path = statistics.median(r[1] for r in rows)
    waits = statistics.median(r[2] for r in rows)
    cold_wall = statistics.median(r[0] for r in cold)
    steps = rows[0][3]
    print(f"| {name} | {steps} | {wall:.2f} | {path:.2f} | {waits:.2f} | {wall / path if path else 0:.2f}x "
          f"| {cold_wall:.2f} | {wall / cold_wall:.2f}x |")
