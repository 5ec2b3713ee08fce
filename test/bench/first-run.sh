#!/usr/bin/env bash
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# The first run a newcomer sees (README, Quick start): a daemon with nothing configured on a fresh home. Prints the seconds
# until it is ready, its first merged round (a loss point), the merged model served, then the losses and an answer.
# Run from the repository root after `npm run setup:node`: bash test/bench/first-run.sh
set -u
H=$(mktemp -d "${TMPDIR:-/tmp}/magnet-first-run-XXXX")
t0=$(date +%s.%N)
MAGNET_PASSPHRASE=x node dist/daemon/src/cli/main.js start --home $H --api 127.0.0.1:0 --admin 127.0.0.1:0 --grpc 127.0.0.1:0 --p2p /ip4/127.0.0.1/tcp/0 --no-mdns > $H/daemon.log 2>&1 &
pid=$!
el() { python3 -c "import time;print(f'{time.time()-$t0:.1f}')"; }
while [ ! -f $H/api.json ]; do sleep 0.5; done
A=$(python3 -c "import json;print(json.load(open('$H/api.json'))['admin'])"); P=$(python3 -c "import json;print(json.load(open('$H/api.json'))['api'])"); T=$(cat $H/admin.token)
echo "ready after $(el) s"
seen_loss=0; seen_serve=0
for i in $(seq 1 600); do
  S=$(curl -s -H "authorization: Bearer $T" $A/dashboard/state)
  n=$(echo "$S" | python3 -c "import json,sys;d=json.load(sys.stdin);print(len(d['losses']), (d['status'].get('serve',{}).get('model') or {}).get('round','-'), d['status']['diloco']['round'])")
  set -- $n
  if [ $seen_loss = 0 ] && [ "$1" -ge 1 ]; then echo "first loss point after $(el) s"; seen_loss=1; fi
  if [ $seen_serve = 0 ] && [ "$2" != "-" ]; then echo "model served after $(el) s (model round $2)"; seen_serve=1; fi
  if [ $seen_loss = 1 ] && [ $seen_serve = 1 ] && [ "$1" -ge 3 ]; then break; fi
  sleep 1
done
echo "losses: $(curl -s -H "authorization: Bearer $T" $A/dashboard/state | python3 -c "import json,sys;print([round(l['lossMerged'],4) for l in json.load(sys.stdin)['losses']])") after $(el) s"
curl -s $P/v1/completions -H 'content-type: application/json' -d '{"model":"magnet","prompt":"def ","max_tokens":16}' | head -c 400; echo
grep -c '"level":50' $H/daemon.log
kill $pid; wait $pid; echo "exit $?"
