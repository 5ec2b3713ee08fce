#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser test (driven by playwright-core, which downloads no browser).
# Idempotent: returns at once when the browser is there. MAGNET_CHROMIUM names another binary.
set -euo pipefail
browser="${MAGNET_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
  echo "chromium.sh: $("$browser" --version 2>/dev/null || echo 'installed')" >&2
else
  echo "chromium.sh: $browser is missing and this user cannot apt-get it: install Debian's chromium package (or set MAGNET_CHROMIUM); the dashboard test needs it" >&2
fi
