"""The JSON-lines protocol of each command and its error codes; bad input never leaves an output file."""

import json

from magnet_trainer import files
from magnet_trainer.protocol import CODES

from .conftest import run_subprocess


def test_init_is_deterministic_across_processes(workdir):
    a, b, c = workdir / "ia.safetensors", workdir / "ib.safetensors", workdir / "ic.safetensors"
    ra = run_subprocess("init", "--preset", "tiny", "--seed", "3", "--out", a)
    assert ra.rc == 0, ra.err
    assert [e["event"] for e in ra.events] == ["start", "result"]
    rb = run_subprocess("init", "--preset", "tiny", "--seed", "3", "--out", b)
    assert ra.result["sha256"] == rb.result["sha256"] == files.sha256_file(a) == files.sha256_file(b)
    assert a.read_bytes() == b.read_bytes()
    rc = run_subprocess("init", "--preset", "tiny", "--seed", "4", "--out", c)
    assert rc.result["sha256"] != ra.result["sha256"]
    bad = run_subprocess("init", "--preset", "huge", "--out", workdir / "x.safetensors")
    assert bad.rc == 1 and bad.error["code"] == "bad_args" and "huge" in bad.error["message"]
    assert not (workdir / "x.safetensors").exists()


def test_every_line_is_json_with_known_events(trainer, workdir, base_ckpt, text_file):
    r = trainer("train", "--base", base_ckpt, "--steps", 3, "--data", text_file, "--state", workdir / "p_local",
                "--out", workdir / "p_grad", "--batch", 2, "--seq", 16, "--progress-every", 1, "--threads", 2)
    assert r.rc == 0, r.err
    kinds = [e["event"] for e in r.events]
    assert kinds == ["start", "progress", "progress", "progress", "result"]
    for e in r.events[1:4]:
        assert {"step", "loss", "tokens", "tokens_per_s", "lr"} <= set(e)
    res = r.result
    for key in ("out", "sha256", "bytes", "payload_bytes", "compression", "base_sha256", "round", "node", "steps",
                "tokens", "loss_first", "loss_last", "loss_mean", "tokens_per_s", "delta_norm", "inner_step", "cursor"):
        assert key in res, key
    ev = trainer("eval", "--ckpt", base_ckpt, "--data", text_file, "--seq", 32, "--max-windows", 4)
    assert ev.rc == 0, ev.err
    assert {"loss_qat", "loss_ternary", "loss_float", "ppl_ternary", "tokens"} <= set(ev.result)
    assert 4.5 < ev.result["loss_ternary"] < 6.5  # an untrained model: about ln(258) = 5.55


def test_bad_input_codes(trainer, workdir, base_ckpt, text_file, grads):
    out = workdir / "never.safetensors"
    junk = workdir / "junk.safetensors"
    junk.write_bytes(b"\x00\x01not a safetensors file")
    empty = workdir / "empty.txt"
    empty.write_text("")
    cases = [
        (("train", "--base", workdir / "missing.safetensors"), "file_missing"),
        (("train", "--base", junk), "file_corrupt"),
        (("train", "--base", base_ckpt, "--data", empty), "data_empty"),
        (("train", "--base", base_ckpt, "--data", text_file, "--node", 2, "--nodes", 2), "bad_args"),
        (("train", "--base", base_ckpt, "--data", text_file, "--seq", 4096), "bad_args"),
        (("train", "--base", base_ckpt, "--data", workdir / "nodata"), "file_missing"),
    ]
    for args, code in cases:
        full = [*args, "--steps", 1, "--state", workdir / "bad_local", "--out", out]
        if "--data" not in args:
            full += ["--data", text_file]
        r = trainer(*full)
        assert r.rc == 1 and r.error["code"] == code, (args, r.events[-1:])
        assert r.error["code"] in CODES and r.error["message"]
        assert not out.exists() and not (workdir / "bad_local").exists()
    # a gradient where a checkpoint is expected, and a future format version
    grad_as_base = trainer("export", "--ckpt", grads[0], "--out", workdir / "x.gguf")
    assert grad_as_base.error["code"] == "format_version" and "pseudo-gradient" in grad_as_base.error["message"]
    t, meta = files.load(base_ckpt, "checkpoint", "ckpt")
    future = workdir / "future.safetensors"
    files.save(future, t, "checkpoint", {k: v for k, v in meta.items() if k not in ("format", "format_version")})
    # the metadata is a JSON string inside the safetensors JSON header, so its quotes are escaped there
    raw = future.read_bytes()
    assert raw.count(b'\\"format_version\\":1,') == 1
    future.write_bytes(raw.replace(b'\\"format_version\\":1,', b'\\"format_version\\":9,'))
    r = trainer("export", "--ckpt", future, "--out", workdir / "x.gguf")
    assert r.rc == 1 and r.error["code"] == "format_version" and not (workdir / "x.gguf").exists()
    r = trainer("train", "--bogus")
    assert r.rc == 1 and r.error["code"] == "bad_args"


