#!/usr/bin/env bash
# Writes random secrets for one Kubernetes overlay into its git-ignored secrets.env, which
# the overlay's secretGenerator reads (deploy/k8s/secrets.env.example). Leaves an existing
# file alone: changing the secrets of a running shop is a rollout (docs/operations.md).
#   scripts/k8s-secrets.sh dev|prod
set -euo pipefail
cd "$(dirname "$0")/.."
overlay=${1:?usage: scripts/k8s-secrets.sh dev|prod}
dir=deploy/k8s/overlays/$overlay
[ -d "$dir" ] || { echo "no overlay $dir" >&2; exit 2; }
if [ -f "$dir/secrets.env" ]; then
    echo "k8s-secrets: $dir/secrets.env exists; left as it is"
    exit 0
fi
(
    umask 077
    {
        echo "# Written by scripts/k8s-secrets.sh. Never commit this file."
        echo "CONFEITARIA_CLUSTER_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        echo "CONFEITARIA_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } > "$dir/secrets.env"
)
echo "k8s-secrets: wrote $dir/secrets.env"
