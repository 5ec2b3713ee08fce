"""The delayed schedule's trainer side: train --keep-weights, --ahead and --take-ahead."""

import pytest
import torch

from magnet_trainer import ahead, ckpt, compress, files, train
from magnet_trainer.merge import outer_step
from magnet_trainer.train import GRAD_KIND


def _train(trainer, workdir, base, state, *extra, out=None, steps=3):
    args = ["train", "--base", base, "--steps", steps, "--data", workdir / "corpus.txt", "--state", state,
            "--batch", 2, "--seq", 32, "--warmup", 1, "--lr", 1e-3, "--progress-every", 0, *extra]
    return trainer(*args, *(["--out", out] if out else []))


@pytest.mark.parametrize("correction", ["rebase", "eager"])
def test_progress_ahead_becomes_the_next_rounds_gradient_on_the_merged_model(trainer, workdir, base_ckpt, text_file,
                                                                             correction):
    state = workdir / f"ahead_local_{correction}.safetensors"
    g0 = workdir / "ahead_g0.safetensors"
    r = _train(trainer, workdir, base_ckpt, state, "--keep-weights", out=g0)
    assert r.rc == 0, r.err
    kept, progress, _ = ahead.read(state)
    base0 = ckpt.load(base_ckpt).model.state_dict()
    t0, meta0 = files.load(g0, GRAD_KIND, "g")
    delta0 = compress.decode(t0, meta0["compression"])
    assert not progress and all(torch.allclose(kept[k], base0[k] - delta0[k], atol=1e-6) for k in base0)  # its end

    r = _train(trainer, workdir, base_ckpt, state, "--ahead")  # round 1's steps, while g0 is in flight
    assert r.rc == 0, r.err
    assert r.result["ahead"] is True and r.result["steps"] == 3 and "sha256" not in r.result
    end, q, meta = ahead.read(state)
    assert meta["steps"] == 3 and meta["tokens"] == 3 * 2 * 32
    assert all(torch.allclose(q[k], kept[k] - end[k]) for k in q) and sum(float(v.norm()) for v in q.values()) > 0

    merged = workdir / "ahead_merged.safetensors"  # round 0's merge lands
    assert trainer("merge", "--base", base_ckpt, "--grad", g0, "--weight", 1, "--out", merged).rc == 0
    g1 = workdir / "ahead_g1.safetensors"
    r = _train(trainer, workdir, merged, state, "--take-ahead", "--ahead-correction", correction, "--outer-lr", 0.7,
               "--momentum", 0.9, out=g1)
    assert r.rc == 0, r.err
    assert r.result["steps"] == 3 and r.result["tokens"] == 3 * 2 * 32 and r.result["loss_last"] == meta["losses"]["last"]
    t, gmeta = files.load(g1, GRAD_KIND, "g")
    assert gmeta["base_sha256"] == files.sha256_file(merged)
    delta1 = compress.decode(t, gmeta["compression"])
    kept1, left, _ = ahead.read(state)
    # its weights: the merged model minus its progress (rebase), or after the outer step its own progress would make
    # there (the eager update); the stretch ran all 3 steps, so none is left to train
    anticipated = ckpt.load(merged)
    if correction == "eager":
        outer_step(anticipated, q, 0.7, 0.9)
    moved = {k: v - q[k] if correction == "rebase" else v for k, v in anticipated.model.state_dict().items()}
    for k in q:
        assert torch.equal(delta1[k], q[k])  # the gradient is the progress made ahead
        assert torch.allclose(kept1[k], moved[k], atol=1e-6)
    assert not left  # taken once

    r = _train(trainer, workdir, merged, state, "--take-ahead", out=workdir / "ahead_twice.safetensors")
    assert r.rc == 1 and r.error["code"] == "no_ahead"
    assert _train(trainer, workdir, merged, state, "--ahead").rc == 0  # the next stretch starts from B - q


