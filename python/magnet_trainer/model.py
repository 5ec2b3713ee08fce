"""The BitNet b1.58 model: a LLaMA-shaped decoder whose linear layers are BitLinear.

One readable file (nanoGPT style). The arithmetic of mode "ternary" is the shared contract with the native runtime
(python/README.md, "The shared ternary model contract"): the exported GGUF (llama.cpp's `llama` architecture, TQ2_0
weights) computes exactly this.

Modes of every forward pass:
  "qat"     training: ternary weights (fp32 absmean scale) and int8 activations, straight-through gradients
  "ternary" inference: the same quantization with the f16-rounded weight scale and integer accumulation
  "float"   the float32 latent weights without quantization (for comparison only)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

QK_K = 256  # TQ2_0 block size: every BitLinear input dimension is a multiple of it
BYTE_VOCAB = 258  # bytes 0..255, BOS 256, EOS 257
BOS, EOS = 256, 257
MODES = ("qat", "ternary", "float")
ARCHS = ("llama", "bitnet")


@dataclass
class ModelConfig:
    vocab_size: int = BYTE_VOCAB
    dim: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    ffn_dim: int = 768
    context: int = 256
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    # "llama": SiLU-gated FFN (the export's `llama` architecture). "bitnet": BitNet b1.58 as Microsoft's 2B4T has it,
    # a ReLU²-gated FFN and an RMSNorm before the attention output and before the FFN down projection (exported as
    # `bitnet-b1.58` with attn_sub_norm / ffn_sub_norm).
    arch: str = "llama"

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def validate(self) -> "ModelConfig":
        problems = []
        if self.dim % self.n_heads:
            problems.append(f"dim {self.dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            problems.append(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.head_dim % 2:
            problems.append(f"head_dim {self.head_dim} is odd (RoPE rotates pairs)")
        for name, d in (("dim", self.dim), ("ffn_dim", self.ffn_dim)):
            if d % QK_K:
                problems.append(f"{name} {d} is not a multiple of {QK_K} (TQ2_0 block)")
        if self.vocab_size < BYTE_VOCAB:
            problems.append(f"vocab_size {self.vocab_size} < {BYTE_VOCAB} (the byte tokenizer needs 258)")
        if self.arch not in ARCHS:
            problems.append(f"arch {self.arch!r} is not one of {', '.join(ARCHS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["arch"] == "llama":  # the default stays out, so every llama checkpoint keeps its bytes and hash
            del d["arch"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d).validate()


PRESETS = {
    # about 3.3M parameters: tests and CPU demos
    "tiny": ModelConfig(dim=256, n_layers=4, n_heads=4, n_kv_heads=2, ffn_dim=768, context=256),
    # about 25M parameters
    "small": ModelConfig(dim=512, n_layers=8, n_heads=8, n_kv_heads=4, ffn_dim=1536, context=512),
    # the paper's 618M shape (d=1536, L=17, h=16, kv=4, ffn=4096, ctx=1024)
    "genkidama": ModelConfig(dim=1536, n_layers=17, n_heads=16, n_kv_heads=4, ffn_dim=4096, context=1024),
}


SHAPE_KEYS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "context")


def parse_shape(text: str) -> dict[str, int]:
    """'dim=512,n_layers=2' -> {"dim": 512, "n_layers": 2}: a preset's shape changed key by key (a network spec's
    model.shape, what a research winner trains with). Unknown keys and values that are not positive integers fail."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or key not in SHAPE_KEYS:
            raise ValueError(f"{part!r} is not KEY=VALUE with KEY one of {', '.join(SHAPE_KEYS)}")
        if not value.isdigit() or int(value) <= 0:
            raise ValueError(f"{key}={value!r} is not a positive integer")
        out[key] = int(value)
    return out


def preset(name: str, tie_embeddings: bool = False, arch: str = "llama", vocab_size: int | None = None,
           shape: dict[str, int] | None = None) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    over = {"tie_embeddings": tie_embeddings, "arch": arch, **(shape or {})}
    if vocab_size is not None:
        over["vocab_size"] = vocab_size
    return ModelConfig(**{**PRESETS[name].to_dict(), **over}).validate()


# ---------------------------------------------------------------------------------------------------------------
# Quantizers (the formulas of the contract)


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """Per-tensor absmean scale, fp32: max(mean(|W|), 1e-5)."""
    return w.float().abs().mean().clamp(min=1e-5)


def weight_ternary(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Wq in {-1,0,1} as float32, fp32 scale)."""
    scale = weight_scale(w)
    return (w.float() / scale).round().clamp(-1, 1), scale


def f16_scale(scale: torch.Tensor) -> torch.Tensor:
    """The scale as the GGUF stores it (TQ2_0 block d is f16), back in float32."""
    return scale.to(torch.float16).to(torch.float32)


def act_quant(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row absmax int8: (xq as integer-valued float32, s) with x ~= xq / s."""
    x = x.float()
    amax = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    # tensor / tensor: torch computes `127.0 / t` as reciprocal(t) * 127, which is 1 ulp off the C division
    s = torch.full_like(amax, 127.0) / amax
    return (x * s).round().clamp(-128, 127), s


