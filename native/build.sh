#!/usr/bin/env bash
# Builds the N-API addon native/build/Release/magnet_native.node from source with node-gyp (`npm run build:native`).
# When the running node's own headers are installed beside it (distribution packages: /usr/include/node) they are
# used, so offline machines build too; otherwise node-gyp downloads the headers for this node version.
# configure + build (not `rebuild`): a clean would also delete the CMake test build in native/build/cmake.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
GYP=../node_modules/.bin/node-gyp
[ -x "$GYP" ] || GYP=node-gyp
nodedir=$(node -e '
  const fs = require("fs"), path = require("path");
  const dir = path.dirname(path.dirname(process.execPath));
  const h = path.join(dir, "include", "node", "node_version.h");
  if (!fs.existsSync(path.join(dir, "include", "node", "common.gypi")) || !fs.existsSync(h)) process.exit(0);
  const t = fs.readFileSync(h, "utf8"), v = (k) => (t.match(new RegExp("#define NODE_" + k + "_VERSION (\\d+)")) || [])[1];
  if ([v("MAJOR"), v("MINOR"), v("PATCH")].join(".") === process.versions.node) console.log(dir);')
args=()
[ -n "$nodedir" ] && args+=("--nodedir=$nodedir")
"$GYP" configure "${args[@]}"
"$GYP" build -j "${JOBS:-2}"
