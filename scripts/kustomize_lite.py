#!/usr/bin/env python3
"""A renderer for the subset of kustomize that deploy/k8s uses, for machines without kubectl
(Debian, PyPI and crates.io have no kustomize; docs/decisions.md). scripts/check-deploy.sh
renders with `kubectl kustomize` when it is installed and compares this renderer's output
with it, object by object, so the two cannot drift apart unseen.

    kustomize_lite.py DIR          prints the rendered objects as YAML documents
    kustomize_lite.py --compare DIR RENDERED.yaml
                                   exits 1 unless DIR renders to the same objects

Supported, and nothing else (any other kustomization field is an error): `resources` (files
and directories with their own kustomization), `namespace`, `configMapGenerator` (`files`),
`secretGenerator` (`envs`), `images` (`newName`, `newTag`, `digest`), and `patches` holding
JSON 6902 operations (`add`, `replace`, `remove`) with a `target` of `kind` and/or `name`.
Generated names get kustomize's content hash, and references to them from pod templates
(env, envFrom, volumes) follow the rename.
"""

import base64
import copy
import hashlib
import json
import pathlib
import sys

import yaml

KNOWN = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator", "secretGenerator",
         "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "CustomResourceDefinition", "IngressClass", "PriorityClass"}
# Where a pod template refers to a ConfigMap or Secret by name: (kind, path of keys from a
# container or the pod spec).
CONTAINER_REFS = [("Secret", ("env", "*", "valueFrom", "secretKeyRef", "name")),
                  ("ConfigMap", ("env", "*", "valueFrom", "configMapKeyRef", "name")),
                  ("Secret", ("envFrom", "*", "secretRef", "name")),
                  ("ConfigMap", ("envFrom", "*", "configMapRef", "name"))]
POD_REFS = [("Secret", ("volumes", "*", "secret", "secretName")),
            ("ConfigMap", ("volumes", "*", "configMap", "name"))]


class Error(Exception):
    pass


def name_hash(obj):
    """kustomize's suffix: sha256 of the object's kind, name, type and data as sorted JSON,
    its first ten hex digits with 0, 1, 3, a, e replaced (api/hasher). Its look-up of the
    name (`metadata/name` as one path element) finds nothing, so the name hashed is always
    empty: reproduced here, as kubectl 1.32's kustomize 5.5 does it."""
    if obj["kind"] == "ConfigMap":
        fields = {"kind": "ConfigMap", "name": "", "data": obj.get("data", {})}
    else:
        fields = {"kind": "Secret", "type": obj.get("type", "Opaque"), "name": "",
                  "data": obj.get("data", {})}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def generate(root, k):
    out = []
    for g in k.get("configMapGenerator", []):
        if set(g) - {"name", "files"}:
            raise Error(f"{root}: configMapGenerator supports name and files only")
        data = {}
        for f in g.get("files", []):
            key, _, path = f.partition("=") if "=" in f else (pathlib.Path(f).name, "", f)
            data[key] = (root / path).read_text()
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]}, "data": data})
    for g in k.get("secretGenerator", []):
        if set(g) - {"name", "envs"}:
            raise Error(f"{root}: secretGenerator supports name and envs only")
        data = {}
        for f in g.get("envs", []):
            for line in (root / f).read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                key, sep, value = line.partition("=")
                if not sep:
                    raise Error(f"{root / f}: {line!r} is not KEY=VALUE")
                data[key] = base64.b64encode(value.encode()).decode()
        out.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": g["name"]},
                    "type": "Opaque", "data": data})
    return out


def walk(node, path, fn):
    """Calls fn(parent, key) at every place `path` reaches ("*" is every list item)."""
    if not path or node is None:
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else []:
            walk(item, rest, fn)
    elif isinstance(node, dict) and head in node:
        if rest:
            walk(node[head], rest, fn)
        else:
            fn(node, head)


