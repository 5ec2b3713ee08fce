"""The outer step: weighted mean of pseudo-gradients, then SGD with Nesterov momentum, bit-exact on every machine.

Every member recomputes the leader's merge and compares the file's sha256, so each operation below is one
elementwise IEEE float32 multiply, add or subtract with a single rounding, on CPU, in this fixed order (no fused
multiply-add: no alpha=/value= forms, addcmul, lerp or foreach kernels, whose FMA use differs between CPUs):
    w_i  = float32(W_i / sum(W))                (the division in Python floats, in --grad order)
    g    = d_0*w_0;  g = g + d_i*w_i            for i = 1, 2, ... in --grad order
    mu > 0 (torch.optim.SGD's math with nesterov=True, dampening 0):
        buf   = buf*mu + g                      (no buffer yet: buf = g)
        step  = g + buf*mu
        theta = theta - step*lr
    mu = 0: theta = theta - g*lr                (no buffer is kept)
With --scale s (spot checks: one gradient at its share of a merge), g = g*s before the step.
The momentum buffer is saved in the merged checkpoint, so any node can lead the next round.
"""

from __future__ import annotations

import copy
import math
import statistics
from pathlib import Path

import torch

from . import ckpt, compress, files
from .data import Dataset
from .evaluate import heldout_loss
from .protocol import TrainerError, emit, log
from .train import GRAD_KIND


def load_grad(path: str, base: ckpt.Checkpoint) -> tuple[dict[str, torch.Tensor], dict]:
    what = f"--grad {path}"
    tensors, meta = files.load(path, GRAD_KIND, "--grad")
    if meta.get("base_sha256") != base.sha256:
        raise TrainerError("grad_base_mismatch", f"{what}: computed from base {meta.get('base_sha256')}, "
                           f"but the base is {base.sha256}", file=str(path))
    try:
        same = ckpt.same_config(meta["config"], base.cfg.to_dict())
    except (KeyError, TypeError, ValueError):
        same = False
    if not same:
        raise TrainerError("config_mismatch", f"{what}: model config differs from the base", file=str(path))
    expected = base.model.state_dict()
    comp = meta.get("compression") if isinstance(meta.get("compression"), dict) else {}
    # shapes are checked before decoding: a topk2 file names its full shapes, so a forged one could ask decode for
    # a dense tensor far larger than the file
    shapes = comp.get("shapes") if isinstance(comp.get("shapes"), dict) else {}
    if set(shapes) != set(expected):
        raise TrainerError("config_mismatch", f"{what}: parameter names differ from the base", file=str(path))
    for k, shape in shapes.items():
        if shape != list(expected[k].shape):
            raise TrainerError("config_mismatch", f"{what}: {k} has shape {shape}, expected {list(expected[k].shape)}",
                               file=str(path))
    delta = compress.decode(tensors, comp, what)
    for k, d in delta.items():
        if d.shape != expected[k].shape or d.dtype != torch.float32:
            raise TrainerError("config_mismatch", f"{what}: {k} is {d.dtype} {tuple(d.shape)}, "
                               f"expected float32 {tuple(expected[k].shape)}", file=str(path))
        if not torch.isfinite(d).all():
            raise TrainerError("grad_nonfinite", f"{what}: tensor {k} holds NaN or Inf", file=str(path), tensor=k)
    return delta, meta


def norm(t: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(v.double().pow(2).sum()) for v in t.values()))


def check_outliers(paths: list[str], norms: list[float], ratio: float, max_norm: float) -> None:
    for p, n in zip(paths, norms):
        if max_norm > 0 and n > max_norm:
            raise TrainerError("grad_outlier", f"--grad {p}: norm {n:.4g} exceeds --max-norm {max_norm:.4g}",
                               file=str(p), norm=n)
    if ratio <= 0 or len(norms) < 2:
        return
    for i, (p, n) in enumerate(zip(paths, norms)):
        med = statistics.median(norms[:i] + norms[i + 1:])
        if med > 0 and n > ratio * med:
            raise TrainerError("grad_outlier", f"--grad {p}: norm {n:.4g} is more than {ratio:g}x the median "
                               f"{med:.4g} of the others", file=str(p), norm=n, median_others=med)


