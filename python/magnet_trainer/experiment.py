"""`experiment diloco`: N simulated DiLoCo workers in one process vs synchronous data parallel vs one worker.

All methods start from one shared warm start (W steps of synchronous training at batch N*B, optimizer state
included) and then see the same number of tokens per worker-step:
  diloco   N workers, each with its own data slice and AdamW, H inner steps per round, R rounds, Nesterov outer
           step on the mean pseudo-gradient (the `train` + `merge` code paths, in memory), pseudo-gradients encoded
           with --compression and error feedback as a node sends them
  delayed  the same on the delayed schedule (ahead.py): the first --overlap of a round's H steps run from each
           worker's own weights while the previous round is merged; when the merge lands the weights move onto it
           (--delayed-correction: eager or rebase) and the rest of the H steps train from there
  sync     one model, batch N*B (the average of N workers' gradients every step), H*R steps: same total tokens
  single   one worker, batch B, H*R steps: the same steps per worker as DiLoCo, N times fewer tokens
Held-out losses are measured after every round's merge (baselines: after the same number of steps), so one run
shows how the gaps move with the budget.
Bytes communicated (upload per worker, summed over workers): sync sends an fp32 gradient every step; DiLoCo sends
one pseudo-gradient per round, measured as the encoded payload for each encoding.
"""

from __future__ import annotations

import copy
import time

import torch

from . import ahead, compress, files
from .ckpt import Checkpoint
from .data import Dataset, load_tokens
from .evaluate import heldout_loss
from .merge import outer_step
from .model import build, preset
from .protocol import TrainerError, emit, log
from .train import InnerHParams, inner_steps, make_optimizer, pick_device

METHODS = ("diloco", "delayed", "sync", "single")


def _eval(model, data, args, device) -> float:
    return heldout_loss(model, data, 8, args.eval_windows, "qat", device)[0]


def _hparams(args, batch: int, total_steps: int) -> InnerHParams:
    return InnerHParams(lr=args.lr, warmup=args.warmup, batch=batch, seq=args.seq, schedule=args.schedule,
                        total_steps=total_steps)


