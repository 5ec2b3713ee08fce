"""merge --eval-*: held-out losses of the base and the merged model on windows drawn from a seed, the same windows
as eval --seed."""

import math

from magnet_trainer import files

EVAL = ("--eval-seq", 32, "--eval-batch", 2, "--eval-windows", 3)


def merge(trainer, workdir, base_ckpt, grads, name, *extra):
    out = workdir / f"{name}.safetensors"
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", grads[1], "--weight", 1,
                "--out", out, *extra)
    assert r.rc == 0, r.err
    assert r.result["sha256"] == files.sha256_file(out)
    return r.result


def test_merge_scores_base_and_merged(trainer, workdir, base_ckpt, grads, text_file):
    plain = merge(trainer, workdir, base_ckpt, grads, "ev_plain")
    assert "loss_base" not in plain and "eval_windows" not in plain
    a = merge(trainer, workdir, base_ckpt, grads, "ev_a", "--eval-data", text_file, *EVAL, "--eval-seed", 11)
    b = merge(trainer, workdir, base_ckpt, grads, "ev_b", "--eval-data", text_file, *EVAL, "--eval-seed", 11)
    c = merge(trainer, workdir, base_ckpt, grads, "ev_c", "--eval-data", text_file, *EVAL,
              "--eval-seed", 2 ** 64 - 1)
    first = merge(trainer, workdir, base_ckpt, grads, "ev_first", "--eval-data", text_file, *EVAL)
    # scoring never changes the merged file
    assert a["sha256"] == b["sha256"] == c["sha256"] == first["sha256"] == plain["sha256"]
    for r in (a, c, first):
        assert 4.5 < r["loss_base"] < 6.5 and math.isfinite(r["loss_merged"])  # untrained: about ln(258)
        assert r["loss_merged"] != r["loss_base"]
        assert len(r["eval_windows"]) == 3 and r["eval_windows"] == sorted(set(r["eval_windows"]))
    assert (a["eval_windows"], a["loss_base"], a["loss_merged"]) == (b["eval_windows"], b["loss_base"],
                                                                      b["loss_merged"])
    assert c["eval_windows"] != a["eval_windows"]
    assert first["eval_windows"] == [0, 1, 2]


def test_eval_seed_picks_merge_windows(trainer, workdir, base_ckpt, grads, text_file):
    m = merge(trainer, workdir, base_ckpt, grads, "ev_same", "--eval-data", text_file, *EVAL, "--eval-seed", 7)
    e = trainer("eval", "--ckpt", base_ckpt, "--data", text_file, "--seq", 32, "--batch", 2, "--max-windows", 3,
                "--modes", "qat", "--seed", 7)
    assert e.rc == 0, e.err
    assert e.result["eval_windows"] == m["eval_windows"] and e.result["loss_qat"] == m["loss_base"]
    e = trainer("eval", "--ckpt", base_ckpt, "--data", text_file, "--seq", 32, "--max-windows", 3, "--modes", "qat")
    assert e.result["eval_windows"] == [0, 1, 2]


def test_bad_eval_args(trainer, workdir, base_ckpt, grads, text_file):
    out = workdir / "ev_bad.safetensors"
    for extra in (("--eval-data", text_file, "--eval-seed", -1), ("--eval-data", text_file, "--eval-seed", 2 ** 64),
                  ("--eval-seed", 3), ("--eval-data", text_file, "--eval-seq", 4096)):
        r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--out", out, *extra)
        assert r.rc == 1 and r.error["code"] == "bad_args", (extra, r.events[-1:])
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--out", out,
                "--eval-data", workdir / "no_such_data")
    assert r.rc == 1 and r.error["code"] == "file_missing"
    assert not out.exists()
