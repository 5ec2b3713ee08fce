"""merge: Nesterov golden values, bit-exact float32 arithmetic, momentum persistence over two merges, metadata the
leader controls, rejection of bad pseudo-gradients."""

import json

import numpy as np
import torch
import torch.nn as nn

from magnet_trainer import ckpt, compress, files
from magnet_trainer.ckpt import Checkpoint
from magnet_trainer.merge import outer_step, weighted_mean
from magnet_trainer.train import GRAD_KIND

from .conftest import GOLDEN

F32 = np.float32


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


def replay_f32(theta, buf, grads, weights, lr, mu):
    """The merge's arithmetic replayed with numpy float32 ufuncs, one rounding per operation (numpy never fuses
    separate ufunc calls): an independent implementation of merge.py's docstring. buf None: no buffer yet."""
    w = [F32(x / sum(weights)) for x in weights]
    g = grads[0] * w[0]
    for d, wi in zip(grads[1:], w[1:]):
        g = g + d * wi
    buf = g.copy() if buf is None else buf * F32(mu) + g
    step = g + buf * F32(mu)
    return g, buf, theta - step * F32(lr)


def u32(t) -> np.ndarray:
    """The float32 bit patterns (so -0.0 and 0.0 differ, as they do in the file's sha256)."""
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    assert a.dtype == F32
    return np.ascontiguousarray(a).view(np.uint32)


def bits(t) -> list[str]:
    return [f"{x:08x}" for x in u32(t).reshape(-1)]


def merge_in_memory(theta, buf, grads, weights, lr, mu) -> tuple[Checkpoint, torch.Tensor]:
    """weighted_mean then outer_step, as merge.run does; returns the stepped checkpoint and the mean."""
    ck = Checkpoint(Vec(theta), {}, {} if buf is None else {"theta": torch.from_numpy(buf).clone()}, None)
    g = weighted_mean([{"theta": torch.from_numpy(d)} for d in grads], [w / sum(weights) for w in weights])
    outer_step(ck, g, lr, mu)
    return ck, g["theta"]


def test_outer_step_golden_bits():
    """A tiny case whose exact float32 bits are fixed: every machine must produce exactly these.

    Inputs are small integers times powers of two; weights 1, 1, 1 normalise to float32(1/3) = 0x3eaaaaab,
    lr 0.7 -> 0x3f333333, mu 0.9 -> 0x3f666666. The expected bits were computed with numpy float32 ufuncs one
    operation at a time (replay_f32 below, which the test also runs) and printed with .view(np.uint32). Fused
    multiply-add would change them: the mean's element 0 is exactly 0 only with separate roundings (d*w summed
    with FMA leaves a residue), and torch.optim.SGD(nesterov=True), whose add(x, alpha=...) kernels use FMA on
    AVX2/AVX-512/NEON, lands on theta[3] = 0x3f51e4b1 instead of 0x3f51e4b2.
    """
    theta = np.array([-2, 0.5, 3, 1], dtype=F32)
    buf = np.array([1, 1, -1, 0], dtype=F32) * F32(2 ** -4)
    grads = [np.array(v, dtype=F32) * F32(2 ** -5) for v in ([1, 3, -5, 7], [2, -1, 4, 1], [-3, 2, 1, 5])]
    want_g = ["00000000", "3d2aaaaa", "b0800000", "3e0aaaab"]
    want_buf = ["3d666666", "3dc88888", "bd666666", "3e0aaaab"]
    want_theta = ["c002449c", "3ed17b90", "4042449c", "3f51e4b2"]
    g, b, t = replay_f32(theta, buf, grads, [1.0, 1.0, 1.0], 0.7, 0.9)
    assert (bits(g), bits(b), bits(t)) == (want_g, want_buf, want_theta)  # the derivation still holds

    ck, mean = merge_in_memory(theta, buf, grads, [1.0, 1.0, 1.0], 0.7, 0.9)
    assert bits(mean) == want_g
    assert bits(ck.momentum["theta"]) == want_buf
    assert bits(ck.model.theta) == want_theta

    first, _ = merge_in_memory(theta, None, grads, [1.0, 1.0, 1.0], 0.7, 0.9)  # no buffer yet: buf = g exactly
    assert bits(first.momentum["theta"]) == want_g
    assert bits(first.model.theta) == bits(replay_f32(theta, None, grads, [1.0, 1.0, 1.0], 0.7, 0.9)[2])
    plain, _ = merge_in_memory(theta, buf, grads, [1.0, 1.0, 1.0], 0.7, 0.0)  # momentum 0: theta - g*lr, no buffer
    assert plain.momentum == {}
    assert bits(plain.model.theta) == bits(theta - g * F32(0.7))