def _fork(model, opt, hp: InnerHParams, device):
    """A copy of a model and its AdamW state (the warm start every method continues from)."""
    m = copy.deepcopy(model).to(device)
    o = make_optimizer(m, hp)
    o.load_state_dict(opt.state_dict())
    return m, o


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Encoder:
    """One worker's pseudo-gradient encoding with error feedback, as `train --compression` does it."""

    def __init__(self, kind: str, density: float):
        self.kind, self.density, self.residual = kind, density, {}

    def __call__(self, delta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.kind == "none":
            return delta
        corrected = {k: d + self.residual[k] if k in self.residual else d for k, d in delta.items()}
        dev = next(iter(delta.values())).device
        enc, comp = compress.encode({k: v.cpu() for k, v in corrected.items()}, self.kind, density=self.density)
        decoded = {k: v.to(dev) for k, v in compress.decode(enc, comp).items()}
        self.residual = {k: corrected[k] - decoded[k] for k in corrected}
        return decoded


def _diloco(args, warm, warm_opt, tokens, eval_data, device, delayed: bool, curve: list, payload: dict) -> None:
    n, H, R = args.workers, args.H, args.rounds
    hp = _hparams(args, args.batch, args.warm_start + H * R)
    glob = Checkpoint(copy.deepcopy(warm).to(device), {}, {}, None)
    workers = []
    for i in range(n):
        m, o = _fork(warm, warm_opt, hp, device)
        workers.append({"model": m, "opt": o, "cursor": 0, "encode": Encoder(args.compression, args.topk_density),
                        "data": Dataset(tokens, args.seq, seed=args.seed, node=i, nodes=n), "ahead": None})
    phase = "delayed" if delayed else "diloco"
    # delayed: the first `tau` steps of round r+1 run from each worker's own weights while round r is merged
    tau = overlap(args) if delayed else 0
    for r in range(R):
        base = _weights(glob.model)
        deltas, losses = [], []
        for w in workers:
            q, w["ahead"] = w["ahead"], None
            w["model"].load_state_dict(base if q is None else moved_onto(glob, q, args))
            start, steps = _weights(w["model"]), H if q is None else H - tau
            if steps:
                out = inner_steps(w["model"], w["opt"], w["data"], hp, args.warm_start + r * H + H - steps,
                                  w["cursor"], steps, device)
                w["cursor"] = out["cursor"]
                losses.append(out["losses"][-1])
            # the round's pseudo-gradient: all H steps of progress, the stretch ahead included
            progress = {k: start[k] - v.detach() for k, v in w["model"].state_dict().items()}
            deltas.append(progress if q is None else {k: progress[k] + q[k] for k in progress})
        if r == 0 and not payload:  # bytes of one pseudo-gradient in each encoding
            for kind in compress.KINDS:
                enc, _ = compress.encode({k: v.cpu() for k, v in deltas[0].items()}, kind, density=args.topk_density)
                payload[kind] = compress.payload_bytes(enc)
        sent = [w["encode"](d) for w, d in zip(workers, deltas)]
        mean = {k: sum(d[k] for d in sent) / n for k in sent[0]}
        # a delayed worker trains its stretch ahead while this merge travels; evaluated once it lands, as a node has it
        if tau and r + 1 < R:
            for w in workers:
                start = _weights(w["model"])
                out = inner_steps(w["model"], w["opt"], w["data"], hp, args.warm_start + (r + 1) * H, w["cursor"],
                                  tau, device)
                w["cursor"] = out["cursor"]
                w["ahead"] = {k: start[k] - v.detach() for k, v in w["model"].state_dict().items()}
        outer_step(glob, mean, args.outer_lr, args.momentum)
        curve.append(_eval(glob.model, eval_data, args, device))
        emit("progress", phase=phase, round=r + 1, rounds=R, worker_loss=sum(losses) / max(1, len(losses)),
             heldout_loss=curve[-1])


def overlap(args) -> int:
    """Steps of each round a delayed worker trains ahead, while the previous round is merged."""
    return max(1, args.H // 5) if args.overlap is None else min(args.overlap, args.H)


def moved_onto(merged: Checkpoint, progress: dict[str, torch.Tensor], args) -> dict[str, torch.Tensor]:
    """Delayed schedule: a worker's weights once a merge lands, from its progress trained ahead of it (ahead.move_onto
    with --delayed-correction, as `train --take-ahead` moves a node)."""
    twin = copy.deepcopy(merged.model)
    ahead.move_onto(twin, merged.momentum, progress, args.delayed_correction, args.outer_lr, args.momentum)
    return _weights(twin)


def _baseline(args, warm, warm_opt, tokens, eval_data, device, phase: str, curve: list) -> None:
    n, H, R = args.workers, args.H, args.rounds
    batch = n * args.batch if phase == "sync" else args.batch
    hp = _hparams(args, batch, args.warm_start + H * R)
    m, opt = _fork(warm, warm_opt, hp, device)
    # sync continues the warm start's data stream; single reads worker 0's slice, as DiLoCo's first worker does
    data = Dataset(tokens, args.seq, seed=args.seed, node=0, nodes=1 if phase == "sync" else n)
    cursor = args.warm_start * n * args.batch if phase == "sync" else 0
    out = {"losses": [float("nan")]}
    for r in range(R):  # R chunks of H steps: one optimizer, one schedule, evaluated where DiLoCo merges
        out = inner_steps(m, opt, data, hp, args.warm_start + r * H, cursor, H, device)
        cursor = out["cursor"]
        curve.append(_eval(m, eval_data, args, device))
    emit("progress", phase=phase, steps=H * R, train_loss=out["losses"][-1], heldout_loss=curve[-1])


def _methods(spec: str) -> list[str]:
    names = [m.strip() for m in spec.split(",") if m.strip()]
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise TrainerError("bad_args", f"--methods {spec!r}: unknown {', '.join(bad) or 'empty list'}; known: "
                           f"{', '.join(METHODS)}")
    return [m for m in METHODS if m in names]


def run(args) -> dict:
    device = pick_device(args.device, args.threads)
    try:
        cfg = preset(args.preset)
    except ValueError as e:
        raise TrainerError("bad_args", str(e)) from e
    methods = _methods(args.methods)
    if args.compression not in compress.KINDS:
        raise TrainerError("bad_args", f"--compression {args.compression}: known {', '.join(compress.KINDS)}")
    tokens = load_tokens(args.data)
    init = build(cfg, seed=args.seed)
    eval_data = Dataset(tokens, args.seq)
    n, H, R = args.workers, args.H, args.rounds
    n_params = init.num_params()
    seconds, curves, payload = {}, {}, {}

    # --- the shared warm start: synchronous training at batch N*B, its optimizer state handed on too
    t = time.perf_counter()
    warm = init.to(device)
    warm_hp = _hparams(args, n * args.batch, args.warm_start + H * R)
    warm_opt = make_optimizer(warm, warm_hp)
    warm_loss = None
    if args.warm_start:
        inner_steps(warm, warm_opt, Dataset(tokens, args.seq, seed=args.seed), warm_hp, 0, 0, args.warm_start, device)
        warm_loss = _eval(warm, eval_data, args, device)
        emit("progress", phase="warm_start", steps=args.warm_start, heldout_loss=warm_loss)
    seconds["warm_start"] = time.perf_counter() - t

    for m in methods:
        t, curves[m] = time.perf_counter(), []
        if m in ("diloco", "delayed"):
            _diloco(args, warm, warm_opt, tokens, eval_data, device, m == "delayed", curves[m], payload)
        else:
            _baseline(args, warm, warm_opt, tokens, eval_data, device, m, curves[m])
        seconds[m] = time.perf_counter() - t
        log(f"{m}: held-out loss {curves[m][-1]:.4f} ({seconds[m]:.0f}s)")

    final = {m: c[-1] for m, c in curves.items()}
    tokens_each = n * args.batch * args.seq * H * R
    result = {
        "settings": {"preset": args.preset, "params": n_params, "workers": n, "H": H, "rounds": R,
                     "warm_start": args.warm_start, "batch": args.batch, "seq": args.seq, "lr": args.lr,
                     "warmup": args.warmup, "schedule": args.schedule, "outer_lr": args.outer_lr,
                     "momentum": args.momentum, "compression": args.compression, "topk_density": args.topk_density,
                     "delayed_correction": args.delayed_correction, "overlap": overlap(args),
                     "data": args.data, "seed": args.seed, "device": str(device), "eval_windows": args.eval_windows},
        "methods": methods,
        "warm_start_loss": warm_loss,
        "tokens": {"warm_start": args.warm_start * n * args.batch * args.seq,
                   **{m: tokens_each // (n if m == "single" else 1) for m in methods}},
        "heldout_loss": final,
        "heldout_curve": curves,
        "seconds": seconds,
    }
    for a, b in (("diloco", "sync"), ("diloco", "single"), ("delayed", "sync"), ("delayed", "diloco")):
        if a in curves and b in curves:
            result[f"{a}_vs_{b}"] = final[a] / final[b] - 1
            result[f"{a}_vs_{b}_curve"] = [x / y - 1 for x, y in zip(curves[a], curves[b])]
    if payload:
        sync_bytes = n * H * R * 4 * n_params
        diloco_bytes = {k: n * R * v for k, v in payload.items()}
        result["bytes"] = {"sync_fp32": sync_bytes, **{f"diloco_{k}": v for k, v in diloco_bytes.items()}}
        result["bytes_ratio"] = {f"sync_over_diloco_{k}": sync_bytes / v for k, v in diloco_bytes.items()}
    if args.plot:
        plot(result, args.plot)
    return result


def plot(result: dict, path: str) -> None:
    """The held-out loss curves as a PNG (matplotlib, Agg), written to a temp file and renamed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise TrainerError("bad_args", "--plot needs matplotlib (python/install.sh installs it)") from e
    s = result["settings"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    styles = {"sync": ("synchronous data parallel", "k", "-"), "diloco": (f"DiLoCo, {s['workers']} workers", "C0", "-"),
              "delayed": (f"DiLoCo, {s.get('overlap', s['H'])} of {s['H']} steps ahead of the merge "
                          f"({s['delayed_correction']})", "C1", "--"),
              "single": ("one worker (1/%d of the tokens)" % s["workers"], "C2", ":")}
    per_round = s["workers"] * s["batch"] * s["seq"] * s["H"]
    warm = result["tokens"]["warm_start"]
    for m, curve in result["heldout_curve"].items():
        label, color, ls = styles[m]
        if m + "_vs_sync" in result:
            label += f" ({100 * result[m + '_vs_sync']:+.1f}% vs sync)"
        # curve_tokens: where each point lies, for a result put together from runs with other eval points
        xs = [t / 1e6 for t in result.get("curve_tokens", {}).get(m, [])] or [
            (warm + (i + 1) * per_round) / 1e6 for i in range(len(curve))]
        ax.plot(xs, curve, color=color, linestyle=ls, marker="o", markersize=3, label=label)
    ax.set_xlabel("tokens seen by DiLoCo / sync (millions, warm start included)")
    ax.set_ylabel("held-out loss (qat)")
    ax.set_title(f"{s['preset']}: H={s['H']}, {s['rounds']} rounds, warm start {s['warm_start']} steps, "
                 f"outer lr {s['outer_lr']} / momentum {s['momentum']}, {s['compression']}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        files.write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"), "plot")
    finally:
        plt.close(fig)
