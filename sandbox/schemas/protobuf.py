#!/usr/bin/env python3
"""Generates `sandbox/src/protobuf/generated.rs`: the JSON form of every message of the kube-rs
project's protobuf bindings (crate `k8s-pb`, prost), and which message each (apiVersion, kind)
decodes into.

prost types carry field numbers and wire types but not the JSON names the API server uses
(`podIP` becomes `pod_ip`). The names come from the Kubernetes definitions embedded in
`definitions.json.z` (see generate.py): a prost field matches the property whose name, lower-cased
without punctuation, is the same. Messages without a definition fall back to lowerCamelCase.

Zero values follow Go's JSON encoding of the API types: a field the definition lists as required
(no `omitempty`) is always written; an optional one is written when it is not zero, or, for numbers and
booleans, when its description documents a non-zero default (then the Go field is a pointer, and
an explicit zero, such as `replicas: 0`, means something).

Run `python3 sandbox/schemas/protobuf.py` after changing the k8s-pb version in Cargo.lock.
"""

import glob
import json
import os
import re
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "sandbox", "src", "protobuf", "generated.rs")

# Messages whose JSON form is not an object of their fields; written by hand in
# `sandbox/src/protobuf/mod.rs`.
SPECIAL = {
    "apimachinery::pkg::apis::meta::v1::Time",
    "apimachinery::pkg::apis::meta::v1::MicroTime",
    "apimachinery::pkg::apis::meta::v1::Duration",
    "apimachinery::pkg::apis::meta::v1::FieldsV1",
    "apimachinery::pkg::api::resource::Quantity",
    "apimachinery::pkg::api::resource::QuantityValue",
    "apimachinery::pkg::util::intstr::IntOrString",
    "apimachinery::pkg::runtime::RawExtension",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::Json",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaPropsOrArray",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaPropsOrBool",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaPropsOrStringArray",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1beta1::Json",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1beta1::JsonSchemaPropsOrArray",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1beta1::JsonSchemaPropsOrBool",
    "apiextensions_apiserver::pkg::apis::apiextensions::v1beta1::JsonSchemaPropsOrStringArray",
}
# Messages that are a list in JSON (`ExtraValue` is a []string in Go).
LIST_OF_ITEMS = re.compile(r"::ExtraValue$")

DEFAULT = re.compile(r"[Dd]efaults? (?:to|is|value is) \"?([A-Za-z0-9%]+)")


def crate_src():
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()
    version = re.search(r'name = "k8s-pb"\nversion = "([^"]+)"', lock).group(1)
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    (src,) = glob.glob(os.path.join(home, "registry", "src", "*", f"k8s-pb-{version}", "src"))[:1]
    return version, src


def load_definitions():
    doc = json.loads(zlib.decompress(open(os.path.join(HERE, "definitions.json.z"), "rb").read()))
    out = {}
    # Newest minor first: its names and descriptions win; older ones fill in removed types.
    for minor in sorted(doc["versions"], key=lambda v: int(v.split(".")[1]), reverse=True):
        for name, i in doc["versions"][minor].items():
            out.setdefault(name, doc["pool"][i])
    return out


def definition_name(module, struct):
    """`api::apps::v1`, `DeploymentSpec` -> `io.k8s.api.apps.v1.deploymentspec` (lower-cased)."""
    parts = module.split("::")
    parts[0] = parts[0].replace("_", "-")
    return ("io.k8s." + ".".join(parts) + "." + struct).lower()


FIELD = re.compile(r"#\[prost\((?P<attr>[^\]]*)\)\]\s*pub (?P<name>r#)?(?P<ident>\w+):\s*(?P<ty>[^;]*?),\n")


def parse(src):
    messages = {}
    for path in glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True):
        module = os.path.relpath(os.path.dirname(path), src).replace(os.sep, "::")
        if module == ".":
            continue
        text = open(path).read()
        for m in re.finditer(r"::prost::Message\)\]\npub struct (\w+) \{(?:\}|\n(.*?)\n\})", text, re.S):
            fields = []
            for f in FIELD.finditer((m.group(2) or "") + "\n"):
                ty = re.findall(r"(\w+)>*$", f.group("ty").strip())
                fields.append((f.group("ident"), f.group("attr"), f.group("name") or "", ty[0] if ty else ""))
            messages[f"{module}::{m.group(1)}"] = fields
    return messages


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def camel(ident):
    head, *rest = ident.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def inlinable(messages, struct, parent, depth=0):
    """Whether a message is a Go struct embedded inline in a parent with these (normalised)
    JSON names: every one of its fields is one of the parent's, directly or through a message
    that is itself embedded."""
    if depth > 3:
        return False
    for path, fields in messages.items():
        if path.endswith("::" + struct) and fields and all(
            norm(f[0]) in parent or ("message" in f[1] and inlinable(messages, f[3], parent, depth + 1))
            for f in fields
        ):
            return True
    return False


