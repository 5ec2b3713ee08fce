#!/usr/bin/env bash
# Builds kubo (the IPFS daemon the storage tests run offline on loopback) from source into .tools/bin/ipfs.
# Idempotent: does nothing when .tools/bin/ipfs already reports the pinned version.
# `go install github.com/ipfs/kubo/cmd/ipfs@VERSION` fails here (the module proxy refuses the version list that
# go install reads for deprecation info), so we build from a throw-away module instead.
set -euo pipefail

KUBO_VERSION="${KUBO_VERSION:-v0.39.0}"
# kubo v0.39.0 pins cockroachdb/swiss 2025-06-24, whose runtime hooks stop at Go 1.25 ("undefined: fastrand64" on
# Go 1.26); this later commit of the same module builds on Go 1.26.
SWISS_VERSION="${SWISS_VERSION:-v0.0.0-20260820225851-333444432258}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.tools/bin/ipfs"
WANT="${KUBO_VERSION#v}"

if [ -x "$BIN" ] && "$BIN" version --number 2>/dev/null | grep -qx "$WANT"; then
  echo "kubo $WANT already built: $BIN"
  exit 0
fi
command -v go >/dev/null || { echo "kubo.sh: Go is required to build kubo (none on PATH)" >&2; exit 1; }

mkdir -p "$ROOT/.tools/bin"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kubobuild.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
go mod init kubobuild >/dev/null 2>&1
go get "github.com/ipfs/kubo@$KUBO_VERSION"
if go version | grep -qE 'go1\.(2[6-9]|[3-9][0-9])'; then
  go get "github.com/cockroachdb/swiss@$SWISS_VERSION"
fi
# Build to a temp name, then rename: a half-written binary never looks like a finished one.
GOFLAGS=-mod=mod go build -p "${KUBO_BUILD_JOBS:-2}" -o "$BIN.tmp" github.com/ipfs/kubo/cmd/ipfs
mv -f "$BIN.tmp" "$BIN"
echo "kubo $("$BIN" version --number) built: $BIN"
