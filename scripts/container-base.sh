#!/usr/bin/env bash
# container-base.sh: a local stand-in for the node:20-bookworm-slim image that
# deploy/container/Dockerfile starts from, for machines with Docker but no registry: a Debian
# bookworm rootfs (debootstrap, minbase) with this machine's Node.js 20, its headers and npm in
# /usr/local, as the official image lays them out, loaded with `docker import`.
#
#   scripts/container-base.sh [--trust-host-cas] [-H DOCKER_HOST]
#
# Prints the image tag (weft-base/node:20-bookworm-slim-<key>) on stdout; pass it to the build as
# `--build-arg NODE_IMAGE=<tag>`. An image with that tag already in the daemon is reused.
#
# --trust-host-cas adds this machine's local CAs (/usr/local/share/ca-certificates) to the base
# and points Node.js at the bundle (NODE_EXTRA_CA_CERTS): needed where egress goes through a
# TLS-inspecting proxy, or `npm ci` in the build fails with SELF_SIGNED_CERT_IN_CHAIN. It changes
# only this stand-in, never the Dockerfile.
#
# The rootfs tarball is cached outside the repo in $WEFT_CONTAINER_CACHE (default /var/cache/weft),
# as container-base-<key>/rootfs.tar, keyed by this script, the Node.js version and the CAs; a
# cold debootstrap takes 2-4 minutes, a cached import seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE_ROOT="${WEFT_CONTAINER_CACHE:-/var/cache/weft}"
SUITE=bookworm
# The Debian archive this machine's apt already uses (WEFT_DEBIAN_MIRROR overrides it).
MIRROR="${WEFT_DEBIAN_MIRROR:-$(scripts/apt-mirror.sh)}"
log() { echo "container-base: $*" >&2; }

trust=0
DOCKER=(docker)
while [ $# -gt 0 ]; do
  case "$1" in
    --trust-host-cas) trust=1 ;;
    -H) DOCKER+=(-H "$2"); shift ;;
    *) log "unknown argument $1 (usage: $0 [--trust-host-cas] [-H DOCKER_HOST])"; exit 2 ;;
  esac
  shift
done

node_version=$(node -p 'process.versions.node')
[ "${node_version%%.*}" = 20 ] || { log "this machine's node is $node_version, the image wants 20"; exit 1; }
cas=()
if [ "$trust" = 1 ] && [ -d /usr/local/share/ca-certificates ]; then
  mapfile -t cas < <(find /usr/local/share/ca-certificates -name '*.crt' -type f | sort)
fi
key=$( { cat "$0"; echo "$node_version $SUITE $MIRROR trust=$trust"; for c in "${cas[@]}"; do cat "$c"; done; } |
  sha256sum | cut -c1-12)
TAG="weft-base/node:20-bookworm-slim-$key"
if "${DOCKER[@]}" image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG"
  exit 0
fi

dir="$CACHE_ROOT/container-base-$key"
if [ ! -s "$dir/rootfs.tar" ]; then
  command -v debootstrap >/dev/null || { log "install debootstrap (scripts/setup.sh)"; exit 1; }
  mkdir -p "$dir"
  stage=$(mktemp -d "$dir/stage.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  log "debootstrap $SUITE into $stage (cold cache: a few minutes)"
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6 "$SUITE" "$stage" "$MIRROR" >&2
  install -D -m 0755 "$(command -v node)" "$stage/usr/local/bin/node"
  mkdir -p "$stage/usr/local/include" "$stage/usr/local/lib/node_modules"
  # node-gyp compiles the addons against these headers (npm ci --nodedir=/usr/local).
  cp -a /usr/include/node "$stage/usr/local/include/node"
  cp -a "$(npm root -g)/npm" "$stage/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
  if [ ${#cas[@]} -gt 0 ]; then
    cp "${cas[@]}" "$stage/usr/local/share/ca-certificates/"
    chroot "$stage" update-ca-certificates >&2
  fi
  # The official image ships without apt lists and caches; so does this one.
  rm -rf "$stage"/var/lib/apt/lists/* "$stage"/var/cache/apt/*.bin "$stage"/var/cache/apt/archives/*.deb
  tar -C "$stage" -cf "$dir/rootfs.tar.tmp" .
  mv "$dir/rootfs.tar.tmp" "$dir/rootfs.tar"
fi
changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]')
[ ${#cas[@]} -gt 0 ] && changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
"${DOCKER[@]}" import "${changes[@]}" "$dir/rootfs.tar" "$TAG" >/dev/null
echo "$TAG"
