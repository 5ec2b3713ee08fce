"""Pseudo-gradient compression: none (float32), fp16, int8 per block with a float32 scale per block.

Lossy kinds are used with error feedback: the caller adds the previous residual before compressing and keeps
`corrected - decoded` as the next residual (in the node's LOCAL state, never sent).
"""

from __future__ import annotations

import torch

from .protocol import TrainerError

KINDS = ("none", "fp16", "int8")


def encode(delta: dict[str, torch.Tensor], kind: str, block: int = 256) -> tuple[dict[str, torch.Tensor], dict]:
    """Returns (tensors for the file, metadata describing the encoding)."""
    out: dict[str, torch.Tensor] = {}
    shapes = {k: list(v.shape) for k, v in delta.items()}
    for name, d in delta.items():
        d = d.detach().float().cpu()
        if kind == "none":
            out[name] = d.contiguous()
        elif kind == "fp16":
            out[name] = d.to(torch.float16)
        elif kind == "int8":
            flat = d.reshape(-1)
            pad = (-flat.numel()) % block
            blocks = torch.cat([flat, flat.new_zeros(pad)]).view(-1, block)
            scale = blocks.abs().amax(dim=1) / 127.0
            q = torch.where(scale[:, None] > 0, blocks / scale.clamp(min=1e-30)[:, None], torch.zeros_like(blocks))
            out[name + ".q"] = q.round().clamp(-127, 127).to(torch.int8)
            out[name + ".scale"] = scale
        else:
            raise TrainerError("bad_args", f"unknown compression {kind!r}; known: {', '.join(KINDS)}")
    meta = {"kind": kind, "shapes": shapes}
    if kind == "int8":
        meta["block"] = block
    return out, meta


def decode(tensors: dict[str, torch.Tensor], comp: dict, what: str = "gradient") -> dict[str, torch.Tensor]:
    """Inverse of encode: float32 tensors by parameter name."""
    kind = comp.get("kind")
    shapes = comp.get("shapes") or {}
    out = {}
    try:
        for name, shape in shapes.items():
            n = 1
            for s in shape:
                n *= s
            if kind == "none" or kind == "fp16":
                out[name] = tensors[name].float().reshape(shape)
            elif kind == "int8":
                q, scale = tensors[name + ".q"], tensors[name + ".scale"]
                out[name] = (q.float() * scale[:, None]).reshape(-1)[:n].reshape(shape)
            else:
                raise TrainerError("file_corrupt", f"{what}: unknown compression {kind!r}")
    except (KeyError, RuntimeError, IndexError) as e:
        raise TrainerError("file_corrupt", f"{what}: tensors do not match the compression block ({e})") from e
    return out


def payload_bytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())
