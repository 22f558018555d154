#!/usr/bin/env bash
# Makes the local base images the Dockerfiles build FROM where no registry can be reached:
#   confeitaria/base:bookworm   Debian bookworm, minbase (the services' base)
#   confeitaria/tools:bookworm  the same plus redis-server and prometheus from Debian
# Each is built once (debootstrap + docker import) and reused by tag. Elsewhere the
# Dockerfiles' defaults (debian:bookworm-slim) are pulled instead and nothing here is needed.
set -euo pipefail

mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

need() {
    command -v "$1" >/dev/null && return
    echo "base-image: installing $2 from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

make_image() { # TAG PACKAGES
    local tag=$1 include=$2
    if docker image inspect "$tag" >/dev/null 2>&1; then
        echo "base-image: $tag already built"
        return
    fi
    local dir
    dir=$(mktemp -d /var/tmp/confeitaria-rootfs.XXXXXX)
    trap 'rm -rf "$dir"' RETURN
    echo "base-image: debootstrap bookworm ($include) from $mirror"
    debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$dir" "$mirror" >/dev/null
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | docker import - "$tag" >/dev/null
    echo "base-image: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

# debootstrap waits on the mirror and the disk more than on the CPU: both at once.
docker image inspect confeitaria/base:bookworm confeitaria/tools:bookworm >/dev/null 2>&1 \
    || need debootstrap debootstrap
make_image confeitaria/base:bookworm "" &
base=$!
make_image confeitaria/tools:bookworm "redis-server,prometheus" &
tools=$!
status=0
wait "$base" || status=$?
wait "$tools" || status=$?
exit "$status"
