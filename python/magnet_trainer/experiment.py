"""`experiment diloco`: N simulated DiLoCo workers in one process vs synchronous data parallel vs one worker.

All three start from the same init and see the same number of tokens per worker-step:
  diloco  N workers, each with its own data slice and AdamW, H inner steps per round, R rounds, Nesterov outer
          step on the mean pseudo-gradient (the `train` + `merge` code paths, in memory)
  sync    one model, batch N*B (the average of N workers' gradients every step), H*R steps: same total tokens
  single  one worker, batch B, H*R steps: the same steps per worker as DiLoCo, N times fewer tokens
Held-out losses are measured after every round (baselines: after the same number of steps), so one run shows how
the DiLoCo/sync gap moves with the budget.
Bytes communicated (upload per worker, summed over workers): sync sends an fp32 gradient every step; DiLoCo sends
one pseudo-gradient per round, measured as the encoded payload for none, fp16 and int8.
"""

from __future__ import annotations

import copy
import time

import torch

from . import compress
from .ckpt import Checkpoint
from .data import Dataset, load_tokens
from .evaluate import heldout_loss
from .merge import outer_step
from .model import build, preset
from .protocol import TrainerError, emit, log
from .train import InnerHParams, inner_steps, make_optimizer, pick_device


def _eval(model, data, args, device) -> float:
    return heldout_loss(model, data, 8, args.eval_windows, "qat", device)[0]


def run(args) -> dict:
    device = pick_device(args.device, args.threads)
    try:
        cfg = preset(args.preset)
    except ValueError as e:
        raise TrainerError("bad_args", str(e)) from e
    tokens = load_tokens(args.data)
    init = build(cfg, seed=args.seed)
    eval_data = Dataset(tokens, args.seq)
    n, H, R = args.workers, args.H, args.rounds
    hp = InnerHParams(lr=args.lr, warmup=args.warmup, batch=args.batch, seq=args.seq)
    n_params = init.num_params()
    t0 = time.perf_counter()

    # --- DiLoCo
    glob = Checkpoint(copy.deepcopy(init).to(device), {}, {}, None)
    workers = []
    for i in range(n):
        m = copy.deepcopy(init).to(device)
        workers.append({"model": m, "opt": make_optimizer(m, hp), "cursor": 0,
                        "data": Dataset(tokens, args.seq, seed=args.seed, node=i, nodes=n)})
    payload = {}
    # held-out loss after every round (DiLoCo) and after the same number of steps (baselines): the gap's trend
    curves = {"diloco": [], "sync": [], "single": []}
    for r in range(R):
        gw = {k: v.detach().clone() for k, v in glob.model.state_dict().items()}
        deltas, losses = [], []
        for w in workers:
            w["model"].load_state_dict(gw)
            out = inner_steps(w["model"], w["opt"], w["data"], hp, r * H, w["cursor"], H, device)
            w["cursor"] = out["cursor"]
            losses.append(out["losses"][-1])
            deltas.append({k: gw[k] - v.detach() for k, v in w["model"].state_dict().items()})
        if r == 0:  # bytes of one pseudo-gradient in each encoding
            for kind in compress.KINDS:
                enc, _ = compress.encode({k: v.cpu() for k, v in deltas[0].items()}, kind)
                payload[kind] = compress.payload_bytes(enc)
        mean = {k: sum(d[k] for d in deltas) / n for k in deltas[0]}
        outer_step(glob, mean, args.outer_lr, args.momentum)
        curves["diloco"].append(_eval(glob.model, eval_data, args, device))
        emit("progress", phase="diloco", round=r + 1, rounds=R, worker_loss=sum(losses) / n,
             heldout_loss=curves["diloco"][-1])
    diloco_loss = curves["diloco"][-1]
    t_diloco = time.perf_counter() - t0
    log(f"diloco: held-out loss {diloco_loss:.4f} ({t_diloco:.0f}s)")

    # --- synchronous data parallel at equal tokens, and a single worker at equal steps
    def baseline(batch: int, phase: str) -> tuple[float, float]:
        t = time.perf_counter()
        m = copy.deepcopy(init).to(device)
        bhp = InnerHParams(lr=args.lr, warmup=args.warmup, batch=batch, seq=args.seq)
        data = Dataset(tokens, args.seq, seed=args.seed, node=0, nodes=1 if phase == "sync" else n)
        opt, cursor = make_optimizer(m, bhp), 0
        for r in range(R):  # R chunks of H steps: one optimizer, one schedule, evaluated where DiLoCo merges
            out = inner_steps(m, opt, data, bhp, r * H, cursor, H, device)
            cursor = out["cursor"]
            curves[phase].append(_eval(m, eval_data, args, device))
        loss = curves[phase][-1]
        emit("progress", phase=phase, steps=H * R, train_loss=out["losses"][-1], heldout_loss=loss)
        return loss, time.perf_counter() - t

    sync_loss, t_sync = baseline(n * args.batch, "sync")
    single_loss, t_single = baseline(args.batch, "single")

    sync_bytes = n * H * R * 4 * n_params
    diloco_bytes = {k: n * R * v for k, v in payload.items()}
    tokens_each = n * args.batch * args.seq * H * R
    return {
        "settings": {"preset": args.preset, "params": n_params, "workers": n, "H": H, "rounds": R,
                     "batch": args.batch, "seq": args.seq, "lr": args.lr, "warmup": args.warmup,
                     "outer_lr": args.outer_lr, "momentum": args.momentum, "data": args.data, "seed": args.seed,
                     "device": str(device), "eval_windows": args.eval_windows},
        "tokens": {"diloco": tokens_each, "sync": tokens_each, "single": tokens_each // n},
        "heldout_loss": {"diloco": diloco_loss, "sync": sync_loss, "single": single_loss},
        "diloco_vs_sync": diloco_loss / sync_loss - 1,
        "diloco_vs_single": diloco_loss / single_loss - 1,
        "heldout_curve": curves,
        "diloco_vs_sync_curve": [d / s - 1 for d, s in zip(curves["diloco"], curves["sync"])],
        "bytes": {"sync_fp32": sync_bytes, **{f"diloco_{k}": v for k, v in diloco_bytes.items()}},
        "bytes_ratio": {f"sync_over_diloco_{k}": sync_bytes / v for k, v in diloco_bytes.items()},
        "seconds": {"diloco": t_diloco, "sync": t_sync, "single": t_single},
    }