def test_outer_step_is_reproducible_and_accurate():
    """Same bits on every run and thread count (elementwise ops only); within 1e-6 of a float64 reference."""
    rng = np.random.default_rng(5)
    n = 4099  # not a multiple of any vector width: the scalar tail runs too
    theta, buf = rng.standard_normal(n).astype(F32), (rng.standard_normal(n) * 0.01).astype(F32)
    grads = [(rng.standard_normal(n) * 0.01).astype(F32) for _ in range(3)]
    weights, lr, mu = [0.3, 1.7, 1.0], 0.7, 0.9
    threads = torch.get_num_threads()
    try:
        runs = []
        for t in (1, 2, 1):
            torch.set_num_threads(t)
            runs.append(merge_in_memory(theta, buf, grads, weights, lr, mu)[0])
    finally:
        torch.set_num_threads(threads)
    for ck in runs[1:]:
        assert bits(ck.model.theta) == bits(runs[0].model.theta)
        assert bits(ck.momentum["theta"]) == bits(runs[0].momentum["theta"])
    assert bits(runs[0].model.theta) == bits(replay_f32(theta, buf, grads, weights, lr, mu)[2])

    w = [x / sum(weights) for x in weights]  # float64 reference from the same float32 inputs
    g = sum(wi * d.astype(np.float64) for wi, d in zip(w, grads))
    ref_buf = mu * buf.astype(np.float64) + g
    ref_theta = theta.astype(np.float64) - lr * (g + mu * ref_buf)
    for got, ref in ((runs[0].model.theta, ref_theta), (runs[0].momentum["theta"], ref_buf)):
        got = got.detach().double().numpy()
        assert np.allclose(got, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


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

    # the same two steps replayed with numpy float32 (one rounding per operation) give bit-identical weights and
    # buffers; torch.optim.SGD, the same math with fused multiply-adds, agrees up to float32 rounding
    base = ckpt.load(base_ckpt)
    d = [files.load(gp, GRAD_KIND, "g")[0] for gp in grads]
    for n, p in base.model.named_parameters():
        theta, buf = p.detach().numpy(), None
        for w in ([1, 3], [2, 2]):
            _, buf, theta = replay_f32(theta, buf, [di[n].numpy() for di in d], w, 0.7, 0.9)
        assert np.array_equal(u32(c2.model.state_dict()[n]), u32(theta)), n
        assert np.array_equal(u32(c2.momentum[n]), u32(buf)), n
    params = dict(base.model.named_parameters())
    names = sorted(params)
    opt = torch.optim.SGD([params[n] for n in names], lr=0.7, momentum=0.9, nesterov=True)
    for w in ([0.25, 0.75], [0.5, 0.5]):
        for n in names:
            params[n].grad = sum(wi * di[n] for wi, di in zip(w, d))
        opt.step()
    for n in names:
        assert torch.allclose(c2.model.state_dict()[n], params[n].detach(), rtol=1e-6, atol=1e-8), n
        assert torch.allclose(c2.momentum[n], opt.state[params[n]]["momentum_buffer"], rtol=1e-6, atol=1e-8), n


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


def test_leader_sets_steps_tokens_and_contributors(trainer, workdir, base_ckpt, grads):
    """--steps-per-grad/--tokens-per-grad: the merged meta takes nothing a sender chose, not even a 2**64 claim."""
    t, meta = files.load(grads[1], GRAD_KIND, "g")
    liar = workdir / "liar.safetensors"
    files.save(liar, t, GRAD_KIND, {**{k: v for k, v in meta.items() if k not in ("format", "format_version")},
                                    "tokens": 2 ** 64, "steps": 2 ** 64, "node_id": "spoofed", "losses": {"last": 0.0}})
    out = workdir / "leader.safetensors"
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", liar, "--weight", 1,
                "--steps-per-grad", 5, "--tokens-per-grad", 320, "--out", out)
    assert r.rc == 0, r.err
    merged, base = ckpt.load(out), ckpt.load(base_ckpt)
    assert merged.meta["steps"] == base.meta["steps"] + 5
    assert merged.meta["tokens"] == base.meta["tokens"] + 2 * 320
    want = [{"sha256": files.sha256_file(g), "weight": 0.5} for g in (grads[0], liar)]
    assert merged.meta["contributors"] == r.result["contributors"] == want

    # without the flags (older callers) the grads' own claims are still read
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", liar, "--weight", 1,
                "--out", workdir / "legacy.safetensors")
    assert r.rc == 0, r.err
    legacy = ckpt.load(workdir / "legacy.safetensors")
    assert legacy.meta["tokens"] > 2 ** 64 and legacy.meta["contributors"][1]["node_id"] == "spoofed"

    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--steps-per-grad", 5,
                "--out", workdir / "half.safetensors")
    assert r.rc == 1 and r.error["code"] == "bad_args" and not (workdir / "half.safetensors").exists()


def test_refuses_forged_shapes_before_decoding(trainer, workdir, base_ckpt, grads):
    """A topk2 gradient names its dense shapes; one that names a huge tensor is refused before anything is allocated."""
    t, meta = files.load(grads[0], GRAD_KIND, "g")
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    dense = compress.decode(t, meta["compression"])
    enc, comp = compress.encode(dense, "topk2")
    name = sorted(comp["shapes"])[0]
    forged = workdir / "forged_shape.safetensors"
    files.save(forged, enc, GRAD_KIND, {**meta, "compression": {**comp, "shapes": {**comp["shapes"], name: [10**12]}}})
    r = trainer("merge", "--base", base_ckpt, "--grad", forged, "--weight", 1, "--out", workdir / "never.safetensors")
    assert r.rc == 1 and r.error["code"] == "config_mismatch" and "[1000000000000]" in r.error["message"]
    honest = workdir / "topk2_grad.safetensors"
    files.save(honest, enc, GRAD_KIND, {**meta, "compression": comp})
    r = trainer("merge", "--base", base_ckpt, "--grad", honest, "--weight", 1, "--out", workdir / "topk2_merged.safetensors")
    assert r.rc == 0, r.err