class BitLinear(nn.Linear):
    """nn.Linear without bias whose forward quantizes weights to ternary and activations to int8."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor, mode: str = "qat") -> torch.Tensor:
        w = self.weight
        if mode == "float":
            return F.linear(x, w)
        if mode == "qat":
            # straight-through estimator: forward sees the quantized values, backward the identity
            wq, scale = weight_ternary(w)
            w_ste = w + (wq * scale - w).detach()
            xq, s = act_quant(x)
            x_ste = x + (xq / s - x).detach().to(x.dtype)
            return F.linear(x_ste, w_ste.to(x_ste.dtype))
        if mode == "ternary":
            return ternary_linear(x, *weight_ternary(w))
        raise ValueError(f"unknown mode {mode!r}")


def ternary_linear(x: torch.Tensor, wq: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Exact inference arithmetic: y = (sum_i xq[i] * Wq[o,i]) * scale16 / s.

    xq and Wq are integer-valued float32. |partial sums| <= 128 * in_features < 2^24 for every preset, so the
    float32 matmul is an exact integer accumulation (no TF32: the caller runs this on CPU or with TF32 off).
    """
    xq, s = act_quant(x)
    acc = xq @ wq.t()
    return acc * f16_scale(scale) / s


# ---------------------------------------------------------------------------------------------------------------
# The decoder


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope_tables(cfg: ModelConfig, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin (n, head_dim/2): pair i of position p rotates by p * base^(-2i/d)."""
    d = cfg.head_dim
    inv = cfg.rope_base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    ang = torch.arange(n, dtype=torch.float64, device=device)[:, None] * inv[None, :]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, T, H, D); adjacent pairs (x[2i], x[2i+1]) as in llama.cpp's LLAMA_ROPE_TYPE_NORM."""
    xf = x.float().unflatten(-1, (-1, 2))  # (B, T, H, D/2, 2)
    a, b = xf[..., 0], xf[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        kv_dim = cfg.n_kv_heads * cfg.head_dim
        self.wq = BitLinear(cfg.dim, cfg.dim)
        self.wk = BitLinear(cfg.dim, kv_dim)
        self.wv = BitLinear(cfg.dim, kv_dim)
        self.wo = BitLinear(cfg.dim, cfg.dim)
        self.sub_norm = RMSNorm(cfg.dim, cfg.norm_eps) if cfg.arch == "bitnet" else None

    def forward(self, x, cos, sin, mode):
        B, T, _ = x.shape
        c = self.cfg
        q = self.wq(x, mode).view(B, T, c.n_heads, c.head_dim)
        k = self.wk(x, mode).view(B, T, c.n_kv_heads, c.head_dim)
        v = self.wv(x, mode).view(B, T, c.n_kv_heads, c.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = c.n_heads // c.n_kv_heads  # query head h reads kv head h // rep
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        if mode == "ternary":  # plain float32 softmax attention, the reference the runtime reproduces
            att = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(c.head_dim)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = att @ v.float()
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, c.dim)
        return self.wo(self.sub_norm(y) if self.sub_norm is not None else y, mode)


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w_gate = BitLinear(cfg.dim, cfg.ffn_dim)
        self.w_up = BitLinear(cfg.dim, cfg.ffn_dim)
        self.w_down = BitLinear(cfg.ffn_dim, cfg.dim)
        self.sub_norm = RMSNorm(cfg.ffn_dim, cfg.norm_eps) if cfg.arch == "bitnet" else None

    def forward(self, x, mode):
        if self.sub_norm is None:
            return self.w_down(F.silu(self.w_gate(x, mode)) * self.w_up(x, mode), mode)
        return self.w_down(self.sub_norm(F.relu(self.w_gate(x, mode)).square() * self.w_up(x, mode)), mode)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg)

    def forward(self, x, cos, sin, mode):
        h = x + self.attn(self.attn_norm(x), cos, sin, mode)
        return h + self.ffn(self.ffn_norm(h), mode)


class BitNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        # the head is a plain float matmul (not ternary); tied means it reuses tok_emb.weight
        self.output = None if cfg.tie_embeddings else nn.Linear(cfg.dim, cfg.vocab_size, bias=False)

    def init_weights(self, seed: int) -> None:
        """Deterministic init from one CPU generator, in parameter-name order (bit-identical everywhere)."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        std = 0.02
        resid_std = std / math.sqrt(2 * self.cfg.n_layers)  # GPT-2 style scaling of residual projections
        with torch.no_grad():
            for name, p in sorted(self.named_parameters()):
                if name.endswith("norm.weight"):
                    p.fill_(1.0)
                else:
                    s = resid_std if name.endswith(("wo.weight", "w_down.weight")) else std
                    p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * s)

    def head_weight(self) -> torch.Tensor:
        return self.tok_emb.weight if self.output is None else self.output.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, mode: str = "qat"):
        """idx (B, T) int64 -> logits (B, T, vocab) [, mean cross-entropy against targets (B, T)]."""
        B, T = idx.shape
        if T > self.cfg.context:
            raise ValueError(f"sequence of {T} tokens exceeds the context of {self.cfg.context}")
        cos, sin = rope_tables(self.cfg, T, idx.device)
        x = self.tok_emb(idx)
        for layer in self.layers:
            x = layer(x, cos, sin, mode)
        x = self.norm(x)
        logits = F.linear(x, self.head_weight())
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build(cfg: ModelConfig, seed: int | None = None) -> BitNet:
    model = BitNet(cfg)
    if seed is not None:
        model.init_weights(seed)
    return model
