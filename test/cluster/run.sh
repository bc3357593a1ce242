#!/usr/bin/env bash
# `npm run test:cluster`: Provenant as users run it, in three stages (docs/cluster.md):
#   1 image    the Dockerfile built with buildah (npm run image) and run with runc     test/cluster/image.test.ts
#   2 signing  the built image signed and attested, verified with the shipped policy  test/cluster/signing.test.ts
#   3 node     the chart installed on a single-node cluster with kubelet + containerd test/cluster/node.test.ts
# Installs what each stage needs (cached under ~/.cache), then runs the stages that this machine can run.
# A stage that cannot run here is skipped with its reason on a line starting "[test:cluster] SKIPPED".
# Exit status: the tests' status; 3 when every stage was skipped. Extra arguments go to vitest.
set -uo pipefail
cd "$(dirname "$0")/../.."
log() { echo "[test:cluster] $*" >&2; }
files=()
skipped=0
skip() {
  log "SKIPPED stage $1: $2"
  skipped=$((skipped + 1))
}

if [ "$(uname -s)" != Linux ] || [ "$(id -u)" != 0 ]; then
  log "SKIPPED stages 1-3: they need Linux and root (buildah, runc, containerd and kubelet create namespaces and mounts)"
  exit 3
fi
bash test/tools/install.sh || { log "test/tools/install.sh failed"; exit 1; }
bash test/tools/install-cluster-tools.sh
case $? in
  0) ;;
  3) log "SKIPPED stages 1-3: the system packages (buildah, runc, containerd, CNI plugins) cannot be installed"; exit 3 ;;
  *) exit 1 ;;
esac

start=$(date +%s)
bash scripts/image/build.sh
case $? in
  0) files+=(test/cluster/image.test.ts test/cluster/signing.test.ts) ;;
  3) skip 1-2 "the image cannot be built here (see the [image] line above)" ;;
  *) log "npm run image failed"; exit 1 ;;
esac
log "image ready in $(($(date +%s) - start)) s"

if [ ${#files[@]} -gt 0 ]; then
  if bash test/tools/install-go-tools.sh kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy pause helm; then
    files+=(test/cluster/node.test.ts)
  else
    skip 3 "the Kubernetes node components could not be built (test/tools/install-go-tools.sh, output above)"
  fi
fi

existing=()
for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
[ ${#existing[@]} -gt 0 ] || { log "no stage can run on this machine"; exit 3; }
npx vitest run --config vitest.cluster.config.ts "${existing[@]}" "$@"
