"""Autoresearch on the trainer side: `trial` trains a config and scores it, `trial-score` reproduces the score from
the checkpoint, `research-plot` draws a search; configs are checked key by key."""

import json

import pytest

from magnet_trainer import ckpt, files
from magnet_trainer.data import Dataset, load_tokens
from magnet_trainer.protocol import TrainerError
from magnet_trainer.research import lr_at, resolve, wd_at, window_sets

from .test_worker import _worker

SMALL = {"context": 64, "batch": 2}
SCORE = ["--eval-windows", 4, "--test-windows", 4, "--threads", 2]


def _trial(trainer, text_file, out, config, steps=6, seed=1, *extra):
    return trainer("trial", "--config", json.dumps(config), "--data", text_file, "--steps", steps, "--seed", seed,
                   "--out", out, *SCORE, *extra)


def test_trial_scores_and_trial_score_reproduces_it(trainer, workdir, text_file):
    out = workdir / "trial_a.safetensors"
    r = _trial(trainer, text_file, out, SMALL)
    assert r.rc == 0, r.err
    res = r.result
    assert [e["event"] for e in r.events] == ["start", *["progress"] * 6, "result"]  # eval every max(1, 6 // 5)
    for key in ("out", "checkpoint_sha256", "bytes", "config", "params", "steps", "tokens", "eval_loss", "test_loss",
                "curve", "train_loss_last", "seconds", "eval_windows", "test_windows"):
        assert key in res, key
    assert res["steps"] == 6 and res["tokens"] == 6 * 2 * 64 and res["eval_windows"] == res["test_windows"] == 4
    assert 0 < res["eval_loss"] < 6 and 0 < res["test_loss"] < 6 and res["eval_loss"] != res["test_loss"]
    assert res["curve"][-1] == [6, res["eval_loss"]] and res["curve"][0][1] > res["eval_loss"], res["curve"]
    c = res["config"]
    assert c["ffn_dim"] == 768 and c["context"] == 64 and c["schedule"] == "wsd" and c["lr"] == 1e-3
    assert files.sha256_file(out) == res["checkpoint_sha256"]
    ck = ckpt.load(out, "--ckpt")
    assert ck.cfg.context == 64 and ck.meta["trial"] == c and ck.meta["steps"] == 6 and ck.meta["seed"] == 1
    assert ck.meta["tokens"] == res["tokens"] and ck.round == 0 and ck.meta["parent_sha256"] is None

    s = trainer("trial-score", "--ckpt", out, "--data", text_file, *SCORE)
    assert s.rc == 0, s.err
    assert s.result["checkpoint_sha256"] == res["checkpoint_sha256"]
    for key in ("eval_loss", "test_loss"):
        assert s.result[key] == pytest.approx(res[key], rel=1e-6), key
    # what a research node checks against the job: the model the file builds (arch included), its steps and seed
    model = s.result["model"]
    assert (model["dim"], model["n_layers"], model["context"], model["arch"]) == (256, 4, 64, "llama")
    assert (s.result["steps"], s.result["seed"]) == (6, 1)

    # the config is really used: only lr differs (read from a file), or only the depth
    cfg_file = workdir / "trial_b.json"
    cfg_file.write_text(json.dumps({**SMALL, "lr": 1e-2}))
    rb = trainer("trial", "--config", cfg_file, "--data", text_file, "--steps", 6, "--seed", 1,
                 "--out", workdir / "trial_b.safetensors", *SCORE)
    assert rb.rc == 0, rb.err
    assert rb.result["config"]["lr"] == 1e-2 and rb.result["eval_loss"] != res["eval_loss"]
    rc = _trial(trainer, text_file, workdir / "trial_c.safetensors", {**SMALL, "n_layers": 2}, 2)
    assert rc.rc == 0, rc.err
    assert rc.result["params"] < res["params"] and rc.result["curve"][-1][0] == 2


def test_trial_and_trial_score_in_a_worker(workdir, text_file):
    out = workdir / "trial_w.safetensors"
    common = ["--data", str(text_file), *map(str, SCORE)]
    events = _worker([
        {"id": 1, "args": ["trial", "--config", json.dumps(SMALL), "--steps", "2", "--seed", "3", "--out", str(out),
                           *common]},
        {"id": 2, "args": ["trial-score", "--ckpt", str(out), *common]},
    ])
    last = {e.get("id"): e for e in events}
    assert last[1]["event"] == last[2]["event"] == "result", events
    assert last[2]["eval_loss"] == pytest.approx(last[1]["eval_loss"], rel=1e-6)
    assert last[2]["test_loss"] == pytest.approx(last[1]["test_loss"], rel=1e-6)


@pytest.mark.parametrize("config, key", [
    ({"bogus": 1}, "bogus"),
    ({"dim": 300}, "dim 300"),
    ({"n_heads": 3}, "n_heads 3"),
    ({"context": 0}, "context 0"),
    ({"lr": -1}, "lr -1"),
    ({"schedule": "foo"}, 'schedule "foo"'),
    ({"batch": 2.5}, "batch 2.5"),
    ({"tie_embeddings": "yes"}, "tie_embeddings"),
    ({"preset": "genkidama"}, "preset"),
    ({"warmup_frac": 0.5, "decay_frac": 0.6}, "decay_frac 0.6"),
])
def test_bad_configs_are_bad_args_naming_the_key(trainer, workdir, text_file, config, key):
    out = workdir / "never_trial.safetensors"
    r = _trial(trainer, text_file, out, config, 1)
    assert r.rc == 1 and r.error["code"] == "bad_args" and key in r.error["message"], r.events
    assert not out.exists()


