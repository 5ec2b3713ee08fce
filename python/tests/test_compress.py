"""Compression round trips and error feedback."""

import torch

from magnet_trainer import compress, files
from magnet_trainer.train import GRAD_KIND, LOCAL_KIND


def sample():
    g = torch.Generator().manual_seed(5)
    return {"a.weight": torch.randn(300, 7, generator=g) * 1e-3, "b": torch.randn(13, generator=g)}


def test_round_trips():
    d = sample()
    for kind, tol in (("none", 0.0), ("fp16", 1e-3), ("int8", None)):
        enc, meta = compress.encode(d, kind, block=64)
        dec = compress.decode(enc, meta)
        for k in d:
            assert dec[k].shape == d[k].shape and dec[k].dtype == torch.float32
            err = (dec[k] - d[k]).abs().max().item()
            if kind == "int8":  # at most half a step of the block's scale
                assert err <= d[k].abs().max().item() / 127 / 2 + 1e-12
            elif kind == "none":
                assert torch.equal(dec[k], d[k])
            else:
                assert err <= tol * d[k].abs().max().item()
    sizes = {k: compress.payload_bytes(compress.encode(d, k, 64)[0]) for k in compress.KINDS}
    n = sum(v.numel() for v in d.values())
    assert sizes["none"] == 4 * n and sizes["fp16"] == 2 * n
    assert n <= sizes["int8"] < 1.1 * n


def test_error_feedback_keeps_the_sum():
    """Sending the same delta K times with feedback: the decoded sum stays within one step of K * delta."""
    d = sample()
    residual = {k: torch.zeros_like(v) for k, v in d.items()}
    total = {k: torch.zeros_like(v) for k, v in d.items()}
    K = 20
    for _ in range(K):
        corrected = {k: d[k] + residual[k] for k in d}
        enc, meta = compress.encode(corrected, "int8", block=64)
        dec = compress.decode(enc, meta)
        residual = {k: corrected[k] - dec[k] for k in d}
        total = {k: total[k] + dec[k] for k in d}
    for k in d:
        drift = (total[k] - K * d[k]).abs().max().item()
        step = (d[k].abs().max().item() * 2) / 127  # one quantization step of a corrected block
        assert drift <= step
        # without feedback the same error would grow with K (unless it is exactly zero)
        once = compress.decode(*compress.encode(d, "int8", 64))[k] - d[k]
        assert drift < K * once.abs().max().item() or once.abs().max().item() == 0


def test_train_writes_int8_grad_and_residual(trainer, workdir, base_ckpt, text_file):
    out, state = workdir / "g_int8.safetensors", workdir / "local_int8.safetensors"
    r = trainer("train", "--base", base_ckpt, "--steps", 2, "--data", text_file, "--state", state, "--out", out,
                "--batch", 2, "--seq", 32, "--compression", "int8", "--int8-block", 128, "--progress-every", 1)
    assert r.rc == 0, r.err
    res = r.result
    assert res["compression"] == "int8" and res["bytes"] == out.stat().st_size
    assert res["payload_bytes"] < 0.3 * 4 * 3_280_128
    assert [e["step"] for e in r.events if e["event"] == "progress"] == [1, 2]
    t, meta = files.load(out, GRAD_KIND, "g")
    assert meta["compression"]["kind"] == "int8" and meta["compression"]["block"] == 128
    assert all(v.dtype in (torch.int8, torch.float32) for v in t.values())
    lt, lmeta = files.load(state, LOCAL_KIND, "state")
    assert any(k.startswith("ef.") for k in lt) and lmeta["step"] == 2 and lmeta["cursor"] == 4
    # residual = what int8 lost: small next to the delta itself
    ef = torch.cat([v.flatten() for k, v in lt.items() if k.startswith("ef.")])
    assert 0 < ef.norm().item() < 0.1 * res["delta_norm"]


def test_topk2_keeps_the_largest_values_with_two_levels_and_their_signs():
    g = torch.Generator().manual_seed(9)
    d = {"w": torch.randn(3, 5000, generator=g), "norm": torch.randn(40, generator=g)}
    enc, meta = compress.encode(d, "topk2", density=0.02)
    assert meta["kind"] == "topk2" and meta["chunk"] == compress.TOPK_CHUNK and meta["density"] == 0.02
    dec = compress.decode(enc, meta)
    flat = d["w"].reshape(-1)
    rows = torch.cat([flat, flat.new_zeros(-flat.numel() % 4096)]).view(-1, 4096)
    k = round(0.02 * 4096)
    for i, row in enumerate(rows):
        got = dec["w"].reshape(-1)[i * 4096:(i + 1) * 4096]
        kept = got.nonzero().flatten()
        assert set(kept.tolist()) == set(row.abs().topk(k).indices.tolist())  # exactly the k largest magnitudes
        assert torch.equal(torch.sign(got[kept]), torch.sign(row[kept]))  # signs kept
        assert len(set(got[kept].abs().tolist())) <= 2  # two levels per chunk
    assert dec["norm"].count_nonzero() == 1  # round(0.02 * 40) = 1 value of a 40-value tensor
    n = sum(v.numel() for v in d.values())
    sizes = {kind: compress.payload_bytes(compress.encode(d, kind, density=1 / 64)[0]) for kind in ("int8", "topk2")}
    assert sizes["topk2"] * 20 < sizes["int8"] and sizes["topk2"] < 0.05 * n


def test_topk2_error_feedback_sends_everything_eventually():
    """The residual is what top-k left out; sent again and again with feedback, the decoded sum approaches K*delta."""
    d = sample()
    residual = {k: torch.zeros_like(v) for k, v in d.items()}
    total = {k: torch.zeros_like(v) for k, v in d.items()}
    drift = []
    for step in range(1, 401):
        corrected = {k: d[k] + residual[k] for k in d}
        dec = compress.decode(*compress.encode(corrected, "topk2", density=1 / 16))
        residual = {k: corrected[k] - dec[k] for k in d}
        total = {k: total[k] + dec[k] for k in d}
        if step in (25, 400):
            drift.append(max(((total[k] - step * d[k]).norm() / (step * d[k]).norm()).item() for k in d))
    assert drift[1] < 0.2 * drift[0] and drift[1] < 0.05, drift


def test_topk2_decode_refuses_forged_payloads():
    import pytest

    from magnet_trainer.protocol import TrainerError

    d = {"w": torch.randn(2, 4096, generator=torch.Generator().manual_seed(1))}
    enc, meta = compress.encode(d, "topk2", density=1 / 64)

    def refused(tensors, m, words):
        with pytest.raises(TrainerError) as e:
            compress.decode(tensors, m)
        assert e.value.code == "file_corrupt" and words in str(e.value), str(e.value)

    dup = dict(enc, **{"w.idx": enc["w.idx"].clone()})
    dup["w.idx"][0, 1] = dup["w.idx"][0, 0]
    refused(dup, meta, "not strictly increasing")
    out = dict(enc, **{"w.idx": enc["w.idx"].clone()})
    out["w.idx"][1, 0] = -1
    refused(out, meta, "outside its chunk")
    refused(dict(enc, **{"w.lv": enc["w.lv"][:1]}), meta, "w.lv is")
    refused(enc, {**meta, "density": 0.5}, "w.idx is")  # k no longer matches the file
    refused(enc, {**meta, "chunk": 10**6}, "chunk in [1, 32768]")
