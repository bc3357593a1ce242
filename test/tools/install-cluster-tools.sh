#!/usr/bin/env bash
# Installs the system packages that the image and cluster tiers need (buildah, debootstrap, runc, containerd, the CNI
# plugins, iptables, conntrack) from the machine's own Debian archive with apt-get, idempotently.
# These run as root and touch the kernel (namespaces, mounts, bridges), so they are system packages rather
# than unpacked .debs in the tools cache. Exits 3 (and says why) where they cannot be installed: not root,
# not Debian, or apt-get failing; callers treat that as "skip the tier".
# Usage: install-cluster-tools.sh
set -euo pipefail
log() { echo "[cluster-tools] $*" >&2; }

PACKAGES=(buildah debootstrap runc containerd containernetworking-plugins iptables conntrack)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "all present: ${PACKAGES[*]}"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "SKIP: need root to apt-get install ${missing[*]}"
  exit 3
fi
command -v apt-get >/dev/null || { log "SKIP: no apt-get (not Debian): missing ${missing[*]}"; exit 3; }
log "apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; an install that fails for stale lists retries after update.
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
  apt-get update -qq >&2 || { log "SKIP: apt-get update failed"; exit 3; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || { log "SKIP: apt-get install failed"; exit 3; }
fi
# Debian's containerd package starts the system service; the tiers run their own containerd with a private
# root and socket, so the system one is not needed (and left as the package set it up).
log "installed: ${missing[*]}"