def pod_specs(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "Pod":
        return [spec]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    tpl = spec.get("template", {}).get("spec") if isinstance(spec, dict) else None
    return [tpl] if tpl else []


def rename_refs(objs, renames):
    """renames: {(kind, namespace, old name): new name}."""
    for obj in objs:
        ns = obj["metadata"].get("namespace")
        for spec in pod_specs(obj):
            def fix(kind):
                def f(parent, key):
                    new = renames.get((kind, ns, parent[key]))
                    if new:
                        parent[key] = new
                return f
            for kind, path in POD_REFS:
                walk(spec, path, fix(kind))
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                for kind, path in CONTAINER_REFS:
                    walk(c, path, fix(kind))


def set_images(objs, images):
    for obj in objs:
        for spec in pod_specs(obj):
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                ref = c["image"]
                name, tag = ref, None
                if "@" in name:
                    name = name.split("@")[0]
                elif ":" in name.rsplit("/", 1)[-1]:
                    name, tag = name.rsplit(":", 1)
                for im in images:
                    if set(im) - {"name", "newName", "newTag", "digest"}:
                        raise Error("images: only name, newName, newTag and digest")
                    if im["name"] != name:
                        continue
                    new = im.get("newName", name)
                    if "digest" in im:
                        c["image"] = f"{new}@{im['digest']}"
                    elif "newTag" in im:
                        c["image"] = f"{new}:{im['newTag']}"
                    else:
                        c["image"] = f"{new}:{tag}" if tag else new


def pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_op(obj, op):
    *parents, last = pointer(op["path"])
    node = obj
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    kind = op["op"]
    if isinstance(node, list):
        if kind == "add":
            node.insert(len(node) if last == "-" else int(last), copy.deepcopy(op["value"]))
        elif kind == "replace":
            node[int(last)] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[int(last)]
        else:
            raise Error(f"patch op {kind} is not supported")
    else:
        if kind in ("add", "replace"):
            if kind == "replace" and last not in node:
                raise Error(f"replace: {op['path']} does not exist")
            node[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[last]
        else:
            raise Error(f"patch op {kind} is not supported")


def apply_patches(objs, patches):
    for p in patches:
        target = p.get("target", {})
        if set(target) - {"kind", "name"} or set(p) - {"target", "patch"}:
            raise Error("patches: only inline JSON 6902 patches with a kind/name target")
        ops = yaml.safe_load(p["patch"])
        if not isinstance(ops, list):
            raise Error("patches: strategic-merge patches are not supported")
        hits = [o for o in objs if all(o["kind"] == target["kind"] for _ in [0] if "kind" in target)
                and ("name" not in target or o["metadata"]["name"] == target["name"])]
        if not hits:
            raise Error(f"patch target {target} matches nothing")
        for o in hits:
            for op in ops:
                apply_op(o, op)


def render(root):
    root = pathlib.Path(root)
    k = yaml.safe_load((root / "kustomization.yaml").read_text())
    unknown = set(k) - KNOWN
    if unknown:
        raise Error(f"{root}/kustomization.yaml: {sorted(unknown)} not supported here")
    objs, renames = [], {}
    for r in k.get("resources", []):
        path = root / r
        if path.is_dir():
            sub, sub_renames = render(path)
            objs += sub
            renames.update(sub_renames)
        else:
            objs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    generated = generate(root, k)
    objs += generated
    ns = k.get("namespace")
    if ns:
        for o in objs:
            if o["kind"] not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = ns
    # A base's renames were keyed by its namespace; an overlay namespace moves them along.
    renames = {(kind, ns or n, old): new for (kind, n, old), new in renames.items()}
    for g in generated:
        old = g["metadata"]["name"]
        g["metadata"]["name"] = f"{old}-{name_hash(g)}"
        renames[(g["kind"], g["metadata"].get("namespace"), old)] = g["metadata"]["name"]
    set_images(objs, k.get("images", []))
    apply_patches(objs, k.get("patches", []))
    rename_refs(objs, renames)
    return objs, renames


def key(o):
    return (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])


def main():
    args = sys.argv[1:]
    try:
        if args[0] == "--compare":
            mine = {key(o): o for o in render(args[1])[0]}
            theirs = {key(o): o for o in yaml.safe_load_all(pathlib.Path(args[2]).read_text()) if o}
            bad = sorted(set(mine) ^ set(theirs)) + sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k])
            for k in bad:
                print(f"kustomize_lite: {k} differs from kubectl kustomize", file=sys.stderr)
                if k in mine and k in theirs:
                    print(json.dumps(mine[k], sort_keys=True), "\n", json.dumps(theirs[k], sort_keys=True), file=sys.stderr)
            sys.exit(1 if bad else 0)
        objs, _ = render(args[0])
        print(yaml.safe_dump_all(objs, sort_keys=True), end="")
    except (Error, OSError, KeyError, ValueError, IndexError) as e:
        sys.exit(f"kustomize_lite: {e}")


if __name__ == "__main__":
    main()
