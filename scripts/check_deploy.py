#!/usr/bin/env python3
"""What the schemas miss in the rendered Kubernetes overlays, and the PromQL of the
dashboards and rules. Run by scripts/check-deploy.sh (which renders the overlays and installs
PyYAML with kubernetes-validate); exits non-zero with one line per problem.

    check_deploy.py manifests RENDERED.yaml...   the cross-reference checks below
    check_deploy.py promql OUT.yml               every dashboard query and rule expression
                                                 as one rules file, for `promtool check rules`
    check_deploy.py k8s-sd-as-static IN OUT      prometheus-k8s.yml with its pod discovery
                                                 replaced by a static target (Debian's
                                                 promtool has no Kubernetes discovery)
"""

import json
import pathlib
import re
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The crates whose sources each image's binary is built from: an env var set on a container
# of that image must be read there (`env = "CONFEITARIA_…"` in a clap argument, or a string
# literal read with std::env).
IMAGE_SOURCES = {
    "confeitaria/catalog-node": ["node/src", "client/src"],
    "confeitaria/cart": ["cart/src", "service/src", "client/src"],
    "confeitaria/orders": ["orders/src", "service/src", "client/src"],
    "confeitaria/gateway": ["gateway/src", "service/src", "client/src"],
    "confeitaria/redis": [],
}
# Read by every binary's log setup (tracing_subscriber's EnvFilter).
ALWAYS_READ = {"RUST_LOG"}

problems = []


def problem(msg):
    problems.append(msg)


def env_read_by(dirs):
    names = set(ALWAYS_READ)
    for d in dirs:
        for f in (ROOT / d).rglob("*.rs"):
            names.update(re.findall(r'"(CONFEITARIA_[A-Z0-9_]+)"', f.read_text()))
    return names


