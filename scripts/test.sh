#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests start by themselves (redis-server)
# when it is missing and this machine can install packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkg() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
  else
    echo "missing $1: install the Debian package $2 (sudo apt-get install -y $2)" >&2
    exit 1
  fi
}

need_pkg redis-server redis-server
# The storefront's browser test drives headless Chromium from a stdlib-only Python script.
need_pkg python3 python3
need_pkg chromium chromium

# The container test (below) needs local base images; debootstrap is network- and disk-bound,
# so it runs beside the compiling and testing instead of after them.
compose_e2e=0
base_log=target/base-image.log
if [ "${CONFEITARIA_COMPOSE_E2E:-1}" = 0 ]; then
  compose_e2e_skip="CONFEITARIA_COMPOSE_E2E=0 was set"
elif ! docker info >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  compose_e2e_skip="no Docker daemon answers here (docker info failed) or docker-compose is missing"
else
  compose_e2e=1
  need_pkg debootstrap debootstrap
  mkdir -p target
  ./scripts/base-image.sh >"$base_log" 2>&1 &
  base_pid=$!
fi

# Two cores: keep heavy integration tests from starving each other's timers.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
status=0
# Every crate but the simulations, in the debug profile.
cargo test --workspace --exclude sim-tests --locked --no-fail-fast "$@" || status=$?
# The simulations replay only when tokio's randomness is seeded (--cfg tokio_unstable, set by
# sim-tests/.cargo/config.toml, which cargo reads when run from that directory), and their
# seed budget is sized for a release build; they build into target/sim.
(cd sim-tests && cargo test --release --locked --no-fail-fast "$@") || status=$?
./scripts/check-deploy.sh || status=$?  # deploy/ offline: kustomize, schemas, promtool (docs/operations.md)
./scripts/schemathesis.sh || status=$?  # every OpenAPI document against its running service (docs/api.md)
# The shop in containers under faults (cli/tests/compose.rs, docs/deploy.md): it builds the
# release binaries and the images itself. Never skipped silently.
if [ "$compose_e2e" = 1 ]; then
  if wait "$base_pid"; then
    cat "$base_log"
    e2e_start=$(date +%s)
    # The images carry the debug binaries the tests above built: a cold release build would
    # add ~5 minutes to CI (docs/deploy.md); `scripts/compose.sh up` builds release ones.
    CONFEITARIA_COMPOSE_PROFILE=${CONFEITARIA_COMPOSE_PROFILE:-debug} \
      cargo test -p confeitaria-cli --test compose --locked -- --ignored --nocapture || status=$?
    echo "compose e2e: ${CONFEITARIA_COMPOSE_PROFILE:-debug} build, images and test took $(( $(date +%s) - e2e_start )) s"
  else
    cat "$base_log" >&2
    echo "!!! compose e2e: FAILED: the base images could not be built !!!"
    status=1
  fi
else
  echo "!!! compose e2e: SKIPPED: $compose_e2e_skip !!!"
fi
exit "$status"
