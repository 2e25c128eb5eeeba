#!/usr/bin/env python3
"""Cost of reporting a mistake: `meshbook validate` of a runbook with N steps and one bad `timeout`, against the
same runbook without the mistake (the peer), timed in the same run, interleaved; and input nested 100,000 brackets
deep, against a one-step runbook. Reporting an error should cost about what reading the runbook does: the ratio
stays near 1 however large N is (it grew with N before locating became linear). Prints a markdown table (median of
N runs, wall clock, including process start).

usage: bench/validate-errors.py [path/to/meshbook] [runs]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
meshbook = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/release/meshbook")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
HEAD = "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: bench}\nsteps:\n"


def steps(n, bad):
    out = [HEAD]
    for i in range(n):
        out.append(f"  - id: s{i}\n    shell: echo {i}\n")
        if bad and i == n // 2:
            out.append("    timeout: 5x\n")
    return "".join(out)


def timed(path, want):
    t = time.perf_counter()
    p = subprocess.run([meshbook, "validate", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=600)
    elapsed = time.perf_counter() - t
    if p.returncode != want:
        sys.exit(f"{path}: exit {p.returncode}, expected {want}")
    return elapsed


cases = [(f"{n:,} steps, one bad timeout vs none", steps(n, True), steps(n, False)) for n in (5000, 20000)]
cases.append(("100,000 nested `[` vs one step", HEAD + "  - id: a\n    shell: " + "[" * 100000 + "\n",
              HEAD + "  - id: a\n    shell: echo\n"))
print("| input | error (s) | peer (s) | ratio |")
print("|---|---:|---:|---:|")
with tempfile.TemporaryDirectory() as tmp:
    for label, bad, good in cases:
        paths = []
        for name, text in (("bad.yaml", bad), ("good.yaml", good)):
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        errors, peers = [], []
        for _ in range(runs):
            errors.append(timed(paths[0], 2))
            peers.append(timed(paths[1], 0))
        e, p = statistics.median(errors), statistics.median(peers)
        print(f"| {label} | {e:.3f} | {p:.3f} | {e / p:.2f} |")
