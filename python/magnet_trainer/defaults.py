"""Hyperparameter defaults shared with the daemon.

config/trainer-defaults.json at the repository root is their one source: the daemon's diloco options
(daemon/src/diloco/options.ts) read the same file, so `python -m magnet_trainer train` without flags trains as a node
with default settings does. The trainer always runs from the repository (editable install), so the file is found
relative to this package.
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "config" / "trainer-defaults.json"

_d = json.loads(DEFAULTS_FILE.read_text())
BATCH: int = int(_d["batch"])
SEQ: int = int(_d["seq"])
INNER_LR: float = float(_d["innerLr"])
WARMUP: int = int(_d["warmup"])
OUTER_LR: float = float(_d["outerLr"])
MOMENTUM: float = float(_d["momentum"])
