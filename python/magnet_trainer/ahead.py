"""The delayed schedule: a node trains on while its last pseudo-gradient is in flight.

Plain DiLoCo waits: round r+1 starts on the merged model B, which exists only after round r's gradients travelled,
were checked, merged and certified. Delayed (the overlap of Streaming DiLoCo, PCCL and Decoupled DiLoCo): a node
that has sent its gradient of round r at once trains round r+1's first steps "ahead" from its own weights x
(`train --ahead`), until round r+1 begins: the daemon then creates the --stop-file and the stretch ends before its
next step (or it ran all H steps: the network was slower than training). `train --take-ahead` on B counts that
progress, q = x_start - x_end, as the round's first steps: the weights move onto B after the outer step q alone
would make there, with B's momentum (the eager update, Kale et al. 2025: a node's own progress stands in for the
network's mean until that merge lands), and the rest of the H steps train from there. The gradient is all H steps
of progress, judged by what it does to B like any other; only the steps trained while the merge was in flight ran
on stale weights. Measured in `experiment diloco --overlap` (4 workers, H=25, 32 rounds): 5 of 25 steps ahead
ended 0.3% below the plain schedule with the eager update and 2.4% above it moving to B - q (rebase); all 25 ahead,
a whole round behind, was 13.1% above after 12 rounds (eager).

LOCAL state (train.save_local) carries, besides the AdamW moments and the residual:
  "w.<param>"  the weights the next stretch ahead starts from (a plain `train --keep-weights` stores its end)
  "q.<param>"  progress made ahead and not yet taken, with meta "ahead" = {steps, tokens, losses, base_sha256}
A plain `train` drops both (it starts from the base), so progress ahead that the daemon does not take, because
the round it was made for never came, is dropped by rule, never applied late.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import files
from .protocol import TrainerError

WEIGHTS, PROGRESS = "w.", "q."


def split(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict | None]:
    """(weights to start ahead from, progress not yet taken, its meta) from a LOCAL state file."""
    from .train import LOCAL_KIND

    tensors, meta = files.load(path, LOCAL_KIND, "--state")
    return split(tensors, WEIGHTS), split(tensors, PROGRESS), meta.get("ahead")


def tensors(weights: dict[str, torch.Tensor] | None, progress: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    out = {WEIGHTS + k: v.detach().float().cpu() for k, v in (weights or {}).items()}
    out.update({PROGRESS + k: v.detach().float().cpu() for k, v in (progress or {}).items()})
    return out


def mode(args) -> str:
    """plain, ahead (train on from the kept weights) or take (turn the progress made ahead into the gradient)."""
    if args.ahead and args.take_ahead:
        raise TrainerError("bad_args", "--ahead and --take-ahead exclude each other")
    return "ahead" if args.ahead else "take" if args.take_ahead else "plain"


def begin(state: str, model) -> dict[str, torch.Tensor]:
    """--ahead: loads the weights kept by the last train into model; returns them (where the stretch starts)."""
    weights, _, _ = read(state) if Path(state).exists() else ({}, {}, None)
    if set(weights) != set(model.state_dict()):
        raise TrainerError("no_ahead", f"--ahead: --state {state} keeps no weights of this model to train on from "
                           "(a train with --keep-weights or --take-ahead keeps them)")
    model.load_state_dict(weights)
    return {k: v.clone() for k, v in weights.items()}


def stop_check(path: str | None, world=None):
    """--stop-file: a check run before each step of a stretch ahead; true once the file exists (the daemon creates it
    when the merge the stretch runs ahead of has landed). The ranks of a --devices N run agree on it."""
    if not path:
        return None
    import os

    from . import parallel

    def check() -> bool:
        there = os.path.exists(path)
        return parallel.any_rank(there, world) if world else there

    return check


def move_onto(model, momentum: dict[str, torch.Tensor], progress: dict[str, torch.Tensor], correction: str,
              outer_lr: float, mu: float) -> None:
    """Moves `model`, holding the merged weights B, onto them from progress q trained ahead of that merge, in place:
      rebase: B - q, the progress itself on the merged model;
      eager:  B after the outer step q alone would make there (Nesterov with B's `momentum`, q standing in for the
              network's mean until that merge lands)."""
    from .ckpt import Checkpoint
    from .merge import outer_step

    device = next(model.parameters()).device
    q = {k: v.to(device) for k, v in progress.items()}
    if correction == "rebase":
        model.load_state_dict({k: v - q[k] for k, v in model.state_dict().items()})
    else:  # outer_step leaves `momentum` as it was: the buffers it updates are its own
        outer_step(Checkpoint(model, {}, {k: v.to(device) for k, v in momentum.items()}, None), q, outer_lr, mu)


def take(state: str, model, base, outer_lr: float, momentum: float, correction: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """--take-ahead: the progress q made ahead counts as the first steps of the gradient against `base` (a Checkpoint
    whose model is `model`), and the weights move onto the base (move_onto), where the rest of the round's steps
    continue. A stretch stopped before its first step leaves the model on the base. Returns the stretch's meta
    (steps, tokens, losses, seconds) and q."""
    _, progress, meta = read(state) if Path(state).exists() else ({}, {}, None)
    if not meta or set(progress) != set(model.state_dict()):
        raise TrainerError("no_ahead", f"--take-ahead: --state {state} holds no progress trained ahead (train --ahead)")
    if meta["steps"]:
        move_onto(model, base.momentum, progress, correction, outer_lr, momentum)
    return meta, progress
