"""export -> read back with the gguf package: tensor types, shapes, ternary values, metadata; and a numpy forward
pass computed from the GGUF alone reproduces the trainer's ternary logits (the native runtime's parity target)."""

import json

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFReader, quants

from magnet_trainer import ckpt
from magnet_trainer.export import gguf_name, pack_tq2_0, unpack_tq2_0
from magnet_trainer.model import f16_scale, weight_ternary

from .conftest import GOLDEN


def test_pack_matches_golden_and_gguf_reference():
    g = json.loads((GOLDEN / "tq2_0.json").read_text())
    q = np.array(g["ternary"], dtype=np.int8)
    packed = pack_tq2_0(q, np.float16(g["d_f16"]))
    assert packed.tobytes().hex() == g["packed_hex"]
    deq = quants.dequantize(packed, GGMLQuantizationType.TQ2_0)
    np.testing.assert_array_equal(deq, q.astype(np.float32) * np.float32(np.float16(g["d_f16"])))
    back, d = unpack_tq2_0(packed, g["cols"])
    assert (back == q).all() and (d == np.float16(g["d_f16"])).all()


def field(reader, key):
    f = reader.fields[key]
    return f.contents()


def read_model(path):
    """Weights from the GGUF as the runtime sees them: ternary int8 + f16 scale, or float32."""
    r = GGUFReader(path)
    out = {}
    for t in r.tensors:
        if t.tensor_type == GGMLQuantizationType.TQ2_0:
            rows, cols = int(t.shape[1]), int(t.shape[0])
            q, d = unpack_tq2_0(np.asarray(t.data).reshape(rows, -1), cols)
            assert (d == d.flat[0]).all(), f"{t.name}: one scale per tensor"
            out[t.name] = ("tq2_0", q.astype(np.float32), np.float32(d.flat[0]))
        else:
            assert t.tensor_type == GGMLQuantizationType.F32, t.name
            out[t.name] = ("f32", np.asarray(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)]))
    return r, out


def reference_logits(w, meta, tokens):
    """The contract in numpy float32 (int-valued matmuls are exact)."""
    d, L, H, KV = meta["dim"], meta["layers"], meta["heads"], meta["kv"]
    hd, eps, base = d // H, meta["eps"], meta["rope_base"]

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def bitlin(x, name):
        _, q, sc = w[name]
        amax = np.maximum(np.abs(x).max(-1, keepdims=True), np.float32(1e-5))
        s = np.float32(127) / amax
        xq = np.clip(np.rint(x * s), -128, 127)
        return (xq @ q.T) * sc / s

    def rope(x):  # (T, h, hd), adjacent pairs
        T = x.shape[0]
        inv = base ** (-np.arange(0, hd, 2) / hd)
        ang = np.arange(T)[:, None] * inv[None]
        c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
        return out

    x = w["token_embd.weight"][1][tokens]
    T = len(tokens)
    for i in range(L):
        p = f"blk.{i}."
        n = rms(x, w[p + "attn_norm.weight"][1])
        q = rope(bitlin(n, p + "attn_q.weight").reshape(T, H, hd))
        k = rope(bitlin(n, p + "attn_k.weight").reshape(T, KV, hd))
        v = bitlin(n, p + "attn_v.weight").reshape(T, KV, hd)
        att = np.zeros((T, H, hd), dtype=np.float32)
        for h in range(H):
            kh = h // (H // KV)
            sc = q[:, h] @ k[:, kh].T / np.sqrt(hd)
            sc = np.where(np.tril(np.ones((T, T), bool)), sc, -np.inf)
            e = np.exp(sc - sc.max(-1, keepdims=True))
            att[:, h] = (e / e.sum(-1, keepdims=True)) @ v[:, kh]
        h_ = x + bitlin(att.reshape(T, d), p + "attn_output.weight")
        n = rms(h_, w[p + "ffn_norm.weight"][1])
        gate, up = bitlin(n, p + "ffn_gate.weight"), bitlin(n, p + "ffn_up.weight")
        x = h_ + bitlin(gate / (1 + np.exp(-gate)) * up, p + "ffn_down.weight")
    head = w["output.weight"][1] if "output.weight" in w else w["token_embd.weight"][1]
    return rms(x, w["output_norm.weight"][1]) @ head.T


