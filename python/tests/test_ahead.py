"""The delayed schedule's trainer side: train --keep-weights, --ahead and --take-ahead."""

import torch

from magnet_trainer import ahead, ckpt, compress, files
from magnet_trainer.merge import outer_step
from magnet_trainer.train import GRAD_KIND


def _train(trainer, workdir, base, state, *extra, out=None, steps=3):
    args = ["train", "--base", base, "--steps", steps, "--data", workdir / "corpus.txt", "--state", state,
            "--batch", 2, "--seq", 32, "--warmup", 1, "--lr", 1e-3, "--progress-every", 0, *extra]
    return trainer(*args, *(["--out", out] if out else []))


def test_progress_ahead_becomes_the_next_rounds_gradient_on_the_merged_model(trainer, workdir, base_ckpt, text_file):
    state = workdir / "ahead_local.safetensors"
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
    r = _train(trainer, workdir, merged, state, "--take-ahead", "--outer-lr", 0.7, "--momentum", 0.9, out=g1)
    assert r.rc == 0, r.err
    assert r.result["steps"] == 3 and r.result["tokens"] == 3 * 2 * 32 and r.result["loss_last"] == meta["losses"]["last"]
    t, gmeta = files.load(g1, GRAD_KIND, "g")
    assert gmeta["base_sha256"] == files.sha256_file(merged)
    delta1 = compress.decode(t, gmeta["compression"])
    kept1, left, _ = ahead.read(state)
    # its weights: the merged model after the outer step its own progress would make there (the eager update)
    anticipated = ckpt.load(merged)
    outer_step(anticipated, q, 0.7, 0.9)
    moved = anticipated.model.state_dict()
    for k in q:
        assert torch.equal(delta1[k], q[k])  # the gradient is the progress made ahead
        assert torch.equal(kept1[k], moved[k])
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
