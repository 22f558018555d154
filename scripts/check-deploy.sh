#!/usr/bin/env bash
# Offline checks of the deployment files (deploy/k8s, deploy/prometheus, deploy/grafana), no
# cluster needed; docs/operations.md says what each covers:
#   1. both overlays render (kubectl kustomize, and scripts/kustomize_lite.py agrees; the
#      latter alone where kubectl is missing), with a throwaway secrets.env per overlay;
#   2. kubernetes-validate --strict on the rendered objects, yamllint on sources and renders;
#   3. scripts/check_deploy.py: what schemas miss (selectors, headless serviceName, probe
#      ports, generated Secrets and ConfigMaps, env vars the binaries read, PDB and
#      NetworkPolicy over the catalog pods, the cluster file against the StatefulSet: three
#      voters at the first ordinals, every further pod a learner by the [learners] scheme);
#   4. promtool check config (Compose and, discovery swapped for a static target, Kubernetes),
#      check rules, test rules (deploy/prometheus/tests: alerts fire on the series they should);
#      every dashboard query and rule expression compiled by promtool.
# Installs what it lacks: Debian's prometheus (promtool) when root, a venv with
# kubernetes-validate and yamllint under target/. Prints "check-deploy: ok" or fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.31.0
venv=${CONFEITARIA_DEPLOY_VENV:-target/deploy-venv}

fail() {
    echo "!!! check-deploy: FAILED: $* !!!" >&2
    exit 1
}

if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "check-deploy: installing Debian's prometheus (for promtool) ..."
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        fail "promtool missing: apt-get install prometheus"
    fi
fi
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/yamllint" ]; then
    echo "check-deploy: installing kubernetes-validate and yamllint into $venv ..."
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        kubernetes-validate==1.37.0 yamllint==1.38.0 PyYAML==6.0.4
fi
py="$venv/bin/python"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Render each overlay from a copy of deploy/k8s, with the example secrets standing in
#    for the git-ignored secrets.env where there is none.
cp -r deploy/k8s "$work/k8s"
renders=()
for overlay in dev prod; do
    dir="$work/k8s/overlays/$overlay"
    [ -f "$dir/secrets.env" ] || cp deploy/k8s/secrets.env.example "$dir/secrets.env"
    out="$work/$overlay.yaml"
    if command -v kubectl >/dev/null 2>&1; then
        kubectl kustomize "$dir" > "$out" || fail "overlay $overlay does not render"
        # The fallback renderer must agree with kubectl wherever both exist.
        "$py" scripts/kustomize_lite.py --compare "$dir" "$out" \
            || fail "scripts/kustomize_lite.py renders overlay $overlay unlike kubectl kustomize"
        how="kubectl kustomize, and kustomize_lite agrees"
    else
        # Debian, PyPI and crates.io have no kustomize (docs/decisions.md): the subset the
        # overlays use, rendered by scripts/kustomize_lite.py.
        "$py" scripts/kustomize_lite.py "$dir" > "$out" || fail "overlay $overlay does not render"
        how="scripts/kustomize_lite.py: no kubectl here"
    fi
    echo "check-deploy: overlay $overlay renders ($(grep -c '^kind:' "$out") objects; $how)"
    renders+=("$out")
done

# 2. Schemas (strict: unknown fields are errors) and lint.
for r in "${renders[@]}"; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$r" \
        || fail "kubernetes-validate --strict rejects $(basename "$r")"
done
"$venv/bin/yamllint" -s -c deploy/.yamllint.yml deploy docker-compose.yml "${renders[@]}" \
    || fail "yamllint"

# 3. What the schemas miss.
"$py" scripts/check_deploy.py manifests "${renders[@]}" || fail "manifest cross-checks"

# 4. Prometheus: both configs, the rules, and every expression of rules and dashboards.
promtool check config deploy/prometheus/prometheus.yml >/dev/null \
    || { promtool check config deploy/prometheus/prometheus.yml; fail "prometheus.yml"; }
mkdir -p "$work/prom"
"$py" scripts/check_deploy.py k8s-sd-as-static deploy/prometheus/prometheus-k8s.yml "$work/prom/prometheus-k8s.yml" \
    || fail "prometheus-k8s.yml discovery"
promtool check config "$work/prom/prometheus-k8s.yml" >/dev/null \
    || { promtool check config "$work/prom/prometheus-k8s.yml"; fail "prometheus-k8s.yml"; }
promtool check rules deploy/prometheus/rules/*.yml >/dev/null \
    || { promtool check rules deploy/prometheus/rules/*.yml; fail "rules"; }
promtool test rules deploy/prometheus/tests/*.test.yml >/dev/null \
    || { promtool test rules deploy/prometheus/tests/*.test.yml; fail "alert rule tests"; }
"$py" scripts/check_deploy.py promql "$work/exprs.yml" > "$work/exprs.index" || fail "dashboards"
promtool check rules "$work/exprs.yml" >/dev/null || {
    promtool check rules "$work/exprs.yml"
    cat "$work/exprs.index"
    fail "a dashboard query or rule expression does not compile"
}
echo "check-deploy: ok ($(grep -c 'check:expr_' "$work/exprs.index") PromQL expressions compiled)"