def test_export_read_back_and_parity(trainer, workdir, grads, base_ckpt):
    # a merged (round 1) checkpoint so that weights are not just the init
    m = workdir / "export_base.safetensors"
    assert trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--out", m).rc == 0
    out = workdir / "model.gguf"
    r = trainer("export", "--ckpt", m, "--out", out)
    assert r.rc == 0, r.err
    assert r.result["tensors_tq2_0"] == 28 and r.result["tensors_f32"] == 11
    ck = ckpt.load(m)
    reader, w = read_model(str(out))

    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "llama.block_count") == 4 and field(reader, "llama.embedding_length") == 256
    assert field(reader, "llama.attention.head_count_kv") == 2 and field(reader, "llama.vocab_size") == 258
    assert field(reader, "llama.feed_forward_length") == 768 and field(reader, "llama.context_length") == 256
    assert field(reader, "magnet.round") == 1 and field(reader, "magnet.checkpoint_sha256") == ck.sha256
    assert field(reader, "magnet.weight_quant") == "absmean-per-tensor"
    assert field(reader, "tokenizer.ggml.bos_token_id") == 256 and field(reader, "tokenizer.ggml.eos_token_id") == 257
    toks = field(reader, "tokenizer.ggml.tokens")
    assert toks[0] == "<0x00>" and toks[255] == "<0xFF>" and toks[256:] == ["<s>", "</s>"]

    for name, p in ck.model.state_dict().items():
        entry = w[gguf_name(name)]
        if entry[0] == "tq2_0":
            wq, scale = weight_ternary(p)
            assert entry[1].shape == tuple(p.shape), name
            assert np.array_equal(entry[1], wq.numpy()), name
            assert entry[2] == np.float32(f16_scale(scale)), name
        else:
            assert np.array_equal(entry[1], p.numpy()), name

    tokens = [256, *b"def main():\n    return 0\n"]
    meta = {"dim": 256, "layers": 4, "heads": 4, "kv": 2, "eps": 1e-5, "rope_base": 10000.0}
    ref = reference_logits(w, meta, tokens)
    with torch.no_grad():
        got = ck.model(torch.tensor([tokens]), mode="ternary")[0].numpy()
    err = np.abs(ref - got).max() / np.abs(got).max()
    assert err <= 1e-3, err  # the tolerance the native runtime must meet


def test_logits_command_writes_parity_file(trainer, workdir, base_ckpt):
    out = workdir / "logits.json"
    r = trainer("logits", "--ckpt", base_ckpt, "--tokens", "256,72,105", "--out", out)
    assert r.rc == 0, r.err
    doc = json.loads(out.read_text())
    assert doc["tokens"] == [256, 72, 105] and len(doc["logits"]) == 3 and len(doc["logits"][0]) == 258
    assert doc["checkpoint_sha256"] == ckpt.load(base_ckpt).sha256
    bad = trainer("logits", "--ckpt", base_ckpt, "--tokens", "256,999", "--out", workdir / "nope.json")
    assert bad.rc == 1 and bad.error["code"] == "bad_args" and not (workdir / "nope.json").exists()


def test_tied_embeddings_export(trainer, workdir):
    """With --tie-embeddings the GGUF has no output.weight; llama.cpp and the native runtime reuse token_embd."""
    ck_path, out = workdir / "tied.safetensors", workdir / "tied.gguf"
    assert trainer("init", "--preset", "tiny", "--seed", 2, "--tie-embeddings", "--out", ck_path).rc == 0
    r = trainer("export", "--ckpt", ck_path, "--out", out)
    assert r.rc == 0 and r.result["tensors_tq2_0"] == 28 and r.result["tensors_f32"] == 10
    reader, w = read_model(str(out))
    assert "output.weight" not in w and field(reader, "magnet.round") == 0
    ck = ckpt.load(ck_path)
    tokens = [256, *b"tied"]
    meta = {"dim": 256, "layers": 4, "heads": 4, "kv": 2, "eps": 1e-5, "rope_base": 10000.0}
    with torch.no_grad():
        got = ck.model(torch.tensor([tokens]), mode="ternary")[0].numpy()
    ref = reference_logits(w, meta, tokens)
    assert np.abs(ref - got).max() <= 1e-3 * np.abs(got).max()
