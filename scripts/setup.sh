#!/usr/bin/env bash
# Installs everything weft, its tests and its demo need on Debian (run as root), then builds weft.
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(iproute2 iputils-ping iperf3 socat tshark tcpdump ethtool iptables etcd-server etcd-client libpcap-dev liburing-dev jq python3 make g++ openssl containernetworking-plugins chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian etcd-server package starts a system etcd on 2379; weft's tests start their own
# etcd on other ports, so leave it alone.

# Docker for the deploy tests (dockerd with --bip/--mtu from subnet.env, test/deploy/systemd.test.ts;
# the container image build, test/deploy/container-image.netns.test.ts): the tests start their own dockerd
# with a private socket and data root. There is no registry, so images come from `docker import`:
# busybox-static for the first, a debootstrap'd bookworm (scripts/container-base.sh) for the second.
DOCKER_PKGS=(docker.io busybox-static debootstrap)
missing=()
for p in "${DOCKER_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci runs our own install script (node-gyp builds native/) and the approved dependency
# scripts (cap, raw-socket; see allowScripts in package.json).
npm ci --no-audit --no-fund
npm run build
# Kubernetes mode's tests and `weft demo --kube` need a real kube-apiserver, kube-controller-manager
# and kubectl: built once from Debian's source package (10-12 minutes, progress on stderr), then cached.
./scripts/kube.sh build >/dev/null