def _f32(x: float) -> torch.Tensor:
    """A Python float rounded once to a float32 0-dim tensor: the scalar operand of the ops below."""
    return torch.tensor(x, dtype=torch.float32)


def weighted_mean(deltas: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """g[k] = d_0[k]*w_0 + d_1[k]*w_1 + ..., left to right, each mul and add rounded once (float32)."""
    ws = [_f32(w) for w in weights]
    mean = {}
    for k in deltas[0]:
        acc = torch.mul(deltas[0][k], ws[0])
        for d, w in zip(deltas[1:], ws[1:]):
            acc = torch.add(acc, torch.mul(d[k], w))
        mean[k] = acc
    return mean


@torch.no_grad()
def outer_step(base: ckpt.Checkpoint, g: dict[str, torch.Tensor], lr: float, momentum: float) -> None:
    """theta -= step*lr on base.model in place, step from the Nesterov buffer (module docstring); updates
    base.momentum (empty when momentum is 0)."""
    lr_t, mu_t = _f32(lr), _f32(momentum)
    bufs = {}
    for name, p in base.model.named_parameters():
        step = g[name]
        if momentum > 0:
            old = base.momentum.get(name)
            bufs[name] = g[name].clone() if old is None else torch.add(torch.mul(old, mu_t), g[name])
            step = torch.add(g[name], torch.mul(bufs[name], mu_t))
        p.copy_(torch.sub(p, torch.mul(step, lr_t)))
    base.momentum = bufs


def _check_args(args) -> None:
    if len(args.grad) != len(args.weight):
        raise TrainerError("bad_args", f"{len(args.grad)} --grad but {len(args.weight)} --weight; give one weight per grad")
    if not args.grad:
        raise TrainerError("bad_args", "merge needs at least one --grad")
    if not (args.outer_lr > 0 and 0 <= args.momentum < 1):
        raise TrainerError("bad_args", f"--outer-lr {args.outer_lr} must be > 0 and --momentum {args.momentum} in [0, 1)")
    for w in args.weight:
        if not (math.isfinite(w) and w > 0):
            raise TrainerError("bad_args", f"--weight {w}: weights must be finite and > 0")
    if (args.steps_per_grad is None) != (args.tokens_per_grad is None):
        raise TrainerError("bad_args", "give --steps-per-grad and --tokens-per-grad together")
    if args.eval_seed is not None and not args.eval_data:
        raise TrainerError("bad_args", "--eval-seed needs --eval-data")
    if not (math.isfinite(args.scale) and args.scale > 0):
        raise TrainerError("bad_args", f"--scale {args.scale} must be finite and > 0")


def _eval_data(args, tokens, base: ckpt.Checkpoint) -> Dataset | None:
    if tokens is None:
        return None
    if args.eval_seq > base.cfg.context:
        raise TrainerError("bad_args", f"--eval-seq {args.eval_seq} exceeds the model context {base.cfg.context}")
    return Dataset(tokens, args.eval_seq, vocab_size=base.cfg.vocab_size, what="--eval-data")


def _qat_loss(model, data: Dataset, args) -> float:
    return heldout_loss(model, data, args.eval_batch, args.eval_windows, "qat", torch.device("cpu"), args.eval_seed)[0]


def _baseline_loss(base: ckpt.Checkpoint, like: dict[str, torch.Tensor], data: Dataset, args) -> float:
    """Held-out loss after the outer step with a zero gradient (the momentum alone): what a gradient's own effect
    is measured against."""
    twin = ckpt.Checkpoint(copy.deepcopy(base.model), dict(base.meta), {k: v.clone() for k, v in base.momentum.items()}, base.sha256)
    outer_step(twin, {k: torch.zeros_like(v) for k, v in like.items()}, args.outer_lr, args.momentum)
    return _qat_loss(twin.model, data, args)


def _merged_meta(args, base: ckpt.Checkpoint, metas: list[dict], weights: list[float]) -> dict:
    """The merged checkpoint's metadata. With --steps-per-grad/--tokens-per-grad it holds only what the leader
    controls; without them (older callers) steps, tokens and contributor details come from the grads' metadata."""
    shas = [files.sha256_file(p) for p in args.grad]
    if args.steps_per_grad is not None:
        contributors = [{"sha256": s, "weight": w} for s, w in zip(shas, weights)]
        steps = int(base.meta.get("steps", 0)) + args.steps_per_grad
        tokens = int(base.meta.get("tokens", 0)) + args.tokens_per_grad * len(metas)
    else:
        contributors = [{"sha256": s, "node": m.get("node"), "node_id": m.get("node_id"), "weight": w,
                         "steps": m.get("steps"), "tokens": m.get("tokens"),
                         "loss": (m.get("losses") or {}).get("last")} for s, m, w in zip(shas, metas, weights)]
        steps = int(base.meta.get("steps", 0)) + max(int(m.get("steps") or 0) for m in metas)
        tokens = int(base.meta.get("tokens", 0)) + sum(int(m.get("tokens") or 0) for m in metas)
    return {**base.meta, "round": base.round + 1, "parent_sha256": base.sha256, "contributors": contributors,
            "outer": {"lr": args.outer_lr, "momentum": args.momentum, "nesterov": args.momentum > 0},
            "steps": steps, "tokens": tokens}


def run(args, eval_tokens=None) -> dict:
    """merge; eval_tokens (the --eval-data stream, or None) adds loss_base, loss_merged and eval_windows."""
    _check_args(args)
    base = ckpt.load(args.base, "--base")
    data = _eval_data(args, eval_tokens, base)
    emit("start", command="merge", base_sha256=base.sha256, round=base.round, grads=len(args.grad))
    deltas, metas = [], []
    for p in args.grad:
        d, m = load_grad(p, base)
        deltas.append(d)
        metas.append(m)
    norms = [norm(d) for d in deltas]
    check_outliers(args.grad, norms, args.outlier_ratio, args.max_norm)

    evals = {}
    if data is not None:
        evals = {"eval_windows": data.heldout_windows(args.eval_windows, args.eval_seed),
                 "loss_base": _qat_loss(base.model, data, args)}
    total = sum(args.weight)
    weights = [w / total for w in args.weight]
    mean = weighted_mean(deltas, weights)
    if args.scale != 1.0:  # a gradient at its share of a merge (spot checks): g*scale, one more rounding
        mean = {k: torch.mul(v, _f32(args.scale)) for k, v in mean.items()}
    if data is not None and args.eval_baseline:
        evals["loss_baseline"] = _baseline_loss(base, mean, data, args)
    before = {k: v.detach().clone() for k, v in base.model.state_dict().items()}
    outer_step(base, mean, args.outer_lr, args.momentum)
    update = {k: before[k] - v for k, v in base.model.state_dict().items()}
    if data is not None:
        evals["loss_merged"] = _qat_loss(base.model, data, args)

    parent = base.sha256
    base.meta = _merged_meta(args, base, metas, weights)
    sha = ckpt.save(args.out, base)
    log(f"merge: round {base.round} from {len(deltas)} pseudo-gradients -> {args.out}")
    return {"out": str(args.out), "sha256": sha, "bytes": Path(args.out).stat().st_size, "round": base.round,
            "parent_sha256": parent, "grads": len(deltas), "weights": weights, "grad_norms": norms,
            "mean_delta_norm": norm(mean), "update_norm": norm(update), "momentum_norm": norm(base.momentum),
            "contributors": base.meta["contributors"], **evals}
