#!/usr/bin/env bash
# The whole test suite: `npm test`. Installs what is missing first (test/setup/all.sh), then runs every part's
# tests in turn and prints one summary line. Suites run one after another: the machine has two cores.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export MAGNET_MDNS=false   # tests never multicast to the LAN

bash test/setup/all.sh || { echo "setup failed" >&2; exit 1; }

passed=0
failed=0
failures=()
suite() {
  local name="$1"; shift
  printf '\n== %s: %s\n' "$name" "$*"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); printf '== %s: ok (%ss)\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failures+=("$name"); printf '== %s: FAILED (%ss)\n' "$name" $((SECONDS - t0))
  fi
}

suite unit npm run --silent test:unit
suite python npm run --silent test:python
[ -f native/test.sh ] && suite native npm run --silent test:native
[ -f contracts/scripts/build.ts ] && suite contracts npm run --silent test:contracts
suite e2e npm run --silent test:e2e
suite adversary npm run --silent test:adversary

echo
[ "$failed" -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
