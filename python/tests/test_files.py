"""Files and data: the round-0 golden (bit-identical init on every machine), atomic writes that never leave a partial
or temp file, corrupt and mismatched inputs, and the data sources (text file, directory, uint16 token file)."""

import json
import os

import numpy as np
import pytest
import torch

from magnet_trainer import ckpt, evaluate, files
from magnet_trainer.data import CHUNK, Dataset, Tokenizer, load_tokens
from magnet_trainer.protocol import TrainerError
from magnet_trainer.train import GRAD_KIND

from .conftest import GOLDEN


def no_temp_files(d):
    return not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


def test_init_matches_the_golden_checkpoint_and_logits(tmp_path):
    """The golden hash was written on another machine: the same preset and seed give the same bytes here.
    daemon/src/serve/parity.test.ts compares the native runtime against these logits, so they must stay current."""
    g = json.loads((GOLDEN / "tiny_seed1_logits.json").read_text())
    p = tmp_path / "tiny1.safetensors"
    ck = ckpt.init("tiny", 1)
    assert ckpt.save(p, ck) == g["checkpoint_sha256"] == files.sha256_file(p)
    got = evaluate.ternary_logits(ckpt.load(p).model, g["tokens"])
    want = torch.tensor(g["logits"])
    assert got.shape == want.shape
    # integer dot products are exact; only float summation order in norms/attention may differ across CPUs
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_write_atomic_keeps_the_old_file_when_the_writer_fails(tmp_path):
    final = tmp_path / "out.bin"
    final.write_bytes(b"previous")

    def failing(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half a fi")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        files.write_atomic(final, failing)
    assert final.read_bytes() == b"previous" and no_temp_files(tmp_path)

    def oserror(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(TrainerError) as e:
        files.write_atomic(final, oserror)
    assert e.value.code == "io_error" and str(final) in e.value.message
    assert final.read_bytes() == b"previous" and no_temp_files(tmp_path)
    with pytest.raises(TrainerError) as e:
        files.write_atomic(tmp_path / "no" / "such" / "dir.bin", lambda t: None)
    assert e.value.code == "io_error"


def test_failed_commands_leave_existing_outputs_untouched(trainer, workdir, base_ckpt, grads):
    """A merge that rejects its input must not replace or truncate a file already at --out."""
    out = workdir / "keep.safetensors"
    out.write_bytes(b"an earlier merge")
    t, meta = files.load(grads[0], GRAD_KIND, "g")
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    other = workdir / "other_preset.safetensors"
    files.save(other, t, GRAD_KIND, {**meta, "config": {**meta["config"], "n_layers": 2}})
    r = trainer("merge", "--base", base_ckpt, "--grad", other, "--weight", 1, "--out", out)
    assert r.rc == 1 and r.error["code"] == "config_mismatch" and str(other) in r.error["message"]
    r = trainer("export", "--ckpt", workdir / "absent.safetensors", "--out", out)
    assert r.rc == 1 and r.error["code"] == "file_missing"
    assert out.read_bytes() == b"an earlier merge" and no_temp_files(workdir)


def test_corrupt_and_mismatched_checkpoints(trainer, workdir, base_ckpt, text_file):
    raw = base_ckpt.read_bytes()
    cases = {
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "header_only": raw[:8],
    }
    for name, data in cases.items():
        p = workdir / f"corrupt_{name}.safetensors"
        p.write_bytes(data)
        r = trainer("eval", "--ckpt", p, "--data", text_file, "--seq", 16, "--max-windows", 1)
        assert r.rc == 1 and r.error["code"] == "file_corrupt" and str(p) in r.error["message"], name
    # tensors that do not fit the config in the metadata (a "tiny" file claiming another shape)
    t, meta = files.load(base_ckpt, "checkpoint", "ckpt")
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    wrong = workdir / "wrong_shape.safetensors"
    files.save(wrong, t, "checkpoint", {**meta, "config": {**meta["config"], "ffn_dim": 1024}})
    r = trainer("export", "--ckpt", wrong, "--out", workdir / "wrong.gguf")
    assert r.rc == 1 and r.error["code"] == "config_mismatch" and not (workdir / "wrong.gguf").exists()
    unknown = workdir / "unknown_key.safetensors"
    files.save(unknown, t, "checkpoint", {**meta, "config": {**meta["config"], "n_experts": 8}})
    r = trainer("export", "--ckpt", unknown, "--out", workdir / "wrong.gguf")
    assert r.rc == 1 and r.error["code"] == "file_corrupt" and "n_experts" in r.error["message"]
    # a state file written for another model config
    small_state = workdir / "state_other_cfg.safetensors"
    files.save(small_state, {}, "local-state", {"config": {**meta["config"], "n_layers": 2}, "node": 0, "nodes": 1,
                                                 "seed": 0, "step": 0, "cursor": 0})
    r = trainer("train", "--base", base_ckpt, "--steps", 1, "--data", text_file, "--state", small_state,
                "--out", workdir / "g_other.safetensors", "--batch", 1, "--seq", 16)
    assert r.rc == 1 and r.error["code"] == "config_mismatch" and not (workdir / "g_other.safetensors").exists()


def test_data_sources_agree(tmp_path, text_file):
    toks = load_tokens(str(text_file))
    assert toks[0] == 256 and toks[-1] == 257 and len(toks) == text_file.stat().st_size + 2
    # a directory of text files: sorted walk, hidden files and unknown suffixes skipped, one BOS/EOS per file
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "b.txt").write_bytes(b"second")
    (d / "a.md").write_bytes(b"first")
    (d / "sub" / "c.py").write_bytes(b"third")
    (d / ".hidden.txt").write_bytes(b"never")
    (d / "image.png").write_bytes(b"\x89PNG")
    got = load_tokens(str(d)).tolist()
    want = [256, *b"first", 257, 256, *b"second", 257, 256, *b"third", 257]
    assert got == want
    # a pre-tokenized little-endian uint16 file reads back as the same stream
    binf = tmp_path / "tokens.bin"
    toks.astype("<u2").tofile(binf)
    assert np.array_equal(load_tokens(str(binf)), toks)
    # node slices and the held-out split are the same whatever the source format
    a = Dataset(toks, 64, seed=3, node=1, nodes=3)
    b = Dataset(load_tokens(str(binf)), 64, seed=3, node=1, nodes=3)
    assert torch.equal(a.train, b.train) and torch.equal(a.heldout, b.heldout)
    assert len(a.heldout) >= CHUNK


def test_data_errors(tmp_path):
    short = np.arange(CHUNK, dtype=np.int64) % 200  # one chunk: nothing left once the held-out chunk is taken
    with pytest.raises(TrainerError) as e:
        Dataset(short, 16)
    assert e.value.code == "data_empty"
    big = np.full(3 * CHUNK, 300, dtype=np.int64)
    with pytest.raises(TrainerError) as e:
        Dataset(big, 16, vocab_size=258)
    assert e.value.code == "config_mismatch" and "300" in e.value.message
    with pytest.raises(TrainerError) as e:
        Tokenizer(str(tmp_path / "tokenizer.json"))
    assert e.value.code in ("file_missing", "bad_args")
    assert os.listdir(tmp_path) == []
