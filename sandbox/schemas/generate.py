#!/usr/bin/env python3
"""Builds `definitions.json.z`: the Kubernetes API's OpenAPI (Swagger 2.0) definitions for every
Kubernetes minor the sandbox can simulate, compressed with zlib.

Source: the PyPI package `kubernetes-validate`, which ships, per Kubernetes minor, the JSON Schema
form of the API server's own `api/openapi-spec/swagger.json` (made by openapi2jsonschema):
  kubernetes-validate 1.13.0  ->  v1.9
  kubernetes-validate 1.24.1  ->  v1.10 .. v1.24
  kubernetes-validate 1.37.0  ->  v1.25 .. v1.33
This script undoes that conversion (nullable types, `$defs` references, the apiVersion/kind enums
it adds, int-or-string and Quantity rewritten as `oneOf`) to get the Swagger definitions back, and
stores each distinct definition once: most definitions are the same across minors.

Output: {"source": ..., "pool": [definition, ...], "versions": {"1.32": {name: index}}}.

Run from anywhere: `python3 sandbox/schemas/generate.py` (needs pip and the network to PyPI);
`--cache DIR` reuses downloaded packages.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

RELEASES = [
    ("1.13.0", range(9, 10)),
    ("1.24.1", range(10, 25)),
    ("1.37.0", range(25, 34)),
]

INT_OR_STRING = {
    "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
    "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for "
    "example, a JSON field that can accept a name or number.",
    "format": "int-or-string",
    "type": "string",
}
QUANTITY = {
    "description": "Quantity is a fixed-point representation of a number. It provides convenient "
    "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.",
    "type": "string",
}


def fetch(version, cache):
    """Unpacks kubernetes-validate==version into cache and returns its schema folder."""
    dest = os.path.join(cache, version)
    if not os.path.isdir(dest):
        dl = os.path.join(cache, "dl-" + version)
        os.makedirs(dl, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dl,
             f"kubernetes-validate=={version}"],
            check=True,
        )
        (archive,) = glob.glob(os.path.join(dl, "kubernetes*validate-*"))
        if archive.endswith(".whl"):
            zipfile.ZipFile(archive).extractall(dest)
        else:
            with tarfile.open(archive) as t:
                t.extractall(dest, filter="data")
    (folder,) = glob.glob(os.path.join(dest, "**", "kubernetes-json-schema"), recursive=True)
    return folder


def swagger(node):
    """The Swagger form of one JSON Schema node."""
    if isinstance(node, list):
        return [swagger(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "oneOf" in node:
        kinds = sorted(
            t for alt in node["oneOf"] for t in (alt["type"] if isinstance(alt["type"], list) else [alt["type"]])
            if t != "null"
        )
        if kinds == ["integer", "string"]:
            return dict(INT_OR_STRING)
        if kinds == ["number", "string"]:
            return dict(QUANTITY)
        raise SystemExit(f"unexpected oneOf {node}")
    out = {}
    for k, v in node.items():
        if k == "type" and isinstance(v, list):
            v = [t for t in v if t != "null"]
            v = v[0] if len(v) == 1 else v
        elif k == "$ref":
            v = "#/definitions/" + v.rsplit("/", 1)[1]
        elif k in ("properties", "patternProperties", "definitions"):
            v = {name: swagger(p) for name, p in v.items()}
            out[k] = v
            continue
        else:
            v = swagger(v)
        out[k] = v
    return out


def definitions(folder, minor):
    matches = glob.glob(os.path.join(folder, f"v1.{minor}.0-local", "_definitions.json"))
    if not matches:
        matches = glob.glob(os.path.join(folder, f"v1.{minor}.0-local-strict", "_definitions.json"))
    (path,) = matches
    doc = json.load(open(path))
    defs = doc.get("$defs") or doc["definitions"]
    out = {}
    for name, d in defs.items():
        d = swagger(d)
        if "x-kubernetes-group-version-kind" in d:
            for p in ("apiVersion", "kind"):
                d.get("properties", {}).get(p, {}).pop("enum", None)
        if "-strict" in path:
            d = strip_closed(d)
        out[name] = d
    return out


def strip_closed(node):
    """Strict schemas close every object; the API's definitions do not."""
    if isinstance(node, list):
        return [strip_closed(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: strip_closed(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", help="folder for downloaded packages (default: a temporary one)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "definitions.json.z"))
    args = ap.parse_args()
    cache = args.cache or tempfile.mkdtemp()
    pool, index, versions = [], {}, {}
    for release, minors in RELEASES:
        folder = fetch(release, cache)
        for minor in minors:
            names = {}
            for name, d in sorted(definitions(folder, minor).items()):
                text = json.dumps(d, sort_keys=True, separators=(",", ":"))
                if text not in index:
                    index[text] = len(pool)
                    pool.append(d)
                names[name] = index[text]
            versions[f"1.{minor}"] = names
    doc = {
        "source": "PyPI kubernetes-validate " + ", ".join(f"{r} (1.{m.start}-1.{m.stop - 1})" for r, m in RELEASES),
        "pool": pool,
        "versions": versions,
    }
    data = zlib.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), 9)
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"{args.out}: {len(versions)} minors, {len(pool)} distinct definitions, {len(data)} bytes")


if __name__ == "__main__":
    main()
