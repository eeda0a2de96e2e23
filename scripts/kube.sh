#!/usr/bin/env bash
# kube.sh: a real kube-apiserver, kube-controller-manager and kubectl (same version) for weft's Kubernetes-mode tests and
# `weft demo --kube`, built from Debian's own `kubernetes` source package (no binary is packaged).
#
#   scripts/kube.sh build    build (or reuse) the binaries; prints their directory on the last line
#   scripts/kube.sh bindir   print the cached binaries' directory (exit 1 if not built)
#   scripts/kube.sh start [DIR]  etcd + kube-apiserver (secure port, token auth, RBAC) + kube-controller-manager
#                            (nodeipam, --cluster-cidr 10.244.0.0/16) on 127.0.0.1, free ports; flannel's RBAC and a
#                            TokenRequest token for kube-flannel/flannel; prints KUBE_SERVER, ADMIN_KUBECONFIG,
#                            FLANNEL_KUBECONFIG (DIR default /tmp/weft-kube)
#   scripts/kube.sh stop [DIR]   stop those processes by PID (DIR/pids)
#
# start/stop run src/testing/kube-cluster.ts (the harness the tests and the demo use): `npm run build` first.
#
# The binaries are cached outside the repo, keyed by the source package version, in
# $WEFT_KUBE_CACHE (default /var/cache/weft/kube); a cold build takes 10-12 minutes on 2 cores.
set -euo pipefail

CACHE_ROOT="${WEFT_KUBE_CACHE:-/var/cache/weft/kube}"
log() { echo "kube.sh: $*" >&2; }

src_version() {
  # The version apt would fetch: the cache key. Needs the deb-src entry.
  apt-cache showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2; exit}'
}

ensure_sources() {
  local f=/etc/apt/sources.list.d/weft-debian-src.sources
  if ! apt-cache showsrc kubernetes >/dev/null 2>&1 || [ -z "$(src_version)" ]; then
    if [ ! -f "$f" ]; then
      log "adding a deb-src entry for bookworm main ($f)"
      # The same archive apt already uses for binaries, as a source entry.
      local mirror
      mirror="$("$(dirname "$0")/apt-mirror.sh")"
      cat >"$f" <<SRC
Types: deb-src
URIs: $mirror
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    apt-get update -qq
  fi
}

cached_bindir() {
  # Newest cached version directory that holds both binaries.
  local d
  for d in $(ls -1d "$CACHE_ROOT"/*/bin 2>/dev/null | sort -r); do
    if [ -x "$d/kube-apiserver" ] && [ -x "$d/kube-controller-manager" ] && [ -x "$d/kubectl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

build() {
  ensure_sources
  local ver
  ver="$(src_version)"
  [ -n "$ver" ] || { log "apt-cache showsrc kubernetes found no version"; exit 1; }
  local out="$CACHE_ROOT/$ver/bin"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kubectl" ]; then
    log "using cached kube-apiserver $ver ($out)"
    echo "$out"
    return 0
  fi
  log "building kube-apiserver and kube-controller-manager $ver from Debian's source package"
  log "this takes 10-12 minutes on 2 cores the first time; the binaries are cached in $CACHE_ROOT/$ver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq golang-go dpkg-dev rsync golang-github-modern-go-reflect2-dev >/dev/null
  local work="$CACHE_ROOT/$ver/src"
  rm -rf "$work"
  mkdir -p "$work"
  (cd "$work" && apt-get source -qq kubernetes >/dev/null 2>&1)
  local tree
  tree="$(ls -1d "$work"/kubernetes-*/ | head -1)"
  tree="${tree%/}"
  # Go 1.19 with the vendored reflect2 1.0.1 crashes the server on its first pretty-printed reply;
  # Debian's reflect2 1.0.2 does not.
  rsync -a --delete --exclude BUILD /usr/share/gocode/src/github.com/modern-go/reflect2/ \
    "$tree/vendor/github.com/modern-go/reflect2/"
  rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"
  mkdir -p "$tree/.go/src/k8s.io"
  ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
  local start=$SECONDS
  (
    cd "$tree"
    # GOPATH mode, as debian/rules builds it. Progress: one line per minute.
    GOPATH="$tree/.go" CGO_ENABLED=0 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kubectl" >"$work/build.log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      sleep 60
      kill -0 "$pid" 2>/dev/null && log "still building ($(((SECONDS - start) / 60)) min so far; log: $work/build.log)"
    done
    wait "$pid"
  ) || { log "build failed; see $work/build.log"; tail -20 "$work/build.log" >&2; exit 1; }
  mkdir -p "$out"
  cp "$tree/_output/bin/kube-apiserver" "$tree/_output/bin/kube-controller-manager" "$tree/_output/bin/kubectl" "$out/"
  rm -rf "$work"
  log "built in $(((SECONDS - start) / 60)) min: $out"
  echo "$out"
}

case "${1:-}" in
  build) build ;;
  bindir) cached_bindir || { log "not built; run: scripts/kube.sh build"; exit 1; } ;;
  start | stop)
    harness="$(dirname "$0")/../dist/src/testing/kube-cluster.js"
    [ -f "$harness" ] || { log "$harness missing; run: npm run build"; exit 1; }
    if [ "$1" = start ]; then
      WEFT_KUBE_BIN="$(cached_bindir)" || { log "not built; run: scripts/kube.sh build"; exit 1; }
      export WEFT_KUBE_BIN
    fi
    exec node "$harness" "$1" "${2:-/tmp/weft-kube}"
    ;;
  *)
    echo "usage: scripts/kube.sh build|bindir|start [DIR]|stop [DIR]" >&2
    exit 2
    ;;
esac
