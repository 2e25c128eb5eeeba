#!/usr/bin/env python3
"""Planning speed: validate + plan of 10,000-step runbooks by meshbook, against `ninja -n` on the same DAG,
timed in the same run with the tools interleaved. Prints a markdown table (median of N runs, wall clock, including
process start).

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
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
ninja = shutil.which("ninja")
if not ninja:
    sys.exit("ninja is not installed (apt-get install ninja-build)")


def timed(cmd, cwd):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


rows = []
with tempfile.TemporaryDirectory() as tmp:
    for label, shape, n, width in [("chain of 10,000", "chain", 10000, 1), ("1,000 layers x 10", "layered", 10000, 10)]:
        d = os.path.join(tmp, shape)
        gen.write(d, shape, n, width)
        size = os.path.getsize(os.path.join(d, "runbook.yaml"))
        commands = {
            "validate": [meshbook, "validate", "runbook.yaml"],
            "plan": [meshbook, "plan", "runbook.yaml", "--output", "json"],
            "ninja": [ninja, "-n", "-j1"],
        }
        for cmd in commands.values():  # warm the page cache
            timed(cmd, d)
        # Interleaved, so that a noisy moment on the machine hits every tool alike.
        samples = {k: [] for k in commands}
        for _ in range(runs):
            for k, cmd in commands.items():
                samples[k].append(timed(cmd, d))
        v, p, nj = (statistics.median(samples[k]) for k in ("validate", "plan", "ninja"))
        rows.append((label, size, v, p, nj))

print(f"| DAG (10,000 steps) | runbook size | meshbook validate | meshbook plan --output json | ninja -n | plan / ninja -n |")
print("|---|---|---|---|---|---|")
for label, size, v, p, nj in rows:
    print(f"| {label} | {size // 1024} KiB | {v * 1000:.0f} ms | {p * 1000:.0f} ms | {nj * 1000:.0f} ms | {p / nj:.2f}x |")
print(f"\nmedian of {runs} interleaved runs each, wall clock including process start; {os.cpu_count()} cores")
