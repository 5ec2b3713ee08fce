"""merge: Nesterov golden values, momentum persistence over two merges, rejection of bad pseudo-gradients."""

import json

import torch
import torch.nn as nn

from magnet_trainer import ckpt, files
from magnet_trainer.ckpt import Checkpoint
from magnet_trainer.merge import outer_step
from magnet_trainer.train import GRAD_KIND

from .conftest import GOLDEN


class Vec(nn.Module):
    """The smallest real module: one parameter vector, so the golden values are readable."""

    def __init__(self, v):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(v, dtype=torch.float32))


def test_outer_step_matches_golden_nesterov():
    g = json.loads((GOLDEN / "nesterov.json").read_text())
    ck = Checkpoint(Vec(g["theta0"]), {}, {}, None)
    for r, want in zip(g["rounds"], g["expected"]):
        w = torch.tensor(r["weights"]) / sum(r["weights"])
        d = sum(wi * torch.tensor(gr) for wi, gr in zip(w, r["grads"]))
        outer_step(ck, {"theta": d}, g["lr"], g["momentum"])
        assert torch.allclose(ck.model.theta.detach(), torch.tensor(want["theta"]), rtol=1e-6, atol=1e-6)
        assert torch.allclose(ck.momentum["theta"], torch.tensor(want["momentum"]), rtol=1e-6, atol=1e-6)


def test_fedavg_sign_convention():
    """lr 1, momentum 0: one outer step lands exactly on base - delta, i.e. the worker's weights."""
    ck = Checkpoint(Vec([1.0, 2.0]), {}, {}, None)
    outer_step(ck, {"theta": torch.tensor([0.25, -0.5])}, 1.0, 0.0)
    assert ck.model.theta.detach().tolist() == [0.75, 2.5]


def test_two_merges_persist_weights_and_momentum(trainer, workdir, base_ckpt, grads):
    m1, m2 = workdir / "m1.safetensors", workdir / "m2.safetensors"
    r1 = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", grads[1], "--weight", 3,
                 "--out", m1)
    assert r1.rc == 0, r1.err
    assert r1.result["round"] == 1 and r1.result["weights"] == [0.25, 0.75]
    assert r1.result["sha256"] == files.sha256_file(m1)
    # round 2 reuses round 1's grads re-labelled with the new base (the merge only checks the hash)
    relabelled = []
    for i, gpath in enumerate(grads):
        t, meta = files.load(gpath, GRAD_KIND, "grad")
        meta["base_sha256"] = r1.result["sha256"]
        p = workdir / f"relabel{i}.safetensors"
        files.save(p, t, GRAD_KIND, {k: v for k, v in meta.items() if k not in ("format", "format_version")})
        relabelled.append(p)
    r2 = trainer("merge", "--base", m1, "--grad", relabelled[0], "--weight", 2, "--grad", relabelled[1],
                 "--weight", 2, "--out", m2)
    assert r2.rc == 0, r2.err
    c2 = ckpt.load(m2)
    assert c2.round == 2 and c2.meta["parent_sha256"] == r1.result["sha256"]

    # the same two steps with one in-memory torch.optim.SGD must give bit-identical weights and buffers
    base = ckpt.load(base_ckpt)
    d = [files.load(gp, GRAD_KIND, "g")[0] for gp in grads]
    params = dict(base.model.named_parameters())
    names = sorted(params)
    opt = torch.optim.SGD([params[n] for n in names], lr=0.7, momentum=0.9, nesterov=True)
    for w in ([0.25, 0.75], [0.5, 0.5]):
        for n in names:
            params[n].grad = sum(wi * di[n] for wi, di in zip(w, d))
        opt.step()
    for n in names:
        assert torch.equal(c2.model.state_dict()[n], params[n].detach()), n
        assert torch.equal(c2.momentum[n], opt.state[params[n]]["momentum_buffer"]), n


def test_rejects_bad_gradients(trainer, workdir, base_ckpt, grads):
    out = workdir / "rejected.safetensors"
    t, meta = files.load(grads[0], GRAD_KIND, "g")
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}

    other = workdir / "other_base.safetensors"
    files.save(other, t, GRAD_KIND, {**meta, "base_sha256": "ab" * 32})
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", other, "--weight", 1,
                "--out", out)
    assert r.rc == 1 and r.error["code"] == "grad_base_mismatch" and str(other) in r.error["message"]

    nan = workdir / "nan.safetensors"
    bad = dict(t)
    k = sorted(bad)[0]
    bad[k] = bad[k].clone()
    bad[k].view(-1)[3] = float("nan")
    files.save(nan, bad, GRAD_KIND, meta)
    r = trainer("merge", "--base", base_ckpt, "--grad", nan, "--weight", 1, "--out", out)
    assert r.rc == 1 and r.error["code"] == "grad_nonfinite" and r.error["file"] == str(nan)

    huge = workdir / "huge.safetensors"
    files.save(huge, {n: v * 1000 for n, v in t.items()}, GRAD_KIND, meta)
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", grads[1], "--weight", 1,
                "--grad", huge, "--weight", 1, "--out", out)
    assert r.rc == 1 and r.error["code"] == "grad_outlier" and r.error["file"] == str(huge)

    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--out", out)
    assert r.rc == 1 and r.error["code"] == "bad_args"
    assert not out.exists()
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]


def test_daemon_verification_merge(trainer, workdir, base_ckpt, grads):
    """The daemon checks a sender's gradient with `merge --outer-lr 1 --momentum 0 --max-norm X` (trainer-jobs.ts):
    the result is exactly base - delta (the sender's local model) and carries no momentum buffer."""
    out = workdir / "verify.safetensors"
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--outer-lr", 1, "--momentum", 0,
                "--max-norm", 1e6, "--out", out)
    assert r.rc == 0, r.err
    merged, base = ckpt.load(out), ckpt.load(base_ckpt)
    delta, _ = files.load(grads[0], GRAD_KIND, "g")
    assert merged.momentum == {} and merged.meta["outer"] == {"lr": 1.0, "momentum": 0.0, "nesterov": False}
    for n, v in merged.model.state_dict().items():
        assert torch.equal(v, base.model.state_dict()[n] - delta[n]), n
    norm = r.result["grad_norms"][0]
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--outer-lr", 1, "--momentum", 0,
                "--max-norm", norm / 2, "--out", workdir / "verify2.safetensors")
    assert r.rc == 1 and r.error["code"] == "grad_outlier" and "--max-norm" in r.error["message"]
    assert not (workdir / "verify2.safetensors").exists()
