#!/usr/bin/env bash
# The shop in containers, one command each way:
#   scripts/compose.sh up     build the release binaries and images, start docker-compose.yml,
#                             wait until every service is healthy, print the URLs
#   scripts/compose.sh down   remove the containers, networks and volumes
#   scripts/compose.sh images build the binaries and images only
# The project name (COMPOSE_PROJECT_NAME, default confeitaria) and the published ports
# (CONFEITARIA_PORT_*, see docker-compose.yml) may be changed to run beside another shop;
# COMPOSE_PROFILES=learners also starts a learner (catalog-4), as `confeitaria demo --compose`
# wants for its scalability scenario. CONFEITARIA_COMPOSE_PROFILE=debug puts the debug binaries
# in the images instead of release ones (CI's container test: the other tests built them
# already, and a cold release build would add ~5 minutes; docs/deploy.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-confeitaria}
compose() { docker-compose -f docker-compose.yml "$@"; }

secrets() {
    # Real secrets, made once per checkout, in the git-ignored .env that Compose reads
    # (readable by its owner only; the umask stays inside the subshell).
    if [ ! -f .env ]; then
        (
            umask 077
            {
                echo "# Written by scripts/compose.sh: this shop's secrets. Never commit this file."
                echo "CONFEITARIA_CLUSTER_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
                echo "CONFEITARIA_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
            } > .env
        )
        echo "compose: wrote new secrets to .env"
    fi
}

images() {
    local bins=(catalog-node cart orders gateway probe)
    # Cargo's profile and the directory it builds into.
    local profile=${CONFEITARIA_COMPOSE_PROFILE:-release} cargo_profile dir
    case $profile in
        release) cargo_profile=release dir=release ;;
        debug) cargo_profile=dev dir=debug ;;
        *) echo "compose: CONFEITARIA_COMPOSE_PROFILE is release or debug, not $profile" >&2; exit 2 ;;
    esac
    echo "compose: building the $profile binaries"
    cargo build --profile "$cargo_profile" --locked -q $(printf -- '--bin %s ' "${bins[@]}")
    ./scripts/base-image.sh
    local ctx=target/docker-context
    rm -rf "$ctx" && mkdir -p "$ctx"
    for b in "${bins[@]}"; do
        # Debug info stays on the host; the image gets the stripped binary.
        strip -o "$ctx/$b" "target/$dir/$b"
    done
    # The images run as an unprivileged user: whatever the caller's umask, it must execute them.
    chmod 0755 "$ctx"/*
    local tag=${CONFEITARIA_TAG:-local}
    for t in catalog-node cart orders gateway; do
        docker build -q -f deploy/docker/Dockerfile --build-arg BASE=confeitaria/base:bookworm \
            --target "$t" -t "confeitaria/$t:$tag" "$ctx" >/dev/null
        echo "compose: image confeitaria/$t:$tag"
    done
    for t in redis prometheus; do
        docker build -q -f deploy/docker/tools.Dockerfile --build-arg BASE=confeitaria/tools:bookworm \
            --target "$t" -t "confeitaria/$t:$tag" deploy/docker >/dev/null
        echo "compose: image confeitaria/$t:$tag"
    done
}

wait_healthy() {
    local deadline=$(( $(date +%s) + ${CONFEITARIA_COMPOSE_WAIT_SECS:-180} ))
    while :; do
        local waiting=()
        for id in $(compose ps -q); do
            local s
            s=$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
            case "$s" in *" healthy"|*" running") ;; *) waiting+=("$s") ;; esac
        done
        if [ ${#waiting[@]} -eq 0 ] && [ -n "$(compose ps -q)" ]; then
            return 0
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "compose: not healthy in time: ${waiting[*]}" >&2
            compose ps >&2
            compose logs --tail=20 >&2
            return 1
        fi
        sleep 1
    done
}

case "${1:-}" in
    up)
        secrets
        images
        compose up -d --remove-orphans
        wait_healthy
        cat <<URLS
compose: the shop is up ($COMPOSE_PROJECT_NAME)
  storefront   http://127.0.0.1:${CONFEITARIA_PORT_GATEWAY:-8000}/
  dashboard    http://127.0.0.1:${CONFEITARIA_PORT_GATEWAY:-8000}/painel
  catalog      http://127.0.0.1:${CONFEITARIA_PORT_CATALOG_1:-5001}  :${CONFEITARIA_PORT_CATALOG_2:-5011}  :${CONFEITARIA_PORT_CATALOG_3:-5021}  (learner, profile learners: :${CONFEITARIA_PORT_CATALOG_4:-5031})
  cart, orders http://127.0.0.1:${CONFEITARIA_PORT_CART:-5002}  http://127.0.0.1:${CONFEITARIA_PORT_ORDERS:-5003}
  prometheus   http://127.0.0.1:${CONFEITARIA_PORT_PROMETHEUS:-9090}
  admin token  set -a; . ./.env; cargo run -q --bin confeitaria -- token --role admin
  demo         cargo run -q --bin confeitaria -- demo --compose
  stop         scripts/compose.sh down
URLS
        ;;
    down)
        # Removing needs no secrets, but Compose interpolates the whole file first.
        if [ ! -f .env ]; then
            export CONFEITARIA_CLUSTER_SECRET=unused CONFEITARIA_JWT_SECRET=unused
        fi
        # Every profile's containers too: Compose 1.29 leaves an inactive profile's alone.
        COMPOSE_PROFILES=${COMPOSE_PROFILES:+$COMPOSE_PROFILES,}learners compose down -v --remove-orphans
        ;;
    images)
        images
        ;;
    *)
        echo "usage: scripts/compose.sh up|down|images" >&2
        exit 2
        ;;
esac
