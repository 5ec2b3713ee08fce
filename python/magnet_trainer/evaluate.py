"""`eval` (held-out loss and perplexity in each arithmetic) and `logits` (the golden parity file)."""

from __future__ import annotations

import json
import math

import torch

from . import ckpt, files
from .data import Dataset
from .model import MODES, BitNet
from .protocol import TrainerError


def window_batches(data: Dataset, ids: list[int], batch: int):
    """The held-out windows with these indices, batch at a time -> (x, y) (as Dataset.eval_batches)."""
    for i in range(0, len(ids), batch):
        w = torch.stack([data.heldout[j * data.seq:(j + 1) * data.seq + 1] for j in ids[i:i + batch]])
        yield w[:, :-1], w[:, 1:]


@torch.no_grad()
def heldout_loss(model: BitNet, data: Dataset, batch: int, max_windows: int, mode: str, device,
                 seed: int | None = None, ids: list[int] | None = None) -> tuple[float, int]:
    """Mean next-token cross-entropy over the held-out windows data.heldout_windows(max_windows, seed), or over the
    windows `ids` when given (float32 arithmetic, no autocast)."""
    model.eval()
    total, n = 0.0, 0
    for x, y in data.eval_batches(batch, max_windows, seed) if ids is None else window_batches(data, ids, batch):
        logits = model(x.to(device), mode=mode)
        total += float(torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten(),
                                                         reduction="sum"))
        n += y.numel()
    return total / n, n


def run_eval(args, tokens) -> dict:
    ck = ckpt.load(args.ckpt, "--ckpt")
    if args.seq > ck.cfg.context:
        raise TrainerError("bad_args", f"--seq {args.seq} exceeds the model context {ck.cfg.context}")
    data = Dataset(tokens, args.seq, vocab_size=ck.cfg.vocab_size)
    model = ck.model
    out = {"ckpt": str(args.ckpt), "sha256": ck.sha256, "round": ck.round,
           "eval_windows": data.heldout_windows(args.max_windows, args.seed)}
    for mode in args.modes:
        if mode not in MODES:
            raise TrainerError("bad_args", f"--modes: unknown mode {mode!r}; known: {', '.join(MODES)}")
        loss, n = heldout_loss(model, data, args.batch, args.max_windows, mode, torch.device("cpu"), args.seed)
        out[f"loss_{mode}"] = loss
        out[f"ppl_{mode}"] = math.exp(min(loss, 700.0))
        out["tokens"] = n
    return out


@torch.no_grad()
def ternary_logits(model: BitNet, tokens: list[int]) -> torch.Tensor:
    model.eval()
    return model(torch.tensor([tokens], dtype=torch.long), mode="ternary")[0]


def run_logits(args) -> dict:
    ck = ckpt.load(args.ckpt, "--ckpt")
    try:
        toks = [int(t) for t in args.tokens.split(",") if t.strip()]
    except ValueError as e:
        raise TrainerError("bad_args", f"--tokens {args.tokens!r}: expected comma-separated integers") from e
    if not toks or any(not 0 <= t < ck.cfg.vocab_size for t in toks) or len(toks) > ck.cfg.context:
        raise TrainerError("bad_args", f"--tokens: need 1..{ck.cfg.context} ids in [0, {ck.cfg.vocab_size})")
    logits = ternary_logits(ck.model, toks)
    doc = {"tokens": toks, "logits": [[float(v) for v in row] for row in logits], "checkpoint_sha256": ck.sha256,
           "mode": "ternary"}
    files.write_text_atomic(args.out, json.dumps(doc))
    return {"out": str(args.out), "positions": len(toks), "vocab": ck.cfg.vocab_size, "checkpoint_sha256": ck.sha256,
            "max_abs_logit": float(logits.abs().max())}
