"""The trainer's defaults and the daemon's come from one file, config/trainer-defaults.json."""

import json
import re
from pathlib import Path

from magnet_trainer import cli, defaults
from magnet_trainer.train import InnerHParams

ROOT = Path(__file__).resolve().parents[2]


def test_cli_and_hparams_defaults_are_the_shared_file():
    d = json.loads((ROOT / "config" / "trainer-defaults.json").read_text())
    ap = cli.build_parser()
    train = ap.parse_args(["train", "--base", "b", "--steps", "1", "--data", "x", "--state", "s", "--out", "o"])
    assert (train.batch, train.seq, train.lr, train.warmup) == (d["batch"], d["seq"], d["innerLr"], d["warmup"])
    merge = ap.parse_args(["merge", "--base", "b", "--out", "o"])
    assert (merge.outer_lr, merge.momentum, merge.eval_seq, merge.eval_batch) == (d["outerLr"], d["momentum"], d["seq"], d["batch"])
    ev = ap.parse_args(["eval", "--ckpt", "c", "--data", "x"])
    assert (ev.seq, ev.batch) == (d["seq"], d["batch"])
    hp = InnerHParams()
    assert (hp.lr, hp.warmup, hp.batch, hp.seq) == (d["innerLr"], d["warmup"], d["batch"], d["seq"])
    assert defaults.DEFAULTS_FILE == ROOT / "config" / "trainer-defaults.json"


def test_the_daemon_passes_every_shared_value():
    """The daemon passes every shared value on each train and merge (its options.test.ts checks its defaults)."""
    jobs = (ROOT / "daemon" / "src" / "diloco" / "trainer-jobs.ts").read_text()
    for flag in ("--batch", "--seq", "--lr", "--warmup", "--outer-lr", "--momentum"):
        assert re.search(rf"'{flag}'", jobs), f"the daemon does not pass {flag}"
