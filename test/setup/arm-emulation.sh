#!/usr/bin/env bash
# An aarch64 cross compiler and qemu user-mode emulation, so the native suite runs the erasure codec's NEON path on an
# x86 machine (native/test.sh). Idempotent: returns at once when both are there, or on a machine that is ARM itself.
set -euo pipefail
[ "$(uname -m)" = x86_64 ] || exit 0
if command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64-static >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(g++-aarch64-linux-gnu qemu-user-static)
  apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; }
  echo "arm-emulation.sh: $(aarch64-linux-gnu-g++ --version | head -n 1); $(qemu-aarch64-static --version | head -n 1)" >&2
else
  echo "arm-emulation.sh: no aarch64 cross compiler or qemu and this user cannot apt-get them: the NEON path goes untested here" >&2
fi
