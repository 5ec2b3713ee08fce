"""Safetensors files with a JSON metadata block, written atomically, and their sha256.

Every file carries metadata key "magnet" = JSON {"format": kind, "format_version": N, ...}.
Kinds: "checkpoint" (model + outer momentum), "pseudo-gradient", "local-state" (a node's private state).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from . import FORMAT_VERSION
from .protocol import TrainerError


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_path(final: str | os.PathLike) -> str:
    """A temp name in the destination's directory (so the rename is atomic); the caller renames or unlinks."""
    final = Path(final)
    if final.is_dir():
        raise TrainerError("bad_args", f"output path {final} is a directory")
    if not final.parent.exists():
        raise TrainerError("io_error", f"output directory {final.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    return tmp


def commit(tmp: str, final: str | os.PathLike) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def crash_point(name: str) -> None:
    """Test hook for crash-safety tests: MAGNET_TRAINER_CRASH_AT="<name>@<marker file>" kills this process with
    SIGKILL at point `name`, once (the marker file records it); MAGNET_TRAINER_HANG_AT, same form, makes it sleep
    there until killed (a process that stops answering). Unset, as always outside those tests, they do nothing."""
    for var in ("MAGNET_TRAINER_CRASH_AT", "MAGNET_TRAINER_HANG_AT"):
        spec = os.environ.get(var)
        if not spec:
            continue
        at, _, marker = spec.partition("@")
        if at != name or (marker and os.path.exists(marker)):
            continue
        if marker:
            Path(marker).write_text(name + "\n")
        if var == "MAGNET_TRAINER_CRASH_AT":
            os.kill(os.getpid(), signal.SIGKILL)
        while True:
            signal.pause()


def write_atomic(final: str | os.PathLike, writer, what: str = "file") -> None:
    """Runs writer(tmp_path) and renames the result onto final; never leaves a partial file behind."""
    tmp = atomic_path(final)
    try:
        writer(tmp)
        crash_point(f"save:{what}")  # a kill here leaves only the temp file: the final name never holds half a file
        commit(tmp, final)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise TrainerError("io_error", f"cannot write {final}: {e}") from e
        raise


def save(path, tensors: dict[str, torch.Tensor], kind: str, meta: dict) -> str:
    """Writes tensors + metadata atomically; returns the file's sha256."""
    full = {"format": kind, "format_version": FORMAT_VERSION, **meta}
    md = {"magnet": json.dumps(full, sort_keys=True, separators=(",", ":"))}
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=md), kind)
    return sha256_file(path)


def load(path, kind: str, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Reads a file written by save(); `what` names its role in error messages (for example "--base")."""
    p = Path(path)
    if not p.is_file():
        raise TrainerError("file_missing", f"{what} {path}: no such file")
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get("magnet")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except TrainerError:
        raise
    except Exception as e:
        raise TrainerError("file_corrupt", f"{what} {path}: not a readable safetensors file ({e})") from e
    if raw is None:
        raise TrainerError("file_corrupt", f"{what} {path}: no magnet metadata block")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise TrainerError("file_corrupt", f"{what} {path}: metadata is not JSON ({e})") from e
    if meta.get("format") != kind:
        raise TrainerError("format_version", f"{what} {path}: is a {meta.get('format')!r} file, expected {kind!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise TrainerError(
            "format_version",
            f"{what} {path}: format version {meta.get('format_version')}, this trainer reads {FORMAT_VERSION}",
        )
    return tensors, meta


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    def writer(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_atomic(final, writer)
