"""`python -m magnet_trainer worker`: commands as JSON lines in, the same events as one-shot runs out, tagged by id."""

import json
import os
import subprocess
import sys

from magnet_trainer import files

from .conftest import PYTHON_DIR, run_subprocess


def _worker(requests: list[dict], timeout=180) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    lines = "".join(json.dumps(r) + "\n" for r in requests) + "not json\n"
    p = subprocess.run([sys.executable, "-m", "magnet_trainer", "worker"], input=lines, capture_output=True, text=True,
                       env=env, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def test_worker_runs_commands_in_turn_like_one_shot_processes(workdir, text_file):
    a, b = workdir / "wa.safetensors", workdir / "wb.safetensors"
    events = _worker([
        {"id": 1, "args": ["init", "--preset", "tiny", "--seed", "5", "--out", str(a)]},
        {"id": 2, "args": ["eval", "--ckpt", "/nonexistent.safetensors", "--data", str(text_file)]},
        {"id": 3, "args": ["eval", "--ckpt", str(a), "--data", str(text_file), "--seq", "32", "--max-windows", "2", "--modes", "qat"]},
        {"id": 4, "args": ["worker"]},
    ])
    by_id = {}
    for e in events:
        by_id.setdefault(e.get("id"), []).append(e)
    assert [e["event"] for e in by_id[1]] == ["start", "result"]
    one_shot = run_subprocess("init", "--preset", "tiny", "--seed", "5", "--out", b)
    assert by_id[1][-1]["sha256"] == one_shot.result["sha256"] == files.sha256_file(a), "the same bytes as a fresh process"
    assert by_id[2][-1]["event"] == "error" and by_id[2][-1]["code"] == "file_missing", "a failed command does not end the worker"
    assert by_id[3][-1]["event"] == "result" and by_id[3][-1]["loss_qat"] > 0
    assert by_id[4][-1]["code"] == "bad_args", "no worker inside a worker"
    assert by_id[None][-1]["code"] == "bad_args", "a line that is not a request is answered, without an id"
