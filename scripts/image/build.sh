#!/usr/bin/env bash
# `npm run image`: builds Provenant's image from the project's Dockerfile with buildah (no Docker engine:
# `bud --isolation chroot`, vfs storage under $PROVENANT_IMAGE_CACHE, layers cached between builds) and
# writes it as an OCI image layout to .tmp/image/oci (tag "dev"), with .tmp/image/image.json (digest and
# sizes) and the size on stdout's last lines. By default the bases are the stand-ins of
# scripts/image/standin-bases.sh, because Docker Hub and gcr.io cannot be reached here (docs/image.md);
# PROVENANT_IMAGE_BASES=public builds on the Dockerfile's own defaults instead.
# Options: --push REF  also push the image to a registry (plain HTTP allowed: loopback test registries).
# Exit status 3 means "cannot build on this machine" (no buildah, not root), with the reason on stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${PROVENANT_IMAGE_CACHE:-$HOME/.cache/provenant-image}"
OUT="${PROVENANT_IMAGE_OUT:-.tmp/image}"
TAG=localhost/provenant:dev
push=""
while [ $# -gt 0 ]; do
  case "$1" in
    --push) push=${2:?--push needs a reference}; shift 2 ;;
    *) echo "usage: build.sh [--push REF]" >&2; exit 2 ;;
  esac
done

log() { echo "[image] $*" >&2; }
command -v buildah >/dev/null || { log "SKIP: buildah is not installed (test/tools/install-cluster-tools.sh)"; exit 3; }
[ "$(id -u)" = 0 ] || { log "SKIP: buildah with chroot isolation and vfs storage needs root here"; exit 3; }

export BUILDAH_STORAGE="--root $CACHE/storage --runroot $CACHE/run --storage-driver vfs"
read -r -a STORAGE <<<"$BUILDAH_STORAGE"
bah() { buildah "${STORAGE[@]}" "$@"; }
# buildah's own registries.conf and policy.json come with Debian's package; nothing here reads the system's
# container storage (/var/lib/containers) or changes it.

started=$(date +%s)
args=()
bases=""
if [ "${PROVENANT_IMAGE_BASES:-standin}" != public ]; then
  bases=$(bash scripts/image/standin-bases.sh)
  for kv in $bases; do args+=(--build-arg "$kv"); done
  args+=(--pull=false)
fi
bases_done=$(date +%s)

# Where the npm registry is reached through a TLS-inspecting proxy, npm ci
# inside the build needs that CA too (the host's npm `cafile`, else NODE_EXTRA_CA_CERTS): bind-mounted for
# the RUN steps only (a global npmrc naming it), so that it enters no layer and the Dockerfile stays as
# users build it.
cafile=$(npm config get cafile 2>/dev/null || true)
[ -n "$cafile" ] && [ "$cafile" != null ] || cafile=${NODE_EXTRA_CA_CERTS:-}
if [ -n "$cafile" ] && [ -f "$cafile" ]; then
  mkdir -p "$CACHE/build-mounts"
  echo "cafile=/etc/provenant-build-ca.crt" >"$CACHE/build-mounts/npmrc"
  args+=(-v "$cafile:/etc/provenant-build-ca.crt:ro" -v "$CACHE/build-mounts/npmrc:/usr/local/etc/npmrc:ro")
  log "npm in the build trusts the host's npm cafile $cafile (bind mount, not in the image)"
fi

log "buildah bud ${args[*]}"
bah bud --isolation chroot --layers --format oci "${args[@]}" -t "$TAG" -f Dockerfile . >&2
built=$(date +%s)

mkdir -p "$OUT"
rm -rf "$OUT/oci"
bah push --quiet --digestfile "$OUT/digest" "$TAG" "oci:$OUT/oci:dev" >&2
if [ -n "$push" ]; then
  bah push --quiet --tls-verify=false "$TAG" "docker://$push" >&2
fi
# vfs keeps a full copy of the file system per layer, so the layer cache grows with each source change.
# It is what makes a rebuild fast (the npm ci layer above all), so it is only dropped when it passes
# PROVENANT_IMAGE_CACHE_MAX_GB (default 16); the next build then starts from the bases again.
if [ "$(du -s --block-size=1G "$CACHE/storage" | cut -f1)" -gt "${PROVENANT_IMAGE_CACHE_MAX_GB:-16}" ]; then
  log "layer cache above ${PROVENANT_IMAGE_CACHE_MAX_GB:-16} GB: removing intermediate images"
  bah rmi --prune >/dev/null 2>&1 || true
fi

# What a release attests about the image (docs/image.md): a CycloneDX SBOM of the npm dependencies it holds
# (the lock file without devDependencies, exactly what `npm ci` + `npm prune --omit=dev` leave; flat, so that
# a policy condition sees every package in `predicate.components`) and the
# SLSA provenance predicate of this build.
npx cyclonedx-npm --omit dev --flatten-components --output-format JSON --spec-version 1.6 --output-reproducible \
  --output-file "$OUT/sbom.cdx.json" 2>/dev/null
base_digests=""
if [ "${PROVENANT_IMAGE_BASES:-standin}" != public ]; then
  for kv in $bases; do
    ref=${kv#*=}
    base_digests+=" $ref=$(bah inspect --type image --format '{{.FromImageDigest}}' "$ref")"
  done
fi
PROVENANT_BUILD_STARTED=$(date -u -d "@$started" +%FT%TZ) PROVENANT_BUILD_FINISHED=$(date -u -d "@$built" +%FT%TZ) \
  PROVENANT_BUILD_ARGS="${bases:-}" PROVENANT_BASE_DIGESTS="$base_digests" \
  npx tsx scripts/image/provenance.ts "$OUT/provenance.slsa.json"

npx tsx scripts/image/report.ts "$OUT" "$((bases_done - started))" "$((built - bases_done))"
