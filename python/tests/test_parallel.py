"""`train --devices N`: N data-parallel ranks under torchrun, here two gloo processes on the CPU (loopback).

Two ranks with the global batch B (B/2 each) must train as one process with batch B: the same losses, pseudo-gradient
and LOCAL state (AdamW moments, step, cursor, error-feedback residual) up to float rounding; rank 0 alone answers
and writes. A rank killed or hung mid-train fails the command with `rank_failed` and leaves no file behind.

The tolerance: the two runs differ only in the order of float sums (a mean over B sequences against two means over
B/2, averaged by the all-reduce). AdamW's first steps move each weight by about lr * sign(gradient), so a gradient
near zero whose sign rounding flips moves a weight by up to 2 lr, and the ternary/int8 quantizers turn such tiny
weight changes into discrete activation changes: the element-wise gap can reach lr while the whole stays close.
Measured with these settings (2 steps of the tiny preset): the 2-rank pseudo-gradient is within ~3e-3 of the
1-process one in relative L2 norm; the same single process with 2 threads instead of 1 lands ~3e-2 away (what float
reordering alone does to this model); a wrong split of the batch (batch 2 or 8 instead of 4) ~0.7 away. So: relative
L2 distance < 0.1, and the losses, means over many tokens, within 5e-4 relative (measured 3e-5; a wrong batch split ~7e-3).
"""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist

from magnet_trainer import compress, files, parallel
from magnet_trainer.train import GRAD_KIND, LOCAL_KIND

from .conftest import PYTHON_DIR, Run

pytestmark = pytest.mark.skipif(not dist.is_gloo_available(), reason="torch without gloo")
TOL = 0.1


def _train(*args, env=None, timeout=240) -> tuple[Run, float]:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR), **(env or {})}
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "magnet_trainer", "train", *map(str, args)], capture_output=True,
                       text=True, env=env, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr), time.monotonic() - t0


def _common(base_ckpt, text_file, steps=2):
    # --node and --nodes as the daemon passes them: torchrun must not take them for its --node-rank
    return ["--base", base_ckpt, "--steps", steps, "--data", text_file, "--batch", 4, "--seq", 32, "--warmup", 1,
            "--lr", 1e-3, "--progress-every", 1, "--threads", 1, "--compression", "int8", "--node", 0, "--nodes", 1]


def _rel(a: dict, b: dict) -> float:
    num = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in a)
    den = sum(float(a[k].double().pow(2).sum()) for k in a)
    return (num / den) ** 0.5


def _corrected(grad, state) -> dict:
    """What the node meant to send: the decoded pseudo-gradient plus the residual it kept for the next round."""
    payload, meta = files.load(grad, GRAD_KIND, "grad")
    residual, _ = files.load(state, LOCAL_KIND, "state")
    return {k: v + residual["ef." + k] for k, v in compress.decode(payload, meta["compression"]).items()}


def test_two_gloo_ranks_train_as_one_process_with_twice_the_batch(tmp_path, base_ckpt, text_file):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    measured = []
    for rnd in (1, 2):  # round 2 resumes from each run's own LOCAL state: moments, step, cursor, residual
        a, _ = _train(*_common(base_ckpt, text_file), "--state", one / "local", "--out", one / f"g{rnd}")
        b, _ = _train(*_common(base_ckpt, text_file), "--state", two / "local", "--out", two / f"g{rnd}", "--devices", 2)
        assert a.rc == 0 and b.rc == 0, b.err
        # rank 0 alone speaks: one start, one progress line per step, one result, every stdout line JSON
        assert [e["event"] for e in b.events] == ["start", "progress", "progress", "result"], b.events
        assert b.events[0]["devices"] == 2 and b.result["devices"] == 2 and a.result["devices"] == 1
        for k in ("steps", "tokens", "inner_step", "cursor", "base_sha256", "round", "payload_bytes"):
            assert a.result[k] == b.result[k], k
        la = [e["loss"] for e in a.events if e["event"] == "progress"]
        lb = [e["loss"] for e in b.events if e["event"] == "progress"]
        assert la == pytest.approx(lb, rel=5e-4)
        # the same LOCAL state: counters exactly, AdamW moments and the residual up to rounding
        ta, ma = files.load(one / "local", LOCAL_KIND, "a")
        tb, mb = files.load(two / "local", LOCAL_KIND, "b")
        assert {k: v for k, v in ma.items() if k != "base_sha256"} == {k: v for k, v in mb.items() if k != "base_sha256"}
        assert mb["step"] == 2 * rnd and mb["cursor"] == 8 * rnd and mb["adam_step"] == 2.0 * rnd
        assert sorted(ta) == sorted(tb) and any(k.startswith("ef.") for k in tb)
        for prefix in ("adam.exp_avg.", "adam.exp_avg_sq."):
            assert _rel({k: ta[k] for k in ta if k.startswith(prefix)}, tb) < TOL, prefix
        # the same pseudo-gradient up to rounding: what was sent plus what was kept back (the residual alone is int8's
        # rounding remainder, which jumps by a quantization step wherever a tiny difference flips a rounding)
        ca, cb = _corrected(one / f"g{rnd}", one / "local"), _corrected(two / f"g{rnd}", two / "local")
        rel = _rel(ca, cb)
        assert rel < TOL, rel
        measured.append({"round": rnd, "rel_l2": rel, "max_abs": max(float((ca[k] - cb[k]).abs().max()) for k in ca),
                         "max_abs_delta": max(float(ca[k].abs().max()) for k in ca),
                         "loss_max_rel": max(abs(x - y) / abs(x) for x, y in zip(la, lb))})
    # rank 0 alone writes, atomically: the gradients and the state, no temp file, nothing from rank 1
    assert sorted(p.name for p in two.iterdir()) == ["g1", "g2", "local"]
    print(json.dumps(measured))


