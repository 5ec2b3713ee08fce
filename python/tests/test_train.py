"""Inner training: loss falls on generated text; LOCAL state carries optimizer, cursor and residual."""

import torch

from magnet_trainer import ckpt, files
from magnet_trainer.data import Dataset, generated_text, load_tokens
from magnet_trainer.train import GRAD_KIND, LOCAL_KIND, InnerHParams, inner_steps, make_optimizer


def test_tiny_loss_falls_over_200_steps(tmp_path):
    p = tmp_path / "gen.txt"
    p.write_bytes(generated_text(200_000, seed=2))
    data = Dataset(load_tokens(str(p)), 32)
    model = ckpt.init("tiny", 0).model
    hp = InnerHParams(lr=2e-3, warmup=10, batch=4, seq=32)
    out = inner_steps(model, make_optimizer(model, hp), data, hp, 0, 0, 200, torch.device("cpu"))
    # the untrained model starts near ln(258) = 5.55; the grammar's text is learnable to well under 1 nat/byte
    first, last = out["losses"][0], sum(out["losses"][-10:]) / 10
    assert first > 5.0 and last < 0.3 * first, (first, last)


def test_data_slices_are_disjoint_and_deterministic(text_file):
    toks = load_tokens(str(text_file))
    a0, a1 = Dataset(toks, 32, seed=1, node=0, nodes=2), Dataset(toks, 32, seed=1, node=1, nodes=2)
    assert len(a0.train) + len(a1.train) + len(a0.heldout) == len(toks)
    assert torch.equal(a0.heldout, a1.heldout)
    again = Dataset(toks, 32, seed=1, node=0, nodes=2)
    assert torch.equal(a0.batch(5, 3)[0], again.batch(5, 3)[0])
    assert not torch.equal(a0.batch(0, 3)[0], a1.batch(0, 3)[0])


def test_local_state_persists_across_rounds(trainer, workdir, base_ckpt, text_file):
    state = workdir / "rounds_local.safetensors"
    common = ["--data", text_file, "--state", state, "--batch", 2, "--seq", 16, "--warmup", 3, "--progress-every", 0]
    r1 = trainer("train", "--base", base_ckpt, "--steps", 2, "--out", workdir / "r1.safetensors", *common)
    assert r1.rc == 0, r1.err
    lt, lm = files.load(state, LOCAL_KIND, "state")
    assert lm["step"] == 2 and lm["cursor"] == 4 and lm["adam_step"] == 2.0
    r2 = trainer("train", "--base", base_ckpt, "--steps", 3, "--out", workdir / "r2.safetensors", *common)
    assert r2.rc == 0 and r2.result["inner_step"] == 5 and r2.result["cursor"] == 10
    lt2, lm2 = files.load(state, LOCAL_KIND, "state")
    assert lm2["adam_step"] == 5.0
    k = next(n for n in lt if n.startswith("adam.exp_avg_sq."))
    assert not torch.equal(lt[k], lt2[k])
    # a fresh state from the same base replays round 1 exactly: training is deterministic on CPU
    r1b = trainer("train", "--base", base_ckpt, "--steps", 2, "--out", workdir / "r1b.safetensors",
                  *[a if a != state else workdir / "fresh_local.safetensors" for a in common])
    assert r1b.result["sha256"] == r1.result["sha256"]
    g, meta = files.load(workdir / "r1.safetensors", GRAD_KIND, "g")
    assert meta["base_sha256"] == ckpt.load(base_ckpt).sha256 and meta["steps"] == 2 and meta["tokens"] == 64
    # the state refuses another data slicing
    r3 = trainer("train", "--base", base_ckpt, "--steps", 1, "--out", workdir / "r3.safetensors", "--node", 1,
                 "--nodes", 2, *common)
    assert r3.rc == 1 and r3.error["code"] == "bad_args" and not (workdir / "r3.safetensors").exists()
