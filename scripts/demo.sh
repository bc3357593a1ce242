#!/usr/bin/env bash
# One command on a fresh machine: installs Node 24, the npm dependencies and the test tools (registry,
# cosign), then runs the main job: signs an image with cosign in a local registry and shows
# `provenant verify` admitting it and denying an unsigned one, with reasons.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24="$HOME/.local/node24"
if ! "$NODE24/bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
  npm i -g --prefix "$NODE24" node@24
fi
export PATH="$NODE24/bin:$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund
eval "$(PROVENANT_SKIP_GO_TOOLS=1 bash test/tools/install.sh --print-env | tail -n 1)"
exec npx tsx scripts/demo.ts
