"""Data parallel inner loop on several devices of one node: `train --devices N`.

The process the daemon starts (the launcher) re-runs the same command under torchrun (torch.distributed.run) as N
rank processes on loopback, one per GPU with NCCL, or N CPU processes with gloo. Every step, rank r takes windows
cursor + r*B/N .. cursor + (r+1)*B/N - 1 of the global batch B, in the data order one process would use, and
DistributedDataParallel averages the gradients: N ranks x B/N sequences compute the mean loss over B sequences, as
one process with batch B does, so the pseudo-gradient, the losses and the LOCAL state (AdamW moments, step, cursor,
residual) are the same up to float rounding, and a state file moves freely between device counts.

Rank 0 alone speaks the JSON-lines protocol (the launcher forwards its events) and writes the gradient and state
files, atomically. A rank that dies or stops answering fails the command with code `rank_failed`: torchrun stops
the other ranks when one exits, a collective waiting on a dead or silent peer fails after --dist-timeout seconds,
and the ranks die with the launcher (Linux parent-death signal), so no rank outlives the command.
"""

from __future__ import annotations

import ctypes
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch

from . import protocol
from .protocol import TrainerError, emit, log

RANK_ENV = "MAGNET_TRAINER_RANK"  # set by the launcher for the rank processes: "1"
ARGV_ENV = "MAGNET_TRAINER_ARGV"  # the ranks' command line, JSON (__main__.py reads it)
PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


@dataclass
class World:
    rank: int
    size: int
    local_rank: int


def rank_world() -> World | None:
    """This process's place when it is a rank of a `--devices N` run that launch() started, else None."""
    if os.environ.get(RANK_ENV) != "1":
        return None
    return World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))


# ---------------------------------------------------------------------------------------------------------------
# the launcher


def check(args) -> None:
    """The arguments a --devices N run needs, checked before any process starts."""
    n = args.devices
    if args.batch % n:
        raise TrainerError("bad_args", f"--batch {args.batch} is not a multiple of --devices {n}: each device takes "
                           "batch / devices sequences of every step")
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        have = torch.cuda.device_count()
        if have < n:
            raise TrainerError("bad_args", f"--devices {n}: torch sees {have} CUDA device(s) "
                               "(CUDA_VISIBLE_DEVICES); use --device cpu for gloo processes on the CPU")
    elif args.device not in ("auto", "cpu"):
        raise TrainerError("bad_args", f"--device {args.device}: expected auto, cpu or cuda")


def launch(args) -> dict:
    """Runs args.argv under torchrun with args.devices ranks; forwards rank 0's events; returns its result."""
    check(args)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(args.devices),
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "--max-restarts", "0",
           "--monitor-interval", "0.2", "-m", "magnet_trainer"]
    # the command goes by environment: torchrun would parse options after the module name as its own
    env = {**os.environ, RANK_ENV: "1", ARGV_ENV: json.dumps(args.argv), "PYTHONPATH": os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)}
    # torchrun would give each rank 1 CPU thread; share the cores instead (--threads still decides when given)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.devices)))
    lo = _loopback()
    if lo and "GLOO_SOCKET_IFNAME" not in env:
        env["GLOO_SOCKET_IFNAME"] = lo  # gloo's peer sockets on loopback, not on the interface of the hostname
    log(f"train: {args.devices} data-parallel ranks under torchrun")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
                            preexec_fn=_die_with_parent)
    result = error = None
    try:
        for line in proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                e = None
            if not isinstance(e, dict) or "event" not in e:
                sys.stderr.write(line)  # torchrun's own prints: logs, never protocol
                continue
            if e["event"] == "result":
                result = e
            elif e["event"] == "error":
                error = e
            else:
                emit(e.pop("event"), **e)
        rc = proc.wait()
    finally:
        if proc.poll() is None:  # an exception here (KeyboardInterrupt): no rank outlives the command
            proc.terminate()
            proc.wait()
    if result is not None:
        if rc != 0:  # rank 0 wrote both files and said so; another rank failed on its way out
            log(f"train: torchrun exited with {rc} after rank 0's result; the gradient and state are complete")
        return {k: v for k, v in result.items() if k not in ("event", "time", "command")}
    if error is not None and error.get("code") in protocol.CODES and error.get("code") != "internal":
        # the command's own verdict (bad arguments, files, divergence...), as one process would give it
        data = {k: v for k, v in error.items() if k not in ("event", "time", "command", "code", "message")}
        raise TrainerError(error["code"], str(error.get("message")), **data)
    # A peer that dies shows up in rank 0 as a RuntimeError from gloo or NCCL (connection closed), if rank 0 gets to
    # say anything before torchrun stops it: with several ranks, any unexpected failure is the run breaking.
    said = f"; rank 0: {error.get('message')}" if error is not None else "; rank 0 gave no answer"
    raise TrainerError("rank_failed", f"a data-parallel rank failed: torchrun exited with {rc}{said} (the ranks' "
                       "reports are on stderr)", devices=args.devices, exit_code=rc)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback() -> str | None:
    try:
        return next((name for _, name in socket.if_nameindex() if name.startswith("lo")), None)
    except OSError:
        return None


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: this process gets `sig` when its parent dies (torchrun passes SIGTERM on to its ranks)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG


# ---------------------------------------------------------------------------------------------------------------
# a rank


def setup(world: World, device: torch.device, timeout_s: float) -> torch.device:
    """Joins the process group (NCCL on CUDA, gloo on CPU); returns this rank's device. Ranks other than 0 go quiet."""
    import torch.distributed as dist

    _die_with_parent(signal.SIGKILL)  # torchrun killed: nothing is left to stop this rank
    if os.getppid() == 1:
        raise TrainerError("rank_failed", f"rank {world.rank}: torchrun died before this rank started")
    if world.rank != 0:
        protocol.silent = True
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    except dist.DistError as e:
        raise TrainerError("rank_failed", f"rank {world.rank}: cannot join the process group ({e})") from e
    return device


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model as DistributedDataParallel: gradients averaged over the ranks in backward."""
    from torch.nn.parallel import DistributedDataParallel

    # the buffers (RoPE tables) are the same constants on every rank: nothing to send before each forward
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters  # torch >= 2.15
    quiet = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None, **quiet)


def mean(x: torch.Tensor, world: World) -> float:
    """The mean of a scalar over the ranks (gloo has no AVG: a SUM divided by the world size)."""
    import torch.distributed as dist

    t = x.detach().float().reshape(1).clone()
    dist.all_reduce(t)
    return float(t.item()) / world.size


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when it is true on any: the ranks of one step must agree to stop together."""
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def failed(world: World, e: Exception) -> TrainerError:
    return TrainerError("rank_failed", f"rank {world.rank}: a collective failed: another rank died or did not answer "
                        f"within --dist-timeout ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")


def teardown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
