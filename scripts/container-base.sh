#!/usr/bin/env bash
# Makes a local stand-in for the node:20-bookworm-slim image deploy/container/Dockerfile starts
# from, for machines with Docker but no registry: a Debian bookworm rootfs (debootstrap, minbase,
# cached in /var/cache/weft-test) with this machine's Node.js and npm in /usr/local, as the
# official image lays them out, imported with `docker import`.
# Usage: scripts/container-base.sh [docker -H URI]   (default: the docker client's default)
set -euo pipefail
CACHE=/var/cache/weft-test
ROOT="$CACHE/bookworm-rootfs"
TAG=node:20-bookworm-slim
DOCKER=(docker)
[ $# -gt 0 ] && DOCKER+=(-H "$1")

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || { echo "container-base: this machine's node is $node_major, the image wants 20" >&2; exit 1; }
if [ ! -x "$ROOT/bin/sh" ]; then
  command -v debootstrap >/dev/null || { echo "container-base: install debootstrap (scripts/setup.sh)" >&2; exit 1; }
  rm -rf "$ROOT.tmp"
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6 bookworm "$ROOT.tmp" http://deb.debian.org/debian >&2
  mv "$ROOT.tmp" "$ROOT"
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -a "$ROOT/." "$stage/"
install -D -m 0755 "$(command -v node)" "$stage/usr/local/bin/node"
mkdir -p "$stage/usr/local/include" "$stage/usr/local/lib/node_modules"
cp -a /usr/include/node "$stage/usr/local/include/node"
cp -a "$(npm root -g)/npm" "$stage/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
# Trust what this machine trusts (its CA bundle may hold a proxy's CA that npm needs in the build;
# Node.js reads it through NODE_EXTRA_CA_CERTS).
cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
tar -C "$stage" -c . | "${DOCKER[@]}" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' - "$TAG" >/dev/null
echo "$TAG"
