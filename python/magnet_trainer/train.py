"""DiLoCo inner loop: H AdamW steps from the base checkpoint, then the pseudo-gradient delta = base - local.

The node's private state (AdamW moments, step count, data cursor, compression residual) lives in LOCAL and is
never sent: DiLoCo does not synchronize the inner optimizer.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import ahead, ckpt, compress, defaults, files, parallel
from .data import Dataset
from .model import BitNet
from .protocol import TrainerError, emit, log

LOCAL_KIND = "local-state"
GRAD_KIND = "pseudo-gradient"


@dataclass
class InnerHParams:
    lr: float = defaults.INNER_LR  # lr, warmup, batch, seq: config/trainer-defaults.json, shared with the daemon
    warmup: int = defaults.WARMUP
    schedule: str = "constant"  # or "cosine" (needs total_steps)
    total_steps: int = 0
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    batch: int = defaults.BATCH
    seq: int = defaults.SEQ

    def lr_at(self, step: int) -> float:
        if self.warmup > 0 and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.schedule == "cosine" and self.total_steps > self.warmup:
            t = min(1.0, (step - self.warmup) / (self.total_steps - self.warmup))
            return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))
        return self.lr


def pick_device(name: str, threads: int | None) -> torch.device:
    if threads:
        torch.set_num_threads(threads)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainerError("bad_args", "--device cuda: no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise TrainerError("bad_args", f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)


def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: BitNet, hp: InnerHParams) -> torch.optim.AdamW:
    # no weight decay on norms (1-D); the embeddings and all matrices decay
    decay = [p for _, p in sorted(model.named_parameters()) if p.dim() >= 2]
    rest = [p for _, p in sorted(model.named_parameters()) if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                             lr=hp.lr, betas=(hp.beta1, hp.beta2), eps=hp.eps)


def inner_steps(model: BitNet, opt, data: Dataset, hp: InnerHParams, start_step: int, cursor: int, steps: int,
                device: torch.device, progress_every: int = 0, world: parallel.World | None = None,
                stop=None) -> dict:
    """Runs `steps` optimizer steps, fewer when `stop()` turns true before one; returns losses (one per step run),
    the new cursor and throughput. With `world` (a rank of a --devices N run), this rank takes its share of each
    global batch of hp.batch sequences and the losses are the means over all ranks; the cursor and the token count
    are the global ones."""
    model.train()
    net = parallel.wrap(model, device) if world else model
    share, offset = (hp.batch // world.size, world.rank * (hp.batch // world.size)) if world else (hp.batch, 0)
    losses, tokens, t0 = [], 0, time.perf_counter()
    for i in range(steps):
        if stop is not None and stop():
            break
        lr = hp.lr_at(start_step + i)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = data.batch(cursor + offset, share)
        cursor += hp.batch
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if world:
            files.crash_point(f"train:rank{world.rank}:step{i}")  # fault tests: a rank killed (or hung) mid-train
        with autocast(device):
            _, loss = net(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # with DDP: the gradients, averaged over the ranks
        if hp.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        opt.step()
        lv = parallel.mean(loss, world) if world else loss.item()
        if not math.isfinite(lv):
            raise TrainerError("train_diverged", f"loss is {lv} at inner step {start_step + i}")
        losses.append(lv)
        tokens += hp.batch * hp.seq
        if progress_every and ((i + 1) % progress_every == 0 or i + 1 == steps):
            dt = time.perf_counter() - t0
            emit("progress", step=i + 1, steps=steps, loss=lv, lr=lr, tokens=tokens, tokens_per_s=tokens / dt)
    dt = time.perf_counter() - t0
    return {"losses": losses, "cursor": cursor, "tokens": tokens, "seconds": dt, "tokens_per_s": tokens / max(dt, 1e-9)}


# ---------------------------------------------------------------------------------------------------------------
# LOCAL state


def load_local(path: str, model: BitNet, opt, cfg: dict, node: int, nodes: int, seed: int) -> dict:
    """Restores AdamW moments into opt; returns {step, cursor, residual}. A missing file is a fresh node."""
    if not Path(path).exists():
        return {"step": 0, "cursor": 0, "residual": {}}
    tensors, meta = files.load(path, LOCAL_KIND, "--state")
    if not ckpt.same_config(meta.get("config", {}), cfg):
        raise TrainerError("config_mismatch", f"--state {path}: belongs to another model config")
    for key, want in (("node", node), ("nodes", nodes), ("seed", seed)):
        if meta.get(key) != want:
            raise TrainerError("bad_args", f"--state {path}: was written with {key}={meta.get(key)}, now {want}; "
                               "use a new state file when the data slicing changes")
    names = dict((p, n) for n, p in model.named_parameters())
    adam_step = float(meta.get("adam_step", 0))
    for group in opt.param_groups:
        for p in group["params"]:
            n = names[p]
            if "adam.exp_avg." + n in tensors:
                opt.state[p] = {"step": torch.tensor(adam_step),
                                "exp_avg": tensors["adam.exp_avg." + n].to(p.device),
                                "exp_avg_sq": tensors["adam.exp_avg_sq." + n].to(p.device)}
    residual = {k[3:]: v for k, v in tensors.items() if k.startswith("ef.")}
    return {"step": int(meta.get("step", 0)), "cursor": int(meta.get("cursor", 0)), "residual": residual}


def save_local(path: str, model: BitNet, opt, meta: dict, residual: dict, extra: dict | None = None) -> None:
    """extra: more tensors by name (ahead.py's kept weights and progress)."""
    tensors, adam_step = dict(extra or {}), 0.0
    for n, p in model.named_parameters():
        st = opt.state.get(p)
        if st:
            tensors["adam.exp_avg." + n] = st["exp_avg"]
            tensors["adam.exp_avg_sq." + n] = st["exp_avg_sq"]
            adam_step = float(st["step"])
    tensors.update({"ef." + k: v for k, v in residual.items()})
    files.save(path, tensors, LOCAL_KIND, {**meta, "adam_step": adam_step})


# ---------------------------------------------------------------------------------------------------------------
# the `train` command


def run(args, data_tokens) -> dict:
    """The `train` command in one process, or in one rank of a --devices N run (parallel.py)."""
    world = parallel.rank_world()
    if world is None:
        return _run(args, data_tokens, None)
    import torch.distributed as dist

    try:
        result = _run(args, data_tokens, world)
        dist.barrier()  # rank 0 wrote the files: all leave together (gloo aborts a rank whose peer is gone first)
        return result
    except dist.DistError as e:  # a peer stayed silent past --dist-timeout
        raise parallel.failed(world, e) from e
    finally:
        parallel.teardown()


def _run(args, data_tokens, world: parallel.World | None) -> dict:
    base = ckpt.load(args.base, "--base")
    cfg = base.cfg
    if args.seq > cfg.context:
        raise TrainerError("bad_args", f"--seq {args.seq} exceeds the model context {cfg.context}")
    device = pick_device(args.device, args.threads)
    if world:
        device = parallel.setup(world, device, args.dist_timeout)
    hp = InnerHParams(lr=args.lr, warmup=args.warmup, schedule=args.schedule, total_steps=args.total_steps,
                      weight_decay=args.weight_decay, beta1=args.beta1, beta2=args.beta2, grad_clip=args.grad_clip,
                      batch=args.batch, seq=args.seq)
    data = Dataset(data_tokens, args.seq, seed=args.seed, node=args.node, nodes=args.nodes, vocab_size=cfg.vocab_size)
    base_weights = {k: v.clone() for k, v in base.model.state_dict().items()}
    model = base.model.to(device)
    opt = make_optimizer(model, hp)
    local = load_local(args.state, model, opt, cfg.to_dict(), args.node, args.nodes, args.seed)
    mode = ahead.mode(args)
    if mode != "ahead" and not args.out:
        raise TrainerError("bad_args", "train needs --out (only --ahead writes no gradient)")
    start = ahead.begin(args.state, model) if mode == "ahead" else None
    taken, progress = (ahead.take(args.state, model, base, args.outer_lr, args.momentum, args.ahead_correction)
                       if mode == "take" else (None, None))
    # --take-ahead: the stretch ran the round's first steps; the rest run now, from the weights moved onto the base
    steps = args.steps - min(args.steps, taken["steps"]) if taken else args.steps
    devices = world.size if world else 1
    emit("start", command="train", base_sha256=base.sha256, round=base.round, steps=steps, device=str(device),
         devices=devices, params=model.num_params(), node=args.node, nodes=args.nodes, inner_step=local["step"],
         cursor=local["cursor"])
    log(f"train: {steps} steps on {device}{f' x{devices}' if world else ''}, batch {hp.batch}x{hp.seq}, "
        f"inner step {local['step']}")
    resumed = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()} if taken else None
    stop = ahead.stop_check(args.stop_file, world) if mode == "ahead" else None
    r = inner_steps(model, opt, data, hp, local["step"], local["cursor"], steps, device, args.progress_every, world,
                    stop)
    if world and world.rank != 0:
        return {}  # rank 0 holds the same weights and optimizer state: it alone writes the files and answers
    state_meta = {"config": cfg.to_dict(), "node": args.node, "nodes": args.nodes, "seed": args.seed,
                  "step": local["step"] + len(r["losses"]), "cursor": r["cursor"], "base_sha256": base.sha256}
    if start is not None:
        return _ahead_result(args, model, opt, r, start, local, state_meta, device, devices)

    # pseudo-gradient on the latent weights, plus the residual left over by the last lossy encoding
    local_weights = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    delta = ({k: progress[k] + (resumed[k] - local_weights[k]) for k in progress} if taken else
             {k: base_weights[k] - local_weights[k] for k in base_weights})
    raw_norm = math.sqrt(sum(float(d.double().pow(2).sum()) for d in delta.values()))
    use_ef = args.compression != "none" and not args.no_error_feedback
    corrected = {k: d + local["residual"].get(k, 0.0) for k, d in delta.items()} if use_ef else delta
    payload, comp = compress.encode(corrected, args.compression, args.int8_block, args.topk_density)
    residual = {}
    if use_ef:
        decoded = compress.decode(payload, comp)
        residual = {k: corrected[k] - decoded[k] for k in corrected}
    stretches = [({"steps": len(r["losses"]), "tokens": r["tokens"], "losses": _loss_summary(r["losses"])})]
    if taken:
        stretches.insert(0, taken)
    losses, tokens, steps = _joined(stretches), sum(x["tokens"] for x in stretches), sum(x["steps"] for x in stretches)
    meta = {"config": cfg.to_dict(), "round": base.round, "base_sha256": base.sha256, "node": args.node,
            "nodes": args.nodes, "node_id": args.node_id, "steps": steps, "tokens": tokens, "losses": losses,
            "compression": comp, "delta_norm": raw_norm}
    sha = files.save(args.out, payload, GRAD_KIND, meta)
    # the weights the next stretch ahead starts from: where this round's steps ended
    kept = ahead.tensors(local_weights, None) if args.keep_weights or taken else None
    try:
        save_local(args.state, model, opt, state_meta, residual, kept)
    except BaseException:
        Path(args.out).unlink(missing_ok=True)  # keep the pair consistent: no gradient without its state
        raise
    return {"out": str(args.out), "sha256": sha, "bytes": Path(args.out).stat().st_size,
            "payload_bytes": compress.payload_bytes(payload), "compression": args.compression,
            "base_sha256": base.sha256, "round": base.round, "node": args.node, "steps": steps,
            "tokens": tokens, "loss_first": losses["first"], "loss_last": losses["last"],
            "loss_mean": losses["mean"], "tokens_per_s": r["tokens_per_s"], "seconds": r["seconds"],
            "delta_norm": raw_norm, "inner_step": state_meta["step"], "cursor": r["cursor"],
            "device": str(device), "devices": devices, "state": str(args.state)}


