#!/usr/bin/env python3
"""Writes the synthetic DAGs the benchmarks share, as a meshbook runbook, a build.ninja and a Makefile.

shapes: chain N (each step needs the previous), wide N (independent steps), layered LxW (W steps per layer,
each needing every step of the layer before).
"""
import os
import sys


def edges(shape, n, width):
    if shape == "chain":
        return [[i - 1] if i else [] for i in range(n)]
    if shape == "wide":
        return [[] for _ in range(n)]
    if shape == "layered":
        return [[(i // width - 1) * width + j for j in range(width)] if i >= width else [] for i in range(n)]
    raise SystemExit(f"unknown shape {shape}")


def write(out_dir, shape, n, width, command="true"):
    os.makedirs(out_dir, exist_ok=True)
    deps = edges(shape, n, width)
    with open(os.path.join(out_dir, "runbook.yaml"), "w") as f:
        f.write(f"apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: bench-{shape}-{n}}}\nsteps:\n")
        for i, d in enumerate(deps):
            f.write(f"  - id: s{i}\n")
            if d:
                f.write("    needs: [" + ", ".join(f"s{j}" for j in d) + "]\n")
            f.write(f"    shell: {command}\n")
    with open(os.path.join(out_dir, "build.ninja"), "w") as f:
        f.write(f"rule step\n  command = {command} && touch $out\n")
        for i, d in enumerate(deps):
            f.write(f"build s{i}: step" + ("" if not d else " | " + " ".join(f"s{j}" for j in d)) + "\n")
        f.write("default " + " ".join(f"s{i}" for i in range(n)) + "\n")
    with open(os.path.join(out_dir, "Makefile"), "w") as f:
        f.write("all: " + " ".join(f"s{i}" for i in range(n)) + "\n")
        for i, d in enumerate(deps):
            f.write(f"s{i}: " + " ".join(f"s{j}" for j in d) + f"\n\t@{command} && touch $@\n")


if __name__ == "__main__":
    out, shape, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    width = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    write(out, shape, n, width)
