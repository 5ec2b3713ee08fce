"""Autoresearch, the trainer side: `trial` trains one hyperparameter config from scratch and scores it, `trial-score`
re-scores a trial's checkpoint (how a research node checks a reported result), `research-plot` draws a search's
best validation loss per phase.

Scores are comparable across trials and machines: the mean token cross-entropy in "qat" mode, float32 on the CPU,
over fixed held-out windows. The eval set (the first W windows) is what a search may steer by; the test set (the
last M windows, disjoint from it) is read once at the end, so a search that overfits the eval set shows it.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from . import ckpt, files
from .data import Dataset
from .evaluate import heldout_loss
from .model import ARCHS, ModelConfig, build, preset
from .protocol import TrainerError, emit, log
from .train import InnerHParams, autocast, make_optimizer, pick_device

PRESETS = ("tiny", "small")  # trials are many short runs: the larger shapes are for the network itself
SCHEDULES = ("wsd", "cosine", "constant")
WD_SCHEDULES = ("constant", "two_stage")
MODEL_KEYS = ("preset", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_mult", "ffn_dim", "context", "arch",
              "tie_embeddings")
OPT_DEFAULTS = {"lr": 1e-3, "schedule": "wsd", "warmup_frac": 0.05, "decay_frac": 0.2, "min_lr_ratio": 0.1,
                "weight_decay": 0.1, "wd_schedule": "constant", "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0,
                "batch": 4, "grad_accum": 1}


# ---------------------------------------------------------------------------------------------------------------
# The config


def _bad(key: str, value, why: str) -> TrainerError:
    return TrainerError("bad_args", f"--config: {key} {json.dumps(value)} {why}")


def _int(c: dict, key: str) -> int:
    v = c[key]
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise _bad(key, v, "is not a positive integer")
    return v


def _float(c: dict, key: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> float:
    v = c[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or v < lo or (lo_open and v == lo) or v > hi or (hi_open and v == hi):
        raise _bad(key, v, f"is not a number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")
    return float(v)


def _choice(c: dict, key: str, choices) -> str:
    if c[key] not in choices:
        raise _bad(key, c[key], f"is not one of {', '.join(choices)}")
    return c[key]


def parse_config(value: str) -> dict:
    """--config: a JSON object, inline when it starts with "{", else the path of a JSON file."""
    text = value.strip()
    if not text.startswith("{"):
        p = Path(value)
        if not p.is_file():
            raise TrainerError("file_missing", f"--config {value}: no such file (an inline config starts with '{{')")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise TrainerError("file_corrupt", f"--config {value}: cannot read it ({e})") from e
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise TrainerError("bad_args", f"--config: not JSON ({e})") from e
    if not isinstance(raw, dict):
        raise TrainerError("bad_args", f"--config: expected a JSON object, got {type(raw).__name__}")
    return raw


def resolve(raw: dict, vocab_size: int | None = None) -> tuple[dict, ModelConfig]:
    """Fills every key of a trial config (tiny preset and OPT_DEFAULTS) and checks it -> (resolved, model config).
    ffn_dim is derived from ffn_mult (the preset's when neither is given); the resolved dict carries both, and
    resolving it again gives it back, so a reported config can be re-run as is."""
    unknown = sorted(set(raw) - set(MODEL_KEYS) - set(OPT_DEFAULTS))
    if unknown:
        known = ", ".join((*MODEL_KEYS, *OPT_DEFAULTS))
        raise _bad(unknown[0], raw[unknown[0]], f"is not a config key (known: {known})")
    c = {"preset": "tiny", "arch": "llama", "tie_embeddings": False, **OPT_DEFAULTS, **raw}
    _choice(c, "preset", PRESETS)
    _choice(c, "arch", ARCHS)
    if not isinstance(c["tie_embeddings"], bool):
        raise _bad("tie_embeddings", c["tie_embeddings"], "is not true or false")
    try:
        base = preset(c["preset"], c["tie_embeddings"], c["arch"], vocab_size)
    except ValueError as e:  # a tokenizer smaller than the byte vocabulary
        raise TrainerError("bad_args", f"--config: {e}") from e
    for key in ("dim", "n_layers", "n_heads", "n_kv_heads", "context"):
        c.setdefault(key, getattr(base, key))
        _int(c, key)
    if "ffn_mult" in c:
        mult = _float(c, "ffn_mult", 0.0, 64.0, lo_open=True)
        ffn_dim = max(256, 256 * round(c["dim"] * mult / 256))
        c["ffn_mult"] = mult
        if "ffn_dim" in c and c["ffn_dim"] != ffn_dim:
            raise _bad("ffn_dim", c["ffn_dim"], f"disagrees with ffn_mult {mult} (which gives {ffn_dim})")
        c["ffn_dim"] = ffn_dim
    else:
        c["ffn_dim"] = _int(c, "ffn_dim") if "ffn_dim" in c else base.ffn_dim
        c["ffn_mult"] = c["ffn_dim"] / c["dim"]
    _float(c, "lr", 0.0, 10.0, lo_open=True)
    _choice(c, "schedule", SCHEDULES)
    _float(c, "warmup_frac", 0.0, 1.0, hi_open=True)
    _float(c, "decay_frac", 0.0, 1.0)
    if c["schedule"] == "wsd" and c["warmup_frac"] + c["decay_frac"] > 1:
        raise _bad("decay_frac", c["decay_frac"], f"plus warmup_frac {c['warmup_frac']} exceeds 1")
    _float(c, "min_lr_ratio", 0.0, 1.0)
    _float(c, "weight_decay", 0.0, 10.0)
    _choice(c, "wd_schedule", WD_SCHEDULES)
    _float(c, "beta1", 0.0, 1.0, hi_open=True)
    _float(c, "beta2", 0.0, 1.0, hi_open=True)
    _float(c, "grad_clip", 0.0, math.inf)
    _int(c, "batch")
    _int(c, "grad_accum")
    model_over = {k: c[k] for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "context")}
    try:
        cfg = ModelConfig(**{**base.to_dict(), **model_over, "arch": c["arch"]}).validate()
    except ValueError as e:
        raise TrainerError("bad_args", f"--config: {e}") from e
    order = (*MODEL_KEYS, *OPT_DEFAULTS)
    return {k: c[k] for k in order}, cfg


def lr_at(c: dict, step: int, steps: int) -> float:
    """Linear warmup over round(warmup_frac * steps), then: wsd holds lr and decays linearly over the last
    round(decay_frac * steps) steps to min_lr_ratio * lr (reached at the last step); cosine and constant as `train`."""
    warmup = round(c["warmup_frac"] * steps)
    if c["schedule"] != "wsd":
        return InnerHParams(lr=c["lr"], warmup=warmup, schedule=c["schedule"], total_steps=steps,
                            min_lr_ratio=c["min_lr_ratio"]).lr_at(step)
    if warmup > 0 and step < warmup:
        return c["lr"] * (step + 1) / warmup
    decay = round(c["decay_frac"] * steps)
    into = step - (steps - decay)
    if decay > 0 and into >= 0:
        return c["lr"] * (1 - (1 - c["min_lr_ratio"]) * (into + 1) / decay)
    return c["lr"]


def wd_at(c: dict, step: int, steps: int) -> float:
    """two_stage (BitNet b1.58 2B4T): the weight decay for the first half of the steps, none for the second."""
    if c["wd_schedule"] == "two_stage" and step >= steps / 2:
        return 0.0
    return c["weight_decay"]


# ---------------------------------------------------------------------------------------------------------------
# Scoring


def window_sets(data: Dataset, eval_windows: int, test_windows: int) -> tuple[list[int], list[int]]:
    """(eval ids, test ids): the first W held-out windows and the last M, disjoint."""
    first = data.heldout_windows(eval_windows)  # data_empty when there is not even one window
    total = (len(data.heldout) - 1) // data.seq
    if eval_windows + test_windows > total:
        raise TrainerError("data_empty", f"--eval-windows {eval_windows} + --test-windows {test_windows} exceed the "
                           f"{total} held-out windows of {data.seq} tokens")
    return first, list(range(total - test_windows, total))


def cpu_copy(model):
    """The model on the CPU in float32, to score (the model itself when it is there already)."""
    if next(model.parameters()).device.type == "cpu":
        return model
    m = build(model.cfg)
    m.load_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
    return m


def score(model, data: Dataset, ids: list[int], batch: int) -> float:
    """Mean token cross-entropy over held-out windows `ids`, qat, float32 on the CPU: trial and trial-score both."""
    m = cpu_copy(model)
    was_training = m.training
    loss = heldout_loss(m, data, batch, len(ids), "qat", torch.device("cpu"), ids=ids)[0]
    m.train(was_training)
    return loss


# ---------------------------------------------------------------------------------------------------------------
# Commands


def run_trial(args, c: dict, cfg: ModelConfig, tokens) -> dict:
    """Trains config c (resolved, with its model config cfg) for args.steps steps from init seed args.seed; seconds
    counts the training and scoring, not loading the data (a worker keeps that)."""
    t0 = time.perf_counter()
    steps = args.steps
    every = args.eval_every or max(1, steps // 5)
    device = pick_device(args.device, args.threads)
    data = Dataset(tokens, cfg.context, seed=args.seed, vocab_size=cfg.vocab_size)
    eval_ids, test_ids = window_sets(data, args.eval_windows, args.test_windows)
    model = build(cfg, seed=args.seed).to(device)
    opt = make_optimizer(model, InnerHParams(lr=c["lr"], weight_decay=c["weight_decay"], beta1=c["beta1"],
                                             beta2=c["beta2"]))
    decay_group = opt.param_groups[0]  # make_optimizer: the matrices (decayed), then the norms (never)
    emit("start", command="trial", config=c, steps=steps, seed=args.seed, device=str(device),
         params=model.num_params(), eval_every=every)
    log(f"trial: {steps} steps on {device}, batch {c['batch']}x{c['grad_accum']}x{cfg.context}, "
        f"{model.num_params()} params")
    curve, cursor, tokens_seen, loss_last = [], 0, 0, math.nan
    model.train()
    for step in range(steps):
        lr = lr_at(c, step, steps)
        for g in opt.param_groups:
            g["lr"] = lr
        decay_group["weight_decay"] = wd_at(c, step, steps)
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(c["grad_accum"]):
            x, y = data.batch(cursor, c["batch"])
            cursor += c["batch"]
            with autocast(device):
                _, loss = model(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
            (loss / c["grad_accum"]).backward()
            total += loss.item()
        loss_last = total / c["grad_accum"]
        if not math.isfinite(loss_last):
            raise TrainerError("train_diverged", f"loss is {loss_last} at step {step} (lr {lr:g})")
        if c["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        opt.step()
        tokens_seen += c["batch"] * c["grad_accum"] * cfg.context
        if (step + 1) % every == 0 or step + 1 == steps:
            ev = score(model, data, eval_ids, args.eval_batch)
            if not math.isfinite(ev):
                raise TrainerError("train_diverged", f"eval loss is {ev} after step {step + 1}")
            curve.append([step + 1, ev])
            emit("progress", step=step + 1, steps=steps, loss=loss_last, eval_loss=ev, lr=lr, tokens=tokens_seen)
    test = score(model, data, test_ids, args.eval_batch)
    final = cpu_copy(model)
    meta = {"preset": c["preset"], "config": cfg.to_dict(), "round": 0, "trial": c, "steps": steps,
            "tokens": tokens_seen, "seed": args.seed, "contributors": [], "parent_sha256": None}
    sha = ckpt.save(args.out, ckpt.Checkpoint(final, meta, {}, None))
    return {"out": str(args.out), "checkpoint_sha256": sha, "bytes": Path(args.out).stat().st_size, "config": c,
            "params": final.num_params(), "steps": steps, "tokens": tokens_seen, "eval_loss": curve[-1][1],
            "test_loss": test, "curve": curve, "train_loss_last": loss_last, "seconds": time.perf_counter() - t0,
            "eval_windows": len(eval_ids), "test_windows": len(test_ids)}


def run_trial_score(args, tokens) -> dict:
    ck = ckpt.load(args.ckpt, "--ckpt")
    seed = ck.meta.get("seed")  # the held-out stream does not depend on it; the training split it shuffles does
    data = Dataset(tokens, ck.cfg.context, seed=seed if isinstance(seed, int) and seed >= 0 else 0,
                   vocab_size=ck.cfg.vocab_size, what="--data")
    eval_ids, test_ids = window_sets(data, args.eval_windows, args.test_windows)
    return {"checkpoint_sha256": ck.sha256, "eval_loss": score(ck.model, data, eval_ids, args.eval_batch),
            "test_loss": score(ck.model, data, test_ids, args.eval_batch), "eval_windows": len(eval_ids),
            "test_windows": len(test_ids), "config": ck.meta.get("trial"),
            # what a research node checks against the job: the model this file builds (not what its meta claims
            # was trained) and the steps and seed it says it ran
            "model": {**ck.cfg.to_dict(), "arch": ck.cfg.arch},  # to_dict leaves the default arch out
            "steps": ck.meta.get("steps"), "seed": ck.meta.get("seed")}


def _loss(v, what: str):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TrainerError("file_corrupt", f"--report: {what} is {json.dumps(v)}, not a number or null")
    return float(v) if math.isfinite(v) else None


def run_plot(args) -> dict:
    """Figure 4 of the paper: the best validation loss of each phase (line), every trial's (faint dots), the base
    config's (dashed)."""
    p = Path(args.report)
    if not p.is_file():
        raise TrainerError("file_missing", f"--report {args.report}: no such file")
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
        phases = report["phases"]
        if not isinstance(phases, list) or not all(isinstance(ph, dict) for ph in phases):
            raise TypeError("phases is not a list of objects")
        names = [str(ph.get("name", f"phase {i + 1}")) for i, ph in enumerate(phases)]
        best = [_loss(ph.get("best_eval_loss"), f"phases[{i}].best_eval_loss") for i, ph in enumerate(phases)]
        dots = [(i, _loss(t.get("eval_loss"), f"phases[{i}].trials[].eval_loss"))
                for i, ph in enumerate(phases) for t in ph.get("trials") or [] if isinstance(t, dict)]
        base = _loss(report.get("base_eval_loss"), "base_eval_loss")
    except TrainerError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise TrainerError("file_corrupt", f"--report {args.report}: not a research report ({e})") from e
    if not phases:
        raise TrainerError("bad_args", f"--report {args.report}: has no phases to draw")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise TrainerError("bad_args", "research-plot needs matplotlib (python/install.sh installs it)") from e
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(phases) + 2), 4.5), dpi=120)
    dots = [(i, v) for i, v in dots if v is not None]
    ax.scatter([i for i, _ in dots], [v for _, v in dots], s=12, color="C0", alpha=0.25, label="trials")
    pts = [(i, v) for i, v in enumerate(best) if v is not None]
    if pts:
        ax.plot([i for i, _ in pts], [v for _, v in pts], color="C0", marker="o", label="best per phase")
        for i, v in pts:
            ax.annotate(f"{v:.3f}", (i, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    if base is not None:
        ax.axhline(base, color="k", linestyle="--", linewidth=1, label=f"base config ({base:.3f})")
    ax.set_xticks(range(len(phases)))
    ax.set_xticklabels(names, rotation=20 if len(phases) > 4 else 0, ha="right" if len(phases) > 4 else "center")
    ax.set_xlim(-0.5, len(phases) - 0.5)
    ax.set_xlabel("phase")
    ax.set_ylabel("validation loss (qat)")
    ax.set_title(str(report.get("name", "autoresearch")), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        files.write_atomic(args.out, lambda tmp: fig.savefig(tmp, format="png"), "plot")
    finally:
        plt.close(fig)
    return {"out": str(args.out), "bytes": Path(args.out).stat().st_size, "phases": len(phases)}
