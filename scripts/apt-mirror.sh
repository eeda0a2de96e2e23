#!/usr/bin/env bash
# apt-mirror.sh: prints the URI of the Debian archive this machine's apt already uses (the first
# `deb` source that is not a security or updates archive), so scripts that need a mirror
# (debootstrap, a deb-src entry) use the machine's own configuration instead of naming a host.
#   scripts/apt-mirror.sh            -> e.g. the URIs value of /etc/apt/sources.list.d/debian.sources
set -euo pipefail
uri=""
shopt -s nullglob
# deb822 files: a stanza is a block of "Key: value" lines; take URIs of a Types: deb stanza.
for f in /etc/apt/sources.list.d/*.sources; do
  uri=$(awk '
    BEGIN { RS = ""; FS = "\n" }
    {
      types = ""; uris = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^Types:/) types = $i
        if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
      }
      if (types ~ /(^|[ \t])deb([ \t]|$)/ && uris != "" && uris !~ /security/) { split(uris, u, /[ \t]+/); print u[1]; exit }
    }' "$f")
  [ -n "$uri" ] && break
done
# One-line format.
if [ -z "$uri" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
    [ -n "$uri" ] && break
  done
fi
[ -n "$uri" ] || { echo "apt-mirror.sh: no Debian archive found in /etc/apt/sources.list{,.d}" >&2; exit 1; }
echo "$uri"
