#!/usr/bin/env bash
# The issue's acceptance run, end to end on this machine: a 2B4T-shaped BitNet b1.58 model (bitnet-b1.58 layers,
# I2_S weights, tied Q6_K embedding and head) with a LLaMA 3-style byte-level BPE vocabulary of 128256 tokens
# (trained here on Python's standard library by `magnet_trainer tokenizer`, padded with unused tokens as LLaMA 3's
# reserved ones), served by ServeService and asked through the official `openai` client for logprobs and JSON
# mode; its tokenization compared with the `tokenizers` package. Figures as JSON lines.
#   bash native/bench/serve-2b4t.sh          (after npm run build, native built, the trainer venv)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DIR=${BENCH_DIR:-$(mktemp -d /tmp/magnet-2b4t-XXXXXX)}
PY=.venv/bin/python
t0=$(date +%s)
(cd python && "../$PY" -m magnet_trainer tokenizer --data stdlib --vocab 128256 --out "$DIR/tokenizer.json" | tail -n 1 >&2)
"$PY" - "$DIR/tokenizer.json" "$DIR/vocab.gguf" <<'PYEOF'
import sys
sys.path.insert(0, "python")
import gguf
from magnet_trainer.export import bpe_vocab
v = bpe_vocab(sys.argv[1], 128256)
w = gguf.GGUFWriter(sys.argv[2], "llama")
w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(v["pre"]); w.add_token_list(v["tokens"]); w.add_token_types(v["types"])
w.add_token_merges(v["merges"]); w.add_bos_token_id(v["bos"]); w.add_eos_token_id(v["eos"]); w.add_add_bos_token(True)
w.add_chat_template("{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}")
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PYEOF
native/build/cmake/gen_model --out "$DIR/2b4t-bitnet-bpe.gguf" --preset 2b4t --arch bitnet-b1.58 --type i2_s --embd-type q6_k \
  --tied --vocab-from "$DIR/vocab.gguf" >&2
echo "# files ready in $(( $(date +%s) - t0 )) s" >&2
node native/bench/serve-2b4t.mjs "$DIR/2b4t-bitnet-bpe.gguf" "$DIR/tokenizer.json"
rm -rf "$DIR"