def _loss_summary(losses: list[float]) -> dict:
    """first, last and mean of a stretch's losses (None for a stretch stopped before its first step)."""
    if not losses:
        return {"first": None, "last": None, "mean": None}
    return {"first": losses[0], "last": losses[-1], "mean": sum(losses) / len(losses)}


def _joined(stretches: list[dict]) -> dict:
    """The loss summary of consecutive stretches (the one trained ahead, then the rest of the round)."""
    ran = [x for x in stretches if x["steps"] and x["losses"]["first"] is not None]
    if not ran:
        raise TrainerError("bad_args", "train ran no step: --steps must exceed the steps trained ahead")
    total = sum(x["steps"] for x in ran)
    return {"first": ran[0]["losses"]["first"], "last": ran[-1]["losses"]["last"],
            "mean": sum(x["losses"]["mean"] * x["steps"] for x in ran) / total}


def _ahead_result(args, model, opt, r: dict, start: dict, local: dict, state_meta: dict, device, devices: int) -> dict:
    """--ahead: keeps the end weights and the progress (start - end) in the state; no gradient is written. With
    --stop-file the stretch may end before --steps (or before its first step)."""
    end = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    progress = {k: start[k] - end[k] for k in end}
    losses, ran = _loss_summary(r["losses"]), len(r["losses"])
    stretch = {"steps": ran, "tokens": r["tokens"], "seconds": r["seconds"], "losses": losses}
    save_local(args.state, model, opt, {**state_meta, "ahead": stretch}, local["residual"], ahead.tensors(end, progress))
    return {"ahead": True, "steps": ran, "tokens": r["tokens"], "loss_first": losses["first"],
            "loss_last": losses["last"], "seconds": r["seconds"], "tokens_per_s": r["tokens_per_s"],
            "inner_step": state_meta["step"], "cursor": r["cursor"], "device": str(device), "devices": devices,
            "state": str(args.state)}
