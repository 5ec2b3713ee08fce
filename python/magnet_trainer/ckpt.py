"""Checkpoints: the model's float32 latent weights plus the outer (Nesterov) momentum buffer.

Tensor names are the model's state_dict names; the momentum of parameter P is stored as "outer.momentum.P"
(absent before the first merge, which is the same as a zero buffer).
"""

from __future__ import annotations

import torch

from . import files
from .model import BitNet, ModelConfig, build, preset
from .protocol import TrainerError

KIND = "checkpoint"
MOMENTUM = "outer.momentum."


class Checkpoint:
    def __init__(self, model: BitNet, meta: dict, momentum: dict[str, torch.Tensor], sha256: str | None):
        self.model = model
        self.meta = meta
        self.momentum = momentum
        self.sha256 = sha256

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg

    @property
    def round(self) -> int:
        return int(self.meta.get("round", 0))


def init(preset_name: str, seed: int, tie_embeddings: bool = False, arch: str = "llama",
         vocab_size: int | None = None, shape: dict[str, int] | None = None) -> Checkpoint:
    try:
        cfg = preset(preset_name, tie_embeddings, arch, vocab_size, shape)
    except ValueError as e:
        raise TrainerError("bad_args", str(e)) from e
    model = build(cfg, seed=seed)
    # nothing machine- or time-dependent in the metadata: round 0 must be bit-identical everywhere
    meta = {"preset": preset_name, "seed": seed, "config": cfg.to_dict(), "round": 0, "parent_sha256": None,
            "steps": 0, "tokens": 0, "contributors": []}
    return Checkpoint(model, meta, {}, None)


def load(path, what: str = "--base") -> Checkpoint:
    tensors, meta = files.load(path, KIND, what)
    try:
        cfg = ModelConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise TrainerError("file_corrupt", f"{what} {path}: bad model config in metadata ({e})") from e
    model = build(cfg)
    weights = {k: v for k, v in tensors.items() if not k.startswith(MOMENTUM)}
    momentum = {k[len(MOMENTUM):]: v for k, v in tensors.items() if k.startswith(MOMENTUM)}
    expected = model.state_dict()
    if set(weights) != set(expected):
        missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
        raise TrainerError("config_mismatch", f"{what} {path}: tensors do not match its config "
                           f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in weights.items():
        if v.shape != expected[k].shape or v.dtype != torch.float32:
            raise TrainerError("config_mismatch", f"{what} {path}: tensor {k} is {v.dtype} {tuple(v.shape)}, "
                               f"expected float32 {tuple(expected[k].shape)}")
    if momentum and set(momentum) != set(weights):
        raise TrainerError("file_corrupt", f"{what} {path}: momentum buffers do not cover every parameter")
    for k, v in momentum.items():  # the outer step is float32 arithmetic: a float64 buffer would promote it
        if v.shape != weights[k].shape or v.dtype != torch.float32:
            raise TrainerError("file_corrupt", f"{what} {path}: momentum buffer {k} is {v.dtype} {tuple(v.shape)}, "
                               f"expected float32 {tuple(weights[k].shape)}")
    model.load_state_dict(weights)
    return Checkpoint(model, meta, momentum, files.sha256_file(path))


def save(path, ck: Checkpoint) -> str:
    tensors = dict(ck.model.state_dict())
    tensors.update({MOMENTUM + k: v for k, v in ck.momentum.items()})
    ck.sha256 = files.save(path, tensors, KIND, ck.meta)
    return ck.sha256


def same_config(a: dict, b: dict) -> bool:
    return ModelConfig.from_dict(a) == ModelConfig.from_dict(b)
