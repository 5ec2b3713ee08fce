"""The outer step: weighted mean of pseudo-gradients, then SGD with Nesterov momentum.

Exactly torch.optim.SGD(lr, momentum, nesterov=True, dampening=0, weight_decay=0) (we run that optimizer):
    buf = mu * buf + d          (buf = d on the first merge)
    theta = theta - lr * (d + mu * buf)
The momentum buffer is saved in the merged checkpoint, so any node can lead the next round.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from . import ckpt, compress, files
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
    delta = compress.decode(tensors, meta.get("compression", {}), what)
    expected = base.model.state_dict()
    if set(delta) != set(expected):
        raise TrainerError("config_mismatch", f"{what}: parameter names differ from the base", file=str(path))
    for k, d in delta.items():
        if d.shape != expected[k].shape:
            raise TrainerError("config_mismatch", f"{what}: {k} has shape {tuple(d.shape)}, "
                               f"expected {tuple(expected[k].shape)}", file=str(path))
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


def outer_step(base: ckpt.Checkpoint, delta: dict[str, torch.Tensor], lr: float, momentum: float) -> None:
    """Applies one Nesterov SGD step to base.model in place and updates base.momentum."""
    params = dict(base.model.named_parameters())
    names = sorted(params)
    # momentum 0 is plain SGD (FedAvg with lr 1): torch refuses nesterov without momentum, and no buffer is kept
    opt = torch.optim.SGD([params[n] for n in names], lr=lr, momentum=momentum, nesterov=momentum > 0)
    for n in names:
        params[n].grad = delta[n].clone()
        if n in base.momentum:
            opt.state[params[n]]["momentum_buffer"] = base.momentum[n].clone()
    opt.step()
    base.momentum = {n: opt.state[params[n]]["momentum_buffer"].detach().clone() for n in names} if momentum > 0 else {}
    for n in names:
        params[n].grad = None


def run(args) -> dict:
    if len(args.grad) != len(args.weight):
        raise TrainerError("bad_args", f"{len(args.grad)} --grad but {len(args.weight)} --weight; give one weight per grad")
    if not args.grad:
        raise TrainerError("bad_args", "merge needs at least one --grad")
    if not (args.outer_lr > 0 and 0 <= args.momentum < 1):
        raise TrainerError("bad_args", f"--outer-lr {args.outer_lr} must be > 0 and --momentum {args.momentum} in [0, 1)")
    for w in args.weight:
        if not (math.isfinite(w) and w > 0):
            raise TrainerError("bad_args", f"--weight {w}: weights must be finite and > 0")
    base = ckpt.load(args.base, "--base")
    emit("start", command="merge", base_sha256=base.sha256, round=base.round, grads=len(args.grad))
    deltas, metas = [], []
    for p in args.grad:
        d, m = load_grad(p, base)
        deltas.append(d)
        metas.append(m)
    norms = [norm(d) for d in deltas]
    check_outliers(args.grad, norms, args.outlier_ratio, args.max_norm)

    total = sum(args.weight)
    weights = [w / total for w in args.weight]
    mean = {k: sum(w * d[k] for w, d in zip(weights, deltas)) for k in deltas[0]}
    before = {k: v.detach().clone() for k, v in base.model.state_dict().items()}
    outer_step(base, mean, args.outer_lr, args.momentum)
    update = {k: before[k] - v for k, v in base.model.state_dict().items()}

    contributors = [{"sha256": files.sha256_file(p), "node": m.get("node"), "node_id": m.get("node_id"),
                     "weight": w, "steps": m.get("steps"), "tokens": m.get("tokens"),
                     "loss": (m.get("losses") or {}).get("last")} for p, m, w in zip(args.grad, metas, weights)]
    parent = base.sha256
    base.meta = {**base.meta, "round": base.round + 1, "parent_sha256": parent, "contributors": contributors,
                 "outer": {"lr": args.outer_lr, "momentum": args.momentum, "nesterov": args.momentum > 0},
                 "steps": int(base.meta.get("steps", 0)) + max(int(m.get("steps") or 0) for m in metas),
                 "tokens": int(base.meta.get("tokens", 0)) + sum(int(m.get("tokens") or 0) for m in metas)}
    sha = ckpt.save(args.out, base)
    log(f"merge: round {base.round} from {len(deltas)} pseudo-gradients -> {args.out}")
    return {"out": str(args.out), "sha256": sha, "bytes": Path(args.out).stat().st_size, "round": base.round,
            "parent_sha256": parent, "grads": len(deltas), "weights": weights, "grad_norms": norms,
            "mean_delta_norm": norm(mean), "update_norm": norm(update), "momentum_norm": norm(base.momentum),
            "contributors": contributors}