def keeps_zero(prop):
    found = DEFAULT.search(prop.get("description", ""))
    return bool(found) and found.group(1).lower() not in ("0", "false", "empty", "nil", "none")


def main():
    version, src = crate_src()
    defs = {k.lower(): v for k, v in load_definitions().items()}
    messages = parse(src)
    lines = [
        f"// @generated by sandbox/schemas/protobuf.py from k8s-pb {version} and the embedded",
        "// Kubernetes definitions: the JSON form of every k8s-pb message. Do not edit.",
        "",
        "use serde_json::{Map, Value};",
        "",
        "use super::json::{{{}}};",
        "",
    ]
    used = set()
    for path, fields in sorted(messages.items()):
        if path in SPECIAL:
            continue
        module, struct = path.rsplit("::", 1)
        ty = f"k8s_pb::{path}"
        if LIST_OF_ITEMS.search(path):
            lines += [
                f"impl ToJson for {ty} {{",
                "    fn to_json(&self) -> Value {",
                "        Value::Array(self.items.iter().map(ToJson::to_json).collect())",
                "    }",
                "}",
            ]
            continue
        d = defs.get(definition_name(module, struct), {})
        props = d.get("properties", {})
        by_norm = {norm(p): p for p in props}
        required = set(d.get("required", []))
        body = []
        for ident, attr, raw, field_type in fields:
            if norm(ident) not in by_norm and props:
                # Go embeds some structs inline (`json:",inline"`): their fields sit in the
                # parent's JSON object.
                if inlinable(messages, field_type, set(by_norm)):
                    used.add("inline")
                    body.append(f"        inline(&mut m, self.{raw}{ident}.as_ref());")
                    continue
            json_name = by_norm.get(norm(ident), camel(ident))
            prop = props.get(json_name, {})
            kind = attr.split(",")[0].strip()
            # An empty string is never a documented default; numbers and booleans may be.
            documented = kind != "string" and keeps_zero(prop)
            keep = "true" if json_name in required or documented else "false"
            boxed = "boxed" in attr
            access = f"self.{raw}{ident}"
            if kind.startswith("btree_map"):
                value_kind = attr.split("\"")[1].split(",")[1].strip()
                fn = "bytes_map" if value_kind == "bytes" else "map"
                used.add(fn)
                body.append(f'        {fn}(&mut m, "{json_name}", &{access});')
            elif "repeated" in attr:
                if kind.startswith("bytes"):
                    raise SystemExit(f"{path}.{ident}: repeated bytes need a bytes_list helper")
                fn = "list"
                used.add(fn)
                body.append(f'        {fn}(&mut m, "{json_name}", &{access});')
            elif kind.startswith("bytes"):
                used.add("bytes")
                body.append(f'        bytes(&mut m, "{json_name}", {access}.as_ref(), {keep});')
            else:
                getter = "as_deref" if boxed else "as_ref"
                used.add("opt")
                body.append(f'        opt(&mut m, "{json_name}", {access}.{getter}(), {keep});')
        lines.append(f"impl ToJson for {ty} {{")
        lines.append("    fn to_json(&self) -> Value {")
        if body:
            lines.append("        let mut m = Map::new();")
            lines += body
            lines.append("        Value::Object(m)")
        else:
            lines.append("        Value::Object(Map::new())")
        lines += ["    }", "}"]
    # Which message each (apiVersion, kind) decodes into, from the definitions' kinds.
    by_def = {definition_name(*p.rsplit("::", 1)): p for p in messages}
    arms = {}
    for name, d in sorted(defs.items()):
        path = by_def.get(name)
        if not path:
            continue
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            key = (api_version, gvk["kind"])
            # A kind belongs to the definition named after it (DeleteOptions lists every group).
            if key not in arms or name.endswith("." + gvk["kind"].lower()):
                arms[key] = path
    lines += [
        "",
        "/// Decodes the protobuf form of `kind` in `api_version` into its JSON form; `None` for a",
        "/// kind k8s-pb does not know.",
        "pub fn decode(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Value, prost::DecodeError>> {",
        "    Some(match (api_version, kind) {",
    ]
    for (api_version, kind), path in sorted(arms.items()):
        lines.append(f'        ("{api_version}", "{kind}") => super::json::object::<k8s_pb::{path}>(raw),')
    lines += ["        _ => return None,", "    })", "}", ""]
    lines[5] = lines[5].format(", ".join(["ToJson"] + sorted(used)))
    with open(OUT, "w") as f:
        f.write("\n".join(lines))
    print(f"{OUT}: {len(messages)} messages, {len(arms)} kinds")


if __name__ == "__main__":
    main()