def _no_process_mentions(text: str) -> bool:
    """No process left whose command line names `text` (the ranks carry the run's --out path)."""
    for _ in range(50):
        if subprocess.run(["pgrep", "-f", text], capture_output=True).returncode == 1:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_rank_killed_or_hung_mid_train_fails_the_command_cleanly(tmp_path, base_ckpt, text_file, fault):
    marker, out, state = tmp_path / "marker", tmp_path / "grad", tmp_path / "local"
    var = "MAGNET_TRAINER_CRASH_AT" if fault == "killed" else "MAGNET_TRAINER_HANG_AT"
    r, seconds = _train(*_common(base_ckpt, text_file, steps=3), "--state", state, "--out", out, "--devices", 2,
                        "--dist-timeout", 5, env={var: f"train:rank1:step1@{marker}"})
    assert marker.read_text() == "train:rank1:step1\n", "the fault happened"
    assert r.rc == 1 and r.error["code"] == "rank_failed", (r.events, r.err[-2000:])
    assert [e["event"] for e in r.events][:2] == ["start", "progress"] and r.events[-1]["event"] == "error"
    # nothing written: no gradient, no state (a fresh node stays fresh), no temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker"]
    assert _no_process_mentions(str(out)), "a rank outlived the command"
    print(json.dumps({"fault": fault, "seconds": round(seconds, 1), "message": r.error["message"]}))


def test_devices_arguments_are_checked_before_any_process_starts(trainer, tmp_path, base_ckpt, text_file):
    args = ["train", "--base", base_ckpt, "--steps", 1, "--data", text_file, "--seq", 32, "--state", tmp_path / "s",
            "--out", tmp_path / "g", "--devices", 2]
    r = trainer(*args, "--batch", 3)
    assert r.rc == 1 and r.error["code"] == "bad_args" and "multiple of --devices" in r.error["message"]
    if not torch.cuda.is_available():
        r = trainer(*args, "--batch", 4, "--device", "cuda")
        assert r.rc == 1 and r.error["code"] == "bad_args" and "CUDA device" in r.error["message"]
    assert list(tmp_path.iterdir()) == []


def test_two_gloo_ranks_run_the_delayed_schedule_and_stop_a_stretch_together(tmp_path, base_ckpt, text_file):
    """--devices 2 through a round of the delayed schedule: the stop file ends the stretch ahead on both ranks at the
    same step (they agree with an all-reduce; a rank going on alone would hang the other), and --take-ahead trains
    the steps left on both."""
    state, stop = tmp_path / "local", tmp_path / "ahead.stop"
    common = [*_common(base_ckpt, text_file, steps=3), "--state", state, "--devices", 2]
    r, _ = _train(*common, "--keep-weights", "--out", tmp_path / "g0")
    assert r.rc == 0, r.err
    stop.write_text("1\n")  # the next round began before the stretch's first step
    r, _ = _train(*common, "--ahead", "--stop-file", stop)
    assert r.rc == 0, r.err
    assert r.result["ahead"] is True and r.result["steps"] == 0 and r.result["devices"] == 2
    r, _ = _train(*common, "--take-ahead", "--out", tmp_path / "g1")
    assert r.rc == 0, r.err
    start = next(e for e in r.events if e["event"] == "start")
    assert start["steps"] == 3 and r.result["steps"] == 3 and r.result["devices"] == 2
    stop.unlink()
    r, _ = _train(*common, "--ahead", "--stop-file", stop)  # no stop: the whole stretch, on both ranks
    assert r.rc == 0, r.err
    assert r.result["steps"] == 3


def _agree(rank: int, port: int, seen: list, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        out.put((rank, parallel.any_rank(seen[rank], parallel.World(rank, 2, rank))))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("seen", [[True, False], [False, True], [False, False]])
def test_ranks_stop_when_any_rank_sees_the_stop_file(seen):
    """The stop file may appear between two ranks' checks: each must take the same decision, stop if any saw it."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = parallel._free_port()
    procs = [ctx.Process(target=_agree, args=(rank, port, seen, out)) for rank in range(2)]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert got == {0: any(seen), 1: any(seen)}