def image_base(image):
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: name.rindex(":")]
    return name


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def check_manifests(paths):
    for path in paths:
        docs = [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
        where = pathlib.Path(path).name
        check_overlay(where, docs)


def check_overlay(where, docs):
    def p(msg):
        problem(f"{where}: {msg}")

    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    services = by_kind.get("Service", {})
    secrets = by_kind.get("Secret", {})
    configmaps = by_kind.get("ConfigMap", {})
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}

    for name, w in workloads.items():
        kind = w["kind"]
        labels = w["spec"]["template"]["metadata"].get("labels", {})
        sel = w["spec"]["selector"].get("matchLabels", {})
        if not selects(sel, labels):
            p(f"{kind} {name}: selector {sel} does not match its template labels {labels}")
        spec = pod_spec(w)
        if kind == "StatefulSet":
            svc = services.get(w["spec"].get("serviceName", ""))
            if svc is None:
                p(f"StatefulSet {name}: serviceName {w['spec'].get('serviceName')!r} names no Service")
            elif svc["spec"].get("clusterIP") != "None":
                p(f"StatefulSet {name}: its serviceName {svc['metadata']['name']} is not headless")
            elif not selects(svc["spec"].get("selector", {}), labels):
                p(f"StatefulSet {name}: its headless Service does not select its pods")
        pod_sc = spec.get("securityContext", {})
        if not pod_sc.get("runAsNonRoot"):
            p(f"{kind} {name}: pod securityContext.runAsNonRoot is not true")
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            cn = f"{kind} {name} container {c['name']}"
            check_container(p, cn, c, spec, secrets, configmaps)
        for v in spec.get("volumes", []):
            if "secret" in v and v["secret"]["secretName"] not in secrets:
                p(f"{kind} {name}: volume {v['name']} uses Secret {v['secret']['secretName']}, not generated")
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                p(f"{kind} {name}: volume {v['name']} uses ConfigMap {v['configMap']['name']}, not generated")

    # Every Secret and ConfigMap comes from a generator: its name carries the content hash.
    for kind, objs in (("Secret", secrets), ("ConfigMap", configmaps)):
        for name in objs:
            if not re.search(r"-[a-z0-9]{10}$", name):
                p(f"{kind} {name} is not generated (no content-hash suffix)")

    for name, svc in services.items():
        sel = svc["spec"].get("selector", {})
        targets = [w for w in workloads.values() if selects(sel, w["spec"]["template"]["metadata"].get("labels", {}))]
        if not targets:
            p(f"Service {name}: selector {sel} selects no workload's pods")
        for port in svc["spec"].get("ports", []):
            tp = port.get("targetPort", port["port"])
            for w in targets:
                if not port_exists(pod_spec(w)["containers"], tp):
                    p(f"Service {name}: targetPort {tp} is no container port of {w['metadata']['name']}")

    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["name"] not in by_kind.get(ref["kind"], {}):
            p(f"HorizontalPodAutoscaler {name}: scales {ref['kind']} {ref['name']}, which is not rendered")

    for name, ing in by_kind.get("Ingress", {}).items():
        for rule in ing["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                b = path["backend"]["service"]
                svc = services.get(b["name"])
                if svc is None:
                    p(f"Ingress {name}: backend Service {b['name']} is not rendered")
                    continue
                port = b["port"]
                if not any(sp.get("name") == port.get("name") or sp["port"] == port.get("number") for sp in svc["spec"]["ports"]):
                    p(f"Ingress {name}: Service {b['name']} has no port {port}")

    check_catalog(p, by_kind, services, configmaps, workloads)


def port_exists(containers, port):
    for c in containers:
        for cp in c.get("ports", []):
            if port == cp.get("name") or port == cp["containerPort"]:
                return True
    return False


def check_container(p, cn, c, spec, secrets, configmaps):
    sc = c.get("securityContext", {})
    if sc.get("readOnlyRootFilesystem") is not True:
        p(f"{cn}: root filesystem is not read-only")
    if sc.get("allowPrivilegeEscalation") is not False:
        p(f"{cn}: allowPrivilegeEscalation is not false")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        p(f"{cn}: capabilities are not dropped (drop: [ALL])")
    if not (sc.get("runAsNonRoot") or spec.get("securityContext", {}).get("runAsNonRoot")):
        p(f"{cn}: may run as root")
    res = c.get("resources", {})
    for k in ("requests", "limits"):
        if not res.get(k, {}).get("memory"):
            p(f"{cn}: no memory {k}")
    if not res.get("requests", {}).get("cpu"):
        p(f"{cn}: no cpu request")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        pr = c.get(probe)
        if not pr:
            continue
        for kind in ("httpGet", "tcpSocket", "grpc"):
            if kind in pr and not port_exists([c], pr[kind]["port"]):
                p(f"{cn}: {probe} port {pr[kind]['port']} is no port of the container")
    if "readinessProbe" not in c or "livenessProbe" not in c:
        p(f"{cn}: needs both a readiness and a liveness probe")
    base = image_base(c["image"])
    if base not in IMAGE_SOURCES:
        p(f"{cn}: image {c['image']} is not one of the shop's")
        return
    read = env_read_by(IMAGE_SOURCES[base])
    for e in c.get("env", []):
        if e["name"] not in read:
            p(f"{cn}: sets {e['name']}, which {base} never reads")
        ref = e.get("valueFrom", {})
        if "secretKeyRef" in ref:
            s = secrets.get(ref["secretKeyRef"]["name"])
            if s is None:
                p(f"{cn}: {e['name']} from Secret {ref['secretKeyRef']['name']}, not generated")
            elif ref["secretKeyRef"]["key"] not in s.get("data", {}):
                p(f"{cn}: {e['name']} from key {ref['secretKeyRef']['key']}, not in the Secret")
        if "configMapKeyRef" in ref and ref["configMapKeyRef"]["name"] not in configmaps:
            p(f"{cn}: {e['name']} from ConfigMap {ref['configMapKeyRef']['name']}, not generated")
    for ef in c.get("envFrom", []):
        if "secretRef" in ef and ef["secretRef"]["name"] not in secrets:
            p(f"{cn}: envFrom Secret {ef['secretRef']['name']}, not generated")
        if "configMapRef" in ef and ef["configMapRef"]["name"] not in configmaps:
            p(f"{cn}: envFrom ConfigMap {ef['configMapRef']['name']}, not generated")


def check_catalog(p, by_kind, services, configmaps, workloads):
    sts = by_kind.get("StatefulSet", {}).get("catalog")
    if sts is None:
        p("no StatefulSet catalog")
        return
    spec = sts["spec"]
    labels = spec["template"]["metadata"]["labels"]
    if spec.get("podManagementPolicy") != "Parallel":
        p("catalog: podManagementPolicy is not Parallel")
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 3:
        p(f"catalog: {spec.get('replicas')} replicas; the cluster file has three voters, and pods beyond them are learners")
    start = spec.get("ordinals", {}).get("start", 0)
    if start != 1:
        p("catalog: pod ordinals must start at 1 (the node id is the host name's ordinal, never 0)")
    if not spec.get("volumeClaimTemplates"):
        p("catalog: no volumeClaimTemplates (one PVC per pod)")
    peer = services.get(spec["serviceName"], {})
    if peer.get("spec", {}).get("publishNotReadyAddresses") is not True:
        p(f"catalog: peer Service {spec['serviceName']} does not publish not-ready addresses")
    client = [s for n, s in services.items() if n != spec["serviceName"] and selects(s["spec"].get("selector", {}), labels)]
    if not any(s["spec"].get("clusterIP") != "None" for s in client):
        p("catalog: no client Service over the catalog pods")
    c = spec["template"]["spec"]["containers"][0]
    probes = {k: c.get(k, {}).get("httpGet", {}).get("path") for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    if probes != {"readinessProbe": "/ready", "livenessProbe": "/health", "startupProbe": "/health"}:
        p(f"catalog: probes are {probes}; readiness /ready, liveness and startup /health (never tied to a leader)")
    aa = spec["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
    terms = aa.get("requiredDuringSchedulingIgnoredDuringExecution", []) + [
        t["podAffinityTerm"] for t in aa.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    if not any(t.get("topologyKey") == "kubernetes.io/hostname" and selects(t["labelSelector"].get("matchLabels", {}), labels) for t in terms):
        p("catalog: no anti-affinity across nodes (kubernetes.io/hostname) over the catalog pods")

    pdbs = [d for d in by_kind.get("PodDisruptionBudget", {}).values() if selects(d["spec"]["selector"].get("matchLabels", {}), labels)]
    if not pdbs:
        p("catalog: no PodDisruptionBudget selects the catalog pods")
    elif any(d["spec"].get("maxUnavailable") != 1 for d in pdbs):
        p("catalog: its PodDisruptionBudget must say maxUnavailable: 1")
    for name, d in by_kind.get("PodDisruptionBudget", {}).items():
        if d not in pdbs:
            p(f"PodDisruptionBudget {name} selects no catalog pod")

    # The Raft port: one NetworkPolicy selects the catalog pods, and only catalog pods are let
    # in to that port; no rule opens every port.
    ports = {cp["name"]: cp["containerPort"] for cp in c["ports"]}
    raft = ports.get("raft")
    if raft is None:
        p("catalog: no container port named raft")
    pols = [n for n in by_kind.get("NetworkPolicy", {}).values() if selects(n["spec"]["podSelector"].get("matchLabels", {}), labels)]
    if not pols:
        p("catalog: no NetworkPolicy selects the catalog pods")
    raft_rules = 0
    for pol in pols:
        if "Ingress" not in pol["spec"].get("policyTypes", []):
            p(f"NetworkPolicy {pol['metadata']['name']}: no Ingress policy type")
        for rule in pol["spec"].get("ingress", []):
            rports = [r.get("port") for r in rule.get("ports", [])]
            if not rule.get("ports") or "raft" in rports or raft in rports:
                raft_rules += 1
                peers = rule.get("from", [])
                if not peers or not all(
                        set(f) == {"podSelector"} and selects(f["podSelector"].get("matchLabels", {}), labels) for f in peers):
                    p(f"NetworkPolicy {pol['metadata']['name']}: a rule lets more than catalog pods reach the Raft port")
    if pols and raft_rules == 0:
        p("catalog: no NetworkPolicy rule lets the catalog pods reach each other's Raft port")

    # The cluster file in the ConfigMap agrees with the StatefulSet: the voters are ids
    # start..start+2 named catalog-N.<serviceName> at the container's ports, every other
    # ordinal a learner by the [learners] scheme under the same Service and ports, and the
    # other services list the voters.
    cm_name = next((v["configMap"]["name"] for v in spec["template"]["spec"].get("volumes", []) if "configMap" in v), None)
    cm = configmaps.get(cm_name)
    if cm is None:
        p("catalog: no cluster-file ConfigMap mounted")
        return
    toml = tomllib.loads(next(iter(cm["data"].values())))
    want = []
    for n in toml["nodes"]:
        host = f"{sts['metadata']['name']}-{n['id']}.{spec['serviceName']}"
        if n["api"] != f"{host}:{ports.get('api')}" or n["rpc"] != f"{host}:{raft}":
            p(f"catalog: cluster file node {n['id']} ({n['api']}, {n['rpc']}) is not {host} at the pod's ports")
        want.append(n["api"])
    ids = sorted(n["id"] for n in toml["nodes"])
    if ids != list(range(start, start + 3)) or any(n.get("role", "voter") != "voter" for n in toml["nodes"]):
        p(f"catalog: cluster file nodes {ids} are not three voters at the first ordinals")
    check_learner_scheme(p, toml, f"{sts['metadata']['name']}-{{id}}.{spec['serviceName']}", ports.get("api"), raft)
    for name, w in workloads.items():
        for cont in pod_spec(w)["containers"]:
            for e in cont.get("env", []):
                if e["name"] == "CONFEITARIA_CATALOG_NODES" and e.get("value", "").split(",") != want:
                    p(f"{name}: CONFEITARIA_CATALOG_NODES {e.get('value')} is not the cluster file's {want}")
                if e["name"] == "CONFEITARIA_CATALOG_NODE_IDS" and [int(x) for x in e.get("value", "").split(",")] != ids:
                    p(f"{name}: CONFEITARIA_CATALOG_NODE_IDS {e.get('value')} is not {ids}")


def learner_of(toml, ordinal):
    """The (api, rpc) a pod of `ordinal` not listed in [[nodes]] takes, as ClusterFile::node
    does: the [learners] scheme with {id} replaced; None without one."""
    t = toml.get("learners")
    if t is None:
        return None
    return t["api"].replace("{id}", str(ordinal)), t["rpc"].replace("{id}", str(ordinal))


def check_learner_scheme(p, toml, host, api_port, raft_port):
    """Pods beyond the voters join as learners: the [learners] scheme must name each such pod
    under the headless Service at the container's ports (checked for ordinals 4 to 9)."""
    if "learners" not in toml:
        p("catalog: the cluster file has no [learners] scheme; pods beyond the voters could not start")
        return
    listed = {n["id"] for n in toml["nodes"]}
    for ordinal in range(1, 10):
        if ordinal in listed:
            continue
        want_host = host.replace("{id}", str(ordinal))
        got = learner_of(toml, ordinal)
        if got != (f"{want_host}:{api_port}", f"{want_host}:{raft_port}"):
            p(f"catalog: pod {ordinal} would be a learner at {got}, not {want_host} at the pod's ports")
            return


def promql_exprs():
    """(where, expr) for every alert and recording rule and every dashboard panel query."""
    out = []
    for f in sorted((ROOT / "deploy/prometheus/rules").glob("*.yml")):
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                out.append((f"{f.name} {r.get('record') or r.get('alert')}", r["expr"]))
    dash = sorted((ROOT / "deploy/grafana/provisioning/dashboards").glob("*.json"))
    if len(dash) < 3:
        problem(f"expected the three dashboards, found {[d.name for d in dash]}")
    for f in dash:
        text = f.read_text()
        if "__inputs" in text or "${DS" in text:
            problem(f"{f.name}: has __inputs placeholders; provisioned dashboards cannot resolve them")
        d = json.loads(text)
        for panel in d["panels"]:
            if panel.get("datasource", {}).get("uid") != "confeitaria-prometheus":
                problem(f"{f.name} panel {panel['title']!r}: datasource uid is not confeitaria-prometheus")
            for t in panel.get("targets", []):
                if t.get("datasource", {}).get("uid") != "confeitaria-prometheus":
                    problem(f"{f.name} panel {panel['title']!r}: a query's datasource uid is not confeitaria-prometheus")
                out.append((f"{f.name} {panel['title']}", t["expr"]))
    return out


def write_promql_rules(dest):
    rules = [{"record": f"check:expr_{i}", "expr": e} for i, (_, e) in enumerate(promql_exprs())]
    pathlib.Path(dest).write_text(yaml.safe_dump({"groups": [{"name": "every-expression", "rules": rules}]}))
    # A failing line of promtool names the rule: this index says which file and panel it is.
    for i, (where, _) in enumerate(promql_exprs()):
        print(f"  check:expr_{i} = {where}")


def k8s_sd_as_static(src, dest):
    cfg = yaml.safe_load(pathlib.Path(src).read_text())
    for sc in cfg["scrape_configs"]:
        for sd in sc.pop("kubernetes_sd_configs", []):
            if sd.get("role") not in {"pod", "service", "endpoints", "endpointslice", "node", "ingress"}:
                problem(f"{src}: kubernetes_sd_configs role {sd.get('role')!r} is not a Kubernetes role")
            if not isinstance(sd.get("namespaces", {}).get("names", []), list):
                problem(f"{src}: kubernetes_sd_configs namespaces.names is not a list")
            sc.setdefault("static_configs", []).append({"targets": ["localhost:9"]})
    out = pathlib.Path(dest)
    out.write_text(yaml.safe_dump(cfg))
    # Rule files are relative to the config file.
    rules = out.parent / "rules"
    if not rules.exists():
        rules.symlink_to(pathlib.Path(src).resolve().parent / "rules")


def main():
    cmd, *args = sys.argv[1:]
    if cmd == "manifests":
        check_manifests(args)
    elif cmd == "promql":
        write_promql_rules(args[0])
    elif cmd == "k8s-sd-as-static":
        k8s_sd_as_static(*args)
    else:
        sys.exit(f"unknown command {cmd}")
    for m in problems:
        print(f"check-deploy: {m}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
