// Reads the JSON lines of one bench run and prints the ratios, each against a reference from the same run:
// decode GB/s vs the streaming-read roofline, prefill vs decode, RSS vs model + KV, ternary vs int8/f16 GEMV,
// erasure coding vs memcpy.
//   node native/bench/summary.mjs results.jsonl
import { readFileSync } from 'node:fs';

const rows = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const bw = Object.fromEntries(rows.filter((r) => r.bench === 'bandwidth').map((r) => [r.threads, r.read_gbs]));
const pct = (x) => `${(x * 100).toFixed(0)}%`;
const out = [];
for (const t of [1, 2]) {
  const g = rows.filter((r) => r.bench === 'gemv' && r.threads === t);
  const best = g.filter((r) => r.format === 'ternary2' && r.kernel !== 'scalar').sort((a, b) => b.gbs - a.gbs)[0];
  const scalar = g.find((r) => r.format === 'ternary2' && r.kernel === 'scalar');
  const i8 = g.find((r) => r.format === 'int8');
  const f16 = g.find((r) => r.format === 'f16');
  if (best)
    out.push(
      `gemv ${t}T: ternary ${best.kernel} ${best.gbs} GB/s = ${pct(best.gbs / bw[t])} of read bandwidth ${bw[t]} GB/s; ` +
        `${best.gweights_s} Gweights/s = ${(best.gweights_s / (scalar?.gweights_s ?? NaN)).toFixed(1)}x scalar, ` +
        `${(best.gweights_s / (i8?.gweights_s ?? NaN)).toFixed(2)}x int8 GEMV (${i8?.gweights_s}), ${(best.gweights_s / (f16?.gweights_s ?? NaN)).toFixed(2)}x f16 GEMV (${f16?.gweights_s})`,
    );
}
for (const r of rows.filter((x) => x.bench === 'erasure'))
  out.push(
    `erasure K=${r.k} M=${r.m} ${r.path}, ${r.shard_bytes >> 10} KiB shards, 1 core: encode ${r.encode_gbs} GB/s = ${r.encode_vs_memcpy}x memcpy, ` +
      `rebuild ${r.lost} lost data shards ${r.rebuild_gbs} GB/s = ${r.rebuild_vs_memcpy}x memcpy (memcpy ${r.memcpy_gbs} GB/s)`,
  );
for (const r of rows.filter((x) => x.bench === 'model')) {
  const name = r.model.split('/').pop();
  out.push(
    `${name} head ${r.head} ${r.threads}T: decode ${r.decode_tok_s} tok/s, prefill(128) ${r.prefill_tok_s} tok/s (${(r.prefill_tok_s / r.decode_tok_s).toFixed(2)}x decode); ` +
      `${(r.bytes_per_token / 1e6).toFixed(1)} MB/token -> ${r.decode_gbs} GB/s = ${pct(r.decode_gbs / bw[r.threads])} of roofline; ` +
      `RSS ${r.rss_mb} MB vs model ${r.model_mb} + KV ${r.kv_mb} MB (${pct(r.rss_mb / (r.model_mb + r.kv_mb))})`,
  );
}
for (const r of rows.filter((x) => x.bench === 'api_overhead'))
  out.push(`API ${r.model.split('/').pop()} ${r.threads}T: ${r.api_ms_per_token} ms/token via HTTP vs ${r.direct_ms_per_token} direct (${r.api_overhead_pct >= 0 ? '+' : ''}${r.api_overhead_pct}%)`);
for (const r of rows.filter((x) => x.bench === 'streams'))
  out.push(`streams ${r.model.split('/').pop()} ${r.threads}T: 4 concurrent ${r.four_tok_s} tok/s vs 1 stream ${r.one_tok_s} tok/s (${r.ratio}x)`);
console.log(out.join('\n'));
