"""The subprocess protocol: JSON lines on stdout (start, progress, result, error), human logs on stderr.

Error codes are stable: the daemon branches on `code`, never on `message`.
"""

from __future__ import annotations

import json
import math
import sys
import time

CODES = {
    "bad_args": "an argument is missing or invalid",
    "file_missing": "an input file does not exist",
    "file_corrupt": "an input file cannot be parsed as what it should be",
    "format_version": "an input file has another format version or kind",
    "config_mismatch": "files belong to different model configs (preset, shapes)",
    "data_empty": "the data holds too few tokens for the requested windows",
    "grad_base_mismatch": "a pseudo-gradient was computed from another base checkpoint",
    "grad_nonfinite": "a pseudo-gradient holds NaN or Inf",
    "grad_outlier": "a pseudo-gradient's norm is far beyond the others",
    "train_diverged": "the training loss became NaN or Inf",
    "io_error": "an output file could not be written",
    "rank_failed": "a data-parallel rank (train --devices N) died, failed or did not answer in time",
    "no_ahead": "train --ahead or --take-ahead found no kept weights or progress in its state",
    "internal": "an unexpected failure (a bug)",
}


class TrainerError(Exception):
    def __init__(self, code: str, message: str, **data):
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _clean(v):
    """JSON cannot carry NaN/Inf; send them as strings so the line stays parseable."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


#: True in the ranks other than 0 of a data-parallel run (parallel.py): rank 0 alone speaks the protocol.
silent = False

#: The request a worker is running (`python -m magnet_trainer worker`): every event it emits carries this id.
request_id: int | None = None


def emit(event: str, **fields) -> None:
    if silent:
        return
    ids = {} if request_id is None else {"id": request_id}
    line = json.dumps(_clean({"event": event, "time": round(time.time(), 3), **ids, **fields}), separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    sys.stderr.write(f"[magnet-trainer] {msg}\n")
    sys.stderr.flush()