def test_subprocess_exit_codes(workdir, base_ckpt):
    r = run_subprocess("export", "--ckpt", workdir / "nothing.safetensors", "--out", workdir / "n.gguf")
    assert r.rc == 1 and r.error["code"] == "file_missing"
    assert all(json.loads(line)["event"] in ("start", "error") for line in r.lines)
    assert "file_missing" in r.err  # the human log line on stderr


def test_merge_export_experiment_lines(trainer, workdir, base_ckpt, grads, text_file):
    m = workdir / "proto_merge.safetensors"
    r = trainer("merge", "--base", base_ckpt, "--grad", grads[0], "--weight", 1, "--grad", grads[1], "--weight", 1,
                "--out", m, "--threads", 2)
    assert r.rc == 0, r.err
    assert [e["event"] for e in r.events] == ["start", "result"]
    # fields the daemon reads (daemon/src/diloco/trainer-jobs.ts): sha256, contributors
    assert r.result["sha256"] == files.sha256_file(m) and len(r.result["contributors"]) == 2
    assert r.result["contributors"][0]["sha256"] == files.sha256_file(grads[0])
    g = workdir / "proto.gguf"
    r = trainer("export", "--ckpt", m, "--out", g)
    assert [e["event"] for e in r.events] == ["start", "result"] and r.result["bytes"] == g.stat().st_size
    out, png = workdir / "experiment.json", workdir / "experiment.png"
    r = trainer("experiment", "diloco", "--workers", 2, "--H", 2, "--rounds", 2, "--batch", 2, "--seq", 32,
                "--eval-windows", 2, "--data", text_file, "--warmup", 1, "--warm-start", 2, "--out", out, "--plot", png,
                "--methods", "single,delayed,diloco,sync", "--compression", "int8", "--threads", 2)
    assert r.rc == 0, r.err
    phases = [e.get("phase") for e in r.events if e["event"] == "progress"]
    assert phases == ["warm_start", "diloco", "diloco", "delayed", "delayed", "sync", "single"]
    res = r.result
    assert json.loads(out.read_text())["heldout_loss"] == res["heldout_loss"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert set(res["heldout_loss"]) == {"diloco", "delayed", "sync", "single"}
    for k, curve in res["heldout_curve"].items():  # one held-out loss per round, the last one is the final loss
        assert len(curve) == 2 and curve[-1] == res["heldout_loss"][k]
    assert res["tokens"]["diloco"] == res["tokens"]["sync"] == 2 * res["tokens"]["single"] == 2 * 2 * 32 * 2 * 2
    assert res["tokens"]["warm_start"] == 2 * 2 * 2 * 32 and res["settings"]["compression"] == "int8"
    # the delayed schedule is a different model from the plain one after its first landed merge, never the same
    assert res["heldout_curve"]["delayed"][1] != res["heldout_curve"]["diloco"][1]
    r = trainer("experiment", "diloco", "--methods", "diloco,nesterov", "--data", text_file)
    assert r.rc == 1 and r.error["code"] == "bad_args" and "nesterov" in r.error["message"]
    # uncompressed DiLoCo sends one fp32 delta per H steps: exactly H times fewer bytes than per-step gradients
    assert res["bytes_ratio"]["sync_over_diloco_none"] == 2
    assert res["bytes"]["diloco_int8"] < res["bytes"]["diloco_fp16"] < res["bytes"]["diloco_none"]