def test_a_plain_train_drops_progress_not_taken(trainer, workdir, base_ckpt, text_file):
    state = workdir / "drop_local.safetensors"
    r = _train(trainer, workdir, base_ckpt, state, "--ahead")
    assert r.rc == 1 and r.error["code"] == "no_ahead" and "keeps no weights" in r.error["message"]
    assert _train(trainer, workdir, base_ckpt, state, "--keep-weights", out=workdir / "drop_g0.safetensors").rc == 0
    assert _train(trainer, workdir, base_ckpt, state, "--ahead").rc == 0
    assert ahead.read(state)[1]
    # the round the stretch was for never came: the daemon trains the next one plainly, and the progress is gone
    assert _train(trainer, workdir, base_ckpt, state, out=workdir / "drop_g1.safetensors").rc == 0
    weights, progress, meta = ahead.read(state)
    assert not progress and not weights and meta is None
    r = _train(trainer, workdir, base_ckpt, state, "--take-ahead", out=workdir / "drop_never.safetensors")
    assert r.rc == 1 and r.error["code"] == "no_ahead" and not (workdir / "drop_never.safetensors").exists()
    r = _train(trainer, workdir, base_ckpt, state, "--ahead", "--take-ahead")
    assert r.rc == 1 and r.error["code"] == "bad_args"


def _stop_after(monkeypatch, stop_file, steps):
    """Creates the stop file once `steps` steps have reported progress, as the daemon does when the round begins."""
    emit = train.emit

    def spy(event, **fields):
        if event == "progress" and fields.get("step") == steps:
            stop_file.write_text("1\n")
        emit(event, **fields)

    monkeypatch.setattr(train, "emit", spy)


@pytest.mark.parametrize("stopped_after", [2, 0])
def test_a_stretch_stopped_when_the_round_begins_is_its_first_steps(trainer, workdir, base_ckpt, text_file, monkeypatch,
                                                                    stopped_after):
    state = workdir / f"stop_local_{stopped_after}.safetensors"
    stop = workdir / f"stop_{stopped_after}.stop"
    g0 = workdir / f"stop_g0_{stopped_after}.safetensors"
    assert _train(trainer, workdir, base_ckpt, state, "--keep-weights", out=g0).rc == 0
    kept, _, _ = ahead.read(state)
    if stopped_after:
        _stop_after(monkeypatch, stop, stopped_after)
    else:
        stop.write_text("1\n")  # the round began before the stretch's first step
    r = _train(trainer, workdir, base_ckpt, state, "--ahead", "--stop-file", stop, "--progress-every", 1, steps=5)
    assert r.rc == 0, r.err
    assert r.result["steps"] == stopped_after and r.result["tokens"] == stopped_after * 2 * 32
    end, q, meta = ahead.read(state)
    assert meta["steps"] == stopped_after and all(torch.allclose(q[k], kept[k] - end[k]) for k in q)
    monkeypatch.undo()

    merged = workdir / f"stop_merged_{stopped_after}.safetensors"
    assert trainer("merge", "--base", base_ckpt, "--grad", g0, "--weight", 1, "--out", merged).rc == 0
    g1 = workdir / f"stop_g1_{stopped_after}.safetensors"
    r = _train(trainer, workdir, merged, state, "--take-ahead", "--outer-lr", 0.7, "--momentum", 0.9, "--compression",
               "none", out=g1, steps=5)
    assert r.rc == 0, r.err
    start = next(e for e in r.events if e["event"] == "start")
    assert start["steps"] == 5 - stopped_after  # only the steps not trained ahead run now
    assert r.result["steps"] == 5 and r.result["tokens"] == 5 * 2 * 32
    if stopped_after:
        assert r.result["loss_first"] == meta["losses"]["first"]
    t, gmeta = files.load(g1, GRAD_KIND, "g")
    delta = compress.decode(t, gmeta["compression"])
    kept1, left, _ = ahead.read(state)
    # the rest started on the merged model after the outer step of the progress ahead (eager, the default), or on
    # the merged model itself when no step ran ahead; the gradient is all 5 steps of progress
    moved = ckpt.load(merged)
    if stopped_after:
        outer_step(moved, q, 0.7, 0.9)
    resumed = moved.model.state_dict()
    assert not left and all(torch.allclose(delta[k], q[k] + (resumed[k] - kept1[k]), atol=1e-5) for k in q)
    assert sum(float(v.norm()) for v in delta.values()) > 0
