"""Training throughput (tokens/s) of the presets on this machine, BitLinear QAT vs the same model in float mode.

    .venv/bin/python python/bench/throughput.py --presets tiny,small --steps 10 --threads 2

The float mode (plain matmuls on the latent weights) is the reference measured in the same run, so the printed
ratio says what the ternary/int8 fake-quantization costs, independently of how loaded the machine is. Both modes
run the real inner step (forward, backward, grad clip, AdamW) on generated text; one JSON line per preset.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from magnet_trainer.data import Dataset, generated_text, load_tokens  # noqa: E402
from magnet_trainer.model import build, preset  # noqa: E402
from magnet_trainer.train import InnerHParams, autocast, make_optimizer, pick_device  # noqa: E402


def steps_per_s(model, opt, data, hp, mode, steps, device) -> float:
    cursor = 0

    def step():
        nonlocal cursor
        x, y = data.batch(cursor, hp.batch)
        cursor += hp.batch
        with autocast(device):
            _, loss = model(x.to(device), y.to(device), mode=mode)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        opt.step()

    step()  # first step allocates optimizer state
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = pick_device(args.device, args.threads)
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        f.write(generated_text(400_000, seed=0))
        f.flush()
        tokens = load_tokens(f.name)
    for name in args.presets.split(","):
        cfg = preset(name)
        hp = InnerHParams(lr=4e-4, warmup=0, batch=args.batch, seq=args.seq)
        data = Dataset(tokens, args.seq)
        rates = {}
        for mode in ("float", "qat"):
            model = build(cfg, seed=0).to(device)
            model.train()
            rates[mode] = steps_per_s(model, make_optimizer(model, hp), data, hp, mode, args.steps, device)
        tok = args.batch * args.seq
        print(json.dumps({"preset": name, "params": build(cfg).num_params(), "device": str(device),
                          "threads": torch.get_num_threads(), "batch": args.batch, "seq": args.seq,
                          "steps": args.steps, "tokens_per_s_qat": round(rates["qat"] * tok, 1),
                          "tokens_per_s_float": round(rates["float"] * tok, 1),
                          "qat_over_float": round(rates["qat"] / rates["float"], 3)}), flush=True)


if __name__ == "__main__":
    main()
