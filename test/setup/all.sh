#!/usr/bin/env bash
# Installs everything the tests and the daemon need that a fresh clone lacks. Idempotent: each step returns at
# once when its result is already there. Called by `npm test` (test/run-all.sh) and by `npm run setup`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

step() { printf '\n== setup: %s\n' "$*"; }

if [ ! -d node_modules ]; then
  step "npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

step "Python trainer venv (.venv, PyTorch from PyPI)"
bash python/install.sh

step "kubo from source (.tools/bin/ipfs)"
bash test/setup/kubo.sh

if [ -f native/binding.gyp ]; then
  if ! ls native/build/Release/*.node >/dev/null 2>&1; then
    step "native addon (node-gyp)"
    npm run build:native
  fi
fi

step "Chromium for the dashboard test (Debian package)"
bash test/setup/chromium.sh

step "aarch64 cross compiler and qemu, for the NEON erasure path (Debian packages)"
bash test/setup/arm-emulation.sh

step "TypeScript build"
npm run build --silent