def test_bad_config_documents(trainer, workdir, text_file):
    out = workdir / "never_trial.safetensors"
    (workdir / "list.json").write_text("[1]")
    for value, code in (("{not json", "bad_args"), (str(workdir / "list.json"), "bad_args"),
                        (str(workdir / "nope.json"), "file_missing")):
        r = trainer("trial", "--config", value, "--data", text_file, "--steps", 1, "--seed", 0, "--out", out)
        assert r.rc == 1 and r.error["code"] == code, (value, r.events)


def test_windows_beyond_the_heldout_stream_are_data_empty(trainer, workdir, text_file):
    out = workdir / "never_trial.safetensors"
    total = (len(Dataset(load_tokens(str(text_file)), 64).heldout) - 1) // 64
    r = trainer("trial", "--config", json.dumps(SMALL), "--data", text_file, "--steps", 1, "--seed", 0, "--out", out,
                "--eval-windows", total - 3, "--test-windows", 4)
    assert r.rc == 1 and r.error["code"] == "data_empty", r.events
    assert not out.exists()


def test_eval_and_test_windows_are_disjoint(text_file):
    data = Dataset(load_tokens(str(text_file)), 64)
    total = (len(data.heldout) - 1) // 64
    ev, te = window_sets(data, 5, 7)
    assert ev == data.heldout_windows(5) == [0, 1, 2, 3, 4]
    assert te == list(range(total - 7, total)) and not set(ev) & set(te)
    ev, te = window_sets(data, total - 7, 7)  # exactly all of them
    assert sorted(ev + te) == list(range(total))
    with pytest.raises(TrainerError) as e:
        window_sets(data, total - 6, 7)
    assert e.value.code == "data_empty"


def test_resolve_and_schedules():
    c, cfg = resolve({"dim": 512, "ffn_mult": 2.6, "n_layers": 2, "arch": "bitnet"})
    assert cfg.ffn_dim == c["ffn_dim"] == 1280 and cfg.arch == "bitnet" and cfg.n_layers == 2
    assert resolve(c) == (c, cfg), "a resolved config resolves to itself"
    assert resolve({})[0]["ffn_dim"] == 768 and resolve({"preset": "small"})[1].dim == 512
    c = resolve({"lr": 1.0, "warmup_frac": 0.1, "decay_frac": 0.2, "min_lr_ratio": 0.1, "wd_schedule": "two_stage"})[0]
    lrs = [lr_at(c, s, 20) for s in range(20)]
    assert lrs[:3] == [0.5, 1.0, 1.0] and lrs[15] == 1.0 and lrs[16] == pytest.approx(1 - 0.9 / 4)
    assert lrs[-1] == pytest.approx(0.1)
    assert [wd_at(c, s, 20) for s in (0, 9, 10, 19)] == [0.1, 0.1, 0.0, 0.0]
    cos = resolve({**c, "schedule": "cosine"})[0]
    assert lr_at(cos, 2, 20) == 1.0 and lr_at(cos, 19, 20) < 0.2


def test_research_plot(trainer, workdir):
    report = {"name": "tiny search", "base_eval_loss": 3.1, "phases": [
        {"name": "lr", "best_eval_loss": 2.9, "trials": [{"eval_loss": 2.9, "state": "done"},
                                                       {"eval_loss": 3.4, "state": "done"}]},
        {"name": "shape", "best_eval_loss": None, "trials": [{"eval_loss": None, "state": "failed"}]},
        {"name": "schedule", "best_eval_loss": 2.7, "trials": [{"eval_loss": 2.7, "state": "done"}]}]}
    rp, out = workdir / "report.json", workdir / "fig4.png"
    rp.write_text(json.dumps(report))
    r = trainer("research-plot", "--report", rp, "--out", out)
    assert r.rc == 0, r.err
    assert r.result["phases"] == 3 and r.result["bytes"] == out.stat().st_size
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rp.write_text(json.dumps({**report, "phases": []}))
    empty = trainer("research-plot", "--report", rp, "--out", workdir / "never.png")
    assert empty.rc == 1 and empty.error["code"] == "bad_args" and not (workdir / "never.png").exists()


def test_init_shape_changes_the_preset_key_by_key(trainer, workdir):
    """A network spec's model.shape (a research winner's model): init builds it; a bad shape is refused by name."""
    out = workdir / "shaped.safetensors"
    r = trainer("init", "--preset", "tiny", "--shape", "dim=512,n_layers=2,n_heads=4,n_kv_heads=4,ffn_dim=1536,context=128",
                "--out", out)
    assert r.rc == 0, r.err
    cfg = r.result["config"]
    assert (cfg["dim"], cfg["n_layers"], cfg["n_kv_heads"], cfg["ffn_dim"], cfg["context"]) == (512, 2, 4, 1536, 128)
    assert ckpt.load(out).cfg.dim == 512
    for bad, named in (("foo=1", "foo=1"), ("dim=0", "dim='0'"), ("dim=300", "dim 300")):
        r = trainer("init", "--preset", "tiny", "--shape", bad, "--out", workdir / "bad.safetensors")
        assert r.rc == 1 and r.error["code"] == "bad_args" and named in r.error["message"], r.error
