#!/usr/bin/env python3
"""Planning speed: validate + plan of 10,000-step runbooks by meshbook, against `ninja -n` on the same DAG,
timed in the same run. Prints a markdown table (median of N runs, wall clock, including process start).

usage: bench/plan.py [path/to/meshbook] [runs]
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import gen  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
meshbook = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/release/meshbook")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
ninja = shutil.which("ninja")
if not ninja:
    sys.exit("ninja is not installed (apt-get install ninja-build)")


def median_time(cmd, cwd, setup=None):
    times = []
    for _ in range(runs):
        if setup:
            setup()
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


rows = []
with tempfile.TemporaryDirectory() as tmp:
    for label, shape, n, width in [("chain of 10,000", "chain", 10000, 1), ("1,000 layers x 10", "layered", 10000, 10)]:
        d = os.path.join(tmp, shape)
        gen.write(d, shape, n, width)
        size = os.path.getsize(os.path.join(d, "runbook.yaml"))
        mb_validate = median_time([meshbook, "validate", "runbook.yaml"], d)
        mb_plan = median_time([meshbook, "plan", "runbook.yaml", "--output", "json"], d)
        nj = median_time([ninja, "-n", "-j1"], d)
        rows.append((label, size, mb_validate, mb_plan, nj))

print(f"| DAG (10,000 steps) | runbook size | meshbook validate | meshbook plan --output json | ninja -n | plan / ninja -n |")
print("|---|---|---|---|---|---|")
for label, size, v, p, nj in rows:
    print(f"| {label} | {size // 1024} KiB | {v * 1000:.0f} ms | {p * 1000:.0f} ms | {nj * 1000:.0f} ms | {p / nj:.2f}x |")
print(f"\nmedian of {runs} runs each, wall clock including process start; {os.cpu_count()} cores")
