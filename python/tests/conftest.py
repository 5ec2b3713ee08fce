"""Shared fixtures: the CLI run in-process (same code path as the subprocess, minus torch's import time) and a
tiny checkpoint, data file and pseudo-gradient built once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from magnet_trainer import cli
from magnet_trainer.data import generated_text

torch.set_num_threads(2)
PYTHON_DIR = Path(__file__).resolve().parents[1]
# Golden files shared with the native runtime and the daemon (one folder for TypeScript, Python and C++ tests).
GOLDEN = Path(__file__).resolve().parents[2] / "test" / "golden" / "trainer"


class Run:
    def __init__(self, rc: int, out: str, err: str):
        self.rc, self.err = rc, err
        self.lines = [line for line in out.splitlines() if line.strip()]
        self.events = [json.loads(line) for line in self.lines]  # every stdout line must be JSON

    @property
    def result(self) -> dict:
        assert self.events and self.events[-1]["event"] == "result", self.events[-1:] or self.err
        return self.events[-1]

    @property
    def error(self) -> dict:
        assert self.events and self.events[-1]["event"] == "error", self.events[-1:]
        return self.events[-1]


@pytest.fixture
def trainer(capsys):
    """trainer("init", "--preset", ...) -> Run; runs cli.main in this process."""
    def run(*args) -> Run:
        capsys.readouterr()
        rc = cli.main([str(a) for a in args])
        cap = capsys.readouterr()
        return Run(rc, cap.out, cap.err)
    return run


def run_subprocess(*args, timeout=120) -> Run:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    p = subprocess.run([sys.executable, "-m", "magnet_trainer", *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("magnet")


@pytest.fixture(scope="session")
def text_file(workdir) -> Path:
    p = workdir / "corpus.txt"
    p.write_bytes(generated_text(300_000, seed=1))
    return p


@pytest.fixture(scope="session")
def base_ckpt(workdir) -> Path:
    p = workdir / "base.safetensors"
    assert cli.main(["init", "--preset", "tiny", "--seed", "7", "--out", str(p)]) == 0
    return p


@pytest.fixture(scope="session")
def grads(workdir, base_ckpt, text_file) -> list[Path]:
    """Two nodes' pseudo-gradients from the base (5 steps each)."""
    out = []
    for node in range(2):
        g = workdir / f"grad{node}.safetensors"
        rc = cli.main(["train", "--base", str(base_ckpt), "--steps", "5", "--data", str(text_file), "--state",
                       str(workdir / f"local{node}.safetensors"), "--out", str(g), "--node", str(node), "--nodes", "2",
                       "--batch", "2", "--seq", "32", "--warmup", "1", "--lr", "1e-3", "--progress-every", "0"])
        assert rc == 0
        out.append(g)
    return out
