#!/usr/bin/env bash
# Installs every external tool the test suites need, into a cache folder, idempotently.
# Tools come from Debian's archive (registry, cosign 2 and 3, crane, oras, etcd, kubectl) and from
# the Go module proxy (helm, kube-apiserver). Nothing touches the system's APT sources.
# Prints shell `export` lines for PATH on stdout's last line when called with --print-env.
set -euo pipefail

TOOLS="${PROVENANT_TOOLS:-$HOME/.cache/provenant-tools}"
mkdir -p "$TOOLS/bin"
log() { echo "[tools] $*" >&2; }

# Pinned versions: tests are written against these.
COSIGN3_VERSION="${COSIGN3_VERSION:-3.1.1}"
COSIGN2_SUITE="trixie"
KUBECTL_VERSION="${KUBECTL_VERSION:-1.36.4+ds-1}"

debian_uri() {
  awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || echo http://deb.debian.org/debian
}

# Private APT configuration per suite, so that the system's sources stay untouched.
apt_suite() {
  local suite=$1 d="$TOOLS/apt-$1"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  echo "deb $(debian_uri) $suite main" > "$d/sources.list"
  printf '%s\n' "Dir::Etc::SourceList \"$d/sources.list\";" 'Dir::Etc::SourceParts "/nonexistent";' \
    "Dir::State::Lists \"$d/lists\";" "Dir::Cache \"$d/cache\";" 'Dir::State::status "/var/lib/dpkg/status";' \
    'APT::Get::AllowUnauthenticated "false";' > "$d/apt.conf"
  if [ ! -f "$d/.updated" ] || [ -n "$(find "$d/.updated" -mmin +1440 2>/dev/null)" ]; then
    APT_CONFIG="$d/apt.conf" apt-get -qq update >&2
    touch "$d/.updated"
  fi
}

# download_debs SUITE DEST PKG... : fetch .debs and unpack them into DEST.
download_debs() {
  local suite=$1 dest=$2; shift 2
  apt_suite "$suite"
  local d="$TOOLS/apt-$suite" work
  work=$(mktemp -d)
  (cd "$work" && APT_CONFIG="$d/apt.conf" apt-get -qq download "$@" >&2) || { rm -rf "$work"; return 1; }
  for f in "$work"/*.deb; do dpkg-deb -x "$f" "$dest" || return 1; done
  rm -rf "$work"
}

# Registry (distribution 2.8) and htpasswd from the machine's own suite.
if [ ! -x "$TOOLS/root-registry/usr/bin/docker-registry" ]; then
  log "docker-registry"
  mkdir -p "$TOOLS/root-registry"
  download_debs bookworm "$TOOLS/root-registry" docker-registry
fi
ln -sf "$TOOLS/root-registry/usr/bin/docker-registry" "$TOOLS/bin/docker-registry"

# cosign 3 (sid), crane, oras, etcd, kubectl.
if [ ! -x "$TOOLS/root-sid/usr/bin/cosign" ] || [ ! -x "$TOOLS/root-sid/usr/bin/crane" ]; then
  log "cosign $COSIGN3_VERSION, crane, oras, etcd, kubectl from sid"
  mkdir -p "$TOOLS/root-sid"
  # Pinned versions first; sid moves on, so fall back to its current ones (the tests say which they saw).
  download_debs sid "$TOOLS/root-sid" "cosign=$COSIGN3_VERSION*" crane oras etcd-server "kubectl=$KUBECTL_VERSION" ||
    { log "pinned versions gone from sid; taking the current ones"; download_debs sid "$TOOLS/root-sid" cosign crane oras etcd-server "kubectl=1.*"; }
fi
ln -sf "$TOOLS/root-sid/usr/bin/cosign" "$TOOLS/bin/cosign3"
for t in crane oras etcd kubectl; do
  [ -x "$TOOLS/root-sid/usr/bin/$t" ] && ln -sf "$TOOLS/root-sid/usr/bin/$t" "$TOOLS/bin/$t"
done

# cosign 2 (trixie): legacy .sig/.att tags by default.
if [ ! -x "$TOOLS/root-trixie/usr/bin/cosign" ]; then
  log "cosign 2 from trixie"
  mkdir -p "$TOOLS/root-trixie"
  download_debs trixie "$TOOLS/root-trixie" cosign
fi
ln -sf "$TOOLS/root-trixie/usr/bin/cosign" "$TOOLS/bin/cosign2"

# Go-built tools (helm, kube-apiserver) are only needed by the chart and end-to-end suites;
# skip with PROVENANT_SKIP_GO_TOOLS=1. A first build takes about 5 minutes on 2 cores, then it is cached.
if [ "${PROVENANT_SKIP_GO_TOOLS:-0}" != 1 ]; then
  PROVENANT_TOOLS="$TOOLS" bash "$(dirname "$0")/install-go-tools.sh"
fi

log "cosign3: $("$TOOLS/bin/cosign3" version 2>/dev/null | awk '/GitVersion/{print $2}')"
log "cosign2: $("$TOOLS/bin/cosign2" version 2>/dev/null | awk '/GitVersion/{print $2}')"
if [ "${1:-}" = "--print-env" ]; then echo "export PATH=\"$TOOLS/bin:\$PATH\""; fi
